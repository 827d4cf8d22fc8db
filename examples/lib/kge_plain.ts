/**
 * Knowledge-graph embeddings in one process with no parameter manager: the
 * ceiling `examples/kge.ts` is measured against (`--plain`, and the training
 * benchmark).
 *
 * It runs the algorithm of the roam example with one worker: the same initial
 * values (by global key, entities first, then relations), the same visiting
 * order (`epochOrder`), mini-batches of `batch` triples sharing `negatives`
 * uniformly drawn entities, the same `softmaxStep` on both directions of each
 * triple through the same buffers, and the negatives' AdaGrad update once at
 * the end of the mini-batch from the values read at its start. Values live in
 * two dense Float32Arrays, so a pull is a copy out and a push an add back.
 * The negatives come from this module's own seeded stream rather than roam's
 * sampling service, so runs agree in distribution, not draw for draw.
 */
import type { KgeData } from "../kge.ts"
import { adagradDelta, answerFilter, type KgeHyper, rankMetrics, softmaxStep } from "./kge_model.ts"
import { epochOrder } from "./mf_plain.ts"
import { hashUnit, mix32, Random } from "./random.ts"
import type { EpochRecord } from "./report.ts"

export interface KgePlainOptions {
  readonly hyper: KgeHyper
  /** Half-width of the uniform initial embeddings. */
  readonly init: number
  readonly batch: number
  readonly evalTriples: number
  readonly epochs: number
}

/** Add `length` floats of `from` at `fa` onto `to` at `ta` (a push). */
function addInto(to: Float32Array, ta: number, from: Float32Array, fa: number, length: number) {
  for (let k = 0; k < length; k++) to[ta + k] += from[fa + k]
}

/** Copy `length` floats of `from` at `fa` to `to` at `ta` (a pull; no subarray allocated). */
function copyInto(to: Float32Array, ta: number, from: Float32Array, fa: number, length: number) {
  for (let k = 0; k < length; k++) to[ta + k] = from[fa + k]
}

/** Train for `options.epochs` epochs; one record per epoch (quality: mrr, hits1, hits10, trainLoss). */
export function trainKgePlain(data: KgeData, options: KgePlainOptions): EpochRecord[] {
  const { hyper, batch } = options
  const { dim, negatives } = hyper
  const len = 2 * dim
  const R = data.relations
  const entities = new Float32Array(data.entities * len)
  const relations = new Float32Array(2 * R * len)
  const fill = (table: Float32Array, first: number, count: number) => {
    for (let i = 0; i < count; i++) {
      for (let k = 0; k < dim; k++) {
        table[i * len + k] = 2 * options.init * hashUnit(hyper.seed, first + i, k)
      }
    }
  }
  fill(entities, 0, data.entities)
  fill(relations, data.entities, 2 * R)
  const values = new Float32Array(3 * len)
  const deltas = new Float32Array(3 * len)
  const negKeys = new Uint32Array(negatives)
  const negValues = new Float32Array(negatives * len)
  const negGrad = new Float32Array(negatives * dim)
  const negDeltas = new Float32Array(negatives * len)
  const scratch = {
    q: new Float32Array(dim),
    gq: new Float32Array(dim),
    gh: new Float32Array(dim),
    gr: new Float32Array(dim),
    p: new Float64Array(negatives),
  }
  const negs = { values: negValues, grad: negGrad, count: negatives }
  const count = data.train.length / 3
  const all = Uint32Array.from({ length: count }, (_, i) => i)
  const test = data.test.subarray(0, 3 * Math.min(options.evalTriples, data.test.length / 3))
  const filter = answerFilter(R, [data.train, data.valid, data.test])
  const train = data.train
  const records: EpochRecord[] = []
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    const started = performance.now()
    const order = epochOrder(all, hyper.seed, epoch, 0)
    const random = new Random(mix32(hyper.seed + 2, epoch))
    let loss = 0
    for (let from = 0; from < order.length; from += batch) {
      for (let j = 0; j < negatives; j++) {
        negKeys[j] = random.int(data.entities)
        copyInto(negValues, j * len, entities, negKeys[j] * len, len)
      }
      negGrad.fill(0)
      const end = Math.min(order.length, from + batch)
      for (let i = from; i < end; i++) {
        const n = 3 * order[i]
        for (let dir = 0; dir < 2; dir++) {
          const h = (dir === 0 ? train[n] : train[n + 2]) * len
          const r = (train[n + 1] + dir * R) * len
          const t = (dir === 0 ? train[n + 2] : train[n]) * len
          copyInto(values, 0, entities, h, len)
          copyInto(values, len, relations, r, len)
          copyInto(values, 2 * len, entities, t, len)
          loss += softmaxStep(hyper, values, negs, scratch, deltas)
          addInto(entities, h, deltas, 0, len)
          addInto(relations, r, deltas, len, len)
          addInto(entities, t, deltas, 2 * len, len)
        }
      }
      for (let j = 0; j < negatives; j++) {
        adagradDelta(hyper, negValues, j * len, negGrad, j * dim, negDeltas, j * len)
        addInto(entities, negKeys[j] * len, negDeltas, j * len, len)
      }
    }
    const seconds = (performance.now() - started) / 1000
    const metrics = rankMetrics(hyper, { entities, relations, relationCount: R }, test, filter)
    records.push({
      epoch,
      seconds,
      dataPoints: count,
      quality: { ...metrics, trainLoss: loss / Math.max(1, 2 * count) },
      localShare: 1,
      frames: 0,
      bytes: 0,
    })
  }
  return records
}
