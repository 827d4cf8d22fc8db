/**
 * The benchmark harness: seeded key batches, and side-by-side timing.
 *
 * DESIGN.md §10 asks benchmarks for ratios measured side by side in one run.
 * `compare` times several sides (side 0 is the baseline) in short slices,
 * every side once per round, forward on even rounds and backward on odd ones
 * (A B C C B A ...), after a warm-up of each. A ratio is taken within a round
 * and the median over rounds is reported, so a slow spell of the machine
 * (other processes, frequency changes) hits every side alike. Batches come from
 * a seeded generator, so every run and every runtime times the same keys.
 */
import { mulberry32, zipfDraw } from "../examples/lib/random.ts"

/** mulberry32: a small seeded generator, so every run draws the same batches. */
export const random: (seed: number) => () => number = mulberry32

/**
 * The keys of a Zipf table ordered by popularity: `keyOfRank[r]` is the key
 * of rank r (rank 0 the hottest). A seeded permutation, so the hot keys are
 * scattered over the table as ids are in a real embedding table, not packed
 * into its first cache lines. Benchmarks that replicate the hottest keys read
 * them from here; several samplers can share one ranking.
 */
export function zipfRanking(n: number, rand: () => number): Uint32Array {
  const keyOfRank = new Uint32Array(n)
  for (let i = 0; i < n; i++) keyOfRank[i] = i
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    const t = keyOfRank[i]
    keyOfRank[i] = keyOfRank[j]
    keyOfRank[j] = t
  }
  return keyOfRank
}

/** Share of Zipf(1.1) draws over n ranks that fall on the `top` hottest ranks. */
export function zipfMass(n: number, top: number): number {
  let hot = 0
  let all = 0
  for (let i = 0; i < n; i++) {
    const w = 1 / Math.pow(i + 1, 1.1)
    all += w
    if (i < top) hot += w
  }
  return hot / all
}

/**
 * Zipf(1.1) over ranks by inverse CDF; ranks map to keys through `keyOfRank`,
 * by default a ranking drawn from `rand` first (`zipfRanking`).
 */
export function zipfSampler(
  n: number,
  rand: () => number,
  keyOfRank: Uint32Array = zipfRanking(n, rand),
): () => number {
  if (keyOfRank.length !== n) throw new Error(`zipfSampler: ranking of ${keyOfRank.length} keys`)
  const rank = zipfDraw(n, 1.1, rand)
  return () => keyOfRank[rank()]
}

export type Pattern = "zipf" | "uniform"

/** `count` batches of `batchKeys` keys in [0, keys), drawn with `pattern`. */
export function makeBatches(
  pattern: Pattern,
  options: { keys: number; batchKeys: number; count: number; seed: number },
): Uint32Array[] {
  const { keys, batchKeys, count, seed } = options
  const rand = random(seed)
  const draw = pattern === "zipf" ? zipfSampler(keys, rand) : () => Math.floor(rand() * keys)
  return Array.from({ length: count }, () => {
    const batch = new Uint32Array(batchKeys)
    for (let i = 0; i < batchKeys; i++) batch[i] = draw()
    return batch
  })
}

/**
 * Runs `count` batches, from batch `first` on (the side wraps the index). Every
 * side is its own function literal that owns its loop: a shared loop calling
 * each side through a closure gets compiled around whichever side was hot
 * first, and in trials that biased the ratio by more than the effect measured.
 */
export type Step = (first: number, count: number) => void

/** Batches per call of a `Step`, between two reads of the clock. */
const BATCHES_PER_STEP = 8

/** How long to time, and how many keys one batch counts for. */
export interface Timing {
  /** Rounds per comparison; odd, for a median. */
  readonly rounds: number
  /** Time per side per comparison, split over the rounds. */
  readonly sideMs: number
  readonly warmupMs: number
  readonly batchKeys: number
}

/** Keys per second of `step` over about `ms` milliseconds. */
function rate(step: Step, ms: number, batchKeys: number): number {
  const t0 = performance.now()
  let t = t0
  let n = 0
  do {
    step(n, BATCHES_PER_STEP)
    n += BATCHES_PER_STEP
    t = performance.now()
  } while (t - t0 < ms)
  return (n * batchKeys) / ((t - t0) / 1000)
}

export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[xs.length >> 1]

/** One side's median rate, and the median and range of its per-round ratios to side 0. */
export interface Side {
  keysPerSecond: number
  ratio: number
  ratioMin: number
  ratioMax: number
}

/** Time `sides` against each other; side 0 is the baseline of every ratio. */
export function compare(sides: readonly Step[], timing: Timing): Side[] {
  const { rounds, sideMs, warmupMs, batchKeys } = timing
  for (const step of sides) rate(step, warmupMs, batchKeys)
  const slice = sideMs / rounds
  const rates = sides.map((): number[] => [])
  for (let r = 0; r < rounds; r++) {
    for (let s = 0; s < sides.length; s++) {
      const i = r % 2 === 0 ? s : sides.length - 1 - s
      rates[i].push(rate(sides[i], slice, batchKeys))
    }
  }
  return rates.map((xs) => {
    const ratios = xs.map((x, r) => x / rates[0][r])
    return {
      keysPerSecond: median(xs),
      ratio: median(ratios),
      ratioMin: Math.min(...ratios),
      ratioMax: Math.max(...ratios),
    }
  })
}
