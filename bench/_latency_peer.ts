/**
 * The far end of the transport benchmark's round-trip figures.
 *
 * `bench/transport.ts` times one-key pulls against a key owned by another node
 * and, as their baseline, a raw `ws` echo of a message of the same size. The
 * other end runs either in the bench's own process or, for the two-process
 * figures, as this script in a child process (Deno or Bun):
 *
 *   ROAM_NODE_ID=1 ROAM_PEERS=ws://…,ws://… ROAM_SECRET=… deno run -A bench/_latency_peer.ts ECHO_PORT
 *
 * It opens the echo server on ECHO_PORT, joins the cluster as node 1 through
 * `Cluster.start` (placement from the environment, as under the launcher),
 * then waits at a barrier that the bench, node 0, enters once it has measured
 * everything; then it closes and exits 0. If the bench process dies first, the
 * barrier fails with `PeerLost` and this process exits 1, so it never outlives
 * the bench. The constants both ends must agree on live here.
 */
import process from "node:process"
import { type WebSocket, WebSocketServer } from "ws"
import { Cluster, type ClusterOptions } from "../mod.ts"

/** One table of 16 keys of 16 floats: a pull answer carries 64 bytes of values. */
export const LATENCY_TABLES: ClusterOptions["tables"] = [{ name: "w", keys: 16, length: 16 }]
/** The key pulled: its home is node 1 (home = key mod nodes), and `static` never moves it. */
export const LATENCY_KEY = 1
export const LATENCY_POLICY = "static"
/** The raw baseline's message: the size of the values a pull brings back. */
export const ECHO_BYTES = 64

/** A raw `ws` server on loopback that sends every binary message back; resolves once listening. */
export async function startEcho(port: number): Promise<{ close(): Promise<void> }> {
  const server = new WebSocketServer({ host: "127.0.0.1", port })
  server.on("connection", (socket: WebSocket) => {
    socket.binaryType = "arraybuffer"
    socket.on("message", (data: ArrayBuffer) => socket.send(data))
  })
  await new Promise<void>((resolve, reject) => {
    server.once("listening", () => resolve())
    server.once("error", reject)
  })
  return {
    close: () => {
      for (const client of server.clients) client.terminate()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

if (import.meta.main) {
  const echoPort = Number(process.argv[2])
  if (!Number.isInteger(echoPort) || echoPort <= 0) {
    console.error("usage: _latency_peer.ts ECHO_PORT (with ROAM_NODE_ID, ROAM_PEERS, ROAM_SECRET)")
    process.exit(2)
  }
  const echo = await startEcho(echoPort)
  const cluster = await Cluster.start({ nodes: 2, tables: LATENCY_TABLES, policy: LATENCY_POLICY })
  try {
    await cluster.localNodes[0].worker().barrier()
  } finally {
    await cluster.close()
    await echo.close()
  }
}
