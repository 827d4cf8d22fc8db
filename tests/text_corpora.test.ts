/**
 * Tests of the larger word-vector corpora (examples/data/gcide.ts,
 * austen.ts, debian.ts, corpora.ts) against fixtures written here: a tiny
 * GCIDE database in dictd's format (a base64 index and a real dictzip file:
 * gzip with the `RA` chunk table in its extra field and independently
 * flushed deflate chunks), entries shaped like the real ones, whose `Syn:`
 * blocks, `[...]` tags, pronunciations and attributions must not reach the
 * sentences; a lazy-load R database holding novels as character vectors;
 * the package search and its fetch instructions; and word2vec run through
 * `--corpus austen --data-dir`.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { constants, deflateRawSync } from "node:zlib"
import { textWords } from "../examples/data/corpus.ts"
import {
  dropSynonymBlocks,
  gcideEntrySentences,
  parseDictdIndex,
  readGcide,
  removeBracketed,
  replaceEntities,
} from "../examples/data/gcide.ts"
import { paragraphSentences, readAusten } from "../examples/data/austen.ts"
import { DebianDataMissing, findDebianData, requireDebianData } from "../examples/data/debian.ts"
import { AUSTEN_DATA, GCIDE_DATA, readCorpusSentences } from "../examples/data/corpora.ts"
import { main } from "../examples/word2vec.ts"
import { writeDb, XdrWriter } from "./_r_writer.ts"

/** An entry shaped like GCIDE's Webster ones: etymology across lines, senses, quotes, Syn:. */
const FORSAKE = `Forsake \\For*sake"\\ (f[o^]r*s[=a]k"), v. t. [imp. {Forsook}; p. p.
   {Forsaken}.] [OE. forsaken, AS. forsacan [=a]n.]
   1. To quit or leave entirely; to desert. [Obs.]
      [1913 Webster]

            Do not forsake me now.               --Anon.
      [1913 Webster]

   Syn: To abandon; desert; quit; leave; relinquish;
        renounce.
        [1913 Webster]

   Usage: {To Forsake}, {Desert}. These differ in degree.
          [1913 Webster]
`

/** A WordNet-derived entry: its Syn: line is a synset, and must go. */
const CONDENSED = `condensed \\condensed\\ adj.
   1. shortened by rewriting; -- said of a text
      [Narrower terms: {potted}]

   Syn: abridged, shortened
        [WordNet 1.5]
`

const FORSAKE_SENTENCES = [
  ["forsake", "to", "quit", "or", "leave", "entirely", "to", "desert"],
  ["forsake", "do", "not", "forsake", "me", "now"],
  ["forsake", "usage", "to", "forsake", "desert", "these", "differ", "in", "degree"],
]

describe("GCIDE cleaning", () => {
  it("drops Syn: blocks with their continuation lines, keeping what follows", () => {
    const lines = ["   1. A sense.", "   Syn: a; b;", "        c.", "", "   Note: kept."]
    assert.deepEqual(dropSynonymBlocks(lines), ["   1. A sense.", "", "   Note: kept."])
    assert.deepEqual(dropSynonymBlocks(["   Syn: x", "Next \\Next\\ n."]), ["Next \\Next\\ n."])
  })

  it("removes [...] spans, nested and across lines, and stray brackets alone", () => {
    assert.equal(removeBracketed("a [OE. x [=a]y\n z.] b [Obs.]"), "a  b ")
    assert.equal(removeBracketed("a ] b [ c"), "a  b  c")
    assert.equal(removeBracketed("[x [y] z] w [v"), " w v")
  })

  it("turns character entities into letters before tags are removed", () => {
    assert.equal(
      replaceEntities("caf['e] r[^o]le [ae]on f[=a]k [1913 Webster] [a]"),
      "cafe role aeon fak [1913 Webster] [a]",
    )
  })

  it("splits an entry into headword-led paragraphs without tags, pronunciations or sources", () => {
    assert.deepEqual(gcideEntrySentences(FORSAKE), FORSAKE_SENTENCES)
    assert.deepEqual(gcideEntrySentences(CONDENSED), [
      ["condensed", "shortened", "by", "rewriting", "said", "of", "a", "text"],
    ])
    const words = gcideEntrySentences(FORSAKE + CONDENSED).flat()
    for (const leak of ["abandon", "relinquish", "abridged", "webster", "obs", "anon", "potted"]) {
      assert.ok(!words.includes(leak), `'${leak}' leaked into the corpus`)
    }
  })

  it("tokenizes running text: inner apostrophes and hyphens, no numbers or marks", () => {
    assert.deepEqual(
      textWords("Mr. Darcy’s _self-control_ -- 1811, 3rd; don't 'quote'"),
      ["mr", "darcy's", "self-control", "3rd", "don't", "quote"],
    )
  })
})

/** CRC-32 (IEEE), which the gzip trailer holds. */
function crc32(data: Uint8Array): number {
  let crc = ~0
  for (const byte of data) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1))
  }
  return ~crc >>> 0
}

/** A dictzip file: gzip with FEXTRA `RA` (version, chunk length, chunk sizes) and FNAME. */
function dictzip(data: Uint8Array, chunk = 64): Uint8Array {
  const chunks: Uint8Array[] = []
  for (let at = 0; at < data.length; at += chunk) {
    const last = at + chunk >= data.length
    // Each chunk is deflated alone and ends with a full flush, so it decodes alone.
    chunks.push(deflateRawSync(data.subarray(at, at + chunk), {
      finishFlush: last ? constants.Z_FINISH : constants.Z_FULL_FLUSH,
    }))
  }
  const le16 = (n: number) => [n & 0xff, n >>> 8]
  const ra = [...le16(1), ...le16(chunk), ...le16(chunks.length)]
  for (const c of chunks) ra.push(...le16(c.length))
  const header = [0x1f, 0x8b, 8, 4 | 8, 0, 0, 0, 0, 2, 3, ...le16(4 + ra.length)]
  header.push(0x52, 0x41, ...le16(ra.length), ...ra, ...new TextEncoder().encode("gcide.dict"), 0)
  const trailer = new Uint8Array(8)
  new DataView(trailer.buffer).setUint32(0, crc32(data), true)
  new DataView(trailer.buffer).setUint32(4, data.length, true)
  const parts = [Uint8Array.from(header), ...chunks, trailer]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0)
  return out
}

/** dictd's base64 numbers. */
function b64(n: number): string {
  const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  let s = ""
  do s = digits[n % 64] + s, n = Math.floor(n / 64)
  while (n > 0)
  return s
}

/** Write a GCIDE database under `root` as dpkg-deb -x would; returns the data directory. */
function writeGcide(root: string): string {
  const dir = join(root, GCIDE_DATA.path)
  mkdirSync(dir, { recursive: true })
  const info = "00-database-info\n   Licence text, not a definition.\n\n"
  const text = new TextEncoder().encode(info + FORSAKE + "\n" + CONDENSED)
  const forsake = new TextEncoder().encode(info).length
  const condensed = forsake + new TextEncoder().encode(FORSAKE + "\n").length
  const index = [
    ["00-database-info", 0, forsake],
    ["condensed", condensed, text.length - condensed],
    ["Forsake", forsake, condensed - forsake],
    ["forsaken", forsake, condensed - forsake], // A variant sharing the entry: read once.
  ].map(([w, o, l]) => `${w}\t${b64(o as number)}\t${b64(l as number)}\n`).join("")
  writeFileSync(join(dir, "gcide.index"), index)
  writeFileSync(join(dir, "gcide.dict.dz"), dictzip(text))
  return dir
}

describe("GCIDE database", () => {
  it("parses a dictd index of base64 offsets, naming a bad line", () => {
    assert.deepEqual(parseDictdIndex("a\tB\t+/\n"), [{ headword: "a", offset: 1, length: 4031 }])
    assert.throws(() => parseDictdIndex("a\tB\t*\n", "x.index"), /x\.index:1: '\*' is not/)
    assert.throws(() => parseDictdIndex("a b\n", "x.index"), /x\.index:1: expected 3/)
  })

  it("reads a dictzip database through its index, skipping the 00-database entries", () => {
    const dir = writeGcide(mkdtempSync(join(tmpdir(), "roam-gcide-")))
    assert.deepEqual(readGcide(dir), [
      ...FORSAKE_SENTENCES,
      ["condensed", "shortened", "by", "rewriting", "said", "of", "a", "text"],
    ])
    writeFileSync(join(dir, "gcide.index"), `x\tB\t${b64(1 << 20)}\n`)
    assert.throws(() => readGcide(dir), /'x' runs past the end of the dictionary/)
  })
})

/** Two short "novels" as R keeps them: a character vector of lines, blank between paragraphs. */
function writeNovels(root: string): string {
  const dir = join(root, AUSTEN_DATA.path)
  mkdirSync(dir, { recursive: true })
  const emma = ["EMMA", "", "CHAPTER I", "", "Emma Woodhouse, handsome, clever,", "and rich."]
  const persuasion = ["Persuasion", null, "Sir Walter _Elliot_ was vain.", "", ""]
  writeDb({
    emma: new XdrWriter(3).characterVector(emma),
    persuasion: new XdrWriter(2).characterVector(persuasion),
    frame: new XdrWriter(3).dataFrame({ x: { int: [1] } }),
  }, { dir })
  return dir
}

describe("Austen novels", () => {
  it("joins lines into paragraphs of words", () => {
    assert.deepEqual(paragraphSentences(["A b,", "c.", "", null, "D", ""]), [["a", "b", "c"], [
      "d",
    ]])
  })

  it("reads character vectors from a lazy-load database, refusing other objects", () => {
    const dir = writeNovels(mkdtempSync(join(tmpdir(), "roam-austen-")))
    assert.deepEqual(readAusten(dir, ["emma", "persuasion"]), [
      ["emma"],
      ["chapter", "i"],
      ["emma", "woodhouse", "handsome", "clever", "and", "rich"],
      ["persuasion"],
      ["sir", "walter", "elliot", "was", "vain"],
    ])
    assert.throws(() => readAusten(dir, ["frame"]), /\[frame\]: expected a character vector/)
    assert.throws(() => readAusten(dir), /no object 'sensesensibility'/)
  })
})

describe("finding the Debian packages", () => {
  it("finds a package under a root or in the directory named, else says how to fetch it", () => {
    const root = mkdtempSync(join(tmpdir(), "roam-debian-"))
    const dir = writeGcide(root)
    assert.equal(findDebianData(GCIDE_DATA, root), dir)
    assert.equal(findDebianData(GCIDE_DATA, dir), dir)
    assert.equal(findDebianData(AUSTEN_DATA, root), undefined)
    assert.throws(() => requireDebianData(AUSTEN_DATA, root), (error: Error) => {
      assert.ok(error instanceof DebianDataMissing)
      assert.match(error.message, /'r-cran-janeaustenr' not found/)
      assert.ok(error.message.includes(`mkdir -p ${root} && cd ${root}`), error.message)
      assert.match(error.message, /apt-get download r-cran-janeaustenr && dpkg-deb -x r-cran-/)
      return true
    })
    // A missing package fails before any other is read.
    assert.throws(() => readCorpusSentences("combined", { dataDir: root }), DebianDataMissing)
    writeNovels(root)
    assert.equal(readCorpusSentences("gcide", { dataDir: root }).length, 4)
    assert.throws(() => readCorpusSentences("austen", { dataDir: root }), /no object 'sense/)
  })

  it("trains word2vec through --corpus and --data-dir", async () => {
    const root = mkdtempSync(join(tmpdir(), "roam-debian-"))
    writeGcide(root)
    const json = join(root, "out.json")
    const args = ["--corpus", "gcide", "--data-dir", root, "--min-count", "1", "--dim", "8"]
    await main([...args, "--nodes", "1", "--epochs", "1", "--quiet", "--json", json])
    const { final, settings } = JSON.parse(readFileSync(json, "utf8"))
    assert.ok(final.quality.auc >= 0 && final.quality.auc <= 1, `AUC ${final.quality.auc}`)
    assert.match(settings.source, /^gcide corpus \(31 tokens, 24 words, 1 synonym pair/)
    await assert.rejects(main(["--corpus", "nope"]), /--corpus must be one of brown, gcide/)
    await assert.rejects(main(["--corpus", "gcide", "--brown"]), /exactly one data source/)
  })
})
