/**
 * The values a mini-batch touches in one table, pulled once, trained on in
 * place, and pushed back once as deltas: the way a worker of a parameter
 * server is meant to use pull and push, one batch of keys per mini-batch
 * rather than one call per data point.
 *
 * A worker adds each data point's key (`offsetOf`), which gives the offset of
 * the key's value in `values`; a key that comes back in the mini-batch keeps
 * its first offset, so the mini-batch's steps see one another's updates
 * exactly as if they ran on the owner's value. `tryPull`/`pull` fetch every
 * distinct key in one call; `push` sends, in one call, each value's
 * difference from what was pulled, an additive delta, so updates that other
 * workers made meanwhile are kept. With one worker on one node the values
 * after the push are those the steps computed (the difference of two nearby
 * floats is exact), which keeps the roam example equal to the plain one.
 *
 * The batch's keys are those of one table, so both calls take roam's
 * one-table path; a key → index map over the table's keys (−1: not in the
 * batch) finds repeats without a hash map.
 */
import type { Worker } from "../../mod.ts"

/** A table as `BatchValues` needs it: its first key, key count and value length. */
export interface BatchTable {
  readonly start: number
  readonly keys: number
  readonly length: number
}

export class BatchValues {
  /** The mini-batch's distinct keys in the order added; the first `count` are set. */
  readonly keys: Uint32Array
  /** Their values, key i's at `i * length`: what the steps read and update. */
  readonly values: Float32Array
  /** Distinct keys added since the last push. */
  count = 0
  private readonly pulled: Float32Array
  /** Key − table start → index in `keys`, or −1. */
  private readonly indexOf: Int32Array
  private readonly start: number
  private readonly length: number

  /** Buffers for mini-batches of up to `capacity` distinct keys of `table`. */
  constructor(table: BatchTable, readonly capacity: number) {
    this.start = table.start
    this.length = table.length
    this.keys = new Uint32Array(capacity)
    this.values = new Float32Array(capacity * table.length)
    this.pulled = new Float32Array(capacity * table.length)
    this.indexOf = new Int32Array(table.keys).fill(-1)
  }

  /** The offset of `key`'s value in `values`, adding the key to the batch if new. */
  offsetOf(key: number): number {
    const local = key - this.start
    let index = this.indexOf[local]
    if (index === undefined) {
      throw new RangeError(`key ${key} is not in the table [${this.start}, ${this.end})`)
    }
    if (index < 0) {
      if (this.count === this.capacity) {
        throw new RangeError(`more than ${this.capacity} distinct keys in one mini-batch`)
      }
      index = this.count++
      this.indexOf[local] = index
      this.keys[index] = key
    }
    return index * this.length
  }

  /** Fill `values` when every key is local (synchronous); false otherwise, with nothing pulled. */
  tryPull(worker: Worker): boolean {
    if (!worker.tryPull(this.batchKeys(), this.batchValues())) return false
    this.remember()
    return true
  }

  /** Fill `values` through roam, wherever the keys are. */
  async pull(worker: Worker): Promise<void> {
    await worker.pull(this.batchKeys(), this.batchValues())
    this.remember()
  }

  /** Push each value's change since the pull as one batch of deltas, and empty the batch. */
  push(worker: Worker): void {
    const floats = this.count * this.length
    const values = this.values
    const deltas = this.pulled
    for (let i = 0; i < floats; i++) deltas[i] = values[i] - deltas[i]
    if (this.count > 0) worker.push(this.batchKeys(), deltas.subarray(0, floats))
    const keys = this.keys
    const indexOf = this.indexOf
    for (let i = 0; i < this.count; i++) indexOf[keys[i] - this.start] = -1
    this.count = 0
  }

  private get end(): number {
    return this.start + this.indexOf.length
  }

  private batchKeys(): Uint32Array {
    return this.keys.subarray(0, this.count)
  }

  private batchValues(): Float32Array {
    return this.values.subarray(0, this.count * this.length)
  }

  private remember(): void {
    this.pulled.set(this.batchValues())
  }
}

/**
 * Fill every batch's values: synchronously (returning undefined) when all
 * their keys are local, or else through a promise that pulls every batch
 * not local at once, so their round trips overlap.
 */
export function pullBatches(
  worker: Worker,
  batches: readonly BatchValues[],
): Promise<void> | undefined {
  let pulls: Promise<void>[] | undefined
  for (const batch of batches) {
    if (!batch.tryPull(worker)) (pulls ??= []).push(batch.pull(worker))
  }
  return pulls && Promise.all(pulls).then(() => {})
}
