/**
 * Round-trip latency for the transport benchmark: a one-key `pull` answered
 * by another node, against a raw `ws` echo of the same payload as baseline.
 *
 * Two setups. In one process, both nodes (and the echo server) share this
 * event loop, so each round trip pays for both ends on one thread. Across two
 * processes, the other node is `bench/_latency_peer.ts` in a child process
 * (Deno or Bun, `peerRuntime`), joined through `Cluster.start` exactly as a
 * launched node joins: this is the figure a real cluster sees on one machine.
 *
 * Each figure is a warm-up, then `pulls` timed round trips taken in blocks
 * that alternate between the echo and the pull, so a slow spell of the
 * machine hits both. Pulls go one at a time (each awaited before the next):
 * this is latency, not throughput. The pulled key is owned by the other node
 * under `static`, and the node's counters confirm every timed pull went remote.
 *
 * The child process is always reaped: on success it exits by itself after the
 * final barrier; on any error, or if it lingers, it is killed (SIGKILL), and a
 * process exit hook kills it if this process ends some other way.
 */
import { type ChildProcess, spawn } from "node:child_process"
import process from "node:process"
import { fileURLToPath } from "node:url"
import { WebSocket } from "ws"
import { Cluster, type Worker } from "../mod.ts"
import { freePort, newSecret, runtimeCommand } from "../runtime/launch.ts"
import {
  ECHO_BYTES,
  LATENCY_KEY,
  LATENCY_POLICY,
  LATENCY_TABLES,
  startEcho,
} from "./_latency_peer.ts"

export type Runtime = "deno" | "bun"

export interface Percentiles {
  readonly p50Ms: number
  readonly p99Ms: number
  readonly meanMs: number
}

export interface LatencyFigures {
  readonly roundTrips: number
  readonly ws: Percentiles
  readonly roam: Percentiles
}

export interface LatencyOptions {
  /** Timed round trips of each kind. */
  readonly pulls: number
  /** Untimed round trips of each kind first. */
  readonly warmup: number
}

/** Blocks per figure, alternating echo and pull. */
const BLOCKS = 10
/** How long the peer process may take to exit after the final barrier before it is killed. */
const PEER_EXIT_MS_MAX = 10_000
/** How long the nodes may take to link (the child process starts a runtime first). */
const CONNECT_TIMEOUT_MS = 20_000

const peerScript = fileURLToPath(new URL("./_latency_peer.ts", import.meta.url))

/** Nearest-rank percentiles (the smallest time at or above which a share q of times fall). */
export function percentiles(times: number[]): Percentiles {
  const sorted = [...times].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.max(0, Math.ceil(sorted.length * q) - 1)]
  return {
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    meanMs: sorted.reduce((s, t) => s + t, 0) / sorted.length,
  }
}

/** A raw `ws` client that sends one message and waits for its echo, `count` times. */
async function openEchoClient(url: string) {
  const socket = new WebSocket(url)
  socket.binaryType = "arraybuffer"
  let answered: (() => void) | undefined
  let closed: Error | undefined
  // A round trip in flight when the socket closes (the peer died) fails, rather than waiting forever.
  let fail: ((error: Error) => void) | undefined
  socket.on("message", () => answered?.())
  socket.on("close", () => {
    closed = new Error(`the echo connection to ${url} closed`)
    fail?.(closed)
  })
  await new Promise<void>((resolve, reject) => {
    socket.on("open", () => resolve())
    socket.on("error", reject)
  })
  const message = new Uint8Array(ECHO_BYTES)
  return {
    async run(count: number, times?: number[]): Promise<void> {
      for (let i = 0; i < count; i++) {
        const start = performance.now()
        await new Promise<void>((resolve, reject) => {
          if (closed) return reject(closed)
          answered = resolve
          fail = reject
          socket.send(message)
        })
        times?.push(performance.now() - start)
      }
    },
    close: () => socket.close(),
  }
}

/**
 * Time `pulls` one-key pulls and echoes against the other node and its echo
 * server, then enter the barrier that releases the other node.
 */
async function measure(
  cluster: Cluster,
  echoUrl: string,
  options: LatencyOptions,
): Promise<LatencyFigures> {
  const node = cluster.localNodes.find((n) => n.id === 0)!
  const worker: Worker = node.worker()
  const figures = await timeRoundTrips(node, worker, echoUrl, options)
  // The other node waits at this barrier until everything is measured.
  await worker.barrier()
  return figures
}

async function timeRoundTrips(
  node: Cluster["localNodes"][number],
  worker: Worker,
  echoUrl: string,
  options: LatencyOptions,
): Promise<LatencyFigures> {
  const keys = Uint32Array.of(LATENCY_KEY)
  const out = new Float32Array(LATENCY_TABLES[0].length)
  const pull = async (count: number, times?: number[]) => {
    for (let i = 0; i < count; i++) {
      const start = performance.now()
      await worker.pull(keys, out)
      times?.push(performance.now() - start)
    }
  }
  const echo = await openEchoClient(echoUrl)
  try {
    await echo.run(options.warmup)
    await pull(options.warmup)
    const echoTimes: number[] = []
    const pullTimes: number[] = []
    const remoteBefore = node.stats().pullKeysRemote
    const block = Math.max(1, Math.ceil(options.pulls / BLOCKS))
    for (let done = 0; done < options.pulls; done += block) {
      const count = Math.min(block, options.pulls - done)
      await echo.run(count, echoTimes)
      await pull(count, pullTimes)
    }
    const remote = node.stats().pullKeysRemote - remoteBefore
    if (remote !== options.pulls) {
      throw new Error(`only ${remote} of ${options.pulls} timed pulls went to the other node`)
    }
    return { roundTrips: options.pulls, ws: percentiles(echoTimes), roam: percentiles(pullTimes) }
  } finally {
    echo.close()
  }
}

/** Both nodes, and the echo server, in this process. */
export async function latencyInProcess(options: LatencyOptions): Promise<LatencyFigures> {
  const [port0, port1, echoPort] = await Promise.all([freePort(), freePort(), freePort()])
  const peers = [port0, port1].map((p) => `ws://127.0.0.1:${p}`)
  const secret = newSecret()
  const echo = await startEcho(echoPort)
  try {
    const clusters = await Promise.all([0, 1].map((id) =>
      Cluster.start({
        nodes: 2,
        tables: LATENCY_TABLES,
        policy: LATENCY_POLICY,
        id,
        peers,
        secret,
      })
    ))
    // Node 1 waits at the barrier that node 0 enters once it has measured.
    const release = clusters[1].localNodes[0].worker().barrier()
    release.catch(() => {}) // On an error, closing fails it; the error that matters is thrown below.
    try {
      const figures = await measure(clusters[0], `ws://127.0.0.1:${echoPort}`, options)
      await release
      return figures
    } finally {
      await Promise.all(clusters.map((c) => c.close()))
    }
  } finally {
    await echo.close()
  }
}

/** Node 0 in this process, node 1 (and the echo server) in a child process on `peerRuntime`. */
export async function latencyTwoProcesses(
  peerRuntime: Runtime,
  options: LatencyOptions,
): Promise<LatencyFigures> {
  const [port0, port1, echoPort] = await Promise.all([freePort(), freePort(), freePort()])
  const peers = [port0, port1].map((p) => `ws://127.0.0.1:${p}`)
  const secret = newSecret()
  const peer = spawnPeer(peerRuntime, { peers, secret, echoPort })
  let ok = false
  try {
    const starting = Cluster.start({
      nodes: 2,
      tables: LATENCY_TABLES,
      policy: LATENCY_POLICY,
      config: { connectTimeoutMs: CONNECT_TIMEOUT_MS },
      id: 0,
      peers,
      secret,
    })
    let linked = false
    const peerDied = peer.exited.then((code) => {
      if (linked) return undefined as never
      // The link can no longer form: stop waiting, and close the node should it form anyway.
      starting.then((c) => c.close(), () => {})
      throw new Error(`the peer process exited (${code}) before linking:\n${peer.output()}`)
    })
    peerDied.catch(() => {}) // Once the race is decided, a later exit is for `stop` to judge.
    const cluster = await Promise.race([starting, peerDied])
    linked = true
    try {
      const figures = await measure(cluster, `ws://127.0.0.1:${echoPort}`, options)
      ok = true
      return figures
    } finally {
      await cluster.close()
    }
  } finally {
    await peer.stop(ok)
  }
}

interface Peer {
  /** Resolves with the exit code (or signal) once the child has exited. */
  readonly exited: Promise<number | string>
  /** What the child printed, for error messages. */
  output(): string
  /**
   * Reap the child: after a run that went well, wait for it to exit by itself
   * (it must exit 0); otherwise, or if it takes longer than
   * `PEER_EXIT_MS_MAX`, kill it.
   */
  stop(ok: boolean): Promise<void>
}

function spawnPeer(
  runtime: Runtime,
  place: { peers: string[]; secret: string; echoPort: number },
): Peer {
  const [bin, ...args] = runtimeCommand(runtime, peerScript, [String(place.echoPort)])
  const child: ChildProcess = spawn(bin, args, {
    env: {
      ...process.env,
      ROAM_NODE_ID: "1",
      ROAM_PEERS: place.peers.join(","),
      ROAM_SECRET: place.secret,
    },
    stdio: ["ignore", "pipe", "pipe"],
  })
  const lines: string[] = []
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding("utf8")
    stream.on("data", (chunk: string) => lines.push(chunk))
  }
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  // Last resort: whatever ends this process, the child does not outlive it.
  process.once("exit", kill)
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
    child.once("error", (error) => resolve(`could not start: ${error.message}`))
  })
  exited.then(() => process.removeListener("exit", kill))
  const output = () => {
    const text = lines.join("").trimEnd()
    return text === "" ? "  (the peer printed nothing)" : text.replace(/^/gm, "  [peer] ")
  }
  return {
    exited,
    output,
    async stop(ok) {
      if (!ok) kill()
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), PEER_EXIT_MS_MAX)
      })
      const code = await Promise.race([exited, late])
      clearTimeout(timer)
      if (code === "late") {
        kill()
        await exited
        throw new Error(`the peer process did not exit within ${PEER_EXIT_MS_MAX} ms; killed it`)
      }
      if (ok && code !== 0) {
        throw new Error(`the peer process exited with ${code}:\n${output()}`)
      }
    },
  }
}
