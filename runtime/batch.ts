/**
 * Batch builders: where a node assembles the frames it is about to send.
 *
 * Handling one request may produce a reply to its origin, forwards to several
 * other nodes and hand-overs; each goes to its destination as one frame, never
 * one per key. A `Batch` is a growable set of typed-array columns (keys, `a`,
 * `b`, values) that is reused from frame to frame, so assembling costs no
 * allocation per key; an `Outbox` keeps one batch per destination node and
 * turns the non-empty ones into frames. Frames longer than `frameKeysMax` keys
 * are split, so no frame outgrows the transport's limits.
 */
import { copyFloats } from "../actors/store.ts"
import { encodeFrame, frameColumns } from "./codec.ts"

export class Batch {
  keys = new Uint32Array(64)
  a = new Uint32Array(64)
  b = new Uint32Array(64)
  values = new Float32Array(256)
  count = 0
  valueCount = 0

  reset(): void {
    this.count = 0
    this.valueCount = 0
  }

  /** Append a key with its two columns; returns the float offset for its value. */
  add(key: number, a: number, b: number): void {
    if (this.count === this.keys.length) this.growKeys()
    this.keys[this.count] = key
    this.a[this.count] = a
    this.b[this.count] = b
    this.count++
  }

  /** Append `length` floats from `source` starting at `offset`. */
  addValues(source: Float32Array, offset: number, length: number): void {
    const need = this.valueCount + length
    if (need > this.values.length) {
      const grown = new Float32Array(Math.max(need, this.values.length * 2))
      grown.set(this.values.subarray(0, this.valueCount))
      this.values = grown
    }
    copyFloats(this.values, this.valueCount, source, offset, length)
    this.valueCount = need
  }

  private growKeys(): void {
    const capacity = this.keys.length * 2
    const keys = new Uint32Array(capacity)
    keys.set(this.keys)
    this.keys = keys
    const a = new Uint32Array(capacity)
    a.set(this.a)
    this.a = a
    const b = new Uint32Array(capacity)
    b.set(this.b)
    this.b = b
  }

  /** Copies of the columns, for a batch that must outlive this builder (a parked request). */
  snapshot(): { keys: Uint32Array; a: Uint32Array; b: Uint32Array; values: Float32Array } {
    return {
      keys: this.keys.slice(0, this.count),
      a: this.a.slice(0, this.count),
      b: this.b.slice(0, this.count),
      values: this.values.slice(0, this.valueCount),
    }
  }
}

export type SendFrame = (to: number, frame: Uint8Array) => void

/** One batch per destination; `flush` sends each non-empty one as a frame (or several). */
export class Outbox {
  readonly batches: Batch[]
  private touched: number[] = []

  constructor(nodes: number, private readonly frameKeysMax: number) {
    this.batches = Array.from({ length: nodes }, () => new Batch())
  }

  /** The batch for node `to`, remembered so that `flush` visits it. */
  to(to: number): Batch {
    const batch = this.batches[to]
    if (batch.count === 0 && !this.touched.includes(to)) this.touched.push(to)
    return batch
  }

  get empty(): boolean {
    return this.touched.length === 0
  }

  /** Encode and send every non-empty batch, then reset them all. */
  flush(
    header: { type: number; origin: number; id: number; hops: number },
    lengthOf: (key: number) => number,
    send: SendFrame,
  ): void {
    const touched = this.touched
    this.touched = []
    for (const to of touched) {
      const batch = this.batches[to]
      if (batch.count > 0) sendBatch(batch, header, this.frameKeysMax, lengthOf, (f) => send(to, f))
      batch.reset()
    }
  }
}

/** Encode `batch` as one or more frames of at most `frameKeysMax` keys. */
export function sendBatch(
  batch: Batch,
  header: { type: number; origin: number; id: number; hops: number },
  frameKeysMax: number,
  lengthOf: (key: number) => number,
  send: (frame: Uint8Array) => void,
): void {
  const columns = frameColumns(header.type)
  let start = 0
  let valueStart = 0
  while (start < batch.count) {
    const end = Math.min(batch.count, start + frameKeysMax)
    let valueEnd = valueStart
    if (columns.values) { for (let i = start; i < end; i++) valueEnd += lengthOf(batch.keys[i]) }
    send(encodeFrame(header, batch.keys.subarray(start, end), {
      a: columns.a ? batch.a.subarray(start, end) : undefined,
      b: columns.b ? batch.b.subarray(start, end) : undefined,
      values: columns.values ? batch.values.subarray(valueStart, valueEnd) : undefined,
    }))
    start = end
    valueStart = valueEnd
  }
}
