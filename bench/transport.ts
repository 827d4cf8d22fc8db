/**
 * Transport benchmark: roam's WebSocket links against plain `ws` in the same
 * run, on loopback, plus the pull round trip between two nodes.
 *
 *   ./node_modules/.bin/deno run -A bench/transport.ts
 *   ./node_modules/.bin/bun run bench/transport.ts
 *
 * Throughput: one sender streams frames of 4 KiB and 1 MiB to one receiver,
 * timed until the last frame arrives; roam's figure includes its send queue,
 * frame check (accept-all here: the codec check is the node's cost, not the
 * transport's) and delivery. Latency: p50/p99 of a one-key `pull` answered by
 * the other node, both nodes in this process (one event loop serves both
 * ends, so this is an upper bound on the two-process figure).
 */
import { WebSocket, WebSocketServer } from "ws"
import { defaultConfig } from "../runtime/config.ts"
import { WsEndpoint } from "../runtime/ws_transport.ts"
import { Cluster } from "../mod.ts"

const runtime = "Bun" in globalThis ? "bun" : "deno"
const cases = [
  { bytes: 4 * 1024, frames: 40_000 },
  { bytes: 1024 * 1024, frames: 400 },
]

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
    [0, 1].map((id) =>
      WsEndpoint.listen({ id, nodes: 2, secret: "bench", config, checkFrame: () => {} })
    ),
  )
  const urls = endpoints.map((e) => e.url)
  await Promise.all(endpoints.map((e) => e.connect(urls)))
  let got = 0
  let done!: () => void
  const finished = new Promise<void>((resolve) => (done = resolve))
  endpoints[1].onFrame(() => ++got === frames && done())
  const start = performance.now()
  for (let i = 0; i < frames; i++) endpoints[0].send(1, new Uint8Array(bytes))
  await finished
  const ms = performance.now() - start
  await Promise.all(endpoints.map((e) => e.close()))
  return ms
}

async function pullLatency(rounds: number): Promise<{ p50: number; p99: number }> {
  const ports = await Promise.all([0, 1].map(async () => {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 })
    await new Promise<void>((resolve) => server.once("listening", () => resolve()))
    const port = (server.address() as { port: number }).port
    await new Promise<void>((resolve) => server.close(() => resolve()))
    return port
  }))
  const peers = ports.map((p) => `ws://127.0.0.1:${p}`)
  const tables = [{ name: "w", keys: 16, length: 16 }]
  const clusters = await Promise.all(
    [0, 1].map((id) =>
      Cluster.start({ nodes: 2, tables, policy: "static", id, peers, secret: "bench" })
    ),
  )
  const worker = clusters[0].localNodes[0].worker()
  const out = new Float32Array(16)
  const times: number[] = []
  for (let i = 0; i < rounds; i++) {
    const start = performance.now()
    await worker.pull([1], out) // key 1 lives at node 1
    times.push(performance.now() - start)
  }
  await Promise.all(clusters.map((c) => c.close()))
  times.sort((a, b) => a - b)
  return { p50: times[Math.floor(rounds * 0.5)], p99: times[Math.floor(rounds * 0.99)] }
}

console.log(`transport benchmark (${runtime}, loopback)`)
for (const { bytes, frames } of cases) {
  // Warm up both paths once, then measure.
  await rawWs(bytes, Math.ceil(frames / 10))
  await roam(bytes, Math.ceil(frames / 10))
  const raw = await rawWs(bytes, frames)
  const ours = await roam(bytes, frames)
  const mb = (frames * bytes) / (1 << 20)
  const row = (name: string, ms: number) =>
    `  ${name.padEnd(5)} ${String(bytes >> 10).padStart(5)} KiB frames: ` +
    `${Math.round(frames / (ms / 1000)).toString().padStart(8)} frames/s ` +
    `${(mb / (ms / 1000)).toFixed(0).padStart(6)} MB/s`
  console.log(row("ws", raw))
  console.log(row("roam", ours) + `   (${(raw / ours).toFixed(2)}x raw ws)`)
}
const { p50, p99 } = await pullLatency(2_000)
console.log(
  `  pull round trip (1 key, 64 B, two nodes in one process): p50 ${p50.toFixed(3)} ms, p99 ${
    p99.toFixed(3)
  } ms`,
)
