/**
 * The key space: tables laid end to end as contiguous key ranges.
 *
 * A cluster has one key space made of tables; each table is a range of keys
 * whose values all have the same length (a value may include optimizer state,
 * so an embedding of 64 floats with AdaGrad sums has length 128). Keys are
 * global integers, so a batch may mix tables; `tableIndexOf` maps a key back to
 * its table in a few comparisons. The key space is immutable once the cluster
 * starts and identical on every node: it is part of the cluster's contract.
 */
import type { Weights } from "./alias_table.ts"
import { InvariantViolation } from "./assert.ts"

/**
 * How `prepareSample` draws the keys of a table: uniformly (the default), or
 * in proportion to one weight per key of the table (for word vectors, word
 * frequency to the power 0.75). Weighted draws use an alias table.
 */
export type TableSampling = "uniform" | { readonly weights: Weights }

/** A table as the user declares it. */
export interface TableSpec {
  /** Unique name, used to find the table's key range. */
  readonly name: string
  /** Number of keys in the table. */
  readonly keys: number
  /** Floats per value. */
  readonly length: number
  /** Fills a key's initial value (zeros by default). Called on the key's home. */
  readonly init?: (key: number, value: Float32Array) => void
  /** The distribution `prepareSample` draws this table's keys from (uniform by default). */
  readonly sampling?: TableSampling
}

/** A table as placed in the key space. */
export interface Table {
  readonly index: number
  readonly name: string
  /** First key of the table. */
  readonly start: number
  /** One past the last key. */
  readonly end: number
  readonly keys: number
  readonly length: number
  readonly init: ((key: number, value: Float32Array) => void) | undefined
  readonly sampling: TableSampling
}

export class KeySpace {
  readonly tables: readonly Table[]
  /** Total number of keys over all tables. */
  readonly keys: number
  /** The largest value length of any table. */
  readonly lengthMax: number
  /** One past the last key of each table, by table index: what `tableIndexOf` scans. */
  readonly ends: Float64Array
  /** The value length of each table, by table index. */
  readonly lengths: Int32Array

  constructor(specs: readonly TableSpec[]) {
    const tables: Table[] = []
    let start = 0
    let lengthMax = 0
    for (const spec of specs) {
      tables.push({
        index: tables.length,
        name: spec.name,
        start,
        end: start + spec.keys,
        keys: spec.keys,
        length: spec.length,
        init: spec.init,
        sampling: spec.sampling ?? "uniform",
      })
      start += spec.keys
      lengthMax = Math.max(lengthMax, spec.length)
    }
    this.tables = tables
    this.keys = start
    this.lengthMax = lengthMax
    this.ends = Float64Array.from(tables, (t) => t.end)
    this.lengths = Int32Array.from(tables, (t) => t.length)
  }

  /**
   * The index of the table holding `key`, or -1 when it is outside the key
   * space. Tables are few (usually one to three), so a linear scan of a typed
   * array beats a search; no object is read, and this runs for every table
   * switch on the hot path.
   */
  tableIndexOf(key: number): number {
    const ends = this.ends
    if (key >= 0) {
      for (let t = 0; t < ends.length; t++) if (key < ends[t]) return t
    }
    return -1
  }

  /** The table holding `key`; the key must be in range. */
  tableOf(key: number): Table {
    const index = this.tableIndexOf(key)
    if (index < 0) return fail(`key ${key} is outside the key space [0, ${this.keys})`)
    return this.tables[index]
  }

  /** The value length of `key`. */
  lengthOf(key: number): number {
    return this.tableOf(key).length
  }

  /** The table named `name`, or undefined. */
  table(name: string): Table | undefined {
    return this.tables.find((t) => t.name === name)
  }
}

const fail = (message: string): never => {
  throw new InvariantViolation(message)
}
