/**
 * The arithmetic of knowledge-graph embeddings: ComplEx and DistMult scores,
 * their gradients, the AdaGrad step, and filtered ranking metrics.
 *
 * An embedding is `dim` floats; a roam value is the embedding followed by
 * its AdaGrad sums of squared gradients (`2 · dim` floats), so the optimizer
 * state moves with the key and an update is one additive push: the step
 * `−rate · g / √(G + g²)` on the embedding and `g²` on the sums. Both models
 * score a query (head, relation) against a tail as `⟨q, t⟩` with a query
 * vector `q` built from head and relation: DistMult `q = h ⊙ r`; ComplEx
 * (first half of the floats real parts, second half imaginary) `q = h · r`
 * as complex numbers, so that `⟨q, t⟩ = Re(Σ h r conj(t))`. With reciprocal
 * relations (relation `r + R` predicts heads) every query predicts a tail.
 * Everything works on typed arrays at offsets; nothing allocates per key.
 */

export type KgeModel = "complex" | "distmult"

export interface KgeHyper {
  readonly model: KgeModel
  /** Floats per embedding (even for ComplEx: dim/2 complex numbers). */
  readonly dim: number
  readonly rate: number
  /** L2 weight on the embeddings used in a step. */
  readonly lambda: number
  readonly negatives: number
  readonly seed: number
}

const EPSILON = 1e-10

/** q = query vector of head `h[ha..]` and relation `r[ra..]`, into `q[0, dim)`. */
export function queryOf(
  hyper: KgeHyper,
  h: Float32Array,
  ha: number,
  r: Float32Array,
  ra: number,
  q: Float32Array,
): void {
  const dim = hyper.dim
  if (hyper.model === "distmult") {
    for (let k = 0; k < dim; k++) q[k] = h[ha + k] * r[ra + k]
    return
  }
  const half = dim >> 1
  for (let k = 0; k < half; k++) {
    const hr = h[ha + k], hi = h[ha + half + k], rr = r[ra + k], ri = r[ra + half + k]
    q[k] = hr * rr - hi * ri
    q[half + k] = hr * ri + hi * rr
  }
}

/** Back through `queryOf`: gradients of head and relation from `gq`, into `gh`, `gr`. */
export function backQuery(
  hyper: KgeHyper,
  values: Float32Array,
  at: { h: number; r: number },
  gq: Float32Array,
  out: { gh: Float32Array; gr: Float32Array },
): void {
  const { dim } = hyper
  const { h, r } = at
  const { gh, gr } = out
  if (hyper.model === "distmult") {
    for (let k = 0; k < dim; k++) {
      gh[k] = gq[k] * values[r + k]
      gr[k] = gq[k] * values[h + k]
    }
    return
  }
  const half = dim >> 1
  for (let k = 0; k < half; k++) {
    const gRe = gq[k], gIm = gq[half + k]
    const hr = values[h + k], hi = values[h + half + k]
    const rr = values[r + k], ri = values[r + half + k]
    gh[k] = gRe * rr + gIm * ri
    gh[half + k] = -gRe * ri + gIm * rr
    gr[k] = gRe * hr + gIm * hi
    gr[half + k] = -gRe * hi + gIm * hr
  }
}

/**
 * The AdaGrad push of one key: from its value at `values[at..]` (embedding,
 * sums) and gradient `g[ga..]` (plus `lambda` times the embedding), write the
 * delta (step, squared gradient) to `out[oa..]`.
 */
export function adagradDelta(
  hyper: KgeHyper,
  values: Float32Array,
  at: number,
  g: Float32Array,
  ga: number,
  out: Float32Array,
  oa: number,
): void {
  const { dim, rate, lambda } = hyper
  for (let k = 0; k < dim; k++) {
    const grad = g[ga + k] + lambda * values[at + k]
    const g2 = grad * grad
    out[oa + k] = -rate * grad / Math.sqrt(values[at + dim + k] + g2 + EPSILON)
    out[oa + dim + k] = g2
  }
}

/**
 * One query against its target and the shared negatives, by sampled softmax
 * cross-entropy. `values` holds [head, relation, target] values; `negatives`
 * the N negatives' values. Accumulates the negatives' gradients into
 * `negGrad` (N · dim), writes the three deltas to `deltas`, returns the loss.
 */
export function softmaxStep(
  hyper: KgeHyper,
  values: Float32Array,
  negatives: { values: Float32Array; grad: Float32Array; count: number },
  scratch: {
    q: Float32Array
    gq: Float32Array
    gh: Float32Array
    gr: Float32Array
    p: Float64Array
  },
  deltas: Float32Array,
): number {
  const { dim } = hyper
  const len = 2 * dim
  const { q, gq, gh, gr, p } = scratch
  const nv = negatives.values
  const n = negatives.count
  queryOf(hyper, values, 0, values, len, q)
  const t = 2 * len
  let target = 0
  for (let k = 0; k < dim; k++) target += q[k] * values[t + k]
  let max = target
  for (let j = 0; j < n; j++) {
    let s = 0
    for (let k = 0; k < dim; k++) s += q[k] * nv[j * len + k]
    p[j] = s
    if (s > max) max = s
  }
  let z = Math.exp(target - max)
  for (let j = 0; j < n; j++) z += p[j] = Math.exp(p[j] - max)
  const pt = Math.exp(target - max) / z
  // gq = (pt − 1) t + Σ p_j n_j; the target's gradient (pt − 1) q goes in gh for now.
  for (let k = 0; k < dim; k++) gq[k] = (pt - 1) * values[t + k]
  for (let j = 0; j < n; j++) {
    const pj = p[j] / z
    const g = negatives.grad
    for (let k = 0; k < dim; k++) {
      gq[k] += pj * nv[j * len + k]
      g[j * dim + k] += pj * q[k]
    }
  }
  for (let k = 0; k < dim; k++) gh[k] = (pt - 1) * q[k]
  adagradDelta(hyper, values, t, gh, 0, deltas, t)
  backQuery(hyper, values, { h: 0, r: len }, gq, { gh, gr })
  adagradDelta(hyper, values, 0, gh, 0, deltas, 0)
  adagradDelta(hyper, values, len, gr, 0, deltas, len)
  return -Math.log(Math.max(pt, 1e-30))
}

/** True answers of every (entity, relation) query, both directions, for filtered ranking. */
export function answerFilter(
  relations: number,
  splits: readonly Uint32Array[],
): Map<number, Uint32Array> {
  const lists = new Map<number, number[]>()
  const add = (e: number, r: number, answer: number) => {
    const key = e * 2 * relations + r
    const list = lists.get(key)
    if (list === undefined) lists.set(key, [answer])
    else list.push(answer)
  }
  for (const split of splits) {
    for (let i = 0; i < split.length; i += 3) {
      add(split[i], split[i + 1], split[i + 2])
      add(split[i + 2], split[i + 1] + relations, split[i])
    }
  }
  return new Map([...lists].map(([k, v]) => [k, Uint32Array.from(v)]))
}

/**
 * The MRR that random scores get over `entities` candidates: the rank is
 * uniform on 1..n, so E[1/rank] = H(n) / n, about ln(n) / n (filtering
 * removes a few candidates, which hardly changes it). The baseline a
 * trained model's MRR is judged against.
 */
export function randomMrr(entities: number): number {
  let harmonic = 0
  for (let k = 1; k <= entities; k++) harmonic += 1 / k
  return harmonic / Math.max(1, entities)
}

/**
 * Filtered MRR and Hits@1/10 of `test` triples in both directions (tail
 * queries, then head queries through the reciprocal relation), from the
 * entity and relation values (`2 · dim` floats each, AdaGrad sums ignored).
 */
export function rankMetrics(
  hyper: KgeHyper,
  model: { entities: Float32Array; relations: Float32Array; relationCount: number },
  test: Uint32Array,
  filter: Map<number, Uint32Array>,
): { mrr: number; hits1: number; hits10: number } {
  const { dim } = hyper
  const len = 2 * dim
  const { entities, relations, relationCount: R } = model
  const count = entities.length / len
  const q = new Float32Array(dim)
  const scores = new Float32Array(count)
  let mrr = 0, hits1 = 0, hits10 = 0, queries = 0
  for (let i = 0; i < test.length; i += 3) {
    for (let dir = 0; dir < 2; dir++) {
      const e = dir === 0 ? test[i] : test[i + 2]
      const r = dir === 0 ? test[i + 1] : test[i + 1] + R
      const answer = dir === 0 ? test[i + 2] : test[i]
      queryOf(hyper, entities, e * len, relations, r * len, q)
      for (let c = 0; c < count; c++) {
        let s = 0
        for (let k = 0; k < dim; k++) s += q[k] * entities[c * len + k]
        scores[c] = s
      }
      const target = scores[answer]
      for (const other of filter.get(e * 2 * R + r) ?? []) scores[other] = -Infinity
      let rank = 1
      for (let c = 0; c < count; c++) if (scores[c] > target) rank++
      mrr += 1 / rank
      if (rank <= 1) hits1++
      if (rank <= 10) hits10++
      queries++
    }
  }
  const n = Math.max(1, queries)
  return { mrr: mrr / n, hits1: hits1 / n, hits10: hits10 / n }
}
