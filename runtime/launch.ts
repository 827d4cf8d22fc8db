/**
 * The launcher: run one task file as N node processes on loopback.
 *
 *   deno task launch --nodes 4 [--runtime deno|bun|mixed] [--timeout-ms 600000] -- examples/<task>.ts [args]
 *
 * It picks N free loopback ports, generates a fresh cluster secret, and starts
 * the task N times with `ROAM_NODE_ID`, `ROAM_PEERS` and `ROAM_SECRET` set, so
 * that `Cluster.start` in each process joins the cluster as that node
 * (`runtime/start.ts`). Every line a node prints is relayed prefixed with
 * `[node i]`. The launcher exits 0 when every node exits 0, and 1 otherwise;
 * once one node fails, the others get `peerTimeoutMs`-scale time to notice
 * (`PeerLost`) and exit, and are killed if they have not after
 * `FAIL_GRACE_MS`; `--timeout-ms` bounds the whole run. The nodes do not
 * outlive it (short of a SIGKILL to the launcher, which no process can
 * catch): a SIGINT, SIGTERM or SIGHUP to the launcher is passed on to every
 * node still running, those left after `SIGNAL_GRACE_MS` are killed, and then
 * the launcher exits with 128 + the signal's number, as the signal would have
 * made it. `--help` prints the usage.
 *
 * This is a command-line tool, not part of a node, so it uses the platform's
 * timers and random generator directly.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import process from "node:process"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"

const NODES_MAX = 64
/** How long the other nodes may take to exit after one has failed. */
const FAIL_GRACE_MS = 15_000
/** How long the nodes may take to exit after the launcher passed a signal on to them. */
const SIGNAL_GRACE_MS = 3_000
/** The signals that would end the launcher, with their numbers (it exits with 128 + that). */
export const STOP_SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const
export type StopSignal = keyof typeof STOP_SIGNALS
const USAGE =
  "usage: launch --nodes N [--runtime deno|bun|mixed] [--timeout-ms MS] -- task.ts [args]"

export interface LaunchOptions {
  readonly nodes: number
  /** `mixed` alternates: even node ids on Deno, odd on Bun (the frame format is the contract). */
  readonly runtime: "deno" | "bun" | "mixed"
  readonly task: string
  readonly args: readonly string[]
  readonly timeoutMs: number
  /** Where prefixed lines go (default: this process's stdout and stderr). */
  readonly out?: (line: string, stream: "stdout" | "stderr") => void
}

/** A loopback port free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** A fresh random cluster secret (256 bits, hex). */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
}

const binDir = fileURLToPath(new URL("../node_modules/.bin/", import.meta.url))

/** The command line that runs `task` with `args` under `runtime` (the project's own binaries). */
export function runtimeCommand(
  runtime: "deno" | "bun",
  task: string,
  args: readonly string[],
): string[] {
  return runtime === "deno"
    ? [binDir + "deno", "run", "-A", task, ...args]
    : [binDir + "bun", "run", task, ...args]
}

/** Relay a stream line by line with a prefix. */
function relay(
  child: ChildProcess,
  prefix: string,
  out: NonNullable<LaunchOptions["out"]>,
): void {
  for (const stream of ["stdout", "stderr"] as const) {
    let rest = ""
    child[stream]!.setEncoding("utf8")
    child[stream]!.on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n")
      rest = lines.pop()!
      for (const line of lines) out(prefix + line, stream)
    })
    child[stream]!.on("end", () => rest && out(prefix + rest, stream))
  }
}

/**
 * Send `signal` to a child process (a node, or a benchmark's run). Through
 * `process.kill`, not `child.kill`: Deno's `ChildProcess.kill` sends nothing
 * once it has sent one signal (denoland/deno#36643), so a node that ignored
 * SIGTERM could never be killed.
 */
export function sendSignal(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return // It never started.
  try {
    process.kill(child.pid, signal)
  } catch {
    // It has exited since; its exit event is on the way.
  }
}

/**
 * Call `stop` with each SIGINT, SIGTERM or SIGHUP this process gets, instead of
 * ending it; returns the function that removes the listeners again. Deno (through
 * its Node compatibility) and Bun both run `process.on` listeners for these
 * signals, neither keeps the process alive for them, and removing the last one
 * restores the signal's default action.
 */
export function onStopSignals(stop: (signal: StopSignal) => void): () => void {
  const listeners = (Object.keys(STOP_SIGNALS) as StopSignal[])
    .map((signal) => [signal, () => stop(signal)] as const)
  for (const [signal, listener] of listeners) process.on(signal, listener)
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener)
  }
}

/**
 * Run the task as `nodes` processes; resolves to the exit code the launcher should use.
 *
 * While it runs, a SIGINT, SIGTERM or SIGHUP to this process is passed on to
 * every node, and once they have exited (or been killed after
 * `SIGNAL_GRACE_MS`) this process exits with 128 + the signal's number. The
 * signal would have ended the process had nobody listened, so it still does,
 * only after its nodes: a caller such as a benchmark must not carry on to its
 * next run. A second signal kills the nodes at once.
 */
export async function launch(options: LaunchOptions): Promise<number> {
  const out = options.out ??
    ((line, stream) => (stream === "stdout" ? process.stdout : process.stderr).write(line + "\n"))
  const ports = await Promise.all(Array.from({ length: options.nodes }, freePort))
  const peers = ports.map((port) => `ws://127.0.0.1:${port}`).join(",")
  const secret = newSecret()
  const children = ports.map((_, id) => {
    const runtime = options.runtime === "mixed" ? (id % 2 === 0 ? "deno" : "bun") : options.runtime
    const [bin, ...args] = runtimeCommand(runtime, options.task, options.args)
    return spawn(bin, args, {
      env: { ...process.env, ROAM_NODE_ID: String(id), ROAM_PEERS: peers, ROAM_SECRET: secret },
      stdio: ["ignore", "pipe", "pipe"],
    })
  })
  children.forEach((child, id) => relay(child, `[node ${id}] `, out))
  let failed = false
  let killTimer: ReturnType<typeof setTimeout> | undefined
  // Tracked here, not read from `exitCode` and `signalCode`: Deno sets
  // `signalCode` when a signal is sent, so a node that ignored it would look
  // gone and never be killed.
  const running = new Set(children)
  const killAll = () => running.forEach((c) => sendSignal(c, "SIGKILL"))
  let stopping: StopSignal | undefined
  const removeListeners = onStopSignals((signal) => {
    if (stopping !== undefined) return killAll()
    stopping = signal
    const left = [...running]
    out(
      `[launch] got ${signal}; passed it on to every node still running (${left.length}), ` +
        `killing any left after ${SIGNAL_GRACE_MS} ms`,
      "stderr",
    )
    left.forEach((c) => sendSignal(c, signal))
    clearTimeout(killTimer)
    killTimer = setTimeout(killAll, SIGNAL_GRACE_MS)
  })
  const runTimer = setTimeout(() => {
    out(`[launch] timed out after ${options.timeoutMs} ms; killing every node`, "stderr")
    failed = true
    killAll()
  }, options.timeoutMs)
  const codes = await Promise.all(children.map((child, id) =>
    new Promise<number>((resolve) => {
      child.on("error", (error) => {
        running.delete(child)
        out(`[launch] node ${id} could not start: ${error.message}`, "stderr")
        resolve(1)
      })
      child.on("exit", (code, signal) => {
        running.delete(child)
        const status = code ?? 1
        if (status !== 0 || signal !== null) {
          // After a signal the nodes exit because the launcher told them to: not news.
          if (stopping === undefined) {
            out(`[launch] node ${id} exited with ${signal ?? `code ${code}`}`, "stderr")
          }
          failed = true
          killTimer ??= setTimeout(killAll, FAIL_GRACE_MS)
        }
        resolve(signal !== null ? 1 : status)
      })
    })
  ))
  clearTimeout(runTimer)
  clearTimeout(killTimer)
  removeListeners()
  if (stopping !== undefined) process.exit(128 + STOP_SIGNALS[stopping])
  return failed || codes.some((c) => c !== 0) ? 1 : 0
}

/** Whether the launcher's own arguments (those before `--`) ask for help. */
function asksForHelp(argv: readonly string[]): boolean {
  const split = argv.indexOf("--")
  return (split < 0 ? argv : argv.slice(0, split)).some((a) => a === "--help" || a === "-h")
}

/** Parse the command line; throws on bad input (the caller adds the usage). */
export function parseLaunchArgs(argv: readonly string[]): LaunchOptions {
  const split = argv.indexOf("--")
  if (split < 0 || split === argv.length - 1) throw new Error("no task: give it after --")
  const { values } = parseArgs({
    args: argv.slice(0, split) as string[],
    options: {
      nodes: { type: "string" },
      runtime: { type: "string" },
      "timeout-ms": { type: "string", default: "600000" },
    },
  })
  const nodes = Number(values.nodes)
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > NODES_MAX) {
    throw new Error(`--nodes must be an integer in [1, ${NODES_MAX}]`)
  }
  const runtime = values.runtime ?? ("Bun" in globalThis ? "bun" : "deno")
  if (runtime !== "deno" && runtime !== "bun" && runtime !== "mixed") {
    throw new Error(`unknown runtime ${runtime}`)
  }
  const timeoutMs = Number(values["timeout-ms"])
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    throw new Error("--timeout-ms must be a positive integer")
  }
  return { nodes, runtime, task: argv[split + 1], args: argv.slice(split + 2), timeoutMs }
}

if (import.meta.main) {
  const argv = process.argv.slice(2)
  // Help asked for is not a usage error: stdout and 0, so `launch --help | less` works.
  if (asksForHelp(argv)) {
    console.log(USAGE)
    process.exit(0)
  }
  let options: LaunchOptions
  try {
    options = parseLaunchArgs(argv)
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`)
    process.exit(2)
  }
  process.exit(await launch(options))
}
