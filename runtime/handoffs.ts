/**
 * Hand-off tracking: which hand-overs of this node are still unacknowledged, and since when.
 *
 * The old owner keeps a key's slot until the new owner acknowledges the
 * hand-over (the new owner is in place before the old one forgets). Links are
 * FIFO both ways and a node acknowledges hand-overs in the order it receives
 * them, so per destination the outstanding hand-overs form a queue that
 * acknowledgements consume from the front. A watchdog fiber (`watchHandoffs`,
 * an Effect program on the injected Clock) reports any hand-over older than
 * `handoffTimeoutMs`: on a live link that means a stuck peer, which the
 * failure detector of a real transport turns into `PeerLost`.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { assert } from "../actors/assert.ts"

interface Outstanding {
  readonly sentAtMs: number
  remaining: number
  reported: boolean
}

export class Handoffs {
  private readonly queues: Outstanding[][]

  constructor(nodes: number) {
    this.queues = Array.from({ length: nodes }, () => [])
  }

  /** `keys` keys were handed over to `to` at `nowMs`. */
  sent(to: number, keys: number, nowMs: number): void {
    this.queues[to].push({ sentAtMs: nowMs, remaining: keys, reported: false })
  }

  /** `from` acknowledged `keys` keys, oldest first. */
  acknowledged(from: number, keys: number): void {
    const queue = this.queues[from]
    while (keys > 0) {
      const head = queue[0]
      assert(head !== undefined, () => `node ${from} acknowledged a hand-over never sent to it`)
      const taken = Math.min(keys, head.remaining)
      head.remaining -= taken
      keys -= taken
      if (head.remaining === 0) queue.shift()
    }
  }

  /** Keys handed over to `to` and not yet acknowledged. */
  outstandingTo(to: number): number {
    let keys = 0
    for (const entry of this.queues[to]) keys += entry.remaining
    return keys
  }

  /** Keys handed over and not yet acknowledged. */
  get outstanding(): number {
    let keys = 0
    for (const queue of this.queues) for (const entry of queue) keys += entry.remaining
    return keys
  }

  /** Report (once each) the hand-overs older than `timeoutMs`; returns them per destination. */
  overdue(nowMs: number, timeoutMs: number): Array<{ node: number; keys: number; ageMs: number }> {
    const late: Array<{ node: number; keys: number; ageMs: number }> = []
    this.queues.forEach((queue, node) => {
      for (const entry of queue) {
        if (entry.reported || nowMs - entry.sentAtMs < timeoutMs) continue
        entry.reported = true
        late.push({ node, keys: entry.remaining, ageMs: nowMs - entry.sentAtMs })
      }
    })
    return late
  }
}

/** What the watchdog needs from a node. */
export interface Watched {
  readonly id: number
  readonly handoffs: Handoffs
  readonly stats: { handoffsOverdue: number }
  readonly log: (message: string) => void
}

/**
 * Check the node's hand-overs every half `handoffTimeoutMs`, forever (until
 * the node's scope closes); each overdue hand-over is counted and logged once.
 */
export const watchHandoffs = (node: Watched, handoffTimeoutMs: number) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    for (const late of node.handoffs.overdue(now, handoffTimeoutMs)) {
      node.stats.handoffsOverdue++
      node.log(
        `roam node ${node.id}: ${late.keys} keys handed over to node ${late.node} ` +
          `unacknowledged for ${late.ageMs} ms (handoffTimeoutMs ${handoffTimeoutMs})`,
      )
    }
  }).pipe(Effect.repeat(Schedule.spaced(Duration.millis(Math.max(1, handoffTimeoutMs / 2)))))
