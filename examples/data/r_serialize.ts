/**
 * R's serialization format, XDR flavour: decode one serialized R object.
 *
 * A serialized object is a header (`X\n`, the format version 2 or 3, the
 * writing and minimum reader R versions, and for version 3 the native
 * encoding) and a tree of items, each opened by a flags word carrying the
 * item's type and whether attributes and a tag follow; symbols and
 * environments enter a reference table that later items point into. This
 * module decodes the data types (logical, integer, double, complex, string,
 * raw vectors, lists, pairlists, symbols, and the compact ALTREP sequences
 * and wrappers R writes since 3.5) into plain `RValue`s with typed arrays,
 * and refuses code (closures, promises, byte code) with a clear error: it is
 * for reading data sets, such as those of R packages (see r_data.ts).
 */

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
