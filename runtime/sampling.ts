/**
 * Sampling: NuPS's `prepareSample` / `pullSample`, behind the worker API.
 *
 * Negative sampling reads keys drawn at random from a per-table distribution
 * (uniform, or one weight per key through an alias table), and random keys are
 * almost never local. A worker first prepares `n` samples, which gives roam a
 * chance to make them local ahead of use, and then pulls them, a batch at a
 * time, getting keys and values together. The scheme decides how far roam
 * may bend the samples towards keys that are local; each trades sample
 * quality against locality:
 *
 * - `conventional`: `n` independent draws from the table's distribution, made
 *   at prepare time and made local ahead of use (`placeAhead`): when the
 *   handle names the clocks it will be used in (`start`, `end`) and the policy
 *   places keys by intent (`adaptive` and its ablations), the draws become an
 *   intent for those clocks, so the scheduler brings them just before `start`
 *   and releases them after `end`; otherwise the keys not local are localized
 *   at once (under a policy that relocates). Exact, independent samples; the
 *   cost is one relocation (or replica) per non-local sample.
 * - `reuse`: draws come from a pool of `poolSize` independent draws, localized
 *   when the pool is filled; each pool entry is handed out `reuse` times
 *   (cycling through the pool in order) before the pool is refilled. Every
 *   sample still has exactly the requested distribution, but samples are no
 *   longer independent (the same key recurs `reuse` times, `poolSize` draws
 *   apart); relocations drop by a factor `reuse`.
 * - `local`: each sample is drawn, at pull time, by rejection: draws whose key
 *   is not local to this node right now are discarded and redrawn. No
 *   relocation, no remote access, but biased: the distribution is the
 *   requested one *conditioned on locality*, P(k | k local) = p(k) / P(local),
 *   and keys held elsewhere are never sampled. After `localDrawsMax` rejected
 *   draws in a row the last draw is used anyway (and pulled remotely), so
 *   sampling ends even when nothing is local; that adds a share of at most
 *   (1 − P(local))^localDrawsMax of draws from the non-local keys.
 * - `postpone`: like `conventional` (same draws, same placement), but
 *   each pull hands out the samples local at that moment first and the
 *   non-local ones last, giving their relocation the whole life of the handle
 *   to complete. The multiset of samples is exact; only their order is
 *   bent (a sample's position in the stream depends on its locality).
 *
 * The sampler uses only the worker's public methods (`tryPull`, `pull`,
 * `localize`, `intent`, `isLocal`, `clock`), so it does not depend on how the
 * node keeps its keys. Draws come from a `Prng` the worker seeds from its
 * node's `Random` service when it is made, so a run replays from the cluster
 * seed. A `reuse` pool outlives the handles that draw from it, so their
 * clocks do not describe its use: pools are localized when filled, whatever
 * the policy.
 */
import { assert } from "../actors/assert.ts"
import type { Table } from "../actors/key_space.ts"
import {
  invalidArgument,
  LimitExceeded,
  shown,
  UnknownSampleHandle,
  UnknownTable,
  valueLengthMismatch,
} from "./errors.ts"
import { checkKeys } from "./option_keys.ts"
import { Prng } from "./prng.ts"
import { checkScheme, type SamplingContext, type SamplingScheme } from "./sampling_context.ts"
import type { NodeStats } from "./stats.ts"
import type { Worker } from "./worker.ts"

/** Options of one `prepareSample` call. */
export interface PrepareSampleOptions {
  /** The table to sample from; may be left out when the cluster has one table. */
  readonly table?: string
  /**
   * The worker's clocks in which the samples will be used: from `start`
   * (default: the current clock) until `end` (exclusive; default `start + 1`).
   * Under an intent-driven policy, `conventional` and `postpone` samples are
   * then placed by an intent for these clocks instead of localized at once.
   */
  readonly start?: number
  readonly end?: number
  /** Overrides the cluster's scheme for this handle. */
  readonly scheme?: SamplingScheme
}

const prepareSampleKeys = ["table", "start", "end", "scheme"]

/** A batch of prepared samples; pass it to `pullSample` until `n` samples were pulled. */
export interface SampleHandle {
  readonly id: number
  readonly n: number
  readonly table: string
  readonly scheme: SamplingScheme
  readonly start: number | undefined
  readonly end: number | undefined
}

/** A prepared handle's state. `keys[0, drawn)` are decided; `keys[0, served)` handed out. */
interface Prepared {
  readonly handle: SampleHandle
  readonly table: Table
  readonly keys: Uint32Array
  drawn: number
  served: number
}

/** A `reuse` pool: independent draws, each handed out `reuse` times. */
interface Pool {
  readonly keys: Uint32Array
  cursor: number
  passes: number
}

/** The sampling state of one worker: its random stream, handles and pools. */
export class Sampler {
  private readonly random: Prng
  private readonly usesIntent: boolean
  private readonly prepared = new Map<number, Prepared>()
  private readonly pools: Array<Pool | undefined>
  private nextId = 1

  constructor(
    private readonly worker: Worker,
    private readonly context: SamplingContext,
    private readonly stats: NodeStats,
    options: {
      /** Does the policy place keys by intent (runtime/policy.ts)? */
      readonly usesIntent: boolean
      /** Of this worker's random stream. */
      readonly seed: number
    },
  ) {
    this.usesIntent = options.usesIntent
    this.random = new Prng(options.seed)
    this.pools = context.space.tables.map(() => undefined)
  }

  /** Decide (and localize) `n` samples; see `Worker.prepareSample`. */
  prepare(n: number, options: PrepareSampleOptions = {}): SampleHandle {
    const { keysMax, handlesMax } = this.context
    if (!Number.isInteger(n) || n < 1) {
      throw invalidArgument(`prepareSample: n must be a positive integer, got ${n}`)
    }
    if (n > keysMax) {
      throw new LimitExceeded({
        message: `prepareSample: n = ${n} exceeds config.sampleKeysMax = ${keysMax}`,
        limit: "sampleKeysMax",
        max: keysMax,
      })
    }
    if (typeof options !== "object" || options === null) {
      throw invalidArgument(
        "prepareSample: options must be an object { table?, start?, end?, scheme? }",
      )
    }
    checkKeys(options, prepareSampleKeys, {
      what: "option",
      context: "prepareSample",
      fail: invalidArgument,
    })
    const table = this.tableFor(options.table)
    const scheme = options.scheme ?? this.context.options.scheme
    checkScheme(scheme, (m) => invalidArgument(`prepareSample: ${m}`))
    const { start, end } = options
    checkClocks(start, end)
    if (this.prepared.size >= handlesMax) {
      throw new LimitExceeded({
        message: `prepareSample: ${handlesMax} handles are open (config.sampleHandlesMax); ` +
          "pull them to the end or call finishSample",
        limit: "sampleHandlesMax",
        max: handlesMax,
      })
    }
    const handle: SampleHandle = Object.freeze({
      id: this.nextId++,
      n,
      table: table.name,
      scheme,
      start,
      end,
    })
    const p: Prepared = { handle, table, keys: new Uint32Array(n), drawn: 0, served: 0 }
    if (scheme === "reuse") this.drawFromPool(p)
    else if (scheme !== "local") {
      this.drawIndependent(table, p.keys)
      this.placeAhead(p.keys, start, end)
    }
    if (scheme !== "local") p.drawn = n
    this.prepared.set(handle.id, p)
    return handle
  }

  /** Hand out up to `keysOut.length` samples with their values; see `Worker.pullSample`. */
  pull(handle: SampleHandle, keysOut: Uint32Array, valuesOut: Float32Array): Promise<number> {
    const p = this.lookup(handle, keysOut, valuesOut, "pullSample")
    const m = Math.min(keysOut.length, p.keys.length - p.served)
    if (p.handle.scheme === "postpone") this.localFirst(p, m)
    else if (p.handle.scheme === "local") this.drawLocal(p, p.served + m)
    const { keys, values } = this.serve(p, m, keysOut, valuesOut)
    return this.worker.pull(keys, values).then(() => m)
  }

  /**
   * Like `pull`, synchronously, when the samples to hand out are local: all
   * `min(keysOut.length, remaining)` of them, or under `postpone` the ones
   * local now (at least one). Returns -1, handing nothing out, otherwise.
   */
  tryPull(handle: SampleHandle, keysOut: Uint32Array, valuesOut: Float32Array): number {
    const p = this.lookup(handle, keysOut, valuesOut, "tryPullSample")
    let m = Math.min(keysOut.length, p.keys.length - p.served)
    if (p.handle.scheme === "postpone") m = this.localFirst(p, m)
    else if (p.handle.scheme === "local") this.drawLocal(p, p.served + m)
    if (m === 0 || this.countLocal(p.keys, p.served, p.served + m) < m) return -1
    const { keys, values } = this.serve(p, m, keysOut, valuesOut)
    const served = this.worker.tryPull(keys, values)
    assert(served, "tryPullSample: a key isLocal called local was not ready for tryPull")
    return m
  }

  /** Forget a handle before it is used up; later use of it is `UnknownSampleHandle`. */
  finish(handle: SampleHandle): void {
    this.find(handle, "finishSample")
    this.prepared.delete(handle.id)
  }

  /** Handles prepared and not yet used up or finished. */
  get openHandles(): number {
    return this.prepared.size
  }

  private tableFor(name: string | undefined): Table {
    const space = this.context.space
    if (name === undefined) {
      if (space.tables.length === 1) return space.tables[0]
      throw invalidArgument(
        `prepareSample: name the table to sample (tables: ${
          space.tables.map((t) => t.name).join(", ")
        })`,
      )
    }
    const table = space.table(name)
    if (table !== undefined) return table
    throw new UnknownTable({
      message: `no table '${name}' (tables: ${space.tables.map((t) => t.name).join(", ")})`,
      table: String(name),
    })
  }

  private find(handle: SampleHandle, what: string): Prepared {
    const p = typeof handle === "object" && handle !== null
      ? this.prepared.get(handle.id)
      : undefined
    // Identity, not just the id: another worker's handle may carry the same id.
    if (p === undefined || p.handle !== handle) {
      throw new UnknownSampleHandle({
        message: `${what}: not a sample handle of this worker, or already used up or finished`,
      })
    }
    return p
  }

  private lookup(
    handle: SampleHandle,
    keysOut: Uint32Array,
    valuesOut: Float32Array,
    what: string,
  ): Prepared {
    const p = this.find(handle, what)
    if (!(keysOut instanceof Uint32Array) || keysOut.length === 0) {
      throw invalidArgument(`${what}: keysOut must be a non-empty Uint32Array`)
    }
    if (!(valuesOut instanceof Float32Array)) {
      throw invalidArgument(`${what}: valuesOut must be a Float32Array`)
    }
    const floats = keysOut.length * p.table.length
    if (valuesOut.length !== floats) {
      throw valueLengthMismatch(`${what} valuesOut`, floats, valuesOut.length)
    }
    return p
  }

  /** Move `m` decided samples to the caller, count them, and retire a used-up handle. */
  private serve(p: Prepared, m: number, keysOut: Uint32Array, valuesOut: Float32Array) {
    const from = p.served
    keysOut.set(p.keys.subarray(from, from + m))
    this.stats.samplesPulled += m
    this.stats.samplesLocal += this.countLocal(p.keys, from, from + m)
    p.served += m
    if (p.served === p.keys.length) this.prepared.delete(p.handle.id)
    const keys = m === keysOut.length ? keysOut : keysOut.subarray(0, m)
    const floats = m * p.table.length
    const values = floats === valuesOut.length ? valuesOut : valuesOut.subarray(0, floats)
    return { keys, values }
  }

  private drawIndependent(table: Table, out: Uint32Array): void {
    const distribution = this.context.distributions[table.index]
    const random = this.random
    for (let i = 0; i < out.length; i++) out[i] = table.start + distribution.sample(random)
  }

  /** Take the handle's keys from the table's pool, refilling it after `reuse` passes. */
  private drawFromPool(p: Prepared): void {
    const { reuse, poolSize } = this.context.options
    let pool = this.pools[p.table.index]
    for (let i = 0; i < p.keys.length; i++) {
      if (pool === undefined || (pool.cursor === poolSize && pool.passes + 1 === reuse)) {
        pool = { keys: new Uint32Array(poolSize), cursor: 0, passes: 0 }
        this.pools[p.table.index] = pool
        this.drawIndependent(p.table, pool.keys)
        this.localizeMissing(pool.keys)
      } else if (pool.cursor === poolSize) {
        pool.cursor = 0
        pool.passes++
      }
      p.keys[i] = pool.keys[pool.cursor++]
    }
  }

  /** `local` scheme: decide samples up to index `upTo`, each by rejection among local keys. */
  private drawLocal(p: Prepared, upTo: number): void {
    const distribution = this.context.distributions[p.table.index]
    const { start } = p.table
    const { localDrawsMax } = this.context.options
    const random = this.random
    const worker = this.worker
    let rejected = 0
    for (let i = p.drawn; i < upTo; i++) {
      let key = start + distribution.sample(random)
      for (let tries = 1; tries < localDrawsMax && !worker.isLocal(key); tries++) {
        rejected++
        key = start + distribution.sample(random)
      }
      p.keys[i] = key
    }
    if (upTo > p.drawn) p.drawn = upTo
    this.stats.sampleDrawsRejected += rejected
  }

  /**
   * `postpone` scheme: swap up to `m` samples that are local now to the front
   * of the remaining ones; returns how many it found. When it finds fewer
   * than `m`, every remaining sample behind them is non-local.
   */
  private localFirst(p: Prepared, m: number): number {
    const keys = p.keys
    let found = 0
    for (let i = p.served; i < keys.length && found < m; i++) {
      const key = keys[i]
      if (!this.worker.isLocal(key)) continue
      const to = p.served + found
      keys[i] = keys[to]
      keys[to] = key
      found++
    }
    return found
  }

  private countLocal(keys: Uint32Array, from: number, to: number): number {
    let local = 0
    for (let i = from; i < to; i++) if (this.worker.isLocal(keys[i])) local++
    return local
  }

  /**
   * Make decided samples local ahead of use: by an intent for the clocks
   * `[start, end)` when the handle names them, the policy places by intent
   * and they are not over; by localizing them now otherwise.
   */
  private placeAhead(keys: Uint32Array, start: number | undefined, end: number | undefined): void {
    const clock = this.worker.clock
    const timed = start !== undefined || end !== undefined
    const over = end !== undefined && end <= clock
    if (!this.usesIntent || !timed || over) return this.localizeMissing(keys)
    const from = Math.max(start ?? clock, clock)
    this.worker.intent(keys, from, end !== undefined && end > from ? end : from + 1)
  }

  /** Localize the keys that are not local (a no-op under a policy that does not relocate). */
  private localizeMissing(keys: Uint32Array): void {
    const missing = keys.length - this.countLocal(keys, 0, keys.length)
    if (missing === 0) return
    const ask = new Uint32Array(missing)
    let at = 0
    for (let i = 0; i < keys.length; i++) if (!this.worker.isLocal(keys[i])) ask[at++] = keys[i]
    // Ahead-of-use and best effort: a pull of a key still moving waits for it at
    // the node, and a localize fails only when the cluster closes.
    this.worker.localize(ask).catch(() => {})
  }
}

function checkClocks(start: number | undefined, end: number | undefined): void {
  for (const [name, clock] of [["start", start], ["end", end]] as const) {
    if (clock !== undefined && (!Number.isInteger(clock) || clock < 0)) {
      throw invalidArgument(
        `prepareSample: ${name} must be a clock (an integer ≥ 0), got ${shown(clock)}`,
      )
    }
  }
  // As for intent: [start, end) names at least one clock.
  if (start !== undefined && end !== undefined && end <= start) {
    throw invalidArgument(`prepareSample: end (${end}) must be after start (${start})`)
  }
}
