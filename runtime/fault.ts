/**
 * The `Fault` service: deliberate misbehaviour, for negative controls only.
 *
 * A property that cannot fail proves nothing. The consistency suite runs the
 * protocol with one of these faults switched on and checks that its properties
 * then fail; in production every fault is off (`noFaults`). Each fault sits on
 * a rare path of the protocol, never on the pull/push hot path.
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

export interface FaultShape {
  /** Drop requests parked for an expected key instead of replaying them. */
  readonly dropParkedRequests: boolean
  /** Apply a forwarded push twice at its owner. */
  readonly duplicateForwardedPushes: boolean
  /** Add a replica's sync delta twice at the owner. */
  readonly duplicateSyncDeltas: boolean
  /** Answer every sync check "unchanged", whatever the owner's version. */
  readonly ignoreSyncVersions: boolean
  /** End the intent of a dropped replica at its owner without adding its last delta. */
  readonly loseReplicaDropDeltas: boolean
  /** Never tell a key's home of its new owner (`OwnerUpdate`). */
  readonly dropOwnerUpdates: boolean
}

export const noFaults: FaultShape = {
  dropParkedRequests: false,
  duplicateForwardedPushes: false,
  duplicateSyncDeltas: false,
  ignoreSyncVersions: false,
  loseReplicaDropDeltas: false,
  dropOwnerUpdates: false,
}

export class Fault extends Context.Service<Fault, FaultShape>()("roam/Fault") {}

export const faultLayer = (faults: Partial<FaultShape> = {}): Layer.Layer<Fault> =>
  Layer.succeed(Fault, { ...noFaults, ...faults })
