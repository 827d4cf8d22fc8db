/**
 * Tests of the word-vector example (examples/word2vec.ts): through its
 * public flags, on a small planted-topic corpus, words' nearest neighbours
 * come from their own topic (the synthetic gate of DATA.md, ≥ 0.8, where
 * chance is about one in ten topics) and the JSON fields are written;
 * `--plain` (no parameter manager, the benchmark's ceiling) trains the same
 * algorithm, its losses close to roam's on one node (negatives are drawn
 * differently, so not equal); the synonym AUC is 1 for perfectly separated
 * vectors and bad flags fail naming the flag.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { main } from "../examples/word2vec.ts"
import { synonymAuc, topicShare } from "../examples/lib/w2v_model.ts"

describe("word2vec example", () => {
  it("recovers planted topics through its flags", async () => {
    const json = join(mkdtempSync(join(tmpdir(), "roam-w2v-")), "out.json")
    await main([
      "--synthetic",
      "10,50,4000",
      "--dim",
      "32",
      "--nodes",
      "2",
      "--workers",
      "2",
      "--epochs",
      "3",
      "--seed",
      "5",
      "--quiet",
      "--json",
      json,
    ])
    const { final, epochs } = JSON.parse(readFileSync(json, "utf8"))
    assert.equal(epochs.length, 3)
    assert.ok(final.quality.topicShare >= 0.8, `topic share ${final.quality.topicShare}`)
    assert.ok(final.localShare > 0 && final.localShare <= 1)
    assert.ok(final.secondsPerEpoch > 0)
    assert.ok(final.bytesPerEpoch > 0, "two nodes exchange frames")
  })

  it("--plain trains the same algorithm as roam on one node", async () => {
    const common = ["--synthetic", "6,30,1500", "--dim", "16", "--epochs", "2", "--quiet"]
    const roam = await main([...common, "--nodes", "1"])
    const plain = await main([...common, "--plain"])
    for (let e = 0; e < 2; e++) {
      const [a, b] = [roam!.epochs[e].quality.trainLoss, plain!.epochs[e].quality.trainLoss]
      assert.ok(Math.abs(a - b) <= 0.05 * a, `epoch ${e + 1}: roam ${a}, plain ${b}`)
      assert.equal(roam!.epochs[e].dataPoints, plain!.epochs[e].dataPoints, "same subsampling")
    }
    assert.equal(plain!.final.bytesPerEpoch, 0)
  })

  it("measures topic share and synonym AUC on hand-made vectors", () => {
    // Words 0, 1 point one way, words 2, 3 the other (with a little spread).
    const vectors = Float32Array.from([1, 0.1, 1, 0.2, -1, 0.1, -1, 0.2])
    const eligible = Uint32Array.from([0, 1, 2, 3])
    const share = topicShare(vectors, 2, {
      eligible,
      topicOf: (w) => (w < 2 ? 0 : 1),
      queries: 4,
      seed: 1,
    })
    // Of 10 neighbours only 3 exist; the nearest is always same-topic: 1 of 10 slots counted.
    assert.ok(share > 0)
    const auc = synonymAuc(vectors, 2, { pairs: Uint32Array.from([0, 1, 2, 3]), seed: 1 })
    assert.ok(auc > 0.6, `AUC ${auc}`)
  })

  it("refuses bad flags, naming the flag", async () => {
    await assert.rejects(main(["--synthetic", "2,3"]), /--synthetic must be 3 comma-separated/)
    await assert.rejects(main(["--epochs", "1"]), /give exactly one data source/)
    await assert.rejects(main(["--synthetic", "2,10,50", "--window", "0"]), /--window must be/)
  })
})
