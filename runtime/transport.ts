/**
 * The `Transport` service: how frames travel between nodes.
 *
 * A transport gives each node an endpoint with one link to every other node.
 * Links are FIFO (frames from A to B arrive in the order A sent them) and
 * reliable while open; there is no ordering across links. The relocation and
 * replica protocols depend on exactly this guarantee and nothing more, so every
 * implementation (memory, WebSocket) passes the same conformance suite in
 * `tests/transport_conformance.ts`.
 *
 * Frames are opaque bytes here; `runtime/codec.ts` owns their layout. `send`
 * takes ownership of the frame: a transport may deliver the very same buffer,
 * so the sender must not write to it afterwards.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"

/** A failure of the transport itself (closed endpoint, unknown peer). */
export class TransportError extends Data.TaggedError("TransportError")<{
  readonly message: string
}> {}

/**
 * Called once per delivered frame, in per-link FIFO order. Returns why the
 * bytes are not a frame of this cluster (its codec's check failed), or
 * nothing: a transport whose peers are other processes closes the link of a
 * peer that sent one, since nothing after it on that link can be trusted; the
 * memory transport, whose frames all come from this process, ignores it.
 */
export type FrameHandler = (from: number, frame: Uint8Array) => string | undefined | void

/** Called at most once per peer, when its link is gone for good (closed or silent). */
export type PeerLostHandler = (peer: number, reason: string) => void

/** One node's view of the transport: a link to every other node. */
export interface Endpoint {
  /** This node's id, 0 ≤ id < nodes. */
  readonly nodeId: number
  /** Number of nodes reachable through this transport, this one included. */
  readonly nodes: number
  /**
   * Queue a frame for node `to` (≠ `nodeId`). Never blocks and never throws for
   * a live link; throws `TransportError` after `close()` or for an unknown node.
   */
  send(to: number, frame: Uint8Array): void
  /** Install the handler that receives every frame for this node (one handler). */
  onFrame(handler: FrameHandler): void
  /**
   * Install the handler told when a peer is lost: its link closed or it fell
   * silent. Optional: in-process transports have no peer that fails alone.
   * Never called for this endpoint's own `close()`.
   */
  onPeerLost?(handler: PeerLostHandler): void
  /** Stop sending and receiving; frames not yet delivered to this node are dropped. */
  close(): Promise<void>
}

/** The service: hands out the endpoint of a node. */
export class Transport extends Context.Service<Transport, {
  readonly endpoint: (nodeId: number) => Endpoint
}>()("roam/Transport") {}
