/**
 * A small chi-square goodness-of-fit helper for the sampling tests.
 *
 * Sampling tests compare empirical counts at a fixed seed against the
 * distribution the code promises. The statistic is Σ (observed − expected)² /
 * expected over the bins of positive probability; a count in a bin of
 * probability zero makes it infinite (such a draw is impossible, not
 * unlikely). The critical value uses the Wilson–Hilferty approximation of
 * the chi-square quantile, χ²_α(k) ≈ k (1 − 2/(9k) + z_α √(2/(9k)))³, which is
 * within about 1% of the exact quantile from 10 degrees of freedom up; tests
 * keep every expected count at 5 or more, where the test itself is sound.
 */

/** Upper-tail standard normal quantiles for the significance levels the tests use. */
const Z: Record<string, number> = { "0.05": 1.6449, "0.01": 2.3263, "0.001": 3.0902 }

/** The χ² value exceeded with probability `alpha` at `df` degrees of freedom (Wilson–Hilferty). */
export function chiSquareCritical(df: number, alpha = 0.001): number {
  const z = Z[String(alpha)]
  if (z === undefined) throw new RangeError(`no z value for alpha ${alpha}`)
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`df must be a positive integer`)
  const a = 2 / (9 * df)
  return df * (1 - a + z * Math.sqrt(a)) ** 3
}

export interface ChiSquare {
  readonly statistic: number
  /** Bins of positive probability, minus one. */
  readonly df: number
  /** The smallest expected count over the bins tested. */
  readonly expectedMin: number
}

/** The χ² statistic of `counts` against `probabilities` (normalized here). */
export function chiSquare(
  counts: ArrayLike<number>,
  probabilities: ArrayLike<number>,
): ChiSquare {
  if (counts.length !== probabilities.length) throw new RangeError("counts and probabilities")
  let total = 0
  let mass = 0
  for (let i = 0; i < counts.length; i++) {
    total += counts[i]
    mass += probabilities[i]
  }
  let statistic = 0
  let bins = 0
  let expectedMin = Infinity
  for (let i = 0; i < counts.length; i++) {
    const expected = (total * probabilities[i]) / mass
    if (expected === 0) {
      if (counts[i] !== 0) statistic = Infinity
      continue
    }
    bins++
    expectedMin = Math.min(expectedMin, expected)
    statistic += (counts[i] - expected) ** 2 / expected
  }
  return { statistic, df: bins - 1, expectedMin }
}

/**
 * Whether `counts` fit `probabilities` at level `alpha`; throws when an
 * expected count is below 5 (the test would not mean much there).
 */
export function fits(
  counts: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  alpha = 0.001,
): { ok: boolean; statistic: number; critical: number; df: number } {
  const result = chiSquare(counts, probabilities)
  if (result.expectedMin < 5) {
    throw new RangeError(`expected count ${result.expectedMin} < 5: draw more samples`)
  }
  const critical = chiSquareCritical(result.df, alpha)
  return { ok: result.statistic <= critical, statistic: result.statistic, critical, df: result.df }
}
