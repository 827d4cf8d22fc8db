/**
 * The alias table: O(1) draws from a fixed discrete distribution.
 *
 * Negative sampling draws keys from a skewed distribution (word frequency to
 * the 0.75, entity degree) millions of times per epoch, so a draw must cost a
 * constant handful of operations, not a search over cumulative weights. Walker's
 * alias method does that: `n` columns of equal height 1/n, each split between
 * its own index (with probability `threshold[i]`) and one other index
 * (`alias[i]`). A draw picks a column uniformly and then one of its two
 * halves. The table is built in O(n) with Vose's two-worklist construction,
 * in float64, and costs 12 bytes per index. Keys of weight zero are never
 * drawn: their column's threshold is 0 and they are never anyone's alias.
 *
 * The randomness is the caller's: `sample` takes a `UniformSource` (roam's
 * seeded `Prng` is one), so draws replay from a seed. This module is passive
 * and synchronous like the rest of `actors/`.
 */
import { assert } from "./assert.ts"

/** Weights of a distribution: one finite, non-negative number per index, not all zero. */
export type Weights = Float64Array | Float32Array | readonly number[]

/** What a draw needs from a random stream (roam's `Prng` has both). */
export interface UniformSource {
  /** A float in [0, 1). */
  nextFloat(): number
  /** An integer in [0, n), uniformly. */
  nextInt(n: number): number
}

/** Why `weights` cannot define a distribution, or undefined when they can. */
export function weightsProblem(weights: Weights): string | undefined {
  const isArray = Array.isArray(weights) || weights instanceof Float64Array ||
    weights instanceof Float32Array
  if (!isArray) return "weights must be a Float64Array, a Float32Array or an array of numbers"
  if (weights.length === 0) return "weights must not be empty"
  if (weights.length > 0xffff_ffff) return `${weights.length} weights exceed 2^32 - 1`
  let sum = 0
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]
    if (typeof w !== "number" || !Number.isFinite(w) || w < 0) {
      return `weight ${i} is ${String(w)}: every weight must be a finite number ≥ 0`
    }
    sum += w
  }
  if (sum === 0) return "all weights are zero: nothing could ever be drawn"
  if (!Number.isFinite(sum)) return "the weights sum to infinity: scale them down"
  return undefined
}

export class AliasTable {
  /** Number of indices, `weights.length`. */
  readonly size: number
  /** Per column: the probability (in [0, 1]) that a draw landing there keeps its own index. */
  private readonly threshold: Float64Array
  /** Per column: the index a draw gets otherwise. */
  private readonly alias: Uint32Array

  /** Build the table for `weights`; throws a `RangeError` naming the problem when they are bad. */
  constructor(weights: Weights) {
    const problem = weightsProblem(weights)
    if (problem !== undefined) throw new RangeError(`alias table: ${problem}`)
    const n = weights.length
    this.size = n
    this.threshold = new Float64Array(n)
    this.alias = new Uint32Array(n)
    build(weights, this.threshold, this.alias)
  }

  /** One index drawn with probability weight / sum of weights. O(1). */
  sample(random: UniformSource): number {
    const column = random.nextInt(this.size)
    return random.nextFloat() < this.threshold[column] ? column : this.alias[column]
  }

  /**
   * The probability of drawing `index`, recomputed from the table (O(n)); for
   * tests and integrity checks, not the hot path.
   */
  probability(index: number): number {
    let p = this.threshold[index]
    for (let c = 0; c < this.size; c++) {
      if (this.alias[c] === index && c !== index) p += 1 - this.threshold[c]
    }
    return p / this.size
  }
}

/**
 * Vose's construction. Scaled weights p[i] = n·w[i]/sum average 1; columns
 * below 1 ("small") are topped up from one column above 1 ("large"), which
 * shrinks by as much and changes list when it falls below 1. Zero weights are
 * pushed last onto the small stack, so they are paired first, while the large
 * list is certainly not empty: rounding can then never leave a zero-weight
 * column holding its own index.
 */
function build(weights: Weights, threshold: Float64Array, alias: Uint32Array): void {
  const n = weights.length
  let sum = 0
  for (let i = 0; i < n; i++) sum += weights[i]
  const small = new Uint32Array(n)
  const large = new Uint32Array(n)
  let smallTop = 0
  let largeTop = 0
  for (let i = 0; i < n; i++) {
    const p = (weights[i] * n) / sum
    threshold[i] = p
    if (p >= 1) large[largeTop++] = i
    else if (p > 0) small[smallTop++] = i
  }
  for (let i = 0; i < n; i++) if (weights[i] === 0) small[smallTop++] = i
  while (smallTop > 0 && largeTop > 0) {
    const s = small[--smallTop]
    const l = large[largeTop - 1]
    alias[s] = l
    // threshold[s] stays p[s]: the share of column s that is s itself.
    const rest = threshold[l] + threshold[s] - 1
    threshold[l] = rest
    if (rest < 1) {
      largeTop--
      small[smallTop++] = l
    }
  }
  // What is left is 1 up to rounding: those columns keep their own index.
  while (largeTop > 0) {
    const l = large[--largeTop]
    threshold[l] = 1
    alias[l] = l
  }
  while (smallTop > 0) {
    const s = small[--smallTop]
    assert(weights[s] > 0, () => `alias table: zero-weight index ${s} left without an alias`)
    threshold[s] = 1
    alias[s] = s
  }
}
