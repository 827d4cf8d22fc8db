/**
 * Policy benchmark: the placement policies side by side on one skewed task.
 *
 * DESIGN.md §1 is a claim about skew: relocation alone (Lapse) makes hot keys
 * bounce between nodes, replicating a hot set (NuPS) keeps them local, and
 * replicating everything costs sync traffic for keys nobody shares. This
 * benchmark measures that claim on a synthetic workload with the papers' skew:
 * 4 nodes (`--nodes`) with 2 workers each over 100,000 keys of 16 floats,
 * whose popularity is Zipf(1.1) (one ranking shared by all workers, so they
 * agree on what is hot). Each worker runs a fixed number of steps; a step
 * draws a batch of keys, pulls it (`tryPull`, else `await pull`) and pushes
 * small integer deltas (`_policies_runs.ts`). Per policy it reports, as
 * DESIGN.md §10 asks, the hardware-independent counts (share of accesses
 * served locally, frames and bytes per 1M key accesses, sync rounds) and the
 * wall time, with its ratio to `static` (the classic parameter server)
 * measured in the same benchmark run. The machine is noisy, so every policy
 * runs in each of several repetitions, in forward order on even repetitions
 * and backward on odd ones, and the medians are printed. Every run ends with
 * `waitSync()` on every worker and an exactness check: every value on every
 * node that holds the key must equal its initial value plus the sum of the
 * deltas every worker pushed to it. A benchmark of a parameter manager that
 * loses an update measures nothing, so such a run fails loudly.
 *
 * Two modes measure two different things (`--mode`, both side by side with
 * `both`). `local` runs every node in this process over the memory
 * transport. The nodes share one thread and the transport adds no latency,
 * so a remote access costs only the CPU to encode, route and apply it: wall
 * time is the protocol's CPU cost (relocation hand-overs, sync rounds), not
 * network waits. That flatters `static`, whose remote accesses (75% on 4
 * nodes) would each wait on a network, and in this mode `static` is the
 * fastest. `process` runs every setup as a real cluster, one node per
 * process over WebSockets on loopback, started by the launcher
 * (`runtime/launch.ts`) in fresh processes with a timeout for each run
 * (`_processes.ts`), so that a remote access pays a real round trip and the
 * nodes run in parallel on the machine's cores. Each process times the same
 * section, from a barrier once the initial placement is done (nups' hot
 * set replicated; the first `ahead` batches localized, or their intents
 * signalled and their keys arrived) to a barrier after `waitSync`, and the run's wall time is the slowest
 * process's; counts are summed over processes, and each process checks the
 * exact sums on its node (it builds the whole seeded workload, so it knows
 * every worker's pushes). A run that hangs or fails is recorded as such and
 * the benchmark goes on. On a machine with fewer cores than nodes the
 * processes also contend for CPU, which a real cluster would not.
 *
 * How a worker tells roam what it will need is part of each setup (`Signal`):
 * nothing (`static`, `full-replication`), Lapse's `localize` a few batches
 * ahead (latency hiding), or AdaPM's `intent` plus `advanceClock` (`adaptive`
 * and its ablations `replication-only` and `relocation-only`). How far ahead
 * (`--ahead`, 2 batches by default) is the workload's, the same for every
 * setup: how far its data loader sees. An intent-driven policy should only
 * gain from a longer view (it acts when its window says, not when told),
 * while `localize` moves a key as soon as it is called. Issue 4's goal
 * is printed under each table: untuned `adaptive` matches or beats the best
 * `nups` setting on local share and wall time, and beats `static` by at least
 * 10x in wall time. The local share and the per-1M figures divide by the key
 * accesses roam counted; a note follows the table for every setup where
 * that count is not the number of keys the workers pulled and pushed.
 *
 *   deno run -A bench/policies.ts [--mode local|process|both] [--nodes N] [--ahead A]
 *     [--runtime deno|bun] [--timeout-s S] [--json FILE] [--quick] [--setups LABEL,...]
 *   bun bench/policies.ts [same flags]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { cpus, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import process from "node:process"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { zipfMass } from "./_harness.ts"
import { runForJson, type Runtime, thisRuntime } from "./_processes.ts"
import {
  combineNodes,
  formatGoal,
  formatMiscounts,
  formatRows,
  goal,
  isFailure,
  type NodeResult,
  type Row,
  type Run,
  summarize,
} from "./_policies_results.ts"
import {
  AHEAD,
  BATCH_KEYS,
  HOT_SIZES,
  KEYS,
  LENGTH,
  makeWorkload,
  runSetup,
  SEED,
  type Setup,
  setups,
  STEPS,
  WORKERS_PER_NODE,
  type Workload,
} from "./_policies_runs.ts"

// Bun's global is not in Deno's type library; Deno's is.
declare const Bun: { readonly version: string } | undefined

const USAGE = "usage: bench/policies.ts [--mode local|process|both] [--nodes N] " +
  "[--ahead A] [--runtime deno|bun] [--timeout-s S] [--json FILE] [--quick] " +
  "[--setups adaptive,lapse,...]"

type Mode = "local" | "process"

interface Plan {
  readonly modes: readonly Mode[]
  readonly nodes: number
  /** The runtime of process mode's node processes. */
  readonly runtime: Runtime
  readonly quick: boolean
  readonly steps: number
  /** Batches ahead that workers localize or signal intent for (the workload's lookahead). */
  readonly ahead: number
  /** Timed repetitions of every setup (odd, for a median). */
  readonly repetitions: number
  /** Per process-mode run, from spawning to the last exit. */
  readonly timeoutMs: number
  readonly json?: string
  /** Labels of the setups to run (`--setups`); all when absent. */
  readonly setups?: readonly string[]
}

/** Keys the workers of a run pull and push, all told. */
const workerAccesses = (plan: Plan) => plan.nodes * WORKERS_PER_NODE * plan.steps * BATCH_KEYS * 2

function parsePlan(argv: readonly string[]): Plan {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      mode: { type: "string", default: "local" },
      nodes: { type: "string", default: "4" },
      ahead: { type: "string", default: String(AHEAD) },
      runtime: { type: "string", default: thisRuntime() },
      "timeout-s": { type: "string" },
      json: { type: "string" },
      quick: { type: "boolean", default: false },
      setups: { type: "string" },
    },
  })
  const mode = v.mode!
  if (mode !== "local" && mode !== "process" && mode !== "both") {
    throw new RangeError(`--mode: unknown ${mode}\n${USAGE}`)
  }
  const nodes = Number(v.nodes)
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > 64) {
    throw new RangeError(`--nodes must be an integer in [2, 64]\n${USAGE}`)
  }
  const ahead = Number(v.ahead)
  if (!Number.isInteger(ahead) || ahead < 1 || ahead > 1000) {
    throw new RangeError(`--ahead must be an integer in [1, 1000]\n${USAGE}`)
  }
  if (v.runtime !== "deno" && v.runtime !== "bun") {
    throw new RangeError(`--runtime: unknown ${v.runtime}\n${USAGE}`)
  }
  const quick = v.quick === true
  const timeoutS = Number(v["timeout-s"] ?? (quick ? 120 : 600))
  if (!(timeoutS > 0)) throw new RangeError(`--timeout-s must be positive\n${USAGE}`)
  return {
    modes: mode === "both" ? ["local", "process"] : [mode],
    nodes,
    runtime: v.runtime,
    quick,
    steps: quick ? STEPS.quick : STEPS.full,
    ahead,
    repetitions: quick ? 3 : 5,
    timeoutMs: timeoutS * 1000,
    json: v.json,
    setups: v.setups?.split(",").map((label) => label.trim()).filter((label) => label !== ""),
  }
}

/**
 * The setups to run: all, or those `--setups` names, with `static` first
 * always (the baseline of the ratio column). An unknown label is an error
 * that lists the known ones.
 */
function chooseSetups(all: readonly Setup[], labels: readonly string[] | undefined): Setup[] {
  if (labels === undefined) return [...all]
  const known = all.map((s) => s.label)
  const unknown = labels.filter((label) => !known.includes(label))
  if (unknown.length > 0) {
    throw new RangeError(`--setups: unknown ${unknown.join(", ")}; known: ${known.join(", ")}`)
  }
  return all.filter((s) => s.label === "static" || labels.includes(s.label))
}

// ------------------------------------------------------------------ the two modes

/**
 * Every setup in each repetition, forward on even repetitions and backward
 * on odd ones; `runs[i][r]` is setup i's repetition r.
 */
async function repeat(
  all: readonly Setup[],
  repetitions: number,
  runOnce: (setup: Setup, repetition: number) => Promise<Run>,
): Promise<Run[][]> {
  const runs = all.map((): Run[] => [])
  for (let r = 0; r < repetitions; r++) {
    for (let s = 0; s < all.length; s++) {
      const i = r % 2 === 0 ? s : all.length - 1 - s
      runs[i][r] = await runOnce(all[i], r)
    }
  }
  return runs
}

/** Every node in this process; a run that is not exact throws. */
async function runLocal(plan: Plan, load: Workload, all: readonly Setup[]): Promise<Run[][]> {
  const once = async (setup: Setup): Promise<Run> => {
    const run = combineNodes([await runSetup(setup, load)], plan.nodes, KEYS)
    if (isFailure(run)) throw new Error(`policies: ${setup.label}: ${run.error}`)
    return run
  }
  // A warm-up pass, so that no setup is timed while the JIT still compiles the code it shares.
  for (const setup of all) await once(setup)
  return await repeat(all, plan.repetitions, once)
}

const root = fileURLToPath(new URL("../", import.meta.url))
const child = join(root, "bench", "_train_child.ts")
const nodeTask = join(root, "bench", "_policies_runs.ts")

/** One node per process, a fresh cluster per run; a run that fails is recorded and reported. */
async function runProcesses(plan: Plan, all: readonly Setup[]): Promise<Run[][]> {
  const dir = mkdtempSync(join(tmpdir(), "roam-policies-"))
  const total = all.length * plan.repetitions
  let done = 0
  const once = async (setup: Setup, repetition: number): Promise<Run> => {
    const template = join(dir, `${setup.label.replace(/\W+/g, "-")}-${repetition}-node{node}.json`)
    const args = [
      ...["--setup", setup.label, "--nodes", `${plan.nodes}`, "--steps", `${plan.steps}`],
      ...["--ahead", `${plan.ahead}`],
    ]
    const launched = await runForJson<NodeResult>({
      task: child,
      args: [nodeTask, template, ...args],
      template,
      processes: { launcher: plan.nodes },
      runtime: plan.runtime,
      timeoutMs: plan.timeoutMs,
    })
    const run: Run = launched.status === "ok"
      ? combineNodes(launched.values, plan.nodes, KEYS)
      : launched
    const what = repetition < 0
      ? `process ${setup.label} (warm-up, untimed)`
      : `[${++done}/${total}] process ${setup.label} (repetition ${repetition + 1})`
    if (isFailure(run)) {
      console.error(`${what}: ${run.status.toUpperCase()}\n  ${run.error.replaceAll("\n", "\n  ")}`)
    } else console.log(`${what}: ok, wall ${run.wallMs.toFixed(0)} ms`)
    return run
  }
  try {
    // One untimed run first, so that no timed run pays for filling the runtime's module cache.
    await once(all[0], -1)
    return await repeat(all, plan.repetitions, once)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// ------------------------------------------------------------------ report

function runtimeInfo(): { runtime: Runtime; version: string } {
  if (typeof Bun !== "undefined") return { runtime: "bun", version: Bun.version }
  if (typeof Deno !== "undefined") return { runtime: "deno", version: Deno.version.deno }
  throw new Error("policies: run under Deno or Bun")
}

interface ModeReport {
  readonly mode: Mode
  readonly nodes: number
  /** The runtime the nodes ran on. */
  readonly runtime: Runtime
  readonly rows: readonly Row[]
  readonly runs: readonly { readonly label: string; readonly runs: readonly Run[] }[]
}

const MODE_NOTES: Record<Mode, (plan: Plan) => string> = {
  local: (plan) =>
    `local: ${plan.nodes} nodes in this process, zero-latency memory transport; wall time is ` +
    "the protocol's CPU cost, not network waits.",
  process: (plan) =>
    `process: ${plan.nodes} ${plan.runtime} processes, one node each, WebSockets on loopback ` +
    `(${cpus().length} cores); wall is the slowest process's time between two barriers, ` +
    "counts summed over processes.",
}

function printMode(plan: Plan, report: ModeReport): void {
  console.log(`\n== ${MODE_NOTES[report.mode](plan)}\n`)
  for (const line of formatRows(report.rows)) console.log(line)
  console.log(formatGoal(goal(report.rows)))
  for (const line of formatMiscounts(report.rows, workerAccesses(plan))) console.log(line)
}

async function main(): Promise<void> {
  let plan: Plan
  try {
    plan = parsePlan(process.argv.slice(2))
  } catch (error) {
    console.error((error as Error).message)
    process.exit(2)
  }
  const { runtime, version } = runtimeInfo()
  const started = performance.now()
  console.log(
    `roam policies: ${runtime} ${version}${plan.quick ? " (--quick)" : ""}; ` +
      `${plan.modes.join(" and ")} mode; ${plan.nodes} nodes × ${WORKERS_PER_NODE} workers, ` +
      `${KEYS} keys × ${LENGTH} floats, Zipf(1.1); ${plan.steps} steps of ${BATCH_KEYS} keys ` +
      `(pull + push) per worker, signalled ${plan.ahead} ahead; ${plan.repetitions} repetitions, order alternating.`,
  )
  console.log(
    `hot share of accesses: ${
      HOT_SIZES.map((k) => `top ${k} ${(zipfMass(KEYS, k) * 100).toFixed(1)}%`).join(", ")
    }; ${workerAccesses(plan)} key accesses per run, each run checked exact ` +
      "after waitSync.",
  )
  const load = makeWorkload(plan.nodes, plan.steps)
  let all: Setup[]
  try {
    all = chooseSetups(setups(load.ranking, plan.ahead), plan.setups)
  } catch (error) {
    console.error((error as Error).message)
    process.exit(2)
  }
  const reports: ModeReport[] = []
  for (const mode of plan.modes) {
    const runs = mode === "local" ? await runLocal(plan, load, all) : await runProcesses(plan, all)
    reports.push({
      mode,
      nodes: plan.nodes,
      runtime: mode === "local" ? runtime : plan.runtime,
      rows: all.map((setup, i) => summarize(setup.label, runs[i], runs[0])),
      runs: all.map((setup, i) => ({ label: setup.label, runs: runs[i] })),
    })
  }
  for (const report of reports) printMode(plan, report)
  console.log(
    "\nlocal: accesses served by this node's store (owned or replica); frames and MB per 1M " +
      "key accesses; sync rds: sync rounds started (all nodes); relocs: keys moved; setup: " +
      "cluster start and initial placement (replicas, first signalled batches; not in wall); wall: steps + waitSync, between two " +
      "barriers. Medians over the repetitions that gave a result.",
  )
  console.log(`${((performance.now() - started) / 1000).toFixed(1)} s in all.`)
  if (plan.json !== undefined) {
    const report = {
      runtime,
      version,
      quick: plan.quick,
      cores: cpus().length,
      workload: {
        nodes: plan.nodes,
        workersPerNode: WORKERS_PER_NODE,
        keys: KEYS,
        length: LENGTH,
        zipf: 1.1,
        steps: plan.steps,
        batchKeys: BATCH_KEYS,
        repetitions: plan.repetitions,
        ahead: plan.ahead,
        seed: SEED,
      },
      setups: all.map((s) => ({ label: s.label, signal: s.signal })),
      modes: reports,
    }
    mkdirSync(dirname(plan.json), { recursive: true })
    writeFileSync(plan.json, JSON.stringify(report, null, 2) + "\n")
    console.log(`wrote ${plan.json}`)
  }
}

await main()
