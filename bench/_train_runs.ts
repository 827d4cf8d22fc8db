/**
 * Running one configuration of the training benchmark and reading back what
 * it measured: the effectful shell around `_train_results.ts`.
 *
 * A run is an example (`examples/<task>.ts`) under one policy on some nodes,
 * started through `_train_child.ts` in a fresh process with a timeout:
 * `local` runs every node in that one process (`Cluster.local`, chosen by
 * the example's `Cluster.start` because no launcher placed it), `process`
 * runs one node per process through the launcher (`runtime/launch.ts`), and
 * `plain` runs the example's `--plain` twin with no parameter manager (with
 * `nodes` above 1, that many copies at once, each on the whole data). Each
 * node writes its own `--json`; the runner reads them all and combines them.
 * A run that outlives its timeout is killed and recorded as "timed out",
 * one that exits non-zero or writes no JSON as "failed" with the tail of its
 * output (`_processes.ts`), so one slow or broken configuration never stops
 * the benchmark.
 */
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { RunSummary } from "../examples/lib/report.ts"
import { runForJson, type Runtime } from "./_processes.ts"
import { combineNodes, type Mode, type Task, type TrainRun } from "./_train_results.ts"

export interface RunSpec {
  readonly task: Task
  /** A roam policy, or "plain" (then `mode` is "plain"). */
  readonly policy: string
  readonly mode: Mode
  /**
   * Nodes; for "plain", how many copies of the plain twin run at once, each
   * on the whole data and unaware of the others: the ceiling this machine
   * sets on that many processes.
   */
  readonly nodes: number
  /** The example's data, model and schedule flags (`--synthetic`, `--epochs`, ...). */
  readonly args: readonly string[]
  readonly runtime: Runtime
  readonly timeoutMs: number
  /** Where the nodes' JSON files go. */
  readonly dir: string
}

const root = fileURLToPath(new URL("../", import.meta.url))
const child = join(root, "bench", "_train_child.ts")

/** Run one configuration and return its record (never throws for a failed run). */
export async function runOne(spec: RunSpec): Promise<TrainRun> {
  const { task, policy, mode, nodes } = spec
  mkdirSync(spec.dir, { recursive: true })
  // One JSON per process: every node's under the launcher, the one process's otherwise.
  const template = join(spec.dir, `${task}-${policy}-${mode}-${nodes}-node{node}.json`)
  const example = join(root, "examples", `${task}.ts`)
  const args = [example, template, ...spec.args, "--quiet"]
  const roamArgs = [...args, "--policy", policy, "--nodes", String(nodes)]
  const started = performance.now()
  const run = await runForJson<RunSummary>({
    task: child,
    args: mode === "plain" ? [...args, "--plain"] : roamArgs,
    template,
    processes: mode === "process"
      ? { launcher: nodes }
      : mode === "plain" && nodes > 1
      ? { concurrent: nodes }
      : "single",
    runtime: spec.runtime,
    timeoutMs: spec.timeoutMs,
  })
  const wallSeconds = (performance.now() - started) / 1000
  const record = { task, policy, mode, nodes, wallSeconds }
  if (run.status !== "ok") return { ...record, status: run.status, error: run.error }
  return { ...record, status: run.status, ...combineNodes(run.values) }
}
