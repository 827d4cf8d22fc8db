/**
 * Quickstart: matrix factorization by SGD on an in-process roam cluster.
 *
 * A seeded synthetic rating matrix (rows and columns drawn with Zipf-skewed
 * popularity, values from planted rank-k factors plus noise) is split across
 * one worker per node by row. Each worker `localize`s its rows, so under the
 * `lapse` policy they relocate to its node and its pulls and pushes of them
 * are local; columns are shared and stay where they are. Each epoch prints the
 * training RMSE and the share of accesses served locally.
 *
 *   deno run -A examples/quickstart.ts [--nodes 3] [--epochs 8] [--policy lapse|static] [--seed 1]
 */
import { parseArgs } from "node:util"
import { Cluster, policyNames, type Worker } from "../mod.ts"
import { choiceFlag, intFlag, policyOption, runMain } from "./lib/flags.ts"
import { mulberry32, zipfDraw } from "./lib/random.ts"

const USAGE = "usage: quickstart.ts [--nodes 3] [--epochs 8] [--policy lapse|static|...] " +
  "[--seed 1] [--rows 600] [--cols 400] [--ratings 30000]"

/** The flags, checked: a bad one is a one-line error naming it (`runMain`). */
function parseFlags(args: string[]) {
  let values
  try {
    values = parseArgs({
      args,
      strict: true,
      options: {
        nodes: { type: "string", default: "3" },
        epochs: { type: "string", default: "8" },
        policy: { type: "string", default: "lapse" },
        seed: { type: "string", default: "1" },
        rows: { type: "string", default: "600" },
        cols: { type: "string", default: "400" },
        ratings: { type: "string", default: "30000" },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values
  } catch (error) {
    throw new RangeError(`${(error as Error).message}\n${USAGE}`)
  }
  return {
    help: values.help === true,
    nodes: intFlag(values, "nodes", 1),
    epochs: intFlag(values, "epochs", 1),
    policy: choiceFlag(values, "policy", policyNames),
    seed: intFlag(values, "seed", 0),
    rows: intFlag(values, "rows", 1),
    cols: intFlag(values, "cols", 1),
    ratings: intFlag(values, "ratings", 1),
  }
}

async function main(args: string[]): Promise<void> {
  const flags = parseFlags(args)
  if (flags.help) return console.log(USAGE)
  const { nodes, epochs, rows, cols } = flags
  const rank = 8
  const lambda = 0.02
  const rate = 0.05

  const rand = mulberry32(flags.seed)

  /** Zipf(1.1) sampler over [0, n). */
  const zipf = (n: number): () => number => zipfDraw(n, 1.1, rand)

  // Planted factors and the ratings they generate.
  const planted = (n: number) => Float32Array.from({ length: n * rank }, () => (rand() - 0.5) * 1.5)
  const rowTruth = planted(rows)
  const colTruth = planted(cols)
  const drawRow = zipf(rows)
  const drawCol = zipf(cols)
  const count = flags.ratings
  const ratingRow = new Uint32Array(count)
  const ratingCol = new Uint32Array(count)
  const ratingValue = new Float32Array(count)
  for (let n = 0; n < count; n++) {
    const r = drawRow()
    const c = drawCol()
    let dot = 0
    for (let k = 0; k < rank; k++) dot += rowTruth[r * rank + k] * colTruth[c * rank + k]
    ratingRow[n] = r
    ratingCol[n] = c
    ratingValue[n] = dot + (rand() - 0.5) * 0.2
  }

  const cluster = await Cluster.local({
    nodes,
    seed: flags.seed,
    policy: policyOption(flags.policy, rows + cols),
    tables: [
      {
        name: "row",
        keys: rows,
        length: rank,
        init: (_, v) => v.forEach((_, i) => v[i] = 0.1 * (rand() - 0.5)),
      },
      {
        name: "col",
        keys: cols,
        length: rank,
        init: (_, v) => v.forEach((_, i) => v[i] = 0.1 * (rand() - 0.5)),
      },
    ],
  })
  const rowKey = cluster.table("row").start
  const colKey = cluster.table("col").start

  /** Rows are split into contiguous blocks, one per worker; `blockOf(row)` is the worker. */
  const blockOf = (row: number) => Math.min(nodes - 1, Math.floor((row * nodes) / rows))

  /** One epoch of SGD over the ratings of one worker's rows. */
  async function epoch(worker: Worker, mine: Uint32Array): Promise<number> {
    const keys = new Uint32Array(2)
    const values = new Float32Array(2 * rank)
    const deltas = new Float32Array(2 * rank)
    let loss = 0
    for (const n of mine) {
      keys[0] = rowKey + ratingRow[n]
      keys[1] = colKey + ratingCol[n]
      if (!worker.tryPull(keys, values)) await worker.pull(keys, values)
      let dot = 0
      for (let k = 0; k < rank; k++) dot += values[k] * values[rank + k]
      const error = ratingValue[n] - dot
      loss += error * error
      for (let k = 0; k < rank; k++) {
        deltas[k] = rate * (error * values[rank + k] - lambda * values[k])
        deltas[rank + k] = rate * (error * values[k] - lambda * values[rank + k])
      }
      worker.push(keys, deltas)
    }
    return loss
  }

  const workers = cluster.localNodes.map((node) => node.worker())
  const shards = workers.map((w) => {
    const mine: number[] = []
    for (let n = 0; n < count; n++) if (blockOf(ratingRow[n]) === w.nodeId) mine.push(n)
    return Uint32Array.from(mine)
  })
  // Each worker makes its rows local (a no-op under the static policy): rows are
  // homed round-robin (key mod nodes), so most of a block starts elsewhere.
  await Promise.all(workers.map((w) => {
    const own: number[] = []
    for (let r = 0; r < rows; r++) if (blockOf(r) === w.nodeId) own.push(rowKey + r)
    return w.localize(own)
  }))

  console.log(
    `roam quickstart: ${count} ratings, ${rows}x${cols}, rank ${rank}, ${nodes} nodes, policy ${cluster.policy.name}`,
  )
  let rmse = 0
  for (let e = 1; e <= epochs; e++) {
    const started = performance.now()
    const losses = await Promise.all(workers.map((w, i) => epoch(w, shards[i])))
    await Promise.all(workers.map((w) => w.barrier()))
    rmse = Math.sqrt(losses.reduce((a, b) => a + b, 0) / count)
    const ms = performance.now() - started
    console.log(
      `epoch ${e}: train RMSE ${rmse.toFixed(4)}  local share ${
        (cluster.stats().localShare * 100).toFixed(1)
      }%  ${ms.toFixed(0)} ms`,
    )
  }
  const total = cluster.stats().total
  console.log(
    `done: RMSE ${
      rmse.toFixed(4)
    }, ${total.relocationsIn} relocations, ${total.framesSent} frames, ${total.bytesSent} bytes`,
  )
  await cluster.close()
}

await runMain(main)
