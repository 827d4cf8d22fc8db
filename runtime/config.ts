/**
 * The `RoamConfig` service: every limit and timing of a node in one record.
 *
 * Every queue, batch, wait and frame has a named maximum here, with the unit
 * last in the name, so that a limit is found in one place and can be set per
 * cluster (`Cluster.local({ config: { ... } })`). Defaults suit an in-process
 * cluster of a few nodes; they are checked by `resolveConfig`.
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import { invalidOptions } from "./errors.ts"
import { checkKeys } from "./option_keys.ts"

export interface RoamConfigShape {
  /** Forwards a request may take before it is sent to the key's home instead of a hint. */
  readonly forwardHopsMax: number
  /** Keys in one frame; larger batches are split into several frames. */
  readonly frameKeysMax: number
  /** Keys of requests parked at a node while it waits for values to arrive. */
  readonly parkedKeysMax: number
  /** Operations waiting behind an earlier operation on the same key, per node. */
  readonly deferredOpsMax: number
  /** How long a hand-over may stay unacknowledged before the watchdog reports it. */
  readonly handoffTimeoutMs: number
  /** Sync rounds a node starts per second, at most (the next starts when the last is answered). */
  readonly syncRoundsPerSecondMax: number
  /**
   * Longest a worker's task computes on local keys before `worker.yieldIfDue`
   * lets its node serve the network: the most a remote request to the node
   * waits on a busy task.
   */
  readonly workerSliceMs: number
  /** Clocks ahead a node acts on intents before it has measured its workers' clock rate. */
  readonly intentWindowInitial: number
  /** Clocks ahead a node acts on intents, at most. */
  readonly intentWindowMax: number
  /** Sample handles a worker may hold at once (prepared, not yet used up or finished). */
  readonly sampleHandlesMax: number
  /** Samples one `prepareSample` call may prepare. */
  readonly sampleKeysMax: number
  /** Largest frame a WebSocket link accepts; a bigger one closes the link. */
  readonly frameBytesMax: number
  /** Bytes a link may have in its socket's buffer before frames wait in its send queue. */
  readonly linkBufferedBytesMax: number
  /** Bytes a link's send queue may hold; beyond it the peer is too slow and the link fails. */
  readonly linkQueueBytesMax: number
  /** Interval of heartbeats on an idle link, and of the liveness check. */
  readonly heartbeatMs: number
  /** How long a peer may stay silent before its link is closed and the peer reported lost. */
  readonly peerTimeoutMs: number
  /** How long an incoming or outgoing connection may take to authenticate. */
  readonly handshakeTimeoutMs: number
  /** How long a node waits for links to every other node when it starts. */
  readonly connectTimeoutMs: number
  /** How long a closing node waits for every peer to be closing too (its `bye`). */
  readonly leaveTimeoutMs: number
  /** Connections still authenticating at once, per node; more are refused. */
  readonly handshakesPendingMax: number
}

export const defaultConfig: RoamConfigShape = {
  forwardHopsMax: 8,
  frameKeysMax: 65_536,
  parkedKeysMax: 4_000_000,
  deferredOpsMax: 1_000_000,
  handoffTimeoutMs: 5_000,
  syncRoundsPerSecondMax: 200,
  workerSliceMs: 1,
  intentWindowInitial: 8,
  intentWindowMax: 1_000,
  sampleHandlesMax: 1_024,
  sampleKeysMax: 1_000_000,
  frameBytesMax: 256 * 1024 * 1024,
  linkBufferedBytesMax: 4 * 1024 * 1024,
  linkQueueBytesMax: 512 * 1024 * 1024,
  heartbeatMs: 500,
  peerTimeoutMs: 3_000,
  handshakeTimeoutMs: 5_000,
  connectTimeoutMs: 15_000,
  leaveTimeoutMs: 5_000,
  handshakesPendingMax: 64,
}

export class RoamConfig extends Context.Service<RoamConfig, RoamConfigShape>()("roam/Config") {}

const configFields = Object.keys(defaultConfig)

/** Defaults overlaid with `overrides`; every value must be a positive integer. */
export function resolveConfig(overrides: Partial<RoamConfigShape> = {}): RoamConfigShape {
  if (typeof overrides !== "object" || overrides === null) {
    throw invalidOptions(`config must be an object of limits, got ${String(overrides)}`)
  }
  checkKeys(overrides, configFields, { what: "config field" })
  const config = { ...defaultConfig, ...overrides }
  for (const [name, value] of Object.entries(config)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw invalidOptions(`config.${name} must be a positive integer, got ${value}`)
    }
  }
  return config
}

export const configLayer = (config: RoamConfigShape): Layer.Layer<RoamConfig> =>
  Layer.succeed(RoamConfig, config)
