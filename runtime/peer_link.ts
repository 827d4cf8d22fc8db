/**
 * One WebSocket connection between two nodes, from its first byte to its close.
 *
 * A `PeerLink` starts in `handshake` (see `handshake.ts`), becomes `open` once
 * both sides are authenticated, and ends `closed`. It owns the link's send
 * side: frames go straight to the socket while the socket's `bufferedAmount`
 * is under `linkBufferedBytesMax`, and wait in a FIFO send queue otherwise;
 * the queue drains as the socket reports writes done (the `send` callback).
 * The queue is bounded by `linkQueueBytesMax`: a peer that falls that far
 * behind is treated as failed and its link closed, rather than letting memory
 * grow without bound (Deno's and Bun's sockets both buffer without limit,
 * so the limit must be ours).
 *
 * It also records when the link last carried anything in each direction, on
 * the endpoint's clock (`now`), and runs the heartbeat and the silence check
 * when the endpoint's heartbeat fiber ticks (`heartbeats.ts`).
 */

/** The part of a `ws` socket (npm `ws` in Deno, Bun's built-in one in Bun) that roam uses. */
export interface WsSocket {
  binaryType: string
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: Uint8Array | string, callback?: (error?: Error) => void): void
  close(code?: number, reason?: string): void
  terminate(): void
  on(event: "open", listener: () => void): void
  on(event: "message", listener: (data: ArrayBuffer | Uint8Array, isBinary: boolean) => void): void
  on(event: "close", listener: (code: number, reason: unknown) => void): void
  on(event: "error", listener: (error: Error) => void): void
}

const OPEN = 1
/** WebSocket close reasons are limited to 123 bytes; keep well under it. */
const CLOSE_REASON_CHARS_MAX = 100

export interface LinkLimits {
  readonly linkBufferedBytesMax: number
  readonly linkQueueBytesMax: number
}

export interface LinkEvents {
  message(link: PeerLink, data: ArrayBuffer | Uint8Array, isBinary: boolean): void
  /** The link ended; `byUs` is false when the peer or the network ended it. */
  closed(link: PeerLink, reason: string, byUs: boolean): void
}

export type LinkState = "handshake" | "open" | "closed"

export class PeerLink {
  state: LinkState = "handshake"
  /** The node at the other end, once known (dialer: from the start; listener: after hello). */
  peer = -1
  /** Whether this side dialled (the lower id); the other side listened. */
  dialer = false
  /** The peer said `bye`: it is closing and sends no more frames. */
  peerLeft = false
  /** Set by the handshake code while it awaits Web Crypto; a message meanwhile is a violation. */
  busy = false
  /** Handshake step data (the nonce this side sent). */
  nonce = ""
  lastHeardMs: number
  lastSentMs: number
  readonly openedMs: number
  /** Resolves once the socket has closed. */
  readonly socketClosed: Promise<void>

  private queue: Array<Uint8Array | string> = []
  private head = 0
  private queuedBytes = 0

  constructor(
    readonly socket: WsSocket,
    private readonly limits: LinkLimits,
    private readonly events: LinkEvents,
    /** The endpoint's clock, in monotonic milliseconds: the same time line its ticks use. */
    private readonly now: () => number,
  ) {
    this.lastHeardMs = this.lastSentMs = this.openedMs = now()
    socket.binaryType = "arraybuffer"
    let markClosed!: () => void
    this.socketClosed = new Promise((resolve) => (markClosed = resolve))
    socket.on("message", (data, isBinary) => {
      if (this.state === "closed") return
      // Anything the peer sends, frame or control message, shows it is alive.
      this.lastHeardMs = this.now()
      this.events.message(this, data, isBinary)
    })
    socket.on("close", (code, reason) => {
      markClosed()
      this.end(`link closed by the peer or the network (code ${code} ${String(reason)})`, false)
    })
    // Without a listener, a socket error is an uncaught exception; the close
    // event that follows it ends the link.
    socket.on("error", (error) => {
      if (this.state !== "closed") this.end(`socket error: ${error.message}`, false)
    })
  }

  /** Queue a frame or a control message, in order behind everything sent before. */
  send(data: Uint8Array | string): void {
    if (this.state === "closed") return
    this.lastSentMs = this.now()
    if (
      this.head === this.queue.length &&
      this.socket.bufferedAmount < this.limits.linkBufferedBytesMax
    ) {
      this.socket.send(data, this.written)
      return
    }
    this.queue.push(data)
    this.queuedBytes += sizeOf(data)
    if (this.queuedBytes > this.limits.linkQueueBytesMax) {
      this.fail(4008, `send queue over linkQueueBytesMax (${this.limits.linkQueueBytesMax} bytes)`)
    }
  }

  /** Bytes waiting in this link's own queue (not yet handed to the socket). */
  get queued(): number {
    return this.queuedBytes
  }

  /** A write finished, so the socket's buffer shrank: move queued frames into it. */
  private readonly written = (): void => {
    const limit = this.limits.linkBufferedBytesMax
    while (
      this.state !== "closed" && this.head < this.queue.length &&
      this.socket.bufferedAmount < limit
    ) {
      const data = this.queue[this.head]
      this.queue[this.head++] = ""
      this.queuedBytes -= sizeOf(data)
      this.socket.send(data, this.written)
    }
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    }
  }

  /** Send a heartbeat if the link was idle `heartbeatMs`; fail it if silent past `peerTimeoutMs`. */
  heartbeat(
    nowMs: number,
    limits: { heartbeatMs: number; peerTimeoutMs: number },
    beat: string,
  ): void {
    const silentMs = nowMs - this.lastHeardMs
    if (silentMs > limits.peerTimeoutMs) {
      this.fail(
        4004,
        `silent for ${Math.round(silentMs)} ms (peerTimeoutMs ${limits.peerTimeoutMs})`,
      )
    } else if (nowMs - this.lastSentMs >= limits.heartbeatMs && this.socket.readyState === OPEN) {
      this.send(beat)
    }
  }

  /** Close the link because of something wrong on it; reported as a lost peer. */
  fail(code: number, reason: string): void {
    if (this.state === "closed") return
    this.closeSocket(code, reason)
    this.end(reason, false)
  }

  /** Close the link because this endpoint is closing; not reported. */
  shutdown(): void {
    if (this.state === "closed") return
    this.end("endpoint closed", true)
    this.closeSocket(1001, "node closing")
  }

  private closeSocket(code: number, reason: string): void {
    try {
      if (this.socket.readyState === OPEN) {
        this.socket.close(code, reason.slice(0, CLOSE_REASON_CHARS_MAX))
      } else this.socket.terminate()
    } catch {
      // The socket may already be gone; the link is closed either way.
    }
  }

  private end(reason: string, byUs: boolean): void {
    if (this.state === "closed") return
    this.state = "closed"
    this.queue = []
    this.head = this.queuedBytes = 0
    this.events.closed(this, reason, byUs)
  }
}

const sizeOf = (data: Uint8Array | string): number =>
  typeof data === "string" ? data.length : data.byteLength
