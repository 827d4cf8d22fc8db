/**
 * The policies benchmark's results: what one process measured of a run, how
 * the processes of a multi-process run combine into one run, the medians
 * over repetitions, issue 4's goal, and the text table. Pure functions on
 * plain data, so that both modes (every node in one process, or one node per
 * process) and the tests share one definition of every number.
 *
 * A run's wall time is the cluster's: every process times the same section,
 * from a barrier before the first step to a barrier after `waitSync`, and the
 * slowest process's time is the run's. Counts (accesses, frames, bytes, sync
 * rounds, relocations) are what each process's nodes did, summed. Exactness
 * is checked where the values are, so each process reports the floats it
 * found wrong and which keys it holds; a key held by no process, a node that
 * reported twice or not at all, or a single wrong float makes the run fail.
 */
import { Buffer } from "node:buffer"
import { median } from "./_harness.ts"

/** What the nodes of one process measured over a run's timed section. */
export interface NodeResult {
  /** The nodes this process ran (one under the launcher, all of them in one process). */
  readonly nodeIds: readonly number[]
  /** Cluster start and initial placement, up to the barrier that starts the timed section. */
  readonly setupMs: number
  /** From the barrier before the first step to the barrier after `waitSync`. */
  readonly wallMs: number
  readonly localAccesses: number
  readonly remoteAccesses: number
  readonly frames: number
  readonly bytes: number
  readonly syncRounds: number
  readonly relocations: number
  /** Floats that differed from init + the sum of all pushes, and the first of them. */
  readonly wrongFloats: number
  readonly firstWrong: string
  /** The keys these nodes hold (owned or replica), a bitmap in base64 (`encodeKeySet`). */
  readonly held: string
}

/** One run of one setup, the cluster as a whole. */
export interface RunResult {
  readonly setupMs: number
  readonly wallMs: number
  readonly accesses: number
  readonly localShare: number
  readonly frames: number
  readonly bytes: number
  readonly syncRounds: number
  readonly relocations: number
}

/** A run that gave no result: timed out, failed, or not exact. */
export interface RunFailure {
  readonly status: "timed out" | "failed"
  readonly error: string
}

export type Run = RunResult | RunFailure

export const isFailure = (run: Run): run is RunFailure => "status" in run

/** A set of keys as a bitmap in base64, small enough for a process's JSON. */
export function encodeKeySet(bits: Uint8Array): string {
  return Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength).toString("base64")
}

export const newKeySet = (keys: number): Uint8Array => new Uint8Array(Math.ceil(keys / 8))

export function addKey(bits: Uint8Array, key: number): void {
  bits[key >> 3] |= 1 << (key & 7)
}

/** Combine the processes of one run of a cluster of `nodes` nodes and `keys` keys. */
export function combineNodes(parts: readonly NodeResult[], nodes: number, keys: number): Run {
  const ids = parts.flatMap((p) => p.nodeIds).sort((a, b) => a - b)
  if (ids.length !== nodes || ids.some((id, i) => id !== i)) {
    return { status: "failed", error: `results from nodes [${ids}], expected 0 to ${nodes - 1}` }
  }
  const held = newKeySet(keys)
  for (const part of parts) {
    const bits = Buffer.from(part.held, "base64")
    if (bits.length !== held.length) {
      return { status: "failed", error: `a key set of ${bits.length} bytes, not ${held.length}` }
    }
    for (let i = 0; i < held.length; i++) held[i] |= bits[i]
  }
  let orphans = 0
  for (let key = 0; key < keys; key++) if ((held[key >> 3] & (1 << (key & 7))) === 0) orphans++
  const wrong = parts.reduce((sum, p) => sum + p.wrongFloats, 0)
  if (wrong > 0 || orphans > 0) {
    const first = parts.find((p) => p.wrongFloats > 0)?.firstWrong ?? "none"
    return {
      status: "failed",
      error: `not exact after waitSync: ${wrong} wrong floats (first: ${first}), ` +
        `${orphans} keys held by no node`,
    }
  }
  const sum = (f: (p: NodeResult) => number) => parts.reduce((s, p) => s + f(p), 0)
  const local = sum((p) => p.localAccesses)
  const accesses = local + sum((p) => p.remoteAccesses)
  return {
    setupMs: Math.max(...parts.map((p) => p.setupMs)),
    wallMs: Math.max(...parts.map((p) => p.wallMs)),
    accesses,
    localShare: accesses === 0 ? 1 : local / accesses,
    frames: sum((p) => p.frames),
    bytes: sum((p) => p.bytes),
    syncRounds: sum((p) => p.syncRounds),
    relocations: sum((p) => p.relocations),
  }
}

/** Medians over a setup's successful repetitions, and the median per-repetition ratio to static. */
export interface Row {
  label: string
  /** Repetitions that gave a result, and how the others ended. */
  ok: number
  failures: string[]
  localShare: number
  /** Key accesses roam counted (local + remote), to compare with those the workers made. */
  accesses: number
  framesPerMillion: number
  bytesPerMillion: number
  syncRounds: number
  relocations: number
  setupMs: number
  wallMs: number
  accessesPerSecond: number
  wallVsStatic: number
  wallVsStaticMin: number
  wallVsStaticMax: number
}

/** The median, NaN when no repetition gave a result. */
const medianOf = (xs: readonly number[]): number => xs.length === 0 ? NaN : median(xs)

/** The row of one setup; ratios pair repetition r with static's repetition r, where both ran. */
export function summarize(label: string, runs: readonly Run[], statics: readonly Run[]): Row {
  const ok = runs.filter((r): r is RunResult => !isFailure(r))
  const m = (f: (r: RunResult) => number) => medianOf(ok.map(f))
  const ratios: number[] = []
  runs.forEach((r, i) => {
    const s = statics[i]
    if (!isFailure(r) && s !== undefined && !isFailure(s)) ratios.push(r.wallMs / s.wallMs)
  })
  return {
    label,
    ok: ok.length,
    failures: runs.filter(isFailure).map((r) => r.status),
    localShare: m((r) => r.localShare),
    accesses: m((r) => r.accesses),
    framesPerMillion: m((r) => r.frames / r.accesses * 1e6),
    bytesPerMillion: m((r) => r.bytes / r.accesses * 1e6),
    syncRounds: m((r) => r.syncRounds),
    relocations: m((r) => r.relocations),
    setupMs: m((r) => r.setupMs),
    wallMs: m((r) => r.wallMs),
    accessesPerSecond: m((r) => r.accesses / (r.wallMs / 1000)),
    wallVsStatic: medianOf(ratios),
    wallVsStaticMin: ratios.length === 0 ? NaN : Math.min(...ratios),
    wallVsStaticMax: ratios.length === 0 ? NaN : Math.max(...ratios),
  }
}

/** Issue 4's goal on one table, from the rows of `static`, the `nups` settings and `adaptive`. */
export interface Goal {
  /** adaptive's wall / static's; the goal is at most 0.1. */
  readonly adaptiveVsStatic: number
  readonly tenfold: boolean
  /** The nups setting with the lowest wall time: the one tuning would pick. */
  readonly bestNups: string
  readonly adaptiveVsNupsWall: number
  readonly adaptiveLocal: number
  readonly nupsLocal: number
  /** adaptive's local share and wall time both at least as good as the best nups's. */
  readonly matchesNups: boolean
}

export function goal(rows: readonly Row[]): Goal | undefined {
  const adaptive = rows.find((r) => r.label === "adaptive" && r.ok > 0)
  const nups = rows.filter((r) => r.label.startsWith("nups") && r.ok > 0)
  if (adaptive === undefined || nups.length === 0) return undefined
  const best = nups.reduce((a, b) => (b.wallMs < a.wallMs ? b : a))
  return {
    adaptiveVsStatic: adaptive.wallVsStatic,
    tenfold: adaptive.wallVsStatic <= 0.1,
    bestNups: best.label,
    adaptiveVsNupsWall: adaptive.wallMs / best.wallMs,
    adaptiveLocal: adaptive.localShare,
    nupsLocal: best.localShare,
    matchesNups: adaptive.wallMs <= best.wallMs && adaptive.localShare >= best.localShare,
  }
}

const fmt = (x: number, digits = 1) => x.toFixed(digits)
const pad = (s: string | number, n: number) => String(s).padStart(n)

/** The table, one line per setup; a setup with no result shows how its runs ended. */
export function formatRows(rows: readonly Row[]): string[] {
  const lines = [
    `${"policy".padEnd(17)} ${pad("local", 6)} ${pad("frames/1M", 10)} ${pad("MB/1M", 8)} ` +
    `${pad("sync rds", 9)} ${pad("relocs", 7)} ${pad("setup ms", 9)} ${pad("wall ms", 8)} ` +
    `${pad("Macc/s", 7)} ${pad("wall/static", 12)} ${pad("(min–max)", 11)}`,
  ]
  for (const r of rows) {
    const failed = r.failures.length === 0 ? "" : `  (${r.failures.join(", ")})`
    if (r.ok === 0) {
      lines.push(`${r.label.padEnd(17)} no result${failed}`)
      continue
    }
    lines.push(
      `${r.label.padEnd(17)} ${pad(fmt(r.localShare * 100) + "%", 6)} ` +
        `${pad(fmt(r.framesPerMillion, 0), 10)} ${pad(fmt(r.bytesPerMillion / 1e6), 8)} ` +
        `${pad(fmt(r.syncRounds, 0), 9)} ${pad(fmt(r.relocations, 0), 7)} ` +
        `${pad(fmt(r.setupMs, 0), 9)} ${pad(fmt(r.wallMs, 0), 8)} ` +
        `${pad(fmt(r.accessesPerSecond / 1e6, 2), 7)} ${pad(fmt(r.wallVsStatic, 2), 12)} ` +
        `${pad(`${fmt(r.wallVsStaticMin, 2)}–${fmt(r.wallVsStaticMax, 2)}`, 11)}${failed}`,
    )
  }
  return lines
}

/**
 * The local share and the per-1M figures divide by the accesses roam
 * counted; a line for every setup where that count is not the number of
 * pulled and pushed keys the workers issued, which would skew both.
 */
export function formatMiscounts(rows: readonly Row[], workerAccesses: number): string[] {
  return rows.filter((r) => r.ok > 0 && r.accesses !== workerAccesses).map((r) =>
    `note: ${r.label}: roam counted ${r.accesses} key accesses, the workers made ` +
    `${workerAccesses} (${fmt((r.accesses / workerAccesses - 1) * 100)}% more)`
  )
}

/** Issue 4's goal in words, or why it cannot be judged. */
export function formatGoal(g: Goal | undefined): string {
  if (g === undefined) return "goal: n/a (adaptive or every nups setting has no result)"
  const verdict = (met: boolean) => (met ? "met" : "NOT met")
  return `goal: adaptive wall/static ${fmt(g.adaptiveVsStatic, 2)} ` +
    `(at most 0.10: ${verdict(g.tenfold)}); against the best nups (${g.bestNups}): ` +
    `wall ${fmt(g.adaptiveVsNupsWall, 2)}x, local ${fmt(g.adaptiveLocal * 100)}% vs ` +
    `${fmt(g.nupsLocal * 100)}% (matches or beats on both: ${verdict(g.matchesNups)})`
}
