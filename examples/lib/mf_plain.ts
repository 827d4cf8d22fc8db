/**
 * Matrix factorization by SGD in one process with no parameter manager: the
 * ceiling a parameter manager is measured against, and the reference the
 * roam example must equal on one node.
 *
 * It runs exactly the algorithm of `examples/mf.ts` with one worker: same
 * initial values, same per-epoch visiting order (`epochOrder`), same SGD step
 * through the same buffers, same bold-driver schedule. Values live in two
 * dense Float32Arrays, so a step is a copy in, `sgdStep`, and an add back —
 * the same float32 additions roam's local push makes.
 */
import type { Ratings } from "../data/ratings.ts"
import { boldDriver, initValue, type MfHyper, rmseOf, sgdStep, valueLength } from "./mf_model.ts"
import { mix32, Random } from "./random.ts"

/** The order in which worker `worker` visits its data points in `epoch`. */
export function epochOrder(
  points: Uint32Array,
  seed: number,
  epoch: number,
  worker: number,
): Uint32Array {
  return new Random(mix32(mix32(seed, epoch), worker)).shuffle(points.slice())
}

export interface MfEpoch {
  readonly epoch: number
  /** Mean squared training error, measured during the epoch. */
  readonly trainLoss: number
  readonly testRmse: number
  /** The step size used in this epoch. */
  readonly rate: number
  readonly seconds: number
}

/** Train for `epochs` epochs and return the per-epoch record. */
export function trainPlain(
  train: Ratings,
  test: Ratings,
  options: { hyper: MfHyper; epochs: number; rate: number },
): MfEpoch[] {
  const { hyper, epochs } = options
  const length = valueLength(hyper)
  const rows = new Float32Array(train.rows * length)
  const cols = new Float32Array(train.cols * length)
  for (let i = 0; i < train.rows; i++) {
    initValue(hyper, 0, i, rows.subarray(i * length, (i + 1) * length))
  }
  for (let j = 0; j < train.cols; j++) {
    initValue(hyper, 1, j, cols.subarray(j * length, (j + 1) * length))
  }
  const values = new Float32Array(2 * length)
  const deltas = new Float32Array(2 * length)
  const all = new Uint32Array(train.value.length).map((_, i) => i)
  const out: MfEpoch[] = []
  let rate = options.rate
  let previous = Infinity
  for (let e = 1; e <= epochs; e++) {
    const started = performance.now()
    const order = epochOrder(all, hyper.seed, e, 0)
    let loss = 0
    for (let i = 0; i < order.length; i++) {
      const n = order[i]
      const r = train.row[n] * length
      const c = train.col[n] * length
      for (let k = 0; k < length; k++) values[k] = rows[r + k], values[length + k] = cols[c + k]
      loss += sgdStep(hyper, train.value[n], rate, values, deltas)
      for (let k = 0; k < length; k++) rows[r + k] += deltas[k], cols[c + k] += deltas[length + k]
    }
    const seconds = (performance.now() - started) / 1000
    const trainLoss = loss / Math.max(1, order.length)
    out.push({ epoch: e, trainLoss, testRmse: rmseOf(hyper, test, rows, cols), rate, seconds })
    rate = boldDriver(rate, trainLoss, previous)
    previous = trainLoss
  }
  return out
}
