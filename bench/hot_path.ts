/**
 * Hot-path benchmark: what roam's data plane costs over raw typed-array code.
 *
 * DESIGN.md §10 measures speed by ratios against a baseline run side by side
 * in the same process, and names raw `Float32Array` code with no parameter
 * manager as the ceiling. Part 1 holds roam's local hot path to that ceiling:
 * on a 1-node cluster every key is local, so `worker.tryPull` and
 * `worker.push` are the synchronous typed-array loops of DESIGN.md §4, and
 * they are timed against a plain gather (copy rows of one `Float32Array` into
 * `out`) and a plain scatter-add over the same pre-generated batches of 1,000
 * keys (Zipf(1.1) and uniform), alternating in short slices (see
 * `_harness.ts`). The target is roam/raw ≥ 0.8. A third side, the raw loop
 * through an `Int32Array` key → slot map, is printed as a reference, not a
 * target: that extra dependent load per key is paid by any store whose memory
 * follows its local keys (DESIGN.md §5), so it bounds what roam can reach.
 * Part 2 measures remote pull round trips through the memory transport (2
 * nodes, `static` policy, a worker on node 0 awaiting pulls of keys homed on
 * node 1, one at a time) against awaited pulls of keys local to node 0, with
 * the hardware-independent counts: frames and bytes per round trip. Part 3
 * measures relocation: under `lapse`, a worker on each of 2 nodes in turn
 * localizes the same 10,000 keys, so every key moves at every call (hand-over,
 * install, acknowledgement, the `localize` resolved), both ends in this
 * thread; it prints the time per key moved and checks the values survive.
 *
 *   deno run -A bench/hot_path.ts [--json FILE] [--quick]
 *   bun bench/hot_path.ts [--json FILE] [--quick]
 */
import { mkdir, writeFile } from "node:fs/promises"
import { dirname } from "node:path"
import process from "node:process"
import { parseArgs } from "node:util"
import { Cluster, type Worker } from "../mod.ts"
import { compare, makeBatches, median, type Pattern, type Side, type Step } from "./_harness.ts"

// Bun's global is not in Deno's type library; Deno's is.
declare const Bun: { readonly version: string } | undefined

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: { json: { type: "string" }, quick: { type: "boolean", default: false } },
})
const quick = flags.quick === true

const KEYS = 100_000
const BATCH_KEYS = 1_000
/** Pre-generated batches per pattern; a power of two so the cursor wraps with a mask. */
const BATCHES = 256
const LENGTHS = [16, 64] as const
const HEADLINE_LENGTH = 64
const TARGET_RATIO = 0.8
/** Rounds per measurement (odd, for a median), and time per side per measurement. */
const ROUNDS = quick ? 9 : 15
const SIDE_MS = quick ? 300 : 800
const WARMUP_MS = quick ? 100 : 200
const SEED = 20_251_124
const TIMING = { rounds: ROUNDS, sideMs: SIDE_MS, warmupMs: WARMUP_MS, batchKeys: BATCH_KEYS }
const MASK = BATCHES - 1

// ------------------------------------------------------------------ values and keys

/** The same batches with every key moved to an odd (`odd`) or even key, for part 2. */
function withParity(batches: readonly Uint32Array[], odd: boolean, size: number): Uint32Array[] {
  return batches.map((b) => b.slice(0, size).map((k) => odd ? k | 1 : k & ~1))
}

/** Initial value of `key`, the same on both sides, so a pull can be checked against raw. */
function fillValue(key: number, value: Float32Array): void {
  for (let j = 0; j < value.length; j++) value[j] = ((key * 7 + j) % 1000) * 1e-3
}

// ------------------------------------------------------------------ raw baselines

/** Raw gather: copy each key's row of `values` into `out`, as a user would write it. */
function rawGather(values: Float32Array, length: number, keys: Uint32Array, out: Float32Array) {
  let at = 0
  for (let i = 0; i < keys.length; i++) {
    const from = keys[i] * length
    for (let j = 0; j < length; j++) out[at + j] = values[from + j]
    at += length
  }
}

/** Raw scatter-add: add each key's slice of `deltas` to its row of `values`. */
function rawScatterAdd(values: Float32Array, length: number, keys: Uint32Array, d: Float32Array) {
  let at = 0
  for (let i = 0; i < keys.length; i++) {
    const to = keys[i] * length
    for (let j = 0; j < length; j++) values[to + j] += d[at + j]
    at += length
  }
}

/**
 * The raw gather through a key → slot map (`Int32Array`), as any store whose
 * memory follows the local keys needs (DESIGN.md §5). Not a target: it shows
 * how much of the gap to raw that one extra dependent load per key explains.
 */
function slotGather(
  values: Float32Array,
  slots: { readonly slotOf: Int32Array; readonly length: number },
  keys: Uint32Array,
  out: Float32Array,
) {
  const { slotOf, length } = slots
  let at = 0
  for (let i = 0; i < keys.length; i++) {
    const from = slotOf[keys[i]] * length
    for (let j = 0; j < length; j++) out[at + j] = values[from + j]
    at += length
  }
}

function slotScatterAdd(
  values: Float32Array,
  slots: { readonly slotOf: Int32Array; readonly length: number },
  keys: Uint32Array,
  d: Float32Array,
) {
  const { slotOf, length } = slots
  let at = 0
  for (let i = 0; i < keys.length; i++) {
    const to = slotOf[keys[i]] * length
    for (let j = 0; j < length; j++) values[to + j] += d[at + j]
    at += length
  }
}

// ------------------------------------------------------------------ part 1: local

interface Row {
  length: number
  op: "tryPull" | "push"
  pattern: Pattern
  rawMkeysPerSecond: number
  roamMkeysPerSecond: number
  /** roam / raw: the median of the per-round ratios, and their range. */
  ratio: number
  ratioMin: number
  ratioMax: number
  /** The raw loop through a key → slot map, and its ratio to raw (a reference, not a target). */
  slotMapMkeysPerSecond: number
  slotMapRatio: number
  /**
   * The slot-map loop, which does strictly more work, beat the raw loop: the
   * JIT compiled the raw loop badly in this run (seen under V8, whose code for
   * these loops swings by up to 40% with details such as whether the length
   * arrives as a parameter or an object field), so the raw rate is no ceiling
   * and that row's roam/raw overstates roam.
   */
  rawSuspect: boolean
}

/** How far the slot-map loop may beat the raw loop before the raw rate is suspect (noise). */
const SUSPECT_RATIO = 1.05

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`hot_path: ${what}`)
}

/** What the sides of one (length, pattern) pair work on. */
interface Bed {
  worker: Worker
  length: number
  batches: readonly Uint32Array[]
  raw: Float32Array
  slots: { readonly slotOf: Int32Array; readonly length: number }
  out: Float32Array
  deltas: Float32Array
}

/** raw, slot map, roam: the three sides of a pull. */
const pullSides = (b: Bed): Step[] => [
  (first, count) => {
    for (let i = first; i < first + count; i++) {
      rawGather(b.raw, b.length, b.batches[i & MASK], b.out)
    }
  },
  (first, count) => {
    for (let i = first; i < first + count; i++) {
      slotGather(b.raw, b.slots, b.batches[i & MASK], b.out)
    }
  },
  (first, count) => {
    for (let i = first; i < first + count; i++) {
      if (!b.worker.tryPull(b.batches[i & MASK], b.out)) throw new Error("tryPull went remote")
    }
  },
]

/** raw, slot map, roam: the three sides of a push. */
const pushSides = (b: Bed): Step[] => [
  (first, count) => {
    for (let i = first; i < first + count; i++) {
      rawScatterAdd(b.raw, b.length, b.batches[i & MASK], b.deltas)
    }
  },
  (first, count) => {
    for (let i = first; i < first + count; i++) {
      slotScatterAdd(b.raw, b.slots, b.batches[i & MASK], b.deltas)
    }
  },
  (first, count) => {
    for (let i = first; i < first + count; i++) b.worker.push(b.batches[i & MASK], b.deltas)
  },
]

function toRow(bed: Bed, op: Row["op"], pattern: Pattern, sides: readonly Side[]): Row {
  const [raw, slotMap, roam] = sides
  return {
    length: bed.length,
    op,
    pattern,
    rawMkeysPerSecond: raw.keysPerSecond / 1e6,
    roamMkeysPerSecond: roam.keysPerSecond / 1e6,
    ratio: roam.ratio,
    ratioMin: roam.ratioMin,
    ratioMax: roam.ratioMax,
    slotMapMkeysPerSecond: slotMap.keysPerSecond / 1e6,
    slotMapRatio: slotMap.ratio,
    rawSuspect: slotMap.ratio > SUSPECT_RATIO,
  }
}

/** Both ops at one value length, on a fresh 1-node cluster and a raw array. */
async function measureLength(length: number, patterns: Record<Pattern, Uint32Array[]>) {
  const cluster = await Cluster.local({
    nodes: 1,
    tables: [{ name: "t", keys: KEYS, length, init: fillValue }],
  })
  const rows: Row[] = []
  try {
    // Every page written, as roam's slab is (an untouched array reads the kernel's zero page).
    const raw = new Float32Array(KEYS * length)
    for (let key = 0; key < KEYS; key++) {
      fillValue(key, raw.subarray(key * length, (key + 1) * length))
    }
    const bed: Bed = {
      worker: cluster.node(0).worker(),
      length,
      batches: patterns.zipf,
      raw,
      slots: { slotOf: Int32Array.from({ length: KEYS }, (_, key) => key), length },
      out: new Float32Array(BATCH_KEYS * length),
      deltas: new Float32Array(BATCH_KEYS * length).map((_, i) => ((i % 13) - 6) * 1e-4),
    }
    // Paired check, before the timed pushes make the sides drift apart: roam and
    // the raw array hold the same values, so the comparison is like for like.
    const expected = new Float32Array(BATCH_KEYS * length)
    rawGather(raw, length, bed.batches[0], expected)
    check(bed.worker.tryPull(bed.batches[0], bed.out), "tryPull on a 1-node cluster returned false")
    check(bed.out.every((v, i) => v === expected[i]), "tryPull disagrees with the raw gather")
    for (const pattern of ["zipf", "uniform"] as const) {
      bed.batches = patterns[pattern]
      rows.push(toRow(bed, "tryPull", pattern, compare(pullSides(bed), TIMING)))
      rows.push(toRow(bed, "push", pattern, compare(pushSides(bed), TIMING)))
    }
    check(cluster.stats().localShare === 1, "a key of the 1-node cluster was served remotely")
  } finally {
    await cluster.close()
  }
  return rows
}

// ------------------------------------------------------------------ part 2: remote

interface RemoteRow {
  batchKeys: number
  remoteRoundTripsPerSecond: number
  remoteKeysPerSecond: number
  remoteMicrosecondsPerPull: number
  /** Awaited pulls of keys local to node 0, the same batch size: the no-network baseline. */
  localAwaitedPullsPerSecond: number
  /** remote / local awaited pulls per second. */
  ratio: number
  framesPerPull: number
  bytesPerPull: number
}

/** Awaited pulls per second over about `ms` milliseconds, one at a time. */
async function pullRate(
  worker: Worker,
  batches: readonly Uint32Array[],
  out: Float32Array,
  ms: number,
) {
  const t0 = performance.now()
  let t = t0
  let n = 0
  do {
    for (let k = 0; k < 4; k++) await worker.pull(batches[n++ & MASK], out)
    t = performance.now()
  } while (t - t0 < ms)
  return { pulls: n, perSecond: n / ((t - t0) / 1000) }
}

/** Parts 2 and 3: two nodes in this process, one table of `HEADLINE_LENGTH` floats. */
function twoNodes(policy: "static" | "lapse") {
  const tables = [{ name: "t", keys: KEYS, length: HEADLINE_LENGTH, init: fillValue }]
  return Cluster.local({ nodes: 2, tables, policy })
}

/** The initial values of `keys`, concatenated: what a pull of them must return. */
function initialValues(keys: Uint32Array, length: number): Float32Array {
  const values = new Float32Array(keys.length * length)
  keys.forEach((key, i) => fillValue(key, values.subarray(i * length, (i + 1) * length)))
  return values
}

async function measureRemote(base: readonly Uint32Array[], batchKeys: number): Promise<RemoteRow> {
  const length = HEADLINE_LENGTH
  const cluster = await twoNodes("static")
  try {
    const worker = cluster.node(0).worker()
    const remote = withParity(base, true, batchKeys) // homed on node 1
    const local = withParity(base, false, batchKeys) // homed on node 0
    const out = new Float32Array(batchKeys * length)
    check(!worker.tryPull(remote[0], out), "keys homed on node 1 were local to node 0")
    await worker.pull(remote[0], out)
    const expected = initialValues(remote[0], length)
    check(expected.every((v, j) => v === out[j]), "a remote pull returned a wrong value")
    await pullRate(worker, remote, out, WARMUP_MS)
    await pullRate(worker, local, out, WARMUP_MS)
    const slice = SIDE_MS / ROUNDS
    const remoteRates: number[] = []
    const localRates: number[] = []
    const ratios: number[] = []
    let pulls = 0
    let frames = 0
    let bytes = 0
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which side goes first, as in part 1.
      const y0 = r % 2 === 1 ? await pullRate(worker, local, out, slice) : undefined
      const before = cluster.stats().total
      const x = await pullRate(worker, remote, out, slice)
      const after = cluster.stats().total
      pulls += x.pulls
      frames += after.framesSent - before.framesSent
      bytes += after.bytesSent - before.bytesSent
      const y = y0 ?? await pullRate(worker, local, out, slice)
      remoteRates.push(x.perSecond)
      localRates.push(y.perSecond)
      ratios.push(x.perSecond / y.perSecond)
    }
    const trips = median(remoteRates)
    return {
      batchKeys,
      remoteRoundTripsPerSecond: trips,
      remoteKeysPerSecond: trips * batchKeys,
      remoteMicrosecondsPerPull: 1e6 / trips,
      localAwaitedPullsPerSecond: median(localRates),
      ratio: median(ratios),
      framesPerPull: frames / pulls,
      bytesPerPull: bytes / pulls,
    }
  } finally {
    await cluster.close()
  }
}

/** Keys of part 3's batch, which moves back and forth between 2 nodes. */
const RELOCATION_KEYS = 10_000

interface RelocationRow {
  readonly batchKeys: number
  /** Median over rounds of the time per key moved, both ends included. */
  readonly nanosecondsPerKeyMove: number
  readonly framesPerCall: number
}

/** Part 3: `lapse` relocations of one batch, node 0 ↔ node 1, timed per key moved. */
async function measureRelocation(): Promise<RelocationRow> {
  const length = HEADLINE_LENGTH
  const cluster = await twoNodes("lapse")
  try {
    const workers = [cluster.node(0).worker(), cluster.node(1).worker()]
    // Every other key from 1: homed on node 1, so the first call moves them all too.
    const keys = Uint32Array.from({ length: RELOCATION_KEYS }, (_, i) => 2 * i + 1)
    let calls = 0
    const move = async (rounds: number) => {
      for (let r = 0; r < rounds; r++, calls++) await workers[calls & 1].localize(keys)
    }
    await move(2)
    const out = new Float32Array(keys.length * length)
    check(workers[calls & 1 ^ 1].tryPull(keys, out), "relocated keys are not local")
    const expected = initialValues(keys, length)
    check(expected.every((v, j) => v === out[j]), "a relocation changed a value")
    const t0 = performance.now()
    do await move(2)
    while (performance.now() - t0 < WARMUP_MS)
    const perKey: number[] = []
    const before = cluster.stats().total.framesSent
    const callsBefore = calls
    for (let r = 0; r < ROUNDS; r++) {
      const start = performance.now()
      await move(2)
      perKey.push((performance.now() - start) * 1e6 / (2 * keys.length))
    }
    const moved = cluster.stats().total.relocationsIn
    check(moved === calls * keys.length, `${moved} keys moved in ${calls} calls`)
    return {
      batchKeys: keys.length,
      nanosecondsPerKeyMove: median(perKey),
      framesPerCall: (cluster.stats().total.framesSent - before) / (calls - callsBefore),
    }
  } finally {
    await cluster.close()
  }
}

// ------------------------------------------------------------------ report

function runtimeInfo(): { runtime: "deno" | "bun"; version: string } {
  if (typeof Bun !== "undefined") return { runtime: "bun", version: Bun.version }
  if (typeof Deno !== "undefined") return { runtime: "deno", version: Deno.version.deno }
  throw new Error("hot_path: run under Deno or Bun")
}

const fmt = (x: number, digits = 1) => x.toFixed(digits)
const pad = (s: string | number, n: number) => String(s).padStart(n)

function printRows(rows: readonly Row[]): void {
  console.log(
    `${pad("L", 3)} ${pad("op", 8)} ${pad("keys", 8)} ${pad("raw Mkeys/s", 12)} ` +
      `${pad("roam Mkeys/s", 13)} ${pad("roam/raw", 9)} ${pad("(rounds min–max)", 17)} ` +
      `${pad("", 10)} ${pad("slot map/raw", 13)}`,
  )
  for (const r of rows) {
    const verdict = r.rawSuspect ? "raw?" : r.ratio >= TARGET_RATIO ? "ok" : `< ${TARGET_RATIO}`
    const range = `${fmt(r.ratioMin, 2)}–${fmt(r.ratioMax, 2)}`
    console.log(
      `${pad(r.length, 3)} ${pad(r.op, 8)} ${pad(r.pattern, 8)} ` +
        `${pad(fmt(r.rawMkeysPerSecond), 12)} ${pad(fmt(r.roamMkeysPerSecond), 13)} ` +
        `${pad(fmt(r.ratio, 2), 9)} ${pad(range, 17)} ${pad(verdict, 10)} ` +
        `${pad(fmt(r.slotMapRatio, 2), 13)}`,
    )
  }
  console.log(
    "slot map/raw: the raw loop through an Int32Array key → slot map, the extra load any " +
      "store pays whose memory follows its local keys (reference, not a target).",
  )
  if (rows.some((r) => r.rawSuspect)) {
    console.log(
      `raw?: the slot-map loop (more work) beat the raw loop by over ${SUSPECT_RATIO}x, so the ` +
        "JIT compiled the raw loop badly in this run; that row's roam/raw overstates roam.",
    )
  }
}

function printRemote(rows: readonly RemoteRow[]): void {
  console.log(
    `${pad("batch", 6)} ${pad("trips/s", 9)} ${pad("µs/trip", 8)} ${pad("Mkeys/s", 8)} ` +
      `${pad("local awaited/s", 16)} ${pad("remote/local", 13)} ${pad("frames/trip", 12)} ` +
      `${pad("bytes/trip", 11)}`,
  )
  for (const r of rows) {
    console.log(
      `${pad(r.batchKeys, 6)} ${pad(fmt(r.remoteRoundTripsPerSecond, 0), 9)} ` +
        `${pad(fmt(r.remoteMicrosecondsPerPull), 8)} ${
          pad(fmt(r.remoteKeysPerSecond / 1e6, 2), 8)
        } ` +
        `${pad(fmt(r.localAwaitedPullsPerSecond, 0), 16)} ${pad(fmt(r.ratio, 3), 13)} ` +
        `${pad(fmt(r.framesPerPull, 2), 12)} ${pad(fmt(r.bytesPerPull, 0), 11)}`,
    )
  }
}

async function main(): Promise<void> {
  const { runtime, version } = runtimeInfo()
  const started = performance.now()
  console.log(
    `roam hot path: ${runtime} ${version}${quick ? " (--quick)" : ""}; ${KEYS} keys, ` +
      `batches of ${BATCH_KEYS} keys; ${ROUNDS} alternating rounds, ${SIDE_MS} ms per side.`,
  )
  const batches = { keys: KEYS, batchKeys: BATCH_KEYS, count: BATCHES }
  const patterns = {
    zipf: makeBatches("zipf", { ...batches, seed: SEED }),
    uniform: makeBatches("uniform", { ...batches, seed: SEED + 1 }),
  }
  console.log(`\n1. Local hot path vs raw typed arrays (1 node; target roam/raw ≥ ${TARGET_RATIO})`)
  const rows: Row[] = []
  for (const length of LENGTHS) rows.push(...await measureLength(length, patterns))
  printRows(rows)
  console.log(`\n2. Remote pulls over the memory transport (2 nodes, static, L=${HEADLINE_LENGTH})`)
  const remoteRows = [
    await measureRemote(patterns.zipf, 1),
    await measureRemote(patterns.zipf, 1000),
  ]
  printRemote(remoteRows)
  console.log(`\n3. Relocation over the memory transport (2 nodes, lapse, L=${HEADLINE_LENGTH})`)
  const relocation = await measureRelocation()
  console.log(
    `${relocation.batchKeys} keys localized by each node in turn: ` +
      `${fmt(relocation.nanosecondsPerKeyMove, 0)} ns per key moved (both ends), ` +
      `${fmt(relocation.framesPerCall, 1)} frames per call`,
  )
  const headline = (op: Row["op"]) =>
    rows.find((r) => r.length === HEADLINE_LENGTH && r.op === op && r.pattern === "zipf")!.ratio
  const tryPullVsRaw = headline("tryPull")
  const pushVsRaw = headline("push")
  console.log(
    `\nL=${HEADLINE_LENGTH}, zipf: tryPull/raw ${fmt(tryPullVsRaw, 2)}, push/raw ${
      fmt(pushVsRaw, 2)
    }` +
      ` (target ≥ ${TARGET_RATIO}); ${fmt((performance.now() - started) / 1000)} s in all.`,
  )
  if (flags.json !== undefined) {
    const report = {
      runtime,
      version,
      quick,
      target: TARGET_RATIO,
      tryPullVsRaw,
      pushVsRaw,
      rows,
      remote: { nodes: 2, policy: "static", length: HEADLINE_LENGTH, rows: remoteRows },
      relocation: { nodes: 2, policy: "lapse", length: HEADLINE_LENGTH, ...relocation },
    }
    await mkdir(dirname(flags.json), { recursive: true })
    await writeFile(flags.json, JSON.stringify(report, null, 2) + "\n")
    console.log(`wrote ${flags.json}`)
  }
}

await main()
