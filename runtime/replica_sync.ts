/**
 * Sync rounds: how a node's replicas exchange deltas with the keys' owners.
 *
 * A round sends, for every replica this node holds that was pushed to since
 * its last sync, its delta (`value − base`, actors/replicas.ts) towards the
 * key's owner, batched into one `Sync` frame per destination; the base becomes
 * the value sent. The owner adds the delta exactly once (a sync is routed,
 * parked and forwarded like a push, so it reaches whichever node owns the key,
 * also while the key moves) and answers with its value `A` and its version
 * (`SyncReply`); the replica becomes `A + (value − base)` (what was pushed here
 * since sending) and its base `A`. Every unchanged replica goes into one
 * `SyncCheck` frame per destination with the version of its base instead: the
 * owner answers with its value only if its version differs, and otherwise with
 * the key alone (`SyncSame`), so a round over many replicas of which few
 * changed costs keys, not values. A round is complete when every key of it is
 * answered, so each replica has at most one sync outstanding. `runSyncRounds` is the Effect fiber that starts round after
 * round on the node's Clock, the next once the previous is complete, at most
 * `syncRoundsPerSecondMax` a second.
 *
 * Round counters also carry `waitSync`: a node asked (`SyncWait`) answers once
 * a round it started after the question has completed, because such a round
 * fetched values that include everything the asker had merged at the owners
 * before asking. A value this node was still waiting for when asked (a key
 * `expected`) may have left its owner before the asker's pushes merged there
 * and land after the answer, so the node first waits for each such key to
 * arrive, counted by the store's per-key `arrivals` rather than by its state
 * (a key may arrive, be dropped and be expected again before the node looks),
 * and then for a round started after the last of them arrived, which brings
 * the replicas among them up to date.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { assert } from "../actors/assert.ts"
import { KeyState } from "../actors/lifecycle.ts"
import type { Replicas } from "../actors/replicas.ts"
import type { Store } from "../actors/store.ts"
import { Outbox, type SendFrame } from "./batch.ts"
import { encodeFrame, type Frame, FrameType, MalformedFrame } from "./codec.ts"
import type { Directory } from "./directory.ts"
import type { NodeStats } from "./stats.ts"

/** What sync rounds need of their node. */
export interface SyncHost {
  readonly id: number
  readonly nodes: number
  readonly store: Store
  readonly replicas: Replicas
  readonly directory: Directory
  readonly stats: NodeStats
  readonly lengthOf: (key: number) => number
  readonly sendFrame: SendFrame
  /** Forward hops before a request goes to the home (config.forwardHopsMax). */
  readonly forwardHopsMax: number
  /** Called when a replica's sync is answered and nothing holds it any more. */
  readonly onSyncAnswered: (key: number) => void
  /**
   * Called after every completed round: the intent scheduler measures clock
   * rates by it, and intent placement releases the keys whose intents ended.
   */
  readonly onRound: () => void
}

const NO_KEYS = new Uint32Array(0)

export class ReplicaSync {
  roundsStarted = 0
  roundsCompleted = 0
  /** Keys of the current round still unanswered. */
  private awaiting = 0
  private running = false
  private readonly delta: Float32Array
  private roundDone: (() => void) | undefined
  /** Waiters for a round count: resolved once `roundsCompleted ≥ round`. */
  private readonly waiters: Array<
    { round: number; wake: () => void; fail: (error: Error) => void }
  > = []
  /** Why no round can complete any more (a peer lost, the node closed), once so. */
  private failed: Error | undefined
  /**
   * `SyncWait`s that wait for values expected when they came: `keys` with
   * their `arrivals` then (`marks`); `next` indexes the first not seen to arrive.
   */
  private readonly arriving: Array<
    {
      keys: Uint32Array
      marks: Uint32Array
      next: number
      wake: () => void
      fail: (error: Error) => void
    }
  > = []

  /** Per destination: the changed replicas' deltas, and the unchanged ones' versions. */
  private readonly deltas: Outbox
  private readonly checks: Outbox

  constructor(private readonly host: SyncHost, frameKeysMax: number) {
    this.delta = new Float32Array(host.store.space.lengthMax)
    this.deltas = new Outbox(host.nodes, frameKeysMax)
    this.checks = new Outbox(host.nodes, frameKeysMax)
  }

  /** A round is in flight (started, not complete). */
  get inRound(): boolean {
    return this.running
  }

  /**
   * Start a round: send every replica's delta towards its owner. `done` runs
   * once every key of the round is answered (at once, with no replicas).
   * Returns false, doing nothing, while the previous round is in flight.
   */
  startRound(done?: () => void): boolean {
    if (this.running) return false
    const host = this.host
    const { store, replicas, directory } = host
    if (this.arriving.length > 0) this.admitArrived()
    this.running = true
    this.roundsStarted++
    this.roundDone = done
    const delta = this.delta
    let keys = 0
    let checked = 0
    replicas.forEach((key) => {
      if (replicas.outstanding[key] !== 0) return
      const slab = store.slabOf(key)
      const to = directory.nextHop(key, 0, host.forwardHopsMax)
      if (replicas.takeDelta(key, slab, delta)) {
        const batch = this.deltas.to(to)
        batch.add(key, 0, 0)
        batch.addValues(delta, 0, slab.table.length)
      } else {
        this.checks.to(to).add(key, replicas.versions[key], 0)
        checked++
      }
      replicas.outstanding[key] = 1
      keys++
    })
    this.awaiting = keys
    if (keys === 0) {
      // Nothing to sync: the round completes at once and is not counted.
      this.complete()
      return true
    }
    host.stats.syncRounds++
    host.stats.syncKeysSent += keys
    host.stats.syncKeysChecked += checked
    const bytesBefore = host.stats.bytesSent
    const header = { origin: host.id, id: 0, hops: 0 }
    this.deltas.flush({ type: FrameType.Sync, ...header }, host.lengthOf, host.sendFrame)
    this.checks.flush({ type: FrameType.SyncCheck, ...header }, host.lengthOf, host.sendFrame)
    host.stats.syncBytesSent += host.stats.bytesSent - bytesBefore
    return true
  }

  /**
   * The owner's answer to this round's syncs: merge each key as
   * `A + (value − base)`, base `A`, and remember `A`'s version. The frame is
   * checked whole before anything changes, so a reply naming a key with no
   * sync outstanding is rejected.
   */
  onSyncReply(from: number, frame: Frame): void {
    const { store, replicas } = this.host
    const { keys, a, values } = frame
    this.checkAnswer(frame)
    let valueAt = 0
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      const slab = store.slabOf(key)
      replicas.merge(key, slab, values, valueAt, a[i])
      valueAt += slab.table.length
    }
    this.answered(from, frame)
  }

  /** The owner's value of these keys is still the version their replicas hold. */
  onSyncSame(from: number, frame: Frame): void {
    this.checkAnswer(frame)
    this.answered(from, frame)
  }

  private checkAnswer(frame: Frame): void {
    const { keys } = frame
    for (let i = 0; i < keys.length; i++) {
      if (this.host.replicas.outstanding[keys[i]] === 0) {
        throw new MalformedFrame(`sync answer for key ${keys[i]}, which has no sync outstanding`)
      }
    }
  }

  /** Mark the frame's keys answered (their syncs no longer outstanding); complete the round. */
  private answered(from: number, frame: Frame): void {
    const host = this.host
    const { store, replicas, directory } = host
    const { keys, b } = frame
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]
      assert(store.state[key] === KeyState.Replica, () => `synced key ${key} is no replica`)
      replicas.outstanding[key] = 0
      directory.learn(key, from, b[i], false)
      host.onSyncAnswered(key)
    }
    this.awaiting -= keys.length
    assert(this.awaiting >= 0, "more sync answers than syncs sent")
    if (this.awaiting === 0 && this.running) this.complete()
  }

  /** Resolves once a round started after this call has completed. */
  private nextRound(): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed)
    // With no replica here a round has nothing to send and completes at once:
    // start one now rather than wait out the round fiber's time slot.
    if (!this.running && this.host.replicas.count === 0) {
      this.startRound()
      return Promise.resolve()
    }
    // Rounds complete in the order they start, so the next to start is the one to wait for.
    const round = this.roundsStarted + 1
    return new Promise((wake, fail) => this.waiters.push({ round, wake, fail }))
  }

  /**
   * Resolves once every key expected now has arrived and a round started
   * after that has completed (at once `nextRound` when none is expected).
   */
  roundAfterArrivals(): Promise<void> {
    const store = this.host.store
    if (this.failed !== undefined || store.expectedHeld === 0) return this.nextRound()
    const keys = store.expectedList()
    const marks = new Uint32Array(keys.length)
    for (let i = 0; i < keys.length; i++) marks[i] = store.arrivals[keys[i]]
    return new Promise((wake, fail) => this.arriving.push({ keys, marks, next: 0, wake, fail }))
  }

  /**
   * A round is about to start: the waits whose keys have all arrived wait for
   * it (it is the next to start), the others keep waiting for their keys.
   */
  private admitArrived(): void {
    const arrivals = this.host.store.arrivals
    const round = this.roundsStarted + 1
    for (let w = this.arriving.length - 1; w >= 0; w--) {
      const wait = this.arriving[w]
      const { keys, marks } = wait
      while (wait.next < keys.length && arrivals[keys[wait.next]] !== marks[wait.next]) wait.next++
      if (wait.next < keys.length) continue
      this.arriving.splice(w, 1)
      this.waiters.push({ round, wake: wait.wake, fail: wait.fail })
    }
  }

  /** No round will complete any more: fail every wait for one with `error`. */
  fail(error: Error): void {
    this.failed ??= error
    for (const waiter of this.waiters.splice(0)) waiter.fail(error)
    for (const wait of this.arriving.splice(0)) wait.fail(error)
  }

  /**
   * Answer a `SyncWait` from `from` once the values this node expected when
   * it came have arrived and a round started after that has completed.
   */
  onSyncWait(from: number, id: number): void {
    const host = this.host
    this.roundAfterArrivals().then(
      () =>
        host.sendFrame(
          from,
          encodeFrame({ type: FrameType.SyncWaitDone, origin: host.id, id, hops: 0 }, NO_KEYS),
        ),
      // The node failed or closed: there is no one to answer.
      () => {},
    )
  }

  private complete(): void {
    this.running = false
    this.roundsCompleted++
    this.host.onRound()
    const done = this.roundDone
    this.roundDone = undefined
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].round <= this.roundsCompleted) {
        this.waiters[i].wake()
        this.waiters.splice(i, 1)
      }
    }
    done?.()
  }
}

/**
 * Sync rounds forever, until the node's scope closes: start a round, wait
 * until it is complete, then wait out the rest of the round's time slot
 * (`1000 / syncRoundsPerSecondMax` ms), all on the Clock service so a test's
 * TestClock drives them.
 */
export const runSyncRounds = (sync: ReplicaSync, syncRoundsPerSecondMax: number) => {
  const slotMs = 1000 / syncRoundsPerSecondMax
  return Effect.gen(function* () {
    while (true) {
      const started = yield* Clock.currentTimeMillis
      yield* Effect.callback<void>((resume) => {
        sync.startRound(() => resume(Effect.void))
      })
      const elapsed = (yield* Clock.currentTimeMillis) - started
      if (elapsed < slotMs) yield* Effect.sleep(Duration.millis(slotMs - elapsed))
      else yield* Effect.yieldNow
    }
  })
}
