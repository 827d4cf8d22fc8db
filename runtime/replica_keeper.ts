/**
 * The replica keeper: which replicas a node holds, how they arrive and how
 * they leave.
 *
 * A node gains a replica by joining (`replicate`, a `ReplicaJoin` that is one
 * of its operations, so the first value already holds its earlier pushes; the
 * `nups { hottest: n }` warm-up ends in one such join), or because an owner
 * answered an intent with one (`IntentReplica`). It installs the value, wakes
 * whatever waited for the key and replays the requests parked behind it.
 *
 * A replica leaves by `dropReplicas`, when the node's intent for it ended:
 * its last delta goes to the owner in a `ReplicaDrop`, an operation of this
 * node (ordered like any other) that the owner adds like a push and that
 * also ends the node's intent there; an unchanged replica sends `IntentEnd`.
 * Two waits can stand in the way, and each has its own set here: a replica
 * whose sync is unanswered is dropped when the answer comes (`dropAfterSync`,
 * see replica_sync.ts), and one that this node's waiting operations still
 * need is dropped once the key is idle (`dropWhenIdle`); either is kept if
 * the intent came back meanwhile. The keeper owns these sets because it alone
 * decides, when a wait ends, whether the replica is still unwanted. Bases and
 * sync rounds themselves live in actors/replicas.ts and replica_sync.ts.
 */
import { KeyEvent, KeyState } from "../actors/lifecycle.ts"
import type { Replicas } from "../actors/replicas.ts"
import { copyFloats, type Store } from "../actors/store.ts"
import { Batch } from "./batch.ts"
import { type Frame, FrameType, MalformedFrame } from "./codec.ts"
import type { OpEntry } from "./deferred.ts"
import type { Directory } from "./directory.ts"
import type { IntentScheduler } from "./intents.ts"
import type { Policy } from "./policy.ts"
import type { NodeStats } from "./stats.ts"

/** What the keeper needs of its node (runtime/node.ts). */
export interface ReplicaHost {
  readonly store: Store
  readonly replicas: Replicas
  readonly directory: Directory
  readonly stats: NodeStats
  readonly policy: Policy
  readonly intents: IntentScheduler
  readonly closed: boolean
  /** The warm-up's access counts; the keeper ends the warm-up. */
  accessCounts: Uint32Array | undefined
  readonly lengthOf: (key: number) => number
  openOp(remaining: number, out: Float32Array | undefined): { id: number; done: Promise<void> }
  submit(entry: OpEntry): void
  /** Resolve the localize waits on `key`, which became local. */
  wake(key: number): void
  /** Replay the requests parked while keys were expected. */
  replayParked(): void
  /** Add `key` to the node's next keys-only request towards its owner. */
  towardsOwner(key: number): void
  /** Send the keys gathered by `towardsOwner` as `type` requests. */
  sendTowardsOwners(type: number): void
}

const NO_VALUES = new Float32Array(0)

export class ReplicaKeeper {
  /** Replicas to drop once their outstanding sync is answered. */
  private readonly dropAfterSync = new Set<number>()
  /** Replicas to drop once no operation of this node is waiting on them (see dropReplicas). */
  private readonly dropWhenIdle = new Set<number>()
  /** The last deltas of replicas being dropped, and one key's delta. */
  private readonly dropBatch = new Batch()
  private readonly delta: Float32Array

  constructor(private readonly node: ReplicaHost, lengthMax: number) {
    this.delta = new Float32Array(lengthMax)
  }

  /**
   * Ask the owners for replicas of `keys` (those this node holds nothing of);
   * resolves when they have all arrived. The join is one of this node's
   * operations, so it is answered after every earlier operation on the keys:
   * the replica's first value already holds this node's earlier pushes.
   */
  replicate(keys: ArrayLike<number>): Promise<void> {
    const list = Uint32Array.from(keys)
    const op = this.node.openOp(list.length, undefined)
    this.node.submit({
      type: FrameType.ReplicaJoin,
      opId: op.id,
      keys: list,
      a: new Uint32Array(list.length),
      values: NO_VALUES,
    })
    return op.done
  }

  /**
   * End the warm-up of `nups` `{ hottest: n }`: replicate the n keys this
   * node's workers accessed most, except those it owns, and stop counting.
   */
  endWarmup(): void {
    const node = this.node
    const counts = node.accessCounts
    if (counts === undefined) return
    node.accessCounts = undefined
    const accessed: number[] = []
    for (let key = 0; key < counts.length; key++) if (counts[key] > 0) accessed.push(key)
    accessed.sort((x, y) => counts[y] - counts[x] || x - y)
    const hot = accessed.slice(0, node.policy.hottest)
      .filter((key) => node.store.state[key] !== KeyState.Owner)
    if (hot.length > 0 && !node.closed) this.replicate(hot).catch(() => {})
  }

  /** A replica's value arrived (a join's answer or an intent's grant): install it, wake waiters. */
  install(key: number, values: Float32Array, valueAt: number, version: number): void {
    const node = this.node
    const offset = node.store.transition(key, KeyEvent.ReplicaArrived)
    const slab = node.store.slabOf(key)
    copyFloats(slab.values, offset, values, valueAt, slab.table.length)
    node.replicas.add(key, values, valueAt, version)
    node.stats.replicasCreated++
    node.wake(key)
  }

  /** Replicas granted to this node's intents: install, replay, drop those no longer wanted. */
  onIntentReplica(from: number, frame: Frame): void {
    const node = this.node
    const { keys, a, b, values } = frame
    const state = node.store.state
    for (const key of keys) {
      if (state[key] !== KeyState.Expected) {
        throw new MalformedFrame(`intent replica for key ${key}, which is not expected`)
      }
    }
    const unwanted: number[] = []
    let valueAt = 0
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      const length = node.lengthOf(key)
      node.directory.learn(key, from, b[i], false)
      this.install(key, values, valueAt, a[i])
      valueAt += length
      if (node.intents.interest[key] === 0) unwanted.push(key)
    }
    node.replayParked()
    if (unwanted.length > 0) this.dropReplicas(unwanted)
  }

  /** A replica's sync was answered (replica_sync.ts): a drop that waited for it goes ahead. */
  onSyncAnswered(key: number): void {
    if (!this.dropAfterSync.delete(key)) return
    // Intent for the key came back while the drop waited for this answer:
    // keep the replica (the owner still counts this node as a holder, as it
    // hears that an intent ended only from the drop itself).
    if (this.node.intents.interest[key] === 0) this.dropReplicas([key])
  }

  /**
   * Drop the replicas among `keys`: each sends its last delta to the owner in
   * a `ReplicaDrop` (an operation of this node, so a later pull here sees
   * it), or an `IntentEnd` if unchanged, and frees its slot. A replica whose
   * sync is unanswered is dropped when the answer comes.
   */
  dropReplicas(keys: ArrayLike<number>): void {
    const node = this.node
    const state = node.store.state
    const drops = this.dropBatch
    drops.reset()
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      if (state[key] !== KeyState.Replica) continue
      if (node.replicas.outstanding[key] !== 0) {
        this.dropAfterSync.add(key)
        continue
      }
      // Operations of this node on the key that wait (deferred) were issued
      // after pushes already in the replica; were the last delta queued
      // behind them, a waiting pull would reach the owner before it. So the
      // replica serves them first and is dropped once the key is idle.
      if (node.store.busy[key] > 0) {
        this.dropWhenIdle.add(key)
        continue
      }
      const slab = node.store.slabOf(key)
      // An unchanged replica has nothing to send.
      if (node.replicas.takeDelta(key, slab, this.delta)) {
        drops.add(key, 0, 0)
        drops.addValues(this.delta, 0, slab.table.length)
      } else node.towardsOwner(key)
      node.replicas.remove(key)
      node.store.transition(key, KeyEvent.DropReplica)
      node.stats.replicasDropped++
    }
    node.sendTowardsOwners(FrameType.IntentEnd)
    if (drops.count === 0) return
    const { keys: dropped, a, values } = drops.snapshot()
    drops.reset()
    const op = node.openOp(dropped.length, undefined)
    op.done.catch(() => {})
    // The workers' accesses were counted when they pushed to the replica.
    node.submit({
      type: FrameType.ReplicaDrop,
      opId: op.id,
      keys: dropped,
      a,
      values,
      internal: true,
    })
  }

  /**
   * Drop the replicas whose drop waited for their key to be idle, if still
   * unwanted. Called after each reply, which may have made keys idle.
   */
  dropIdleReplicas(): void {
    if (this.dropWhenIdle.size === 0) return
    const node = this.node
    const idle: number[] = []
    for (const key of this.dropWhenIdle) {
      if (node.store.busy[key] > 0) continue
      this.dropWhenIdle.delete(key)
      if (!node.policy.usesIntent || node.intents.interest[key] === 0) idle.push(key)
    }
    if (idle.length > 0) this.dropReplicas(idle)
  }
}
