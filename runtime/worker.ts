/**
 * The worker handle: the API a training actor calls on its node.
 *
 * This is the data plane's front door. Every call checks its whole batch
 * (keys in range, value length right) before anything in roam changes, so bad
 * input throws a tagged error and changes nothing. When every key is ready —
 * owned here or a replica, with no earlier operation of this node on it still
 * in flight — `tryPull`, `push` and `set` complete synchronously in
 * typed-array loops with no allocation per key and no Promise. Otherwise the
 * ready keys are served in place and the rest goes to the node as one
 * sub-batch, which leaves as one frame per destination.
 *
 * Every batch takes two passes. The first (`scan`) checks the keys and reads
 * each one's `ready` slot into `rows`, a scratch array of row offsets; the
 * second copies or adds the values through `rows`. Split this way, the loads
 * of `ready` over a batch do not wait on each other's copies, and the CPU
 * overlaps them: under Bun, at 16 floats a key on uniform keys, a gather went
 * from 0.64 to 0.91 of raw typed-array code (measured while working on issue 2).
 */
import { setImmediate } from "node:timers"
import { KeyState } from "../actors/lifecycle.ts"
import { FrameType } from "./codec.ts"
import {
  checkFloatsType,
  checkKeysType,
  invalidArgument,
  keyOutOfRange,
  LimitExceeded,
  shown,
  valueLengthMismatch,
} from "./errors.ts"
import type { NodeRuntime } from "./node.ts"
import { type PrepareSampleOptions, type SampleHandle, Sampler } from "./sampling.ts"
import { defaultSamplingContext, type SamplingContext } from "./sampling_context.ts"

/** Keys of a batch: a `Uint32Array` or a plain array of integers. */
export type Keys = Uint32Array | readonly number[]

/** Batches from this many keys load their rows once ahead of the copy or add (`touchRows`). */
const TOUCH_KEYS_MIN = 8
/** Floats in a 64-byte cache line. */
const FLOATS_PER_LINE = 16
/** Pulled batches remembered as warm (a task pulls a few tables, then pushes them). */
const WARM_BATCHES = 4
const NO_VALUES = new Float32Array(0)
const NO_OFFSETS = new Uint32Array(0)

export class Worker {
  private logicalClock = 0
  // Results of the last `scan`, kept in fields so that a scan allocates nothing.
  private scanFloats = 0
  private scanRemote = 0
  /** Floats of the keys of the last scan not ready locally. */
  private scanRemoteFloats = 0
  /** Keys of the last scan that this node expects (they would wait here, parked). */
  private scanExpected = 0
  /**
   * Per key of the last scan: its row's offset in its table's slab, negative
   * when it is not ready. Grows to the largest batch seen, never per call.
   */
  private rows = new Int32Array(64)
  /**
   * Per key of the last scan: the index of its table, written only when the
   * batch spans several tables (`scanTable` < 0). Grows with `rows`.
   */
  private tablesAt = new Int32Array(64)
  /** The table of every key of the last scan, or -1 when it spans several (or none). */
  private scanTable = -1
  /** The sum of `touchRows`' loads, kept so that the loads are not optimized away. */
  private touched = 0
  /**
   * The last `WARM_BATCHES` batches pulled here, in a ring of four numbers
   * each (length; first, middle and last key; a length of 0 marks an empty
   * entry): a push of one of them finds its rows in the cache, which the
   * pull's copy just brought in, and skips `touchRows`.
   */
  private readonly warm = new Float64Array(4 * WARM_BATCHES)
  private warmNext = 0
  /** When (the node's Clock, ms) this worker's task last gave the event loop a turn (`yieldIfDue`). */
  private turnAtMs: number
  private readonly endTurn = (resolve: () => void) =>
    setImmediate(() => {
      this.turnAtMs = this.node.nowMs()
      resolve()
    })

  private readonly sampler: Sampler
  /** This worker's slot in the node's intent scheduler. */
  private readonly intentSlot: number

  constructor(
    private readonly node: NodeRuntime,
    readonly index: number,
    sampling?: SamplingContext,
  ) {
    node.barrier.addWorker()
    this.turnAtMs = node.nowMs()
    this.intentSlot = node.intents.addWorker()
    this.sampler = new Sampler(
      this,
      sampling ?? defaultSamplingContext(node.space),
      node.stats,
      // Workers are made in a fixed order, so each node's stream of seeds replays.
      { usesIntent: node.policy.usesIntent, seed: node.random.nextIntUnsafe() },
    )
  }

  /** The node this worker runs on. */
  get nodeId(): number {
    return this.node.id
  }

  /** This worker's logical clock (advanced by `advanceClock`). */
  get clock(): number {
    return this.logicalClock
  }

  /** Advance this worker's logical clock by one; returns the new clock. */
  advanceClock(): number {
    this.node.assertOpen("advanceClock")
    const clock = ++this.logicalClock
    this.node.intents.advance(this.intentSlot, clock)
    this.node.placement.onClockAdvanced()
    return clock
  }

  /**
   * Give the node a turn of the event loop if this worker's task has run for
   * `config.workerSliceMs` since its last one: returns a promise that resolves
   * after the turn, or undefined (no promise, no microtask) when none is due.
   *
   * A node runs its workers' tasks and its protocol in one thread. While a task
   * computes on local keys, its calls complete synchronously and the node
   * serves nobody: other nodes' pulls, hand-overs and sync rounds wait until
   * the task awaits something. A loop that can run long on local keys calls
   * this once per mini-batch (`const turn = worker.yieldIfDue(); if (turn)
   * await turn`), so that the node answers within about a slice and moves keys
   * while the task computes. The slice is counted from this worker's last
   * turn here, not from its other awaits.
   */
  yieldIfDue(): Promise<void> | undefined {
    const node = this.node
    node.assertOpen("yieldIfDue")
    if (node.nowMs() - this.turnAtMs < node.config.workerSliceMs) return undefined
    return new Promise(this.endTurn)
  }

  /**
   * This worker will access `keys` from its clock `start` (inclusive) until
   * `end` (exclusive; default `start + 1`). Under an intent-driven policy
   * (`adaptive`, the default) roam makes the keys local just before `start`
   * and releases them after `end`; under other policies it is accepted and
   * ignored. Intents entirely in the past are ignored.
   */
  intent(keys: Keys, start: number, end: number = start + 1): void {
    this.checkKeys(keys, "intent")
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
      throw invalidArgument(
        `intent clocks must be integers, got start ${shown(start)} and end ${shown(end)}`,
      )
    }
    if (end <= start) {
      throw invalidArgument(`intent end ${end} must be after its start ${start}`)
    }
    // One node owns every key already: there is nothing to place.
    const node = this.node
    if (!node.policy.usesIntent || node.nodes === 1 || end <= this.logicalClock) return
    if (keys.length === 0) return
    this.node.intents.add(this.intentSlot, Uint32Array.from(keys), start, end)
  }

  /**
   * Fill `out` with the keys' values and return true when every key is ready
   * locally; return false (with `out` unspecified) otherwise. Synchronous.
   */
  tryPull(keys: Keys, out: Float32Array): boolean {
    this.scan(keys, "tryPull")
    checkFloatsType(out, "tryPull output")
    if (out.length !== this.scanFloats) {
      throw valueLengthMismatch("tryPull output", this.scanFloats, out.length)
    }
    this.countAccesses(keys)
    if (this.scanRemote > 0) return false
    this.copyOut(keys, out)
    return true
  }

  /** The keys' values, concatenated in batch order, into `out` (allocated when absent). */
  pull(keys: Keys, out?: Float32Array): Promise<Float32Array> {
    this.scan(keys, "pull")
    if (out !== undefined) checkFloatsType(out, "pull output")
    const result = out ?? new Float32Array(this.scanFloats)
    if (result.length !== this.scanFloats) {
      throw valueLengthMismatch("pull output", this.scanFloats, result.length)
    }
    if (this.scanRemote > 0) this.checkParkRoom("pull")
    this.countAccesses(keys)
    if (this.scanRemote > 0) return this.split(FrameType.Pull, keys, result).then(() => result)
    this.copyOut(keys, result)
    return Promise.resolve(result)
  }

  /** Add `deltas` to the keys' values (exactly once, at each key's owner). */
  push(keys: Keys, deltas: Float32Array): void {
    this.write(FrameType.Push, keys, deltas, "push")
  }

  /** Overwrite the keys' values with `values`. */
  set(keys: Keys, values: Float32Array): void {
    this.write(FrameType.Set, keys, values, "set")
  }

  /**
   * Make the keys local to this worker's node, if the policy relocates
   * (`lapse`); resolves once they are. Under `static` it changes nothing.
   */
  localize(keys: Keys): Promise<void> {
    this.checkKeys(keys, "localize")
    if (!this.node.policy.relocatesOnLocalize) return Promise.resolve()
    return this.node.localize(keys)
  }

  /**
   * Whether `key` is local to this node and ready: a `tryPull` of it would
   * succeed now. A read of the key's state; throws `KeyOutOfRange`.
   */
  isLocal(key: number): boolean {
    const node = this.node
    node.assertOpen("isLocal")
    if ((key >>> 0) !== key || key >= node.space.keys) throw keyOutOfRange(key, node.space.keys)
    return node.isReady(key)
  }

  /**
   * Prepare `n` samples of a table's keys, drawn from the table's sampling
   * distribution under a scheme (`options.scheme`, else the cluster's); see
   * `runtime/sampling.ts` for what each scheme trades. Synchronous: draws the
   * samples and starts making them local, or, given the clocks of their use
   * (`start`, `end`) under an intent-driven policy, signals an intent for
   * those clocks. Throws `InvalidArgument`,
   * `UnknownTable` or `LimitExceeded`.
   */
  prepareSample(n: number, options?: PrepareSampleOptions): SampleHandle {
    this.node.assertOpen("prepareSample")
    return this.sampler.prepare(n, options)
  }

  /**
   * Hand out the handle's next `m = min(keysOut.length, samples left)` samples:
   * their keys into `keysOut[0, m)` and their values into the start of
   * `valuesOut` (which holds `keysOut.length` values of the table); resolves
   * with `m`. The handle is released when its last sample is out. Throws
   * `UnknownSampleHandle`, `InvalidArgument` or `ValueLengthMismatch`.
   */
  pullSample(handle: SampleHandle, keysOut: Uint32Array, valuesOut: Float32Array): Promise<number> {
    this.node.assertOpen("pullSample")
    return this.sampler.pull(handle, keysOut, valuesOut)
  }

  /**
   * `pullSample`, synchronously, when the samples to hand out are local now;
   * returns their number, or -1 (nothing handed out) when they are not. Under
   * `postpone` it hands out the samples local now, possibly fewer than asked.
   */
  tryPullSample(handle: SampleHandle, keysOut: Uint32Array, valuesOut: Float32Array): number {
    this.node.assertOpen("tryPullSample")
    return this.sampler.tryPull(handle, keysOut, valuesOut)
  }

  /** Release a handle before its samples are all pulled. */
  finishSample(handle: SampleHandle): void {
    this.node.assertOpen("finishSample")
    this.sampler.finish(handle)
  }

  /**
   * Resolves once every worker of the cluster has called `barrier` and every
   * operation any of them issued before its call has been applied.
   */
  barrier(): Promise<void> {
    const node = this.node
    node.assertOpen("barrier")
    if (node.accessCounts === undefined) return node.barrier.arrive()
    // The first barrier ends the warm-up of nups { hottest: n }.
    return node.barrier.arrive().then(() => node.keeper.endWarmup())
  }

  /**
   * Resolves once every push this worker made before the call is merged at
   * the keys' owners and reflected in every replica (after a sync round of
   * every node). Covers the pushes of the other workers of this node too.
   */
  waitSync(): Promise<void> {
    this.node.assertOpen("waitSync")
    return this.node.waitSync()
  }

  private write(type: number, keys: Keys, values: Float32Array, what: string): void {
    this.scan(keys, what)
    checkFloatsType(values, `${what} values`)
    if (values.length !== this.scanFloats) {
      throw valueLengthMismatch(`${what} values`, this.scanFloats, values.length)
    }
    if (this.scanRemote > 0) this.checkParkRoom(what)
    this.countAccesses(keys)
    if (type === FrameType.Set && this.node.store.replicasHeld > 0) this.replicasToOwners(keys)
    if (this.scanRemote === 0) return this.applyIn(type, keys, values)
    // Fire and forget: a write fails only when the cluster closes under it.
    this.split(type, keys, values).catch(() => {})
  }

  /**
   * The keys of the last scan that this node expects wait here, parked, until
   * they arrive: throw `LimitExceeded`, before anything changes, when that
   * would take the node past `config.parkedKeysMax` (the node could not
   * park them, and an operation half issued would leave its keys busy).
   */
  private checkParkRoom(what: string): void {
    const node = this.node
    const expected = this.scanExpected
    const max = node.config.parkedKeysMax
    if (node.parkedKeys + expected <= max) return
    throw new LimitExceeded({
      message: `${what}: ${expected} keys on their way to node ${node.id} would wait there ` +
        `with ${node.parkedKeys} already waiting, over config.parkedKeysMax = ${max}`,
      limit: "parkedKeysMax",
      max,
    })
  }

  /**
   * Mark the last scan's replicas not ready: a set overwrites once, at the
   * owner (DESIGN.md §4), so it goes there, where a replica's push is a delta
   * it merges. The node writes the replica on the way (node.ts).
   */
  private replicasToOwners(keys: Keys): void {
    const state = this.node.store.state
    const lengths = this.node.space.lengths
    const rows = this.rows
    for (let i = 0; i < keys.length; i++) {
      if (rows[i] < 0 || state[keys[i]] !== KeyState.Replica) continue
      rows[i] = -1
      this.scanRemote++
      this.scanRemoteFloats += lengths[this.scanTable >= 0 ? this.scanTable : this.tablesAt[i]]
    }
  }

  /**
   * Every key must be an integer in the key space: the check of calls that
   * name keys but move no values, which need nothing else of `scan`.
   */
  private checkKeys(keys: Keys, what: string): void {
    this.node.assertOpen(what)
    checkKeysType(keys, what)
    const total = this.node.space.keys
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      if ((key >>> 0) !== key || key >= total) throw keyOutOfRange(key, total)
    }
  }

  /**
   * The first pass over a batch: every key must be an integer in the key
   * space; sums the value floats (`scanFloats`), counts the keys not ready
   * locally and their floats (`scanRemote`, `scanRemoteFloats`) and, of
   * those, the ones this node expects (`scanExpected`), and writes each key's
   * row offset, or a negative number when it is not ready, to `rows`, and its
   * table to `scanTable` (one table) or `tablesAt` (several). Reads nothing
   * but `ready` per key (and `state` for a key not ready), and writes nothing
   * of roam's.
   */
  private scan(keys: Keys, what: string): void {
    const node = this.node
    node.assertOpen(what)
    checkKeysType(keys, what)
    const space = node.space
    const total = space.keys
    const ends = space.ends
    const lengths = space.lengths
    const ready = node.store.ready
    const state = node.store.state
    const n = keys.length
    if (this.rows.length < n) {
      this.rows = new Int32Array(Math.max(n, 2 * this.rows.length))
      this.tablesAt = new Int32Array(this.rows.length)
    }
    const rows = this.rows
    const tablesAt = this.tablesAt
    let start = 0
    let end = 0
    let length = 0
    let floats = 0
    let remote = 0
    let remoteFloats = 0
    let expected = 0
    let tables = 0
    let index = -1
    for (let i = 0; i < n; i++) {
      const key = keys[i]
      if ((key >>> 0) !== key || key >= total) throw keyOutOfRange(key, total)
      if (key < start || key >= end) {
        const previous = index
        index = space.tableIndexOf(key)
        start = index === 0 ? 0 : ends[index - 1]
        end = ends[index]
        length = lengths[index]
        // Table indices are written only once a batch spans two tables (by a
        // loop: a native fill costs more than the few keys a batch has before).
        if (++tables === 2) { for (let j = 0; j < i; j++) tablesAt[j] = previous }
      }
      if (tables > 1) tablesAt[i] = index
      floats += length
      // A table's length is at least 1, so a missing slot (-1) stays negative.
      const slot = ready[key]
      rows[i] = slot * length
      if (slot < 0) {
        remote++
        remoteFloats += length
        if (state[key] === KeyState.Expected) expected++
      }
    }
    this.scanFloats = floats
    this.scanRemote = remote
    this.scanRemoteFloats = remoteFloats
    this.scanExpected = expected
    this.scanTable = tables === 1 ? index : -1
  }

  /** The second pass of a local pull: copy every key's row into `out`, in batch order, and count it. */
  private copyOut(keys: Keys, out: Float32Array): void {
    this.countLocal(keys, true)
    if (keys.length >= TOUCH_KEYS_MIN) {
      this.touchRows(keys.length)
      this.rememberWarm(keys)
    }
    const node = this.node
    const space = node.space
    const slabs = node.store.slabs
    const rows = this.rows
    if (this.scanTable >= 0) {
      // One table, the common batch: no key needs reading again.
      const length = space.lengths[this.scanTable]
      const values = slabs[this.scanTable].values
      for (let i = 0, at = 0; i < keys.length; i++, at += length) {
        const from = rows[i]
        for (let j = 0; j < length; j++) out[at + j] = values[from + j]
      }
      return
    }
    // The current table's length and values, in locals the JIT keeps in registers.
    const tablesAt = this.tablesAt
    let table = -1
    let length = 0
    let values = slabs[0].values
    let at = 0
    for (let i = 0; i < keys.length; i++) {
      if (tablesAt[i] !== table) {
        table = tablesAt[i]
        length = space.lengths[table]
        values = slabs[table].values
      }
      const from = rows[i]
      for (let j = 0; j < length; j++) out[at + j] = values[from + j]
      at += length
    }
  }

  /**
   * Load one float of each cache line of the rows of the last scan's `n`
   * keys (all ready), before the pass that copies or adds them. These loads
   * are independent of one another, so the processor keeps many cache misses
   * in flight; in the copy or add loop, each row's misses come one after the
   * other, behind its stores. Measured on MF (1M ratings, 1 node, Bun; a
   * mini-batch pulls ~400 rows of 17 floats at random): 0.22-0.26 s an epoch
   * without, 0.17-0.18 with.
   */
  private touchRows(n: number): void {
    const rows = this.rows
    const slabs = this.node.store.slabs
    const lengths = this.node.space.lengths
    const tablesAt = this.tablesAt
    const one = this.scanTable >= 0
    let table = this.scanTable
    let values = slabs[one ? table : tablesAt[0]].values
    let last = lengths[one ? table : tablesAt[0]] - 1
    let sum = 0
    for (let i = 0; i < n; i++) {
      if (!one && tablesAt[i] !== table) {
        table = tablesAt[i]
        values = slabs[table].values
        last = lengths[table] - 1
      }
      const from = rows[i]
      for (let j = 0; j < last; j += FLOATS_PER_LINE) sum += values[from + j]
      sum += values[from + last]
    }
    this.touched = sum
  }

  /** Note `keys`, just pulled here, as warm (`isWarm`). */
  private rememberWarm(keys: Keys): void {
    const at = 4 * this.warmNext
    this.warmNext = (this.warmNext + 1) % WARM_BATCHES
    const n = keys.length
    const warm = this.warm
    warm[at] = n
    warm[at + 1] = keys[0]
    warm[at + 2] = keys[n >> 1]
    warm[at + 3] = keys[n - 1]
  }

  /**
   * Was a batch like `keys` (same length, first, middle and last key) among
   * the last few pulled here? Then its rows were just copied and are in the
   * cache, and a push of it needs no `touchRows`: MF on 1 node, 5 alternating
   * pairs, median epoch 3.63 → 3.78M points/s under Deno, 4.72 → 4.90M under
   * Bun. A batch that only looks alike loses the prefetch, never a value:
   * the touch changes nothing.
   */
  private isWarm(keys: Keys): boolean {
    const n = keys.length
    const first = keys[0]
    const middle = keys[n >> 1]
    const last = keys[n - 1]
    const warm = this.warm
    for (let at = 0; at < warm.length; at += 4) {
      if (
        warm[at] === n && warm[at + 1] === first && warm[at + 2] === middle &&
        warm[at + 3] === last
      ) return true
    }
    return false
  }

  /** Count a batch served entirely here, a pull or a write. */
  private countLocal(keys: Keys, pull: boolean): void {
    const stats = this.node.stats
    if (pull) (stats.pullKeysLocal += keys.length, stats.pullBatchesLocal++)
    else (stats.pushKeysLocal += keys.length, stats.pushBatchesLocal++)
    stats.replicaKeysLocal += this.countReplicas(keys)
  }

  /** Keys of the batch held here as replicas (none to look for on most nodes). */
  private countReplicas(keys: Keys): number {
    const store = this.node.store
    if (store.replicasHeld === 0) return 0
    const state = store.state
    let replica = 0
    for (let i = 0; i < keys.length; i++) if (state[keys[i]] === KeyState.Replica) replica++
    return replica
  }

  /** The access counts of a checked batch: nups' warm-up and intent coverage, when on. */
  private countAccesses(keys: Keys): void {
    const node = this.node
    const counts = node.accessCounts
    if (counts !== undefined) { for (let i = 0; i < keys.length; i++) counts[keys[i]]++ }
    if (node.intents.interestedKeys > 0) node.placement.countIntentAccess(keys, this.rows)
  }

  /**
   * Add (push) or copy (set) every key's value from `values` and bump its
   * version (store.ts: what sync rounds compare); all keys are ready. The
   * second pass of a local write; counts it.
   */
  private applyIn(type: number, keys: Keys, values: Float32Array): void {
    this.countLocal(keys, false)
    if (keys.length >= TOUCH_KEYS_MIN && !this.isWarm(keys)) this.touchRows(keys.length)
    const space = this.node.space
    const slabs = this.node.store.slabs
    const rows = this.rows
    const versions = this.node.store.versions
    const add = type === FrameType.Push
    // Versions are compared only by replicas' syncs, and one node has no replicas.
    if (this.node.nodes > 1) { for (let i = 0; i < keys.length; i++) versions[keys[i]]++ }
    if (this.scanTable >= 0) {
      // One table, the common batch: no key needs reading again.
      const length = space.lengths[this.scanTable]
      const data = slabs[this.scanTable].values
      for (let i = 0, at = 0; i < keys.length; i++, at += length) {
        const to = rows[i]
        if (add) { for (let j = 0; j < length; j++) data[to + j] += values[at + j] }
        else for (let j = 0; j < length; j++) data[to + j] = values[at + j]
      }
      return
    }
    const tablesAt = this.tablesAt
    let table = -1
    let length = 0
    let data = slabs[0].values
    let at = 0
    for (let i = 0; i < keys.length; i++) {
      if (tablesAt[i] !== table) {
        table = tablesAt[i]
        length = space.lengths[table]
        data = slabs[table].values
      }
      const to = rows[i]
      if (add) { for (let j = 0; j < length; j++) data[to + j] += values[at + j] }
      else for (let j = 0; j < length; j++) data[to + j] = values[at + j]
      at += length
    }
  }

  /**
   * Serve the ready keys in place and hand the rest to the node as one
   * operation. For a pull `data` is the output; for a write, the values.
   */
  private split(type: number, keys: Keys, data: Float32Array): Promise<void> {
    const node = this.node
    const space = node.space
    const state = node.store.state
    const rows = this.rows
    const isPull = type === FrameType.Pull
    const versions = node.store.versions
    const remote = this.scanRemote
    const remoteKeys = new Uint32Array(remote)
    const offsets = isPull ? new Uint32Array(remote) : NO_OFFSETS
    const remoteValues = isPull ? NO_VALUES : new Float32Array(this.scanRemoteFloats)
    let r = 0
    let rv = 0
    let at = 0
    let replica = 0
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      const table = this.scanTable >= 0 ? this.scanTable : this.tablesAt[i]
      const length = space.lengths[table]
      const offset = rows[i]
      if (offset >= 0) {
        if (state[key] === KeyState.Replica) replica++
        const values = node.store.slabs[table].values
        if (isPull) { for (let j = 0; j < length; j++) data[at + j] = values[offset + j] }
        else if (type === FrameType.Push) {
          for (let j = 0; j < length; j++) values[offset + j] += data[at + j]
        } else for (let j = 0; j < length; j++) values[offset + j] = data[at + j]
        if (!isPull) versions[key]++
      } else {
        remoteKeys[r] = key
        if (isPull) offsets[r] = at
        else {
          for (let j = 0; j < length; j++) remoteValues[rv + j] = data[at + j]
          rv += length
        }
        r++
      }
      at += length
    }
    const local = keys.length - remote
    if (isPull) node.stats.pullKeysLocal += local
    else node.stats.pushKeysLocal += local
    node.stats.replicaKeysLocal += replica
    const op = node.openOp(remote, isPull ? data : undefined)
    node.submit({ type, opId: op.id, keys: remoteKeys, a: offsets, values: remoteValues })
    return op.done
  }
}
