/**
 * Tests of the R data reader (examples/data/r_data.ts) against fixtures made
 * here with the writer of _r_writer.ts: data frames of integer, double,
 * string, factor and compact-sequence (ALTREP) columns, with symbols reused
 * through the reference table, in serialization versions 2 and 3; they are
 * packed into a lazy-load database (.rdb entries of length + zlib, an .rdx
 * index as gzip like R's, or as length + zlib) and read back, including the
 * MovieLens loader. Malformed input must fail with an error naming the
 * problem.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { writeFileSync } from "node:fs"
import {
  loadMovieLensRdb,
  NA_INTEGER,
  openLazyLoadDb,
  unserialize,
} from "../examples/data/r_data.ts"
import { type Column, writeDb, XdrWriter } from "./_r_writer.ts"

const MOVIELENS: Record<string, Column> = {
  movieId: { int: [31, 1029, 31, 10] },
  title: { str: ["Dangerous Minds", "Dumbo", "Dangerous Minds", null] },
  genres: { factor: [1, 2, 1, 2], levels: ["Drama", "Animation"] },
  userId: { int: [1, 1, 2, 7] },
  rating: { real: [2.5, 3, 4.5, 5] },
  row: { intseq: [4, 1] },
}

describe("R serialization reader", () => {
  for (const version of [2, 3] as const) {
    it(`decodes a data frame written in version ${version}`, () => {
      const frame = unserialize(new XdrWriter(version).dataFrame(MOVIELENS))
      assert.equal(frame.kind, "list")
      if (frame.kind !== "list") return
      const names = frame.attributes.names
      assert.deepEqual(names.kind === "character" && names.values, Object.keys(MOVIELENS))
      const [movie, title, genres, user, rating, row] = frame.values
      assert.deepEqual(movie.kind === "integer" && [...movie.values], [31, 1029, 31, 10])
      assert.deepEqual(title.kind === "character" && title.values, [
        "Dangerous Minds",
        "Dumbo",
        "Dangerous Minds",
        null,
      ])
      assert.equal(genres.kind, "integer")
      const levels = genres.kind === "integer" ? genres.attributes.levels : undefined
      assert.deepEqual(levels?.kind === "character" && levels.values, ["Drama", "Animation"])
      assert.deepEqual(user.kind === "integer" && [...user.values], [1, 1, 2, 7])
      assert.deepEqual(rating.kind === "double" && [...rating.values], [2.5, 3, 4.5, 5])
      assert.deepEqual(row.kind === "integer" && [...row.values], [1, 2, 3, 4])
      const rowNames = frame.attributes["row.names"]
      assert.deepEqual(rowNames.kind === "integer" && [...rowNames.values], [NA_INTEGER, -4])
    })
  }

  it("refuses data that is not XDR, and truncated data, naming the problem", () => {
    assert.throws(() => unserialize(new TextEncoder().encode("A\n1\n")), /XDR serialization header/)
    const bytes = new XdrWriter(3).dataFrame(MOVIELENS)
    assert.throws(() => unserialize(bytes.subarray(0, bytes.length - 10)), /unexpected end of data/)
  })
})

describe("R lazy-load database", () => {
  it("lists and loads objects, with a gzip index or a length+zlib one", () => {
    for (const gzip of [true, false]) {
      const other = new XdrWriter(2).dataFrame({ x: { real: [1.5] } })
      const path = writeDb({ other, movielens: new XdrWriter(3).dataFrame(MOVIELENS) }, {
        indexAsGzip: gzip,
      })
      const db = openLazyLoadDb(path)
      assert.deepEqual(db.names, ["other", "movielens"])
      const x = db.load("other")
      assert.equal(x.kind, "list")
      assert.throws(() => db.load("nope"), /no object 'nope' \(has: other, movielens\)/)
    }
  })

  it("loads MovieLens ratings with dense user and movie ids", () => {
    const path = writeDb({ movielens: new XdrWriter(3).dataFrame(MOVIELENS) })
    const r = loadMovieLensRdb(path)
    assert.equal(r.rows, 3)
    assert.equal(r.cols, 3)
    assert.deepEqual([...r.row], [0, 0, 1, 2])
    assert.deepEqual([...r.col], [0, 1, 0, 2])
    assert.deepEqual([...r.value], [2.5, 3, 4.5, 5])
  })

  it("names the missing column of a frame without ratings", () => {
    const path = writeDb({ movielens: new XdrWriter(3).dataFrame({ userId: { int: [1] } }) })
    assert.throws(() => loadMovieLensRdb(path), /no column 'movieId' \(has: userId\)/)
  })

  it("refuses a corrupt .rdb entry", () => {
    const path = writeDb({ movielens: new XdrWriter(3).dataFrame(MOVIELENS) })
    writeFileSync(path, new Uint8Array(2000).fill(7))
    assert.throws(() => openLazyLoadDb(path).load("movielens"))
  })
})
