/**
 * Jane Austen's six novels (Debian `r-cran-janeaustenr`) as sentences of
 * words, for training word vectors.
 *
 * The R package keeps each novel as a character vector of text lines (the
 * Project Gutenberg line breaks, blank lines between paragraphs) in its
 * lazy-load data base `data/Rdata.rdb`, read with r_data.ts. A paragraph is
 * one sentence: the window rarely reaches across a real sentence end inside
 * one, and splitting at full stops would cut "Mr." from "Darcy". Words come
 * from `textWords`, which drops the `_italics_` marks and chapter numbers.
 */
import { join } from "node:path"
import { textWords } from "./corpus.ts"
import { openLazyLoadDb } from "./r_data.ts"

/** The novels' object names in the package, in publication order. */
export const AUSTEN_NOVELS = [
  "sensesensibility",
  "prideprejudice",
  "mansfieldpark",
  "emma",
  "northangerabbey",
  "persuasion",
] as const

/** Where r-cran-janeaustenr puts its data, relative to the root it was installed or extracted in. */
export const AUSTEN_PATH = "usr/lib/R/site-library/janeaustenr/data"

/** The paragraphs of a novel's lines (blank lines separate them), as words. */
export function paragraphSentences(lines: readonly (string | null)[]): string[][] {
  const sentences: string[][] = []
  let words: string[] = []
  for (const line of lines) {
    if (line === null || line.trim() === "") {
      if (words.length > 0) sentences.push(words)
      words = []
    } else {
      for (const w of textWords(line)) words.push(w)
    }
  }
  if (words.length > 0) sentences.push(words)
  return sentences
}

/**
 * The sentences of the novels in the lazy-load data base `Rdata.rdb` of
 * `dir` (by default all six, in publication order).
 */
export function readAusten(dir: string, novels: readonly string[] = AUSTEN_NOVELS): string[][] {
  const path = join(dir, "Rdata.rdb")
  const db = openLazyLoadDb(path)
  return novels.flatMap((name) => {
    const value = db.load(name)
    if (value.kind !== "character") {
      throw new SyntaxError(`${path}[${name}]: expected a character vector, got ${value.kind}`)
    }
    return paragraphSentences(value.values)
  })
}
