/**
 * Assertions for invariants of the protocol and the store.
 *
 * A failed assertion means roam itself is broken (two owners of a key, a slot
 * map out of step with the key states): continuing would corrupt the model, so
 * it throws at once with a message naming what broke. Expected failures, such
 * as bad input from a caller, are tagged errors instead (`runtime/errors.ts`).
 */
export class InvariantViolation extends Error {
  override readonly name = "InvariantViolation"
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new InvariantViolation(typeof message === "string" ? message : message())
  }
}
