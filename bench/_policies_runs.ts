/**
 * One run of one setup of the policies benchmark (`policies.ts`), on the
 * nodes this process holds: the setups, the seeded workload, the worker
 * loop, the timed section and the exactness check.
 *
 * The same code runs in both modes, because it starts its cluster with
 * `Cluster.start`: in the benchmark's own process that is `Cluster.local`
 * (every node here), and in a process the launcher started it joins a
 * multi-process cluster as one node (`main`, run through `_train_child.ts`).
 * Workers are numbered across the cluster, as the examples number them: the
 * worker of global index `node id × WORKERS_PER_NODE + k` runs batches and
 * deltas number that index of one seeded workload, which every process
 * builds whole, so that each can check the exact sums of the pushes of every
 * worker of the cluster. The timed section runs from a barrier, once the
 * initial placement is done (nups' replicas, the first batches a worker
 * signals: `placeFirst`), to a barrier after `waitSync`, so every
 * process times the same span of the cluster's work; the runner takes the
 * slowest (`_policies_results.ts`).
 */
import { writeFileSync } from "node:fs"
import { setImmediate } from "node:timers"
import { parseArgs } from "node:util"
import { Cluster, type ClusterStats, type PolicyOption, type Worker } from "../mod.ts"
import { random, zipfRanking, zipfSampler } from "./_harness.ts"
import { addKey, encodeKeySet, newKeySet, type NodeResult } from "./_policies_results.ts"
import { nodeJsonPath } from "./_processes.ts"

export const WORKERS_PER_NODE = 2
export const KEYS = 100_000
export const LENGTH = 16
export const BATCH_KEYS = 500
/** Steps per worker: `--quick`, and by default. */
export const STEPS = { quick: 60, full: 400 } as const
/** Delta arrays per worker, used in turn (all small integers, so sums are exact in f32). */
const DELTA_SETS = 4
/** Sizes of the hot set `nups` replicates: the top-k keys of the Zipf ranking. */
export const HOT_SIZES = [100, 1_000, 10_000] as const
/** Batches ahead that a worker localizes (or will signal intent for), unless `--ahead` says. */
export const AHEAD = 2
export const SEED = 20_251_124

// ------------------------------------------------------------------ setups

/**
 * How a worker loop signals its future keys. `localize`: at step s it calls
 * `localize` on batch s + ahead and awaits that promise just before using the
 * batch (latency hiding, as Lapse does). `intent`: at step s it calls
 * `worker.intent(batch s + ahead, clock + ahead, clock + ahead + 1)` and after
 * the step `advanceClock()`; the policy decides what to move or replicate.
 */
export type Signal =
  | { readonly kind: "none" }
  | { readonly kind: "localize"; readonly ahead: number }
  | { readonly kind: "intent"; readonly ahead: number }

/** One column of the table: a policy, and how the task signals under it. */
export interface Setup {
  readonly label: string
  readonly policy: PolicyOption
  readonly signal: Signal
}

/** The hottest `k` keys of the workload, as `nups` is told them. */
const hotKeys = (ranking: Uint32Array, k: number): number[] => Array.from(ranking.subarray(0, k))

/**
 * The setups, baseline first: the hand-placed ones (lapse and nups localize
 * ahead, nups with hot sets of several sizes), then the intent-driven ones
 * (adaptive, untuned, and its two ablations), which signal each batch's keys
 * `ahead` clocks before use. Every setup sees the same `ahead`: it is the
 * workload's (how far its loader sees), not a policy's setting.
 */
export function setups(ranking: Uint32Array, ahead = AHEAD): Setup[] {
  const localize: Signal = { kind: "localize", ahead }
  const intent: Signal = { kind: "intent", ahead }
  return [
    { label: "static", policy: "static", signal: { kind: "none" } },
    { label: "lapse", policy: "lapse", signal: localize },
    ...HOT_SIZES.map((k): Setup => ({
      label: `nups hot=${k}`,
      policy: { name: "nups", hot: hotKeys(ranking, k) },
      signal: localize,
    })),
    { label: "full-replication", policy: "full-replication", signal: { kind: "none" } },
    { label: "adaptive", policy: "adaptive", signal: intent },
    { label: "replication-only", policy: "replication-only", signal: intent },
    { label: "relocation-only", policy: "relocation-only", signal: intent },
  ]
}

/** The keys a setup replicates from the start; a run waits for them before timing. */
function replicatedKeys(setup: Setup): readonly number[] {
  const policy = setup.policy
  if (policy === "full-replication") return Array.from({ length: KEYS }, (_, key) => key)
  if (typeof policy === "object" && policy.name === "nups" && Array.isArray(policy.hot)) {
    return policy.hot
  }
  return []
}

// ------------------------------------------------------------------ workload

/** Initial value: small integers, so that init + the sum of integer deltas is exact. */
function fillValue(key: number, value: Float32Array): void {
  for (let j = 0; j < value.length; j++) value[j] = (key * 7 + j) % 1000
}

/** What every run of every setup works on: the same batches, deltas and expected sums. */
export interface Workload {
  readonly nodes: number
  readonly steps: number
  /** batches[w][s]: the keys of worker w's step s (w the global worker index). */
  readonly batches: readonly (readonly Uint32Array[])[]
  /** deltas[w][s % DELTA_SETS]: the deltas worker w pushes at step s. */
  readonly deltas: readonly (readonly Float32Array[])[]
  /** Every key's value after all workers' pushes: init plus the sum of its deltas (exact). */
  readonly expected: Float64Array
  readonly ranking: Uint32Array
}

/**
 * The workload of `nodes × WORKERS_PER_NODE` workers of `steps` steps each.
 * Seeded, so every process of a cluster builds the same.
 */
export function makeWorkload(nodes: number, steps: number): Workload {
  const workers = nodes * WORKERS_PER_NODE
  const ranking = zipfRanking(KEYS, random(SEED))
  const expected = new Float64Array(KEYS * LENGTH)
  const init = new Float32Array(LENGTH)
  for (let key = 0; key < KEYS; key++) {
    fillValue(key, init)
    expected.set(init, key * LENGTH)
  }
  const batches: Uint32Array[][] = []
  const deltas: Float32Array[][] = []
  for (let w = 0; w < workers; w++) {
    const rand = random(SEED + 1 + w)
    const draw = zipfSampler(KEYS, rand, ranking)
    const sets = Array.from(
      { length: DELTA_SETS },
      () => Float32Array.from({ length: BATCH_KEYS * LENGTH }, () => Math.floor(rand() * 7) - 3),
    )
    const mine = Array.from({ length: steps }, (_, s) => {
      const batch = new Uint32Array(BATCH_KEYS)
      const d = sets[s % DELTA_SETS]
      for (let i = 0; i < BATCH_KEYS; i++) {
        const key = batch[i] = draw()
        for (let j = 0; j < LENGTH; j++) expected[key * LENGTH + j] += d[i * LENGTH + j]
      }
      return batch
    })
    batches.push(mine)
    deltas.push(sets)
  }
  return { nodes, steps, batches, deltas, expected, ranking }
}

// ------------------------------------------------------------------ one run

/**
 * Let the node's control plane run: the memory transport delivers frames and
 * the sync rounds run in macrotasks, and a step whose keys are all local never
 * awaits anything. A training step that awaits its data loader yields like
 * this; without it, under `full-replication` every worker would run all its
 * steps in one go and the replicas would sync only at the end.
 */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * Signal `batch`, which runs at `clock`, as `signal` says: localize it
 * (returning the promise to await before using it) or signal its intent.
 */
function signalBatch(
  worker: Worker,
  batch: Uint32Array,
  clock: number,
  signal: Signal,
): Promise<void> | undefined {
  if (signal.kind === "localize") return worker.localize(batch)
  if (signal.kind === "intent") worker.intent(batch, clock, clock + 1)
  return undefined
}

/**
 * Before timing, signal the first `ahead` batches and wait until their keys
 * are in place: the setup's initial placement, as `nups` has its hot set
 * replicated before the clock starts. Otherwise the timed section of a
 * signalling setup would open with `ahead` steps whose keys were asked for
 * just before use. For intents, a pull of the batch waits for the keys still
 * on their way.
 */
async function placeFirst(
  worker: Worker,
  batches: readonly Uint32Array[],
  signal: Signal,
): Promise<void> {
  if (signal.kind === "none") return
  const first = batches.slice(0, signal.ahead)
  const clock0 = worker.clock
  await Promise.all(first.map((batch, s) => signalBatch(worker, batch, clock0 + s, signal)))
  if (signal.kind !== "intent") return
  const out = new Float32Array(BATCH_KEYS * LENGTH)
  for (const batch of first) await worker.pull(batch, out)
}

/**
 * One worker's steps under `signal`, the first `ahead` batches already
 * signalled (`placeFirst`): signal ahead, pull, push, yield.
 */
async function runWorker(
  worker: Worker,
  batches: readonly Uint32Array[],
  deltas: readonly Float32Array[],
  signal: Signal,
): Promise<void> {
  const out = new Float32Array(BATCH_KEYS * LENGTH)
  const ahead = signal.kind === "none" ? 0 : signal.ahead
  const localized: (Promise<void> | undefined)[] = []
  // Step s runs at clock `clock0 + s`: advanceClock is called once per step.
  const clock0 = worker.clock
  const announce = (s: number) => {
    if (s >= batches.length) return
    const done = signalBatch(worker, batches[s], clock0 + s, signal)
    done?.catch(() => {}) // awaited at step s; never an unhandled rejection before that
    localized[s] = done
  }
  for (let s = 0; s < batches.length; s++) {
    announce(s + ahead)
    const pending = localized[s]
    if (pending !== undefined) {
      localized[s] = undefined
      await pending
    }
    const keys = batches[s]
    if (!worker.tryPull(keys, out)) await worker.pull(keys, out)
    worker.push(keys, deltas[s % deltas.length])
    if (signal.kind === "intent") worker.advanceClock()
    await yieldToEventLoop()
  }
}

const field = (a: ClusterStats, b: ClusterStats, f: keyof ClusterStats["total"]) =>
  b.total[f] - a.total[f]

/** Run `setup` on the nodes of this process (all of them, or the launcher's one). */
export async function runSetup(setup: Setup, load: Workload): Promise<NodeResult> {
  const t0 = performance.now()
  const cluster = await Cluster.start({
    nodes: load.nodes,
    tables: [{ name: "t", keys: KEYS, length: LENGTH, init: fillValue }],
    policy: setup.policy,
    seed: SEED,
  })
  try {
    if (cluster.nodes !== load.nodes) {
      throw new Error(`policies: a cluster of ${cluster.nodes} nodes, workload of ${load.nodes}`)
    }
    const workers = cluster.localNodes.flatMap((node) =>
      Array.from({ length: WORKERS_PER_NODE }, (_, k) => ({
        worker: node.worker(),
        index: node.id * WORKERS_PER_NODE + k,
      }))
    )
    const meet = () => Promise.all(workers.map(({ worker }) => worker.barrier()))
    // Replicas are requested at start and not awaited by the cluster; a pull
    // of them waits until they have arrived, so timing starts with them in place.
    const replicated = replicatedKeys(setup)
    if (replicated.length > 0) {
      const firsts = workers.filter(({ worker }) => worker.index === 0)
      await Promise.all(firsts.map(({ worker }) => worker.pull(replicated)))
    }
    await Promise.all(
      workers.map(({ worker, index }) => placeFirst(worker, load.batches[index], setup.signal)),
    )
    await meet()
    const before = cluster.stats()
    const t1 = performance.now()
    await Promise.all(
      workers.map(({ worker, index }) =>
        runWorker(worker, load.batches[index], load.deltas[index], setup.signal)
      ),
    )
    await Promise.all(workers.map(({ worker }) => worker.waitSync()))
    await meet()
    const t2 = performance.now()
    const after = cluster.stats()
    const check = checkExact(workers.map(({ worker }) => worker), load.expected)
    // Meet once more before closing: no node leaves while another still checks.
    await meet()
    return {
      nodeIds: cluster.localNodes.map((node) => node.id),
      setupMs: t1 - t0,
      wallMs: t2 - t1,
      localAccesses: field(before, after, "pullKeysLocal") + field(before, after, "pushKeysLocal"),
      remoteAccesses: field(before, after, "pullKeysRemote") +
        field(before, after, "pushKeysRemote"),
      frames: field(before, after, "framesSent"),
      bytes: field(before, after, "bytesSent"),
      syncRounds: field(before, after, "syncRounds"),
      relocations: field(before, after, "relocationsIn"),
      ...check,
    }
  } finally {
    await cluster.close()
  }
}

/**
 * After `waitSync` of every worker of the cluster: the value of every key on
 * every node of this process that holds it (owner or replica) must be init +
 * the sum of the deltas every worker pushed to it, exactly. Read through
 * each node's first worker with `tryPull`, which succeeds only for keys local
 * and ready there. Which keys are held is reported, so that the runner can
 * check every key is held by some node of the cluster.
 */
function checkExact(
  workers: readonly Worker[],
  expected: Float64Array,
): Pick<NodeResult, "wrongFloats" | "firstWrong" | "held"> {
  const held = newKeySet(KEYS)
  let wrongFloats = 0
  let firstWrong = ""
  for (const worker of workers.filter((w) => w.index === 0)) {
    const n = worker.nodeId
    const keys: number[] = []
    for (let key = 0; key < KEYS; key++) if (worker.isLocal(key)) keys.push(key)
    const out = new Float32Array(keys.length * LENGTH)
    if (!worker.tryPull(keys, out)) throw new Error(`policies: node ${n} lost a local key`)
    keys.forEach((key, i) => {
      addKey(held, key)
      for (let j = 0; j < LENGTH; j++) {
        if (out[i * LENGTH + j] === expected[key * LENGTH + j]) continue
        if (wrongFloats++ === 0) {
          firstWrong = `node ${n} key ${key}[${j}] = ${out[i * LENGTH + j]}, ` +
            `expected ${expected[key * LENGTH + j]}`
        }
      }
    })
  }
  return { wrongFloats, firstWrong, held: encodeKeySet(held) }
}

// ------------------------------------------------------------------ one node's process

/**
 * The entry of one node's process in process mode, run by `_train_child.ts`
 * under the launcher: `--setup LABEL --nodes N --steps S --ahead A --json FILE`. It
 * builds the whole workload, runs its node's share and writes its
 * `NodeResult` (to FILE with `{node}` as its node id); the runner combines the nodes.
 */
export async function main(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      setup: { type: "string" },
      nodes: { type: "string" },
      steps: { type: "string" },
      ahead: { type: "string", default: String(AHEAD) },
      json: { type: "string" },
    },
  })
  const nodes = Number(values.nodes)
  const steps = Number(values.steps)
  const ahead = Number(values.ahead)
  if (
    !Number.isInteger(nodes) || !Number.isInteger(steps) || !Number.isInteger(ahead) ||
    values.json === undefined
  ) {
    throw new Error(
      "usage: _policies_runs.ts --setup LABEL --nodes N --steps S --ahead A --json FILE",
    )
  }
  const load = makeWorkload(nodes, steps)
  const setup = setups(load.ranking, ahead).find((s) => s.label === values.setup)
  if (setup === undefined) throw new Error(`policies: no setup '${values.setup}'`)
  const result = await runSetup(setup, load)
  writeFileSync(nodeJsonPath(values.json), JSON.stringify(result) + "\n")
}
