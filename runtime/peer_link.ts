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
 * Frames sent to the peer in one turn of the event loop leave as one binary
 * message: `sendFrame` gathers them and a microtask at the end of the turn
 * writes them out together (up to `COALESCE_BYTES_MAX`), so a node that
 * answers a burst of requests pays one socket write, not one per frame
 * (measured on the MF example over two processes under Bun: a write cost
 * about 16 µs, and a node sent some 20,000 frames a second). Not
 * `setImmediate`, which would gather across a turn's messages: a training
 * loop resumed by a frame runs its compute in the same microtask checkpoint,
 * and the replies that frame caused would wait for the loop's next yield.
 * Measured again once loops yielded every `workerSliceMs`: MF on 2 processes
 * under Bun took about 10% longer per epoch, while the policies benchmark,
 * whose workers do no compute, ran 15-30% faster (7x fewer messages).
 * Flushing before the node resumes a worker kept MF's loss and lost that
 * gain, so the gathering stays per turn. A binary
 * message is a sequence of frames, each after its byte length (u32, little
 * endian); `splitMessage` takes it apart and is the one place that reads it.
 * Frames are opaque bytes here (the endpoint's `checkFrame` judges them). A
 * control message first sends the frames gathered before it, so order is kept.
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
/** WebSocket close reasons are limited to 123 bytes of UTF-8. */
const CLOSE_REASON_BYTES_MAX = 123
const utf8 = new TextEncoder()

/** `reason`, shortened (by whole characters) to fit a close frame. */
function closeReason(reason: string): string {
  let text = reason
  while (utf8.encode(text).length > CLOSE_REASON_BYTES_MAX) text = text.slice(0, -1)
  return text
}

export interface LinkLimits {
  readonly linkBufferedBytesMax: number
  readonly linkQueueBytesMax: number
  /** The largest message the peer accepts (its `maxPayload`). */
  readonly frameBytesMax: number
}

/** The most frame bytes gathered into one message; a larger frame goes alone. */
const COALESCE_BYTES_MAX = 1 << 20
/** Bytes of the length before each frame in a message. */
const LENGTH_BYTES = 4

/** The largest message a link may carry: one frame of `frameBytesMax` and its length. */
export const messageBytesMax = (frameBytesMax: number): number => frameBytesMax + LENGTH_BYTES

/** A binary message holding `frames`, each after its byte length (the module note). */
export function frameMessage(frames: readonly Uint8Array[]): Uint8Array {
  let bytes = 0
  for (const frame of frames) bytes += LENGTH_BYTES + frame.byteLength
  // The buffer first (codec.ts `encodeFrame` says why).
  const buffer = new ArrayBuffer(bytes)
  const message = new Uint8Array(buffer)
  const view = new DataView(buffer)
  let at = 0
  for (const frame of frames) {
    view.setUint32(at, frame.byteLength, true)
    message.set(frame, at + LENGTH_BYTES)
    at += LENGTH_BYTES + frame.byteLength
  }
  return message
}

/**
 * Hand each frame of a binary message to `take`, in order, as a view into
 * the message; stops when `take` returns false. Returns why the message is
 * malformed (a length cut short or running past the end), or undefined; the
 * frames before the fault have been taken.
 */
export function splitMessage(
  message: Uint8Array,
  take: (frame: Uint8Array) => boolean,
): string | undefined {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength)
  let at = 0
  while (at < message.byteLength) {
    if (message.byteLength - at < LENGTH_BYTES) {
      return `${message.byteLength - at} bytes left in a message, too few for a frame length`
    }
    const length = view.getUint32(at, true)
    at += LENGTH_BYTES
    if (length > message.byteLength - at) {
      return `a frame of ${length} bytes with ${message.byteLength - at} left in its message`
    }
    if (!take(message.subarray(at, at + length))) return undefined
    at += length
  }
  return undefined
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
  /** The peer sent a malformed frame: nothing it sent afterwards is delivered. */
  rejected = false
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
  /** Frames of this turn, to leave as one message when the turn ends. */
  private gathered: Uint8Array[] = []
  private gatheredBytes = 0
  private readonly gatherLimit: number

  constructor(
    readonly socket: WsSocket,
    private readonly limits: LinkLimits,
    private readonly events: LinkEvents,
    /** The endpoint's clock, in monotonic milliseconds: the same time line its ticks use. */
    private readonly now: () => number,
  ) {
    this.lastHeardMs = this.lastSentMs = this.openedMs = now()
    this.gatherLimit = Math.min(COALESCE_BYTES_MAX, limits.frameBytesMax)
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
      const why = String(reason)
      this.end(
        `link closed by the peer or the network (code ${code}${why === "" ? "" : ` ${why}`})`,
        false,
      )
    })
    // Without a listener, a socket error is an uncaught exception; the close
    // event that follows it ends the link.
    socket.on("error", (error) => {
      if (this.state !== "closed") this.end(`socket error: ${error.message}`, false)
    })
  }

  /**
   * Send a frame with the others of this turn: they leave together, as one
   * message, when the turn ends (the module note).
   */
  sendFrame(frame: Uint8Array): void {
    if (this.state === "closed") return
    const bytes = LENGTH_BYTES + frame.byteLength
    if (this.gatheredBytes + bytes > this.gatherLimit) this.flushGathered()
    if (this.gathered.length === 0) queueMicrotask(this.flushGathered)
    this.gathered.push(frame)
    this.gatheredBytes += bytes
  }

  /** Send the frames gathered so far as one message. */
  private readonly flushGathered = (): void => {
    const frames = this.gathered
    if (frames.length === 0) return
    this.gathered = []
    this.gatheredBytes = 0
    this.send(frameMessage(frames))
  }

  /** Queue a message (a frame or a control message), in order behind everything sent before. */
  send(data: Uint8Array | string): void {
    if (this.state === "closed") return
    if (this.gathered.length > 0) this.flushGathered()
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
        this.socket.close(code, closeReason(reason))
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
    this.gathered = []
    this.gatheredBytes = 0
    this.events.closed(this, reason, byUs)
  }
}

const sizeOf = (data: Uint8Array | string): number =>
  typeof data === "string" ? data.length : data.byteLength
