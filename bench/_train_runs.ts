/**
 * Running one configuration of the training benchmark and reading back what
 * it measured: the effectful shell around `_train_results.ts`.
 *
 * A run is an example (`examples/<task>.ts`) under one policy on some nodes,
 * started through `_train_child.ts` in a fresh process with a timeout:
 * `local` runs every node in that one process (`Cluster.local`, chosen by
 * the example's `Cluster.start` because no launcher placed it), `process`
 * runs one node per process through the launcher (`runtime/launch.ts`), and
 * `plain` runs the example's `--plain` twin with no parameter manager. Each
 * node writes its own `--json`; the runner reads them all and combines them.
 * A run that outlives its timeout is killed and recorded as "timed out",
 * one that exits non-zero or writes no JSON as "failed" with the tail of its
 * output, so one slow or broken configuration never stops the benchmark.
 * This is a command-line tool, not part of a node: it uses the platform's
 * timers and processes directly.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { launch } from "../runtime/launch.ts"
import type { RunSummary } from "../examples/lib/report.ts"
import { combineNodes, type Mode, type Task, type TrainRun } from "./_train_results.ts"

export type Runtime = "deno" | "bun"

export interface RunSpec {
  readonly task: Task
  /** A roam policy, or "plain" (then `mode` is "plain" and `nodes` 1). */
  readonly policy: string
  readonly mode: Mode
  readonly nodes: number
  /** The example's data, model and schedule flags (`--synthetic`, `--epochs`, ...). */
  readonly args: readonly string[]
  readonly runtime: Runtime
  readonly timeoutMs: number
  /** Where the nodes' JSON files go. */
  readonly dir: string
}

/** Lines of a failed run's output kept in its record. */
const ERROR_LINES_MAX = 12

const root = fileURLToPath(new URL("../", import.meta.url))
const child = join(root, "bench", "_train_child.ts")

/** The command that runs `file` with `args` in `runtime`. */
function command(runtime: Runtime, file: string, args: readonly string[]): string[] {
  const bin = join(root, "node_modules", ".bin", runtime)
  return runtime === "deno" ? [bin, "run", "-A", file, ...args] : [bin, "run", file, ...args]
}

/** Keeps the last few lines written, for a failed run's record. */
function tail(): { add(line: string): void; text(): string } {
  const lines: string[] = []
  return {
    add(line) {
      if (line.trim() === "") return
      lines.push(line)
      if (lines.length > ERROR_LINES_MAX) lines.shift()
    },
    text: () => lines.join("\n"),
  }
}

/** Run one process to its end or its timeout. */
function spawnRun(
  argv: readonly string[],
  timeoutMs: number,
  out: (line: string) => void,
): Promise<"ok" | "timed out" | "failed"> {
  return new Promise((resolve) => {
    const [bin, ...args] = argv
    const proc = spawn(bin, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      proc.kill("SIGKILL")
    }, timeoutMs)
    for (const stream of [proc.stdout, proc.stderr]) {
      stream.setEncoding("utf8")
      stream.on("data", (chunk: string) => chunk.split("\n").forEach(out))
    }
    proc.on("error", (error) => {
      clearTimeout(timer)
      out(`could not start: ${error.message}`)
      resolve("failed")
    })
    proc.on("exit", (code) => {
      clearTimeout(timer)
      resolve(timedOut ? "timed out" : code === 0 ? "ok" : "failed")
    })
  })
}

/** Run one configuration and return its record (never throws for a failed run). */
export async function runOne(spec: RunSpec): Promise<TrainRun> {
  const { task, policy, mode, nodes } = spec
  mkdirSync(spec.dir, { recursive: true })
  const base = join(spec.dir, `${task}-${policy}-${mode}-${nodes}`)
  // One JSON per process: every node's under the launcher, the one process's otherwise.
  const processes = mode === "process" ? nodes : 1
  const files = Array.from({ length: processes }, (_, id) => `${base}-node${id}.json`)
  for (const file of files) rmSync(file, { force: true })
  const example = join(root, "examples", `${task}.ts`)
  const args = [example, `${base}-node{node}.json`, ...spec.args, "--quiet"]
  const roamArgs = [...args, "--policy", policy, "--nodes", String(nodes)]
  const log = tail()
  const started = performance.now()
  let status: "ok" | "timed out" | "failed"
  if (mode === "process") {
    const code = await launch({
      nodes,
      runtime: spec.runtime,
      task: child,
      args: roamArgs,
      timeoutMs: spec.timeoutMs,
      out: (line) => log.add(line),
    })
    status = code === 0 ? "ok" : log.text().includes("[launch] timed out") ? "timed out" : "failed"
  } else {
    const argv = command(spec.runtime, child, mode === "plain" ? [...args, "--plain"] : roamArgs)
    status = await spawnRun(argv, spec.timeoutMs, (line) => log.add(line))
  }
  const wallSeconds = (performance.now() - started) / 1000
  const record = { task, policy, mode, nodes, wallSeconds }
  if (status !== "ok") return { ...record, status, error: log.text() }
  const missing = files.filter((f) => !existsSync(f))
  if (missing.length > 0) {
    return { ...record, status: "failed", error: `no JSON from ${missing.join(", ")}` }
  }
  const summaries = files.map((f) => JSON.parse(readFileSync(f, "utf8")) as RunSummary)
  return { ...record, status, ...combineNodes(summaries) }
}
