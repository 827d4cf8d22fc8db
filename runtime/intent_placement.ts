/**
 * Intent placement at one node: both ends of the `Intent`/`IntentEnd`
 * exchange that decides where a key lives under intent-driven policies.
 *
 * As the node with intent: when its interest in keys begins (the scheduler
 * in intents.ts calls `acquire`), it tells the owners of the keys it holds
 * nothing of, through one of its own operations, so the intent is ordered
 * after its earlier operations on the keys and what comes back already holds
 * them; the keys are expected until a hand-over or a replica arrives. When
 * interest ends (`release`) it waits for the end of its next sync round
 * (`releaseEnded`), then, for the keys whose interest has not come back,
 * drops its replicas (the drop tells the owner) and sends `IntentEnd` for
 * keys it holds nothing of: one frame per owner for a round's releases, and
 * a replica asked for again within the round stays. A key it handed away
 * while it still had intent for it is asked back at its next clock
 * (`wantedBack`, `onClockAdvanced`), which bounds how often a contested key
 * moves.
 *
 * As the owner: each `Intent` key gets AdaPM's decision (`decide`, the pure
 * rule of placement.ts over the holders recorded here): relocate, and the
 * hand-over goes into `grants`, sent ahead of the frame's other answers; or
 * replicate, and the requester becomes a holder. `IntentEnd` or a
 * `ReplicaDrop` removes it. The hand-over itself and the replica's value are
 * the node's (node.ts, replica_keeper.ts).
 */
import { KeyEvent, KeyState } from "../actors/lifecycle.ts"
import type { Store } from "../actors/store.ts"
import { Outbox, type SendFrame } from "./batch.ts"
import { FrameType } from "./codec.ts"
import type { OpEntry } from "./deferred.ts"
import type { Handoffs } from "./handoffs.ts"
import type { IntentScheduler } from "./intents.ts"
import { decidePlacement, IntentHolders, type Placement } from "./placement.ts"
import type { Policy } from "./policy.ts"
import type { NodeStats } from "./stats.ts"

/** What intent placement needs of its node (runtime/node.ts). */
export interface PlacementHost {
  readonly id: number
  readonly store: Store
  readonly stats: NodeStats
  readonly policy: Policy
  readonly intents: IntentScheduler
  readonly handoffs: Handoffs
  readonly closed: boolean
  readonly lengthOf: (key: number) => number
  readonly send: SendFrame
  nowMs(): number
  openOp(remaining: number, out: Float32Array | undefined): { id: number; done: Promise<void> }
  submit(entry: OpEntry): void
  finishOp(opId: number): void
  /** Add `key` to the node's next keys-only request towards its owner. */
  towardsOwner(key: number): void
  /** Send the keys gathered by `towardsOwner` as `type` requests. */
  sendTowardsOwners(type: number): void
  dropReplicas(keys: ArrayLike<number>): void
  /** Run the frames the node sent itself. */
  pump(): void
}

/** Interest ended while the key was held here other than as owner (replica, expected, absent). */
const ENDED_HELD = 1
/** Interest ended while the key was owned here: there is nothing to release. */
const ENDED_OWNED = 2

const NO_VALUES = new Float32Array(0)
const NO_OFFSETS = new Uint32Array(0)

export class IntentPlacement {
  /** For keys owned here: the other nodes with active intent (intent-driven policies). */
  readonly holders = new IntentHolders()
  /** Hand-overs granted to intents, sent ahead of the replicas granted with the frame's replies. */
  readonly grants: Outbox
  /** Keys handed away while this node had intent for them: asked back at the next clock. */
  private readonly wantedBack = new Set<number>()
  /** Keys whose interest ended since the last sync round, each once (`ending` marks them). */
  private readonly ended: number[] = []
  /** Per key: 0, or how it was held when its interest last ended (`ENDED_HELD`, `ENDED_OWNED`). */
  private readonly ending: Uint8Array

  constructor(private readonly node: PlacementHost, frameKeysMax: number, nodes: number) {
    this.grants = new Outbox(nodes, frameKeysMax)
    this.ending = new Uint8Array(node.store.space.keys)
  }

  /**
   * Interest in `keys` began here (runtime/intents.ts): acquire the ones not
   * local. The keys with an earlier operation of this node unfinished (`busy`)
   * go in an intent of their own, which waits for those operations; the others
   * are asked for at once. One intent for all would wait, whole, for any one
   * busy key (the deferred queue orders operations, not keys), and keep every
   * key of a batch from arriving in time behind a push still on its way.
   */
  acquire(keys: readonly number[]): void {
    const node = this.node
    if (!node.policy.usesIntent || node.closed) return
    const state = node.store.state
    const busy = node.store.busy
    const free: number[] = []
    const waiting: number[] = []
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]
      // A key still being handed over away from here is asked back once acknowledged.
      if (state[key] === KeyState.Absent) (busy[key] > 0 ? waiting : free).push(key)
    }
    this.submitIntent(free)
    this.submitIntent(waiting)
  }

  /** Submit an `Intent` operation for `keys` (none: nothing). */
  private submitIntent(keys: readonly number[]): void {
    if (keys.length === 0) return
    const node = this.node
    const op = node.openOp(keys.length, undefined)
    op.done.catch(() => {})
    node.submit({
      type: FrameType.Intent,
      opId: op.id,
      keys: Uint32Array.from(keys),
      a: NO_OFFSETS,
      values: NO_VALUES,
    })
  }

  /**
   * Interest in `keys` ended here: note them, to be released at the end of
   * the node's next sync round (`releaseEnded`). A key owned here needs
   * nothing: the owner records only the other nodes' intent.
   */
  release(keys: readonly number[]): void {
    const node = this.node
    if (!node.policy.usesIntent || node.closed) return
    const state = node.store.state
    const ending = this.ending
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]
      const owned = state[key] === KeyState.Owner
      if (ending[key] === 0) {
        if (owned) continue
        this.ended.push(key)
      }
      // The latest end counts: a key may end, come back and end again in one round.
      ending[key] = owned ? ENDED_OWNED : ENDED_HELD
    }
  }

  /**
   * A sync round completed: release the keys whose interest ended since the
   * last round and has not come back. Their replicas are dropped (the drop
   * carries the last delta and tells the owner), and the owners of the keys
   * this node holds nothing of hear `IntentEnd`: one frame per owner for
   * the round's releases, where releasing at each clock sent a frame or two
   * per clock and owner. A key asked for again within the round keeps its
   * replica rather than leave and come back.
   */
  releaseEnded(): void {
    const ended = this.ended
    const node = this.node
    if (ended.length === 0 || node.closed) return
    const state = node.store.state
    const interest = node.intents.interest
    const ending = this.ending
    const drop: number[] = []
    for (let k = 0; k < ended.length; k++) {
      const key = ended[k]
      const mark = ending[key]
      ending[key] = 0
      if (mark === ENDED_OWNED || interest[key] > 0) continue
      const s = state[key]
      if (s === KeyState.Owner) continue
      if (s === KeyState.Replica) drop.push(key)
      else node.towardsOwner(key)
    }
    ended.length = 0
    // The drops send the IntentEnd of these keys with those of unchanged replicas.
    if (drop.length > 0) node.dropReplicas(drop)
    node.sendTowardsOwners(FrameType.IntentEnd)
    node.pump()
  }

  /**
   * Tell the owners of the keys this node holds nothing of that it has intent
   * for them; they become expected until a hand-over or a replica arrives.
   * The operation only orders this after the node's earlier operations on the
   * keys (so what arrives already holds them); it completes when sent.
   */
  issueIntent(entry: OpEntry): void {
    const node = this.node
    const state = node.store.state
    for (let k = 0; k < entry.keys.length; k++) {
      const key = entry.keys[k]
      if (state[key] !== KeyState.Absent) continue
      node.store.transition(key, KeyEvent.Localize)
      node.towardsOwner(key)
    }
    node.sendTowardsOwners(FrameType.Intent)
    node.finishOp(entry.opId)
  }

  /** Count accesses covered by an active intent here, and those served locally. */
  countIntentAccess(keys: ArrayLike<number>, rows: Int32Array): void {
    const flags = this.node.intents.covered
    let covered = 0
    let local = 0
    // Branch-free: `rows` (the batch's scan) is negative exactly for the keys not ready here.
    for (let i = 0; i < keys.length; i++) {
      const flag = flags[keys[i]]
      covered += flag
      local += flag & ~(rows[i] >>> 31)
    }
    this.node.stats.intentKeys += covered
    this.node.stats.intentKeysLocal += local
  }

  /**
   * A key this node handed away was acknowledged: if it is still wanted here
   * (an intent began while the key was leaving, or a contested key under
   * relocation-only), ask for it back at the next clock.
   */
  handedAway(key: number): void {
    if (this.node.intents.interest[key] > 0) this.wantedBack.add(key)
  }

  /**
   * A worker's clock advanced: ask again for keys this node handed away while
   * it still had intent for them. Waiting for the clock, rather than asking
   * at the acknowledgement, bounds how often a key contested under
   * `relocation-only` can move: once per clock, not as fast as the links go.
   */
  onClockAdvanced(): void {
    if (this.wantedBack.size === 0) return
    const interest = this.node.intents.interest
    const keys = [...this.wantedBack].filter((key) => interest[key] > 0)
    this.wantedBack.clear()
    if (keys.length > 0) this.acquire(keys)
  }

  /**
   * The owner's answer to `origin`'s intent for `key`, with the holders
   * updated to match: on "relocate" nobody else has intent, so the record is
   * cleared (the caller hands the key over into `grants`); on "replicate"
   * `origin` becomes a holder (the caller replies with the value).
   */
  decide(key: number, origin: number): Placement {
    const placement = decidePlacement(this.node.policy.name, {
      ownerHasIntent: this.node.intents.interest[key] > 0,
      otherHolders: this.holders.countExcept(key, origin),
    })
    if (placement === "relocate") this.holders.clear(key)
    else this.holders.add(key, origin)
    return placement
  }

  /** Send the hand-overs granted to `origin` while serving its frame, before the replies. */
  sendGrants(origin: number): void {
    const granted = this.grants.to(origin).count
    if (granted === 0) return
    const node = this.node
    node.handoffs.sent(origin, granted, node.nowMs())
    this.grants.flush(
      { type: FrameType.HandOver, origin: node.id, id: 0, hops: 0 },
      node.lengthOf,
      node.send,
    )
  }
}
