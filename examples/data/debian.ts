/**
 * Where the Debian packages the examples read are: installed, or unpacked
 * without root in a cache directory.
 *
 * Some data sets of DATA.md ship only as Debian packages (`dict-gcide`,
 * `r-cran-janeaustenr`, `r-cran-dslabs`). They are read as files at run time
 * and never committed (GCIDE is GPL). `apt-get download` and `dpkg-deb -x`
 * unpack a package's tree (`usr/share/...`) under any directory, so a
 * package is looked for under these roots, first match wins: the
 * `--data-dir` of the example, else `ROAM_DEBIAN_DATA`, then `/` (installed
 * with apt-get), then the cache directory `$XDG_CACHE_HOME/roam/debian`
 * (`~/.cache/roam/debian`). A directory given explicitly may also be the
 * data directory itself (`/usr/share/dictd`). A missing package is an error
 * that prints the commands that fetch it.
 */
import { existsSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import process from "node:process"

/** The environment variable naming a directory where Debian packages were unpacked. */
export const DEBIAN_DATA_ENV = "ROAM_DEBIAN_DATA"

/** The default directory to unpack Debian packages in: `$XDG_CACHE_HOME/roam/debian`. */
export function debianCacheDir(): string {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache")
  return join(cache, "roam", "debian")
}

/** What to look for: a package, its data directory within the package tree, and a file in it. */
export interface DebianData {
  readonly pkg: string
  readonly path: string
  readonly file: string
}

/** The thrown error when a package is nowhere to be found; its message says how to fetch it. */
export class DebianDataMissing extends Error {
  override readonly name = "DebianDataMissing"
}

/** The roots searched, in order, for a `dataDir` option (an example's `--data-dir`). */
export function debianRoots(dataDir?: string): string[] {
  if (dataDir !== undefined) return [dataDir]
  const env = process.env[DEBIAN_DATA_ENV]
  return [...(env ? [env] : []), "/", debianCacheDir()]
}

/** The data directory of `data` under the first root that has it, or undefined. */
export function findDebianData(data: DebianData, dataDir?: string): string | undefined {
  for (const root of debianRoots(dataDir)) {
    const candidates = [join(root, data.path)]
    // A directory named explicitly may be the data directory itself.
    if (root !== "/" && root !== debianCacheDir()) candidates.push(root)
    for (const dir of candidates) if (existsSync(join(dir, data.file))) return dir
  }
  return undefined
}

/** Like `findDebianData`, but throws `DebianDataMissing` with the commands that fetch the package. */
export function requireDebianData(data: DebianData, dataDir?: string): string {
  const dir = findDebianData(data, dataDir)
  if (dir !== undefined) return dir
  const cache = dataDir ?? debianCacheDir()
  throw new DebianDataMissing(
    `Debian package '${data.pkg}' not found: no ${join(data.path, data.file)} under ` +
      `${debianRoots(dataDir).join(", ")}.\n` +
      `Fetch and unpack it (no root needed; the data stays out of the repository):\n` +
      `  mkdir -p ${cache} && cd ${cache}\n` +
      `  apt-get download ${data.pkg} && dpkg-deb -x ${data.pkg}_*.deb .\n` +
      `or install it (apt-get install ${data.pkg}), or pass --data-dir DIR ` +
      `(or set ${DEBIAN_DATA_ENV}=DIR) naming the directory it was unpacked in.`,
  )
}
