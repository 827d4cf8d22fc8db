/**
 * Tests of the knowledge-graph embedding example (examples/kge.ts): through
 * its public flags, on a small synthetic Zipf graph, ComplEx and DistMult
 * reach a filtered MRR far above that of a random ranking and write the JSON
 * the benchmark report reads; `--plain` (no parameter manager, the
 * benchmark's ceiling) trains the same algorithm, its losses close to roam's
 * on one node (the negatives are drawn differently, so not equal); bad flags
 * fail naming the flag.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { main } from "../examples/kge.ts"
import { answerFilter, type KgeHyper, rankMetrics } from "../examples/lib/kge_model.ts"

const ENTITIES = 500
/** Expected MRR of a uniformly random ranking of n candidates: H_n / n. */
const randomMrr = (n: number) => {
  let h = 0
  for (let i = 1; i <= n; i++) h += 1 / i
  return h / n
}

const args = (model: string, json: string) => [
  "--synthetic",
  `${ENTITIES},4,8000`,
  "--model",
  model,
  "--dim",
  "32",
  "--negatives",
  "64",
  "--nodes",
  "2",
  "--workers",
  "2",
  "--epochs",
  "4",
  "--eval",
  "200",
  "--seed",
  "3",
  "--quiet",
  "--json",
  json,
]

describe("kge example", () => {
  for (const model of ["complex", "distmult"]) {
    it(`${model} learns the synthetic graph through its flags`, async () => {
      const json = join(mkdtempSync(join(tmpdir(), "roam-kge-")), "out.json")
      await main(args(model, json))
      const { final, epochs } = JSON.parse(readFileSync(json, "utf8"))
      assert.equal(epochs.length, 4)
      // Random ranking gives MRR ≈ 0.014 and Hits@10 = 0.02 here; seen: ≈ 0.10 and ≈ 0.2.
      assert.ok(final.quality.mrr > 5 * randomMrr(ENTITIES), `MRR ${final.quality.mrr}`)
      assert.ok(final.quality.hits10 > 5 * 10 / ENTITIES, `Hits@10 ${final.quality.hits10}`)
      assert.ok(final.quality.hits1 <= final.quality.hits10)
      assert.ok(epochs[3].quality.trainLoss < epochs[0].quality.trainLoss)
      assert.ok(final.localShare > 0 && final.localShare <= 1)
      assert.ok(final.secondsPerEpoch > 0)
      assert.ok(final.bytesPerEpoch > 0, "two nodes exchange frames")
    })
  }

  it("--plain trains the same algorithm as roam on one node", async () => {
    const flags = ["--synthetic", "300,4,4000", "--dim", "16", "--negatives", "32", "--quiet"]
    const common = [...flags, "--epochs", "3", "--eval", "100", "--seed", "5"]
    const roam = await main([...common, "--nodes", "1"])
    const plain = await main([...common, "--plain"])
    for (let e = 0; e < 3; e++) {
      const [a, b] = [roam!.epochs[e].quality.trainLoss, plain!.epochs[e].quality.trainLoss]
      assert.ok(Math.abs(a - b) <= 0.05 * a, `epoch ${e + 1}: roam ${a}, plain ${b}`)
    }
    assert.equal(plain!.final.bytesPerEpoch, 0)
    assert.ok(plain!.final.quality.mrr > 3 * randomMrr(300), `MRR ${plain!.final.quality.mrr}`)
  })

  it("ranks with the filter: other true answers do not count against the target", () => {
    const hyper: KgeHyper = {
      model: "distmult",
      dim: 1,
      rate: 0,
      lambda: 0,
      negatives: 1,
      seed: 0,
    }
    // From entity 1 under relation 0, entity c scores c (embedding c, relation embedding 1).
    const entities = Float32Array.from([0, 0, 1, 0, 2, 0, 3, 0])
    const relations = Float32Array.from([1, 0, 1, 0])
    const test = Uint32Array.from([1, 0, 2])
    const model = { entities, relations, relationCount: 1 }
    // Unfiltered, entity 3 outranks the answer 2 for the tail query.
    const plain = rankMetrics(hyper, model, test, new Map())
    const filter = answerFilter(1, [Uint32Array.from([1, 0, 3]), test])
    const filtered = rankMetrics(hyper, model, test, filter)
    assert.ok(filtered.mrr > plain.mrr)
  })

  it("refuses bad flags, naming the flag", async () => {
    await assert.rejects(main(["--synthetic", "10,2"]), /--synthetic must be 3 comma-separated/)
    await assert.rejects(main(["--epochs", "1"]), /give exactly one data source/)
    await assert.rejects(
      main(["--synthetic", "50,2,200", "--model", "transe"]),
      /--model must be complex or distmult/,
    )
    await assert.rejects(main(["--synthetic", "50,2,200", "--dim", "7"]), /--dim must be even/)
  })
})
