/**
 * Seeded synthetic data with the access skew of real workloads, sized by the
 * caller, for tests and for scaling benchmarks up.
 *
 * The skew is what makes parameter management hard (a few hot keys that every
 * worker touches, a long tail of cold ones), so every generator draws its ids
 * from Zipf(1.1) popularity and then permutes them, so that hot ids are not
 * the small ones (which would put them all on the same node by `key mod
 * nodes`). Each plants a known structure the model can recover, so every
 * example has a synthetic quality gate:
 * - `syntheticRatings`: cells with Zipf rows and columns (duplicates
 *   rejected), values from planted rank-k factors plus N(0, noise²) noise.
 * - `syntheticGraph`: triples over Zipf-popular entities whose tails are the
 *   nearest entities to head + relation offset in a planted embedding space.
 * - `syntheticCorpus`: sentences from planted topics, words Zipf-frequent
 *   within their topic, so a word's neighbours should come from its topic.
 */
import { Random, zipfSampler } from "../lib/random.ts"
import type { Ratings } from "./ratings.ts"

const ZIPF_S = 1.1

export interface SyntheticRatingsOptions {
  readonly rows: number
  readonly cols: number
  /** Number of distinct cells to draw. */
  readonly nnz: number
  readonly rank?: number
  /** Standard deviation of the additive noise (0.1 by default). */
  readonly noise?: number
  readonly seed: number
}

/** Zipf-skewed ratings from planted rank-k factors (values have variance about 1). */
export function syntheticRatings(options: SyntheticRatingsOptions): Ratings {
  const { rows, cols, nnz, rank = 8, noise = 0.1, seed } = options
  for (const [name, n] of [["rows", rows], ["cols", cols], ["nnz", nnz]] as const) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`${name} must be a positive integer, got ${n}`)
    }
  }
  if (nnz > rows * cols / 2) {
    throw new RangeError(`nnz ${nnz} is more than half of the ${rows}x${cols} cells`)
  }
  const random = new Random(seed)
  // Factor entries with variance 1/sqrt(k) make a dot product of variance 1.
  const scale = Math.pow(rank, -0.25)
  const u = Float32Array.from({ length: rows * rank }, () => random.normal() * scale)
  const v = Float32Array.from({ length: cols * rank }, () => random.normal() * scale)
  const rowPerm = random.permutation(rows)
  const colPerm = random.permutation(cols)
  const drawRow = zipfSampler(rows, ZIPF_S, random)
  const drawCol = zipfSampler(cols, ZIPF_S, random)
  const seen = new Set<number>()
  const row = new Uint32Array(nnz)
  const col = new Uint32Array(nnz)
  const value = new Float32Array(nnz)
  const attemptsMax = 200 * nnz
  let attempts = 0
  for (let n = 0; n < nnz;) {
    if (++attempts > attemptsMax) {
      throw new RangeError(
        `could not draw ${nnz} distinct cells of ${rows}x${cols} under Zipf skew ` +
          `(got ${n}); lower nnz or enlarge the matrix`,
      )
    }
    const r = rowPerm[drawRow()]
    const c = colPerm[drawCol()]
    const cell = r * cols + c
    if (seen.has(cell)) continue
    seen.add(cell)
    let dot = 0
    for (let k = 0; k < rank; k++) dot += u[r * rank + k] * v[c * rank + k]
    row[n] = r
    col[n] = c
    value[n] = dot + noise * random.normal()
    n++
  }
  return { rows, cols, row, col, value }
}

/** A knowledge graph as three parallel id arrays. */
export interface Triples {
  readonly entities: number
  readonly relations: number
  readonly head: Uint32Array
  readonly relation: Uint32Array
  readonly tail: Uint32Array
}

export interface SyntheticGraphOptions {
  readonly entities: number
  readonly relations: number
  readonly triples: number
  readonly dim?: number
  readonly seed: number
}

/**
 * Triples (h, r, t) with Zipf-popular heads; t is the entity nearest to
 * e_h + w_r among a few Zipf-drawn candidates in a planted space, so the
 * relation is learnable and popular entities are popular tails as well.
 */
export function syntheticGraph(options: SyntheticGraphOptions): Triples {
  const { entities, relations, triples, dim = 8, seed } = options
  const random = new Random(seed)
  const e = Float32Array.from({ length: entities * dim }, () => random.normal())
  const w = Float32Array.from({ length: relations * dim }, () => random.normal())
  const perm = random.permutation(entities)
  const draw = zipfSampler(entities, ZIPF_S, random)
  const head = new Uint32Array(triples)
  const relation = new Uint32Array(triples)
  const tail = new Uint32Array(triples)
  const candidates = 16
  for (let n = 0; n < triples; n++) {
    const h = perm[draw()]
    const r = random.int(relations)
    let best = -1
    let bestDistance = Infinity
    for (let c = 0; c < candidates; c++) {
      const t = perm[draw()]
      if (t === h) continue
      let d = 0
      for (let k = 0; k < dim; k++) {
        const x = e[h * dim + k] + w[r * dim + k] - e[t * dim + k]
        d += x * x
      }
      if (d < bestDistance) bestDistance = d, best = t
    }
    head[n] = h
    relation[n] = r
    tail[n] = best < 0 ? (h + 1) % entities : best
  }
  return { entities, relations, head, relation, tail }
}

/**
 * Distinct triples packed as (head, relation, tail) triplets and split
 * (train, valid, rest) by `shares`, seeded; valid and test triples with an
 * entity unseen in training are dropped, as in WN18RR.
 */
export function splitGraph(
  g: Triples,
  options: { seed: number; shares: readonly [number, number] },
): { train: Uint32Array; valid: Uint32Array; test: Uint32Array; count: number } {
  const seen = new Set<number>()
  const all: number[] = []
  for (let n = 0; n < g.head.length; n++) {
    const id = (g.head[n] * g.relations + g.relation[n]) * g.entities + g.tail[n]
    if (!seen.has(id)) seen.add(id), all.push(g.head[n], g.relation[n], g.tail[n])
  }
  const count = all.length / 3
  const order = new Random(options.seed).permutation(count)
  const pick = (from: number, to: number) => {
    const out = new Uint32Array((to - from) * 3)
    for (let i = from; i < to; i++) {
      for (let j = 0; j < 3; j++) out[3 * (i - from) + j] = all[3 * order[i] + j]
    }
    return out
  }
  const a = Math.round(count * options.shares[0])
  const b = a + Math.round(count * options.shares[1])
  const train = pick(0, a)
  const known = new Uint8Array(g.entities)
  for (let i = 0; i < train.length; i += 3) known[train[i]] = known[train[i + 2]] = 1
  const keep = (split: Uint32Array) => {
    const out: number[] = []
    for (let i = 0; i < split.length; i += 3) {
      if (known[split[i]] && known[split[i + 2]]) out.push(split[i], split[i + 1], split[i + 2])
    }
    return Uint32Array.from(out)
  }
  return { train, valid: keep(pick(a, b)), test: keep(pick(b, count)), count }
}

/** A corpus as one token-id array with sentence boundaries. */
export interface Corpus {
  /** The word of each id. */
  readonly vocabulary: readonly string[]
  readonly tokens: Uint32Array
  /** Start offset of each sentence in `tokens`, plus the end. */
  readonly sentenceStarts: Uint32Array
}

export interface SyntheticCorpusOptions {
  readonly topics: number
  readonly wordsPerTopic: number
  readonly sentences: number
  readonly sentenceLength?: number
  readonly seed: number
}

/**
 * Sentences each drawn from one topic; a topic's words are Zipf-frequent.
 * Word `t * wordsPerTopic + i` belongs to topic t (`topicOf` recovers it);
 * the names are `t<topic>w<i>`.
 */
export function syntheticCorpus(
  options: SyntheticCorpusOptions,
): Corpus & { topicOf(word: number): number } {
  const { topics, wordsPerTopic, sentences, sentenceLength = 12, seed } = options
  const random = new Random(seed)
  const drawWord = zipfSampler(wordsPerTopic, ZIPF_S, random)
  const drawTopic = zipfSampler(topics, ZIPF_S, random)
  const vocabulary: string[] = []
  for (let t = 0; t < topics; t++) {
    for (let i = 0; i < wordsPerTopic; i++) vocabulary.push(`t${t}w${i}`)
  }
  const tokens = new Uint32Array(sentences * sentenceLength)
  const sentenceStarts = new Uint32Array(sentences + 1)
  for (let s = 0; s < sentences; s++) {
    const topic = drawTopic()
    sentenceStarts[s] = s * sentenceLength
    for (let i = 0; i < sentenceLength; i++) {
      tokens[s * sentenceLength + i] = topic * wordsPerTopic + drawWord()
    }
  }
  sentenceStarts[sentences] = tokens.length
  return { vocabulary, tokens, sentenceStarts, topicOf: (word) => Math.floor(word / wordsPerTopic) }
}
