/**
 * The key space: tables laid end to end as contiguous key ranges.
 *
 * A cluster has one key space made of tables; each table is a range of keys
 * whose values all have the same length (a value may include optimizer state,
 * so an embedding of 64 floats with AdaGrad sums has length 128). Keys are
 * global integers, so a batch may mix tables; `tableOf` maps a key back to its
 * table in a few comparisons. The key space is immutable once the cluster
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
  }

  /** The table holding `key`; the key must be in range. */
  tableOf(key: number): Table {
    const tables = this.tables
    // Tables are few (usually one to three), so a linear scan beats a search.
    // No closure is made here: this runs for every table switch on the hot path.
    if (key >= 0) {
      for (let t = 0; t < tables.length; t++) {
        if (key < tables[t].end) return tables[t]
      }
    }
    return fail(`key ${key} is outside the key space [0, ${this.keys})`)
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
