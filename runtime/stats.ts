/**
 * Per-node counters, and their sum over a cluster.
 *
 * Counters are plain numbers bumped on the data path (one add per batch or per
 * frame, never per key where a batch count will do) and read by
 * `cluster.stats()`, the benchmarks and the examples. They are the
 * hardware-independent measures of DESIGN.md §10: how many accesses were local,
 * how many frames and bytes the protocol cost.
 */
export interface NodeStats {
  /** Keys pulled from the local store, and pull calls served entirely locally. */
  pullKeysLocal: number
  pullBatchesLocal: number
  /** Keys pulled through another node (or parked here), and calls that needed that. */
  pullKeysRemote: number
  pullBatchesRemote: number
  /** Keys pushed or set in the local store, and calls served entirely locally. */
  pushKeysLocal: number
  pushBatchesLocal: number
  pushKeysRemote: number
  pushBatchesRemote: number
  /** Keys of requests this node passed on towards their owner. */
  forwards: number
  /** Keys that moved to this node, and away from it. */
  relocationsIn: number
  relocationsOut: number
  /** Frames and bytes on links; a frame a node queues to itself crosses none and is not counted. */
  framesSent: number
  bytesSent: number
  framesReceived: number
  bytesReceived: number
  /** Frames dropped because they were malformed. */
  framesRejected: number
  /** Hand-overs the watchdog found unacknowledged past `handoffTimeoutMs`. */
  handoffsOverdue: number
  /** Keys pulled or pushed locally that were served by a replica (part of the local counts). */
  replicaKeysLocal: number
  /** Replicas held here now (a gauge; summed over nodes in a total). */
  replicasHeld: number
  /** Replicas that arrived here, and replicas dropped here. */
  replicasCreated: number
  replicasDropped: number
  /**
   * Sync rounds this node started, the replica keys and bytes they sent, and
   * of those keys the ones sent as unchanged (a version check, no value).
   */
  syncRounds: number
  syncKeysSent: number
  syncBytesSent: number
  syncKeysChecked: number
  /** Replica deltas this node merged as owner; checks it answered "unchanged" (no value). */
  syncKeysMerged: number
  syncKeysSame: number
  /** Accesses (keys pulled or pushed) covered by an active intent here, and those served locally. */
  intentKeys: number
  intentKeysLocal: number
  /** Samples handed out by `pullSample` and `tryPullSample`, and those local when handed out. */
  samplesPulled: number
  samplesLocal: number
  /** Draws the `local` sampling scheme rejected because their key was not local. */
  sampleDrawsRejected: number
}

export const newNodeStats = (): NodeStats => ({
  pullKeysLocal: 0,
  pullBatchesLocal: 0,
  pullKeysRemote: 0,
  pullBatchesRemote: 0,
  pushKeysLocal: 0,
  pushBatchesLocal: 0,
  pushKeysRemote: 0,
  pushBatchesRemote: 0,
  forwards: 0,
  relocationsIn: 0,
  relocationsOut: 0,
  framesSent: 0,
  bytesSent: 0,
  framesReceived: 0,
  bytesReceived: 0,
  framesRejected: 0,
  handoffsOverdue: 0,
  replicaKeysLocal: 0,
  replicasHeld: 0,
  replicasCreated: 0,
  replicasDropped: 0,
  syncRounds: 0,
  syncKeysSent: 0,
  syncBytesSent: 0,
  syncKeysChecked: 0,
  syncKeysMerged: 0,
  syncKeysSame: 0,
  intentKeys: 0,
  intentKeysLocal: 0,
  samplesPulled: 0,
  samplesLocal: 0,
  sampleDrawsRejected: 0,
})

/** Field-wise sum of several nodes' counters. */
export function sumStats(all: readonly NodeStats[]): NodeStats {
  const total = newNodeStats()
  for (const stats of all) {
    for (const field of Object.keys(total) as (keyof NodeStats)[]) total[field] += stats[field]
  }
  return total
}

/** Share of pulled and pushed keys served from the local store (1 when there were none). */
export function localShare(stats: NodeStats): number {
  const local = stats.pullKeysLocal + stats.pushKeysLocal
  const all = local + stats.pullKeysRemote + stats.pushKeysRemote
  return all === 0 ? 1 : local / all
}
