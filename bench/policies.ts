/**
 * Policy benchmark: the placement policies side by side on one skewed task.
 *
 * DESIGN.md §1 is a claim about skew: relocation alone (Lapse) makes hot keys
 * bounce between nodes, replicating a hot set (NuPS) keeps them local, and
 * replicating everything costs sync traffic for keys nobody shares. This
 * benchmark measures that claim on a synthetic workload with the papers' skew:
 * 4 in-process nodes with 2 workers each over 100,000 keys of 16 floats, whose
 * popularity is Zipf(1.1) (one ranking shared by all workers, so they agree on
 * what is hot). Each worker runs a fixed number of steps; a step draws a batch
 * of keys, pulls it (`tryPull`, else `await pull`) and pushes small integer
 * deltas. Per policy it reports, as DESIGN.md §10 asks, the
 * hardware-independent counts (share of accesses served locally, frames and
 * bytes per 1M key accesses, sync rounds) and the wall time, with its ratio to
 * `static` (the classic parameter server) measured in the same process run.
 * The machine is noisy, so every policy runs in each of several repetitions,
 * in forward order on even repetitions and backward on odd ones, and the
 * medians are printed. Every run ends with `waitSync()` on every worker and an
 * exactness check: every value on every node that holds the key must equal
 * its initial value plus the sum of the deltas pushed to it. A benchmark of a
 * parameter manager that loses an update measures nothing, so it throws.
 *
 * Read the wall times with the transport in mind: the 4 nodes share one
 * thread and the memory transport adds no latency, so a remote access costs
 * only the CPU to encode, route and apply it, and wall time is the protocol's
 * CPU cost (relocation hand-overs, sync rounds), not network waits. That
 * flatters `static`, whose 75% remote accesses would each wait on a network;
 * the counts are what carries over to a real cluster.
 *
 * How a worker tells roam what it will need is part of each setup (`Signal`):
 * nothing (`static`, `full-replication`), Lapse's `localize` a few batches
 * ahead (latency hiding), or — for the coming `adaptive`, `replication-only`
 * and `relocation-only` policies — AdaPM's `intent` plus `advanceClock`.
 *
 *   deno run -A bench/policies.ts [--json FILE] [--quick]
 *   bun bench/policies.ts [--json FILE] [--quick]
 */
import { mkdir, writeFile } from "node:fs/promises"
import { dirname } from "node:path"
import process from "node:process"
import { setImmediate } from "node:timers"
import { parseArgs } from "node:util"
import { Cluster, type ClusterStats, type PolicyOption, type Worker } from "../mod.ts"
import { median, random, zipfMass, zipfRanking, zipfSampler } from "./_harness.ts"

// Bun's global is not in Deno's type library; Deno's is.
declare const Bun: { readonly version: string } | undefined

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: { json: { type: "string" }, quick: { type: "boolean", default: false } },
})
const quick = flags.quick === true

const NODES = 4
const WORKERS_PER_NODE = 2
const KEYS = 100_000
const LENGTH = 16
const BATCH_KEYS = 500
const STEPS = quick ? 60 : 400
/** Timed repetitions of every setup (odd, for a median), after one untimed warm-up pass. */
const REPETITIONS = quick ? 3 : 5
/** Delta arrays per worker, used in turn (all small integers, so sums are exact in f32). */
const DELTA_SETS = 4
/** Sizes of the hot set `nups` replicates: the top-k keys of the Zipf ranking. */
const HOT_SIZES = [100, 1_000, 10_000] as const
/** Batches ahead that a worker localizes (or will signal intent for). */
const AHEAD = 2
const SEED = 20_251_124

// ------------------------------------------------------------------ setups

/**
 * How a worker loop signals its future keys. `localize`: at step s it calls
 * `localize` on batch s + ahead and awaits that promise just before using the
 * batch (latency hiding, as Lapse does). `intent`: at step s it calls
 * `worker.intent(batch s + ahead, clock + ahead, clock + ahead + 1)` and after
 * the step `advanceClock()`; the policy decides what to move or replicate.
 */
type Signal =
  | { readonly kind: "none" }
  | { readonly kind: "localize"; readonly ahead: number }
  | { readonly kind: "intent"; readonly ahead: number }

/** One column of the table: a policy, and how the task signals under it. */
interface Setup {
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
 * `AHEAD` clocks before use.
 */
function setups(ranking: Uint32Array): Setup[] {
  const localize: Signal = { kind: "localize", ahead: AHEAD }
  const intent: Signal = { kind: "intent", ahead: AHEAD }
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
interface Workload {
  /** batches[w][s]: the keys of worker w's step s. */
  readonly batches: readonly (readonly Uint32Array[])[]
  /** deltas[w][s % DELTA_SETS]: the deltas worker w pushes at step s. */
  readonly deltas: readonly (readonly Float32Array[])[]
  /** Every key's value after every push: init plus the sum of its deltas (exact). */
  readonly expected: Float64Array
  readonly ranking: Uint32Array
}

function makeWorkload(): Workload {
  const workers = NODES * WORKERS_PER_NODE
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
    const mine = Array.from({ length: STEPS }, (_, s) => {
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
  return { batches, deltas, expected, ranking }
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

/** One worker's steps under `signal`: signal ahead, pull, push, yield. */
async function runWorker(
  worker: Worker,
  batches: readonly Uint32Array[],
  deltas: readonly Float32Array[],
  signal: Signal,
): Promise<void> {
  const out = new Float32Array(BATCH_KEYS * LENGTH)
  const ahead = signal.kind === "none" ? 0 : signal.ahead
  const localized: (Promise<void> | undefined)[] = []
  const intents = signal.kind === "intent" ? worker : undefined
  // Step s runs at clock `clock0 + s`: advanceClock is called once per step.
  const clock0 = worker.clock
  const announce = (s: number) => {
    if (s >= batches.length) return
    if (signal.kind === "localize") {
      const done = worker.localize(batches[s])
      done.catch(() => {}) // awaited at step s; never an unhandled rejection before that
      localized[s] = done
    } else if (intents) {
      intents.intent(batches[s], clock0 + s, clock0 + s + 1)
    }
  }
  for (let s = 0; s < ahead; s++) announce(s)
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
    if (intents) worker.advanceClock()
    await yieldToEventLoop()
  }
}

/** What one run of one setup measured (counts over the timed phase only). */
interface RunResult {
  setupMs: number
  wallMs: number
  accesses: number
  localShare: number
  frames: number
  bytes: number
  syncRounds: number
  relocations: number
}

const field = (a: ClusterStats, b: ClusterStats, f: keyof ClusterStats["total"]) =>
  b.total[f] - a.total[f]

async function runSetup(setup: Setup, load: Workload): Promise<RunResult> {
  const t0 = performance.now()
  const cluster = await Cluster.local({
    nodes: NODES,
    tables: [{ name: "t", keys: KEYS, length: LENGTH, init: fillValue }],
    policy: setup.policy,
    seed: SEED,
  })
  try {
    const workers: Worker[] = []
    for (let n = 0; n < NODES; n++) {
      for (let k = 0; k < WORKERS_PER_NODE; k++) workers.push(cluster.node(n).worker())
    }
    // Replicas are requested at start and not awaited by Cluster.local; a pull
    // of them waits until they have arrived, so timing starts with them in place.
    const replicated = replicatedKeys(setup)
    if (replicated.length > 0) {
      await Promise.all(
        workers.filter((w) => w.index === 0).map((w) => w.pull(replicated)),
      )
    }
    const before = cluster.stats()
    const t1 = performance.now()
    await Promise.all(
      workers.map((w, i) => runWorker(w, load.batches[i], load.deltas[i], setup.signal)),
    )
    await Promise.all(workers.map((w) => w.waitSync()))
    const t2 = performance.now()
    const after = cluster.stats()
    checkExact(setup, workers, load.expected)
    const local = field(before, after, "pullKeysLocal") + field(before, after, "pushKeysLocal")
    const remote = field(before, after, "pullKeysRemote") + field(before, after, "pushKeysRemote")
    return {
      setupMs: t1 - t0,
      wallMs: t2 - t1,
      accesses: local + remote,
      localShare: local / (local + remote),
      frames: field(before, after, "framesSent"),
      bytes: field(before, after, "bytesSent"),
      syncRounds: field(before, after, "syncRounds"),
      relocations: field(before, after, "relocationsIn"),
    }
  } finally {
    await cluster.close()
  }
}

/**
 * After `waitSync` on every worker: every key is held by some node, and its
 * value on every node holding it (owner or replica) is init + the sum of the
 * deltas pushed to it, exactly. Read through each node's first worker with
 * `tryPull`, which succeeds only for keys local and ready there.
 */
function checkExact(setup: Setup, workers: readonly Worker[], expected: Float64Array): void {
  const holders = new Uint8Array(KEYS)
  let wrong = 0
  let example = ""
  for (let n = 0; n < NODES; n++) {
    const worker = workers.find((w) => w.nodeId === n)!
    const keys: number[] = []
    for (let key = 0; key < KEYS; key++) if (worker.isLocal(key)) keys.push(key)
    const out = new Float32Array(keys.length * LENGTH)
    if (!worker.tryPull(keys, out)) throw new Error(`policies: node ${n} lost a local key`)
    keys.forEach((key, i) => {
      holders[key]++
      for (let j = 0; j < LENGTH; j++) {
        if (out[i * LENGTH + j] === expected[key * LENGTH + j]) continue
        if (wrong++ === 0) {
          example = `node ${n} key ${key}[${j}] = ${out[i * LENGTH + j]}, ` +
            `expected ${expected[key * LENGTH + j]}`
        }
      }
    })
  }
  const orphans = holders.reduce((sum, h) => sum + (h === 0 ? 1 : 0), 0)
  if (wrong > 0 || orphans > 0) {
    throw new Error(
      `policies: ${setup.label} is not exact after waitSync: ${wrong} wrong floats ` +
        `(first: ${example || "none"}), ${orphans} keys held by no node`,
    )
  }
}

// ------------------------------------------------------------------ report

/** Medians over the repetitions, and the median per-repetition ratio to static. */
interface Row {
  label: string
  localShare: number
  framesPerMillion: number
  bytesPerMillion: number
  syncRounds: number
  relocations: number
  setupMs: number
  wallMs: number
  accessesPerSecond: number
  wallVsStatic: number
  wallVsStaticMin: number
  wallVsStaticMax: number
}

function summarize(label: string, runs: readonly RunResult[], statics: readonly RunResult[]): Row {
  const m = (f: (r: RunResult) => number) => median(runs.map(f))
  const ratios = runs.map((r, i) => r.wallMs / statics[i].wallMs)
  return {
    label,
    localShare: m((r) => r.localShare),
    framesPerMillion: m((r) => r.frames / r.accesses * 1e6),
    bytesPerMillion: m((r) => r.bytes / r.accesses * 1e6),
    syncRounds: m((r) => r.syncRounds),
    relocations: m((r) => r.relocations),
    setupMs: m((r) => r.setupMs),
    wallMs: m((r) => r.wallMs),
    accessesPerSecond: m((r) => r.accesses / (r.wallMs / 1000)),
    wallVsStatic: median(ratios),
    wallVsStaticMin: Math.min(...ratios),
    wallVsStaticMax: Math.max(...ratios),
  }
}

function runtimeInfo(): { runtime: "deno" | "bun"; version: string } {
  if (typeof Bun !== "undefined") return { runtime: "bun", version: Bun.version }
  if (typeof Deno !== "undefined") return { runtime: "deno", version: Deno.version.deno }
  throw new Error("policies: run under Deno or Bun")
}

const fmt = (x: number, digits = 1) => x.toFixed(digits)
const pad = (s: string | number, n: number) => String(s).padStart(n)

function printRows(rows: readonly Row[]): void {
  console.log(
    `${"policy".padEnd(17)} ${pad("local", 6)} ${pad("frames/1M", 10)} ${pad("MB/1M", 8)} ` +
      `${pad("sync rds", 9)} ${pad("relocs", 7)} ${pad("setup ms", 9)} ${pad("wall ms", 8)} ` +
      `${pad("Macc/s", 7)} ${pad("wall/static", 12)} ${pad("(min–max)", 11)}`,
  )
  for (const r of rows) {
    console.log(
      `${r.label.padEnd(17)} ${pad(fmt(r.localShare * 100) + "%", 6)} ` +
        `${pad(fmt(r.framesPerMillion, 0), 10)} ${pad(fmt(r.bytesPerMillion / 1e6), 8)} ` +
        `${pad(fmt(r.syncRounds, 0), 9)} ${pad(fmt(r.relocations, 0), 7)} ` +
        `${pad(fmt(r.setupMs, 0), 9)} ${pad(fmt(r.wallMs, 0), 8)} ` +
        `${pad(fmt(r.accessesPerSecond / 1e6, 2), 7)} ${pad(fmt(r.wallVsStatic, 2), 12)} ` +
        `${pad(`${fmt(r.wallVsStaticMin, 2)}–${fmt(r.wallVsStaticMax, 2)}`, 11)}`,
    )
  }
}

async function main(): Promise<void> {
  const { runtime, version } = runtimeInfo()
  const started = performance.now()
  const workers = NODES * WORKERS_PER_NODE
  console.log(
    `roam policies: ${runtime} ${version}${quick ? " (--quick)" : ""}; ${NODES} nodes × ` +
      `${WORKERS_PER_NODE} workers, ${KEYS} keys × ${LENGTH} floats, Zipf(1.1); ` +
      `${STEPS} steps of ${BATCH_KEYS} keys (pull + push) per worker; ` +
      `${REPETITIONS} repetitions, order alternating.`,
  )
  const load = makeWorkload()
  const all = setups(load.ranking)
  const runs = all.map((): RunResult[] => [])
  // A warm-up pass, so that no setup is timed while the JIT still compiles the code it shares.
  for (const setup of all) await runSetup(setup, load)
  for (let r = 0; r < REPETITIONS; r++) {
    for (let s = 0; s < all.length; s++) {
      const i = r % 2 === 0 ? s : all.length - 1 - s
      runs[i].push(await runSetup(all[i], load))
    }
  }
  const rows = all.map((setup, i) => summarize(setup.label, runs[i], runs[0]))
  console.log(
    `hot share of accesses: ${
      HOT_SIZES.map((k) => `top ${k} ${fmt(zipfMass(KEYS, k) * 100)}%`).join(", ")
    }; ${workers * STEPS * BATCH_KEYS * 2} key accesses per run, all exact after waitSync.\n`,
  )
  printRows(rows)
  console.log(
    "\nlocal: accesses served by this node's store (owned or replica); frames and MB per 1M " +
      "key accesses; sync rds: sync rounds started (all nodes); relocs: keys moved; setup: " +
      "cluster start and initial replicas (not in wall); wall: steps + waitSync. Medians.\n" +
      "In-process, zero-latency transport: wall time is the protocol's CPU cost, not network waits.",
  )
  console.log(`${fmt((performance.now() - started) / 1000)} s in all.`)
  if (flags.json !== undefined) {
    const report = {
      runtime,
      version,
      quick,
      workload: {
        nodes: NODES,
        workersPerNode: WORKERS_PER_NODE,
        keys: KEYS,
        length: LENGTH,
        zipf: 1.1,
        steps: STEPS,
        batchKeys: BATCH_KEYS,
        repetitions: REPETITIONS,
        ahead: AHEAD,
        seed: SEED,
      },
      setups: all.map((s) => ({ label: s.label, signal: s.signal })),
      rows,
      runs: all.map((s, i) => ({ label: s.label, runs: runs[i] })),
    }
    await mkdir(dirname(flags.json), { recursive: true })
    await writeFile(flags.json, JSON.stringify(report, null, 2) + "\n")
    console.log(`wrote ${flags.json}`)
  }
}

await main()
