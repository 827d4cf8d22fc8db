/**
 * R lazy-load databases and the MovieLens ratings that Debian's
 * `r-cran-dslabs` ships in one.
 *
 * R packages keep their data sets in a lazy-load database: `Rdata.rdx` is an
 * index and `Rdata.rdb` holds the objects. The index is a serialized R list
 * (`variables`: for each object name, an (offset, length) pair into the
 * .rdb; `compressed`: the compression used), written by `saveRDS`, so a gzip
 * file. Each .rdb entry is a 4-byte big-endian uncompressed length followed
 * by the compressed bytes (zlib for `compressed = TRUE`; for type 2/3 a byte
 * after the length says which), and decompresses to serialized R
 * (r_serialize.ts). Decompression uses `node:zlib`. `loadMovieLensRdb` turns
 * the `movielens` data frame's userId, movieId and rating columns into
 * `Ratings`.
 */
import { existsSync, readFileSync } from "node:fs"
import { gunzipSync, inflateSync } from "node:zlib"
import { fromIds, type Ratings } from "./ratings.ts"
import { listFields, namesOf, numericColumn, type RValue, unserialize } from "./r_serialize.ts"

export { NA_INTEGER, type RValue, unserialize } from "./r_serialize.ts"

/** Undo R's compression of an .rdx file or .rdb entry: 4-byte length, then the data. */
export function decompressR(bytes: Uint8Array, type: number, source: string): Uint8Array {
  if (bytes.length < 5) {
    throw new SyntaxError(`${source}: compressed block of ${bytes.length} bytes`)
  }
  const size = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)
  let body = bytes.subarray(4)
  if (type === 2 || type === 3) {
    const method = String.fromCharCode(body[0])
    body = body.subarray(1)
    if (method === "0") return body.subarray(0, size)
    if (method !== "Z") {
      throw new SyntaxError(`${source}: compression '${method}' is not supported (only zlib)`)
    }
  } else if (type !== 1) {
    throw new SyntaxError(`${source}: unknown compression type ${type}`)
  }
  const out = new Uint8Array(inflateSync(body))
  if (out.length !== size) {
    throw new SyntaxError(`${source}: inflated to ${out.length} bytes, expected ${size}`)
  }
  return out
}

/**
 * The bytes of an .rdx index. R writes it with `saveRDS`, so in practice it
 * is a gzip file (the dslabs one is); an index in the .rdb entry format (a
 * length, then zlib) is accepted too.
 */
function readIndex(path: string): Uint8Array {
  const bytes = readFileSync(path)
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return new Uint8Array(gunzipSync(bytes))
  return decompressR(bytes, 1, path)
}

/** A lazy-load database: the object names and a loader for each. */
export interface LazyLoadDb {
  readonly names: readonly string[]
  load(name: string): RValue
}

/**
 * Whether `path` names an R lazy-load database rather than a file of its own:
 * it ends in `.rdb` or `.rdx`, or names the base that `.rdx` completes.
 */
export function isRDatabase(path: string): boolean {
  return /\.(rdb|rdx)$/.test(path) || existsSync(`${path}.rdx`)
}

/** Open `path.rdb` with its index `path.rdx` (`rdbPath` may name either or neither suffix). */
export function openLazyLoadDb(rdbPath: string): LazyLoadDb {
  const base = rdbPath.replace(/\.(rdb|rdx)$/, "")
  for (const part of [`${base}.rdx`, `${base}.rdb`]) {
    if (!existsSync(part)) {
      throw new RangeError(
        `${rdbPath}: no ${part} (an R lazy-load database is a .rdb file with its .rdx index)`,
      )
    }
  }
  const index = unserialize(readIndex(`${base}.rdx`), `${base}.rdx`)
  const fields = listFields(index, `${base}.rdx`)
  const variables = fields.variables
  if (variables?.kind !== "list") throw new SyntaxError(`${base}.rdx: no 'variables' list`)
  const names = namesOf(variables)
  const compressed = fields.compressed
  const type = compressed?.kind === "logical" || compressed?.kind === "integer"
    ? compressed.values[0]
    : compressed?.kind === "double"
    ? compressed.values[0]
    : 1
  let rdb: Uint8Array | undefined
  return {
    names,
    load(name: string): RValue {
      const at = names.indexOf(name)
      if (at < 0) {
        throw new RangeError(`${base}.rdb has no object '${name}' (has: ${names.join(", ")})`)
      }
      const entry = variables.values[at]
      if (entry.kind !== "integer" && entry.kind !== "double") {
        throw new SyntaxError(`${base}.rdx: the entry of '${name}' is not an (offset, length) pair`)
      }
      const [offset, length] = entry.values
      rdb ??= readFileSync(`${base}.rdb`)
      if (offset + length > rdb.length) {
        throw new SyntaxError(`${base}.rdb: entry '${name}' runs past the end of the file`)
      }
      const source = `${base}.rdb[${name}]`
      return unserialize(decompressR(rdb.subarray(offset, offset + length), type, source), source)
    },
  }
}

/** Load the `movielens` data frame of dslabs (userId, movieId, rating) as `Ratings`. */
export function loadMovieLensRdb(rdbPath: string, object = "movielens"): Ratings {
  const frame = openLazyLoadDb(rdbPath).load(object)
  const columns = listFields(frame, `${rdbPath}[${object}]`)
  const column = (name: string) => {
    if (columns[name] === undefined) {
      throw new SyntaxError(
        `${rdbPath}[${object}]: no column '${name}' (has: ${Object.keys(columns).join(", ")})`,
      )
    }
    return numericColumn(columns[name], `${object}$${name}`)
  }
  return fromIds(column("userId"), column("movieId"), column("rating"))
}
