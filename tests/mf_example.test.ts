/**
 * Tests of the matrix-factorization example (examples/mf.ts): with one node
 * and one worker, roam training equals the plain single-process
 * implementation (examples/lib/mf_plain.ts) with the same seed, epoch by
 * epoch; through its public flags, on a small synthetic data set, it beats
 * the predict-the-mean baseline clearly and writes the JSON the benchmark
 * report reads; it reads Matrix Market files; it partitions rows evenly; its
 * mini-batches' values (`BatchValues`) keep every update, theirs and other
 * workers'; and bad flags fail with a message naming the flag.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  assignColumns,
  assignRows,
  blockAt,
  columnBlocksOf,
  main,
  trainMf,
} from "../examples/mf.ts"
import { formatMatrixMarket } from "../examples/data/matrix_market.ts"
import { meanOf, splitRatings } from "../examples/data/ratings.ts"
import { syntheticRatings } from "../examples/data/synthetic.ts"
import { trainPlain } from "../examples/lib/mf_plain.ts"
import { BatchValues } from "../examples/lib/batch_values.ts"
import { Cluster } from "../mod.ts"
import type { MfHyper } from "../examples/lib/mf_model.ts"

const data = () => {
  const all = syntheticRatings({ rows: 300, cols: 200, nnz: 4000, seed: 4 })
  return { ...splitRatings(all, { testShare: 0.1, seed: 4 }), source: "test" }
}

describe("mf example", () => {
  for (const biased of [false, true]) {
    it(`equals the plain implementation on one node (biased: ${biased})`, async () => {
      const { train, test, source } = data()
      const hyper: MfHyper = {
        rank: 4,
        lambda: 0.05,
        biased,
        mean: meanOf(train),
        initScale: 0.3,
        seed: 7,
      }
      const plain = trainPlain(train, test, { hyper, epochs: 4, rate: 0.05 })
      const common = {
        nodes: 1,
        workers: 1,
        policy: "lapse",
        epochs: 4,
        seed: 7,
        json: undefined,
        quiet: true,
      } as const
      const { epochs: roam } = await trainMf({ train, test, source }, {
        common,
        hyper,
        rate: 0.05,
        batch: 64,
      })
      assert.equal(roam.length, 4)
      for (let e = 0; e < 4; e++) {
        const loss = roam[e].quality.trainLoss
        assert.ok(
          Math.abs(loss - plain[e].trainLoss) <= 1e-6 * plain[e].trainLoss,
          `epoch ${e + 1}`,
        )
        assert.ok(Math.abs(roam[e].quality.rmse - plain[e].testRmse) <= 1e-6)
        assert.equal(roam[e].quality.rate, plain[e].rate)
      }
      assert.ok(plain[3].trainLoss < plain[0].trainLoss)
    })
  }

  it("beats the predict-the-mean baseline on synthetic data through its flags", async () => {
    const dir = mkdtempSync(join(tmpdir(), "roam-mf-"))
    const json = join(dir, "out.json")
    const summary = await main([
      "--synthetic",
      "600,400,12000",
      "--nodes",
      "2",
      "--workers",
      "2",
      "--epochs",
      "8",
      "--rank",
      "8",
      "--seed",
      "3",
      "--quiet",
      "--json",
      json,
    ])
    assert.ok(summary)
    const written = JSON.parse(readFileSync(json, "utf8"))
    const { final, epochs, settings } = written
    assert.equal(epochs.length, 8)
    // The schedule is in the settings: a run can be told apart and repeated.
    assert.deepEqual([typeof settings.rate, settings.batch, settings.order], [
      "number",
      256,
      "blocked",
    ])
    assert.ok(
      final.quality.rmse < 0.8 * settings.baselineRmse,
      `${final.quality.rmse} vs ${settings.baselineRmse}`,
    )
    assert.ok(final.localShare > 0 && final.localShare <= 1)
    assert.ok(final.secondsPerEpoch > 0)
    assert.ok(final.bytesPerEpoch > 0, "two nodes exchange frames")
    assert.equal(typeof epochs[0].quality.trainLoss, "number")
  })

  it("reads Matrix Market train and test files; static keeps rows remote", async () => {
    const { train, test } = data()
    const dir = mkdtempSync(join(tmpdir(), "roam-mf-"))
    writeFileSync(join(dir, "train.mmc"), formatMatrixMarket(train))
    writeFileSync(join(dir, "test.mmc"), formatMatrixMarket(test))
    const args = [
      "--train",
      join(dir, "train.mmc"),
      "--test",
      join(dir, "test.mmc"),
      "--epochs",
      "2",
      "--quiet",
    ]
    const lapse = await main([...args, "--policy", "lapse"])
    const fixed = await main([...args, "--policy", "static"])
    assert.ok(lapse && fixed)
    assert.ok(lapse.final.localShare > fixed.final.localShare)
    // The policy changes where keys live, never the arithmetic of one worker per node.
    assert.ok(Number.isFinite(fixed.final.quality.rmse))
  })

  it("assigns rows to workers with balanced ratings", () => {
    const { train } = data()
    const owner = assignRows(train, 3)
    const load = [0, 0, 0]
    for (const r of train.row) load[owner[r]]++
    assert.ok(Math.max(...load) - Math.min(...load) <= Math.max(...load) * 0.05, String(load))
  })

  it("assigns columns to blocks with balanced ratings", () => {
    const { train } = data()
    const block = assignColumns(train, 4)
    const load = [0, 0, 0, 0]
    for (const c of train.col) load[block[c]]++
    assert.ok(Math.max(...load) - Math.min(...load) <= Math.max(...load) * 0.1, String(load))
  })

  it("the blocked schedule is DSGD's, moves a block off a node nodes - 1 times an epoch, and never right after another node used it", () => {
    for (const [nodes, perNode] of [[1, 1], [1, 3], [2, 1], [2, 2], [3, 1], [3, 2], [4, 3]]) {
      const workers = nodes * perNode
      const blocks = columnBlocksOf(nodes, perNode)
      assert.equal(blocks, nodes === 1 ? perNode : 2 * workers)
      const nodeOf = (w: number) => Math.floor(w / perNode)
      const at: number[][] = [] // at[block]: the worker holding it, subepoch after subepoch (-1: none)
      for (let b = 0; b < blocks; b++) at.push([])
      for (let epoch = 1; epoch <= 4; epoch++) {
        const seen = Array.from({ length: workers }, () => new Set<number>())
        for (let step = 0; step < blocks; step++) {
          const held = new Set<number>()
          for (let w = 0; w < workers; w++) {
            const block = blockAt(w, step, epoch, nodes, perNode)
            assert.ok(block >= 0 && block < blocks, `block ${block}`)
            assert.ok(!held.has(block), `${nodes}x${perNode}: block ${block} twice in a subepoch`)
            held.add(block)
            seen[w].add(block)
            at[block].push(w)
          }
          for (let b = 0; b < blocks; b++) if (!held.has(b)) at[b].push(-1)
        }
        for (const s of seen) assert.equal(s.size, blocks, "every worker visits every block")
      }
      for (const holders of at) {
        // Node changes of each block over 4 epochs, the epochs' seams included.
        const visits = holders.filter((w) => w >= 0)
        let moves = 0
        for (let i = 1; i < visits.length; i++) {
          if (nodeOf(visits[i]) !== nodeOf(visits[i - 1])) moves++
        }
        assert.equal(moves, 4 * (nodes - 1), `${nodes}x${perNode}: ${visits}`)
        // A block that comes to a node was free (or on that node) the subepoch before: it moves
        // while the node trains on another block.
        for (let i = 1; i < holders.length; i++) {
          const [before, now] = [holders[i - 1], holders[i]]
          if (now >= 0 && before >= 0) {
            assert.equal(nodeOf(before), nodeOf(now), `${nodes}x${perNode}: ${holders}`)
          }
        }
      }
    }
  })

  it("the blocked order moves columns in bulk, once per subepoch, and trains as well", async () => {
    const args = [
      ...["--synthetic", "1000,600,20000", "--nodes", "2", "--epochs", "4", "--rank", "8"],
      ...["--policy", "adaptive", "--quiet"],
    ]
    const blocked = await main([...args, "--order", "blocked"])
    const shuffled = await main([...args, "--order", "shuffled"])
    assert.ok(blocked && shuffled)
    // Shuffled, a column follows its ratings between the nodes (a move per
    // few ratings: about 5,700 an epoch here); blocked, it moves when its
    // block leaves a node: once an epoch on 2 nodes, after the first epoch
    // (which also moves the rows to their workers). A move costs the value
    // (9 floats) and about 24 bytes of keys, versions and epochs in the
    // intent, the hand-over and its acknowledgement: at most 64 bytes per
    // column an epoch, where moving every column twice (the plain rotation
    // of blocks over workers) sent 72 KB.
    for (const { epoch, bytes } of blocked.epochs.slice(1)) {
      assert.ok(bytes <= 600 * 64, `blocked: ${bytes} bytes in epoch ${epoch}`)
    }
    assert.ok(
      blocked.final.bytesPerEpoch * 2.5 < shuffled.final.bytesPerEpoch,
      `blocked ${blocked.final.bytesPerEpoch} vs shuffled ${shuffled.final.bytesPerEpoch} bytes`,
    )
    assert.ok(blocked.final.localShare >= 0.99, `local share ${blocked.final.localShare}`)
    const [b, s] = [blocked.final.quality.rmse, shuffled.final.quality.rmse]
    assert.ok(Math.abs(b - s) < 0.05 * s, `rmse blocked ${b} vs shuffled ${s}`)
    await assert.rejects(main([...args, "--order", "sorted"]), /--order must be one of/)
  })

  it("refuses bad flags, naming the flag", async () => {
    await assert.rejects(main(["--synthetic", "10,10"]), /--synthetic must be 3 comma-separated/)
    await assert.rejects(
      main(["--synthetic", "100,100,50", "--rank", "0"]),
      /--rank must be an integer >= 1/,
    )
    await assert.rejects(
      main(["--synthetic", "100,100,50", "--policy", "x"]),
      /--policy must be one of/,
    )
    await assert.rejects(main(["--epochs", "2"]), /give exactly one data source/)
    await assert.rejects(main(["--synthetic", "100,100,50", "--bogus"]), /bogus/)
    await assert.rejects(main(["--train", "a.mmc"]), /--train needs --test/)
  })

  it("a mini-batch's values: one offset per distinct key, changes pushed as deltas, nothing lost", async () => {
    const cluster = await Cluster.local({
      nodes: 2,
      tables: [
        { name: "other", keys: 4, length: 1 },
        { name: "t", keys: 10, length: 3, init: (key, v) => v.fill(key) },
      ],
      policy: "static",
    })
    try {
      const t = cluster.table("t")
      const [mine, theirs] = [cluster.node(0).worker(), cluster.node(1).worker()]
      const batch = new BatchValues(t, 3)
      const offsets = [7, 9, 7, 4].map((k) => batch.offsetOf(k))
      assert.deepEqual(offsets, [0, 3, 0, 6], "a repeated key keeps its first offset")
      assert.equal(batch.count, 3)
      assert.throws(() => batch.offsetOf(5), /more than 3 distinct keys/)
      assert.throws(() => batch.offsetOf(3), /not in the table \[4, 14\)/)
      assert.throws(() => batch.offsetOf(14), /not in the table/)
      // Keys 7 and 9 (home node 1) are remote from node 0: tryPull fails, pull fetches.
      assert.equal(batch.tryPull(mine), false)
      await batch.pull(mine)
      assert.deepEqual([...batch.values.subarray(0, 9)], [7, 7, 7, 9, 9, 9, 4, 4, 4])
      // Another worker's update lands between this batch's pull and push.
      theirs.push([7], Float32Array.of(100, 100, 100))
      for (let i = 0; i < 9; i++) batch.values[i] += 0.5 * (i + 1)
      batch.push(mine)
      assert.equal(batch.count, 0, "a push empties the batch")
      await Promise.all([mine.barrier(), theirs.barrier()])
      const after = await mine.pull([7, 9, 4])
      const expected = [7, 7, 7, 9, 9, 9, 4, 4, 4].map((v, i) =>
        v + 0.5 * (i + 1) + (i < 3 ? 100 : 0)
      )
      assert.deepEqual([...after], expected)
      // The next mini-batch starts from nothing: key 9 gets offset 0 again.
      assert.equal(batch.offsetOf(9), 0)
    } finally {
      await cluster.close()
    }
  })
})
