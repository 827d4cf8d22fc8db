/**
 * A reader for R's serialized data and lazy-load databases, enough to load
 * the MovieLens ratings that Debian's `r-cran-dslabs` ships.
 *
 * R packages keep their data sets in a lazy-load database: `Rdata.rdx` is an
 * index and `Rdata.rdb` holds the objects. The index is a compressed
 * serialized R list (`variables`: for each object name, an (offset, length)
 * pair into the .rdb; `compressed`: the compression used). Each .rdb entry,
 * and the .rdx file itself, is a 4-byte big-endian uncompressed length
 * followed by the compressed bytes (zlib for `compressed = TRUE`; for
 * type 2/3 a byte after the length says which). The objects are in R's
 * serialization format version 2 or 3, XDR (big-endian) flavour: a tree of
 * items, each opened by a flags word carrying the type and whether
 * attributes and a tag follow, with a reference table for symbols and
 * environments. `unserialize` decodes the data types (vectors, lists,
 * pairlists, symbols, the compact ALTREP sequences) and refuses code
 * (closures, byte code) with a clear error. Decompression uses `node:zlib`.
 */
import { readFileSync } from "node:fs"
import { gunzipSync, inflateSync } from "node:zlib"
import { fromIds, type Ratings } from "./ratings.ts"

export type Attributes = Record<string, RValue>

export type RValue =
  | { kind: "null" }
  | { kind: "symbol"; name: string }
  | { kind: "logical" | "integer"; values: Int32Array; attributes: Attributes }
  | { kind: "double"; values: Float64Array; attributes: Attributes }
  | { kind: "complex"; values: Float64Array; attributes: Attributes }
  | { kind: "character"; values: (string | null)[]; attributes: Attributes }
  | { kind: "list" | "expression"; values: RValue[]; attributes: Attributes }
  | { kind: "raw"; values: Uint8Array; attributes: Attributes }
  | {
    kind: "pairlist" | "language"
    items: { tag: string | null; value: RValue }[]
    attributes: Attributes
  }
  | { kind: "environment" | "special" | "external" }

/** R's NA for integers and logicals. */
export const NA_INTEGER = -2147483648

const NIL: RValue = { kind: "null" }
const S = {
  SYM: 1,
  LIST: 2,
  CLO: 3,
  ENV: 4,
  PROM: 5,
  LANG: 6,
  SPECIAL: 7,
  BUILTIN: 8,
  CHAR: 9,
  LGL: 10,
  INT: 13,
  REAL: 14,
  CPLX: 15,
  STR: 16,
  DOT: 17,
  VEC: 19,
  EXPR: 20,
  BCODE: 21,
  EXTPTR: 22,
  WEAKREF: 23,
  RAW: 24,
  S4: 25,
  ALTREP: 238,
  ATTRLIST: 239,
  ATTRLANG: 240,
  BASEENV: 241,
  EMPTYENV: 242,
  PERSIST: 247,
  PACKAGE: 248,
  NAMESPACE: 249,
  BASENAMESPACE: 250,
  MISSINGARG: 251,
  UNBOUNDVALUE: 252,
  GLOBALENV: 253,
  NILVALUE: 254,
  REF: 255,
} as const
const PAIRLIST_TYPES: readonly number[] = [
  S.LIST,
  S.LANG,
  S.CLO,
  S.PROM,
  S.DOT,
  S.ATTRLIST,
  S.ATTRLANG,
]

/** Decode one serialized R object (XDR format, version 2 or 3). */
export function unserialize(bytes: Uint8Array, source = "<R data>"): RValue {
  return new XdrReader(bytes, source).readStream()
}

class XdrReader {
  private at = 0
  private readonly view: DataView
  private readonly refs: RValue[] = []
  private readonly utf8 = new TextDecoder("utf-8")
  private readonly latin1 = new TextDecoder("latin1")

  constructor(private readonly bytes: Uint8Array, private readonly source: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  private fail(why: string): never {
    throw new SyntaxError(`${this.source}: at byte ${this.at}: ${why}`)
  }

  readStream(): RValue {
    if (this.bytes[0] !== 0x58 || this.bytes[1] !== 0x0a) {
      const magic = String.fromCharCode(this.bytes[0] ?? 0, this.bytes[1] ?? 0)
      this.fail(`expected the XDR serialization header 'X\\n', got ${JSON.stringify(magic)}`)
    }
    this.at = 2
    const version = this.int()
    if (version !== 2 && version !== 3) this.fail(`unsupported serialization version ${version}`)
    this.int() // The R version that wrote it.
    this.int() // The oldest R version that can read it.
    if (version === 3) {
      const n = this.int() // Then the native encoding's name, skipped.
      this.at += n
    }
    return this.item()
  }

  private int(): number {
    if (this.at + 4 > this.bytes.length) this.fail("unexpected end of data")
    const value = this.view.getInt32(this.at)
    this.at += 4
    return value
  }

  private length(): number {
    const n = this.int()
    if (n >= 0) return n
    if (n !== -1) this.fail(`negative length ${n}`)
    const upper = this.int()
    return upper * 4294967296 + (this.int() >>> 0)
  }

  private string(n: number, latin1: boolean): string {
    if (this.at + n > this.bytes.length) this.fail("unexpected end of data in a string")
    const text = (latin1 ? this.latin1 : this.utf8).decode(
      this.bytes.subarray(this.at, this.at + n),
    )
    this.at += n
    return text
  }

  private item(): RValue {
    const flags = this.int()
    const type = flags & 0xff
    const hasAttr = (flags & (1 << 9)) !== 0
    const hasTag = (flags & (1 << 10)) !== 0
    switch (type) {
      case S.NILVALUE:
        return NIL
      case S.EMPTYENV:
      case S.BASEENV:
      case S.GLOBALENV:
      case S.UNBOUNDVALUE:
      case S.MISSINGARG:
      case S.BASENAMESPACE:
        return { kind: "special" }
      case S.REF: {
        const index = (flags >>> 8) || this.int()
        const value = this.refs[index - 1]
        if (value === undefined) this.fail(`reference ${index} to an unknown item`)
        return value
      }
      case S.PERSIST:
      case S.PACKAGE:
      case S.NAMESPACE:
        this.stringVector()
        return this.ref({ kind: "environment" })
      case S.SYM: {
        const name = this.item()
        if (name.kind !== "character") this.fail("a symbol's name is not a string")
        return this.ref({ kind: "symbol", name: name.values[0] ?? "NA" })
      }
      case S.ENV: {
        this.int() // Locked.
        const env = this.ref({ kind: "environment" })
        for (let i = 0; i < 4; i++) this.item() // Enclosure, frame, hash table, attributes.
        return env
      }
      case S.CHAR: {
        const n = this.int()
        const text = n === -1 ? null : this.string(n, ((flags >>> 12) & 4) !== 0)
        return { kind: "character", values: [text], attributes: {} }
      }
      case S.SPECIAL:
      case S.BUILTIN:
        this.string(this.int(), false)
        return { kind: "special" }
      case S.EXTPTR:
      case S.WEAKREF: {
        const value = this.ref({ kind: "external" })
        if (type === S.EXTPTR) this.item(), this.item()
        if (hasAttr) this.attributes()
        return value
      }
      case S.ALTREP:
        return this.altrep()
      case S.BCODE:
        return this.fail("byte code is not supported (this reader loads data, not functions)")
    }
    if (PAIRLIST_TYPES.includes(type)) return this.pairlist(type, hasAttr, hasTag)
    const value = this.vector(type)
    if (hasAttr && "attributes" in value) value.attributes = this.attributes()
    return value
  }

  private ref(value: RValue): RValue {
    this.refs.push(value)
    return value
  }

  private stringVector(): (string | null)[] {
    if (this.int() !== 0) this.fail("expected 0 before a persistent string vector")
    const n = this.int()
    const out: (string | null)[] = []
    for (let i = 0; i < n; i++) out.push(this.charItem())
    return out
  }

  private charItem(): string | null {
    const value = this.item()
    if (value.kind !== "character") this.fail("expected a string element")
    return value.values[0]
  }

  /** A pairlist-like chain (read iteratively: long chains would overflow the stack). */
  private pairlist(type: number, hasAttr: boolean, hasTag: boolean): RValue {
    if (type === S.CLO || type === S.PROM || type === S.DOT) {
      this.fail("closures and promises are not supported (this reader loads data)")
    }
    const items: { tag: string | null; value: RValue }[] = []
    const attributes = hasAttr ? this.attributes() : {}
    for (;;) {
      let tag: string | null = null
      if (hasTag) {
        const symbol = this.item()
        tag = symbol.kind === "symbol" ? symbol.name : null
      }
      items.push({ tag, value: this.item() })
      const next = this.int()
      const nextType = next & 0xff
      if (nextType === S.NILVALUE) break
      if (nextType !== S.LIST || (next & (1 << 9)) !== 0) {
        this.at -= 4
        items.push({ tag: null, value: this.item() }) // An improper tail; keep it.
        break
      }
      hasTag = (next & (1 << 10)) !== 0
    }
    const kind = type === S.LANG || type === S.ATTRLANG ? "language" : "pairlist"
    return { kind, items, attributes }
  }

  private attributes(): Attributes {
    const list = this.item()
    const out: Attributes = {}
    if (list.kind !== "pairlist") return out
    for (const { tag, value } of list.items) if (tag !== null) out[tag] = value
    return out
  }

  private vector(type: number): RValue & { attributes: Attributes } {
    const n = this.length()
    switch (type) {
      case S.LGL:
      case S.INT: {
        const values = new Int32Array(n)
        for (let i = 0; i < n; i++) values[i] = this.int()
        return { kind: type === S.LGL ? "logical" : "integer", values, attributes: {} }
      }
      case S.REAL:
      case S.CPLX: {
        const count = type === S.CPLX ? 2 * n : n
        if (this.at + 8 * count > this.bytes.length) this.fail("unexpected end of data in a vector")
        const values = new Float64Array(count)
        for (let i = 0; i < count; i++, this.at += 8) values[i] = this.view.getFloat64(this.at)
        return { kind: type === S.CPLX ? "complex" : "double", values, attributes: {} }
      }
      case S.STR: {
        const values: (string | null)[] = []
        for (let i = 0; i < n; i++) values.push(this.charItem())
        return { kind: "character", values, attributes: {} }
      }
      case S.VEC:
      case S.EXPR: {
        const values: RValue[] = []
        for (let i = 0; i < n; i++) values.push(this.item())
        return { kind: type === S.VEC ? "list" : "expression", values, attributes: {} }
      }
      case S.RAW: {
        const values = this.bytes.slice(this.at, this.at + n)
        this.at += n
        return { kind: "raw", values, attributes: {} }
      }
      case S.S4:
        return { kind: "list", values: [], attributes: {} }
    }
    return this.fail(`unsupported R type ${type}`)
  }

  /** ALTREP objects: the compact sequences and wrappers R writes for data. */
  private altrep(): RValue {
    const info = this.item()
    const state = this.item()
    const attr = this.item()
    const cls = info.kind === "pairlist" && info.items[0]?.value.kind === "symbol"
      ? info.items[0].value.name
      : "?"
    let value: RValue
    if ((cls === "compact_intseq" || cls === "compact_realseq") && state.kind === "double") {
      const [n, first, step] = state.values
      const values = cls === "compact_intseq" ? new Int32Array(n) : new Float64Array(n)
      for (let i = 0; i < n; i++) values[i] = first + i * step
      value = cls === "compact_intseq"
        ? { kind: "integer", values: values as Int32Array, attributes: {} }
        : { kind: "double", values: values as Float64Array, attributes: {} }
    } else if (cls.startsWith("wrap_") && state.kind === "list") {
      value = state.values[0]
    } else {
      return this.fail(`unsupported ALTREP class '${cls}'`)
    }
    if (attr.kind === "pairlist" && "attributes" in value) {
      for (const { tag, value: a } of attr.items) if (tag !== null) value.attributes[tag] = a
    }
    return value
  }
}

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

/** Open `path.rdb` with its index `path.rdx` (`rdbPath` may name either or neither suffix). */
export function openLazyLoadDb(rdbPath: string): LazyLoadDb {
  const base = rdbPath.replace(/\.(rdb|rdx)$/, "")
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

/** The `names` attribute of a vector or list, as strings. */
export function namesOf(value: RValue): string[] {
  const names = "attributes" in value ? value.attributes.names : undefined
  return names?.kind === "character" ? names.values.map((n) => n ?? "NA") : []
}

/** A named list's elements by name. */
export function listFields(value: RValue, source: string): Record<string, RValue> {
  if (value.kind !== "list") throw new SyntaxError(`${source}: expected a list, got ${value.kind}`)
  const names = namesOf(value)
  const out: Record<string, RValue> = {}
  value.values.forEach((v, i) => out[names[i] ?? String(i)] = v)
  return out
}

/** A numeric column (integer, logical or double) as a Float64Array; NA becomes NaN. */
export function numericColumn(value: RValue, what: string): Float64Array {
  if (value.kind === "double") return value.values
  if (value.kind === "integer" || value.kind === "logical") {
    return Float64Array.from(value.values, (v) => v === NA_INTEGER ? NaN : v)
  }
  throw new TypeError(`${what}: expected a numeric column, got ${value.kind}`)
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
