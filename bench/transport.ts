/**
 * Transport benchmark: roam's WebSocket links against plain `ws` in the same
 * run, on loopback, plus the pull round trip between two nodes, in one
 * process and across two processes.
 *
 *   ./node_modules/.bin/deno run -A bench/transport.ts [--peer-runtime deno|bun] [--json FILE]
 *   ./node_modules/.bin/bun run bench/transport.ts [--peer-runtime deno|bun] [--json FILE]
 *
 * Throughput: one sender streams frames of 4 KiB and 1 MiB to one receiver,
 * timed until the last frame arrives; roam's figure includes its send queue,
 * frame check (accept-all here: the codec check is the node's cost, not the
 * transport's) and delivery. Each size runs `--rounds` times, raw `ws` and
 * roam in alternating order (A B, B A, ...); the figures are medians, and the
 * ratio is the median of the per-round ratios.
 *
 * Latency (`_latency.ts`): p50/p99 of a one-key `pull` answered by the other
 * node, next to a raw `ws` echo of the same payload. In one process both ends
 * share one event loop; across two processes the other node is a child
 * process (`_latency_peer.ts`) on `--peer-runtime` (default: this runtime),
 * so Deno and Bun nodes can be timed against each other.
 *
 * `--json FILE` writes every figure (frames/s, MiB/s, ratios, p50/p99) to FILE.
 */
import { writeFileSync } from "node:fs"
import { cpus } from "node:os"
import process from "node:process"
import { parseArgs } from "node:util"
import { WebSocket, WebSocketServer } from "ws"
import { defaultConfig } from "../runtime/config.ts"
import { WsEndpoint } from "../runtime/ws_transport.ts"
import {
  type LatencyFigures,
  latencyInProcess,
  latencyTwoProcesses,
  type Percentiles,
  type Runtime,
} from "./_latency.ts"
import { median } from "./_harness.ts"
import { ECHO_BYTES } from "./_latency_peer.ts"

const runtime: Runtime = "Bun" in globalThis ? "bun" : "deno"
const cases = [
  { bytes: 4 * 1024, frames: 40_000 },
  { bytes: 1024 * 1024, frames: 400 },
]
const usage = "usage: transport.ts [--peer-runtime deno|bun] [--json FILE] " +
  "[--rounds N] [--pulls N] [--warmup N]"

function parseOptions() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      "peer-runtime": { type: "string", default: runtime },
      json: { type: "string" },
      rounds: { type: "string", default: "3" },
      pulls: { type: "string", default: "5000" },
      warmup: { type: "string", default: "500" },
    },
  })
  const peerRuntime = values["peer-runtime"]
  if (peerRuntime !== "deno" && peerRuntime !== "bun") throw new Error(usage)
  const count = (name: "rounds" | "pulls" | "warmup", min: number) => {
    const n = Number(values[name])
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`)
    return n
  }
  return {
    peerRuntime: peerRuntime as Runtime,
    json: values.json,
    rounds: count("rounds", 1),
    pulls: count("pulls", 100),
    warmup: count("warmup", 0),
  }
}

async function rawWs(bytes: number, frames: number): Promise<number> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 1 << 28 })
  await new Promise<void>((resolve) => server.once("listening", () => resolve()))
  const port = (server.address() as { port: number }).port
  let got = 0
  let done!: () => void
  const finished = new Promise<void>((resolve) => (done = resolve))
  server.on("connection", (socket: WebSocket) => {
    socket.binaryType = "arraybuffer"
    socket.on("message", () => ++got === frames && done())
  })
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: 1 << 28 })
  await new Promise<void>((resolve) => client.on("open", () => resolve()))
  const start = performance.now()
  for (let i = 0; i < frames; i++) client.send(new Uint8Array(bytes))
  await finished
  const ms = performance.now() - start
  client.close()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return ms
}

async function roam(bytes: number, frames: number): Promise<number> {
  const config = { ...defaultConfig, linkQueueBytesMax: 1 << 30 }
  const endpoints = await Promise.all(
    [0, 1].map((id) => WsEndpoint.listen({ id, nodes: 2, secret: "bench", config })),
  )
  const urls = endpoints.map((e) => e.url)
  await Promise.all(endpoints.map((e) => e.connect(urls)))
  let got = 0
  let done!: () => void
  const finished = new Promise<void>((resolve) => (done = resolve))
  endpoints[1].onFrame(() => {
    ++got === frames && done()
  })
  const start = performance.now()
  for (let i = 0; i < frames; i++) endpoints[0].send(1, new Uint8Array(bytes))
  await finished
  const ms = performance.now() - start
  await Promise.all(endpoints.map((e) => e.close()))
  return ms
}

interface Rate {
  readonly framesPerSecond: number
  readonly mibPerSecond: number
}

interface ThroughputFigures {
  readonly frameBytes: number
  readonly frames: number
  readonly rounds: number
  readonly ws: Rate
  readonly roam: Rate
  /** roam's throughput over raw `ws`'s: the median of the per-round ratios, and their range. */
  readonly ratio: number
  readonly ratioMin: number
  readonly ratioMax: number
}

async function throughput(bytes: number, frames: number, rounds: number) {
  // Warm up both paths once, then alternate the order round by round.
  await rawWs(bytes, Math.ceil(frames / 10))
  await roam(bytes, Math.ceil(frames / 10))
  const wsMs: number[] = []
  const roamMs: number[] = []
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      wsMs.push(await rawWs(bytes, frames))
      roamMs.push(await roam(bytes, frames))
    } else {
      roamMs.push(await roam(bytes, frames))
      wsMs.push(await rawWs(bytes, frames))
    }
  }
  const rate = (ms: number): Rate => ({
    framesPerSecond: frames / (ms / 1000),
    mibPerSecond: (frames * bytes) / (1 << 20) / (ms / 1000),
  })
  const ratios = wsMs.map((ms, r) => ms / roamMs[r])
  return {
    frameBytes: bytes,
    frames,
    rounds,
    ws: rate(median(wsMs)),
    roam: rate(median(roamMs)),
    ratio: median(ratios),
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
  } satisfies ThroughputFigures
}

const ms = (x: number) => `${x.toFixed(3)} ms`
const percentileText = (p: Percentiles) => `p50 ${ms(p.p50Ms)}, p99 ${ms(p.p99Ms)}`

function printLatency(label: string, figures: LatencyFigures): void {
  console.log(`  ${label} (${figures.roundTrips} round trips each):`)
  console.log(`    ${`ws echo, ${ECHO_BYTES} B`.padEnd(24)} ${percentileText(figures.ws)}`)
  console.log(
    `    ${`roam pull, 1 key, ${ECHO_BYTES} B`.padEnd(24)} ${percentileText(figures.roam)}   ` +
      `(p50 ${(figures.roam.p50Ms / figures.ws.p50Ms).toFixed(2)}x ws echo)`,
  )
}

const options = parseOptions()
console.log(
  `transport benchmark (${runtime}, loopback, ${cpus().length} cores; ` +
    `peer process: ${options.peerRuntime})`,
)
const throughputs: ThroughputFigures[] = []
for (const { bytes, frames } of cases) {
  const t = await throughput(bytes, frames, options.rounds)
  throughputs.push(t)
  const row = (name: string, rate: Rate) =>
    `  ${name.padEnd(5)} ${String(bytes >> 10).padStart(5)} KiB frames: ` +
    `${Math.round(rate.framesPerSecond).toString().padStart(8)} frames/s ` +
    `${rate.mibPerSecond.toFixed(0).padStart(6)} MiB/s`
  console.log(row("ws", t.ws))
  console.log(
    row("roam", t.roam) +
      `   (${t.ratio.toFixed(2)}x raw ws; ${t.ratioMin.toFixed(2)}-${
        t.ratioMax.toFixed(2)
      } over ${t.rounds} rounds)`,
  )
}
const latencyOptions = { pulls: options.pulls, warmup: options.warmup }
const inProcess = await latencyInProcess(latencyOptions)
printLatency("round trip, two nodes in one process", inProcess)
const twoProcesses = await latencyTwoProcesses(options.peerRuntime, latencyOptions)
printLatency(`round trip, two processes (${runtime} -> ${options.peerRuntime})`, twoProcesses)

if (options.json !== undefined) {
  const report = {
    benchmark: "transport",
    runtime,
    peerRuntime: options.peerRuntime,
    cores: cpus().length,
    throughput: throughputs,
    latency: { inProcess, twoProcesses },
  }
  writeFileSync(options.json, JSON.stringify(report, null, 2) + "\n")
  console.log(`figures written to ${options.json}`)
}
