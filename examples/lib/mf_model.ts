/**
 * The matrix-factorization model, shared by the roam example and the plain
 * single-process implementation so that both run the same arithmetic.
 *
 * A rating r(i, j) is predicted as `mean + b_i + b_j + <u_i, v_j>`, where
 * row i's value is [u_i (rank floats), b_i] and column j's is [v_j, b_j]; the
 * biases stay at zero unless `biased`. One SGD step on a rating reads the two
 * values side by side in one buffer (as one pull of two keys returns them)
 * and writes additive deltas in the same layout (as one push takes them), so
 * the roam loop and the plain loop differ only in where values live. Initial
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
 * One SGD step on a rating. `values` holds the row value then the column
 * value; `deltas` receives their updates in the same layout. Returns the
 * squared error of the prediction before the step.
 */
export function sgdStep(
  hyper: MfHyper,
  rating: number,
  rate: number,
  values: Float32Array,
  deltas: Float32Array,
): number {
  const rank = hyper.rank
  const lambda = hyper.lambda
  const c = rank + 1
  let prediction = hyper.mean
  for (let k = 0; k < rank; k++) prediction += values[k] * values[c + k]
  if (hyper.biased) prediction += values[rank] + values[c + rank]
  const error = rating - prediction
  for (let k = 0; k < rank; k++) {
    const u = values[k]
    const v = values[c + k]
    deltas[k] = rate * (error * v - lambda * u)
    deltas[c + k] = rate * (error * u - lambda * v)
  }
  deltas[rank] = hyper.biased ? rate * (error - lambda * values[rank]) : 0
  deltas[c + rank] = hyper.biased ? rate * (error - lambda * values[c + rank]) : 0
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
