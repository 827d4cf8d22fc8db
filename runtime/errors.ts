/**
 * Tagged errors: the expected failures a caller of roam can see.
 *
 * Bad input (a key out of range, a value array of the wrong length, an unknown
 * table, a node index out of range, bad options) and calls after `close()` are
 * reported with these classes and change nothing. Each carries a `message`
 * that says what was wrong and what was expected, and a `_tag` for
 * `Effect.catchTag` or a plain `switch`. Broken invariants are not errors:
 * they are assertions (`runtime/assert.ts`) that crash.
 */
import * as Data from "effect/Data"
import type { TransportError } from "./transport.ts"

export class KeyOutOfRange extends Data.TaggedError("KeyOutOfRange")<{
  readonly message: string
  readonly key: number
  readonly keys: number
}> {}

export class ValueLengthMismatch extends Data.TaggedError("ValueLengthMismatch")<{
  readonly message: string
  readonly expected: number
  readonly actual: number
}> {}

export class UnknownTable extends Data.TaggedError("UnknownTable")<{
  readonly message: string
  readonly table: string
}> {}

export class NodeOutOfRange extends Data.TaggedError("NodeOutOfRange")<{
  readonly message: string
  readonly node: number
  readonly nodes: number
}> {}

export class InvalidOptions extends Data.TaggedError("InvalidOptions")<{
  readonly message: string
}> {}

export class ClusterClosed extends Data.TaggedError("ClusterClosed")<{
  readonly message: string
}> {}

/** A bad argument that is not a key or a value array (`prepareSample`'s `n`, an empty `keysOut`). */
export class InvalidArgument extends Data.TaggedError("InvalidArgument")<{
  readonly message: string
}> {}

/** A sample handle this worker did not prepare, or one already used up or finished. */
export class UnknownSampleHandle extends Data.TaggedError("UnknownSampleHandle")<{
  readonly message: string
}> {}

/** A call would take a resource past its configured maximum (named in `limit`). */
export class LimitExceeded extends Data.TaggedError("LimitExceeded")<{
  readonly message: string
  readonly limit: string
  readonly max: number
}> {}

/** A node this operation needed is gone: its link closed or it fell silent past `peerTimeoutMs`. */
export class PeerLost extends Data.TaggedError("PeerLost")<{
  readonly message: string
  readonly node: number
  readonly reason: string
}> {}

/**
 * Every error roam throws on purpose. `TransportError` (runtime/transport.ts) is
 * a cluster that could not form: `Cluster.start` with a peer that never answers
 * or refuses this node's secret.
 */
export type RoamError =
  | KeyOutOfRange
  | ValueLengthMismatch
  | UnknownTable
  | NodeOutOfRange
  | InvalidOptions
  | ClusterClosed
  | InvalidArgument
  | UnknownSampleHandle
  | LimitExceeded
  | PeerLost
  | TransportError

export const keyOutOfRange = (key: number, keys: number): KeyOutOfRange =>
  new KeyOutOfRange({
    message: `key ${shown(key)} is not an integer in [0, ${keys}): the key space of this cluster`,
    key,
    keys,
  })

export const valueLengthMismatch = (what: string, expected: number, actual: number) =>
  new ValueLengthMismatch({
    message: `${what} has ${actual} floats, expected ${expected} (the keys' value lengths summed)`,
    expected,
    actual,
  })

export const invalidOptions = (message: string): InvalidOptions => new InvalidOptions({ message })

export const clusterClosed = (what: string): ClusterClosed =>
  new ClusterClosed({ message: `${what}: the cluster is closed` })

export const invalidArgument = (message: string): InvalidArgument =>
  new InvalidArgument({ message })

/** A value as a message names it: strings quoted, so "1" does not read as the number 1. */
export function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return String(value)
  }
  if (value === null || value === undefined) return String(value)
  return (value as object).constructor?.name ?? typeof value
}

/** A batch's keys must be a `Uint32Array` or an array (of integers, checked key by key). */
export function checkKeysType(keys: unknown, what: string): void {
  if (keys instanceof Uint32Array || Array.isArray(keys)) return
  throw invalidArgument(
    `${what}: keys must be a Uint32Array or an array of numbers, got ${shown(keys)}`,
  )
}

/** A batch's values (or a pull's output) must be a `Float32Array`. */
export function checkFloatsType(values: unknown, what: string): void {
  if (values instanceof Float32Array) return
  throw invalidArgument(`${what} must be a Float32Array, got ${shown(values)}`)
}
export const peerLost = (node: number, reason: string): PeerLost =>
  new PeerLost({ message: `node ${node} is lost (${reason})`, node, reason })
