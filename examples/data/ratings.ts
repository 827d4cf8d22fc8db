/**
 * Rating matrices as the matrix-factorization example consumes them, and the
 * MovieLens `ratings.csv` reader.
 *
 * A `Ratings` is a sparse matrix in coordinate form held in three parallel
 * typed arrays (0-based row, 0-based column, value), so that training loops
 * index them without one object per rating. Every loader (Matrix Market,
 * MovieLens CSV, the R data of `r-cran-dslabs`, the synthetic generator)
 * produces one, and `splitRatings` makes a seeded train/test split. MovieLens
 * ids are sparse (movie ids go up to ~190k for ~9k movies), so `fromIds`
 * compacts them to dense row and column indices in order of first appearance.
 */
import { Random } from "../lib/random.ts"

export interface Ratings {
  /** Number of rows and columns of the matrix (ids are below these). */
  readonly rows: number
  readonly cols: number
  readonly row: Uint32Array
  readonly col: Uint32Array
  readonly value: Float32Array
}

/** The number of ratings. */
export const countOf = (r: Ratings): number => r.value.length

/** Mean of the values (0 for an empty matrix). */
export function meanOf(r: Ratings): number {
  let sum = 0
  for (let i = 0; i < r.value.length; i++) sum += r.value[i]
  return r.value.length === 0 ? 0 : sum / r.value.length
}

/** The ratings at `indices`, on the same row and column space. */
export function subset(r: Ratings, indices: Uint32Array): Ratings {
  const n = indices.length
  const row = new Uint32Array(n)
  const col = new Uint32Array(n)
  const value = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const at = indices[i]
    row[i] = r.row[at]
    col[i] = r.col[at]
    value[i] = r.value[at]
  }
  return { rows: r.rows, cols: r.cols, row, col, value }
}

/** A seeded random split: `testShare` of the ratings go to `test`, the rest to `train`. */
export function splitRatings(
  r: Ratings,
  options: { testShare: number; seed: number },
): { train: Ratings; test: Ratings } {
  const { testShare, seed } = options
  if (!(testShare >= 0 && testShare < 1)) {
    throw new RangeError(`testShare must be in [0, 1), got ${testShare}`)
  }
  const order = new Random(seed).permutation(countOf(r))
  const testCount = Math.round(countOf(r) * testShare)
  return {
    test: subset(r, order.subarray(0, testCount).slice().sort()),
    train: subset(r, order.subarray(testCount).slice().sort()),
  }
}

/**
 * Ratings from raw (possibly sparse, any-based) integer user and item ids:
 * ids are mapped to dense indices in order of first appearance.
 */
export function fromIds(
  userIds: ArrayLike<number>,
  itemIds: ArrayLike<number>,
  values: ArrayLike<number>,
): Ratings {
  const n = values.length
  if (userIds.length !== n || itemIds.length !== n) {
    throw new RangeError(
      `ratings columns differ in length: ${userIds.length} users, ${itemIds.length} items, ${n} values`,
    )
  }
  const users = new Map<number, number>()
  const items = new Map<number, number>()
  const row = new Uint32Array(n)
  const col = new Uint32Array(n)
  for (let i = 0; i < n; i++) {
    let u = users.get(userIds[i])
    if (u === undefined) users.set(userIds[i], u = users.size)
    let m = items.get(itemIds[i])
    if (m === undefined) items.set(itemIds[i], m = items.size)
    row[i] = u
    col[i] = m
  }
  return { rows: users.size, cols: items.size, row, col, value: Float32Array.from(values) }
}

/**
 * Parse a MovieLens `ratings.csv` (`userId,movieId,rating,timestamp`, with a
 * header line). Throws a `SyntaxError` naming the line on a malformed row.
 */
export function parseMovieLensCsv(text: string, source = "ratings.csv"): Ratings {
  const lines = text.split(/\r?\n/)
  const header = lines[0].trim().split(",")
  const userAt = header.indexOf("userId")
  const movieAt = header.indexOf("movieId")
  const ratingAt = header.indexOf("rating")
  if (userAt < 0 || movieAt < 0 || ratingAt < 0) {
    throw new SyntaxError(
      `${source}:1: expected a header naming userId, movieId and rating, got '${lines[0]}'`,
    )
  }
  const users: number[] = []
  const movies: number[] = []
  const values: number[] = []
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trim()
    if (line === "") continue
    const fields = line.split(",")
    const user = Number(fields[userAt])
    const movie = Number(fields[movieAt])
    const rating = Number(fields[ratingAt])
    if (
      fields.length < header.length || !Number.isInteger(user) || !Number.isInteger(movie) ||
      !Number.isFinite(rating) || fields[ratingAt].trim() === ""
    ) {
      throw new SyntaxError(`${source}:${i + 1}: malformed rating line '${line}'`)
    }
    users.push(user)
    movies.push(movie)
    values.push(rating)
  }
  return fromIds(users, movies, values)
}
