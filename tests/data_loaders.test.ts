/**
 * Tests of the example data loaders against small fixtures written here:
 * Matrix Market (round trip, and every kind of malformed file fails with a
 * `SyntaxError` naming the line), MovieLens `ratings.csv`, the WordNet
 * pointer parser and the WN18RR-like filter, the tagged-corpus tokenizer
 * and synonym pairs, the train/test split, and the seeded synthetic
 * generators (deterministic, skewed, duplicate-free, the requested sizes).
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { formatMatrixMarket, parseMatrixMarket } from "../examples/data/matrix_market.ts"
import { parseMovieLensCsv, splitRatings } from "../examples/data/ratings.ts"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  parseWordNetData,
  readWordNet,
  wn18rrLike,
  wordNetTriples,
} from "../examples/data/wordnet.ts"
import {
  buildCorpus,
  readBrownCorpus,
  synonymPairs,
  tokenizeTagged,
} from "../examples/data/corpus.ts"
import { syntheticCorpus, syntheticGraph, syntheticRatings } from "../examples/data/synthetic.ts"

const MM = `%%MatrixMarket matrix coordinate real general
% a comment
3 4 3
1 1 2.5
3 4 -1
2 2 1e-1
`

describe("Matrix Market reader", () => {
  it("reads a coordinate file as 0-based ratings and round-trips", () => {
    const r = parseMatrixMarket(MM)
    assert.equal(r.rows, 3)
    assert.equal(r.cols, 4)
    assert.deepEqual([...r.row], [0, 2, 1])
    assert.deepEqual([...r.col], [0, 3, 1])
    assert.deepEqual([...r.value], [2.5, -1, Math.fround(0.1)])
    assert.deepEqual(parseMatrixMarket(formatMatrixMarket(r, "again")), r)
  })

  const malformed: [string, string, RegExp][] = [
    ["a missing banner", "3 4 1\n1 1 1\n", /x\.mmc:1: expected a '%%MatrixMarket' banner/],
    ["an array file", MM.replace("coordinate", "array"), /x\.mmc:1: only 'matrix coordinate'/],
    ["complex values", MM.replace("real", "complex"), /x\.mmc:1: only real or integer/],
    ["a symmetric matrix", MM.replace("general", "symmetric"), /x\.mmc:1: only 'general'/],
    ["a bad size line", MM.replace("3 4 3", "3 4"), /x\.mmc:3: expected a size line/],
    ["a row out of range", MM.replace("3 4 -1", "4 4 -1"), /x\.mmc:5: row '4' not in 1\.\.3/],
    ["a zero column", MM.replace("1 1 2.5", "1 0 2.5"), /x\.mmc:4: column '0' not in 1\.\.4/],
    ["a non-numeric value", MM.replace("2.5", "abc"), /x\.mmc:4: value 'abc' is not a finite/],
    ["a missing value", MM.replace("3 4 -1", "3 4"), /x\.mmc:5: expected 'row col value'/],
    ["too many entries", MM + "1 2 3\n", /x\.mmc:7: more entries than the 3/],
    ["too few entries", MM.replace("3 4 3", "3 4 5"), /found 3 entries, the size line declares 5/],
    ["no size line", "%%MatrixMarket matrix coordinate real general\n% only\n", /missing the size/],
  ]
  for (const [what, text, error] of malformed) {
    it(`refuses ${what}, naming the line`, () => {
      assert.throws(() => parseMatrixMarket(text, "x.mmc"), (e: Error) => {
        assert.ok(e instanceof SyntaxError)
        assert.match(e.message, error)
        return true
      })
    })
  }
})

describe("MovieLens ratings.csv reader", () => {
  it("reads ratings with dense ids in order of first appearance", () => {
    const csv = "userId,movieId,rating,timestamp\n5,100,4.0,1\n5,7,3.5,2\r\n9,100,1,3\n\n"
    const r = parseMovieLensCsv(csv)
    assert.equal(r.rows, 2)
    assert.equal(r.cols, 2)
    assert.deepEqual([...r.row], [0, 0, 1])
    assert.deepEqual([...r.col], [0, 1, 0])
    assert.deepEqual([...r.value], [4, 3.5, 1])
  })

  it("refuses a missing header or a malformed line, naming the line", () => {
    assert.throws(() => parseMovieLensCsv("a,b\n1,2\n", "r.csv"), /r\.csv:1: expected a header/)
    assert.throws(
      () => parseMovieLensCsv("userId,movieId,rating,timestamp\n1,2,3,4\n1,x,3,4\n", "r.csv"),
      /r\.csv:3: malformed rating line '1,x,3,4'/,
    )
  })

  it("splits ratings reproducibly by seed", () => {
    const r = syntheticRatings({ rows: 50, cols: 40, nnz: 400, seed: 3 })
    const a = splitRatings(r, { testShare: 0.2, seed: 9 })
    const b = splitRatings(r, { testShare: 0.2, seed: 9 })
    assert.equal(a.test.value.length, 80)
    assert.equal(a.train.value.length, 320)
    assert.deepEqual(a, b)
  })
})

const WORDNET = `  1 This software and database is being provided to you, the LICENSEE, by  
  2 Princeton University under the following license.  
00001740 03 n 02 entity 0 Thing(a) 1 002 ~ 00002000 n 0000 + 00003000 v 0101 | that which exists  
00002000 03 n 01 physical_entity 0 002 @ 00001740 n 0000 ;c 00001740 n 0000 | an entity  
00003000 29 v 02 exist 0 be 0 001 + 00001740 n 0101 01 + 02 00 | have an existence  
00004000 00 s 02 big 0 large 0 001 & 00005000 a 0000 | above average in size  
`

describe("WordNet pointer parser", () => {
  it("parses synsets, words and pointers, skipping the licence header", () => {
    const synsets = parseWordNetData(WORDNET)
    assert.deepEqual(synsets.map((s) => s.id), ["n00001740", "n00002000", "v00003000", "a00004000"])
    assert.deepEqual(synsets[0].words, ["entity", "thing"])
    assert.deepEqual(synsets[0].pointers, [
      { symbol: "~", target: "n00002000" },
      { symbol: "+", target: "v00003000" },
    ])
    assert.deepEqual(synsets[2].words, ["exist", "be"])
    assert.deepEqual(synsets[3].pointers, [{ symbol: "&", target: "a00005000" }])
  })

  it("lists distinct triples, optionally of some relations", () => {
    const synsets = parseWordNetData(WORDNET + WORDNET.split("\n")[2] + "\n")
    assert.equal(wordNetTriples(synsets).length, 6)
    assert.deepEqual(wordNetTriples(synsets, ["@"]), [
      { head: "n00002000", relation: "@", tail: "n00001740" },
    ])
  })

  it("names the line of a malformed synset", () => {
    const bad = WORDNET.replace("002 @ 00001740", "002 @ 0000174x")
    assert.throws(() => parseWordNetData(bad, "data.noun"), /data\.noun:4: pointer 1 of 2/)
    assert.throws(() => parseWordNetData("xyz 1 n\n", "data.noun"), /data\.noun:1: expected/)
  })

  it("builds a WN18RR-like graph: degree filter, 11 relations, split without unseen entities", () => {
    // A hub with 6 hypernym children and one hyponym pointer back (dropped: not WN18RR).
    const lines = ["00000100 03 n 01 hub 0 001 ~ 00000201 n 0000 | hub  "]
    for (let i = 1; i <= 6; i++) {
      const pointers = Array.from({ length: 6 }, (_, j) => `+ 0000020${(i + j) % 6 + 1} n 0000`)
      lines.push(`0000020${i} 03 n 01 c${i} 0 007 @ 00000100 n 0000 ${pointers.join(" ")} | c  `)
    }
    const graph = wn18rrLike(parseWordNetData(lines.join("\n")), {
      seed: 1,
      shares: [0.5, 0.25, 0.25],
    })
    assert.deepEqual([...graph.relationNames].sort(), ["+", "@"])
    assert.ok(!graph.relationNames.includes("~"))
    const total = graph.train.length + graph.valid.length + graph.test.length
    assert.ok(graph.train.length / 3 >= 21 && total / 3 <= 42)
    const seen = new Set<number>()
    for (let i = 0; i < graph.train.length; i += 3) seen.add(graph.train[i]).add(graph.train[i + 2])
    for (const split of [graph.valid, graph.test]) {
      for (let i = 0; i < split.length; i += 3) {
        assert.ok(seen.has(split[i]) && seen.has(split[i + 2]))
      }
    }
  })
})

describe("corpus tokenizer", () => {
  it("strips /tags, lower-cases, drops punctuation, keeps sentences", () => {
    const text =
      "\n\n\tThe/at Fulton/np-tl County's/nn$ ``/`` 1/2/cd ./.\n\n\tIt/pps was/bedz ,/, ok/jj\n"
    assert.deepEqual(tokenizeTagged(text), [["the", "fulton", "county's", "1/2"], [
      "it",
      "was",
      "ok",
    ]])
  })

  it("builds a corpus by descending count with min count", () => {
    const c = buildCorpus([["a", "b", "a"], ["c", "a", "b"], ["c"]], 2)
    assert.deepEqual(c.vocabulary, ["a", "b", "c"])
    const d = buildCorpus([["a", "b", "a"], ["z"], ["b"]], 2)
    assert.deepEqual(d.vocabulary, ["a", "b"])
    assert.deepEqual([...d.tokens], [0, 1, 0, 1])
    assert.deepEqual([...d.sentenceStarts], [0, 3, 4])
    assert.deepEqual([...d.counts], [2, 2])
  })

  it("lists single-word synonym pairs once, restricted to a vocabulary", () => {
    const synsets = parseWordNetData(WORDNET + "00009000 03 n 02 thing 0 entity 0 000 | x  \n")
    assert.deepEqual(synonymPairs(synsets), [["entity", "thing"], ["be", "exist"], [
      "big",
      "large",
    ]])
    assert.deepEqual(synonymPairs(synsets, new Set(["big", "large", "be"])), [["big", "large"]])
  })
})

describe("reading installed data packages", () => {
  it("reads a WordNet dict directory and a Brown corpus directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "roam-data-"))
    const [noun, verb, adj, adv] = WORDNET.split("\n").slice(2)
    for (const [pos, line] of [["noun", noun], ["verb", verb], ["adj", adj], ["adv", adv]]) {
      writeFileSync(join(dir, `data.${pos}`), `  1 licence  \n${line}\n`)
    }
    assert.deepEqual(readWordNet(dir).map((s) => s.id), [
      "n00001740",
      "n00002000",
      "v00003000",
      "a00004000",
    ])
    writeFileSync(join(dir, "cb02"), "\n\tSecond/at file/nn ./.\n")
    writeFileSync(join(dir, "ca01"), "\n\tFirst/at file/nn ./.\n")
    writeFileSync(join(dir, "README"), "not/xx corpus/nn")
    assert.deepEqual(readBrownCorpus(dir), [["first", "file"], ["second", "file"]])
    assert.throws(() => readBrownCorpus(join(dir, "..")), /no Brown corpus files/)
  })
})

describe("synthetic generators", () => {
  it("draws distinct Zipf-skewed cells reproducibly", () => {
    const a = syntheticRatings({ rows: 500, cols: 300, nnz: 3000, seed: 5 })
    assert.deepEqual(a, syntheticRatings({ rows: 500, cols: 300, nnz: 3000, seed: 5 }))
    assert.notDeepEqual(
      a.value,
      syntheticRatings({ rows: 500, cols: 300, nnz: 3000, seed: 6 }).value,
    )
    const cells = new Set(Array.from(a.row, (r, i) => r * 300 + a.col[i]))
    assert.equal(cells.size, 3000)
    const perRow = new Uint32Array(500)
    for (const r of a.row) perRow[r]++
    const sorted = [...perRow].sort((x, y) => y - x)
    // Skew: the top 5% of rows hold far more than 5% of the cells.
    assert.ok(sorted.slice(0, 25).reduce((x, y) => x + y, 0) > 0.25 * 3000)
    // Ids are permuted: the hottest row is not simply row 0.
    assert.ok(perRow.indexOf(sorted[0]) !== 0 || perRow.indexOf(sorted[1]) !== 1)
    assert.throws(
      () => syntheticRatings({ rows: 10, cols: 10, nnz: 90, seed: 1 }),
      /more than half/,
    )
  })

  it("makes graphs and corpora of the requested size", () => {
    const g = syntheticGraph({ entities: 200, relations: 4, triples: 1000, seed: 2 })
    assert.equal(g.head.length, 1000)
    assert.ok(g.head.every((h, i) => h < 200 && g.tail[i] < 200 && h !== g.tail[i]))
    const c = syntheticCorpus({ topics: 3, wordsPerTopic: 10, sentences: 20, seed: 2 })
    assert.equal(c.vocabulary.length, 30)
    assert.equal(c.sentenceStarts.length, 21)
    for (let s = 0; s < 20; s++) {
      const topic = c.topicOf(c.tokens[c.sentenceStarts[s]])
      for (let i = c.sentenceStarts[s]; i < c.sentenceStarts[s + 1]; i++) {
        assert.equal(c.topicOf(c.tokens[i]), topic)
      }
    }
  })
})
