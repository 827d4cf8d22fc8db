/**
 * Skip-gram with negative sampling in one process with no parameter manager:
 * the ceiling `examples/word2vec.ts` is measured against (`--plain`, and the
 * training benchmark).
 *
 * It runs the algorithm of the roam example with one worker: the same initial
 * word vectors (context vectors start at zero), the same subsampled tokens
 * (`subsampledTokens`), the same window draws, mini-batches of `batch` centre
 * words whose K negatives each are drawn up front by unigram count^0.75 and
 * updated once at the end of the mini-batch, the same linearly decaying step,
 * and the same `sgnsStep` through the same buffers. Vectors live in two dense
 * Float32Arrays, so a pull is a copy out and a push an add back. Negatives
 * come from this module's own seeded stream (an alias table) rather than
 * roam's sampling service, so runs agree in distribution, not draw for draw.
 */
import type { W2vData } from "../word2vec.ts"
import { hashUnit, mix32, Random } from "./random.ts"
import type { EpochRecord } from "./report.ts"
import { keptShare, sgnsStep, subsampledTokens } from "./w2v_model.ts"

export interface W2vPlainOptions {
  readonly dim: number
  readonly window: number
  readonly negatives: number
  readonly rate: number
  readonly subsample: number
  readonly batch: number
  readonly epochs: number
  readonly seed: number
}

/**
 * A draw of word ids by weight count^0.75 in constant time: Vose's alias
 * table (a column per word; a uniform column, then a biased coin between the
 * word and its alias), as a sampling service would draw them.
 */
function noiseSampler(counts: Uint32Array, random: Random): () => number {
  const n = counts.length
  const weights = Float64Array.from(counts, (c) => Math.pow(c, 0.75))
  const total = weights.reduce((a, w) => a + w, 0)
  const keep = Float64Array.from(weights, (w) => (w * n) / total)
  const alias = new Uint32Array(n).map((_, i) => i)
  const small: number[] = []
  const large: number[] = []
  keep.forEach((p, i) => (p < 1 ? small : large).push(i))
  while (small.length > 0 && large.length > 0) {
    const s = small.pop()!
    const l = large.at(-1)!
    alias[s] = l
    keep[l] -= 1 - keep[s]
    if (keep[l] < 1) small.push(large.pop()!)
  }
  for (const i of [...small, ...large]) keep[i] = 1
  return () => {
    const column = random.int(n)
    return random.next() < keep[column] ? column : alias[column]
  }
}

/** Train for `options.epochs` epochs; one record per epoch (quality: the metric and trainLoss). */
export function trainW2vPlain(data: W2vData, options: W2vPlainOptions): EpochRecord[] {
  const { dim, window, negatives, batch, seed } = options
  const words = data.corpus.vocabulary.length
  const input = Float32Array.from(
    { length: words * dim },
    (_, i) => hashUnit(seed, Math.floor(i / dim), i % dim) / dim,
  )
  const output = new Float32Array(words * dim)
  const width = 2 * window + 1
  const keys = new Uint32Array(width)
  const values = new Float32Array(width * dim)
  const deltas = new Float32Array(width * dim)
  const negKeys = new Uint32Array(negatives * batch)
  const negValues = new Float32Array(negatives * batch * dim)
  const negDeltas = new Float32Array(negatives * batch * dim)
  const negs = { values: negValues, deltas: negDeltas, at: 0, count: negatives }
  const horizon = options.epochs * keptShare(data.counts, options.subsample) *
    data.corpus.tokens.length
  const records: EpochRecord[] = []
  let done = 0
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    const started = performance.now()
    const { tokens, ends } = subsampledTokens(data, {
      subsample: options.subsample,
      seed,
      epoch,
      worker: 0,
      from: 0,
      to: data.corpus.tokens.length,
    })
    const random = new Random(mix32(mix32(seed + 1, epoch), 0))
    const noise = noiseSampler(data.counts, new Random(mix32(seed + 2, epoch)))
    let loss = 0
    let sentenceStart = 0
    for (let from = 0; from < tokens.length; from += batch) {
      const end = Math.min(tokens.length, from + batch)
      const m = negatives * (end - from)
      for (let j = 0; j < m; j++) {
        const w = negKeys[j] = noise()
        for (let k = 0; k < dim; k++) negValues[j * dim + k] = output[w * dim + k]
      }
      negDeltas.fill(0)
      const step = options.rate * Math.max(1e-4, 1 - done / horizon)
      for (let i = from; i < end; i++) {
        if (i > 0 && ends[i - 1] !== ends[i]) sentenceStart = i
        const reach = 1 + random.int(window)
        const lo = Math.max(sentenceStart, i - reach)
        const hi = Math.min(ends[i], i + reach + 1)
        keys[0] = tokens[i]
        let n = 1
        for (let j = lo; j < hi; j++) if (j !== i) keys[n++] = tokens[j]
        if (n === 1) continue
        for (let k = 0; k < dim; k++) values[k] = input[keys[0] * dim + k]
        for (let c = 1; c < n; c++) {
          for (let k = 0; k < dim; k++) values[c * dim + k] = output[keys[c] * dim + k]
        }
        negs.at = (i - from) * negatives * dim
        loss += sgnsStep(dim, step, values, n - 1, negs, deltas)
        for (let k = 0; k < dim; k++) input[keys[0] * dim + k] += deltas[k]
        for (let c = 1; c < n; c++) {
          for (let k = 0; k < dim; k++) output[keys[c] * dim + k] += deltas[c * dim + k]
        }
      }
      for (let j = 0; j < m; j++) {
        for (let k = 0; k < dim; k++) output[negKeys[j] * dim + k] += negDeltas[j * dim + k]
      }
      done += end - from
    }
    const seconds = (performance.now() - started) / 1000
    records.push({
      epoch,
      seconds,
      dataPoints: tokens.length,
      quality: { [data.metric]: data.evaluate(input, dim), trainLoss: loss / tokens.length },
      localShare: 1,
      frames: 0,
      bytes: 0,
    })
  }
  return records
}
