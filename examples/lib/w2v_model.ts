/**
 * The arithmetic of skip-gram with negative sampling, and the two ways the
 * word2vec example measures its vectors.
 *
 * `sgnsStep` trains one centre word against the context words of its window
 * and K negatives (word2vec's update: for each (centre, word, label) the
 * gradient `g = rate · (label − σ(v · u))` moves `u` by `g v` and `v` by
 * `g u`, the centre's total applied once at the end). The negatives' updates
 * are accumulated into a buffer the caller pushes once per mini-batch.
 * `topicShare` is the synthetic metric of DATA.md (share of a word's 10
 * nearest neighbours from its own planted topic); `synonymAuc` the real one
 * (AUC of cosine similarity of WordNet synonym pairs against random pairs,
 * vectors mean-centred first). Everything is typed arrays at offsets.
 */
import type { Corpus } from "../data/synthetic.ts"
import { mix32, Random } from "./random.ts"

/** σ clipped as word2vec does, so that saturated pairs give no gradient. */
function sigmoid(x: number): number {
  if (x > 6) return 1
  if (x < -6) return 0
  return 1 / (1 + Math.exp(-x))
}

/**
 * One centre word. `values` holds the centre's input vector then the `m`
 * context vectors (dim floats each); `negatives` K vectors at `negAt` (in
 * floats) of `negValues`, their updates added into `negDeltas` at the same
 * place. Writes the centre's and contexts' updates to `deltas` (same layout
 * as `values`); returns the summed logistic loss.
 */
export function sgnsStep(
  dim: number,
  rate: number,
  values: Float32Array,
  m: number,
  negatives: {
    values: Float32Array
    deltas: Float32Array
    at: number
    count: number
  },
  deltas: Float32Array,
): number {
  const { values: nv, deltas: nd, at, count } = negatives
  let loss = 0
  for (let k = 0; k < dim; k++) deltas[k] = 0
  for (let c = 1; c <= m; c++) {
    const u = c * dim
    let dot = 0
    for (let k = 0; k < dim; k++) dot += values[k] * values[u + k]
    const s = sigmoid(dot)
    loss -= Math.log(Math.max(s, 1e-7))
    const g = rate * (1 - s)
    for (let k = 0; k < dim; k++) {
      deltas[k] += g * values[u + k]
      deltas[u + k] = g * values[k]
    }
    for (let j = 0; j < count; j++) {
      const n = at + j * dim
      let d = 0
      for (let k = 0; k < dim; k++) d += values[k] * nv[n + k]
      const sn = sigmoid(d)
      loss -= Math.log(Math.max(1 - sn, 1e-7))
      const gn = -rate * sn
      for (let k = 0; k < dim; k++) {
        deltas[k] += gn * nv[n + k]
        nd[n + k] += gn * values[k]
      }
    }
  }
  return loss
}

/** Unit-length copies of the rows of `vectors` (`dim` floats each), optionally mean-centred. */
export function normalized(vectors: Float32Array, dim: number, centre: boolean): Float32Array {
  const n = vectors.length / dim
  const out = Float32Array.from(vectors)
  if (centre) {
    const mean = new Float64Array(dim)
    for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) mean[k] += out[i * dim + k] / n
    for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) out[i * dim + k] -= mean[k]
  }
  for (let i = 0; i < n; i++) {
    let norm = 0
    for (let k = 0; k < dim; k++) norm += out[i * dim + k] ** 2
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0
    for (let k = 0; k < dim; k++) out[i * dim + k] *= scale
  }
  return out
}

function cosine(unit: Float32Array, dim: number, a: number, b: number): number {
  let s = 0
  for (let k = 0; k < dim; k++) s += unit[a * dim + k] * unit[b * dim + k]
  return s
}

/**
 * Share of the 10 nearest neighbours (cosine, among `eligible` words) that
 * share the query's topic, averaged over up to `queries` eligible words.
 */
export function topicShare(
  vectors: Float32Array,
  dim: number,
  options: { eligible: Uint32Array; topicOf(word: number): number; queries: number; seed: number },
): number {
  const { eligible, topicOf } = options
  const unit = normalized(vectors, dim, false)
  const picks = new Random(options.seed).permutation(eligible.length)
  const count = Math.min(options.queries, eligible.length)
  const near = 10
  const best = new Float64Array(near)
  const bestWord = new Uint32Array(near)
  let share = 0
  for (let q = 0; q < count; q++) {
    const word = eligible[picks[q]]
    best.fill(-Infinity)
    for (const other of eligible) {
      if (other === word) continue
      const s = cosine(unit, dim, word, other)
      if (s <= best[near - 1]) continue
      let at = near - 1
      while (at > 0 && best[at - 1] < s) {
        best[at] = best[at - 1], bestWord[at] = bestWord[at - 1], at--
      }
      best[at] = s
      bestWord[at] = other
    }
    let same = 0
    for (let i = 0; i < near; i++) if (topicOf(bestWord[i]) === topicOf(word)) same++
    share += same / near
  }
  return count === 0 ? 0 : share / count
}

/**
 * AUC of cosine similarity: synonym pairs (word ids) against 4x as many
 * seeded random pairs, on mean-centred vectors (Mann–Whitney, ties half).
 */
export function synonymAuc(
  vectors: Float32Array,
  dim: number,
  options: { pairs: Uint32Array; seed: number },
): number {
  const unit = normalized(vectors, dim, true)
  const words = vectors.length / dim
  const { pairs } = options
  const positives = pairs.length / 2
  const random = new Random(options.seed)
  const scored: [number, number][] = []
  for (let i = 0; i < positives; i++) {
    scored.push([cosine(unit, dim, pairs[2 * i], pairs[2 * i + 1]), 1])
  }
  for (let i = 0; i < 4 * positives; i++) {
    const a = random.int(words)
    let b = random.int(words)
    while (b === a && words > 1) b = random.int(words)
    scored.push([cosine(unit, dim, a, b), 0])
  }
  scored.sort((x, y) => x[0] - y[0])
  // Sum of the positives' ranks (1-based, ties share their mean rank).
  let rankSum = 0
  for (let i = 0; i < scored.length;) {
    let j = i
    while (j < scored.length && scored[j][0] === scored[i][0]) j++
    const mean = (i + 1 + j) / 2
    for (let t = i; t < j; t++) if (scored[t][1] === 1) rankSum += mean
    i = j
  }
  const negatives = 4 * positives
  if (positives === 0) return 0.5
  return (rankSum - positives * (positives + 1) / 2) / (positives * negatives)
}

/** The expected share of tokens that subsampling (keep with probability √(t / count)) keeps. */
export function keptShare(counts: Uint32Array, subsample: number): number {
  let total = 0
  for (const c of counts) total += c
  if (subsample <= 0 || total === 0) return 1
  const t = subsample * total
  let kept = 0
  for (const c of counts) kept += c * Math.min(1, Math.sqrt(t / Math.max(1, c)))
  return kept / total
}

/**
 * The tokens of the sentences starting in [from, to) that survive this
 * epoch's subsampling of worker `worker` (kept with probability
 * √(t / count), capped at 1, with t = subsample · corpus size: word2vec's
 * rule, roughly), and for each kept token the end of its sentence.
 */
export function subsampledTokens(
  data: { readonly corpus: Corpus; readonly counts: Uint32Array },
  options: {
    subsample: number
    seed: number
    epoch: number
    worker: number
    from: number
    to: number
  },
): { tokens: Uint32Array; ends: Uint32Array } {
  const { corpus, counts } = data
  const t = options.subsample * corpus.tokens.length
  const random = new Random(mix32(mix32(options.seed, options.epoch), options.worker))
  const tokens: number[] = []
  const ends: number[] = []
  const starts = corpus.sentenceStarts
  for (let s = 0; s < starts.length - 1; s++) {
    if (starts[s] < options.from || starts[s] >= options.to) continue
    const first = tokens.length
    for (let i = starts[s]; i < starts[s + 1]; i++) {
      const word = corpus.tokens[i]
      if (t > 0 && random.next() > Math.sqrt(t / counts[word])) continue
      tokens.push(word)
    }
    for (let i = first; i < tokens.length; i++) ends.push(tokens.length)
  }
  return { tokens: Uint32Array.from(tokens), ends: Uint32Array.from(ends) }
}
