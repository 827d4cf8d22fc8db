/**
 * Knowledge-graph embeddings (ComplEx or DistMult) on a roam cluster.
 *
 * Entities and relations are keys of two tables (`entity`, `relation`); a
 * value is an embedding and its AdaGrad sums (examples/lib/kge_model.ts).
 * Relations are reciprocal: relation `r + R` is "r, from the tail", so every
 * triple (h, r, t) trains two tail queries, (h, r) → t and (t, r + R) → h.
 * Training triples are split across workers; each runs mini-batches in a
 * seeded order, advancing its clock once per mini-batch (and giving its
 * node a turn of the event loop when one is due: `yieldIfDue`). Its data loader
 * signals the keys of the mini-batch `INTENT_LOOKAHEAD_CLOCKS` ahead and
 * prepares that mini-batch's negatives through the sampling API
 * (`prepareSample` on the entity table, uniform), so that roam can place both
 * before they are used. A step scores each query against its target and the
 * mini-batch's shared negatives (sampled softmax), pushes the head, relation
 * and target updates at once and the negatives' summed update at the end of
 * the mini-batch. After each epoch the workers meet at a barrier and filtered
 * MRR and Hits@1/10 (both directions) are computed on `--eval` test triples.
 *
 *   deno run -A examples/kge.ts --synthetic 2000,8,30000 [--nodes 2] [--epochs 10]
 *   deno run -A examples/kge.ts --wordnet --dim 128 --epochs 5 --json out.json
 */
import { Cluster, type SampleHandle, type Worker } from "../mod.ts"
import { splitGraph, syntheticGraph } from "./data/synthetic.ts"
import { readWordNet, wn18rrLike } from "./data/wordnet.ts"
import {
  choiceFlag,
  intFlag,
  intListFlag,
  numberFlag,
  parseFlags,
  policyOption,
  runMain,
} from "./lib/flags.ts"
import { INTENT_LOOKAHEAD_CLOCKS, LookaheadClock, signalIntent } from "./lib/intent.ts"
import {
  adagradDelta,
  answerFilter,
  type KgeHyper,
  type KgeModel,
  randomMrr,
  rankMetrics,
  softmaxStep,
} from "./lib/kge_model.ts"
import { trainKgePlain } from "./lib/kge_plain.ts"
import { epochOrder } from "./lib/mf_plain.ts"
import { makeProgress, type Progress } from "./lib/progress.ts"
import { hashUnit } from "./lib/random.ts"
import {
  endEpoch,
  type EpochRecord,
  finishRun,
  PLAIN_PLACE,
  startRun,
  summarize,
  type Trained,
} from "./lib/report.ts"
import type { CommonFlags } from "./lib/flags.ts"
import type { RunSummary } from "./lib/report.ts"

const USAGE = `usage: kge.ts (--synthetic entities,relations,triples | --wordnet)
  [--model complex|distmult] [--dim 64] [--rate 0.1] [--init 0.1] [--lambda 0.0001]
  [--negatives 256] [--batch 128] [--eval 500] [--sampling conventional|reuse|local|postpone]
  [--plain]
  [--nodes 2] [--workers 1] [--policy adaptive|static|lapse|nups|...] [--epochs 10] [--seed 1]
  [--json out.json] [--quiet]`

const OWN = {
  synthetic: { type: "string" },
  wordnet: { type: "boolean", default: false },
  model: { type: "string", default: "complex" },
  dim: { type: "string", default: "64" },
  rate: { type: "string", default: "0.1" },
  init: { type: "string", default: "0.1" },
  lambda: { type: "string", default: "0.0001" },
  negatives: { type: "string", default: "256" },
  batch: { type: "string", default: "128" },
  eval: { type: "string", default: "500" },
  sampling: { type: "string", default: "conventional" },
  plain: { type: "boolean", default: false },
} as const

/** A knowledge graph split into packed (head, relation, tail) triplets. */
export interface KgeData {
  readonly entities: number
  readonly relations: number
  readonly train: Uint32Array
  readonly valid: Uint32Array
  readonly test: Uint32Array
  readonly source: string
}

/** Load the data the flags name: exactly one of --synthetic, --wordnet. */
export function loadGraph(own: Record<string, unknown>, seed: number): KgeData {
  if ((own.synthetic !== undefined) === (own.wordnet === true)) {
    throw new RangeError(`give exactly one data source\n${USAGE}`)
  }
  if (own.wordnet === true) {
    const kg = wn18rrLike(readWordNet(), { seed })
    const { entityNames, relationNames, train, valid, test } = kg
    const source = `WN18RR-like WordNet (${entityNames.length} entities)`
    return {
      entities: entityNames.length,
      relations: relationNames.length,
      train,
      valid,
      test,
      source,
    }
  }
  const [entities, relations, triples] = intListFlag(own, "synthetic", 3)
  const g = syntheticGraph({ entities, relations, triples, seed })
  const { train, valid, test, count } = splitGraph(g, { seed: seed + 1, shares: [0.9, 0.05] })
  const repeats = triples - count
  const source = `synthetic ${entities} entities, ${relations} relations, ${count} distinct ` +
    `triples${repeats > 0 ? ` (of ${triples} drawn)` : ""}`
  if (test.length === 0) {
    throw new RangeError(
      `--synthetic ${own.synthetic}: no test triples left to evaluate on (${count} distinct ` +
        `triples); draw more triples`,
    )
  }
  return { entities, relations, train, valid, test, source }
}

export interface KgeOptions {
  readonly common: CommonFlags
  readonly hyper: KgeHyper
  readonly init: number
  readonly batch: number
  readonly evalTriples: number
  readonly sampling: "conventional" | "reuse" | "local" | "postpone"
}

interface Task {
  readonly worker: Worker
  readonly index: number
  readonly points: Uint32Array
  readonly keys: Uint32Array
  readonly values: Float32Array
  readonly deltas: Float32Array
  readonly negKeys: Uint32Array
  readonly negValues: Float32Array
  readonly negGrad: Float32Array
  readonly negDeltas: Float32Array
  readonly scratch: Parameters<typeof softmaxStep>[3]
  readonly lookahead: Uint32Array
  readonly handles: (SampleHandle | undefined)[]
}

interface Run {
  readonly data: KgeData
  readonly options: KgeOptions
  readonly entityStart: number
  readonly relationStart: number
  readonly progress: Progress
  done: number
}

/** INTENT: the keys of mini-batch `batch` (run at `clock`), and its negatives prepared. */
function signalBatch(
  run: Run,
  task: Task,
  order: Uint32Array,
  at: { batch: number; clock: number },
) {
  const { batch: size } = run.options
  const from = at.batch * size
  const to = Math.min(order.length, from + size)
  if (from >= to) return
  const { train, relations } = run.data
  const keys = task.lookahead
  for (let i = from; i < to; i++) {
    const n = 3 * order[i]
    const o = 4 * (i - from)
    keys[o] = run.entityStart + train[n]
    keys[o + 1] = run.relationStart + train[n + 1]
    keys[o + 2] = run.relationStart + train[n + 1] + relations
    keys[o + 3] = run.entityStart + train[n + 2]
  }
  const signal = { keys: keys.subarray(0, 4 * (to - from)), policy: run.options.common.policy }
  signalIntent(task.worker, { ...signal, start: at.clock, end: at.clock + 1 })
  task.handles[at.batch % task.handles.length] = task.worker.prepareSample(
    run.options.hyper.negatives,
    { table: "entity", start: at.clock, end: at.clock + 1, scheme: run.options.sampling },
  )
}

/** One epoch of one worker; returns the summed loss over its queries. */
async function runEpoch(run: Run, task: Task, epoch: number): Promise<number> {
  const { hyper, batch: size } = run.options
  const { train, relations } = run.data
  const { worker, keys, values, deltas, negKeys, negValues, negGrad, negDeltas } = task
  const order = epochOrder(task.points, hyper.seed, epoch, task.index)
  const batches = Math.ceil(order.length / size)
  const dim = hyper.dim
  const negatives = { values: negValues, grad: negGrad, count: hyper.negatives }
  const clock = new LookaheadClock(worker, (batch, at) => {
    signalBatch(run, task, order, { batch, clock: at })
  })
  clock.prime()
  let loss = 0
  for (let b = 0; b < batches; b++) {
    const turn = clock.advance(b)
    if (turn !== undefined) await turn
    const handle = task.handles[b % task.handles.length]!
    if (worker.tryPullSample(handle, negKeys, negValues) < 0) {
      await worker.pullSample(handle, negKeys, negValues)
    }
    negGrad.fill(0)
    const end = Math.min(order.length, (b + 1) * size)
    for (let i = b * size; i < end; i++) {
      const n = 3 * order[i]
      for (let dir = 0; dir < 2; dir++) {
        keys[0] = run.entityStart + train[dir === 0 ? n : n + 2]
        keys[1] = run.relationStart + train[n + 1] + dir * relations
        keys[2] = run.entityStart + train[dir === 0 ? n + 2 : n]
        if (!worker.tryPull(keys, values)) await worker.pull(keys, values)
        loss += softmaxStep(hyper, values, negatives, task.scratch, deltas)
        worker.push(keys, deltas)
      }
    }
    for (let j = 0; j < hyper.negatives; j++) {
      adagradDelta(hyper, negValues, 2 * dim * j, negGrad, dim * j, negDeltas, 2 * dim * j)
    }
    worker.push(negKeys, negDeltas)
    run.progress.tick(run.done += end - b * size)
  }
  return loss
}

/** Workers on every local node, each with a share of the training triples and its buffers. */
function makeTasks(run: Run, cluster: Cluster, workersPerNode: number): Task[] {
  const workers = cluster.localNodes.flatMap((node) =>
    Array.from({ length: workersPerNode }, (_, w) => ({
      worker: node.worker(),
      index: node.id * workersPerNode + w,
    }))
  )
  const { hyper, batch } = run.options
  const count = run.data.train.length / 3
  const len = 2 * hyper.dim
  // Worker w of W takes triples w, w + W, ...: shards of equal size. W counts
  // every worker of the cluster and w is global (node id, then worker), so
  // that the processes of a multi-process cluster share the triples.
  const total = cluster.nodes * workersPerNode
  return workers.map(({ worker, index }) => {
    const points = Uint32Array.from(
      { length: Math.ceil((count - index) / total) },
      (_, i) => index + i * total,
    )
    const dim = hyper.dim
    return {
      worker,
      index,
      points,
      keys: new Uint32Array(3),
      values: new Float32Array(3 * len),
      deltas: new Float32Array(3 * len),
      negKeys: new Uint32Array(hyper.negatives),
      negValues: new Float32Array(hyper.negatives * len),
      negGrad: new Float32Array(hyper.negatives * dim),
      negDeltas: new Float32Array(hyper.negatives * len),
      scratch: {
        q: new Float32Array(dim),
        gq: new Float32Array(dim),
        gh: new Float32Array(dim),
        gr: new Float32Array(dim),
        p: new Float64Array(hyper.negatives),
      },
      lookahead: new Uint32Array(4 * batch),
      handles: new Array<SampleHandle | undefined>(INTENT_LOOKAHEAD_CLOCKS + 1),
    }
  })
}

/** Every entity's and relation's value, pulled through `worker`. */
async function pullModel(run: Run, worker: Worker) {
  const len = 2 * run.options.hyper.dim
  const { entities, relations } = run.data
  const entityKeys = Uint32Array.from({ length: entities }, (_, i) => run.entityStart + i)
  const relationKeys = Uint32Array.from({ length: 2 * relations }, (_, i) => run.relationStart + i)
  return {
    entities: await worker.pull(entityKeys, new Float32Array(entities * len)),
    relations: await worker.pull(relationKeys, new Float32Array(2 * relations * len)),
    relationCount: relations,
  }
}

/** Train on a fresh cluster; one record per epoch (quality: mrr, hits1, hits10, trainLoss). */
export async function trainKge(data: KgeData, options: KgeOptions): Promise<Trained> {
  const { common, hyper, init } = options
  const len = 2 * hyper.dim
  // Uniform in [−init, init), fixed by (seed, key) alone; AdaGrad sums start at 0.
  const fill = (key: number, v: Float32Array) => {
    for (let k = 0; k < hyper.dim; k++) v[k] = 2 * init * hashUnit(hyper.seed, key, k)
  }
  const cluster = await Cluster.start({
    nodes: common.nodes,
    policy: policyOption(common.policy, data.entities + 2 * data.relations),
    seed: common.seed,
    tables: [
      { name: "entity", keys: data.entities, length: len, init: fill },
      { name: "relation", keys: 2 * data.relations, length: len, init: fill },
    ],
  })
  try {
    const place = startRun(cluster, common)
    const run: Run = {
      data,
      options,
      entityStart: cluster.table("entity").start,
      relationStart: cluster.table("relation").start,
      progress: makeProgress({
        quiet: common.quiet,
        epochs: common.epochs,
        localShare: () => cluster.stats().localShare,
      }),
      done: 0,
    }
    const tasks = makeTasks(run, cluster, common.workers)
    const test = data.test.subarray(0, 3 * Math.min(options.evalTriples, data.test.length / 3))
    const filter = answerFilter(data.relations, [data.train, data.valid, data.test])
    const records: EpochRecord[] = []
    // The triples this process's workers train: all of them unless other processes share them.
    const trainCount = tasks.reduce((sum, task) => sum + task.points.length, 0)
    for (let epoch = 1; epoch <= common.epochs; epoch++) {
      run.done = 0
      run.progress.begin(epoch, trainCount)
      const before = cluster.stats()
      const started = performance.now()
      const losses = await Promise.all(tasks.map((task) => runEpoch(run, task, epoch)))
      const workers = tasks.map((task) => task.worker)
      const { seconds, phase } = await endEpoch(cluster, workers, before, started)
      const trainLoss = losses.reduce((a, b) => a + b, 0) / Math.max(1, 2 * trainCount)
      const metrics = rankMetrics(hyper, await pullModel(run, tasks[0].worker), test, filter)
      records.push({
        epoch,
        seconds,
        dataPoints: trainCount,
        quality: { ...metrics, trainLoss },
        ...phase,
      })
      run.progress.end(
        `epoch ${epoch}: loss ${trainLoss.toFixed(4)}  MRR ${metrics.mrr.toFixed(4)}  ` +
          `Hits@1 ${metrics.hits1.toFixed(3)}  Hits@10 ${metrics.hits10.toFixed(3)}  ` +
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

const SCHEMES = ["conventional", "reuse", "local", "postpone"] as const

/** Run the example with command-line `args`; returns what `--json` writes. */
export async function main(args: readonly string[]): Promise<RunSummary | undefined> {
  const { common, own, help } = parseFlags(args, OWN, USAGE)
  if (help) {
    console.log(USAGE)
    return undefined
  }
  const model = String(own.model)
  if (model !== "complex" && model !== "distmult") {
    throw new RangeError(`--model must be complex or distmult, got '${model}'`)
  }
  const sampling = choiceFlag(own, "sampling", SCHEMES)
  const hyper: KgeHyper = {
    model: model as KgeModel,
    dim: intFlag(own, "dim", 2),
    rate: numberFlag(own, "rate", 0),
    lambda: numberFlag(own, "lambda", 0),
    negatives: intFlag(own, "negatives", 1),
    seed: common.seed,
  }
  if (model === "complex" && hyper.dim % 2 !== 0) {
    throw new RangeError(`--dim must be even for ComplEx, got ${hyper.dim}`)
  }
  const data = loadGraph(own, common.seed)
  const options: KgeOptions = {
    common,
    hyper,
    init: numberFlag(own, "init", 0),
    batch: intFlag(own, "batch", 1),
    evalTriples: intFlag(own, "eval", 1),
    sampling,
  }
  if (!common.quiet) {
    console.log(
      `roam kge: ${data.source}; ${data.train.length / 3} train, ${data.test.length / 3} test ` +
        `triples (evaluating ${Math.min(options.evalTriples, data.test.length / 3)}); ` +
        `${model} dim ${hyper.dim}; random MRR about ${randomMrr(data.entities).toPrecision(2)}`,
    )
  }
  // --plain: the same training with no parameter manager (the ceiling).
  const plain = own.plain === true
  const { epochs, place } = plain
    ? { epochs: trainKgePlain(data, { ...options, epochs: common.epochs }), place: PLAIN_PLACE }
    : await trainKge(data, options)
  const settings = {
    ...common,
    ...hyper,
    init: options.init,
    batch: options.batch,
    sampling,
    plain,
  }
  const summary = summarize(
    "kge",
    { ...settings, nodes: place.nodes, source: data.source, entities: data.entities },
    epochs,
  )
  return finishRun(summary, common, place)
}

if (import.meta.main) await runMain(main)
