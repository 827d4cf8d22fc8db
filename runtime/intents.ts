/**
 * The intent scheduler of one node: when each worker's intents take effect.
 *
 * A worker says which keys it will access from its clock `start` until `end`
 * (`worker.intent`). Intents wait, ordered by start, until `start ≤ clock +
 * window`; then they are active until the worker's clock reaches `end`. The
 * node's `interest` in a key is the number of active intents of its workers
 * for it: when it rises from 0 the node acquires the key (tells the owner,
 * which relocates it here or sends a replica), when it falls to 0 the node
 * releases it (drops its replica, tells the owner).
 *
 * The window is what makes this work without tuning (AdaPM): a key takes
 * about a sync round to arrive, so the node acts on an intent as many clocks
 * ahead as its worker advances in `roundsAhead` sync rounds. Each worker's
 * clocks per round are estimated with an exponentially smoothed mean and
 * variance, and the window is `(mean + 2 sd) · roundsAhead` (the mean plus a
 * safety margin of about the 98th percentile), at least one clock. Before the
 * first estimate the window is `intentWindowInitial`.
 */
import { assert } from "../actors/assert.ts"

/** What a node does when its interest in keys starts or ends (intent_placement.ts). */
export interface IntentHost {
  acquire(keys: readonly number[]): void
  release(keys: readonly number[]): void
}

interface Intent {
  readonly keys: Uint32Array
  readonly start: number
  readonly end: number
}

/** Smoothing factor of the clocks-per-round estimate. */
const SMOOTHING = 0.25
/** Standard deviations of margin above the mean clock rate. */
const MARGIN_SD = 2

class WorkerIntents {
  clock = 0
  /** Not yet acted on, by start (then by arrival). */
  readonly waiting: Intent[] = []
  /** Acted on, by end. */
  readonly active: Intent[] = []
  clockAtRound = 0
  rounds = 0
  mean = 0
  variance = 0
  window: number

  constructor(initialWindow: number) {
    this.window = initialWindow
  }
}

export class IntentScheduler {
  /** Active intents of this node's workers, per key. */
  readonly interest: Int32Array
  /**
   * Per key, 1 while `interest` is above zero: what the data plane reads to
   * count intent-covered accesses, a quarter of the bytes of `interest`.
   */
  readonly covered: Uint8Array
  /** Keys with interest above zero: when none, the data plane skips intent accounting. */
  interestedKeys = 0
  private readonly workers: WorkerIntents[] = []
  private readonly gained: number[] = []
  private readonly lost: number[] = []

  constructor(
    private readonly host: IntentHost,
    keys: number,
    private readonly options: { readonly windowInitial: number; readonly windowMax: number },
    private readonly roundsAhead = 2,
  ) {
    this.interest = new Int32Array(keys)
    this.covered = new Uint8Array(keys)
  }

  /** Register a worker; returns its slot. */
  addWorker(): number {
    this.workers.push(new WorkerIntents(this.options.windowInitial))
    return this.workers.length - 1
  }

  /** The current window (in clocks) of every worker. */
  windows(): number[] {
    return this.workers.map((w) => w.window)
  }

  /** Worker `slot` will access `keys` in clocks [start, end); `end > start` is checked by the caller. */
  add(slot: number, keys: Uint32Array, start: number, end: number): void {
    const worker = this.workers[slot]
    if (end <= worker.clock) return // Entirely in the past.
    insertBy(worker.waiting, { keys, start, end }, (i) => i.start)
    this.evaluate(worker)
  }

  /** Worker `slot` advanced its clock to `clock`. */
  advance(slot: number, clock: number): void {
    const worker = this.workers[slot]
    worker.clock = clock
    this.evaluate(worker)
  }

  /** A sync round of this node completed: update every worker's clock rate and window. */
  onRound(): void {
    for (const worker of this.workers) {
      const clocks = worker.clock - worker.clockAtRound
      worker.clockAtRound = worker.clock
      if (worker.rounds++ === 0) worker.mean = clocks
      else {
        const diff = clocks - worker.mean
        worker.mean += SMOOTHING * diff
        worker.variance = (1 - SMOOTHING) * (worker.variance + SMOOTHING * diff * diff)
      }
      const perRound = worker.mean + MARGIN_SD * Math.sqrt(worker.variance)
      worker.window = Math.min(
        this.options.windowMax,
        Math.max(1, Math.ceil(perRound * this.roundsAhead)),
      )
      this.evaluate(worker)
    }
  }

  /** Act on intents whose start is within the window; end those whose end has passed. */
  private evaluate(worker: WorkerIntents): void {
    const interest = this.interest
    const covered = this.covered
    const horizon = worker.clock + worker.window
    const waiting = worker.waiting
    let taken = 0
    while (taken < waiting.length && waiting[taken].start <= horizon) {
      const intent = waiting[taken++]
      if (intent.end <= worker.clock) continue
      for (let k = 0; k < intent.keys.length; k++) {
        const key = intent.keys[k]
        if (interest[key]++ === 0) {
          this.gained.push(key)
          this.interestedKeys++
          covered[key] = 1
        }
      }
      insertBy(worker.active, intent, (i) => i.end)
    }
    if (taken > 0) waiting.splice(0, taken)
    const active = worker.active
    let ended = 0
    while (ended < active.length && active[ended].end <= worker.clock) {
      const keys = active[ended++].keys
      for (let k = 0; k < keys.length; k++) {
        const key = keys[k]
        assert(interest[key] > 0, () => `interest in key ${key} below zero`)
        if (--interest[key] === 0) {
          this.lost.push(key)
          this.interestedKeys--
          covered[key] = 0
        }
      }
    }
    if (ended > 0) active.splice(0, ended)
    this.flush()
  }

  private flush(): void {
    const interest = this.interest
    // A key can be gained and lost in one evaluation; only its final state counts.
    if (this.gained.length > 0) {
      const gained = keepIf(this.gained, (key) => interest[key] > 0)
      this.gained.length = 0
      if (gained.length > 0) this.host.acquire(gained)
    }
    if (this.lost.length > 0) {
      const lost = keepIf(this.lost, (key) => interest[key] === 0)
      this.lost.length = 0
      if (lost.length > 0) this.host.release(lost)
    }
  }
}

/** Insert `item` into `list` (sorted by `by`) after every element with an equal or lower value. */
function insertBy<T>(list: T[], item: T, by: (t: T) => number): void {
  const value = by(item)
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (by(list[mid]) <= value) lo = mid + 1
    else hi = mid
  }
  list.splice(lo, 0, item)
}

/** `list.filter(keep)` as a plain loop: this runs for every batch of intents. */
function keepIf(list: readonly number[], keep: (key: number) => boolean): number[] {
  const kept: number[] = []
  for (let i = 0; i < list.length; i++) if (keep(list[i])) kept.push(list[i])
  return kept
}
