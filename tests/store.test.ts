/**
 * Tests of the key space (tables laid end to end) and the per-node store: the
 * slab's slot recycling and growth, the store's lifecycle transitions and the
 * slots they allocate and release, the integrity checks (which must pass on a
 * consistent store and catch a corrupted one), memory that follows the local
 * keys rather than the table, and a model-based run of allocate/release
 * against a plain `Map`.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { KeySpace } from "../actors/key_space.ts"
import { InvariantViolation } from "../actors/assert.ts"
import { INVALID, KeyEvent, KeyState, nextState } from "../actors/lifecycle.ts"
import { holdsValue, Store, TableSlab } from "../actors/store.ts"

const specs = [
  { name: "a", keys: 5, length: 2 },
  { name: "b", keys: 3, length: 7 },
  { name: "c", keys: 10, length: 1 },
]

/** Reads the float value of `key` from `slab` as a plain array. */
function valueOf(slab: TableSlab, key: number): number[] {
  const offset = slab.offsetOf(key)
  assert.ok(offset >= 0, `key ${key} has no slot`)
  return Array.from(slab.values.subarray(offset, offset + slab.table.length))
}

function fillValue(slab: TableSlab, key: number, v: number): void {
  const offset = slab.offsetOf(key)
  slab.values.fill(v, offset, offset + slab.table.length)
}

describe("KeySpace", () => {
  const space = new KeySpace(specs)

  it("lays the tables end to end", () => {
    assert.equal(space.keys, 18)
    assert.equal(space.lengthMax, 7)
    assert.deepEqual(
      space.tables.map((t) => [t.index, t.name, t.start, t.end, t.keys, t.length]),
      [[0, "a", 0, 5, 5, 2], [1, "b", 5, 8, 3, 7], [2, "c", 8, 18, 10, 1]],
    )
  })

  it("maps every key to its table and value length, borders included", () => {
    for (let key = 0; key < space.keys; key++) {
      const expected = key < 5 ? "a" : key < 8 ? "b" : "c"
      assert.equal(space.tableOf(key).name, expected, `key ${key}`)
      assert.equal(space.lengthOf(key), expected === "a" ? 2 : expected === "b" ? 7 : 1)
    }
    assert.equal(space.tableOf(4).name, "a")
    assert.equal(space.tableOf(5).name, "b")
    assert.equal(space.tableOf(7).name, "b")
    assert.equal(space.tableOf(8).name, "c")
    assert.equal(space.tableOf(17).name, "c")
  })

  it("finds tables by name and asserts on keys past the end", () => {
    assert.equal(space.table("b")?.start, 5)
    assert.equal(space.table("c")?.end, 18)
    assert.equal(space.table("nope"), undefined)
    assert.throws(() => space.tableOf(18), InvariantViolation)
    assert.throws(() => space.lengthOf(1000), /outside the key space \[0, 18\)/)
  })

  it("passes init through unchanged", () => {
    const init = (_key: number, value: Float32Array) => value.fill(1)
    const s = new KeySpace([{ name: "x", keys: 2, length: 1, init }, {
      name: "y",
      keys: 1,
      length: 1,
    }])
    assert.equal(s.tables[0].init, init)
    assert.equal(s.tables[1].init, undefined)
  })
})

describe("TableSlab", () => {
  const space = new KeySpace(specs)
  const tableB = space.tables[1] // keys 5..7, length 7
  const tableC = space.tables[2] // keys 8..17, length 1

  it("allocates zero-filled slots and maps keys to them", () => {
    const slab = new TableSlab(tableB, 4)
    assert.equal(slab.capacity, 4)
    assert.equal(slab.used, 0)
    assert.equal(slab.offsetOf(5), -1)
    const o6 = slab.allocate(6)
    const o5 = slab.allocate(5)
    assert.equal(o6, 0)
    assert.equal(o5, 7)
    assert.equal(slab.offsetOf(6), 0)
    assert.equal(slab.offsetOf(5), 7)
    assert.equal(slab.slotOf[1], 0)
    assert.equal(slab.slotOf[0], 1)
    assert.equal(slab.slotOf[2], -1)
    assert.equal(slab.used, 2)
    assert.equal(slab.checkIntegrity(), 2)
  })

  it("reuses freed slots first, most recently freed first, zero-filled", () => {
    const slab = new TableSlab(tableC, 8)
    for (let key = 8; key < 13; key++) {
      slab.allocate(key)
      fillValue(slab, key, key * 10)
    }
    // Slots: 8→0, 9→1, 10→2, 11→3, 12→4.
    slab.release(9)
    slab.release(11)
    assert.equal(slab.used, 3)
    assert.equal(slab.offsetOf(9), -1)
    assert.equal(slab.offsetOf(11), -1)
    slab.checkIntegrity()
    // The free stack hands out slot 3 (freed last), then slot 1, then a fresh slot 5.
    assert.equal(slab.allocate(15), 3)
    assert.deepEqual(valueOf(slab, 15), [0], "a reused slot is zero-filled")
    assert.equal(slab.allocate(16), 1)
    assert.deepEqual(valueOf(slab, 16), [0])
    assert.equal(slab.allocate(17), 5)
    // The keys that kept their slots kept their values.
    assert.deepEqual(valueOf(slab, 8), [80])
    assert.deepEqual(valueOf(slab, 10), [100])
    assert.deepEqual(valueOf(slab, 12), [120])
    assert.equal(slab.capacity, 8, "no growth while freed slots are available")
    assert.equal(slab.checkIntegrity(), 6)
  })

  it("zero-fills a reused slot of a multi-float value", () => {
    const slab = new TableSlab(tableB, 1)
    slab.allocate(5)
    fillValue(slab, 5, 3.5)
    slab.release(5)
    assert.equal(slab.allocate(7), 0)
    assert.deepEqual(valueOf(slab, 7), [0, 0, 0, 0, 0, 0, 0])
  })

  it("grows by doubling and keeps every value", () => {
    const slab = new TableSlab(tableC, 1)
    assert.equal(slab.capacity, 1)
    const capacities: number[] = []
    for (let key = 8; key < 18; key++) {
      slab.allocate(key)
      fillValue(slab, key, key + 0.5)
      capacities.push(slab.capacity)
    }
    assert.deepEqual(capacities, [1, 2, 4, 4, 8, 8, 8, 8, 16, 16])
    assert.equal(slab.values.length, 16 * tableC.length)
    for (let key = 8; key < 18; key++) assert.deepEqual(valueOf(slab, key), [key + 0.5])
    // Freed slots survive a growth too: release, grow past them, reuse them.
    slab.release(9)
    slab.release(12)
    assert.equal(slab.checkIntegrity(), 8)
    assert.equal(slab.allocate(12), 4)
    assert.equal(slab.allocate(9), 1)
    assert.equal(slab.checkIntegrity(), 10)
  })

  it("clamps a capacity of zero to one slot", () => {
    const slab = new TableSlab(tableC, 0)
    assert.equal(slab.capacity, 1)
    slab.allocate(8)
    slab.allocate(9)
    assert.equal(slab.capacity, 2)
  })

  it("asserts on a double allocation and on releasing a key without a slot", () => {
    const slab = new TableSlab(tableC, 2)
    slab.allocate(10)
    assert.throws(() => slab.allocate(10), (e: unknown) => {
      assert.ok(e instanceof InvariantViolation)
      assert.match(e.message, /key 10 already has a slot/)
      return true
    })
    assert.throws(() => slab.release(11), /key 11 has no slot to release/)
    slab.release(10)
    assert.throws(() => slab.release(10), InvariantViolation)
    assert.equal(slab.checkIntegrity(), 0)
  })

  it("keeps capacity O(local keys) on a large table", () => {
    const big = new KeySpace([{ name: "huge", keys: 1_000_000, length: 16 }]).tables[0]
    const slab = new TableSlab(big, 1)
    const n = 1000
    // Spread keys over the whole table so that no density helps.
    for (let i = 0; i < n; i++) slab.allocate(i * 997)
    assert.equal(slab.used, n)
    assert.ok(slab.capacity >= n && slab.capacity < 2 * n, `capacity ${slab.capacity}`)
    assert.ok(slab.values.length <= 2 * n * big.length, `values ${slab.values.length}`)
    // Release and reallocate many times: recycling keeps capacity where it is.
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < n; i++) slab.release(i * 997)
      for (let i = 0; i < n; i++) slab.allocate(i * 997 + 1 + round)
      for (let i = 0; i < n; i++) slab.release(i * 997 + 1 + round)
      for (let i = 0; i < n; i++) slab.allocate(i * 997)
    }
    assert.ok(slab.capacity < 2 * n, `capacity ${slab.capacity} after recycling`)
    assert.equal(slab.checkIntegrity(), n)
  })

  it("matches a Map model under random allocate/release (fast-check commands)", () => {
    const table = new KeySpace([{ name: "pad", keys: 3, length: 1 }, {
      name: "t",
      keys: 40,
      length: 3,
    }]).tables[1]
    type Model = { values: Map<number, number[]>; peak: number }
    type Real = { slab: TableSlab }
    const keyArb = fc.integer({ min: table.start, max: table.end - 1 })

    class Allocate implements fc.Command<Model, Real> {
      constructor(readonly key: number, readonly fill: number) {}
      check = (m: Readonly<Model>) => !m.values.has(this.key)
      run(m: Model, r: Real): void {
        const offset = r.slab.allocate(this.key)
        assert.equal(offset % table.length, 0)
        assert.deepEqual(valueOf(r.slab, this.key), [0, 0, 0], "a new slot is zero-filled")
        r.slab.values.fill(this.fill, offset, offset + table.length)
        m.values.set(this.key, [this.fill, this.fill, this.fill])
        m.peak = Math.max(m.peak, m.values.size)
      }
      toString = () => `allocate(${this.key}, ${this.fill})`
    }
    class Release implements fc.Command<Model, Real> {
      constructor(readonly key: number) {}
      check = (m: Readonly<Model>) => m.values.has(this.key)
      run(m: Model, r: Real): void {
        r.slab.release(this.key)
        m.values.delete(this.key)
      }
      toString = () => `release(${this.key})`
    }
    class Check implements fc.Command<Model, Real> {
      check = () => true
      run(m: Model, r: Real): void {
        assert.equal(r.slab.checkIntegrity(), m.values.size)
        assert.equal(r.slab.used, m.values.size)
        for (let key = table.start; key < table.end; key++) {
          const expected = m.values.get(key)
          if (expected === undefined) assert.equal(r.slab.offsetOf(key), -1)
          else assert.deepEqual(valueOf(r.slab, key), expected)
        }
        // Capacity follows the peak of keys held (doubling), never the table size.
        assert.ok(r.slab.capacity <= Math.max(1, 2 * m.peak - 1), `capacity ${r.slab.capacity}`)
      }
      toString = () => "check"
    }

    fc.assert(
      fc.property(
        fc.commands([
          fc.tuple(keyArb, fc.integer({ min: 1, max: 1000 })).map(([k, v]) => new Allocate(k, v)),
          keyArb.map((k) => new Release(k)),
          fc.constant(new Check()),
        ], { size: "+1" }),
        (cmds) => {
          fc.modelRun(
            () => ({
              model: { values: new Map(), peak: 0 },
              real: { slab: new TableSlab(table, 1) },
            }),
            cmds,
          )
        },
      ),
      { seed: 20240611, numRuns: 200 },
    )
  })
})

describe("Store", () => {
  const space = new KeySpace([{ name: "a", keys: 6, length: 2 }, { name: "b", keys: 4, length: 3 }])

  it("starts with every key absent and no slot", () => {
    const store = new Store(space, [1, 1])
    assert.equal(store.state.length, 10)
    assert.equal(store.count(KeyState.Absent), 10)
    for (let key = 0; key < 10; key++) assert.equal(store.slabOf(key).offsetOf(key), -1)
    store.checkIntegrity()
  })

  it("allocates on absent → owner (InitOwner)", () => {
    const store = new Store(space, [1, 1])
    const offset = store.transition(7, KeyEvent.InitOwner)
    assert.equal(store.state[7], KeyState.Owner)
    assert.equal(offset, 0)
    assert.equal(store.slabOf(7), store.slabs[1])
    assert.equal(store.slabs[1].offsetOf(7), offset)
    assert.equal(store.slabs[1].used, 1)
    assert.equal(store.slabs[0].used, 0)
    store.checkIntegrity()
  })

  it("walks absent → expected → owner → handingOver → absent with the right slots", () => {
    const store = new Store(space, [1, 1])
    store.transition(0, KeyEvent.InitOwner) // occupies slot 0 of table a
    const slab = store.slabs[0]

    // absent → expected: no value yet, so no slot.
    assert.equal(store.transition(3, KeyEvent.Localize), -1)
    assert.equal(store.state[3], KeyState.Expected)
    assert.equal(slab.offsetOf(3), -1)
    assert.equal(slab.used, 1)
    store.checkIntegrity()

    // expected → owner: the value arrives, a slot is allocated.
    const offset = store.transition(3, KeyEvent.ValueArrived)
    assert.equal(store.state[3], KeyState.Owner)
    assert.equal(offset, 2)
    assert.equal(slab.offsetOf(3), offset)
    slab.values.set([4, 5], offset)
    store.checkIntegrity()

    // owner → handingOver: the slot and the value stay until the ack.
    assert.equal(store.transition(3, KeyEvent.HandOver), offset)
    assert.equal(store.state[3], KeyState.HandingOver)
    assert.deepEqual(valueOf(slab, 3), [4, 5])
    assert.equal(slab.used, 2)
    store.checkIntegrity()

    // handingOver → absent: the slot is released and reused next.
    assert.equal(store.transition(3, KeyEvent.HandOverAcked), -1)
    assert.equal(store.state[3], KeyState.Absent)
    assert.equal(slab.offsetOf(3), -1)
    assert.equal(slab.used, 1)
    store.checkIntegrity()
    assert.equal(store.transition(5, KeyEvent.InitOwner), offset, "freed slot reused")
    assert.deepEqual(valueOf(slab, 5), [0, 0])
    store.checkIntegrity()
  })

  it("throws on every transition the lifecycle forbids and changes nothing", () => {
    const events = Object.values(KeyEvent)
    // Drive one key of each reachable state, then try every event on it.
    const reach: Record<number, number[]> = {
      [KeyState.Absent]: [],
      [KeyState.Expected]: [KeyEvent.Localize],
      [KeyState.Owner]: [KeyEvent.InitOwner],
      [KeyState.HandingOver]: [KeyEvent.InitOwner, KeyEvent.HandOver],
      [KeyState.Replica]: [KeyEvent.AwaitReplica, KeyEvent.ReplicaArrived],
    }
    let forbidden = 0
    for (const [state, path] of Object.entries(reach)) {
      for (const event of events) {
        const store = new Store(space, [1, 1])
        const key = 8
        for (const e of path) store.transition(key, e)
        assert.equal(store.state[key], Number(state))
        if (nextState(Number(state), event) !== INVALID) continue
        forbidden++
        const offsetBefore = store.slabOf(key).offsetOf(key)
        const usedBefore = store.slabs.map((s) => s.used)
        assert.throws(
          () => store.transition(key, event),
          /not allowed in state/,
          `state ${state} event ${event}`,
        )
        assert.equal(store.state[key], Number(state), "state unchanged")
        assert.equal(store.slabOf(key).offsetOf(key), offsetBefore, "slot unchanged")
        assert.deepEqual(store.slabs.map((s) => s.used), usedBefore)
        store.checkIntegrity()
      }
    }
    // Of 8 events: absent allows 3 (5 forbidden), expected 2 (6), owner,
    // handingOver and replica 1 each (7 each).
    assert.equal(forbidden, 32)
    // A few named ones, for the reader.
    const store = new Store(space, [1, 1])
    assert.throws(() => store.transition(1, KeyEvent.HandOver), /HAND_OVER .* absent/)
    assert.throws(() => store.transition(1, KeyEvent.ValueArrived), /VALUE_ARRIVED .* absent/)
    store.transition(1, KeyEvent.InitOwner)
    assert.throws(() => store.transition(1, KeyEvent.InitOwner), /INIT_OWNER .* owner/)
    assert.throws(() => store.transition(1, KeyEvent.Localize), /LOCALIZE .* owner/)
    assert.throws(() => store.transition(1, 99), /not allowed/)
  })

  it("counts keys per state", () => {
    const store = new Store(space, [1, 1])
    store.transition(0, KeyEvent.InitOwner)
    store.transition(6, KeyEvent.InitOwner)
    store.transition(9, KeyEvent.InitOwner)
    store.transition(9, KeyEvent.HandOver)
    store.transition(2, KeyEvent.Localize)
    assert.equal(store.count(KeyState.Owner), 2)
    assert.equal(store.count(KeyState.HandingOver), 1)
    assert.equal(store.count(KeyState.Expected), 1)
    assert.equal(store.count(KeyState.Absent), 6)
    assert.equal(holdsValue(KeyState.Owner), true)
    assert.equal(holdsValue(KeyState.HandingOver), true)
    assert.equal(holdsValue(KeyState.Replica), true)
    assert.equal(holdsValue(KeyState.Expected), false)
    assert.equal(holdsValue(KeyState.Absent), false)
  })

  it("lists the expected keys and counts each key's arrivals, also across a drop and a new wait", () => {
    const store = new Store(space, [1, 1])
    store.transition(2, KeyEvent.Localize)
    store.transition(7, KeyEvent.AwaitReplica)
    assert.equal(store.expectedHeld, 2)
    assert.deepEqual(Array.from(store.expectedList()), [2, 7])
    assert.deepEqual([store.arrivals[2], store.arrivals[7]], [0, 0])
    store.transition(7, KeyEvent.ReplicaArrived)
    store.transition(7, KeyEvent.DropReplica)
    store.transition(7, KeyEvent.AwaitReplica)
    // Expected again, as before: only the count tells that a value came in between.
    assert.equal(store.state[7], KeyState.Expected)
    assert.equal(store.arrivals[7], 1)
    store.transition(2, KeyEvent.ValueArrived)
    assert.equal(store.arrivals[2], 1)
    assert.deepEqual(Array.from(store.expectedList()), [7])
    store.transition(7, KeyEvent.ReplicaArrived)
    assert.equal(store.expectedHeld, 0)
    assert.equal(store.expectedList().length, 0)
    assert.equal(store.arrivals[7], 2)
    store.checkIntegrity()
  })

  describe("checkIntegrity", () => {
    /** A store with a mix of states: owners in both tables, one handing over, one expected. */
    function populated(): Store {
      const store = new Store(space, [2, 2])
      for (const key of [0, 2, 4, 6, 8, 9]) store.transition(key, KeyEvent.InitOwner)
      store.transition(2, KeyEvent.HandOver)
      store.transition(4, KeyEvent.HandOver)
      store.transition(4, KeyEvent.HandOverAcked)
      store.transition(1, KeyEvent.Localize)
      store.transition(7, KeyEvent.Localize)
      store.transition(7, KeyEvent.ValueArrived)
      return store
    }

    it("passes on a consistent store", () => {
      const store = populated()
      store.checkIntegrity()
      assert.equal(store.slabs[0].checkIntegrity(), 2) // keys 0 and 2
      assert.equal(store.slabs[1].checkIntegrity(), 4) // keys 6, 7, 8, 9
    })

    it("catches an owner whose state was overwritten to absent", () => {
      const store = populated()
      store.state[6] = KeyState.Absent
      assert.throws(() => store.checkIntegrity(), /key 6 is absent but has slot/)
    })

    it("catches a key made expected behind the store's back", () => {
      const store = populated()
      store.state[3] = KeyState.Expected
      assert.throws(() => store.checkIntegrity(), /2 expected but 1 counted/)
    })

    it("catches an absent key whose state was overwritten to owner", () => {
      const store = populated()
      store.state[3] = KeyState.Owner
      assert.throws(() => store.checkIntegrity(), /key 3 is owner but has no slot/)
    })

    it("catches an unknown state code", () => {
      const store = populated()
      store.state[5] = 9
      assert.throws(() => store.checkIntegrity(), /key 5 has unknown state 9/)
    })

    it("catches slotOf pointing at another key's slot", () => {
      const store = populated()
      const slab = store.slabs[1]
      // Key 8 (local index 2) now claims key 6's slot.
      slab.slotOf[2] = slab.slotOf[0]
      assert.throws(() => store.checkIntegrity(), InvariantViolation)
      assert.throws(() => slab.checkIntegrity(), /maps back to 6, not 8/)
    })

    it("catches slotOf pointing past the slots ever handed out", () => {
      const store = populated()
      store.slabs[0].slotOf[0] = 50
      assert.throws(() => store.checkIntegrity(), /slot 50 of key 0 was never handed out/)
    })

    it("catches a key whose slot was dropped from slotOf", () => {
      const store = populated()
      store.slabs[1].slotOf[3] = -1 // key 9, an owner
      assert.throws(() => store.checkIntegrity(), /key 9 is owner but has no slot/)
    })

    it("catches a ready slot that disagrees with state, slot or busy", () => {
      const stale = populated()
      stale.ready[2] = stale.slabs[0].slotOf[2] // key 2 is handing over: not ready
      assert.throws(() => stale.checkIntegrity(), /key 2 \(handingOver, busy 0\) has ready/)
      const busy = populated()
      busy.busy[0] = 1 // behind hold's back: key 0 still reads as ready
      assert.throws(() => busy.checkIntegrity(), /key 0 \(owner, busy 1\) has ready 0/)
    })

    it("catches a slot map that counts a key the state does not", () => {
      const store = populated()
      // Key 5 (absent) gets a slot behind the store's back.
      store.slabs[0].allocate(5)
      assert.throws(() => store.checkIntegrity(), /key 5 is absent but has slot/)
    })
  })

  it("ready holds a key's slot exactly while it serves locally and nothing holds it", () => {
    const store = new Store(space, [2, 2])
    assert.equal(store.ready[0], -1)
    const offset = store.transition(0, KeyEvent.InitOwner)
    assert.equal(store.ready[0], offset / space.tableOf(0).length)
    store.hold(0)
    store.hold(0)
    assert.equal(store.ready[0], -1)
    store.unhold(0)
    assert.equal(store.ready[0], -1, "still held once")
    store.unhold(0)
    assert.equal(store.ready[0], store.slabs[0].slotOf[0])
    assert.throws(() => store.unhold(0), /released more often than held/)
    store.transition(0, KeyEvent.HandOver)
    assert.equal(store.ready[0], -1, "handing over")
    store.transition(0, KeyEvent.HandOverAcked)
    assert.equal(store.ready[0], -1)
    // Held while it arrives: ready only once the hold ends.
    store.transition(1, KeyEvent.Localize)
    store.hold(1)
    store.transition(1, KeyEvent.ValueArrived)
    assert.equal(store.ready[1], -1)
    store.unhold(1)
    assert.equal(store.ready[1], store.slabs[0].slotOf[1])
    store.checkIntegrity()
  })

  it("sizes slabs by the given capacities, not by the table", () => {
    const big = new KeySpace([{ name: "x", keys: 200_000, length: 8 }, {
      name: "y",
      keys: 100_000,
      length: 4,
    }])
    const store = new Store(big, [4, 4])
    const n = 300
    for (let i = 0; i < n; i++) {
      store.transition(i * 601, KeyEvent.InitOwner)
      store.transition(200_000 + i * 313, KeyEvent.InitOwner)
    }
    for (const slab of store.slabs) {
      assert.equal(slab.used, n)
      assert.ok(slab.capacity < 2 * n, `${slab.table.name}: capacity ${slab.capacity}`)
      assert.equal(slab.values.length, slab.capacity * slab.table.length)
    }
    store.checkIntegrity()
  })
})
