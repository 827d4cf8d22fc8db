/**
 * Tests of how the policies benchmark combines and summarizes its runs
 * (bench/_policies_results.ts), on small fixed inputs: the processes of one
 * run combine into the slowest process's wall time and summed counts; a
 * wrong float, a key no process holds, or a node missing or reported twice
 * fails the run; medians and ratios to static use only the repetitions that
 * gave a result on both sides; setups whose counted accesses are not the
 * workers' are named; and issue 4's goal names the fastest nups setting and
 * judges adaptive against it and against static.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import {
  addKey,
  combineNodes,
  encodeKeySet,
  formatMiscounts,
  goal,
  isFailure,
  newKeySet,
  type NodeResult,
  type Run,
  type RunResult,
  summarize,
} from "../bench/_policies_results.ts"

const KEYS = 20

/** A process's result for `nodeIds`, holding `keys`. */
function part(nodeIds: number[], keys: number[], over: Partial<NodeResult> = {}): NodeResult {
  const held = newKeySet(KEYS)
  for (const key of keys) addKey(held, key)
  return {
    nodeIds,
    setupMs: 10,
    wallMs: 100,
    localAccesses: 30,
    remoteAccesses: 10,
    frames: 5,
    bytes: 500,
    syncRounds: 2,
    relocations: 1,
    wrongFloats: 0,
    firstWrong: "",
    held: encodeKeySet(held),
    ...over,
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

const result = (wallMs: number, localShare = 0.5): RunResult => ({
  setupMs: 1,
  wallMs,
  accesses: 1000,
  localShare,
  frames: 10,
  bytes: 100,
  syncRounds: 0,
  relocations: 0,
})

describe("policies benchmark: combining processes", () => {
  it("takes the slowest process's wall and setup time and sums the counts", () => {
    const run = combineNodes(
      [
        part([0], range(0, 12), { wallMs: 120, setupMs: 5 }),
        part([1], range(8, 20), { wallMs: 90, setupMs: 40, localAccesses: 10 }),
      ],
      2,
      KEYS,
    )
    assert.ok(!isFailure(run), JSON.stringify(run))
    assert.equal(run.wallMs, 120)
    assert.equal(run.setupMs, 40)
    assert.equal(run.accesses, 60)
    assert.equal(run.localShare, 40 / 60)
    assert.deepEqual([run.frames, run.bytes, run.syncRounds, run.relocations], [10, 1000, 4, 2])
  })

  it("one process holding every node is one run", () => {
    const run = combineNodes([part([0, 1, 2], range(0, KEYS))], 3, KEYS)
    assert.ok(!isFailure(run))
    assert.equal(run.wallMs, 100)
  })

  it("fails a run with a wrong float, naming the first", () => {
    const run = combineNodes(
      [
        part([0], range(0, KEYS)),
        part([1], range(0, 5), { wrongFloats: 3, firstWrong: "node 1 key 4[0] = 2, expected 3" }),
      ],
      2,
      KEYS,
    )
    assert.ok(isFailure(run))
    assert.match(run.error, /3 wrong floats \(first: node 1 key 4\[0\] = 2, expected 3\)/)
  })

  it("fails a run in which some key is held by no node", () => {
    const run = combineNodes([part([0], range(0, 10)), part([1], range(11, 20))], 2, KEYS)
    assert.ok(isFailure(run))
    assert.match(run.error, /1 keys held by no node/)
  })

  it("fails a run with a node missing or reported twice", () => {
    const all = range(0, KEYS)
    assert.ok(isFailure(combineNodes([part([0], all)], 2, KEYS)))
    assert.ok(isFailure(combineNodes([part([0], all), part([0], all)], 2, KEYS)))
    assert.ok(isFailure(combineNodes([part([0], all), part([2], all)], 2, KEYS)))
  })
})

describe("policies benchmark: rows and the goal", () => {
  const failed: Run = { status: "timed out", error: "[launch] timed out" }

  it("pairs each repetition with static's and skips those that gave no result", () => {
    const statics = [result(100), failed, result(200)]
    const row = summarize("adaptive", [result(50), result(10), failed], statics)
    assert.equal(row.ok, 2)
    assert.deepEqual(row.failures, ["timed out"])
    assert.equal(row.wallMs, 50) // median of [10, 50] takes the upper one
    assert.equal(row.wallVsStatic, 0.5) // only repetition 0 ran on both sides
    assert.equal(row.wallVsStaticMin, 0.5)
  })

  it("a setup with no result has NaN medians and no ratio", () => {
    const row = summarize("lapse", [failed, failed], [result(1), result(1)])
    assert.equal(row.ok, 0)
    assert.ok(Number.isNaN(row.wallMs) && Number.isNaN(row.wallVsStatic))
  })

  it("notes the setups whose counted accesses differ from the workers'", () => {
    const statics = [result(100)]
    const more = { ...result(100), accesses: 1100 }
    const rows = [summarize("static", statics, statics), summarize("adaptive", [more], statics)]
    assert.deepEqual(formatMiscounts(rows, 1000), [
      "note: adaptive: roam counted 1100 key accesses, the workers made 1000 (10.0% more)",
    ])
  })

  it("judges adaptive against static and the fastest nups setting", () => {
    const statics = [result(1000)]
    const rows = [
      summarize("static", statics, statics),
      summarize("nups hot=100", [result(120, 0.9)], statics),
      summarize("nups hot=1000", [result(100, 0.95)], statics),
      summarize("adaptive", [result(90, 0.96)], statics),
    ]
    const g = goal(rows)!
    assert.equal(g.bestNups, "nups hot=1000")
    assert.equal(g.adaptiveVsStatic, 0.09)
    assert.ok(g.tenfold && g.matchesNups)
    const slower = goal([...rows.slice(0, 3), summarize("adaptive", [result(200, 0.99)], statics)])!
    assert.ok(!slower.tenfold && !slower.matchesNups)
    assert.equal(goal(rows.slice(0, 1)), undefined)
  })
})
