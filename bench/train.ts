/**
 * Training benchmark: the three example tasks under every policy side by
 * side, against the plain single-process implementation (the ceiling), on 1,
 * 2 and 4 nodes, in one process and as processes (issue 6, item 6).
 *
 * Each task (matrix factorization, knowledge-graph embeddings, word vectors,
 * on their seeded synthetic generators with the papers' Zipf skew) runs once
 * per policy, node count and mode (`--repeat N`: N times, in alternating
 * order, and the report keeps each configuration's median run, so that the
 * goal ratios are not one noisy sample against another), each run a fresh
 * process with a timeout (`_train_runs.ts`): "local" starts every node in
 * that process (`Cluster.local` through the example's `main`), "process"
 * one node per process through the launcher, and the plain twin (`--plain`)
 * once per task (and, beside process runs of N nodes, N copies of it at
 * once, each on the whole data: what the machine itself gives N processes,
 * the ceiling of the scaling ratio). Per run it records time per epoch, data points per second, the
 * local-access share, bytes per epoch, final quality, and quality after each
 * epoch with the training time so far; a run that times out or fails is
 * recorded as such and the benchmark goes on. After every run it rewrites
 * `OUT/train.json` and `OUT/train.html` (charts drawn by `_report_html.ts`),
 * so an interrupted benchmark still leaves a report; at the end it prints a
 * compact table per task with the ratios of issue 6's performance goal.
 *
 *   deno task bench:train [--quick] [--tasks mf,kge,word2vec] [--policies adaptive,static,...,plain]
 *     [--nodes 1,2,4] [--modes local,process] [--runtime deno|bun] [--out bench/out]
 *     [--repeat N] [--epochs N] [--timeout-s S] [--seed N] [--mf rows,cols,nnz] [--kge entities,relations,triples]
 *     [--word2vec topics,words,sentences]
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { join } from "node:path"
import process from "node:process"
import { parseArgs } from "node:util"
import { renderTrainReport } from "./_report_html.ts"
import { type Runtime, thisRuntime } from "./_processes.ts"
import { runOne, type RunSpec } from "./_train_runs.ts"
import {
  formatRate,
  formatTaskTable,
  medianRuns,
  type Mode,
  POLICIES,
  primaryMetric,
  type Task,
  TASKS,
  type TrainReport,
  type TrainRun,
} from "./_train_results.ts"

// Bun's global is not in Deno's type library; Deno's is.
declare const Bun: { readonly version: string } | undefined

const USAGE = `usage: bench/train.ts [--quick] [--tasks ${TASKS.join(",")}]
  [--policies ${[...POLICIES, "plain"].join(",")}] [--nodes 1,2,4] [--modes local,process]
  [--runtime deno|bun] [--out bench/out] [--repeat N] [--epochs N] [--timeout-s S] [--seed N]
  [--mf rows,cols,nnz] [--kge entities,relations,triples] [--word2vec topics,words,sentences]`

/** Per task: the synthetic size and model flags, quick and default. */
const SIZES: Record<Task, { quick: string; full: string; model: readonly string[][] }> = {
  mf: { quick: "2000,1000,40000", full: "100000,50000,1000000", model: [[], []] },
  kge: {
    quick: "500,4,8000",
    full: "2000,8,30000",
    model: [
      ["--dim", "32", "--negatives", "64", "--eval", "200"],
      ["--dim", "64", "--negatives", "128", "--eval", "300"],
    ],
  },
  word2vec: {
    quick: "10,50,4000",
    full: "20,100,10000",
    model: [["--dim", "32"], ["--dim", "64"]],
  },
}

interface Plan {
  readonly tasks: readonly Task[]
  readonly policies: readonly string[]
  readonly nodes: readonly number[]
  readonly modes: readonly Mode[]
  readonly runtime: Runtime
  readonly out: string
  readonly quick: boolean
  readonly timeoutMs: number
  /** Runs of every configuration; the report keeps the median (`medianRuns`). */
  readonly repeat: number
  /** Example flags per task: data, model, epochs and seed. */
  readonly args: Record<Task, readonly string[]>
}

/** A comma-separated flag whose every item is one of `allowed`. */
function listFlag<T extends string>(value: string, name: string, allowed: readonly T[]): T[] {
  const items = value.split(",").map((s) => s.trim()).filter((s) => s !== "")
  const bad = items.filter((s) => !allowed.includes(s as T))
  if (items.length === 0 || bad.length > 0) {
    throw new RangeError(`--${name}: unknown ${bad.join(", ") || "(empty)"}; one of ${allowed}`)
  }
  return items as T[]
}

function positive(value: string, name: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${name} must be a positive integer`)
  return n
}

/** Parse the command line into a plan; throws RangeError with the usage on bad input. */
export function parsePlan(argv: readonly string[]): Plan | undefined {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      quick: { type: "boolean", default: false },
      tasks: { type: "string", default: TASKS.join(",") },
      policies: { type: "string", default: [...POLICIES, "plain"].join(",") },
      nodes: { type: "string" },
      modes: { type: "string", default: "local,process" },
      runtime: { type: "string", default: thisRuntime() },
      out: { type: "string", default: "bench/out" },
      epochs: { type: "string" },
      repeat: { type: "string", default: "1" },
      "timeout-s": { type: "string" },
      seed: { type: "string", default: "1" },
      mf: { type: "string" },
      kge: { type: "string" },
      word2vec: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  })
  if (v.help) return undefined
  const quick = v.quick === true
  const nodes = (v.nodes ?? (quick ? "1,2" : "1,2,4")).split(",").map((n) => positive(n, "nodes"))
  const runtime = String(v.runtime)
  if (runtime !== "deno" && runtime !== "bun") throw new RangeError("--runtime: deno or bun")
  const epochs = v.epochs === undefined ? (quick ? 3 : 5) : positive(v.epochs, "epochs")
  const seed = positive(v.seed!, "seed")
  const args = Object.fromEntries(TASKS.map((task) => {
    const size = (v[task] as string | undefined) ?? SIZES[task][quick ? "quick" : "full"]
    const model = SIZES[task].model[quick ? 0 : 1]
    const flags = ["--synthetic", size, ...model, "--epochs", String(epochs)]
    return [task, [...flags, "--seed", String(seed)]]
  })) as Record<Task, string[]>
  return {
    tasks: listFlag(v.tasks!, "tasks", TASKS),
    policies: listFlag(v.policies!, "policies", [...POLICIES, "plain"]),
    nodes,
    modes: listFlag(v.modes!, "modes", ["local", "process"] as const),
    runtime,
    out: v.out!,
    quick,
    repeat: positive(v.repeat!, "repeat"),
    timeoutMs: 1000 *
      (v["timeout-s"] === undefined ? (quick ? 30 : 600) : positive(v["timeout-s"], "timeout-s")),
    args,
  }
}

/** Every run of the plan, in order: per task the plain twin, then modes, nodes, policies. */
function specsOf(plan: Plan): RunSpec[] {
  const specs: RunSpec[] = []
  const common = {
    runtime: plan.runtime,
    timeoutMs: plan.timeoutMs,
    dir: join(plan.out, "train-runs"),
  }
  for (const task of plan.tasks) {
    const args = plan.args[task]
    if (plan.policies.includes("plain")) {
      // Beside process runs of several nodes, as many plain copies at once: the
      // machine's own ceiling for that many processes (cores, caches, memory).
      const copies = plan.modes.includes("process") ? plan.nodes.filter((n) => n > 1) : []
      for (const nodes of [1, ...copies]) {
        specs.push({ ...common, task, policy: "plain", mode: "plain", nodes, args })
      }
    }
    for (const mode of plan.modes) {
      for (const nodes of plan.nodes) {
        for (const policy of plan.policies.filter((p) => p !== "plain")) {
          specs.push({ ...common, task, policy, mode, nodes, args })
        }
      }
    }
  }
  return specs
}

/** One line per finished run, as the benchmark goes. */
function describeRun(run: TrainRun): string {
  const where = run.mode !== "plain"
    ? `${run.mode} x${run.nodes}`
    : run.nodes === 1
    ? "plain"
    : `plain, ${run.nodes} copies at once`
  const head = `${run.task} ${run.policy} ${where}: ${run.status}`
  if (run.final === undefined) {
    return `${head} after ${run.wallSeconds.toFixed(1)} s${
      run.error ? `\n    ${run.error.split("\n").slice(-3).join("\n    ")}` : ""
    }`
  }
  const f = run.final
  const metric = primaryMetric(run.task, f.quality)
  return `${head}, ${formatRate(f.dataPointsPerSecond)} points/s, ${
    (f.localShare * 100).toFixed(1)
  }% local, ${formatRate(f.bytesPerEpoch)} B/epoch, ${metric.name} ${
    f.quality[metric.name].toFixed(4)
  } (${run.wallSeconds.toFixed(1)} s)`
}

function writeReport(plan: Plan, report: TrainReport): void {
  mkdirSync(plan.out, { recursive: true })
  writeFileSync(join(plan.out, "train.json"), JSON.stringify(report, null, 2) + "\n")
  writeFileSync(join(plan.out, "train.html"), renderTrainReport(report))
}

async function main(argv: readonly string[]): Promise<void> {
  const plan = parsePlan(argv)
  if (plan === undefined) {
    console.log(USAGE)
    return
  }
  const meta = {
    benchRuntime: typeof Bun !== "undefined" ? `bun ${Bun.version}` : `deno ${Deno.version.deno}`,
    runRuntime: plan.runtime,
    cores: cpus().length,
    started: new Date().toISOString(),
    quick: plan.quick,
    repeat: plan.repeat,
    timeoutSeconds: plan.timeoutMs / 1000,
    args: Object.fromEntries(plan.tasks.map((t) => [t, plan.args[t].join(" ")])),
  }
  const specs = specsOf(plan)
  const total = specs.length * plan.repeat
  console.log(
    `roam training benchmark: ${total} runs (${plan.tasks.join(", ")}; nodes ${
      plan.nodes.join(",")
    }; ${plan.modes.join(", ")}; ${plan.runtime}${
      plan.repeat > 1 ? `; ${plan.repeat} repetitions, medians reported` : ""
    }), timeout ${plan.timeoutMs / 1000} s each`,
  )
  const all: TrainRun[] = []
  const started = performance.now()
  // Repetitions alternate direction, so a drift in the machine's speed over
  // the benchmark falls on every configuration alike.
  for (let r = 0; r < plan.repeat; r++) {
    for (const spec of r % 2 === 0 ? specs : [...specs].reverse()) {
      const run = await runOne(spec)
      all.push(run)
      console.log(`[${all.length}/${total}] ${describeRun(run)}`)
      writeReport(plan, { meta, runs: medianRuns(all) })
    }
  }
  const runs = medianRuns(all)
  const minutes = (performance.now() - started) / 60_000
  writeReport(plan, { meta: { ...meta, minutes: +minutes.toFixed(2) }, runs })
  console.log("")
  for (const task of plan.tasks) console.log(formatTaskTable(runs, task) + "\n")
  console.log(
    `${minutes.toFixed(1)} min; wrote ${join(plan.out, "train.json")} and ${
      join(plan.out, "train.html")
    }`,
  )
}

if (import.meta.main) {
  try {
    await main(process.argv.slice(2))
  } catch (error) {
    // A bad flag (ours, or parseArgs's ERR_PARSE_ARGS_*) is one line; anything else a stack.
    const code = (error as { code?: string }).code ?? ""
    const flagError = error instanceof RangeError || code.startsWith("ERR_PARSE_ARGS")
    console.error(flagError ? (error as Error).message : error)
    console.error(USAGE)
    process.exit(1)
  }
}
