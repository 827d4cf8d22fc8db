/**
 * Fixtures in R's formats for the tests of the R data readers: a minimal
 * writer of R's XDR serialization (data frames of integer, double, string,
 * factor and compact-sequence columns, character vectors, symbols reused
 * through the reference table, versions 2 and 3) and a writer of lazy-load
 * databases (.rdb entries of length + zlib, an .rdx index as gzip like R's,
 * or as length + zlib). Shared by r_data.test.ts and text_corpora.test.ts.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { deflateSync, gzipSync } from "node:zlib"
import { NA_INTEGER } from "../examples/data/r_data.ts"

export type Column =
  | { int: number[] }
  | { real: number[] }
  | { str: (string | null)[] }
  | { factor: number[]; levels: string[] }
  | { intseq: [number, number] }

/** A minimal writer of R's XDR serialization format, enough for data frames. */
export class XdrWriter {
  private bytes: number[] = []
  private symbols = new Map<string, number>()
  private refs = 0

  constructor(version: 2 | 3) {
    this.bytes.push(0x58, 0x0a)
    this.int(version)
    this.int(0x040101)
    this.int(version === 3 ? 0x030500 : 0x020300)
    if (version === 3) this.int(5), this.raw("UTF-8")
  }

  int(n: number): void {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setInt32(0, n)
    this.bytes.push(...b)
  }

  double(x: number): void {
    const b = new Uint8Array(8)
    new DataView(b.buffer).setFloat64(0, x)
    this.bytes.push(...b)
  }

  raw(s: string): void {
    this.bytes.push(...new TextEncoder().encode(s))
  }

  charsxp(s: string | null): void {
    if (s === null) return this.int(9), this.int(-1)
    this.int(9 | (8 << 12)) // UTF-8 flagged.
    this.int(new TextEncoder().encode(s).length)
    this.raw(s)
  }

  symbol(name: string): void {
    const ref = this.symbols.get(name)
    if (ref !== undefined) return this.int((ref << 8) | 255)
    this.int(1)
    this.charsxp(name)
    this.symbols.set(name, ++this.refs)
  }

  strings(values: (string | null)[], attrs = false): void {
    this.int(16 | (attrs ? 1 << 9 : 0))
    this.int(values.length)
    for (const v of values) this.charsxp(v)
  }

  ints(values: number[], flags = 0): void {
    this.int(13 | flags)
    this.int(values.length)
    for (const v of values) this.int(v)
  }

  /** A pairlist of tagged attributes; each writes its own value. */
  attributes(attrs: [string, () => void][]): void {
    for (const [name, write] of attrs) {
      this.int(2 | (1 << 10))
      this.symbol(name)
      write()
    }
    this.int(254)
  }

  column(c: Column): void {
    if ("int" in c) return this.ints(c.int)
    if ("real" in c) {
      this.int(14), this.int(c.real.length)
      for (const v of c.real) this.double(v)
      return
    }
    if ("str" in c) return this.strings(c.str)
    if ("factor" in c) {
      this.ints(c.factor, (1 << 8) | (1 << 9))
      return this.attributes([
        ["levels", () => this.strings(c.levels)],
        ["class", () => this.strings(["factor"])],
      ])
    }
    // ALTREP compact_intseq: info (class, package, type), state (n, start, step), no attributes.
    this.int(238)
    this.int(2), this.symbol("compact_intseq")
    this.int(2), this.symbol("base")
    this.int(2), this.ints([13]), this.int(254)
    this.int(14), this.int(3), this.double(c.intseq[0]), this.double(c.intseq[1]), this.double(1)
    this.int(254)
  }

  dataFrame(columns: Record<string, Column>): Uint8Array {
    const names = Object.keys(columns)
    const n = names.length === 0 ? 0 : lengthOf(columns[names[0]])
    this.int(19 | (1 << 8) | (1 << 9))
    this.int(names.length)
    for (const name of names) this.column(columns[name])
    this.attributes([
      ["names", () => this.strings(names)],
      ["class", () => this.strings(["data.frame"])],
      ["row.names", () => this.ints([NA_INTEGER, -n])],
    ])
    return this.done()
  }

  /** A whole serialized character vector, as R keeps a text's lines. */
  characterVector(values: (string | null)[]): Uint8Array {
    this.strings(values)
    return this.done()
  }

  /** The index of a lazy-load database: list(variables, references, compressed). */
  index(entries: [string, number, number][]): Uint8Array {
    this.int(19 | (1 << 9))
    this.int(3)
    this.int(19 | (1 << 9))
    this.int(entries.length)
    for (const [, offset, length] of entries) this.ints([offset, length])
    this.attributes([["names", () => this.strings(entries.map((e) => e[0]))]])
    this.int(19), this.int(0)
    this.int(10), this.int(1), this.int(1)
    this.attributes([["names", () => this.strings(["variables", "references", "compressed"])]])
    return this.done()
  }

  done(): Uint8Array {
    return Uint8Array.from(this.bytes)
  }
}

function lengthOf(c: Column): number {
  if ("int" in c) return c.int.length
  if ("real" in c) return c.real.length
  if ("str" in c) return c.str.length
  if ("factor" in c) return c.factor.length
  return c.intseq[0]
}

/** A length-prefixed zlib block, as R writes .rdb entries. */
function rCompress(data: Uint8Array): Uint8Array {
  const body = deflateSync(data)
  const out = new Uint8Array(4 + body.length)
  new DataView(out.buffer).setUint32(0, data.length)
  out.set(body, 4)
  return out
}

/**
 * Write a lazy-load database `Rdata.rdb` + `Rdata.rdx` of `objects` into
 * `dir` (by default a fresh directory); returns the .rdb path.
 */
export function writeDb(
  objects: Record<string, Uint8Array>,
  { indexAsGzip = true, dir = mkdtempSync(join(tmpdir(), "roam-rdata-")) } = {},
): string {
  const blocks: Uint8Array[] = []
  const entries: [string, number, number][] = []
  let offset = 0
  for (const [name, data] of Object.entries(objects)) {
    const block = rCompress(data)
    entries.push([name, offset, block.length])
    blocks.push(block)
    offset += block.length
  }
  const rdb = new Uint8Array(offset)
  blocks.reduce((at, b) => (rdb.set(b, at), at + b.length), 0)
  writeFileSync(join(dir, "Rdata.rdb"), rdb)
  const index = new XdrWriter(3).index(entries)
  writeFileSync(join(dir, "Rdata.rdx"), indexAsGzip ? gzipSync(index) : rCompress(index))
  return join(dir, "Rdata.rdb")
}
