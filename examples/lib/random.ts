/**
 * Seeded randomness for the examples: a small generator and the draws built on it.
 *
 * Every example replays exactly from its `--seed`: data generation, splits,
 * initial values and shuffles all draw from `Random` streams made here, never
 * from `Math.random`. The generator is mulberry32 (one 32-bit word of state,
 * integer math through `Math.imul`), which is fast and good enough for
 * sampling and initialization; it is not cryptographic. `hashUnit` gives a
 * per-key value without any stream, so that a parameter's initial value does
 * not depend on the order in which a cluster's nodes happen to initialize it.
 */

const TWO_POW_32 = 4294967296

/**
 * Bare mulberry32 on `seed` as given (no mixing, unlike `Random`): a uniform
 * [0, 1) source for the quickstart and the benchmarks.
 */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / TWO_POW_32
  }
}

/** A deterministic random stream: the same seed always yields the same values. */
export class Random {
  private state: number
  private spare = NaN

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`)
    // Mix the seed once so that nearby seeds give unrelated streams.
    this.state = mix32(seed >>> 0, 0x9e3779b9)
  }

  /** A uniform float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), 1 | t)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / TWO_POW_32
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** A standard normal draw (Box–Muller; the second value of each pair is kept). */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const value = this.spare
      this.spare = NaN
      return value
    }
    let u = 0
    while (u === 0) u = this.next()
    const v = this.next()
    const r = Math.sqrt(-2 * Math.log(u))
    this.spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }

  /** Shuffle `array` in place (Fisher–Yates) and return it. */
  shuffle<T extends { length: number; [i: number]: number }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = array[i]
      array[i] = array[j]
      array[j] = t
    }
    return array
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n)
    for (let i = 0; i < n; i++) p[i] = i
    return this.shuffle(p)
  }
}

/** A well-mixed 32-bit word from two words (a murmur3-style finalizer). */
export function mix32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x85ebca6b, 0xcc9e2d51) ^ b
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** A uniform float in [-0.5, 0.5) determined by (seed, key, j) alone. */
export function hashUnit(seed: number, key: number, j: number): number {
  return mix32(mix32(seed >>> 0, key >>> 0), j >>> 0) / TWO_POW_32 - 0.5
}

/**
 * A Zipf(s) sampler over [0, n): rank r is drawn with probability ∝ 1/(r+1)^s,
 * by binary search on a precomputed cumulative table.
 */
export function zipfSampler(n: number, s: number, random: Random): () => number {
  return zipfDraw(n, s, () => random.next())
}

/** `zipfSampler` over any uniform [0, 1) source `next` (a `Random`'s, or `mulberry32`). */
export function zipfDraw(n: number, s: number, next: () => number): () => number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`zipf: n must be >= 1, got ${n}`)
  const cdf = new Float64Array(n)
  let sum = 0
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s)
  return () => {
    const u = next() * sum
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cdf[mid] <= u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
