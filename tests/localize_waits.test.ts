/**
 * Unit tests of `LocalizeWaits` (runtime/localize_waits.ts): the localize
 * calls a node keeps waiting per key, as linked lists in typed arrays.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { type LocalizeWait, LocalizeWaits } from "../runtime/localize_waits.ts"

/** A call that records how it ended. */
function call(log: string[], name: string): LocalizeWait {
  return {
    remaining: 0,
    resolve: () => log.push(`${name} resolved`),
    reject: (error) => log.push(`${name} rejected: ${(error as Error).message}`),
  }
}

function register(waits: LocalizeWaits, wait: LocalizeWait, keys: number[]): number {
  const id = waits.open(wait)
  for (const key of keys) waits.add(id, key)
  return id
}

describe("LocalizeWaits", () => {
  it("resolves a call once its last key wakes, whichever order they come in", () => {
    const log: string[] = []
    const waits = new LocalizeWaits(10)
    const a = call(log, "a")
    const b = call(log, "b")
    register(waits, a, [1, 2, 3])
    register(waits, b, [3, 4])
    assert.equal(a.remaining, 3)
    assert.equal(b.remaining, 2)
    waits.wake(3) // Both wait on 3.
    assert.deepEqual([a.remaining, b.remaining], [2, 1])
    waits.wake(4)
    assert.deepEqual(log, ["b resolved"])
    waits.wake(9) // Nobody waits: nothing happens.
    waits.wake(1)
    waits.wake(3) // Already woken: nobody waits on it any more.
    assert.deepEqual(log, ["b resolved"])
    waits.wake(2)
    assert.deepEqual(log, ["b resolved", "a resolved"])
    assert.equal(waits.size, 0)
  })

  it("counts a key repeated in one call once", () => {
    const log: string[] = []
    const waits = new LocalizeWaits(10)
    const a = call(log, "a")
    register(waits, a, [5, 5, 6, 5, 6])
    assert.equal(a.remaining, 2)
    waits.wake(5)
    waits.wake(6)
    assert.deepEqual(log, ["a resolved"])
  })

  it("reuses entries and ids without mixing calls up, past its first pool", () => {
    const log: string[] = []
    const waits = new LocalizeWaits(2000)
    for (let round = 0; round < 3; round++) {
      // 1,000 keys in two overlapping calls: more entries than the initial pool.
      const a = call(log, `a${round}`)
      const b = call(log, `b${round}`)
      register(waits, a, Array.from({ length: 600 }, (_, k) => k))
      register(waits, b, Array.from({ length: 600 }, (_, k) => 400 + k))
      for (let key = 999; key >= 400; key--) waits.wake(key)
      assert.deepEqual(log.splice(0), [`b${round} resolved`])
      for (let key = 0; key < 400; key++) waits.wake(key)
      assert.deepEqual(log.splice(0), [`a${round} resolved`])
      assert.equal(waits.size, 0)
    }
  })

  it("rejects every waiting call once, and starts afresh", () => {
    const log: string[] = []
    const waits = new LocalizeWaits(10)
    register(waits, call(log, "a"), [1, 2])
    register(waits, call(log, "b"), [2, 3])
    const c = call(log, "c")
    register(waits, c, [4])
    waits.wake(4)
    waits.rejectAll(new Error("closed"))
    assert.deepEqual(log, ["c resolved", "a rejected: closed", "b rejected: closed"])
    assert.equal(waits.size, 0)
    waits.wake(1) // The rejected calls are gone.
    const d = call(log, "d")
    register(waits, d, [2])
    assert.equal(d.remaining, 1)
    waits.wake(2)
    assert.deepEqual(log.slice(3), ["d resolved"])
  })
})
