/**
 * Matrix Market coordinate files: the exchange format other MF tools read.
 *
 * Reads and writes `%%MatrixMarket matrix coordinate real general` (also
 * `integer`, read as real): a banner, `%` comment lines, a size line
 * `rows cols entries`, then one `row col value` line per entry with 1-based
 * indices. The reader is strict, because a silently misread training file is
 * worse than a refused one: every problem (wrong banner, an unsupported
 * format, a bad size line, an index out of range, a missing or non-numeric
 * value, too many or too few entries) throws a `SyntaxError` that names the
 * file and the line number.
 */
import type { Ratings } from "./ratings.ts"

const BANNER = "%%matrixmarket"

/** Parse Matrix Market coordinate text into 0-based `Ratings`. */
export function parseMatrixMarket(text: string, source = "<matrix market>"): Ratings {
  const lines = text.split(/\r?\n/)
  const fail = (i: number, why: string): never => {
    throw new SyntaxError(`${source}:${i + 1}: ${why}`)
  }
  const banner = lines[0]?.trim().toLowerCase().split(/\s+/) ?? []
  if (banner[0] !== BANNER) fail(0, `expected a '%%MatrixMarket' banner, got '${lines[0]}'`)
  const [, object, format, field, symmetry] = banner
  if (object !== "matrix" || format !== "coordinate") {
    fail(0, `only 'matrix coordinate' files are supported, got '${object} ${format}'`)
  }
  if (field !== "real" && field !== "integer" && field !== "double") {
    fail(0, `only real or integer values are supported, got '${field}'`)
  }
  if (symmetry !== "general") fail(0, `only 'general' matrices are supported, got '${symmetry}'`)
  let i = 1
  while (i < lines.length && (lines[i].startsWith("%") || lines[i].trim() === "")) i++
  if (i >= lines.length) fail(i - 1, "missing the size line 'rows cols entries'")
  const size = lines[i].trim().split(/\s+/).map(Number)
  if (size.length !== 3 || !size.every((n) => Number.isInteger(n) && n >= 0)) {
    fail(i, `expected a size line 'rows cols entries', got '${lines[i]}'`)
  }
  const [rows, cols, entries] = size
  const row = new Uint32Array(entries)
  const col = new Uint32Array(entries)
  const value = new Float32Array(entries)
  let n = 0
  for (i++; i < lines.length; i++) {
    const line = lines[i].trim()
    if (line === "" || line.startsWith("%")) continue
    const fields = line.split(/\s+/)
    if (fields.length !== 3) fail(i, `expected 'row col value', got '${line}'`)
    const r = Number(fields[0])
    const c = Number(fields[1])
    const v = Number(fields[2])
    if (!Number.isInteger(r) || r < 1 || r > rows) fail(i, `row '${fields[0]}' not in 1..${rows}`)
    if (!Number.isInteger(c) || c < 1 || c > cols) {
      fail(i, `column '${fields[1]}' not in 1..${cols}`)
    }
    if (!Number.isFinite(v)) fail(i, `value '${fields[2]}' is not a finite number`)
    if (n === entries) fail(i, `more entries than the ${entries} the size line declares`)
    row[n] = r - 1
    col[n] = c - 1
    value[n] = v
    n++
  }
  if (n !== entries) fail(lines.length - 1, `found ${n} entries, the size line declares ${entries}`)
  return { rows, cols, row, col, value }
}

/** Format `Ratings` as Matrix Market coordinate text (1-based). */
export function formatMatrixMarket(r: Ratings, comment?: string): string {
  const out: string[] = ["%%MatrixMarket matrix coordinate real general"]
  if (comment !== undefined) { for (const line of comment.split("\n")) out.push(`% ${line}`) }
  out.push(`${r.rows} ${r.cols} ${r.value.length}`)
  for (let i = 0; i < r.value.length; i++) {
    out.push(`${r.row[i] + 1} ${r.col[i] + 1} ${r.value[i]}`)
  }
  return out.join("\n") + "\n"
}
