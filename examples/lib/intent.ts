/**
 * Where the examples' data loaders signal intent.
 *
 * A data loader knows which keys its next mini-batches will touch, so it is
 * the natural place to say so: "this worker needs these keys from clock
 * `startClock` until `endClock`". The intent API (`worker.intent(keys,
 * startClock, endClock)`, with `worker.advanceClock()` once per mini-batch) is
 * being built; until it lands, `signalIntent` maps an intent onto what the
 * worker API offers today. A long-lived intent (`endClock` = Infinity: "for
 * the rest of training", such as a worker's own rows) becomes `localize`,
 * which relocates the keys under a relocating policy (`lapse`) and does
 * nothing under `static`. Short-lived intents (a few clocks ahead, such as
 * the columns of the next mini-batches) have no equivalent yet and are
 * dropped. When the intent API lands, replace the body with one call.
 */
import type { Keys, Worker } from "../../mod.ts"

/** Mini-batches ahead at which loaders signal their keys. */
export const INTENT_LOOKAHEAD_CLOCKS = 2

/**
 * INTENT: the single place the examples declare future accesses. Resolves
 * once the keys are where the current API can put them.
 */
export function signalIntent(
  worker: Worker,
  keys: Keys,
  startClock: number,
  endClock: number,
): Promise<void> | undefined {
  // TODO(intent): `return worker.intent(keys, startClock, endClock)` once it exists.
  if (startClock < worker.clock) {
    throw new RangeError(
      `intent starts at clock ${startClock}, before the worker's ${worker.clock}`,
    )
  }
  if (endClock === Infinity) return worker.localize(keys)
  return undefined
}
