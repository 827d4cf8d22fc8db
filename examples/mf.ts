/**
 * Matrix factorization by SGD on a roam cluster.
 *
 * Rows and columns of the rating matrix are keys in two tables (`row`,
 * `col`), each value [factors (rank floats), bias]. Data points are
 * partitioned across workers by row, balancing the number of ratings; each
 * worker signals intent for its own rows for the rest of training (under
 * `lapse`/`nups`, a `localize`) and pulls them once before the first epoch,
 * so they are on its node and its pulls and pushes of them are local;
 * columns are shared by every worker. Each worker runs SGD over its ratings
 * in mini-batches: a mini-batch pulls its distinct rows and columns once
 * (synchronous when all are local), runs its steps on those values in place,
 * and pushes the changes back as deltas (`BatchValues`); the worker advances
 * its clock once per mini-batch, and gives its node a turn of the event loop
 * about once a millisecond (`yieldIfDue`), so other nodes are served while it
 * trains. By default (`--order blocked`) it visits its ratings in DSGD's
 * blocked order: the columns are split into blocks (two per worker on
 * several nodes), the epoch into as many subepochs, and in each subepoch a
 * worker visits its ratings of one block, signalling intent for the block's
 * columns for the subepoch's clocks. Columns then move between nodes in
 * bulk, each block leaving a node `nodes - 1` times an epoch, and while the
 * worker trains on the block before (`blockAt`, `runBlocked`).
 * With `--order shuffled` it visits all its ratings in one seeded shuffle
 * and signals the keys of each mini-batch `INTENT_LOOKAHEAD_CLOCKS` ahead,
 * so that `adaptive` places the shared columns just in time, rating by
 * rating. With one worker the two orders are the same. Before a (sub)epoch
 * a worker gathers its points in visiting order (`gatherPoints`). The
 * cluster starts with `Cluster.start`: in-process, or one node per process
 * under the launcher. The step size follows the bold driver. After each
 * epoch the workers meet at a barrier and the test RMSE is computed from a
 * pull of both tables.
 *
 *   deno run -A examples/mf.ts --synthetic 2000,1000,40000 [--nodes 2] [--epochs 10]
 *   deno run -A examples/mf.ts --movielens /usr/lib/R/site-library/dslabs/data/Rdata.rdb --biased
 *   deno run -A examples/mf.ts --train a.mmc --test b.mmc --rank 32 --json out.json
 */
import { readFileSync } from "node:fs"
import { Cluster, type PolicyName, type Worker } from "../mod.ts"
import { parseMatrixMarket } from "./data/matrix_market.ts"
import { isRDatabase, loadMovieLensRdb } from "./data/r_data.ts"
import { meanOf, parseMovieLensCsv, type Ratings, splitRatings } from "./data/ratings.ts"
import { syntheticRatings } from "./data/synthetic.ts"
import {
  choiceFlag,
  type CommonFlags,
  intFlag,
  intListFlag,
  numberFlag,
  parseFlags,
  policyOption,
  runMain,
} from "./lib/flags.ts"
import { FOREVER, LookaheadClock, signalIntent } from "./lib/intent.ts"
import { epochOrder, gatherPoints, makeVisit, trainPlain, type Visit } from "./lib/mf_plain.ts"
import {
  boldDriver,
  initValue,
  meanBaselineRmse,
  type MfHyper,
  rmseOf,
  sgdStep,
  valueLength,
} from "./lib/mf_model.ts"
import { BatchValues, pullBatches } from "./lib/batch_values.ts"
import { makeProgress, type Progress } from "./lib/progress.ts"
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

const USAGE =
  `usage: mf.ts (--synthetic rows,cols,nnz | --movielens Rdata.rdb|ratings.csv | --train x.mmc --test y.mmc)
  [--rank 16] [--lambda 0.05] [--rate 0.05] [--init 0.3] [--biased] [--batch 256] [--order blocked|shuffled] [--plain]
  [--nodes 2] [--workers 1] [--policy adaptive|static|lapse|nups|...] [--epochs 10] [--seed 1] [--json out.json] [--quiet]`

const OWN = {
  synthetic: { type: "string" },
  movielens: { type: "string" },
  train: { type: "string" },
  test: { type: "string" },
  rank: { type: "string", default: "16" },
  lambda: { type: "string", default: "0.05" },
  rate: { type: "string", default: "0.05" },
  init: { type: "string", default: "0.3" },
  biased: { type: "boolean", default: false },
  batch: { type: "string", default: "256" },
  plain: { type: "boolean", default: false },
  order: { type: "string", default: "blocked" },
} as const

/** Training and test ratings on one row and column space. */
export interface MfData {
  readonly train: Ratings
  readonly test: Ratings
  readonly source: string
}

/** Load the data the flags name: exactly one of --synthetic, --movielens, --train/--test. */
export function loadData(own: Record<string, unknown>, seed: number): MfData {
  const sources = ["synthetic", "movielens", "train"].filter((s) => own[s] !== undefined)
  if (sources.length !== 1) throw new RangeError(`give exactly one data source\n${USAGE}`)
  if (own.synthetic !== undefined) {
    const [rows, cols, nnz] = intListFlag(own, "synthetic", 3)
    const all = syntheticRatings({ rows, cols, nnz, seed })
    return {
      ...splitRatings(all, { testShare: 0.1, seed }),
      source: `synthetic ${rows}x${cols}, ${nnz} ratings`,
    }
  }
  if (own.movielens !== undefined) {
    const path = String(own.movielens)
    const all = isRDatabase(path)
      ? loadMovieLensRdb(path)
      : parseMovieLensCsv(readFileSync(path, "utf8"), path)
    return { ...splitRatings(all, { testShare: 0.2, seed }), source: `MovieLens ${path}` }
  }
  if (own.test === undefined) throw new RangeError(`--train needs --test\n${USAGE}`)
  const train = parseMatrixMarket(readFileSync(String(own.train), "utf8"), String(own.train))
  const test = parseMatrixMarket(readFileSync(String(own.test), "utf8"), String(own.test))
  if (test.value.length === 0) throw new RangeError(`${own.test}: no entries to test on`)
  const rows = Math.max(train.rows, test.rows)
  const cols = Math.max(train.cols, test.cols)
  return { train: { ...train, rows, cols }, test: { ...test, rows, cols }, source: `${own.train}` }
}

/**
 * Assign every row to a worker so that workers get about as many ratings.
 */
export function assignRows(train: Ratings, workers: number): Uint32Array {
  return balanceByCount(train.row, train.rows, workers)
}

/**
 * Assign every column to one of `blocks` column blocks of about as many
 * ratings: the blocks of the blocked visiting order (`runBlocked`).
 */
export function assignColumns(train: Ratings, blocks: number): Uint32Array {
  return balanceByCount(train.col, train.cols, blocks)
}

/**
 * Split `items` ids (each rating names one in `of`) into `parts` parts of
 * about as many ratings: by descending count, each to the least-loaded part.
 */
function balanceByCount(of: Uint32Array, items: number, parts: number): Uint32Array {
  const count = new Uint32Array(items)
  for (let n = 0; n < of.length; n++) count[of[n]]++
  const order = new Uint32Array(items).map((_, i) => i).sort((a, b) => count[b] - count[a] || a - b)
  const load = new Float64Array(parts)
  const part = new Uint32Array(items)
  for (const r of order) {
    let best = 0
    for (let w = 1; w < parts; w++) if (load[w] < load[best]) best = w
    part[r] = best
    load[best] += count[r] + 1e-9 // Ids without ratings still spread out.
  }
  return part
}

/** One worker's share of the training data and its reusable buffers. */
interface WorkerTask {
  readonly worker: Worker
  /** Global worker index, the seed stream of its visiting order. */
  readonly index: number
  readonly points: Uint32Array
  /** The points of the current (sub)epoch in visiting order (`gatherPoints`). */
  readonly visit: Visit
  /** The current mini-batch's rows and columns, pulled together, and each point's offsets. */
  readonly tables: readonly [rows: BatchValues, cols: BatchValues]
  readonly offsets: Int32Array
  /** Blocked order: this worker's points per column block, and the column keys they touch. */
  readonly buckets: readonly Uint32Array[]
  readonly blockColumns: readonly Uint32Array[]
}

interface Run {
  readonly train: Ratings
  readonly hyper: MfHyper
  readonly batch: number
  readonly rowStart: number
  readonly colStart: number
  readonly progress: Progress
  readonly cluster: Cluster
  readonly policy: PolicyName
  /** Workers on each node. */
  readonly workersPerNode: number
  /** Column blocks of the visiting order (`columnBlocksOf`), or 1 (shuffled). */
  readonly columnBlocks: number
  done: number
}

/**
 * INTENT: tell roam which keys mini-batch `batch` of the visit touches; it
 * will run at clock `clock` (the worker advances its clock once per mini-batch).
 */
function signalBatch(run: Run, task: WorkerTask, at: { batch: number; clock: number }): void {
  const from = at.batch * run.batch
  const to = Math.min(task.visit.count, from + run.batch)
  if (from >= to) return
  // `intent` copies the keys, so a view of the visit serves.
  const signal = { keys: task.visit.keys.subarray(2 * from, 2 * to), policy: run.policy }
  signalIntent(task.worker, { ...signal, start: at.clock, end: at.clock + 1 })
}

/** One epoch of SGD over one worker's ratings; returns the sum of squared errors. */
function runEpoch(run: Run, task: WorkerTask, epoch: number, rate: number): Promise<number> {
  if (run.columnBlocks === 1) {
    const order = epochOrder(task.points, run.hyper.seed, epoch, task.index)
    return runOrder(run, task, order, rate, true)
  }
  return runBlocked(run, task, epoch, rate)
}

/**
 * The column blocks of the blocked order on `nodes` nodes of `perNode`
 * workers: one group of `perNode` blocks per node on one node, two groups per
 * node on several (`blockAt`).
 */
export function columnBlocksOf(nodes: number, perNode: number): number {
  return (nodes === 1 ? 1 : 2 * nodes) * perNode
}

/**
 * The column block worker `worker` visits in subepoch `step` (from 0 to
 * `columnBlocksOf(nodes, perNode)`) of `epoch` (from 1), on a cluster of
 * `nodes` nodes of `perNode` workers numbered node by node. Any schedule that
 * gives each worker every block once per epoch, and no two workers one block
 * at once, is DSGD's. This one also moves blocks between nodes as rarely as
 * that allows, and never right after another node used them:
 *
 * - The blocks form groups of `perNode`. The workers of a node pass their
 *   group's blocks among themselves (a move inside the node is free), then the
 *   node moves on to another group.
 * - On several nodes there are two groups per node (DSGD++, Teflioudi et al.
 *   2012), and node `n` visits group `g + 2n` in its `g`-th group step. The
 *   group a node visits next is then one no node visits now (the two differ in
 *   parity), so it can move while the current one is trained on.
 * - Every other epoch runs its subepochs backwards, so it starts with the
 *   blocks the last one ended with.
 *
 * Each block then leaves a node `nodes - 1` times an epoch, the least
 * possible.
 */
export function blockAt(
  worker: number,
  step: number,
  epoch: number,
  nodes: number,
  perNode: number,
): number {
  const blocks = columnBlocksOf(nodes, perNode)
  const groups = blocks / perNode
  const s = epoch % 2 === 1 ? step : blocks - 1 - step
  const node = Math.floor(worker / perNode)
  const group = (Math.floor(s / perNode) + 2 * node) % groups
  return group * perNode + (worker + s) % perNode
}

/**
 * The blocked visiting order (DSGD, Gemulla et al. 2011; Lapse's MF): the
 * columns are split into blocks (`columnBlocksOf`), and the epoch into as
 * many subepochs; in each subepoch each worker visits its ratings in another
 * column block (`blockAt`), so no two workers share a column within a
 * subepoch. After a subepoch a worker ends its intent for the block (by
 * advancing its clock) and arrives at a barrier.
 *
 * Blocks move while workers train. Once every worker has ended subepoch
 * `s - 1` (its barrier resolved), a worker in subepoch `s` signals intent for
 * the block of `s + 1`: the block's last visitor on another node had it in
 * `s - 1` at the latest (`blockAt`), so it is free, and its columns move in
 * bulk while this worker trains on block `s` (`yieldIfDue` in `runOrder`
 * lets both nodes serve the move). Hand-placed policies localize the block
 * instead, awaited when subepoch `s + 1` begins.
 *
 * With one worker per node, a worker waits only for the barrier of `s - 1`
 * before it starts `s + 1`, not for the others to end `s`: whichever node is
 * a little slower in a subepoch does not hold the other back, and the blocks
 * of nodes a subepoch apart still never meet (`blockAt`). Workers of one node
 * pass blocks to each other every subepoch, so with several a worker waits
 * for the barrier of `s` itself.
 */
async function runBlocked(
  run: Run,
  task: WorkerTask,
  epoch: number,
  rate: number,
): Promise<number> {
  const blocks = run.columnBlocks
  const { worker } = task
  const { nodes } = run.cluster
  const lag = run.workersPerNode === 1
  const blockOf = (s: number) => blockAt(task.index, s, epoch, nodes, run.workersPerNode)
  const batchesOf = (s: number) => Math.ceil(task.buckets[blockOf(s)].length / run.batch)
  // Signal subepoch s's intent from clock `start`; returns what to await before s runs.
  const signal = (s: number, start: number) => {
    const batches = batchesOf(s)
    if (batches === 0) return undefined
    const keys = task.blockColumns[blockOf(s)]
    const end = start + batches
    return signalIntent(worker, { keys, start, end, policy: run.policy, phase: true })
  }
  let loss = 0
  let start = worker.clock + 1
  let placing = signal(0, start)
  // The barrier after the previous subepoch, while it is pending.
  let previous: Promise<void> | undefined
  for (let s = 0; s < blocks; s++) {
    const batches = batchesOf(s)
    // Subepoch s runs clocks [start, start + batches), then ends its intent.
    const next = start + (batches === 0 ? 0 : batches + 1)
    let placingNext: Promise<void> | undefined
    if (s + 1 < blocks) {
      placingNext = previous === undefined
        ? signal(s + 1, next)
        : previous.then(() => signal(s + 1, next))
      placingNext?.catch(() => {}) // Awaited, and so reported, when subepoch s + 1 begins.
    }
    await placing
    if (batches > 0) {
      // A seed stream per (worker, subepoch); subepoch 0's is the shuffled order's.
      const bucket = task.buckets[blockOf(s)]
      const order = epochOrder(bucket, run.hyper.seed, epoch, task.index + s * blocks)
      loss += await runOrder(run, task, order, rate, false)
      worker.advanceClock() // The block's intent ends: its columns are free to move on.
    }
    await previous
    previous = worker.barrier()
    if (!lag) {
      await previous
      previous = undefined
    }
    placing = placingNext
    start = next
  }
  await previous
  return loss
}

/**
 * SGD over `order`, one mini-batch per clock; returns the sum of squared
 * errors. Each mini-batch pulls its distinct rows and columns once (one
 * call per table, the two at once when either is not local: `pullBatches`),
 * runs its steps on those values in place, and pushes the changes back
 * (`BatchValues`). With `lookahead` it signals each
 * mini-batch's keys `INTENT_LOOKAHEAD_CLOCKS` ahead.
 */
async function runOrder(
  run: Run,
  task: WorkerTask,
  order: Uint32Array,
  rate: number,
  lookahead: boolean,
): Promise<number> {
  const { worker, visit, tables } = task
  gatherPoints(run.train, order, run, visit)
  let loss = 0
  const signal = (batch: number, clock: number) => signalBatch(run, task, { batch, clock })
  const clock = new LookaheadClock(worker, lookahead ? signal : undefined)
  clock.prime()
  for (let from = 0, batch = 0; from < visit.count; from += run.batch, batch++) {
    const to = Math.min(visit.count, from + run.batch)
    const turn = clock.advance(batch)
    if (turn !== undefined) await turn
    if (from > 0) run.progress.tick(run.done += run.batch)
    collectBatch(task, from, to)
    const pulling = pullBatches(worker, tables)
    if (pulling !== undefined) await pulling
    loss += stepBatch(run, task, { from, to, rate })
  }
  return loss
}

// The synchronous parts of a mini-batch live outside the async `runOrder`:
// once the loop there suspends (a turn of `yieldIfDue`), Bun ran SGD steps
// written inline 8-15% slower on one node.

/** Points [from, to) of the visit: each one's offsets in the mini-batch's rows and columns. */
function collectBatch(task: WorkerTask, from: number, to: number): void {
  const { visit: { keys }, tables: [rows, cols], offsets } = task
  for (let i = from, o = 0; i < to; i++, o += 2) {
    offsets[o] = rows.offsetOf(keys[2 * i])
    offsets[o + 1] = cols.offsetOf(keys[2 * i + 1])
  }
}

/** SGD steps over points [from, to) on the pulled values, then push their changes; returns the squared errors. */
function stepBatch(
  run: Run,
  task: WorkerTask,
  at: { from: number; to: number; rate: number },
): number {
  const { hyper } = run
  const { worker, visit: { ratings }, tables: [rows, cols], offsets } = task
  const rowValues = rows.values
  const colValues = cols.values
  let loss = 0
  for (let i = at.from, o = 0; i < at.to; i++, o += 2) {
    loss += sgdStep(hyper, ratings[i], at.rate, rowValues, offsets[o], colValues, offsets[o + 1])
  }
  rows.push(worker)
  cols.push(worker)
  return loss
}

/** Every row's and column's current value, pulled through `worker`. */
async function pullModel(run: Run, worker: Worker): Promise<[Float32Array, Float32Array]> {
  const { rows, cols } = run.train
  const length = valueLength(run.hyper)
  const rowKeys = new Uint32Array(rows).map((_, i) => run.rowStart + i)
  const colKeys = new Uint32Array(cols).map((_, i) => run.colStart + i)
  const rowValues = await worker.pull(rowKeys, new Float32Array(rows * length))
  const colValues = await worker.pull(colKeys, new Float32Array(cols * length))
  return [rowValues, colValues]
}

export interface TrainOptions {
  readonly common: CommonFlags
  readonly hyper: MfHyper
  readonly rate: number
  readonly batch: number
  /** `blocked` (the default) or `shuffled`: see `runBlocked`. */
  readonly order?: VisitingOrder
}

/** How a worker visits its ratings in an epoch. */
export type VisitingOrder = "blocked" | "shuffled"

/** Train on a fresh cluster; returns one record per epoch (quality: rmse, trainLoss, rate). */
export async function trainMf(data: MfData, options: TrainOptions): Promise<Trained> {
  const { common, hyper, batch } = options
  const { train, test } = data
  const length = valueLength(hyper)
  const cluster = await Cluster.start({
    nodes: common.nodes,
    policy: policyOption(common.policy, train.rows + train.cols),
    seed: common.seed,
    tables: [
      { name: "row", keys: train.rows, length, init: (key, v) => initValue(hyper, 0, key, v) },
      {
        name: "col",
        keys: train.cols,
        length,
        init: (key, v) => initValue(hyper, 1, key - train.rows, v),
      },
      // Per epoch, the cluster's sum of squared training errors (see `trainEpochs`).
      { name: "loss", keys: Math.max(1, common.epochs), length: 1 },
    ],
  })
  try {
    const place = startRun(cluster, common)
    const run: Run = {
      train,
      hyper,
      batch,
      rowStart: cluster.table("row").start,
      colStart: cluster.table("col").start,
      progress: makeProgress({
        quiet: common.quiet,
        epochs: common.epochs,
        localShare: () => cluster.stats().localShare,
      }),
      cluster,
      policy: common.policy,
      workersPerNode: common.workers,
      columnBlocks: options.order === "shuffled"
        ? 1
        : columnBlocksOf(cluster.nodes, common.workers),
      done: 0,
    }
    const tasks = await makeTasks(run)
    return { epochs: await trainEpochs(run, tasks, common.epochs, options.rate, test), place }
  } finally {
    await cluster.close()
  }
}

/**
 * Workers on every local node, their data shards, and their rows made local.
 * Rows are split over every worker of the cluster (`cluster.nodes` nodes of
 * `workersPerNode`), and a worker's index is global (node id, then worker),
 * so that the processes of a multi-process cluster share the data instead of
 * each training all of it.
 */
async function makeTasks(run: Run): Promise<WorkerTask[]> {
  const { cluster, train, workersPerNode } = run
  const workers = cluster.localNodes.flatMap((node) =>
    Array.from({ length: workersPerNode }, (_, w) => ({
      worker: node.worker(),
      index: node.id * workersPerNode + w,
    }))
  )
  const total = cluster.nodes * workersPerNode
  const owner = assignRows(train, total)
  const all = new Uint32Array(train.row.length).map((_, n) => n)
  const points = bucketBy(all, total, (n) => owner[train.row[n]])
  const block = assignColumns(train, run.columnBlocks)
  const tasks = workers.map(({ worker, index }): WorkerTask => ({
    worker,
    index,
    points: points[index],
    visit: makeVisit(points[index].length),
    tables: [
      new BatchValues(cluster.table("row"), run.batch),
      new BatchValues(cluster.table("col"), run.batch),
    ],
    offsets: new Int32Array(2 * run.batch),
    ...blockShares(run, points[index], block),
  }))
  // A worker needs its own rows for the whole of training: a long-lived intent.
  // It pulls them once, so that training starts with them placed (under
  // `static`, this is one remote pull), and the workers start together.
  await Promise.all(tasks.map(async (task) => {
    const rows: number[] = []
    for (let r = 0; r < train.rows; r++) if (owner[r] === task.index) rows.push(run.rowStart + r)
    const signal = { keys: rows, start: task.worker.clock, end: FOREVER }
    await signalIntent(task.worker, { ...signal, policy: run.policy })
    await task.worker.pull(rows)
  }))
  await Promise.all(tasks.map((task) => task.worker.barrier()))
  return tasks
}

/**
 * A worker's points split by the column block of their column (in their
 * order within `points`), and the distinct column keys of each split.
 */
function blockShares(
  run: Run,
  points: Uint32Array,
  block: Uint32Array,
): Pick<WorkerTask, "buckets" | "blockColumns"> {
  const { train, columnBlocks } = run
  // One block is the shuffled order, which visits `points` themselves.
  if (columnBlocks === 1) return { buckets: [], blockColumns: [] }
  const buckets = bucketBy(points, columnBlocks, (n) => block[train.col[n]])
  const blockColumns = buckets.map((bucket) => {
    const cols = new Set<number>()
    for (const n of bucket) cols.add(run.colStart + train.col[n])
    return Uint32Array.from(cols).sort()
  })
  return { buckets, blockColumns }
}

/** `items` split into `parts` lists by `partOf`, each in the order of `items`. */
function bucketBy(
  items: Uint32Array,
  parts: number,
  partOf: (item: number) => number,
): Uint32Array[] {
  const counts = new Uint32Array(parts)
  for (const item of items) counts[partOf(item)]++
  const buckets = Array.from(counts, (c) => new Uint32Array(c))
  counts.fill(0)
  for (const item of items) {
    const part = partOf(item)
    buckets[part][counts[part]++] = item
  }
  return buckets
}

async function trainEpochs(
  run: Run,
  tasks: readonly WorkerTask[],
  epochs: number,
  rate0: number,
  test: Ratings,
): Promise<EpochRecord[]> {
  const records: EpochRecord[] = []
  let rate = rate0
  let previous = Infinity
  // The points this process's workers train: all of them unless other processes share the work.
  const points = tasks.reduce((sum, task) => sum + task.points.length, 0)
  for (let epoch = 1; epoch <= epochs; epoch++) {
    run.done = 0
    run.progress.begin(epoch, points)
    const before = run.cluster.stats()
    const started = performance.now()
    const losses = await Promise.all(tasks.map((task) => runEpoch(run, task, epoch, rate)))
    // The bold driver's step must be the cluster's, the same in every process:
    // across processes, each adds its loss to the epoch's key before the
    // barrier that ends the epoch, and all read the sum after it.
    const loss = losses.reduce((a, b) => a + b, 0)
    const shared = run.cluster.localNodes.length < run.cluster.nodes
    const lossKey = [run.cluster.table("loss").start + epoch - 1]
    if (shared) tasks[0].worker.push(lossKey, Float32Array.of(loss))
    const workers = tasks.map((task) => task.worker)
    const { seconds, phase } = await endEpoch(run.cluster, workers, before, started)
    const total = shared ? (await tasks[0].worker.pull(lossKey))[0] : loss
    const trainLoss = total / Math.max(1, shared ? run.train.row.length : points)
    const [rowValues, colValues] = await pullModel(run, tasks[0].worker)
    // Meet again, so that no process's evaluation pulls land in another's next
    // timed epoch, and no node closes while another still pulls its keys.
    await Promise.all(workers.map((worker) => worker.barrier()))
    const rmse = rmseOf(run.hyper, test, rowValues, colValues)
    records.push({
      epoch,
      seconds,
      dataPoints: points,
      quality: { rmse, trainLoss, rate },
      ...phase,
    })
    run.progress.end(
      `epoch ${epoch}: train loss ${trainLoss.toFixed(4)}  test RMSE ${rmse.toFixed(4)}  ` +
        `rate ${rate.toPrecision(3)}  local ${(phase.localShare * 100).toFixed(1)}%  ${
          seconds.toFixed(2)
        } s`,
    )
    rate = boldDriver(rate, trainLoss, previous)
    previous = trainLoss
  }
  return records
}

/**
 * `--plain`: the same training in one process with no parameter manager
 * (examples/lib/mf_plain.ts), the ceiling, reported like a roam run.
 */
function trainMfPlain(data: MfData, options: TrainOptions): EpochRecord[] {
  const { hyper, rate, common } = options
  const epochs = trainPlain(data.train, data.test, { hyper, epochs: common.epochs, rate })
  return epochs.map((e) => {
    if (!common.quiet) {
      console.log(
        `epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)}  test RMSE ` +
          `${e.testRmse.toFixed(4)}  rate ${e.rate.toPrecision(3)}  ${e.seconds.toFixed(2)} s`,
      )
    }
    return {
      epoch: e.epoch,
      seconds: e.seconds,
      dataPoints: data.train.value.length,
      quality: { rmse: e.testRmse, trainLoss: e.trainLoss, rate: e.rate },
      localShare: 1,
      frames: 0,
      bytes: 0,
    }
  })
}

/** Run the example with command-line `args`; returns what `--json` writes. */
export async function main(args: readonly string[]): Promise<RunSummary | undefined> {
  const { common, own, help } = parseFlags(args, OWN, USAGE)
  if (help) {
    console.log(USAGE)
    return undefined
  }
  const data = loadData(own, common.seed)
  const mean = meanOf(data.train)
  const hyper: MfHyper = {
    rank: intFlag(own, "rank", 1),
    lambda: numberFlag(own, "lambda", 0),
    biased: own.biased === true,
    mean,
    initScale: numberFlag(own, "init", 0),
    seed: common.seed,
  }
  const options = {
    common,
    hyper,
    rate: numberFlag(own, "rate", 0),
    batch: intFlag(own, "batch", 1),
    order: choiceFlag(own, "order", ["blocked", "shuffled"] as const),
  }
  const baselineRmse = meanBaselineRmse(data.test, mean)
  if (!common.quiet) {
    console.log(
      `roam mf: ${data.source}; ${data.train.value.length} train, ${data.test.value.length} test ` +
        `ratings; rank ${hyper.rank}; predict-the-mean test RMSE ${baselineRmse.toFixed(4)}`,
    )
  }
  const plain = own.plain === true
  const { epochs, place } = plain
    ? { epochs: trainMfPlain(data, options), place: PLAIN_PLACE }
    : await trainMf(data, options)
  const summary = summarize(
    "mf",
    {
      ...common,
      nodes: place.nodes,
      ...hyper,
      rate: options.rate,
      batch: options.batch,
      order: options.order ?? "blocked",
      source: data.source,
      baselineRmse,
      plain,
    },
    epochs,
  )
  return finishRun(summary, common, place)
}

if (import.meta.main) await runMain(main)
