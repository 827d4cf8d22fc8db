/**
 * Benchmark runs in fresh processes, with a timeout, and the JSON they write.
 *
 * The benchmarks that measure whole runs (`train.ts`, and `policies.ts` in
 * process mode) start every run in fresh processes: a run that hangs can be
 * killed at its timeout without taking the benchmark down, and no run
 * inherits another's JIT state or heap. A run is one process; one process
 * per node through the launcher (`runtime/launch.ts`), which sets
 * `ROAM_NODE_ID`, `ROAM_PEERS` and `ROAM_SECRET` so that `Cluster.start` in
 * each process joins the cluster as that node; or several copies of one
 * process at once, which share nothing but the machine. Every process writes its
 * results as JSON to a path made from a template, `{node}` standing for its
 * node id, and the runner reads them all back. A run that outlives its
 * timeout is reported as "timed out", one that exits non-zero or writes no
 * JSON as "failed" with the tail of its output. This is a command-line tool,
 * not part of a node: it uses the platform's timers and processes directly.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, readFileSync, rmSync } from "node:fs"
import process from "node:process"
import {
  launch,
  onStopSignals,
  runtimeCommand,
  sendSignal,
  STOP_SIGNALS,
} from "../runtime/launch.ts"

export type Runtime = "deno" | "bun"
export type RunStatus = "ok" | "timed out" | "failed"

/** The runtime running this process. */
export const thisRuntime = (): Runtime => "Bun" in globalThis ? "bun" : "deno"

/** Lines of a failed run's output kept in its record. */
const ERROR_LINES_MAX = 12

/** `text` with `{node}` as the node id (or copy index) `id`. */
const withNode = (text: string, id: number | string): string => text.replaceAll("{node}", `${id}`)

/** Where this process writes its JSON: `template` with `{node}` as its node id (0 alone). */
export const nodeJsonPath = (template: string): string =>
  withNode(template, process.env.ROAM_NODE_ID ?? "0")

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

/** The runs' processes alive now, and the removal of the signal listeners guarding them. */
const live = new Set<ChildProcess>()
let unguard: (() => void) | undefined

/**
 * While any run's process lives, a SIGINT, SIGTERM or SIGHUP to this process
 * kills them all and then ends this process with 128 + the signal's number,
 * as the signal would have: a benchmark stopped by Ctrl-C or a timeout leaves
 * no run behind, training on and skewing whatever is measured next. Runs
 * through the launcher are guarded by the launcher itself (`launch`).
 */
function guard(child: ChildProcess): void {
  live.add(child)
  unguard ??= onStopSignals((signal) => {
    live.forEach((c) => sendSignal(c, "SIGKILL"))
    process.exit(128 + STOP_SIGNALS[signal])
  })
}

function unguardOne(child: ChildProcess): void {
  live.delete(child)
  if (live.size > 0) return
  unguard?.()
  unguard = undefined
}

/** Run one process to its end or its timeout. */
function spawnRun(
  argv: readonly string[],
  timeoutMs: number,
  out: (line: string) => void,
): Promise<RunStatus> {
  return new Promise((resolve) => {
    const [bin, ...args] = argv
    const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] })
    guard(proc)
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      sendSignal(proc, "SIGKILL")
    }, timeoutMs)
    for (const stream of [proc.stdout, proc.stderr]) {
      stream.setEncoding("utf8")
      stream.on("data", (chunk: string) => chunk.split("\n").forEach(out))
    }
    proc.on("error", (error) => {
      clearTimeout(timer)
      unguardOne(proc)
      out(`could not start: ${error.message}`)
      resolve("failed")
    })
    proc.on("exit", (code) => {
      clearTimeout(timer)
      unguardOne(proc)
      resolve(timedOut ? "timed out" : code === 0 ? "ok" : "failed")
    })
  })
}

export interface JsonRunSpec {
  /** The file every process runs, and its arguments (which name `template`). */
  readonly task: string
  readonly args: readonly string[]
  /** Where each process writes its JSON; `{node}` stands for the node id. */
  readonly template: string
  /**
   * Processes: one per node through the launcher; one ("single") holding
   * every node; or `concurrent` copies of one single-process run started at
   * once, unaware of each other (`{node}` in their arguments is each one's
   * index), which measures what the machine gives that many processes.
   */
  readonly processes: { readonly launcher: number } | { readonly concurrent: number } | "single"
  readonly runtime: Runtime
  readonly timeoutMs: number
}

/** Each process's JSON in node order, or why a run gave none. */
export type JsonRun<T> =
  | { readonly status: "ok"; readonly values: readonly T[] }
  | { readonly status: "timed out" | "failed"; readonly error: string }

/** Run `spec` in fresh processes and read back their JSON (never throws for a failed run). */
export async function runForJson<T>(spec: JsonRunSpec): Promise<JsonRun<T>> {
  const processes = spec.processes
  const count = processes === "single"
    ? 1
    : "launcher" in processes
    ? processes.launcher
    : processes.concurrent
  const files = Array.from(
    { length: count },
    (_, id) => withNode(spec.template, id),
  )
  for (const file of files) rmSync(file, { force: true })
  const log = tail()
  let status: RunStatus
  if (processes === "single") {
    const argv = runtimeCommand(spec.runtime, spec.task, spec.args)
    status = await spawnRun(argv, spec.timeoutMs, (line) => log.add(line))
  } else if ("concurrent" in processes) {
    const statuses = await Promise.all(files.map((_, id) => {
      const args = spec.args.map((arg) => withNode(arg, id))
      const argv = runtimeCommand(spec.runtime, spec.task, args)
      return spawnRun(argv, spec.timeoutMs, (line) => log.add(line.trim() && `[${id}] ${line}`))
    }))
    status = statuses.find((s) => s !== "ok") ?? "ok"
  } else {
    const code = await launch({
      nodes: processes.launcher,
      runtime: spec.runtime,
      task: spec.task,
      args: spec.args,
      timeoutMs: spec.timeoutMs,
      out: (line) => log.add(line),
    })
    status = code === 0 ? "ok" : log.text().includes("[launch] timed out") ? "timed out" : "failed"
  }
  if (status !== "ok") return { status, error: log.text() }
  const missing = files.filter((f) => !existsSync(f))
  if (missing.length > 0) return { status: "failed", error: `no JSON from ${missing.join(", ")}` }
  return { status, values: files.map((f) => JSON.parse(readFileSync(f, "utf8")) as T) }
}
