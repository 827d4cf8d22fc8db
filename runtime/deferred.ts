/**
 * The deferred queue: a node's operations waiting behind earlier ones on the same keys.
 *
 * A node has at most one operation in flight per key. Requests may be
 * forwarded along different paths (a hint changed in between), so a second
 * push or set on a key could otherwise overtake the first, and a pull could
 * miss a push issued before it. An operation that touches a busy key waits
 * here, whole, in issue order; when replies come in, `drain` issues every
 * entry whose keys are free and not claimed by an earlier waiting entry.
 * The store's `busy[key]` counts a key's in-flight and waiting uses, and the
 * store folds it into `ready`, so the hot path needs a single read to know
 * that a key is free.
 */
import { assert } from "../actors/assert.ts"
import type { Store } from "../actors/store.ts"

/** The non-local part of a worker's pull, push or set (or of roam's own push). */
export interface OpEntry {
  readonly type: number
  readonly opId: number
  readonly keys: Uint32Array
  /** For a pull: float offsets in the output; otherwise unused. */
  readonly a: Uint32Array
  /** For a push or set: the keys' values in batch order. */
  readonly values: Float32Array
  /**
   * roam's own operation, not a worker's access (a dropped replica's last
   * delta): not counted in the access stats.
   */
  readonly internal?: boolean
}

export class Deferred {
  private entries: OpEntry[] = []
  private readonly marks: Uint8Array

  constructor(
    private readonly store: Store,
    private readonly inflight: Int32Array,
    private readonly deferredOpsMax: number,
  ) {
    this.marks = new Uint8Array(store.busy.length)
  }

  get length(): number {
    return this.entries.length
  }

  /** Must an operation on `keys` wait (an earlier one on one of them is unfinished)? */
  mustWait(keys: Uint32Array): boolean {
    const busy = this.store.busy
    for (let i = 0; i < keys.length; i++) if (busy[keys[i]] > 0) return true
    return false
  }

  push(entry: OpEntry): void {
    assert(
      this.entries.length < this.deferredOpsMax,
      () => `more than deferredOpsMax (${this.deferredOpsMax}) operations wait for earlier ones`,
    )
    const keys = entry.keys
    for (let i = 0; i < keys.length; i++) this.store.hold(keys[i])
    this.entries.push(entry)
  }

  /** Issue, in order, every entry whose keys are free and not claimed by an earlier entry. */
  drain(issue: (entry: OpEntry) => void): void {
    const entries = this.entries
    this.entries = []
    const { marks, inflight, store } = this
    const waiting: OpEntry[] = []
    for (let e = 0; e < entries.length; e++) {
      const entry = entries[e]
      const keys = entry.keys
      let free = true
      for (let i = 0; i < keys.length; i++) {
        if (inflight[keys[i]] > 0 || marks[keys[i]] === 1) {
          free = false
          break
        }
      }
      if (free) {
        for (let i = 0; i < keys.length; i++) store.unhold(keys[i])
        issue(entry)
      } else {
        for (let i = 0; i < keys.length; i++) marks[keys[i]] = 1
        waiting.push(entry)
      }
    }
    for (let e = 0; e < waiting.length; e++) {
      const keys = waiting[e].keys
      for (let i = 0; i < keys.length; i++) marks[keys[i]] = 0
    }
    // Entries pushed while issuing (none today) would land in this.entries.
    this.entries = waiting.concat(this.entries)
  }
}
