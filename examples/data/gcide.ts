/**
 * The GCIDE dictionary (Debian `dict-gcide`) as sentences of words, for
 * training word vectors.
 *
 * The package installs a dictd database: `gcide.index` lists each headword
 * with the base64 offset and length of its entry in `gcide.dict.dz`, a
 * dictzip file (gzip with a random-access table in its extra field, so plain
 * gunzip reads it). The index is what delimits entries: the text has no
 * other reliable boundary (the licence preamble and wrapped headword lines
 * start at column 0 too), and the `00-database-*` headwords are metadata.
 *
 * An entry is a headword line (`Abandon \A*ban"don\ (pron), v. t. [etym]`),
 * then paragraphs of senses, quotations, notes and synonym blocks. Cleaning
 * keeps the prose: it drops the `Syn:` blocks (their word lists are close to
 * WordNet's synsets, so keeping them would leak the synonym evaluation),
 * every `[...]` span (source tags such as `[1913 Webster]`, `[Obs.]`,
 * etymologies, nested or across lines), pronunciations, syllable marks and
 * `--Author` attributions, and turns the `[a^]`-style character entities
 * into plain letters first so that they do not read as tags. Each paragraph
 * becomes one sentence led by the entry's headword, so that a definition
 * ("To give up; to forsake ...") sits in the context window of the word it
 * defines, which is the dictionary's own way of saying they are related.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { textWords } from "./corpus.ts"

/** One entry of a dictd index: the headword and its byte range in the dictionary. */
export interface DictdEntry {
  readonly headword: string
  readonly offset: number
  readonly length: number
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/** A dictd number: base64 digits, most significant first. */
function base64Number(text: string, where: string): number {
  let n = 0
  for (const c of text) {
    const digit = BASE64.indexOf(c)
    if (digit < 0) throw new SyntaxError(`${where}: '${text}' is not a base64 number`)
    n = n * 64 + digit
  }
  return n
}

/** The lines of a dictd `.index` file: `headword TAB offset TAB length`. */
export function parseDictdIndex(text: string, source = "<index>"): DictdEntry[] {
  const entries: DictdEntry[] = []
  text.split("\n").forEach((line, i) => {
    if (line === "") return
    const fields = line.split("\t")
    const where = `${source}:${i + 1}`
    if (fields.length < 3) throw new SyntaxError(`${where}: expected 3 tab-separated fields`)
    entries.push({
      headword: fields[0],
      offset: base64Number(fields[1], where),
      length: base64Number(fields[2], where),
    })
  })
  return entries
}

/** Character entities with more than one letter or marker: `[ae]` is æ, `[imac]` ī ... */
const ENTITIES: Record<string, string> = {
  ae: "ae",
  AE: "AE",
  oe: "oe",
  OE: "OE",
  "=ae": "ae",
  "=oo": "oo",
  "oo^": "oo",
  imac: "i",
  eth: "th",
  th: "th",
  ng: "ng",
  aum: "a",
  asl: "a",
  udd: "u",
  yogh: "y",
}

/** `[a^]`, `[=e]`, `['e]`, `["o]`, `[.a]`, `[~n]`, `[,c]` ...: one letter and a diacritic mark. */
const ONE_LETTER_ENTITY = /\[[=~'`".,*^-]?([A-Za-z])\^?\]/g

/** Replace character entities by plain letters, leaving other bracketed text alone. */
export function replaceEntities(text: string): string {
  return text.replace(/\[([A-Za-z=^]{2,4})\]/g, (all, name) => ENTITIES[name] ?? all)
    .replace(ONE_LETTER_ENTITY, (all, letter) => all.length > 3 ? letter : all)
}

/**
 * Remove every `[...]` span, nested spans included. An unmatched `[` or `]`
 * is dropped alone, so a stray bracket cannot swallow the rest of the text.
 */
export function removeBracketed(text: string): string {
  const drop = new Uint8Array(text.length)
  const open: number[] = []
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "[") open.push(i)
    else if (text[i] === "]") {
      const from = open.pop()
      drop.fill(1, from ?? i, i + 1)
    }
  }
  for (const i of open) drop[i] = 1
  let out = ""
  for (let i = 0; i < text.length; i++) if (drop[i] === 0) out += text[i]
  return out
}

/**
 * The entry's lines without its `Syn:` blocks: a line whose text starts with
 * `Syn:`, and the lines after it that are indented deeper (its continuation).
 */
export function dropSynonymBlocks(lines: readonly string[]): string[] {
  const kept: string[] = []
  let blockIndent = -1
  for (const line of lines) {
    const indent = line.length - line.trimStart().length
    if (blockIndent >= 0 && line.trim() !== "" && indent > blockIndent) continue
    blockIndent = -1
    if (line.trimStart().startsWith("Syn:")) blockIndent = indent
    else kept.push(line)
  }
  return kept
}

/** Pronunciations in parentheses: one run of non-blanks with accent or syllable marks. */
const PRONUNCIATION = /\((?=[^()\s]*["*`])[^()\s]*\)|\(-[^()\s]*\)/g
/** `--Milton.`, `--Shak.`: who a quotation is from, to the end of the line. */
const ATTRIBUTION = /(^|\s)--(?=[^\s-])[^\n]*/g

/** A body paragraph's text with marks, pronunciations and attributions removed. */
function cleanParagraph(text: string): string {
  return text
    .replace(/\\[^\\\n]*\\/g, " ")
    .replace(PRONUNCIATION, " ")
    .replace(/\{([^{}]*)\}/g, (_, inner: string) => inner.replace(/[*"`]/g, ""))
    .replace(ATTRIBUTION, "$1")
    .replace(/\(([a-z]|[ivx]+)\)/g, " ")
}

/** The sentences of one entry's text: each paragraph's words, led by the headword's. */
export function gcideEntrySentences(entry: string): string[][] {
  const lines = removeBracketed(replaceEntities(dropSynonymBlocks(entry.split("\n")).join("\n")))
    .split("\n")
  // The headword is what precedes the first pronunciation on the first line that has text.
  const first = lines.findIndex((line) => line.trim() !== "" && !/^\s/.test(line))
  if (first < 0) return []
  const slash = lines[first].indexOf("\\")
  const headword = textWords(slash < 0 ? lines[first] : lines[first].slice(0, slash))
  const sentences: string[][] = []
  let paragraph: string[] = []
  const flush = () => {
    const words = textWords(cleanParagraph(paragraph.join("\n")))
    if (words.length > 0) sentences.push([...headword, ...words])
    paragraph = []
  }
  for (const line of lines.slice(first + 1)) {
    // Lines at column 0 continue the headword line (variant spellings, part of speech).
    if (line.trim() === "") flush()
    else if (/^\s/.test(line)) paragraph.push(line)
  }
  flush()
  return sentences
}

/** The sentences of a dictd dictionary: its decompressed text and its index. */
export function gcideSentences(dictionary: Uint8Array, index: readonly DictdEntry[]): string[][] {
  const ranges = new Map<number, number>()
  for (const e of index) {
    // Metadata, not definitions: dictd's `00-database-*` and GCIDE's `00-gcide-*` and the like.
    if (e.headword.startsWith("00-")) continue
    if (e.offset + e.length > dictionary.length) {
      throw new SyntaxError(
        `index entry '${e.headword}' runs past the end of the dictionary ` +
          `(${e.offset} + ${e.length} > ${dictionary.length} bytes)`,
      )
    }
    // Several headwords (variant spellings) share one entry: read it once.
    ranges.set(e.offset, Math.max(ranges.get(e.offset) ?? 0, e.length))
  }
  const utf8 = new TextDecoder("utf-8")
  const sentences: string[][] = []
  for (const offset of [...ranges.keys()].sort((a, b) => a - b)) {
    const text = utf8.decode(dictionary.subarray(offset, offset + ranges.get(offset)!))
    for (const s of gcideEntrySentences(text)) sentences.push(s)
  }
  return sentences
}

/** Where dict-gcide puts its database, relative to the root it was installed or extracted in. */
export const GCIDE_PATH = "usr/share/dictd"

/** Read `gcide.index` and `gcide.dict.dz` (or an uncompressed `gcide.dict`) from `dir`. */
export function readGcide(dir: string): string[][] {
  const indexPath = join(dir, "gcide.index")
  const index = parseDictdIndex(readFileSync(indexPath, "utf8"), indexPath)
  const packed = join(dir, "gcide.dict.dz")
  const dictionary = existsSync(packed)
    ? new Uint8Array(gunzipSync(readFileSync(packed)))
    : new Uint8Array(readFileSync(join(dir, "gcide.dict")))
  return gcideSentences(dictionary, index)
}
