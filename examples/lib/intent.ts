/**
 * Where the examples' data loaders signal intent.
 *
 * A data loader knows which keys its next mini-batches will touch, so it is
 * the natural place to say so: "this worker needs these keys from clock
 * `start` until `end`" (`worker.intent`), with `worker.advanceClock()` once
 * per mini-batch. Under an intent-driven policy (`adaptive`, the default, and
 * its ablations) roam makes the keys local just before `start` and lets them
 * go after `end`; under the other policies the call is accepted and ignored,
 * so one loader runs under every policy. The hand-placed variant stays for
 * `lapse` and `nups`, which have no intent: a long-lived intent (`end` =
 * `FOREVER`, such as a worker's own rows) becomes `localize`, which relocates
 * the keys to the worker's node. Short intents have no hand-placed
 * equivalent and are only signalled.
 */
import type { Keys, PolicyName, Worker } from "../../mod.ts"

/** Mini-batches ahead at which loaders signal their keys. */
export const INTENT_LOOKAHEAD_CLOCKS = 2

/** The end clock of an intent that lasts for the rest of training. */
export const FOREVER = Number.MAX_SAFE_INTEGER

/** Policies that place keys by hand (`localize`) rather than by intent. */
const HAND_PLACED: ReadonlySet<PolicyName> = new Set<PolicyName>(["lapse", "nups"])

/** One intent: the keys, the clocks `[start, end)`, and the run's policy. */
export interface IntentSignal {
  readonly keys: Keys
  readonly start: number
  readonly end: number
  readonly policy: PolicyName
  /** The intent covers a whole phase of the task (a DSGD subepoch): hand-placed policies localize it too. */
  readonly phase?: boolean
}

/**
 * INTENT: the single place the examples declare future accesses. Returns a
 * promise only for a hand-placed long-lived intent, for the rest of training
 * or a phase (resolved once the keys are local); intents proper take effect
 * in the background.
 */
export function signalIntent(worker: Worker, signal: IntentSignal): Promise<void> | undefined {
  const { keys, start, end, policy } = signal
  worker.intent(keys, start, end)
  const longLived = end === FOREVER || signal.phase === true
  if (longLived && HAND_PLACED.has(policy)) return worker.localize(keys)
  return undefined
}

/**
 * The clock of a training loop whose data loader signals ahead: mini-batch `b`
 * runs at the clock `advance(b)` moves the worker to, and its keys were
 * signalled `INTENT_LOOKAHEAD_CLOCKS` mini-batches earlier. `signal(batch,
 * clock)` is the loader's (it may ignore a batch past the end); without one,
 * the loop only keeps the clock.
 */
export class LookaheadClock {
  constructor(
    private readonly worker: Worker,
    private readonly signal?: (batch: number, clock: number) => void,
  ) {}

  /** Signal the first mini-batches, before the loop: batch `b` runs at clock now + b + 1. */
  prime(): void {
    const now = this.worker.clock
    for (let b = 0; this.signal && b < INTENT_LOOKAHEAD_CLOCKS; b++) this.signal(b, now + b + 1)
  }

  /**
   * Enter mini-batch `batch`: advance the clock, signal the batch
   * `INTENT_LOOKAHEAD_CLOCKS` ahead, and return a turn of the event loop to
   * await when the node is due one (`yieldIfDue`: it serves other nodes and
   * moves keys while the loop computes on local ones).
   */
  advance(batch: number): Promise<void> | undefined {
    const clock = this.worker.advanceClock()
    this.signal?.(batch + INTENT_LOOKAHEAD_CLOCKS, clock + INTENT_LOOKAHEAD_CLOCKS)
    return this.worker.yieldIfDue()
  }
}
