/**
 * roam: an adaptive parameter manager for distributed training.
 *
 * The public surface only: `Cluster` to start nodes, the `Worker` handle that
 * training actors call, the option and statistics types, and the tagged
 * errors. See README.md for a tour and docs/ARCHITECTURE.md for the protocol.
 */
export { Cluster, type ClusterOptions, type ClusterStats, Node } from "./runtime/cluster.ts"
export type { StartOptions } from "./runtime/start.ts"
export { type Keys, Worker } from "./runtime/worker.ts"
export type { TableSampling, TableSpec } from "./actors/key_space.ts"
export type { PrepareSampleOptions, SampleHandle } from "./runtime/sampling.ts"
export type { SamplingOptions, SamplingScheme } from "./runtime/sampling_context.ts"
export type { PolicyName, PolicyOption } from "./runtime/policy.ts"
export { policyNames } from "./runtime/policy.ts"
export type { RoamConfigShape } from "./runtime/config.ts"
export type { NodeStats } from "./runtime/stats.ts"
export {
  ClusterClosed,
  InvalidArgument,
  InvalidOptions,
  KeyOutOfRange,
  LimitExceeded,
  NodeOutOfRange,
  PeerLost,
  type RoamError,
  UnknownSampleHandle,
  UnknownTable,
  ValueLengthMismatch,
} from "./runtime/errors.ts"
export { TransportError } from "./runtime/transport.ts"
