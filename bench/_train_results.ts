/**
 * The training benchmark's results: what one run recorded, how the per-node
 * JSON of a multi-process run combines into one record, the ratios the
 * performance goal of issue 6 asks about, and the compact text table. Pure
 * functions on plain data, so that the runner, the HTML report and the tests
 * share one definition of every number.
 *
 * Combining follows how the examples count (examples/lib/report.ts). An
 * epoch's `dataPoints` are the points that node's workers trained, and its
 * `seconds` run from the epoch's start to the barrier that ends it, so every
 * node's epoch lasts about as long as the cluster's: the cluster's epoch time
 * is the slowest node's, its points the sum over nodes, its throughput the
 * quotient. Bytes and frames are what each node sent, summed. The local share
 * is each node's, averaged weighted by its data points (the JSON holds no
 * access counts; accesses per point are the same on every node of a task).
 * Quality is node 0's evaluation (every node evaluates the whole model), with
 * the training loss averaged over nodes by points. A run's final rates (time,
 * points per second, bytes, local share per epoch) leave out its first epoch,
 * the JIT's warm-up, when it has more than one; its quality is the last
 * epoch's.
 */
import type { EpochRecord, RunSummary } from "../examples/lib/report.ts"
import { type PolicyName, policyNames } from "../mod.ts"

export const TASKS = ["mf", "kge", "word2vec"] as const
export type Task = typeof TASKS[number]

/** Every policy of roam, the default (adaptive) first. */
export const POLICIES: readonly PolicyName[] = [
  "adaptive",
  ...policyNames.filter((p) => p !== "adaptive"),
]

/**
 * `plain` is the single-process implementation with no parameter manager: the
 * ceiling. A plain run of `nodes` N > 1 is N copies of it run at once.
 */
export type Mode = "local" | "process" | "plain"
export type Status = "ok" | "timed out" | "failed"

/** One epoch of a run, after combining nodes. */
export interface EpochPoint {
  readonly epoch: number
  readonly seconds: number
  /** Training seconds so far (evaluation excluded, as the examples time it). */
  readonly elapsedSeconds: number
  readonly dataPoints: number
  readonly dataPointsPerSecond: number
  readonly localShare: number
  readonly bytes: number
  readonly frames: number
  readonly quality: Record<string, number>
}

export type RunFinal = RunSummary["final"]

/** One run of the matrix: a task under a policy (or `plain`) on some nodes in some mode. */
export interface TrainRun {
  readonly task: Task
  readonly policy: string
  readonly mode: Mode
  readonly nodes: number
  readonly status: Status
  /** Whole run, from spawning to exit: start-up, data generation and evaluation included. */
  readonly wallSeconds: number
  readonly error?: string
  readonly final?: RunFinal
  readonly epochs?: readonly EpochPoint[]
  /**
   * With `--repeat`: the points/s of every repetition that finished, in run
   * order; this record is the median one (`medianRuns`).
   */
  readonly repetitions?: readonly number[]
}

export interface TrainReport {
  readonly meta: Record<string, unknown>
  readonly runs: readonly TrainRun[]
}

/** The quality each task is judged by, and which way is better. */
export function primaryMetric(task: string, quality: Record<string, number>): {
  name: string
  higherIsBetter: boolean
} {
  if (task === "mf") return { name: "rmse", higherIsBetter: false }
  if (task === "kge") return { name: "mrr", higherIsBetter: true }
  return { name: "auc" in quality ? "auc" : "topicShare", higherIsBetter: true }
}

/** One record per epoch from the nodes' summaries (node 0 first). */
export function combineNodes(nodes: readonly RunSummary[]): {
  epochs: EpochPoint[]
  final: RunFinal
} {
  if (nodes.length === 0) throw new Error("combineNodes: no node summaries")
  const count = Math.min(...nodes.map((n) => n.epochs.length))
  const epochs: EpochPoint[] = []
  let elapsed = 0
  for (let e = 0; e < count; e++) {
    const records: EpochRecord[] = nodes.map((n) => n.epochs[e])
    const seconds = Math.max(...records.map((r) => r.seconds))
    const dataPoints = records.reduce((a, r) => a + r.dataPoints, 0)
    const weighted = (f: (r: EpochRecord) => number) =>
      dataPoints === 0 ? f(records[0]) : records.reduce((a, r) => a + f(r) * r.dataPoints, 0) /
        dataPoints
    const quality = { ...records[0].quality }
    if ("trainLoss" in quality) quality.trainLoss = weighted((r) => r.quality.trainLoss ?? 0)
    elapsed += seconds
    epochs.push({
      epoch: records[0].epoch,
      seconds,
      elapsedSeconds: elapsed,
      dataPoints,
      dataPointsPerSecond: seconds > 0 ? dataPoints / seconds : 0,
      localShare: weighted((r) => r.localShare),
      bytes: records.reduce((a, r) => a + r.bytes, 0),
      frames: records.reduce((a, r) => a + r.frames, 0),
      quality,
    })
  }
  // Rates leave out the first epoch when there are more: it includes the JIT's
  // warm-up, which would otherwise dominate the short runs of --quick.
  const steady = epochs.length > 1 ? epochs.slice(1) : epochs
  const sum = (f: (e: EpochPoint) => number) => steady.reduce((a, e) => a + f(e), 0)
  const n = Math.max(1, steady.length)
  const points = sum((e) => e.dataPoints)
  const seconds = sum((e) => e.seconds)
  return {
    epochs,
    final: {
      quality: epochs.at(-1)?.quality ?? {},
      localShare: points === 0 ? 1 : sum((e) => e.localShare * e.dataPoints) / points,
      secondsPerEpoch: seconds / n,
      bytesPerEpoch: sum((e) => e.bytes) / n,
      framesPerEpoch: sum((e) => e.frames) / n,
      dataPointsPerSecond: seconds > 0 ? points / seconds : 0,
    },
  }
}

/**
 * One record per configuration (task, policy, mode, nodes) from repeated
 * runs: the finished run of median points/s (the lower middle of an even
 * count), carrying every finished repetition's rate, or the last attempt when
 * none finished. Order follows each configuration's first run. On a noisy
 * 2-core machine a single run of a few seconds swings by a quarter, so the
 * goal ratios are taken between medians.
 */
export function medianRuns(runs: readonly TrainRun[]): TrainRun[] {
  const groups = new Map<string, TrainRun[]>()
  for (const run of runs) {
    const key = `${run.task}|${run.policy}|${run.mode}|${run.nodes}`
    const group = groups.get(key)
    if (group === undefined) groups.set(key, [run])
    else group.push(run)
  }
  return [...groups.values()].map((group) => {
    const finished = group.filter((r) => r.status === "ok" && r.final !== undefined)
    if (finished.length === 0) return group[group.length - 1]
    const rates = finished.map((r) => r.final!.dataPointsPerSecond)
    const sorted = [...finished].sort((a, b) =>
      a.final!.dataPointsPerSecond - b.final!.dataPointsPerSecond
    )
    const median = sorted[(sorted.length - 1) >> 1]
    return group.length === 1 ? median : { ...median, repetitions: rates }
  })
}

/** The run of `task` matching the rest, if it finished. */
export function findRun(
  runs: readonly TrainRun[],
  want: { task: string; policy: string; mode: Mode; nodes: number },
): TrainRun | undefined {
  return runs.find((r) =>
    r.task === want.task && r.policy === want.policy && r.mode === want.mode &&
    r.nodes === want.nodes && r.status === "ok"
  )
}

/** A ratio the issue asks about: its value (undefined when a side is missing) and goal. */
export interface Ratio {
  readonly label: string
  readonly value: number | undefined
  /** The goal of issue 6 (MF only), and whether larger is better. */
  readonly goal?: { readonly at: number; readonly atLeast: boolean }
  readonly unit: "x" | "%"
}

const rate = (run: TrainRun | undefined) => run?.final?.dataPointsPerSecond

function quotient(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b
}

/**
 * The ratios of issue 6's performance goal for one task, from whichever runs
 * exist: adaptive on 2 processes against 1 node (in-process), adaptive
 * against static on 2 processes and on 2 in-process nodes, adaptive on 1 node
 * against the plain implementation, and adaptive's local share on 2
 * processes. The goals are stated for MF; other tasks show the same ratios.
 */
export function goalRatios(runs: readonly TrainRun[], task: string): Ratio[] {
  const get = (policy: string, mode: Mode, nodes: number) =>
    findRun(runs, { task, policy, mode, nodes })
  const mf = task === "mf"
  const goal = (at: number, atLeast = true) => (mf ? { at, atLeast } : undefined)
  return [
    {
      label: "adaptive 2 processes / 1 node, points/s",
      value: quotient(rate(get("adaptive", "process", 2)), rate(get("adaptive", "local", 1))),
      goal: goal(1.5),
      unit: "x",
    },
    {
      label: "2 plain copies at once / 1 plain, points/s (this machine's ceiling for the above)",
      value: quotient(rate(get("plain", "plain", 2)), rate(get("plain", "plain", 1))),
      unit: "x",
    },
    {
      label: "adaptive / static, 2 processes, points/s",
      value: quotient(rate(get("adaptive", "process", 2)), rate(get("static", "process", 2))),
      goal: goal(100),
      unit: "x",
    },
    {
      label: "adaptive / static, 2 nodes in-process, points/s",
      value: quotient(rate(get("adaptive", "local", 2)), rate(get("static", "local", 2))),
      unit: "x",
    },
    {
      label: "adaptive 1 node / plain, points/s",
      value: quotient(rate(get("adaptive", "local", 1)), rate(get("plain", "plain", 1))),
      goal: goal(0.7),
      unit: "x",
    },
    {
      label: "adaptive local share, 2 processes",
      value: get("adaptive", "process", 2)?.final?.localShare,
      goal: goal(0.99),
      unit: "%",
    },
  ]
}

/** A ratio as text: value, goal, and whether it is met. */
export function formatRatio(ratio: Ratio): string {
  const show = (v: number) =>
    ratio.unit === "%" ? `${(v * 100).toFixed(2)}%` : `${v.toPrecision(3)}x`
  if (ratio.value === undefined) return "n/a (a run is missing, failed or timed out)"
  if (ratio.goal === undefined) return show(ratio.value)
  const met = ratio.goal.atLeast ? ratio.value >= ratio.goal.at : ratio.value <= ratio.goal.at
  return `${show(ratio.value)}  (goal ${ratio.goal.atLeast ? ">=" : "<="} ${show(ratio.goal.at)}: ${
    met ? "met" : "NOT met"
  })`
}

/** Points per second compactly: 1234 → "1.23k". */
export function formatRate(value: number): string {
  if (value === 0) return "0"
  if (value >= 1e6) return `${(value / 1e6).toPrecision(3)}M`
  if (value >= 1e3) return `${(value / 1e3).toPrecision(3)}k`
  return value.toPrecision(3)
}

/** A run's cell in the text table: points/s and local share, or why it has none. */
function cell(run: TrainRun | undefined): string {
  if (run === undefined) return "-"
  if (run.status !== "ok" || run.final === undefined) return run.status
  const local = run.mode === "plain" ? "" : ` ${(run.final.localShare * 100).toFixed(1)}%`
  const reps = run.repetitions
  const range = reps === undefined || reps.length < 2
    ? ""
    : ` (${formatRate(Math.min(...reps))}–${formatRate(Math.max(...reps))})`
  return `${formatRate(run.final.dataPointsPerSecond)}${range}${local}`
}

/** Left-aligned first column, right-aligned others, two spaces apart. */
export function alignRows(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")
  ).join("\n")
}

/**
 * The text table of one task: a row per policy (and plain), a column per
 * mode and node count with points/s and the local share, then the final
 * quality of the largest configuration, then the goal ratios.
 */
export function formatTaskTable(runs: readonly TrainRun[], task: string): string {
  const mine = runs.filter((r) => r.task === task)
  if (mine.length === 0) return ""
  const columns = [
    ...new Set(
      mine.filter((r) => r.mode !== "plain").map((r) => `${r.mode}:${r.nodes}`),
    ),
  ]
  const policies = [...new Set(mine.map((r) => r.policy))]
  const header = ["policy", ...columns.map((c) => c.replace(":", " x")), "quality"]
  const rows = policies.map((policy) => {
    const runsOf = mine.filter((r) => r.policy === policy)
    const last = runsOf.findLast((r) => r.status === "ok" && r.final !== undefined)
    const metric = last?.final ? primaryMetric(task, last.final.quality) : undefined
    const quality = metric && last?.final
      ? `${metric.name} ${last.final.quality[metric.name].toFixed(4)}`
      : "-"
    // Plain runs once in the first column, and its copies at once under the
    // process runs of as many nodes.
    const cells = columns.map((c, i) => {
      const [mode, nodes] = c.split(":")
      if (policy !== "plain") {
        return cell(runsOf.find((r) => r.mode === mode && r.nodes === Number(nodes)))
      }
      const copies = i === 0 ? 1 : mode === "process" && Number(nodes) > 1 ? Number(nodes) : 0
      const run = runsOf.find((r) => r.nodes === copies)
      return copies === 0 || (copies > 1 && run === undefined) ? "" : cell(run)
    })
    return [policy, ...cells, quality]
  })
  const ratios = goalRatios(runs, task).map((r) => `  ${r.label}: ${formatRatio(r)}`)
  return `${task}: points/s and local share per run\n${alignRows([header, ...rows])}\n${
    ratios.join("\n")
  }`
}
