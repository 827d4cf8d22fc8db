/**
 * Word vectors by skip-gram with negative sampling on a roam cluster.
 *
 * Words are keys of two tables: `word` (the input vectors, which are the
 * result) and `context` (the output vectors), `--dim` floats each. The
 * context table samples keys by unigram count^0.75, word2vec's noise
 * distribution, so negatives come straight from `prepareSample`. Sentences
 * are split across workers in contiguous runs of about equal token counts;
 * each epoch a worker drops frequent tokens (word2vec's subsampling, seeded)
 * and walks its tokens in mini-batches of `--batch` centre words, advancing
 * its clock once per mini-batch (and giving its node a turn of the event
 * loop when one is due: `yieldIfDue`). Its data loader signals the keys of the
 * mini-batch `INTENT_LOOKAHEAD_CLOCKS` ahead (centres and the words around
 * them) and prepares its negatives (K per centre) then. The step size decays
 * linearly to zero over training. After each epoch: the WordNet synonym AUC
 * on an English corpus (`--corpus`: Brown, GCIDE, Austen or all three, see
 * data/corpora.ts), or the topic-neighbour share on a synthetic corpus.
 *
 *   deno run -A examples/word2vec.ts --synthetic 20,100,20000 [--nodes 2] [--epochs 5]
 *   deno run -A examples/word2vec.ts --brown --epochs 3 --json out.json
 *   deno run -A examples/word2vec.ts --corpus combined --epochs 2 [--data-dir DIR]
 */
import { Cluster, type SampleHandle, type Worker } from "../mod.ts"
import { corpusName, readCorpusSentences } from "./data/corpora.ts"
import { buildCorpus, synonymPairs } from "./data/corpus.ts"
import { DEBIAN_DATA_ENV } from "./data/debian.ts"
import { type Corpus, syntheticCorpus } from "./data/synthetic.ts"
import { readWordNet } from "./data/wordnet.ts"
import {
  type CommonFlags,
  intFlag,
  intListFlag,
  numberFlag,
  parseFlags,
  policyOption,
  runMain,
} from "./lib/flags.ts"
import { INTENT_LOOKAHEAD_CLOCKS, LookaheadClock, signalIntent } from "./lib/intent.ts"
import { makeProgress, type Progress } from "./lib/progress.ts"
import { trainW2vPlain, type W2vPlainOptions } from "./lib/w2v_plain.ts"
import { hashUnit, mix32, Random } from "./lib/random.ts"
import {
  endEpoch,
  type EpochRecord,
  finishRun,
  PLAIN_PLACE,
  type RunSummary,
  startRun,
  summarize,
  type Trained,
} from "./lib/report.ts"
import { keptShare, sgnsStep, subsampledTokens, synonymAuc, topicShare } from "./lib/w2v_model.ts"

const USAGE = `usage: word2vec.ts (--corpus brown|gcide|austen|combined | --brown
    | --synthetic topics,wordsPerTopic,sentences)
  [--data-dir DIR (where dict-gcide and r-cran-janeaustenr were unpacked; or $${DEBIAN_DATA_ENV})]
  [--dim 100] [--window 5] [--negatives 5] [--rate 0.025] [--subsample 0.001] [--min-count 5]
  [--batch 256] [--plain] [--nodes 2] [--workers 1] [--policy adaptive|static|lapse|nups|...]
  [--epochs 10] [--seed 1] [--json out.json] [--quiet]`

const OWN = {
  brown: { type: "boolean", default: false },
  corpus: { type: "string" },
  "data-dir": { type: "string" },
  synthetic: { type: "string" },
  dim: { type: "string", default: "100" },
  window: { type: "string", default: "5" },
  negatives: { type: "string", default: "5" },
  rate: { type: "string", default: "0.025" },
  subsample: { type: "string", default: "0.001" },
  "min-count": { type: "string", default: "5" },
  batch: { type: "string", default: "256" },
  plain: { type: "boolean", default: false },
} as const

/** A corpus with word counts and how to evaluate vectors trained on it. */
export interface W2vData {
  readonly corpus: Corpus
  readonly counts: Uint32Array
  readonly source: string
  /** The quality name and its computation from the word table. */
  readonly metric: "auc" | "topicShare"
  evaluate(vectors: Float32Array, dim: number): number
}

/** Load the corpus the flags name: exactly one of --corpus, --brown (`--corpus brown`), --synthetic. */
export function loadCorpus(own: Record<string, unknown>, seed: number): W2vData {
  const given = [own.synthetic !== undefined, own.brown === true, own.corpus !== undefined]
  if (given.filter(Boolean).length !== 1) {
    throw new RangeError(`give exactly one data source\n${USAGE}`)
  }
  const minCount = intFlag(own, "min-count", 1)
  if (own.synthetic === undefined) {
    const name = own.brown === true ? "brown" : corpusName(String(own.corpus))
    const dataDir = own["data-dir"] as string | undefined
    const corpus = buildCorpus(readCorpusSentences(name, { dataDir }), minCount)
    const ids = new Map(corpus.vocabulary.map((w, i) => [w, i]))
    const pairs = synonymPairs(readWordNet(), new Set(corpus.vocabulary))
    const packed = Uint32Array.from(pairs.flatMap(([a, b]) => [ids.get(a)!, ids.get(b)!]))
    return {
      corpus,
      counts: corpus.counts,
      source:
        `${name} corpus (${corpus.tokens.length} tokens, ${corpus.vocabulary.length} words, ` +
        `${pairs.length} synonym pairs)`,
      metric: "auc",
      evaluate: (vectors, dim) => synonymAuc(vectors, dim, { pairs: packed, seed }),
    }
  }
  const [topics, wordsPerTopic, sentences] = intListFlag(own, "synthetic", 3)
  const corpus = syntheticCorpus({ topics, wordsPerTopic, sentences, seed })
  const counts = new Uint32Array(corpus.vocabulary.length)
  for (const t of corpus.tokens) counts[t]++
  // Words seen fewer than min-count times cannot have learned vectors: leave them out.
  const eligible = Uint32Array.from(
    [...counts].flatMap((c, w) => (c >= minCount ? [w] : [])),
  )
  return {
    corpus,
    counts,
    source: `synthetic ${topics} topics x ${wordsPerTopic} words, ${sentences} sentences`,
    metric: "topicShare",
    evaluate: (vectors, dim) =>
      topicShare(vectors, dim, { eligible, topicOf: corpus.topicOf, queries: 300, seed }),
  }
}

/** The plain twin's options, less what the common flags carry. */
export interface W2vOptions extends Omit<W2vPlainOptions, "epochs" | "seed"> {
  readonly common: CommonFlags
}

interface Task {
  readonly worker: Worker
  readonly index: number
  /** The worker's sentences: token range [from, to) of the corpus. */
  readonly from: number
  readonly to: number
  readonly keys: Uint32Array
  readonly values: Float32Array
  readonly deltas: Float32Array
  readonly negKeys: Uint32Array
  readonly negValues: Float32Array
  readonly negDeltas: Float32Array
  readonly lookahead: Uint32Array
  readonly handles: (SampleHandle | undefined)[]
  /** Tokens processed so far, for the step-size schedule. */
  done: number
}

interface Run {
  readonly data: W2vData
  readonly options: W2vOptions
  readonly wordStart: number
  readonly contextStart: number
  /** Tokens every worker will process in all (the schedule's horizon). */
  readonly horizon: number
  readonly progress: Progress
  done: number
}

/** INTENT: the keys of mini-batch `batch` (run at `clock`), and its negatives prepared. */
function signalBatch(
  run: Run,
  task: Task,
  tokens: Uint32Array,
  at: { batch: number; clock: number },
) {
  const { batch: size, window, negatives } = run.options
  const from = at.batch * size
  const to = Math.min(tokens.length, from + size)
  if (from >= to) return
  const keys = task.lookahead
  let n = 0
  for (let i = from; i < to; i++) keys[n++] = run.wordStart + tokens[i]
  const lo = Math.max(0, from - window)
  const hi = Math.min(tokens.length, to + window)
  for (let i = lo; i < hi; i++) keys[n++] = run.contextStart + tokens[i]
  signalIntent(task.worker, {
    keys: keys.subarray(0, n),
    start: at.clock,
    end: at.clock + 1,
    policy: run.options.common.policy,
  })
  task.handles[at.batch % task.handles.length] = task.worker.prepareSample(
    negatives * (to - from),
    { table: "context", start: at.clock, end: at.clock + 1 },
  )
}

/** One epoch of one worker; returns its summed loss and token count. */
async function runEpoch(run: Run, task: Task, epoch: number): Promise<[number, number]> {
  const { batch: size, window, negatives, dim, rate } = run.options
  const { worker, keys, values, deltas, negKeys, negValues, negDeltas } = task
  const { tokens, ends } = subsampledTokens(run.data, {
    subsample: run.options.subsample,
    seed: run.options.common.seed,
    epoch,
    worker: task.index,
    from: task.from,
    to: task.to,
  })
  const random = new Random(mix32(mix32(run.options.common.seed + 1, epoch), task.index))
  const batches = Math.ceil(tokens.length / size)
  const negs = { values: negValues, deltas: negDeltas, at: 0, count: negatives }
  const clock = new LookaheadClock(worker, (batch, at) => {
    signalBatch(run, task, tokens, { batch, clock: at })
  })
  clock.prime()
  let loss = 0
  let sentenceStart = 0
  for (let b = 0; b < batches; b++) {
    const turn = clock.advance(b)
    if (turn !== undefined) await turn
    const handle = task.handles[b % task.handles.length]!
    let m = worker.tryPullSample(handle, negKeys, negValues)
    if (m < 0) m = await worker.pullSample(handle, negKeys, negValues)
    negDeltas.fill(0)
    const end = Math.min(tokens.length, (b + 1) * size)
    // Linear decay over the whole run, floored as word2vec does.
    const step = rate * Math.max(1e-4, 1 - task.done / run.horizon)
    for (let i = b * size; i < end; i++) {
      if (i > 0 && ends[i - 1] !== ends[i]) sentenceStart = i
      const reach = 1 + random.int(window)
      const lo = Math.max(sentenceStart, i - reach)
      const hi = Math.min(ends[i], i + reach + 1)
      keys[0] = run.wordStart + tokens[i]
      let n = 1
      for (let j = lo; j < hi; j++) if (j !== i) keys[n++] = run.contextStart + tokens[j]
      if (n === 1) continue
      const k = keys.subarray(0, n)
      const v = values.subarray(0, n * dim)
      if (!worker.tryPull(k, v)) await worker.pull(k, v)
      negs.at = (i - b * size) * negatives * dim
      loss += sgnsStep(dim, step, v, n - 1, negs, deltas)
      worker.push(k, deltas.subarray(0, n * dim))
    }
    const used = m === negKeys.length ? negKeys : negKeys.subarray(0, m)
    worker.push(used, negDeltas.subarray(0, m * dim))
    task.done += end - b * size
    run.progress.tick(run.done += end - b * size)
  }
  return [loss, tokens.length]
}

/** Workers on every local node, each with a contiguous run of sentences and its buffers. */
function makeTasks(run: Run, cluster: Cluster, workersPerNode: number): Task[] {
  const workers = cluster.localNodes.flatMap((node) =>
    Array.from({ length: workersPerNode }, (_, w) => ({
      worker: node.worker(),
      index: node.id * workersPerNode + w,
    }))
  )
  const { dim, batch, window, negatives } = run.options
  const starts = run.data.corpus.sentenceStarts
  const total = run.data.corpus.tokens.length
  // Cut at the sentence start nearest to each equal share of tokens, one share
  // per worker of the cluster (index global: node id, then worker), so that
  // the processes of a multi-process cluster share the corpus.
  const shares = cluster.nodes * workersPerNode
  const cuts = [0]
  let s = 0
  for (let w = 1; w < shares; w++) {
    while (s < starts.length - 1 && starts[s] < (total * w) / shares) s++
    cuts.push(starts[s])
  }
  cuts.push(total)
  const width = 2 * window + 1
  return workers.map(({ worker, index }) => ({
    worker,
    index,
    from: cuts[index],
    to: cuts[index + 1],
    keys: new Uint32Array(width),
    values: new Float32Array(width * dim),
    deltas: new Float32Array(width * dim),
    negKeys: new Uint32Array(negatives * batch),
    negValues: new Float32Array(negatives * batch * dim),
    negDeltas: new Float32Array(negatives * batch * dim),
    lookahead: new Uint32Array(2 * batch + 2 * window),
    handles: new Array<SampleHandle | undefined>(INTENT_LOOKAHEAD_CLOCKS + 1),
    done: 0,
  }))
}

/** Train on a fresh cluster; one record per epoch (quality: the metric and trainLoss). */
export async function trainW2v(data: W2vData, options: W2vOptions): Promise<Trained> {
  const { common, dim } = options
  const words = data.corpus.vocabulary.length
  const cluster = await Cluster.start({
    nodes: common.nodes,
    policy: policyOption(common.policy, 2 * words),
    seed: common.seed,
    tables: [
      {
        name: "word",
        keys: words,
        length: dim,
        // word2vec's start: uniform in [−0.5/dim, 0.5/dim), fixed by (seed, key).
        init: (key, v) => {
          for (let k = 0; k < dim; k++) v[k] = hashUnit(common.seed, key, k) / dim
        },
      },
      {
        name: "context",
        keys: words,
        length: dim,
        sampling: { weights: Float64Array.from(data.counts, (c) => Math.pow(c, 0.75)) },
      },
    ],
  })
  try {
    const place = startRun(cluster, common)
    const tokens = data.corpus.tokens.length
    const run: Run = {
      data,
      options,
      wordStart: cluster.table("word").start,
      contextStart: cluster.table("context").start,
      // Subsampling keeps an unknown share; the expected share is close enough for a schedule.
      horizon: common.epochs * keptShare(data.counts, options.subsample) * tokens /
        (cluster.nodes * common.workers),
      progress: makeProgress({
        quiet: common.quiet,
        epochs: common.epochs,
        localShare: () => cluster.stats().localShare,
      }),
      done: 0,
    }
    const tasks = makeTasks(run, cluster, common.workers)
    const records: EpochRecord[] = []
    const mine = tasks.reduce((sum, task) => sum + task.to - task.from, 0)
    for (let epoch = 1; epoch <= common.epochs; epoch++) {
      run.done = 0
      run.progress.begin(epoch, Math.round(keptShare(data.counts, options.subsample) * mine))
      const before = cluster.stats()
      const started = performance.now()
      const results = await Promise.all(tasks.map((task) => runEpoch(run, task, epoch)))
      const workers = tasks.map((task) => task.worker)
      const { seconds, phase } = await endEpoch(cluster, workers, before, started)
      const points = results.reduce((a, r) => a + r[1], 0)
      const trainLoss = results.reduce((a, r) => a + r[0], 0) / Math.max(1, points)
      const keys = Uint32Array.from({ length: words }, (_, i) => run.wordStart + i)
      const vectors = await tasks[0].worker.pull(keys, new Float32Array(words * dim))
      const quality = data.evaluate(vectors, dim)
      records.push({
        epoch,
        seconds,
        dataPoints: points,
        quality: { [data.metric]: quality, trainLoss },
        ...phase,
      })
      run.progress.end(
        `epoch ${epoch}: loss ${trainLoss.toFixed(4)}  ${data.metric} ${quality.toFixed(4)}  ` +
          `local ${(phase.localShare * 100).toFixed(1)}%  ${seconds.toFixed(2)} s`,
      )
    }
    // Meet once more before closing: under the launcher a node that closed
    // while another still pulled its keys for evaluation failed that pull (PeerLost).
    await Promise.all(tasks.map((task) => task.worker.barrier()))
    return { epochs: records, place }
  } finally {
    await cluster.close()
  }
}

/** Run the example with command-line `args`; returns what `--json` writes. */
export async function main(args: readonly string[]): Promise<RunSummary | undefined> {
  const { common, own, help } = parseFlags(args, OWN, USAGE)
  if (help) {
    console.log(USAGE)
    return undefined
  }
  const options: W2vOptions = {
    common,
    dim: intFlag(own, "dim", 1),
    window: intFlag(own, "window", 1),
    negatives: intFlag(own, "negatives", 1),
    rate: numberFlag(own, "rate", 0),
    subsample: numberFlag(own, "subsample", 0),
    batch: intFlag(own, "batch", 1),
  }
  const data = loadCorpus(own, common.seed)
  if (!common.quiet) {
    console.log(
      `roam word2vec: ${data.source}; dim ${options.dim}, window ${options.window}, ` +
        `${options.negatives} negatives`,
    )
  }
  // --plain: the same training with no parameter manager (the ceiling).
  const plain = own.plain === true
  const { epochs, place } = plain
    ? {
      epochs: trainW2vPlain(data, { ...options, epochs: common.epochs, seed: common.seed }),
      place: PLAIN_PLACE,
    }
    : await trainW2v(data, options)
  const { common: _, ...hyper } = options
  const settings = { ...common, nodes: place.nodes, ...hyper, source: data.source, plain }
  const summary = summarize("word2vec", settings, epochs)
  return finishRun(summary, common, place)
}

if (import.meta.main) await runMain(main)
