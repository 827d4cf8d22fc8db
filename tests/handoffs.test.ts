/**
 * Hand-off tracking and its watchdog, with time driven by Effect's TestClock.
 */
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { KeySpace } from "../actors/key_space.ts"
import { KeyState } from "../actors/lifecycle.ts"
import { makeNode } from "../runtime/cluster.ts"
import { configLayer, resolveConfig } from "../runtime/config.ts"
import { faultLayer } from "../runtime/fault.ts"
import { Handoffs } from "../runtime/handoffs.ts"
import { MemoryNetwork } from "../runtime/memory_transport.ts"
import { resolvePolicy } from "../runtime/policy.ts"

describe("Handoffs", () => {
  it("consumes acknowledgements oldest first, per destination", () => {
    const h = new Handoffs(3)
    h.sent(1, 3, 0)
    h.sent(1, 2, 10)
    h.sent(2, 4, 5)
    assert.equal(h.outstanding, 9)
    h.acknowledged(1, 4)
    assert.equal(h.outstanding, 5)
    // Only the rest of the second hand-over to node 1 (sent at 10) is left there.
    assert.deepEqual(h.overdue(1_000, 100), [{ node: 1, keys: 1, ageMs: 990 }, {
      node: 2,
      keys: 4,
      ageMs: 995,
    }])
    assert.deepEqual(h.overdue(2_000, 100), [], "each overdue hand-over is reported once")
    assert.throws(() => h.acknowledged(1, 2), /never sent/)
  })
})

describe("hand-off watchdog", () => {
  it("reports a hand-over left unacknowledged past handoffTimeoutMs, once", async () => {
    const network = new MemoryNetwork({ nodes: 2, manual: true })
    const space = new KeySpace([{ name: "t", keys: 4, length: 2 }])
    const config = resolveConfig({ handoffTimeoutMs: 1_000 })
    const logged: string[] = []
    const layer = Layer.mergeAll(
      network.layer(),
      configLayer(config),
      faultLayer(),
      TestClock.layer(),
    )
    const program = Effect.gen(function* () {
      const policy = resolvePolicy("lapse")
      const n0 = yield* makeNode(0, space, policy)
      const n1 = yield* makeNode(1, space, policy)
      ;(n0 as { log: (m: string) => void }).log = (m) => logged.push(m)
      const moved = n1.localize([0])
      // Deliver the Localize to node 0, which hands key 0 over; hold the rest.
      assert.ok(network.step())
      assert.equal(n0.store.state[0], KeyState.HandingOver)
      yield* TestClock.adjust("999 millis")
      assert.equal(n0.stats.handoffsOverdue, 0)
      yield* TestClock.adjust("1 second")
      assert.equal(n0.stats.handoffsOverdue, 1)
      assert.match(logged[0], /1 keys handed over to node 1 unacknowledged/)
      yield* TestClock.adjust("5 seconds")
      assert.equal(n0.stats.handoffsOverdue, 1, "reported once")
      network.drain()
      yield* Effect.promise(() => moved)
      assert.equal(n0.store.state[0], KeyState.Absent)
      assert.equal(n1.store.state[0], KeyState.Owner)
      assert.equal(n0.handoffs.outstanding, 0)
    })
    await Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(layer)))
    await network.close()
  })
})
