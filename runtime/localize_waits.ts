/**
 * The `localize` calls of one node that wait for keys to become local.
 *
 * `worker.localize(keys)` resolves once every key of its batch is local here.
 * One call waits on many keys and several calls may wait on one key. Under
 * `lapse` and `nups` a worker localizes every batch ahead of use, so this is
 * on the data path: it is kept as one linked list per key in typed arrays (a
 * head per key, pooled entries naming the waiting call), and registering or
 * waking a key allocates nothing. A call costs one record, where a map entry
 * and an array per key used to be a third of a relocation's CPU in a `lapse`
 * benchmark of 25,000-key batches.
 */

/** One `localize` call: how many of its keys are still missing, and its promise. */
export interface LocalizeWait {
  remaining: number
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

const NONE = -1

export class LocalizeWaits {
  /** Per key, its first entry, or NONE. */
  private readonly head: Int32Array
  /** Per entry, the call it stands for. */
  private entryCall = new Int32Array(256)
  /** Per entry, the next entry of the same key (or of the free list), or NONE. */
  private entryNext = new Int32Array(256)
  private freeEntry = NONE
  /** Entries ever used; those below it are in a list or on the free list. */
  private entriesUsed = 0
  /** The waiting calls by id; ids are reused once a call resolves. */
  private readonly calls: (LocalizeWait | undefined)[] = []
  private readonly freeCalls: number[] = []

  constructor(keys: number) {
    this.head = new Int32Array(keys).fill(NONE)
  }

  /** Calls waiting now: every id handed out and not yet free again. */
  get size(): number {
    return this.calls.length - this.freeCalls.length
  }

  /** Register a call; returns its id, for `add`. */
  open(wait: LocalizeWait): number {
    const id = this.freeCalls.length > 0 ? this.freeCalls.pop()! : this.calls.length
    this.calls[id] = wait
    return id
  }

  /**
   * Call `id` waits for `key` too. A key repeated in one call's batch counts
   * once: its entry for this call is still the key's first, since nothing
   * else registers while one call adds its keys.
   */
  add(id: number, key: number): void {
    const first = this.head[key]
    if (first !== NONE && this.entryCall[first] === id) return
    let entry = this.freeEntry
    if (entry !== NONE) this.freeEntry = this.entryNext[entry]
    else {
      if (this.entriesUsed === this.entryCall.length) this.grow()
      entry = this.entriesUsed++
    }
    this.entryCall[entry] = id
    this.entryNext[entry] = first
    this.head[key] = entry
    this.calls[id]!.remaining++
  }

  /** `key` became local: resolve the calls it was the last missing key of. */
  wake(key: number): void {
    let entry = this.head[key]
    if (entry === NONE) return
    this.head[key] = NONE
    while (entry !== NONE) {
      const next = this.entryNext[entry]
      const id = this.entryCall[entry]
      this.entryNext[entry] = this.freeEntry
      this.freeEntry = entry
      const wait = this.calls[id]!
      if (--wait.remaining === 0) {
        this.calls[id] = undefined
        this.freeCalls.push(id)
        wait.resolve()
      }
      entry = next
    }
  }

  /** Reject every waiting call and forget them all (the node fails or closes). */
  rejectAll(error: unknown): void {
    const waiting = this.calls.filter((wait) => wait !== undefined)
    this.head.fill(NONE)
    this.freeEntry = NONE
    this.entriesUsed = 0
    this.calls.length = 0
    this.freeCalls.length = 0
    for (const wait of waiting) wait.reject(error)
  }

  private grow(): void {
    const call = new Int32Array(this.entryCall.length * 2)
    const next = new Int32Array(this.entryNext.length * 2)
    call.set(this.entryCall)
    next.set(this.entryNext)
    this.entryCall = call
    this.entryNext = next
  }
}
