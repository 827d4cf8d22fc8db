/**
 * The matrix-factorization model, shared by the roam example and the plain
 * single-process implementation so that both run the same arithmetic.
 *
 * A rating r(i, j) is predicted as `mean + b_i + b_j + <u_i, v_j>`, where
 * row i's value is [u_i (rank floats), b_i] and column j's is [v_j, b_j]; the
 * biases stay at zero unless `biased`. One SGD step on a rating updates the
 * row's and the column's value in place, wherever they live: in the plain
 * loop, the model's own arrays; in the roam loop, a mini-batch's pulled
 * values (`BatchValues`), pushed back as deltas after the mini-batch. Initial
 * values depend only on (seed, table, id), never on initialization order.
 * The step size follows the bold driver: +5% after an epoch whose training
 * loss improved, -50% after one that got worse.
 */
import { hashUnit } from "./random.ts"
import type { Ratings } from "../data/ratings.ts"

export interface MfHyper {
  readonly rank: number
  readonly lambda: number
  readonly biased: boolean
  /** The global mean every prediction starts from (the training mean). */
  readonly mean: number
  /** Half-width of the uniform initial factors. */
  readonly initScale: number
  readonly seed: number
}

/** Floats per row or column value: the factors, then the bias. */
export const valueLength = (hyper: MfHyper): number => hyper.rank + 1

/** Fill the initial value of row (table 0) or column (table 1) `id`. */
export function initValue(hyper: MfHyper, table: 0 | 1, id: number, value: Float32Array): void {
  const seed = hyper.seed * 2 + table
  for (let k = 0; k < hyper.rank; k++) value[k] = 2 * hyper.initScale * hashUnit(seed, id, k)
  value[hyper.rank] = 0
}

/**
 * One SGD step on a rating, in place: the row's value at `rows[r]`, the
 * column's at `cols[c]` (each `rank + 1` floats). Every update is rounded to
 * a float32 before it is added, as a delta pushed through roam would be.
 * Returns the squared error of the prediction before the step.
 */
export function sgdStep(
  hyper: MfHyper,
  rating: number,
  rate: number,
  rows: Float32Array,
  r: number,
  cols: Float32Array,
  c: number,
): number {
  const rank = hyper.rank
  const lambda = hyper.lambda
  let prediction = hyper.mean
  for (let k = 0; k < rank; k++) prediction += rows[r + k] * cols[c + k]
  if (hyper.biased) prediction += rows[r + rank] + cols[c + rank]
  const error = rating - prediction
  for (let k = 0; k < rank; k++) {
    const u = rows[r + k]
    const v = cols[c + k]
    rows[r + k] = u + Math.fround(rate * (error * v - lambda * u))
    cols[c + k] = v + Math.fround(rate * (error * u - lambda * v))
  }
  if (hyper.biased) {
    const bu = rows[r + rank]
    const bv = cols[c + rank]
    rows[r + rank] = bu + Math.fround(rate * (error - lambda * bu))
    cols[c + rank] = bv + Math.fround(rate * (error - lambda * bv))
  }
  return error * error
}

/** Test RMSE given every row's and column's value laid out densely by id. */
export function rmseOf(
  hyper: MfHyper,
  data: Ratings,
  rowValues: Float32Array,
  colValues: Float32Array,
): number {
  const rank = hyper.rank
  const length = rank + 1
  let sum = 0
  for (let n = 0; n < data.value.length; n++) {
    const r = data.row[n] * length
    const c = data.col[n] * length
    let prediction = hyper.mean
    for (let k = 0; k < rank; k++) prediction += rowValues[r + k] * colValues[c + k]
    if (hyper.biased) prediction += rowValues[r + rank] + colValues[c + rank]
    const error = data.value[n] - prediction
    sum += error * error
  }
  return data.value.length === 0 ? 0 : Math.sqrt(sum / data.value.length)
}

/** RMSE of predicting `mean` for every rating: the baseline a model must beat. */
export function meanBaselineRmse(data: Ratings, mean: number): number {
  let sum = 0
  for (let n = 0; n < data.value.length; n++) sum += (data.value[n] - mean) ** 2
  return data.value.length === 0 ? 0 : Math.sqrt(sum / data.value.length)
}

/** The bold-driver rule: the next epoch's step size. */
export function boldDriver(rate: number, loss: number, previousLoss: number): number {
  return loss < previousLoss ? rate * 1.05 : rate * 0.5
}
