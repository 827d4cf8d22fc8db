/**
 * The WebSocket transport: one node's endpoint, with a link to every other node.
 *
 * `WsEndpoint.listen` opens a WebSocket server (loopback unless told
 * otherwise; `wss://` when given a certificate and key), and `connect` makes
 * one link per pair of nodes: the lower id dials the higher, and a listener
 * refuses a dialer with a higher id or a second link from a node it already
 * has one with, so two nodes dialling at once never end up with two links.
 * Each link authenticates with the cluster secret (`handshake.ts`) before a
 * single frame is accepted; a peer that sends a frame first, fails the proof
 * or times out is refused and logged.
 *
 * A binary WebSocket message carries one or more frames, the codec's bytes
 * unchanged (no JSON), each after its length: the frames a node sent one
 * peer in one turn, gathered by the link (`peer_link.ts`) into one write. Control
 * messages (the handshake, heartbeats) are text messages. WebSocket over TCP keeps each
 * link FIFO. The handler judges each frame it receives (the node decodes and
 * checks it once, `FrameHandler`): a malformed frame closes its link with a
 * logged reason, nothing after it on that link is delivered, and the endpoint
 * keeps serving the other links. Sending applies backpressure per
 * link (`peer_link.ts`).
 *
 * Failure detection: every `heartbeatMs` the endpoint's heartbeat fiber
 * (`heartbeats.ts`, an Effect program on a Schedule, forked into a scope that
 * `close()` closes) sends a heartbeat on each idle link and closes any link
 * silent for more than `peerTimeoutMs`. The fiber and the links' time stamps
 * run on one injected `Clock` (the live one unless a test passes a TestClock). A
 * link that closes for any reason but this endpoint's own `close()` reports
 * its peer through `onPeerLost`, once; a lost peer cannot rejoin (a restarted
 * process has lost the state the others expect of it). Frames sent to a lost
 * peer are dropped and counted.
 *
 * This module is the real implementation of the Transport service, so like
 * `memory_transport.ts` it may use timers for its one-shot waits (connect,
 * leave, dial retries).
 */
import type { Server as HttpsServer } from "node:https"
import { setImmediate } from "node:timers"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { WebSocket, type WebSocketServer } from "ws"
import { defaultConfig, type RoamConfigShape } from "./config.ts"
import {
  controlText,
  type HandshakeContext,
  handshakeStep,
  importSecret,
  newNonce,
  parseControl,
} from "./handshake.ts"
import { forkHeartbeats, monotonicMs } from "./heartbeats.ts"
import {
  type LinkEvents,
  messageBytesMax,
  PeerLink,
  splitMessage,
  type WsSocket,
} from "./peer_link.ts"
import { openServer } from "./ws_server.ts"
import {
  type Endpoint,
  type FrameHandler,
  type PeerLostHandler,
  TransportError,
} from "./transport.ts"

export interface WsEndpointOptions {
  /** This node's id and the number of nodes in the cluster. */
  readonly id: number
  readonly nodes: number
  /** The cluster secret every node shares (the launcher generates one per run). */
  readonly secret: string
  /**
   * What cluster this node runs (`clusterShape` in handshake.ts): a node that
   * dials with another is refused. Default "": the transport alone.
   */
  readonly shape?: string
  /** Interface to listen on (default 127.0.0.1: loopback only) and port (default 0: any free). */
  readonly host?: string
  readonly port?: number
  /** PEM certificate and key: serve `wss://`. `ca` is what dialers trust (for self-signed certificates). */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string }
  /** Limits and timings (defaults from `config.ts`). */
  readonly config?: RoamConfigShape
  /** Where refusals and lost links are reported (default console.warn). */
  readonly log?: (message: string) => void
  /**
   * The clock of the failure detector: the heartbeat fiber sleeps on it and
   * links are time-stamped with it (default: Effect's live clock).
   */
  readonly clock?: Clock.Clock
}

/** What an endpoint refused or lost, for tests and diagnostics. */
export interface WsEndpointCounters {
  framesDelivered: number
  framesDropped: number
  framesRejected: number
  connectionsRefused: number
}

/** Effect's live clock, read once: what endpoints run on unless given another. */
const liveClock: Clock.Clock = Effect.runSync(Clock.clockWith(Effect.succeed))

export class WsEndpoint implements Endpoint {
  readonly nodeId: number
  readonly nodes: number
  readonly counters: WsEndpointCounters = {
    framesDelivered: 0,
    framesDropped: 0,
    framesRejected: 0,
    connectionsRefused: 0,
  }
  private readonly config: RoamConfigShape
  private readonly log: (message: string) => void
  private readonly links: Array<PeerLink | undefined>
  private readonly lost = new Set<number>()
  private readonly pending = new Set<PeerLink>()
  private handler: FrameHandler | undefined
  private lostHandler: PeerLostHandler | undefined
  private backlog: Array<[PeerLink, Uint8Array]> = []
  private backlogBytes = 0
  private readonly unreportedLost: Array<[number, string]> = []
  private readonly linkWaiters = new Set<() => void>()
  private closed = false
  /** While closing: checks whether every peer has said `bye` (see `leave`). */
  private leaveCheck: (() => void) | undefined
  /** Owns the heartbeat fiber; `close()` closes it. */
  private readonly scope: Scope.Closeable = Scope.makeUnsafe()
  /** Monotonic milliseconds on the endpoint's clock. */
  private readonly nowMs: () => number
  private readonly events: LinkEvents
  private readonly handshake: HandshakeContext

  private constructor(
    private readonly options: WsEndpointOptions,
    private readonly key: CryptoKey,
    private readonly server: WebSocketServer,
    private readonly https: HttpsServer | undefined,
    /** The URL other nodes dial to reach this one. */
    readonly url: string,
  ) {
    this.nodeId = options.id
    this.nodes = options.nodes
    this.config = options.config ?? defaultConfig
    this.log = options.log ?? ((m) => console.warn(m))
    const clock = options.clock ?? liveClock
    this.nowMs = () => monotonicMs(clock)
    this.links = new Array(options.nodes).fill(undefined)
    this.events = {
      message: (link, data, isBinary) => this.onMessage(link, data, isBinary),
      closed: (link, reason, byUs) => this.onLinkClosed(link, reason, byUs),
    }
    this.handshake = {
      me: this.nodeId,
      key,
      shape: options.shape ?? "",
      refusal: (peer) =>
        this.closed
          ? "this node is closing"
          : this.lost.has(peer)
          ? `node ${peer} was lost and may not rejoin`
          : this.links[peer] !== undefined
          ? `node ${peer} already has a link`
          : undefined,
      open: (link) => this.open(link as PeerLink),
    }
    server.on("connection", (socket: WsSocket) => this.accept(socket))
    forkHeartbeats(this.scope, {
      tick: (now, judge) => this.tick(now, judge),
      heartbeatMs: this.config.heartbeatMs,
      clock,
    })
  }

  /** Open this node's server; links are made by `connect`. */
  static async listen(options: WsEndpointOptions): Promise<WsEndpoint> {
    const { id, nodes } = options
    if (!Number.isInteger(nodes) || nodes < 1 || !Number.isInteger(id) || id < 0 || id >= nodes) {
      throw new TransportError({ message: `node id ${id} is not in [0, ${nodes})` })
    }
    const key = await importSecret(options.secret)
    const host = options.host ?? "127.0.0.1"
    const maxPayload = messageBytesMax((options.config ?? defaultConfig).frameBytesMax)
    const { server, https, url } = await openServer({ ...options, host, maxPayload })
    return new WsEndpoint(options, key, server, https, url)
  }

  /**
   * Dial every node with a higher id (`peers[i]` is node i's URL; this node's
   * own entry is ignored) and wait until a link to every other node is open.
   * Rejects with `TransportError` when a handshake is refused or
   * `connectTimeoutMs` passes first.
   */
  connect(peers: readonly string[]): Promise<void> {
    if (peers.length !== this.nodes) {
      return Promise.reject(
        new TransportError({ message: `${peers.length} peer URLs for ${this.nodes} nodes` }),
      )
    }
    const deadline = this.nowMs() + this.config.connectTimeoutMs
    return new Promise<void>((resolve, reject) => {
      const timeout = setTimeout(() => {
        const missing = this.links.flatMap((l, i) =>
          i !== this.nodeId && l?.state !== "open" ? [i] : []
        )
        finish(
          new TransportError({
            message: `node ${this.nodeId}: no link to node(s) ${missing.join(", ")} after ` +
              `connectTimeoutMs (${this.config.connectTimeoutMs} ms)`,
          }),
        )
      }, this.config.connectTimeoutMs)
      const finish = (error?: TransportError) => {
        this.linkWaiters.delete(check)
        clearTimeout(timeout)
        if (error) reject(error)
        else resolve()
      }
      const check = () => {
        if (this.links.every((l, i) => i === this.nodeId || l?.state === "open")) finish()
      }
      this.linkWaiters.add(check)
      for (let peer = this.nodeId + 1; peer < this.nodes; peer++) {
        this.dial(peer, peers[peer], deadline, (message) => finish(new TransportError({ message })))
      }
      check()
    })
  }

  send(to: number, frame: Uint8Array): void {
    if (this.closed) {
      throw new TransportError({ message: `node ${this.nodeId} is closed and cannot send` })
    }
    if (!Number.isInteger(to) || to < 0 || to >= this.nodes || to === this.nodeId) {
      throw new TransportError({ message: `node ${this.nodeId} cannot send to node ${to}` })
    }
    const link = this.links[to]
    if (link === undefined || link.state !== "open") {
      this.counters.framesDropped++
      return
    }
    link.sendFrame(frame)
  }

  onFrame(handler: FrameHandler): void {
    if (this.closed) return
    this.handler = handler
    if (this.backlog.length === 0) return
    // Frames that came before the handler: deliver them after this call returns.
    setImmediate(() => {
      const backlog = this.backlog
      this.backlog = []
      this.backlogBytes = 0
      for (const [link, frame] of backlog) {
        if (!link.rejected) this.deliver(link, frame)
      }
    })
  }

  onPeerLost(handler: PeerLostHandler): void {
    if (this.closed) return
    this.lostHandler = handler
    for (const [peer, reason] of this.unreportedLost.splice(0)) handler(peer, reason)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.handler = this.lostHandler = undefined
    this.backlog = []
    await this.leave()
    await Effect.runPromise(Scope.close(this.scope, Exit.void))
    const links = [...this.pending, ...this.links.filter((l) => l !== undefined)]
    for (const link of links) link.shutdown()
    // A peer that never answers the close handshake must not keep this node open.
    const waits = links.map((link) =>
      Promise.race([link.socketClosed, delay(1_000).then(() => link.socket.terminate())])
    )
    await Promise.all(waits)
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
    if (this.https) await new Promise<void>((resolve) => this.https!.close(() => resolve()))
  }

  /**
   * Say `bye` on every open link, then wait (at most `leaveTimeoutMs`) until
   * every peer has said it too or its link has closed. Nodes at the end of a
   * run close at slightly different times; without this, a node that closes
   * first would look lost to one still finishing its last barrier (the
   * coordinator's release travels on another link and may come later). A node
   * that leaves a cluster still running is reported lost once it closes.
   * Heartbeats keep running meanwhile, so a peer that dies is still noticed.
   */
  private leave(): Promise<void> {
    const open = () =>
      this.links.filter((l): l is PeerLink => l !== undefined && l.state === "open")
    for (const link of open()) link.send(BYE)
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timeout)
        this.leaveCheck = undefined
        resolve()
      }
      const timeout = setTimeout(done, this.config.leaveTimeoutMs)
      this.leaveCheck = () => {
        if (open().every((l) => l.peerLeft)) done()
      }
      this.leaveCheck()
    })
  }

  // ------------------------------------------------------------------ links

  private dial(
    peer: number,
    url: string,
    deadline: number,
    fail: (message: string) => void,
  ): void {
    if (this.closed) return
    const socket = new WebSocket(url, {
      maxPayload: messageBytesMax(this.config.frameBytesMax),
      ...(this.options.tls?.ca ? { ca: this.options.tls.ca } : {}),
    }) as unknown as WsSocket
    const link = new PeerLink(socket, this.config, this.events, this.nowMs)
    link.peer = peer
    link.dialer = true
    link.nonce = newNonce()
    this.pending.add(link)
    let opened = false
    socket.on("open", () => {
      opened = true
      const { shape } = this.handshake
      link.send(controlText({ t: "hello", from: this.nodeId, to: peer, nonce: link.nonce, shape }))
    })
    socket.on("close", (_code: number, reason: unknown) => {
      if (this.closed || this.links[peer] !== undefined || this.lost.has(peer)) return
      // Not listening yet (the other process is still starting): try again shortly.
      if (!opened && this.nowMs() + DIAL_RETRY_MS < deadline) {
        setTimeout(() => this.dial(peer, url, deadline, fail), DIAL_RETRY_MS)
      } else if (opened) {
        // The listener's reason, when it gave one ("refused: ...").
        const why = String(reason ?? "")
        fail(`node ${this.nodeId}: node ${peer} refused the link (${url})${why ? `: ${why}` : ""}`)
      }
    })
  }

  private accept(socket: WsSocket): void {
    const link = new PeerLink(socket, this.config, this.events, this.nowMs)
    if (this.closed) return link.shutdown()
    if (this.pending.size >= this.config.handshakesPendingMax) {
      return this.refuse(link, "too many connections authenticating at once")
    }
    this.pending.add(link)
  }

  private refuse(link: PeerLink, reason: string): void {
    this.counters.connectionsRefused++
    this.log(`roam node ${this.nodeId}: refused a connection: ${reason}`)
    link.fail(4003, `refused: ${reason}`)
  }

  private onMessage(link: PeerLink, data: ArrayBuffer | Uint8Array, isBinary: boolean): void {
    if (link.state === "open") {
      if (isBinary) return this.receiveMessage(link, data)
      const message = parseControl(String(data))
      if (message?.t === "bye") {
        link.peerLeft = true
        this.leaveCheck?.()
      } else if (message?.t !== "beat") {
        link.fail(4002, "unexpected control message on an open link")
      }
      return
    }
    if (isBinary) return this.refuse(link, "a frame before authentication")
    if (link.busy) return this.refuse(link, "a message while the handshake was checking a proof")
    const message = parseControl(String(data))
    if (message === undefined) return this.refuse(link, "not a handshake message")
    link.busy = true
    handshakeStep(link, message, this.handshake).then(
      (refusal) => {
        link.busy = false
        if (refusal !== undefined && link.state !== "closed") this.refuse(link, refusal)
      },
      (error) => this.refuse(link, `handshake error: ${error}`),
    )
  }

  private open(link: PeerLink): void {
    this.pending.delete(link)
    link.state = "open"
    this.links[link.peer] = link
    for (const check of [...this.linkWaiters]) check()
  }

  /** Split a binary message into its frames and take each in order (`peer_link.ts`). */
  private receiveMessage(link: PeerLink, data: ArrayBuffer | Uint8Array): void {
    const message = data instanceof Uint8Array ? data : new Uint8Array(data)
    const fault = splitMessage(message, (frame) => {
      this.receiveFrame(link, frame)
      return link.state === "open"
    })
    if (fault !== undefined) this.rejectFrame(link, fault)
  }

  private rejectFrame(link: PeerLink, fault: string): void {
    this.counters.framesRejected++
    link.rejected = true
    const reason = `malformed frame from node ${link.peer}: ${fault}`
    this.log(`roam node ${this.nodeId}: closing the link: ${reason}`)
    link.fail(4002, reason)
  }

  private receiveFrame(link: PeerLink, frame: Uint8Array): void {
    if (this.closed || link.rejected) return
    if (this.handler === undefined) {
      // Bounded like a send queue: frames only wait here until the node installs its handler.
      this.backlogBytes += frame.byteLength
      if (this.backlogBytes > this.config.linkQueueBytesMax) {
        return link.fail(
          4008,
          "more than linkQueueBytesMax received before a handler was installed",
        )
      }
      this.backlog.push([link, frame])
    } else this.deliver(link, frame)
  }

  private deliver(link: PeerLink, frame: Uint8Array): void {
    if (this.handler === undefined) return
    const fault = this.handler(link.peer, frame)
    if (typeof fault === "string") this.rejectFrame(link, fault)
    else this.counters.framesDelivered++
  }

  private onLinkClosed(link: PeerLink, reason: string, byUs: boolean): void {
    this.pending.delete(link)
    if (this.links[link.peer] !== link) return
    this.links[link.peer] = undefined
    if (byUs || this.closed) return this.leaveCheck?.()
    if (link.peerLeft) reason = `node ${link.peer} left the cluster`
    this.lost.add(link.peer)
    this.log(`roam node ${this.nodeId}: lost node ${link.peer}: ${reason}`)
    if (this.lostHandler) this.lostHandler(link.peer, reason)
    else this.unreportedLost.push([link.peer, reason])
  }

  /**
   * The heartbeat fiber's step: heartbeats on idle links; close links silent
   * too long and handshakes that take too long.
   */
  /** Beat on idle links; when `judge` (no stall just before), fail silent links and handshakes. */
  private tick(now: number, judge: boolean): void {
    if (judge) {
      for (const link of this.pending) {
        if (now - link.openedMs > this.config.handshakeTimeoutMs) {
          this.refuse(link, `no authentication within handshakeTimeoutMs`)
        }
      }
    }
    const limits = judge ? this.config : { ...this.config, peerTimeoutMs: Infinity }
    for (const link of this.links) {
      if (link?.state === "open") link.heartbeat(now, limits, BEAT)
    }
  }
}

const BEAT = controlText({ t: "beat" })
const BYE = controlText({ t: "bye" })
/** Pause between dials of a node that is not listening yet. */
const DIAL_RETRY_MS = 100

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
