/**
 * Tests of the alias table (`actors/alias_table.ts`): draws at a fixed seed fit
 * the weights by a chi-square test (uniform, skewed and word-vector-like
 * frequency^0.75 weights), keys of weight zero are never drawn, the table's
 * own probabilities equal the normalized weights, draws replay from the seed,
 * and bad weights are refused with a message naming the problem. The
 * chi-square helper is checked against tabulated quantiles, and a negative
 * control shows it rejects draws from the wrong distribution.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { AliasTable, weightsProblem } from "../actors/alias_table.ts"
import { Prng } from "../runtime/prng.ts"
import { chiSquare, chiSquareCritical, fits } from "./_chi_square.ts"

function countDraws(table: AliasTable, draws: number, seed: number): Float64Array {
  const random = new Prng(seed)
  const counts = new Float64Array(table.size)
  for (let i = 0; i < draws; i++) counts[table.sample(random)]++
  return counts
}

/** Word-vector-like weights: Zipf frequencies 1/(rank+1), to the power 0.75. */
const zipf075 = (n: number) => Float64Array.from({ length: n }, (_, i) => (1 / (i + 1)) ** 0.75)

describe("chi-square helper", () => {
  it("matches tabulated chi-square quantiles within 1% from 10 degrees of freedom", () => {
    // Exact upper 0.1% and 1% points of the chi-square distribution.
    const table: Array<[number, number, number]> = [
      [10, 0.001, 29.588],
      [30, 0.001, 59.703],
      [100, 0.001, 149.449],
      [10, 0.01, 23.209],
      [100, 0.01, 135.807],
    ]
    for (const [df, alpha, exact] of table) {
      const approx = chiSquareCritical(df, alpha)
      assert.ok(Math.abs(approx - exact) / exact < 0.01, `df ${df}: ${approx} vs ${exact}`)
    }
  })

  it("negative control: rejects draws from a different distribution", () => {
    const weights = [1, 2, 3, 4, 5, 6, 7, 8]
    // Draws from the uniform distribution tested against the weights: must fail.
    const counts = countDraws(new AliasTable([1, 1, 1, 1, 1, 1, 1, 1]), 20_000, 5)
    assert.equal(fits(counts, weights).ok, false)
    // A subtle mistake too: weight 4 drawn as if it were 5.
    const slightly = countDraws(new AliasTable([1, 2, 3, 5, 5, 6, 7, 8]), 200_000, 5)
    assert.equal(fits(slightly, weights).ok, false)
    // A count in a bin of probability zero is impossible, not unlikely.
    assert.equal(chiSquare([5, 5, 1], [1, 1, 0]).statistic, Infinity)
  })
})

describe("AliasTable", () => {
  it("draws fit small skewed weights (chi-square, fixed seed)", () => {
    const weights = [1, 2, 3, 4, 10, 0.5, 7, 30]
    const table = new AliasTable(weights)
    const result = fits(countDraws(table, 100_000, 1), weights)
    assert.ok(result.ok, `χ² ${result.statistic} > ${result.critical} (df ${result.df})`)
  })

  it("draws fit frequency^0.75 weights over 500 keys, from number[] and Float32Array", () => {
    const weights = zipf075(500)
    for (const w of [weights, Array.from(weights), Float32Array.from(weights)]) {
      const table = new AliasTable(w)
      const result = fits(countDraws(table, 400_000, 2), weights)
      assert.ok(result.ok, `χ² ${result.statistic} > ${result.critical} (df ${result.df})`)
    }
  })

  it("draws fit uniform weights, at several seeds", () => {
    const weights = new Float64Array(64).fill(3)
    for (const seed of [0, 1, 2, 3]) {
      const result = fits(countDraws(new AliasTable(weights), 64_000, seed), weights)
      assert.ok(result.ok, `seed ${seed}: χ² ${result.statistic} > ${result.critical}`)
    }
  })

  it("never draws a key of weight zero", () => {
    // Zeros at both ends, in runs and alone; and one lone positive weight.
    const weights = [0, 0, 5, 0, 1, 0, 0, 0, 9, 0, 2, 0]
    const counts = countDraws(new AliasTable(weights), 50_000, 3)
    for (let i = 0; i < weights.length; i++) {
      if (weights[i] === 0) assert.equal(counts[i], 0, `key ${i} of weight 0 drawn`)
      else assert.ok(counts[i] > 0)
    }
    const lone = countDraws(new AliasTable([0, 0, 0, 1e-300, 0]), 1_000, 4)
    assert.deepEqual(Array.from(lone), [0, 0, 0, 1_000, 0])
    // Mostly zeros with very uneven positive weights: rounding must not leak onto a zero.
    const sparse = new Float64Array(10_000)
    for (let i = 0; i < sparse.length; i += 97) sparse[i] = (i % 7) + 1e-9 * i
    const sparseCounts = countDraws(new AliasTable(sparse), 100_000, 6)
    for (let i = 0; i < sparse.length; i++) {
      if (sparse[i] === 0) assert.equal(sparseCounts[i], 0, `key ${i} of weight 0 drawn`)
    }
  })

  it("holds exactly the normalized weights", () => {
    const random = new Prng(9)
    for (const n of [1, 2, 3, 17, 256]) {
      const weights = Array.from(
        { length: n },
        (): number => (random.nextInt(4) === 0 ? 0 : random.nextFloat()),
      )
      if (!weights.some((w) => w > 0)) weights[0] = 1
      const sum = weights.reduce((a, b) => a + b, 0)
      const table = new AliasTable(weights)
      for (let i = 0; i < n; i++) {
        assert.ok(Math.abs(table.probability(i) - weights[i] / sum) < 1e-12, `n ${n}, key ${i}`)
      }
    }
  })

  it("replays the same draws from the same seed", () => {
    const table = new AliasTable(zipf075(100))
    const a = new Prng(42)
    const b = new Prng(42)
    for (let i = 0; i < 1_000; i++) assert.equal(table.sample(a), table.sample(b))
  })

  it("refuses bad weights with a RangeError naming the problem", () => {
    const bad: Array<[unknown, RegExp]> = [
      [[], /must not be empty/],
      [[1, NaN, 2], /weight 1 is NaN/],
      [[1, -0.5], /weight 1 is -0\.5: every weight must be a finite number ≥ 0/],
      [[Infinity, 1], /weight 0 is Infinity/],
      [[0, 0, 0], /all weights are zero/],
      [new Float64Array(4), /all weights are zero/],
      [[1e308, 1e308], /sum to infinity/],
      [[1, "2"], /weight 1 is 2/],
      ["1,2", /must be a Float64Array/],
      [new Uint8Array([1, 2]), /must be a Float64Array/],
    ]
    for (const [weights, message] of bad) {
      assert.throws(
        () => new AliasTable(weights as number[]),
        (e: unknown) => e instanceof RangeError && message.test(e.message),
        `weights ${String(weights)}`,
      )
      assert.match(weightsProblem(weights as number[]) ?? "", message)
    }
    assert.equal(weightsProblem([0, 1]), undefined)
  })
})
