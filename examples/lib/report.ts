/**
 * What an example run measured: per-epoch records, the end-of-run summary
 * table, and the JSON written by `--json FILE`.
 *
 * Each epoch's communication is the difference of `cluster.stats()` totals
 * taken around the training phase only (evaluation pulls whole tables and
 * would drown the signal). The JSON has the fields the benchmark report
 * reads: `final.quality` (an object: `rmse` for MF, `mrr`/`hits10` for KGE,
 * `auc` or `topicShare` for word vectors), `final.localShare` (0–1),
 * `final.secondsPerEpoch`, `final.bytesPerEpoch`, and `epochs`, the
 * per-epoch list.
 */
import { writeFileSync } from "node:fs"
import type { Cluster, ClusterStats, NodeStats, Worker } from "../../mod.ts"
import type { CommonFlags } from "./flags.ts"

export interface EpochRecord {
  readonly epoch: number
  readonly seconds: number
  readonly dataPoints: number
  readonly quality: Record<string, number>
  readonly localShare: number
  readonly frames: number
  readonly bytes: number
}

/** The communication counters of one phase: the difference of two snapshots. */
export interface PhaseStats {
  readonly localShare: number
  readonly frames: number
  readonly bytes: number
}

export function phaseStats(before: ClusterStats, after: ClusterStats): PhaseStats {
  const d = (f: keyof NodeStats) => after.total[f] - before.total[f]
  const local = d("pullKeysLocal") + d("pushKeysLocal")
  const all = local + d("pullKeysRemote") + d("pushKeysRemote")
  return { localShare: all === 0 ? 1 : local / all, frames: d("framesSent"), bytes: d("bytesSent") }
}

/**
 * End an epoch's training: every worker's pushes synced into every replica
 * (evaluation may read replicas) and all workers met at a barrier (which
 * orders operations at the owners). Returns the seconds since `started`
 * (a `performance.now()`) and the epoch's communication since `before`.
 */
export async function endEpoch(
  cluster: Cluster,
  workers: readonly Worker[],
  before: ClusterStats,
  started: number,
): Promise<{ seconds: number; phase: PhaseStats }> {
  await Promise.all(workers.map((worker) => worker.waitSync()))
  await Promise.all(workers.map((worker) => worker.barrier()))
  const seconds = (performance.now() - started) / 1000
  return { seconds, phase: phaseStats(before, cluster.stats()) }
}

export interface RunSummary {
  readonly task: string
  readonly settings: Record<string, unknown>
  readonly epochs: readonly EpochRecord[]
  readonly final: {
    readonly quality: Record<string, number>
    readonly localShare: number
    readonly secondsPerEpoch: number
    readonly bytesPerEpoch: number
    readonly framesPerEpoch: number
    readonly dataPointsPerSecond: number
  }
}

/** Summarize a run: the last epoch's quality, means of the rest over all epochs. */
export function summarize(
  task: string,
  settings: Record<string, unknown>,
  epochs: readonly EpochRecord[],
): RunSummary {
  const n = Math.max(1, epochs.length)
  const sum = (f: (e: EpochRecord) => number) => epochs.reduce((a, e) => a + f(e), 0)
  const seconds = sum((e) => e.seconds)
  const points = sum((e) => e.dataPoints)
  const accessWeighted = sum((e) => e.localShare * e.dataPoints)
  return {
    task,
    settings,
    epochs,
    final: {
      quality: epochs.at(-1)?.quality ?? {},
      localShare: points === 0 ? 1 : accessWeighted / points,
      secondsPerEpoch: seconds / n,
      bytesPerEpoch: sum((e) => e.bytes) / n,
      framesPerEpoch: sum((e) => e.frames) / n,
      dataPointsPerSecond: seconds === 0 ? 0 : points / seconds,
    },
  }
}

/** The end-of-run table, one row per epoch and a final row. */
export function formatSummary(summary: RunSummary): string {
  const keys = Object.keys(summary.final.quality)
  const header = ["epoch", ...keys, "s/epoch", "points/s", "local %", "frames", "bytes"]
  const row = (e: EpochRecord) => [
    String(e.epoch),
    ...keys.map((k) => e.quality[k]?.toFixed(4) ?? ""),
    e.seconds.toFixed(3),
    e.seconds > 0 ? Math.round(e.dataPoints / e.seconds).toString() : "",
    (e.localShare * 100).toFixed(2),
    String(e.frames),
    String(e.bytes),
  ]
  const f = summary.final
  const rows = [header, ...summary.epochs.map(row), [
    "final",
    ...keys.map((k) => f.quality[k].toFixed(4)),
    f.secondsPerEpoch.toFixed(3),
    Math.round(f.dataPointsPerSecond).toString(),
    (f.localShare * 100).toFixed(2),
    Math.round(f.framesPerEpoch).toString(),
    Math.round(f.bytesPerEpoch).toString(),
  ]]
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => r.map((cell, i) => cell.padStart(widths[i])).join("  ")).join("\n")
}

/** Write the summary as JSON to `path`. */
export function writeJson(path: string, summary: RunSummary): void {
  writeFileSync(path, JSON.stringify(summary, null, 2) + "\n")
}

/**
 * Where a run trains, known once its cluster has started: under the
 * launcher the cluster has the launcher's node count (not `--nodes`) and
 * this process runs one of its nodes. A `--plain` run has no cluster:
 * `PLAIN_PLACE`.
 */
export interface RunPlace {
  readonly nodes: number
  /** This process's (first) node. */
  readonly node: number
  /** Whether other processes run the cluster's other nodes. */
  readonly shared: boolean
}

export const PLAIN_PLACE: RunPlace = { nodes: 1, node: 0, shared: false }

/** What a training function returns: one record per epoch, and where it trained. */
export interface Trained {
  readonly epochs: EpochRecord[]
  readonly place: RunPlace
}

/** The placeholder of `--json` that becomes the node's id (as in `bench/`). */
const NODE_PLACEHOLDER = "{node}"

/**
 * Note where a run trains, once `cluster` has started, and say so (unless
 * `--quiet`). Each process of a cluster writes its own `--json`, so a path
 * without `{node}` is refused here, before any training, rather than have
 * every node write over one file.
 */
export function startRun(
  cluster: Cluster,
  flags: Pick<CommonFlags, "workers" | "policy" | "json" | "quiet">,
): RunPlace {
  const place: RunPlace = {
    nodes: cluster.nodes,
    node: cluster.localNodes[0].id,
    shared: cluster.localNodes.length < cluster.nodes,
  }
  if (place.shared && flags.json !== undefined && !flags.json.includes(NODE_PLACEHOLDER)) {
    throw new RangeError(
      `--json ${flags.json}: this cluster's ${place.nodes} nodes run in separate processes, ` +
        `and each writes its own file: put ${NODE_PLACEHOLDER} in the path ` +
        `(e.g. out-${NODE_PLACEHOLDER}.json), it becomes the node's id`,
    )
  }
  if (!flags.quiet) {
    const here = place.shared ? ` (this process: node ${place.node})` : ""
    console.log(
      `cluster: ${place.nodes} nodes x ${flags.workers} workers${here}; policy ${flags.policy}`,
    )
  }
  return place
}

/**
 * End a run: print the summary table (unless `--quiet`) and write `--json
 * FILE` if asked, `{node}` in the path replaced by this process's node.
 */
export function finishRun(
  summary: RunSummary,
  flags: Pick<CommonFlags, "json" | "quiet">,
  place: RunPlace,
): RunSummary {
  if (!flags.quiet) console.log(formatSummary(summary))
  if (flags.json !== undefined) {
    writeJson(flags.json.replaceAll(NODE_PLACEHOLDER, String(place.node)), summary)
  }
  return summary
}
