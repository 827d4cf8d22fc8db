/**
 * The node runtime: one node's store, directory and protocol handlers.
 *
 * A node owns some keys, forwards requests for the others, and carries out the
 * relocation protocol (docs/ARCHITECTURE.md): a `Localize` reaches the owner,
 * which hands the key over (`HandOver`, with the next epoch and the value),
 * keeps its slot until the new owner acknowledges (`HandOverAck`), and
 * forwards whatever still reaches it; the new owner installs the value, tells
 * the key's home (`OwnerUpdate`, gathered until the end of the turn: one
 * frame per home for the hand-overs of a turn) and replays, in arrival order,
 * the requests it parked while it was expecting the key. Links are FIFO and
 * nothing is retried, so every push is applied exactly once, by whichever
 * node owns the key when it arrives.
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
 *
 * `NodeRuntime` is the composition root of a node's parts and the dispatcher
 * of its frames. Parts that own state of their own are plain classes given
 * the runtime through a narrow host interface: intent placement (both ends of
 * `Intent`/`IntentEnd`) in `intent_placement.ts`; the replicas held here
 * (join, install, drop now, after their sync or when idle) in
 * `replica_keeper.ts`. The runtime's members such parts call (`send`, `pump`,
 * `finishOp`, `towardsOwner`, `wake`, `replayParked`) are public for them,
 * not for task code.
 */
import type * as Random from "effect/Random"
import { assert } from "../actors/assert.ts"
import type { KeySpace } from "../actors/key_space.ts"
import { INVALID, KeyEvent, KeyState, keyStateNames, nextState } from "../actors/lifecycle.ts"
import { Replicas } from "../actors/replicas.ts"
import { addFloats, copyFloats, servesLocally, Store } from "../actors/store.ts"
import { Batch, Outbox, sendBatch } from "./batch.ts"
import { Barrier } from "./barrier.ts"
import {
  carriesValues,
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
import { ReplicaKeeper } from "./replica_keeper.ts"
import { ReplicaSync } from "./replica_sync.ts"
import { IntentScheduler } from "./intents.ts"
import { IntentPlacement } from "./intent_placement.ts"
import { type LocalizeWait, LocalizeWaits } from "./localize_waits.ts"
import type { Endpoint } from "./transport.ts"
import { newNodeStats, type NodeStats } from "./stats.ts"

/** An operation of this node's workers waiting for replies from other nodes. */
export interface PendingOp {
  /** Keys not yet answered. */
  remaining: number
  /** For pulls: the caller's output. */
  readonly out: Float32Array | undefined
  readonly done: Promise<void>
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
  /** Keys of a set that this node holds as replicas, until the owner acknowledges each. */
  replicaSets?: Set<number>
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

/** A `waitSync` of this node: the peers yet to answer it. */
interface SyncWait {
  readonly unanswered: Set<number>
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
  /** The node's Random service: the seeds of its workers' sampling streams. */
  readonly random: Random.Random
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
  /** `inflight` plus operations deferred behind it, per key (the store's; read-only here). */
  readonly busy: Int32Array
  readonly deferred: Deferred
  /**
   * Whether this node must order its own operations per key. Only when keys
   * can move: under a policy that never relocates, every request goes
   * straight to the key's home over one FIFO link, so order is kept for free.
   */
  readonly ordersOps: boolean
  readonly handoffs: Handoffs
  /** Bases of the replicas held here, and their sync rounds. */
  readonly replicas: Replicas
  readonly sync: ReplicaSync
  /** Joins, installs and drops of this node's replicas. */
  readonly keeper: ReplicaKeeper
  /**
   * Accesses per key by this node's workers during the warm-up of
   * `nups` with `{ hottest: n }` (until the first barrier); undefined otherwise.
   */
  accessCounts: Uint32Array | undefined
  /** When this node's workers' intents take effect, and its interest per key. */
  readonly intents: IntentScheduler
  /** Both ends of the intent exchange: acquire, release, the owner's placement. */
  readonly placement: IntentPlacement
  readonly log: (message: string) => void
  closed = false
  /** Set when a peer is lost (see `failPeer`); every later call fails with it. */
  lost: PeerLost | undefined

  readonly config: RoamConfigShape
  private readonly faults: FaultShape
  private readonly endpoint: Endpoint
  /** The current time in milliseconds, on the node's Clock. */
  readonly nowMs: () => number
  /** The node's Random service: the seeds of its workers' sampling streams. */
  readonly random: Random.Random
  /** When this node started, on its Clock. */
  private readonly startedMs: number
  private readonly ops = new Map<number, PendingOp>()
  private nextOpId = 1
  private parked: Parked[] = []
  /** Keys of requests parked here (`park`), at most `config.parkedKeysMax`. */
  parkedKeys = 0
  private readonly localizeWaits: LocalizeWaits
  /** Keys a worker localized while this node was still handing them over. */
  private readonly localizeAfterAck = new Set<number>()
  private pendingLocalizes = 0
  private readonly selfQueue: Uint8Array[] = []
  private processing = false
  private readonly quietWaiters: Array<() => void> = []
  /** `waitSync` requests of this node: id → nodes still to answer, and the resolver. */
  private readonly syncWaits = new Map<number, SyncWait>()
  private nextSyncWaitId = 1
  // Reused builders: replies, forwards, hand-overs and parked requests.
  private readonly replies: Outbox
  private readonly forwards: Outbox
  /** `OwnerUpdate`s for the homes, gathered until the end of the turn (`sendNotices`). */
  private readonly notices: Outbox
  private noticesQueued = false
  private readonly parkBatch = new Batch()
  /** Keys of a `SyncCheck` whose value is unchanged: answered by one `SyncSame`. */
  private readonly sameBatch = new Batch()

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
    this.random = options.random
    this.startedMs = options.nowMs()
    this.ordersOps = options.policy.relocatesOnLocalize || options.policy.dropsReplicas
    this.handoffs = new Handoffs(nodes)
    this.directory = new Directory(id, nodes, space.keys)
    this.store = new Store(space, space.tables.map((t) => Math.ceil(t.keys / nodes)))
    this.inflight = new Int32Array(space.keys)
    this.localizeWaits = new LocalizeWaits(space.keys)
    this.busy = this.store.busy
    this.deferred = new Deferred(this.store, this.inflight, options.config.deferredOpsMax)
    this.replies = new Outbox(nodes, options.config.frameKeysMax)
    this.forwards = new Outbox(nodes, options.config.frameKeysMax)
    this.notices = new Outbox(nodes, options.config.frameKeysMax)
    this.placement = new IntentPlacement(this, options.config.frameKeysMax, nodes)
    this.barrier = new Barrier(
      nodes,
      (to, type, n) => this.sendControl(to, type, n),
      () => this.quiet,
    )
    // Initial placement: every key starts at its home, filled by its table's init.
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
    this.replicas = new Replicas(space)
    this.keeper = new ReplicaKeeper(this, space.lengthMax)
    this.accessCounts = options.policy.hottest > 0 ? new Uint32Array(space.keys) : undefined
    this.sync = new ReplicaSync({
      id,
      nodes,
      store: this.store,
      replicas: this.replicas,
      directory: this.directory,
      stats: this.stats,
      lengthOf: this.lengthOf,
      sendFrame: (to, frame) => this.send(to, frame),
      forwardHopsMax: options.config.forwardHopsMax,
      onSyncAnswered: (key) => this.keeper.onSyncAnswered(key),
      onRound: () => {
        this.intents.onRound()
        this.placement.releaseEnded()
      },
    }, options.config.frameKeysMax)
    this.intents = new IntentScheduler(
      this.placement,
      space.keys,
      {
        windowInitial: options.config.intentWindowInitial,
        windowMax: options.config.intentWindowMax,
      },
    )
    this.endpoint.onFrame((from, frame) => this.receive(from, frame))
    this.endpoint.onPeerLost?.((peer, reason) => this.failPeer(peer, peerLost(peer, reason)))
  }

  lengthOf = (key: number): number => this.space.tableOf(key).length

  /** Milliseconds since this node started, on its Clock. */
  get uptimeMs(): number {
    return this.nowMs() - this.startedMs
  }

  // ---------------------------------------------------------------- worker side

  /** Register an operation of `keys` remote keys; returns its id. */
  openOp(remaining: number, out: Float32Array | undefined): { id: number; done: Promise<void> } {
    this.assertOpen("operation")
    const id = this.nextOpId
    this.nextOpId = (this.nextOpId + 1) >>> 0 || 1
    let resolve!: () => void
    let reject!: (error: unknown) => void
    const done = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    this.ops.set(id, { remaining, out, done, resolve, reject })
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
    if (entry.type === FrameType.Intent) return this.placement.issueIntent(entry)
    const { type, opId, keys, a, values } = entry
    const op = this.ops.get(opId)
    assert(op !== undefined, () => `operation ${opId} is not open`)
    const state = this.store.state
    const withValues = carriesValues(type)
    let applied = 0
    let valueAt = 0
    this.parkBatch.reset()
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      const length = this.lengthOf(key)
      const s = state[key]
      if (type === FrameType.ReplicaJoin && s !== KeyState.Absent) {
        // Owned, a replica already, or on its way here: nothing to join.
        applied++
      } else if (appliedHere(type, s)) {
        // The key became local while this part waited: serve it in place.
        this.applyLocal(type, key, a[i], values, valueAt, op.out)
        applied++
      } else {
        if (type === FrameType.ReplicaJoin) this.store.transition(key, KeyEvent.AwaitReplica)
        if (type === FrameType.Set && s === KeyState.Replica) {
          this.overwriteReplica(op, key, values, valueAt)
        }
        if (this.ordersOps) (this.inflight[key]++, this.store.hold(key))
        const batch = s === KeyState.Expected ? this.parkBatch : this.forwards.to(
          this.directory.nextHop(key, 0, this.config.forwardHopsMax),
        )
        batch.add(key, a[i], 0)
        if (withValues) batch.addValues(values, valueAt, length)
      }
      valueAt += length
    }
    const header = { type, origin: this.id, id: opId, hops: 0 }
    if (type !== FrameType.ReplicaJoin && entry.internal !== true) {
      this.countRemote(type, keys.length - applied)
      // Keys that became local while the operation waited count as local accesses.
      if (type === FrameType.Pull) this.stats.pullKeysLocal += applied
      else this.stats.pushKeysLocal += applied
    }
    this.forwards.flush(header, this.lengthOf, this.send)
    if (this.parkBatch.count > 0) this.park(header)
    op.remaining -= applied
    if (op.remaining === 0) this.finishOp(opId)
  }

  /** Add `key` to this node's next keys-only request towards its owner (`sendTowardsOwners`). */
  towardsOwner(key: number): void {
    this.forwards.to(this.directory.nextHop(key, 0, this.config.forwardHopsMax)).add(key, 0, 0)
  }

  /** Send the keys gathered by `towardsOwner` as `type` requests, one frame per next hop. */
  sendTowardsOwners(type: number): void {
    this.forwards.flush({ type, origin: this.id, id: 0, hops: 0 }, this.lengthOf, this.send)
  }

  /**
   * Is `key` ready here: served from the local value (owned or a replica),
   * with no earlier operation of this node on it in flight or waiting?
   */
  isReady(key: number): boolean {
    return this.store.ready[key] >= 0
  }

  /**
   * A set of `key`, which this node holds as a replica, leaves for the owner
   * as part of `op`: the replica takes the value now (read-your-writes) and
   * keeps it against sync answers until the owner acknowledges (replicas.ts).
   */
  private overwriteReplica(op: PendingOp, key: number, values: Float32Array, valueAt: number) {
    this.replicas.overwrite(key, this.store.slabOf(key), values, valueAt)
    ;(op.replicaSets ??= new Set()).add(key)
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
      copyFloats(out!, position, data, offset, length)
      return
    }
    if (type === FrameType.Set) copyFloats(data, offset, values, valueAt, length)
    else addFloats(data, offset, values, valueAt, length)
    this.store.versions[key]++
  }

  private countRemote(type: number, keys: number): void {
    if (keys === 0) return
    if (type === FrameType.Pull) (this.stats.pullKeysRemote += keys, this.stats.pullBatchesRemote++)
    else (this.stats.pushKeysRemote += keys, this.stats.pushBatchesRemote++)
  }

  /** Resolve operation `opId`, answered in full (or complete when sent, as an intent is). */
  finishOp(opId: number): void {
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
    let call = -1
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      const s = state[key]
      if (servesLocally(s)) continue
      if (s === KeyState.Absent) {
        this.store.transition(key, KeyEvent.Localize)
        this.towardsOwner(key)
      } else if (s === KeyState.HandingOver) {
        // Asking for it back before the new owner acknowledged would race with
        // that acknowledgement; ask once it has come (see onHandOverAck).
        this.localizeAfterAck.add(key)
      }
      if (call < 0) call = this.localizeWaits.open(wait)
      this.localizeWaits.add(call, key)
    }
    this.sendTowardsOwners(FrameType.Localize)
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

  // ----------------------------------------------------------------- replicas

  /** Drop the replicas among `keys` (see `ReplicaKeeper.dropReplicas`). */
  dropReplicas(keys: ArrayLike<number>): void {
    this.keeper.dropReplicas(keys)
  }

  /**
   * Resolves once every push this node's workers made before the call is
   * merged at the owners and reflected in every replica: this node's open
   * operations are answered, the values it expected have arrived and a sync
   * round of its own started after that has completed (its replicas' deltas
   * are merged), and then every other node has done the same after being
   * asked (`ReplicaSync.roundAfterArrivals`).
   */
  async waitSync(): Promise<void> {
    this.assertOpen("waitSync")
    await Promise.all([...this.ops.values()].map((op) => op.done.catch(() => {})))
    await this.sync.roundAfterArrivals()
    if (this.nodes === 1) return
    this.assertOpen("waitSync")
    const id = this.nextSyncWaitId++
    const done = new Promise<void>((resolve, reject) => {
      const unanswered = new Set<number>()
      for (let peer = 0; peer < this.nodes; peer++) if (peer !== this.id) unanswered.add(peer)
      this.syncWaits.set(id, { unanswered, resolve, reject })
    })
    for (let to = 0; to < this.nodes; to++) {
      if (to !== this.id) {
        this.send(
          to,
          encodeFrame({ type: FrameType.SyncWait, origin: this.id, id, hops: 0 }, NO_KEYS),
        )
      }
    }
    this.pump()
    return done
  }

  private onSyncWaitDone(from: number, id: number): void {
    const wait = this.syncWaits.get(id)
    if (wait === undefined) throw new MalformedFrame(`answer to unknown sync wait ${id}`)
    // A second answer from one peer must not stand in for another's.
    if (!wait.unanswered.delete(from)) {
      throw new MalformedFrame(`node ${from} answered sync wait ${id} again`)
    }
    if (wait.unanswered.size > 0) return
    this.syncWaits.delete(id)
    wait.resolve()
  }

  // ------------------------------------------------------------------ receiving

  /**
   * The transport's handler: decode and check the frame once, then handle it.
   * A frame that is not one of this cluster's returns why, and its link is
   * closed (`FrameHandler`); one that breaks the protocol is rejected whole.
   */
  private receive(from: number, bytes: Uint8Array): string | undefined {
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
      return error.message
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
  pump(): void {
    if (this.processing) return
    this.processing = true
    try {
      while (this.selfQueue.length > 0) {
        const bytes = this.selfQueue.shift()!
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
        case FrameType.ReplicaJoin:
        case FrameType.Sync:
        case FrameType.SyncCheck:
        case FrameType.Intent:
        case FrameType.IntentEnd:
        case FrameType.ReplicaDrop:
          this.serve(frame)
          break
        case FrameType.IntentReplica:
          this.keeper.onIntentReplica(from, frame)
          break
        case FrameType.SyncReply:
          if (frame.id === 0) this.sync.onSyncReply(from, frame)
          else this.onReply(from, frame)
          break
        case FrameType.SyncSame:
          this.sync.onSyncSame(from, frame)
          break
        case FrameType.SyncWait:
          this.sync.onSyncWait(from, frame.id)
          break
        case FrameType.SyncWaitDone:
          this.onSyncWaitDone(from, frame.id)
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
    const withValues = carriesValues(type)
    let valueAt = 0
    this.parkBatch.reset()
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      const length = this.lengthOf(key)
      const s = state[key]
      // A replica serves its own node's requests (replayed after it arrived),
      // but for a set (`appliedHere`); every other node's requests pass
      // through it towards the owner.
      if (s === KeyState.Owner || (origin === this.id && appliedHere(type, s))) {
        this.serveKey(type, origin, key, a[i], values, valueAt, reply, hops > 0)
      } else if (s === KeyState.Expected) {
        this.parkBatch.add(key, a[i], 0)
        if (withValues) this.parkBatch.addValues(values, valueAt, length)
      } else {
        // This node's own set of its replica (the only own request not served above).
        if (origin === this.id && s === KeyState.Replica) {
          this.overwriteReplica(this.ops.get(id)!, key, values, valueAt)
        }
        const batch = this.forwards.to(
          this.directory.nextHop(key, hops, this.config.forwardHopsMax),
        )
        batch.add(key, a[i], 0)
        if (withValues) batch.addValues(values, valueAt, length)
        this.stats.forwards++
      }
      valueAt += length
    }
    const replyType = REPLY_TYPE[type]
    if (type === FrameType.Localize && reply.count > 0) {
      this.handoffs.sent(origin, reply.count, this.nowMs())
    }
    this.placement.sendGrants(origin)
    this.replies.flush({ type: replyType, origin: this.id, id, hops: 0 }, this.lengthOf, this.send)
    if (this.sameBatch.count > 0) {
      const header = { type: FrameType.SyncSame, origin: this.id, id, hops: 0 }
      sendBatch(
        this.sameBatch,
        header,
        this.config.frameKeysMax,
        this.lengthOf,
        (frame) => this.send(origin, frame),
      )
      this.sameBatch.reset()
    }
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
    const versions = this.store.versions
    switch (type) {
      case FrameType.Pull:
        reply.add(key, position, epoch)
        reply.addValues(data, offset, length)
        break
      case FrameType.ReplicaDrop:
        // The origin's intent ended; its replica's last delta is added as a push.
        this.placement.holders.remove(key, origin)
        if (this.faults.loseReplicaDropDeltas) {
          reply.add(key, 0, epoch)
          break
        }
        // falls through
      case FrameType.Push: {
        const times = forwarded && this.faults.duplicateForwardedPushes ? 2 : 1
        for (let t = 0; t < times; t++) addFloats(data, offset, values, valueAt, length)
        versions[key]++
        reply.add(key, 0, epoch)
        break
      }
      case FrameType.Set:
        copyFloats(data, offset, values, valueAt, length)
        versions[key]++
        reply.add(key, 0, epoch)
        break
      case FrameType.Sync: {
        // A replica's delta: added exactly once, answered with the new value.
        const times = this.faults.duplicateSyncDeltas ? 2 : 1
        for (let t = 0; t < times; t++) addFloats(data, offset, values, valueAt, length)
        versions[key]++
        this.stats.syncKeysMerged++
        reply.add(key, versions[key], epoch)
        reply.addValues(data, offset, length)
        break
      }
      case FrameType.SyncCheck:
        // An unchanged replica holding version `position`: its value only if ours moved on.
        if (versions[key] !== position && !this.faults.ignoreSyncVersions) {
          reply.add(key, versions[key], epoch)
          reply.addValues(data, offset, length)
        } else {
          this.sameBatch.add(key, 0, epoch)
          this.stats.syncKeysSame++
        }
        break
      case FrameType.ReplicaJoin:
        // A node joins only keys it holds nothing of, so never its own.
        assert(origin !== this.id, () => `node ${this.id} asked itself for a replica of ${key}`)
        reply.add(key, versions[key], epoch)
        reply.addValues(data, offset, length)
        break
      case FrameType.Localize:
        if (origin === this.id) return // Asked for a key it already owns: nothing to do.
        if (!this.policy.relocatesOnLocalize) return
        this.handOver(key, origin, reply)
        break
      case FrameType.Intent:
        if (this.placement.decide(key, origin) === "relocate") {
          this.handOver(key, origin, this.placement.grants.to(origin))
        } else {
          reply.add(key, versions[key], epoch)
          reply.addValues(data, offset, length)
        }
        break
      case FrameType.IntentEnd:
        this.placement.holders.remove(key, origin)
        break
    }
  }

  /**
   * Hand `key` over to `origin`: the next epoch and the value go into
   * `batch` (a `HandOver` frame); the slot stays until the new owner
   * acknowledges, and requests that still arrive here are forwarded to it.
   */
  private handOver(key: number, origin: number, batch: Batch): void {
    const slab = this.store.slabOf(key)
    const offset = slab.offsetOf(key)
    const next = this.directory.epoch[key] + 1
    this.store.transition(key, KeyEvent.HandOver)
    this.directory.record(key, origin, next)
    batch.add(key, this.store.versions[key], next)
    batch.addValues(slab.values, offset, slab.table.length)
    this.stats.relocationsOut++
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
  replayParked(): void {
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
    const isJoin = frame.type === FrameType.SyncReply
    let valueAt = 0
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      // A reply from this node itself (a request replayed here) carries no news.
      if (from !== this.id) this.directory.learn(key, from, b[i], owns[key] === KeyState.Owner)
      if (op.replicaSets?.delete(key)) this.replicas.setAnswered(key)
      if (this.ordersOps) {
        this.inflight[key]--
        this.store.unhold(key)
        assert(this.inflight[key] >= 0, () => `key ${key}: more replies than requests`)
      }
      if (frame.type === FrameType.PullReply) {
        const length = this.lengthOf(key)
        copyFloats(op.out!, a[i], values, valueAt, length)
        valueAt += length
      } else if (isJoin) {
        const length = this.lengthOf(key)
        this.keeper.install(key, values, valueAt, a[i])
        valueAt += length
      }
    }
    op.remaining -= keys.length
    assert(op.remaining >= 0, () => `operation ${frame.id} got more replies than keys`)
    if (op.remaining === 0) this.finishOp(frame.id)
    if (isJoin) this.replayParked()
    if (this.deferred.length > 0) this.deferred.drain((entry) => this.issue(entry))
    this.keeper.dropIdleReplicas()
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
    if (frame.type === FrameType.SyncReply) {
      for (let k = 0; k < frame.keys.length; k++) {
        const key = frame.keys[k]
        if (this.store.state[key] !== KeyState.Expected || this.replicas.has(key)) {
          throw new MalformedFrame(`replica value for key ${key}, which is not awaited`)
        }
      }
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
    const { keys, a, b, values } = frame
    this.checkMoves(from, frame, KeyEvent.ValueArrived, "a hand-over")
    let valueAt = 0
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      const length = this.lengthOf(key)
      const offset = this.store.transition(key, KeyEvent.ValueArrived)
      copyFloats(this.store.slabOf(key).values, offset, values, valueAt, length)
      this.store.versions[key] = a[i]
      valueAt += length
      this.directory.record(key, this.id, b[i])
      this.placement.holders.clear(key)
      this.replies.to(from).add(key, 0, b[i])
      // The home learns the new owner, unless it is this node or the old
      // owner, which recorded it when it handed the key over.
      const home = this.directory.home(key)
      if (home !== this.id && home !== from) this.notices.to(home).add(key, 0, b[i])
      this.stats.relocationsIn++
    }
    const header = { origin: this.id, id: 0, hops: 0 }
    this.replies.flush({ type: FrameType.HandOverAck, ...header }, this.lengthOf, this.send)
    if (!this.noticesQueued) {
      this.noticesQueued = true
      queueMicrotask(this.sendNotices)
    }
    for (let i = 0; i < keys.length; i++) this.wake(keys[i])
    this.replayParked()
  }

  /**
   * Send the `OwnerUpdate`s gathered this turn, one frame per home. The home
   * keeps the newest epoch it hears of, so an update that a later move of the
   * key overtook is ignored there (docs/ARCHITECTURE.md, race cases).
   */
  private readonly sendNotices = (): void => {
    this.noticesQueued = false
    if (this.closed) return
    const header = { type: FrameType.OwnerUpdate, origin: this.id, id: 0, hops: 0 }
    this.notices.flush(header, this.lengthOf, this.faults.dropOwnerUpdates ? () => {} : this.send)
  }

  /** Resolve the localize waits on `key`, which became local here. */
  wake(key: number): void {
    this.localizeWaits.wake(key)
  }

  /** The old owner frees handed-over keys once the new owner has them. */
  private onHandOverAck(from: number, frame: Frame): void {
    this.checkMoves(from, frame, KeyEvent.HandOverAcked, "an acknowledgement")
    if (frame.keys.length > this.handoffs.outstandingTo(from)) {
      throw new MalformedFrame(
        `node ${from} acknowledged ${frame.keys.length} keys, ` +
          `${this.handoffs.outstandingTo(from)} were handed to it`,
      )
    }
    this.handoffs.acknowledged(from, frame.keys.length)
    for (let k = 0; k < frame.keys.length; k++) {
      const key = frame.keys[k]
      this.store.transition(key, KeyEvent.HandOverAcked)
      this.placement.handedAway(key)
      if (this.localizeAfterAck.delete(key)) {
        this.store.transition(key, KeyEvent.Localize)
        this.towardsOwner(key)
      }
    }
    this.sendTowardsOwners(FrameType.Localize)
  }

  /**
   * A peer's frame moves keys here (`event`: a hand-over's value arriving, an
   * acknowledgement freeing the slot): check, before anything changes, that
   * the lifecycle allows the move for every key and that a hand-over's epochs
   * are not older than this node's news. A peer that breaks this is buggy or
   * of another version; its frame is rejected (`MalformedFrame`), not applied.
   */
  private checkMoves(from: number, frame: Frame, event: number, what: string): void {
    const state = this.store.state
    const epoch = this.directory.epoch
    for (let i = 0; i < frame.keys.length; i++) {
      const key = frame.keys[i]
      if (nextState(state[key], event) === INVALID) {
        throw new MalformedFrame(
          `${what} from node ${from} for key ${key}, which is ${keyStateNames[state[key]]} here`,
        )
      }
      if (event === KeyEvent.ValueArrived && frame.b[i] < epoch[key]) {
        throw new MalformedFrame(
          `${what} from node ${from} for key ${key} at epoch ${frame.b[i]}, older than ${
            epoch[key]
          }`,
        )
      }
    }
  }

  /** A key's home learns its new owner. */
  private onOwnerUpdate(frame: Frame): void {
    const state = this.store.state
    for (let i = 0; i < frame.keys.length; i++) {
      const conflict = this.directory.conflict(
        frame.keys[i],
        frame.origin,
        frame.b[i],
        state[frame.keys[i]] === KeyState.Owner,
      )
      if (conflict !== undefined) throw new MalformedFrame(`owner update: ${conflict}`)
    }
    for (let i = 0; i < frame.keys.length; i++) {
      const key = frame.keys[i]
      this.directory.learn(key, frame.origin, frame.b[i], state[key] === KeyState.Owner)
    }
  }

  // ------------------------------------------------------------------- sending

  /** Send a frame; one to this node itself is queued and run by `pump`. */
  readonly send = (to: number, frame: Uint8Array): void => {
    // A frame to this node itself crosses no link: it is not counted as sent or received.
    if (to === this.id) return void this.selfQueue.push(frame)
    this.stats.framesSent++
    this.stats.bytesSent += frame.byteLength
    this.endpoint.send(to, frame)
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
   * operation, localize, `waitSync` and barrier wait with `error`, and every
   * later call.
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
    this.failPending(error)
  }

  /**
   * Fail everything that waits on this node with `error`: open operations,
   * localize waits, `waitSync` calls (on sync rounds and on peers' answers)
   * and the barrier. One list, for a lost peer and for `close()` alike.
   */
  private failPending(error: Error): void {
    for (const op of this.ops.values()) op.reject(error)
    this.ops.clear()
    this.localizeWaits.rejectAll(error)
    this.sync.fail(error)
    for (const wait of this.syncWaits.values()) wait.reject(error)
    this.syncWaits.clear()
    this.barrier.close(error)
  }

  /** Fail what is pending, stop the links. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.failPending(clusterClosed("operation interrupted"))
    await this.endpoint.close()
  }

  /** Store integrity plus this node's protocol bookkeeping. */
  checkIntegrity(): void {
    this.store.checkIntegrity()
    this.replicas.checkIntegrity()
    const state = this.store.state
    for (let key = 0; key < state.length; key++) {
      const s = state[key]
      const owner = this.directory.owner[key]
      if (s === KeyState.Owner) {
        assert(owner === this.id, () => `node ${this.id} owns key ${key} but records ${owner}`)
      } else if (s === KeyState.Absent || s === KeyState.HandingOver || s === KeyState.Replica) {
        assert(owner !== this.id, () => `node ${this.id} routes key ${key} to itself`)
      }
      assert(
        this.replicas.has(key) === (s === KeyState.Replica),
        () =>
          `key ${key} is ${
            s === KeyState.Replica ? "a replica without" : "no replica with"
          } a base`,
      )
      assert(this.inflight[key] >= 0, () => `key ${key}: negative inflight`)
      assert(this.busy[key] >= this.inflight[key], () => `key ${key}: busy below inflight`)
    }
  }
}

const NO_KEYS = new Uint32Array(0)

/** The answer to each request type. */
const REPLY_TYPE: Record<number, number> = {
  [FrameType.Pull]: FrameType.PullReply,
  [FrameType.Push]: FrameType.Ack,
  [FrameType.Set]: FrameType.Ack,
  [FrameType.ReplicaDrop]: FrameType.Ack,
  [FrameType.Localize]: FrameType.HandOver,
  [FrameType.ReplicaJoin]: FrameType.SyncReply,
  [FrameType.Sync]: FrameType.SyncReply,
  [FrameType.SyncCheck]: FrameType.SyncReply,
  [FrameType.Intent]: FrameType.IntentReplica,
  // Nothing answers an IntentEnd; its reply batch stays empty.
  [FrameType.IntentEnd]: FrameType.Ack,
}

/**
 * Does this node apply its own request `type` to a key in `state` from its
 * store? An owner and a replica serve pulls and pushes alike, but a set
 * overwrites once, at the owner (DESIGN.md §4): of a replica it goes there.
 */
function appliedHere(type: number, state: number): boolean {
  return type === FrameType.Set ? state === KeyState.Owner : servesLocally(state)
}
