/**
 * The launcher as a command, run as a child process with this test's runtime.
 *
 * Signals: on `tests/_launch_task.ts wait`, whose three nodes print their pids
 * once the cluster is up and then run until killed, a SIGTERM (or SIGINT) to
 * the launcher alone must reach every node: the launcher exits with 143 (130)
 * and every node pid is gone within a few seconds. This fails without the
 * launcher's signal listeners, which is how the nodes used to leak: the
 * launcher dies of the signal at once (an exit by signal, not code 143) and
 * its nodes, reparented to PID 1, keep running (checked against the launcher
 * as it was before the listeners). Nodes that ignore SIGTERM must be killed
 * after the launcher's grace (3 s) all the same.
 *
 * Usage: `--help` prints the usage to stdout and exits 0; a usage error
 * prints it to stderr and exits 2.
 *
 * A benchmark runs its runs as processes too (`bench/_processes.ts`): a
 * SIGTERM to it must kill them and end it with 143, not leave them training.
 *
 * The launcher runs in a process group of its own, which its nodes join, so
 * that whatever an assertion finds, the test kills the whole group at the end
 * and leaves no process behind.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import process from "node:process"
import { fileURLToPath } from "node:url"
import { runtimeCommand } from "../runtime/launch.ts"

const thisRuntime = "Bun" in globalThis ? "bun" : "deno"
const launcherPath = fileURLToPath(new URL("../runtime/launch.ts", import.meta.url))
const taskPath = fileURLToPath(new URL("./_launch_task.ts", import.meta.url))
/** The task's cluster size (`_launch_task.ts` starts 3 nodes). */
const NODES = 3
/** Three processes starting on two loaded cores; a normal run takes 1 to 3 s. */
const UP_MS_MAX = 20_000
/** The launcher's own grace is 3 s, but nodes that do not handle the signal die at once. */
const EXIT_MS_MAX = 6_000
const GONE_MS_MAX = 3_000
const POLL_MS = 50
/** Per test (bun test defaults to 5 s); a passing run takes a few seconds. */
const slow = { timeout: UP_MS_MAX + EXIT_MS_MAX + GONE_MS_MAX + 5_000 }

interface Launched {
  readonly proc: ChildProcess
  /** Every line the launcher printed, stdout and stderr. */
  readonly lines: string[]
  readonly stdout: string[]
  readonly stderr: string[]
  /** The pids the nodes printed, in the order they did. */
  readonly nodePids: number[]
  readonly exited: Promise<{ code: number | null; signal: string | null }>
}

function startLauncher(args: string[], path = launcherPath): Launched {
  const [bin, ...rest] = runtimeCommand(thisRuntime, path, args)
  // A process group of its own (the nodes inherit it), for `killGroup`.
  const proc = spawn(bin, rest, { detached: true, stdio: ["ignore", "pipe", "pipe"] })
  const launched = {
    proc,
    lines: [] as string[],
    stdout: [] as string[],
    stderr: [] as string[],
    nodePids: [] as number[],
    // "close", not "exit": by then every line it printed has been read.
    exited: new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      proc.on("close", (code, signal) => resolve({ code, signal }))
    ),
  }
  for (const name of ["stdout", "stderr"] as const) {
    let partial = ""
    proc[name]!.setEncoding("utf8")
    proc[name]!.on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n")
      partial = parts.pop()!
      for (const line of parts) {
        launched.lines.push(line)
        launched[name].push(line)
        const pid = /^\[node \d+\] node \d+: pid (\d+)$/.exec(line)?.[1]
        if (pid !== undefined) launched.nodePids.push(Number(pid))
      }
    })
  }
  return launched
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Poll `done` until it holds or `ms` have passed; resolves to whether it held. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms
  while (!done()) {
    if (performance.now() > deadline) return false
    await sleep(POLL_MS)
  }
  return true
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

/** SIGKILL the launcher's process group and any node still alive (ignoring the gone). */
function killGroup(launched: Launched): void {
  const pids = [-launched.proc.pid!, ...launched.nodePids.filter(isAlive)]
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // Already gone: nothing to clean up.
    }
  }
}

async function signalStopsEveryNode(
  signal: "SIGTERM" | "SIGINT",
  code: number,
  mode: "wait" | "stubborn" = "wait",
): Promise<void> {
  const launched = startLauncher(["--nodes", String(NODES), "--", taskPath, mode])
  let exited = false
  launched.exited.then(() => exited = true)
  try {
    await until(() => launched.nodePids.length === NODES || exited, UP_MS_MAX)
    assert.equal(launched.nodePids.length, NODES, launched.lines.join("\n"))
    process.kill(launched.proc.pid!, signal)
    await until(() => exited, EXIT_MS_MAX)
    const exit = exited ? await launched.exited : "still running"
    await until(() => !launched.nodePids.some(isAlive), GONE_MS_MAX)
    const alive = launched.nodePids.filter(isAlive)
    assert.deepEqual(
      { exit, alive },
      { exit: { code, signal: null }, alive: [] },
      launched.lines.join("\n"),
    )
    const said = launched.stderr.filter((l) => l.startsWith(`[launch] got ${signal}; passed it on`))
    assert.equal(said.length, 1, launched.lines.join("\n"))
    // Stubborn nodes must have outlived the signal: it was the SIGKILL that ended them.
    const ignored = launched.lines.filter((l) => l.endsWith(": ignoring SIGTERM"))
    assert.equal(ignored.length, mode === "stubborn" ? NODES : 0, launched.lines.join("\n"))
  } finally {
    killGroup(launched)
  }
}

describe("the launcher command", () => {
  it("SIGTERM to the launcher ends every node, and it exits with 143", slow, async () => {
    await signalStopsEveryNode("SIGTERM", 143)
  })

  it("SIGINT to the launcher ends every node, and it exits with 130", slow, async () => {
    await signalStopsEveryNode("SIGINT", 130)
  })

  it("nodes that ignore the SIGTERM are killed after the launcher's grace", slow, async () => {
    await signalStopsEveryNode("SIGTERM", 143, "stubborn")
  })

  it("--help prints the usage to stdout and exits 0", slow, async () => {
    const launched = startLauncher(["--help"])
    try {
      const exit = await launched.exited
      assert.deepEqual(exit, { code: 0, signal: null }, launched.lines.join("\n"))
      assert.match(launched.stdout.join("\n"), /^usage: launch --nodes N /)
      assert.deepEqual(launched.stderr, [])
    } finally {
      killGroup(launched)
    }
  })

  it("a usage error prints the usage to stderr and exits 2", slow, async () => {
    const launched = startLauncher(["--nodes", "0", "--", taskPath])
    try {
      const exit = await launched.exited
      assert.deepEqual(exit, { code: 2, signal: null }, launched.lines.join("\n"))
      assert.match(launched.stderr.join("\n"), /--nodes must be .*\nusage: launch --nodes N /)
      assert.deepEqual(launched.stdout, [])
    } finally {
      killGroup(launched)
    }
  })
})

describe("a benchmark's run processes (bench/_processes.ts)", () => {
  it(
    "SIGTERM to the benchmark kills its runs' processes, and it exits with 143",
    slow,
    async () => {
      // A benchmark runner whose run is 2 copies at once of a process that
      // writes its pid and idles: without the runner's guard, a SIGTERM ends the
      // runner and leaves both copies running (checked).
      const dir = mkdtempSync(join(tmpdir(), "roam-bench-signal-"))
      const pidFile = (id: number) => join(dir, `pid-${id}`)
      const idle = join(dir, "idle.ts")
      writeFileSync(
        idle,
        `import { writeFileSync } from "node:fs"\nimport process from "node:process"\n` +
          `writeFileSync(process.argv[2], String(process.pid))\nsetInterval(() => {}, 1000)\n`,
      )
      const runner = join(dir, "runner.ts")
      const processes = new URL("../bench/_processes.ts", import.meta.url).href
      writeFileSync(
        runner,
        `import { runForJson } from ${JSON.stringify(processes)}\n` +
          `await runForJson({ task: ${JSON.stringify(idle)}, args: [${
            JSON.stringify(join(dir, "pid-{node}"))
          }], template: ${JSON.stringify(join(dir, "out-{node}.json"))}, ` +
          `processes: { concurrent: 2 }, runtime: ${
            JSON.stringify(thisRuntime)
          }, timeoutMs: 60000 })\n` +
          `console.log("the run ended")\n`,
      )
      const launched = startLauncher([], runner)
      let exited = false
      launched.exited.then(() => exited = true)
      const pids = () =>
        [0, 1].filter((id) => existsSync(pidFile(id)))
          .map((id) => Number(readFileSync(pidFile(id), "utf8"))).filter((pid) => pid > 0)
      try {
        await until(() => pids().length === 2 || exited, UP_MS_MAX)
        const copies = pids()
        launched.nodePids.push(...copies)
        assert.equal(copies.length, 2, launched.lines.join("\n"))
        process.kill(launched.proc.pid!, "SIGTERM")
        await until(() => exited, EXIT_MS_MAX)
        const exit = exited ? await launched.exited : "still running"
        await until(() => !copies.some(isAlive), GONE_MS_MAX)
        assert.deepEqual(
          { exit, alive: copies.filter(isAlive) },
          { exit: { code: 143, signal: null }, alive: [] },
          launched.lines.join("\n"),
        )
        assert.ok(!launched.lines.includes("the run ended"), "the benchmark did not carry on")
      } finally {
        killGroup(launched)
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )
})
