/**
 * The node runtime: one node's store, directory and protocol handlers.
 *
 * A node owns some keys, forwards requests for the others, and carries out the
 * relocation protocol (docs/ARCHITECTURE.md): a `Localize` reaches the owner,
 * which hands the key over (`HandOver`, with the next epoch and the value),
 * keeps its slot until the new owner acknowledges (`HandOverAck`), and
 * forwards whatever still reaches it; the new owner installs the value, tells
 * the key's home (`OwnerUpdate`) and replays, in arrival order, the requests
 * it parked while it was expecting the key. Links are FIFO and nothing is
 * retried, so every push is applied exactly once, by whichever node owns the
 * key when it arrives.
 *
 * Ordering of one node's own operations: a node never has two operations on
 * one key in flight at once (`inflight`, the count of keys of its one
 * unanswered operation); a later operation on a busy key waits
 * in the `Deferred` queue until the earlier one is answered. Forwarding could
 * otherwise let a later push overtake an earlier one on another path. The hot
 * path checks this with one read of `busy`.
 *
 * Handlers are synchronous and run a frame to completion; frames to this node
 * itself go through `selfQueue` and run after the current one. The worker API
 * lives in `worker.ts`; barriers in `barrier.ts`.
 */
import { assert } from "../actors/assert.ts"
import type { KeySpace } from "../actors/key_space.ts"
import { KeyEvent, KeyState } from "../actors/lifecycle.ts"
import { Store } from "../actors/store.ts"
import { Batch, Outbox } from "./batch.ts"
import { Barrier } from "./barrier.ts"
import {
  checkFrame,
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameType,
  frameTypeName,
  MalformedFrame,
} from "./codec.ts"
import type { RoamConfigShape } from "./config.ts"
import { Deferred, type OpEntry } from "./deferred.ts"
import { Directory } from "./directory.ts"
import { Handoffs } from "./handoffs.ts"
import { clusterClosed, type PeerLost, peerLost } from "./errors.ts"
import type { FaultShape } from "./fault.ts"
import type { Policy } from "./policy.ts"
import type { Endpoint } from "./transport.ts"
import { newNodeStats, type NodeStats } from "./stats.ts"

/** An operation of this node's workers waiting for replies from other nodes. */
export interface PendingOp {
  /** Keys not yet answered. */
  remaining: number
  /** For pulls: the caller's output. */
  readonly out: Float32Array | undefined
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

/** A request parked at a node that expects its keys, replayed on arrival. */
interface Parked {
  readonly type: number
  readonly origin: number
  readonly id: number
  readonly hops: number
  readonly keys: Uint32Array
  readonly a: Uint32Array
  readonly values: Float32Array
}

interface LocalizeWait {
  remaining: number
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

export interface NodeOptions {
  readonly id: number
  readonly nodes: number
  readonly space: KeySpace
  readonly policy: Policy
  readonly config: RoamConfigShape
  readonly faults: FaultShape
  readonly endpoint: Endpoint
  /** Where protocol warnings go (a malformed frame); defaults to console.warn. */
  readonly log?: (message: string) => void
  /** The current time in milliseconds, from the node's Clock service. */
  readonly nowMs: () => number
}

export class NodeRuntime {
  readonly id: number
  readonly nodes: number
  readonly space: KeySpace
  readonly policy: Policy
  readonly store: Store
  readonly directory: Directory
  readonly stats: NodeStats = newNodeStats()
  readonly barrier: Barrier
  /** Unanswered keys of this node's operations, per key (see the module note). */
  readonly inflight: Int32Array
  /** `inflight` plus operations deferred behind it, per key: the hot path's one check. */
  readonly busy: Int32Array
  readonly deferred: Deferred
  /**
   * Whether this node must order its own operations per key. Only when keys
   * can move: under a policy that never relocates, every request goes
   * straight to the key's home over one FIFO link, so order is kept for free.
   */
  readonly ordersOps: boolean
  readonly handoffs: Handoffs
  readonly log: (message: string) => void
  closed = false
  /** Set when a peer is lost (see `failPeer`); every later call fails with it. */
  lost: PeerLost | undefined

  private readonly config: RoamConfigShape
  private readonly faults: FaultShape
  private readonly endpoint: Endpoint
  private readonly nowMs: () => number
  private readonly ops = new Map<number, PendingOp>()
  private nextOpId = 1
  private parked: Parked[] = []
  private parkedKeys = 0
  private readonly localizeWaits = new Map<number, LocalizeWait[]>()
  /** Keys a worker localized while this node was still handing them over. */
  private readonly localizeAfterAck = new Set<number>()
  private pendingLocalizes = 0
  private readonly selfQueue: Uint8Array[] = []
  private processing = false
  private readonly quietWaiters: Array<() => void> = []
  // Reused builders: replies, forwards, hand-overs and parked requests.
  private readonly replies: Outbox
  private readonly forwards: Outbox
  private readonly notices: Outbox
  private readonly parkBatch = new Batch()

  constructor(options: NodeOptions) {
    const { id, nodes, space } = options
    this.id = id
    this.nodes = nodes
    this.space = space
    this.policy = options.policy
    this.config = options.config
    this.faults = options.faults
    this.endpoint = options.endpoint
    this.log = options.log ?? ((m) => console.warn(m))
    this.nowMs = options.nowMs
    this.ordersOps = options.policy.relocatesOnLocalize
    this.handoffs = new Handoffs(nodes)
    this.directory = new Directory(id, nodes, space.keys)
    this.inflight = new Int32Array(space.keys)
    this.busy = new Int32Array(space.keys)
    this.deferred = new Deferred(this.busy, this.inflight, options.config.deferredOpsMax)
    this.replies = new Outbox(nodes, options.config.frameKeysMax)
    this.forwards = new Outbox(nodes, options.config.frameKeysMax)
    this.notices = new Outbox(nodes, options.config.frameKeysMax)
    this.barrier = new Barrier(
      nodes,
      (to, type, n) => this.sendControl(to, type, n),
      () => this.quiet,
    )
    // Initial placement: every key starts at its home, filled by its table's init.
    this.store = new Store(space, space.tables.map((t) => Math.ceil(t.keys / nodes)))
    for (const table of space.tables) {
      const first = table.start + ((id - (table.start % nodes)) + nodes) % nodes
      for (let key = first; key < table.end; key += nodes) {
        const offset = this.store.transition(key, KeyEvent.InitOwner)
        if (table.init) {
          table.init(
            key,
            this.store.slabs[table.index].values.subarray(offset, offset + table.length),
          )
        }
      }
    }
    this.endpoint.onFrame((from, frame) => this.receive(from, frame))
    this.endpoint.onPeerLost?.((peer, reason) => this.failPeer(peer, peerLost(peer, reason)))
  }

  lengthOf = (key: number): number => this.space.tableOf(key).length

  // ---------------------------------------------------------------- worker side

  /** Register an operation of `keys` remote keys; returns its id. */
  openOp(remaining: number, out: Float32Array | undefined): { id: number; done: Promise<void> } {
    this.assertOpen("operation")
    const id = this.nextOpId
    this.nextOpId = (this.nextOpId + 1) >>> 0 || 1
    let op!: PendingOp
    const done = new Promise<void>((resolve, reject) => {
      op = { remaining, out, resolve, reject }
    })
    this.ops.set(id, op)
    return { id, done }
  }

  /**
   * Submit the non-local part of a worker's operation: keys (with output
   * offsets for a pull, or values for a push or set). If an earlier operation
   * of this node on any of the keys is unanswered, the whole part waits in the
   * deferred queue so that operations on a key take effect in issue order.
   */
  submit(entry: OpEntry): void {
    if (this.ordersOps && this.deferred.mustWait(entry.keys)) this.deferred.push(entry)
    else this.issue(entry)
    this.pump()
  }

  /** Send (or apply, or park) every key of an operation whose keys are not busy. */
  private issue(entry: OpEntry): void {
    const { type, opId, keys, a, values } = entry
    const op = this.ops.get(opId)
    assert(op !== undefined, () => `operation ${opId} is not open`)
    const state = this.store.state
    let applied = 0
    let valueAt = 0
    this.parkBatch.reset()
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      const length = this.lengthOf(key)
      const s = state[key]
      if (s === KeyState.Owner) {
        // The key became local while this part waited: serve it in place.
        this.applyLocal(type, key, a[i], values, valueAt, op.out)
        applied++
      } else {
        if (this.ordersOps) (this.inflight[key]++, this.busy[key]++)
        const batch = s === KeyState.Expected ? this.parkBatch : this.forwards.to(
          this.directory.nextHop(key, 0, this.config.forwardHopsMax),
        )
        batch.add(key, a[i], 0)
        if (type !== FrameType.Pull) batch.addValues(values, valueAt, length)
      }
      valueAt += length
    }
    const header = { type, origin: this.id, id: opId, hops: 0 }
    this.countRemote(type, keys.length - applied)
    // Keys that became local while the operation waited count as local accesses.
    if (type === FrameType.Pull) this.stats.pullKeysLocal += applied
    else this.stats.pushKeysLocal += applied
    this.forwards.flush(header, this.lengthOf, this.send)
    if (this.parkBatch.count > 0) this.park(header)
    op.remaining -= applied
    if (op.remaining === 0) this.finishOp(opId)
  }

  private applyLocal(
    type: number,
    key: number,
    position: number,
    values: Float32Array,
    valueAt: number,
    out: Float32Array | undefined,
  ): void {
    const slab = this.store.slabOf(key)
    const offset = slab.offsetOf(key)
    const length = slab.table.length
    const data = slab.values
    if (type === FrameType.Pull) {
      out!.set(data.subarray(offset, offset + length), position)
    } else if (type === FrameType.Push) {
      for (let j = 0; j < length; j++) data[offset + j] += values[valueAt + j]
    } else {
      data.set(values.subarray(valueAt, valueAt + length), offset)
    }
  }

  private countRemote(type: number, keys: number): void {
    if (keys === 0) return
    if (type === FrameType.Pull) (this.stats.pullKeysRemote += keys, this.stats.pullBatchesRemote++)
    else (this.stats.pushKeysRemote += keys, this.stats.pushBatchesRemote++)
  }

  private finishOp(opId: number): void {
    const op = this.ops.get(opId)!
    this.ops.delete(opId)
    op.resolve()
    this.checkQuiet()
  }

  /** Make `keys` owned by this node (the `lapse` policy); resolves when they all are. */
  localize(keys: ArrayLike<number>): Promise<void> {
    this.assertOpen("localize")
    const state = this.store.state
    let wait!: LocalizeWait
    const done = new Promise<void>((resolve, reject) => {
      wait = { remaining: 0, resolve, reject }
    })
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      const s = state[key]
      if (s === KeyState.Owner) continue
      if (s === KeyState.Absent) {
        this.store.transition(key, KeyEvent.Localize)
        this.forwards.to(this.directory.nextHop(key, 0, this.config.forwardHopsMax)).add(key, 0, 0)
      } else if (s === KeyState.HandingOver) {
        // Asking for it back before the new owner acknowledged would race with
        // that acknowledgement; ask once it has come (see onHandOverAck).
        this.localizeAfterAck.add(key)
      }
      let waits = this.localizeWaits.get(key)
      if (!waits) this.localizeWaits.set(key, waits = [])
      if (waits.includes(wait)) continue
      waits.push(wait)
      wait.remaining++
    }
    this.forwards.flush(
      { type: FrameType.Localize, origin: this.id, id: 0, hops: 0 },
      this.lengthOf,
      this.send,
    )
    if (wait.remaining === 0) wait.resolve()
    else {
      this.pendingLocalizes++
      done.finally(() => {
        this.pendingLocalizes--
        this.checkQuiet()
      }).catch(() => {})
    }
    this.pump()
    return done
  }

  // ------------------------------------------------------------------ receiving

  private receive(from: number, bytes: Uint8Array): void {
    if (this.closed) return
    this.stats.framesReceived++
    this.stats.bytesReceived += bytes.byteLength
    let frame: Frame
    try {
      frame = decodeFrame(bytes)
      checkFrame(frame, this.space, this.nodes)
    } catch (error) {
      if (!(error instanceof MalformedFrame)) throw error
      this.stats.framesRejected++
      this.log(
        `roam node ${this.id}: dropped a malformed frame from node ${from}: ${error.message}`,
      )
      return
    }
    try {
      this.handle(from, frame)
    } catch (error) {
      if (!(error instanceof MalformedFrame)) throw error
      this.stats.framesRejected++
      this.log(`roam node ${this.id}: rejected a frame from node ${from}: ${error.message}`)
    }
    this.pump()
  }

  /** Run frames this node sent itself, after the frame that produced them. */
  private pump(): void {
    if (this.processing) return
    this.processing = true
    try {
      while (this.selfQueue.length > 0) {
        const bytes = this.selfQueue.shift()!
        this.stats.framesReceived++
        this.stats.bytesReceived += bytes.byteLength
        this.handle(this.id, decodeFrame(bytes))
      }
    } finally {
      this.processing = false
    }
  }

  private handle(from: number, frame: Frame): void {
    const wasProcessing = this.processing
    this.processing = true
    try {
      switch (frame.type) {
        case FrameType.Pull:
        case FrameType.Push:
        case FrameType.Set:
        case FrameType.Localize:
          this.serve(frame)
          break
        case FrameType.PullReply:
        case FrameType.Ack:
          this.onReply(from, frame)
          break
        case FrameType.HandOver:
          this.onHandOver(from, frame)
          break
        case FrameType.HandOverAck:
          this.onHandOverAck(from, frame)
          break
        case FrameType.OwnerUpdate:
          this.onOwnerUpdate(frame)
          break
        case FrameType.BarrierEnter:
        case FrameType.BarrierRelease:
        case FrameType.BarrierStart:
          this.barrier.receive(from, frame.type, frame.id)
          break
        default:
          assert(false, `node ${this.id} cannot handle frame ${frameTypeName(frame.type)}`)
      }
    } finally {
      this.processing = wasProcessing
    }
  }

  /**
   * A request for keys: serve the ones this node owns, park the ones it
   * expects, forward the rest one hop closer to their owner.
   */
  private serve(request: Parked): void {
    const { type, origin, id, hops, keys, a, values } = request
    const state = this.store.state
    const reply = this.replies.to(origin)
    let valueAt = 0
    this.parkBatch.reset()
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      const length = this.lengthOf(key)
      const s = state[key]
      if (s === KeyState.Owner) {
        this.serveKey(type, origin, key, a[i], values, valueAt, reply, hops > 0)
      } else if (s === KeyState.Expected) {
        this.parkBatch.add(key, a[i], 0)
        if (type === FrameType.Push || type === FrameType.Set) {
          this.parkBatch.addValues(values, valueAt, length)
        }
      } else {
        const batch = this.forwards.to(
          this.directory.nextHop(key, hops, this.config.forwardHopsMax),
        )
        batch.add(key, a[i], 0)
        if (type === FrameType.Push || type === FrameType.Set) {
          batch.addValues(values, valueAt, length)
        }
        this.stats.forwards++
      }
      valueAt += length
    }
    const replyType = type === FrameType.Pull
      ? FrameType.PullReply
      : type === FrameType.Localize
      ? FrameType.HandOver
      : FrameType.Ack
    if (type === FrameType.Localize && reply.count > 0) {
      this.handoffs.sent(origin, reply.count, this.nowMs())
    }
    this.replies.flush({ type: replyType, origin: this.id, id, hops: 0 }, this.lengthOf, this.send)
    this.forwards.flush({ type, origin, id, hops: hops + 1 }, this.lengthOf, this.send)
    if (this.parkBatch.count > 0) this.park({ type, origin, id, hops })
  }

  private serveKey(
    type: number,
    origin: number,
    key: number,
    position: number,
    values: Float32Array,
    valueAt: number,
    reply: Batch,
    forwarded: boolean,
  ): void {
    const slab = this.store.slabOf(key)
    const offset = slab.offsetOf(key)
    const length = slab.table.length
    const data = slab.values
    const epoch = this.directory.epoch[key]
    switch (type) {
      case FrameType.Pull:
        reply.add(key, position, epoch)
        reply.addValues(data, offset, length)
        break
      case FrameType.Push: {
        const times = forwarded && this.faults.duplicateForwardedPushes ? 2 : 1
        for (let t = 0; t < times; t++) {
          for (let j = 0; j < length; j++) data[offset + j] += values[valueAt + j]
        }
        reply.add(key, 0, epoch)
        break
      }
      case FrameType.Set:
        data.set(values.subarray(valueAt, valueAt + length), offset)
        reply.add(key, 0, epoch)
        break
      case FrameType.Localize: {
        if (origin === this.id) return // Asked for a key it already owns: nothing to do.
        if (!this.policy.relocatesOnLocalize) return
        // Hand over: the next epoch and the value go to the new owner; the slot
        // stays until the new owner acknowledges, and requests that still
        // arrive here are forwarded to it.
        const next = epoch + 1
        this.store.transition(key, KeyEvent.HandOver)
        this.directory.record(key, origin, next)
        reply.add(key, 0, next)
        reply.addValues(data, offset, length)
        this.stats.relocationsOut++
        break
      }
    }
  }

  private park(header: { type: number; origin: number; id: number; hops: number }): void {
    const batch = this.parkBatch
    this.parkedKeys += batch.count
    assert(
      this.parkedKeys <= this.config.parkedKeysMax,
      () => `node ${this.id} has ${this.parkedKeys} parked keys, over parkedKeysMax`,
    )
    const { keys, a, values } = batch.snapshot()
    this.parked.push({ ...header, keys, a, values })
    batch.reset()
  }

  /** Replay parked requests in arrival order; keys still expected park again, in order. */
  private replayParked(): void {
    const parked = this.parked
    this.parked = []
    this.parkedKeys = 0
    if (this.faults.dropParkedRequests) return
    for (const request of parked) this.serve(request)
  }

  /** A reply to one of this node's operations: a pull's values or a write's acknowledgement. */
  private onReply(from: number, frame: Frame): void {
    const op = this.checkReply(frame)
    const { keys, a, b, values } = frame
    const owns = this.store.state
    let valueAt = 0
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      this.directory.learn(key, from, b[i], owns[key] === KeyState.Owner && from !== this.id)
      if (this.ordersOps) {
        this.inflight[key]--
        this.busy[key]--
        assert(this.inflight[key] >= 0, () => `key ${key}: more replies than requests`)
      }
      if (frame.type === FrameType.PullReply) {
        const length = this.lengthOf(key)
        op.out!.set(values.subarray(valueAt, valueAt + length), a[i])
        valueAt += length
      }
    }
    op.remaining -= keys.length
    assert(op.remaining >= 0, () => `operation ${frame.id} got more replies than keys`)
    if (op.remaining === 0) this.finishOp(frame.id)
    if (this.deferred.length > 0) this.deferred.drain((entry) => this.issue(entry))
  }

  /**
   * A reply must name an open operation, answer no more keys than it awaits
   * and, for a pull, write inside the caller's output: checked before anything
   * is applied, so a bad reply is rejected whole.
   */
  private checkReply(frame: Frame): PendingOp {
    const op = this.ops.get(frame.id)
    if (op === undefined) throw new MalformedFrame(`reply for unknown operation ${frame.id}`)
    if (frame.keys.length > op.remaining) {
      throw new MalformedFrame(`reply answers ${frame.keys.length} keys, ${op.remaining} awaited`)
    }
    if (frame.type === FrameType.PullReply) {
      const out = op.out!
      for (let i = 0; i < frame.keys.length; i++) {
        if (frame.a[i] + this.lengthOf(frame.keys[i]) > out.length) {
          throw new MalformedFrame(`pull reply offset ${frame.a[i]} outside the output`)
        }
      }
    }
    return op
  }

  /** The new owner installs handed-over keys, acknowledges, tells the homes, replays. */
  private onHandOver(from: number, frame: Frame): void {
    const { keys, b, values } = frame
    let valueAt = 0
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      const length = this.lengthOf(key)
      const offset = this.store.transition(key, KeyEvent.ValueArrived)
      this.store.slabOf(key).values.set(values.subarray(valueAt, valueAt + length), offset)
      valueAt += length
      this.directory.record(key, this.id, b[i])
      this.replies.to(from).add(key, 0, b[i])
      const home = this.directory.home(key)
      if (home !== this.id) this.notices.to(home).add(key, 0, b[i])
      this.stats.relocationsIn++
    }
    const header = { origin: this.id, id: 0, hops: 0 }
    this.replies.flush({ type: FrameType.HandOverAck, ...header }, this.lengthOf, this.send)
    this.notices.flush({ type: FrameType.OwnerUpdate, ...header }, this.lengthOf, this.send)
    for (let i = 0; i < keys.length; i++) this.wake(keys[i])
    this.replayParked()
  }

  private wake(key: number): void {
    const waits = this.localizeWaits.get(key)
    if (!waits) return
    this.localizeWaits.delete(key)
    for (const wait of waits) if (--wait.remaining === 0) wait.resolve()
  }

  /** The old owner frees handed-over keys once the new owner has them. */
  private onHandOverAck(from: number, frame: Frame): void {
    this.handoffs.acknowledged(from, frame.keys.length)
    for (const key of frame.keys) {
      this.store.transition(key, KeyEvent.HandOverAcked)
      if (this.localizeAfterAck.delete(key)) {
        this.store.transition(key, KeyEvent.Localize)
        this.forwards.to(this.directory.nextHop(key, 0, this.config.forwardHopsMax)).add(key, 0, 0)
      }
    }
    this.forwards.flush(
      { type: FrameType.Localize, origin: this.id, id: 0, hops: 0 },
      this.lengthOf,
      this.send,
    )
  }

  /** A key's home learns its new owner. */
  private onOwnerUpdate(frame: Frame): void {
    const state = this.store.state
    for (let i = 0; i < frame.keys.length; i++) {
      const key = frame.keys[i]
      this.directory.learn(key, frame.origin, frame.b[i], state[key] === KeyState.Owner)
    }
  }

  // ------------------------------------------------------------------- sending

  private send = (to: number, frame: Uint8Array): void => {
    this.stats.framesSent++
    this.stats.bytesSent += frame.byteLength
    if (to === this.id) this.selfQueue.push(frame)
    else this.endpoint.send(to, frame)
  }

  /** Control frames (barrier) carry no keys; the generation or count rides in `id`. */
  private sendControl(to: number, type: number, id: number): void {
    this.send(to, encodeFrame({ type, origin: this.id, id, hops: 0 }, NO_KEYS))
    this.pump()
  }

  // ------------------------------------------------------------ quiet and close

  /** No operation of this node's workers is unanswered or waiting. */
  get quiet(): boolean {
    return this.ops.size === 0 && this.deferred.length === 0 && this.pendingLocalizes === 0
  }

  /** Resolves once this node is quiet. */
  whenQuiet(): Promise<void> {
    if (this.quiet) return Promise.resolve()
    return new Promise((resolve) => this.quietWaiters.push(resolve))
  }

  private checkQuiet(): void {
    if (!this.quiet) return
    for (const wake of this.quietWaiters.splice(0)) wake()
    this.barrier.maybeEnter()
  }

  assertOpen(what: string): void {
    if (this.closed) throw clusterClosed(what)
    if (this.lost) throw this.lost
  }

  /**
   * A peer is gone (its link closed or it fell silent): fail every open
   * operation, localize and barrier wait with `error`, and every later call.
   * All of them, not only those whose keys route to `peer`: a request may be
   * forwarded through any node, the lost one was the home (directory) of a
   * share of the keys and the owner of others, and nothing records which
   * operation went where, so anything unanswered may be waiting on it. The
   * node stops rather than guess; `close()` still works.
   */
  failPeer(peer: number, error: PeerLost): void {
    assert(error.node === peer, () => `failPeer(${peer}) given the loss of node ${error.node}`)
    if (this.closed || this.lost) return
    this.lost = error
    this.log(`roam node ${this.id}: ${error.message}; failing pending operations`)
    for (const op of this.ops.values()) op.reject(error)
    this.ops.clear()
    for (const waits of this.localizeWaits.values()) for (const w of waits) w.reject(error)
    this.localizeWaits.clear()
    this.barrier.close(error)
  }

  /** Fail what is pending, stop the links. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const error = clusterClosed("operation interrupted")
    for (const op of this.ops.values()) op.reject(error)
    this.ops.clear()
    for (const waits of this.localizeWaits.values()) for (const w of waits) w.reject(error)
    this.localizeWaits.clear()
    this.barrier.close(error)
    await this.endpoint.close()
  }

  /** Store integrity plus this node's protocol bookkeeping. */
  checkIntegrity(): void {
    this.store.checkIntegrity()
    const state = this.store.state
    for (let key = 0; key < state.length; key++) {
      const s = state[key]
      const owner = this.directory.owner[key]
      if (s === KeyState.Owner) {
        assert(owner === this.id, () => `node ${this.id} owns key ${key} but records ${owner}`)
      } else if (s === KeyState.Absent || s === KeyState.HandingOver) {
        assert(owner !== this.id, () => `node ${this.id} routes key ${key} to itself`)
      }
      assert(this.inflight[key] >= 0, () => `key ${key}: negative inflight`)
      assert(this.busy[key] >= this.inflight[key], () => `key ${key}: busy below inflight`)
    }
  }
}

const NO_KEYS = new Uint32Array(0)
