/**
 * Helpers for the WebSocket transport tests: a cluster of endpoints on
 * loopback in this process, wrapped so that `settle` knows how many frames
 * each link still owes, and a log that tests can read instead of stderr.
 */
import { WebSocket } from "ws"
import { defaultConfig, type RoamConfigShape } from "../runtime/config.ts"
import { controlText, importSecret, newNonce, parseControl, prove } from "../runtime/handshake.ts"
import type { Endpoint, FrameHandler } from "../runtime/transport.ts"
import { WsEndpoint, type WsEndpointOptions } from "../runtime/ws_transport.ts"
import type { TransportHarness } from "./transport_conformance.ts"

export const SECRET = "roam-test-secret"
const SETTLE_MS_MAX = 20_000

export interface WsCluster {
  readonly endpoints: WsEndpoint[]
  readonly log: string[]
  close(): Promise<void>
}

/** `nodes` endpoints on loopback, linked; `overrides` per node id. */
export async function startEndpoints(
  nodes: number,
  options: {
    config?: Partial<RoamConfigShape>
    secretOf?: (id: number) => string
    tls?: WsEndpointOptions["tls"]
  } = {},
): Promise<WsCluster> {
  const log: string[] = []
  // Tests close single nodes of running clusters; they need not wait 5 s for a `bye`.
  const config = { ...defaultConfig, leaveTimeoutMs: 300, ...options.config }
  const endpoints = await Promise.all(
    Array.from({ length: nodes }, (_, id) =>
      WsEndpoint.listen({
        id,
        nodes,
        secret: options.secretOf?.(id) ?? SECRET,
        config,
        tls: options.tls,
        log: (m) => log.push(m),
      })),
  )
  const urls = endpoints.map((e) => e.url)
  const close = async () => {
    await Promise.all(endpoints.map((e) => e.close()))
  }
  try {
    await Promise.all(endpoints.map((e) => e.connect(urls)))
  } catch (error) {
    await close()
    throw error
  }
  return { endpoints, log, close }
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `done` every few milliseconds; throws `what` after `limitMs`. */
export async function waitFor(done: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const start = performance.now()
  while (!done()) {
    if (performance.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`)
    await delay(2)
  }
}

/**
 * The conformance harness: endpoints whose sends and deliveries are counted
 * per link, so that `settle` waits exactly until every frame sent between two
 * open endpoints has arrived (frames to a closed endpoint are never waited for).
 */
export async function wsHarness(
  nodes: number,
  config: Partial<RoamConfigShape> = {},
): Promise<TransportHarness> {
  const cluster = await startEndpoints(nodes, { config })
  const sent = Array.from({ length: nodes }, () => new Array<number>(nodes).fill(0))
  const got = Array.from({ length: nodes }, () => new Array<number>(nodes).fill(0))
  const closed = new Array<boolean>(nodes).fill(false)
  const wrapped: Endpoint[] = cluster.endpoints.map((inner, i) => ({
    nodeId: inner.nodeId,
    nodes: inner.nodes,
    send(to, frame) {
      inner.send(to, frame)
      sent[i][to]++
    },
    onFrame(handler: FrameHandler) {
      inner.onFrame((from, frame) => {
        got[from][i]++
        return handler(from, frame)
      })
    },
    onPeerLost: (handler) => inner.onPeerLost(handler),
    close() {
      closed[i] = true
      return inner.close()
    },
  }))
  const owed = () => {
    let frames = 0
    for (let from = 0; from < nodes; from++) {
      for (let to = 0; to < nodes; to++) {
        if (!closed[from] && !closed[to]) frames += sent[from][to] - got[from][to]
      }
    }
    return frames
  }
  return {
    endpoint: (i) => wrapped[i],
    settle: () => waitFor(() => owed() === 0, "every frame to arrive", SETTLE_MS_MAX),
    close: () => cluster.close(),
  }
}

/** A bare `ws` client and the close code it ends with. */
export interface RawClient {
  readonly socket: InstanceType<typeof WebSocket>
  readonly texts: string[]
  readonly closed: Promise<number>
}

/** Open a bare WebSocket to `url` (no handshake). */
export async function rawConnect(url: string): Promise<RawClient> {
  const socket = new WebSocket(url)
  socket.on("error", () => {})
  const texts: string[] = []
  const closed = new Promise<number>((resolve) =>
    socket.on("close", (code: number) => resolve(code))
  )
  socket.on("message", (data: unknown, isBinary: boolean) => {
    if (!isBinary) texts.push(String(data))
  })
  await new Promise<void>((resolve, reject) => {
    socket.on("open", () => resolve())
    closed.then(() => reject(new Error(`could not connect to ${url}`)))
  })
  return { socket, texts, closed }
}

/**
 * Dial `url` as node `from` and run the dialer's side of the handshake by
 * hand, proving with `secret` without checking the listener's proof. Resolves
 * after `ready`; rejects if the listener closes the connection first.
 */
export async function rawDial(
  url: string,
  ids: { from: number; to: number },
  secret: string,
): Promise<RawClient> {
  const key = await importSecret(secret)
  const client = await rawConnect(url)
  const next = async (count: number) => {
    let closed = false
    client.closed.then(() => (closed = true))
    await waitFor(() => client.texts.length >= count || closed, "a handshake message")
    const message = parseControl(client.texts[count - 1] ?? "")
    if (message === undefined) throw new Error(`the listener closed the handshake`)
    return message
  }
  client.socket.send(controlText({ t: "hello", ...ids, nonce: newNonce(), shape: "" }))
  const challenge = await next(1)
  if (challenge.t !== "challenge") throw new Error(`expected a challenge, got ${challenge.t}`)
  const proof = await prove(key, { prover: ids.from, verifier: ids.to }, challenge.nonce)
  client.socket.send(controlText({ t: "proof", proof }))
  const ready = await next(2)
  if (ready.t !== "ready") throw new Error(`expected ready, got ${ready.t}`)
  return client
}
