/**
 * Tests of the directory: the initial placement every node can compute, the
 * epoch rule for ownership news (only newer news is taken, two owners at one
 * epoch or news of a newer owner while this node owns the key are broken
 * invariants), recorded moves, and the routing of a request this node cannot
 * serve (the believed owner, the home after `forwardHopsMax` hops, never
 * itself); on a cluster, that the home hears of a turn's hand-overs in one
 * `OwnerUpdate`.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { setImmediate } from "node:timers"
import { InvariantViolation } from "../actors/assert.ts"
import { KeyState } from "../actors/lifecycle.ts"
import { Cluster } from "../mod.ts"
import { Directory } from "../runtime/directory.ts"
import { MemoryNetwork } from "../runtime/memory_transport.ts"

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("Directory", () => {
  it("starts with every key owned by its home, key mod nodes, at epoch 0", () => {
    for (const nodes of [1, 2, 3, 5]) {
      for (let self = 0; self < nodes; self++) {
        const dir = new Directory(self, nodes, 23)
        assert.equal(dir.owner.length, 23)
        for (let key = 0; key < 23; key++) {
          assert.equal(dir.owner[key], key % nodes, `nodes ${nodes} key ${key}`)
          assert.equal(dir.home(key), key % nodes)
          assert.equal(dir.epoch[key], 0)
        }
      }
    }
  })

  it("takes only newer epochs", () => {
    const dir = new Directory(0, 3, 12)
    dir.learn(4, 2, 3, false)
    assert.equal(dir.owner[4], 2)
    assert.equal(dir.epoch[4], 3)
    // Older news is ignored, whoever it names.
    dir.learn(4, 0, 2, false)
    dir.learn(4, 1, 1, false)
    dir.learn(4, 1, 0, false)
    assert.equal(dir.owner[4], 2)
    assert.equal(dir.epoch[4], 3)
    // The same news again is harmless.
    dir.learn(4, 2, 3, false)
    assert.equal(dir.owner[4], 2)
    // Newer news wins, skipping epochs is fine.
    dir.learn(4, 0, 7, false)
    assert.equal(dir.owner[4], 0)
    assert.equal(dir.epoch[4], 7)
    // Other keys are untouched.
    assert.equal(dir.owner[5], 2)
    assert.equal(dir.epoch[5], 0)
  })

  it("ignores older news even while this node owns the key", () => {
    const dir = new Directory(1, 3, 6)
    dir.record(4, 1, 5)
    dir.learn(4, 2, 4, true)
    dir.learn(4, 1, 5, true)
    assert.equal(dir.owner[4], 1)
    assert.equal(dir.epoch[4], 5)
  })

  it("throws on two owners at the same epoch and keeps its belief", () => {
    const dir = new Directory(0, 3, 6)
    dir.learn(2, 1, 4, false)
    assert.throws(() => dir.learn(2, 0, 4, false), (e: unknown) => {
      assert.ok(e instanceof InvariantViolation)
      assert.match(e.message, /key 2 has two owners at epoch 4: 1 and 0/)
      return true
    })
    assert.equal(dir.owner[2], 1)
    assert.equal(dir.epoch[2], 4)
    // At epoch 0 the owner is the home; news naming another node at epoch 0 is a conflict too.
    assert.throws(() => dir.learn(5, 0, 0, false), /key 5 has two owners at epoch 0: 2 and 0/)
  })

  it("throws when a newer owner is announced while this node owns the key", () => {
    const dir = new Directory(2, 3, 6)
    // Key 5's home is node 2, which owns it at epoch 0.
    assert.throws(() => dir.learn(5, 1, 1, true), (e: unknown) => {
      assert.ok(e instanceof InvariantViolation)
      assert.match(e.message, /node 2 owns key 5 at epoch 0 but node 1 claims epoch 1/)
      return true
    })
    assert.equal(dir.owner[5], 2)
    assert.equal(dir.epoch[5], 0)
    // The same news is fine once this node no longer owns the key.
    dir.learn(5, 1, 1, false)
    assert.equal(dir.owner[5], 1)
  })

  it("records moves at the same or a newer epoch, and asserts on older ones", () => {
    const dir = new Directory(0, 2, 4)
    dir.record(3, 0, 2)
    assert.equal(dir.owner[3], 0)
    assert.equal(dir.epoch[3], 2)
    dir.record(3, 1, 2)
    assert.equal(dir.owner[3], 1)
    assert.throws(() => dir.record(3, 0, 1), /key 3: epoch 1 older than 2/)
    assert.equal(dir.owner[3], 1)
    assert.equal(dir.epoch[3], 2)
  })

  describe("nextHop", () => {
    const hopsMax = 8

    it("returns the believed owner below forwardHopsMax hops", () => {
      const dir = new Directory(0, 3, 9)
      assert.equal(dir.nextHop(1, 0, hopsMax), 1)
      assert.equal(dir.nextHop(2, 0, hopsMax), 2)
      dir.learn(4, 2, 1, false) // home 1, now at node 2
      assert.equal(dir.nextHop(4, 0, hopsMax), 2)
      assert.equal(dir.nextHop(4, hopsMax - 1, hopsMax), 2)
    })

    it("returns the home once a request has taken forwardHopsMax hops", () => {
      const dir = new Directory(0, 3, 9)
      dir.learn(4, 2, 1, false) // home 1, believed at 2
      assert.equal(dir.nextHop(4, hopsMax, hopsMax), 1)
      assert.equal(dir.nextHop(4, hopsMax + 5, hopsMax), 1)
      assert.equal(dir.nextHop(7, 3, 3), 1) // key 7: home 1, owner 1
    })

    it("follows the believed owner when this node is the home, even after many hops", () => {
      const dir = new Directory(1, 3, 9)
      dir.record(4, 2, 3) // this node is key 4's home and knows its owner
      assert.equal(dir.nextHop(4, hopsMax, hopsMax), 2)
      assert.equal(dir.nextHop(4, 100, hopsMax), 2)
    })

    it("throws when it would route a key to itself", () => {
      const dir = new Directory(0, 3, 9)
      assert.throws(() => dir.nextHop(3, 0, hopsMax), (e: unknown) => {
        assert.ok(e instanceof InvariantViolation)
        assert.match(e.message, /node 0 routes key 3 to itself/)
        return true
      })
      // Also past forwardHopsMax, since this node is the home.
      assert.throws(() => dir.nextHop(3, hopsMax, hopsMax), /routes key 3 to itself/)
      // And for a key it learned it owns.
      dir.learn(4, 0, 2, false)
      assert.throws(() => dir.nextHop(4, 0, hopsMax), /routes key 4 to itself/)
      // Past forwardHopsMax it goes home instead (key 4's home is node 1).
      assert.equal(dir.nextHop(4, hopsMax, hopsMax), 1)
    })
  })

  it("ends with the newest news whatever order it arrives in (property)", () => {
    // News for one key, each epoch naming one owner: any delivery order must
    // leave the owner of the largest epoch, and never throw.
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 1000 }),
        (epochs, salt) => {
          const nodes = 4
          const ownerAt = (epoch: number) => (epoch * 7 + salt) % nodes
          const dir = new Directory(3, nodes, 8)
          const key = 6
          for (const epoch of epochs) dir.learn(key, ownerAt(epoch), epoch, false)
          // Replaying the same news in reverse changes nothing.
          for (const epoch of [...epochs].reverse()) dir.learn(key, ownerAt(epoch), epoch, false)
          const newest = Math.max(...epochs)
          assert.equal(dir.epoch[key], newest)
          assert.equal(dir.owner[key], ownerAt(newest))
        },
      ),
      { seed: 31, numRuns: 300 },
    )
  })
})

describe("the home's record", () => {
  it("hears of the hand-overs a node installs in one turn in one OwnerUpdate", async () => {
    const network = new MemoryNetwork({ nodes: 3, seed: 4, manual: true })
    const cluster = await Cluster.local(
      { nodes: 3, tables: [{ name: "t", keys: 9, length: 1 }], policy: "lapse" },
      { network },
    )
    // Deliver everything; microtasks (where OwnerUpdates are sent) run between rounds only.
    const drain = async () => {
      for (let i = 0; i < 20; i++) {
        while (network.step()) { /* deliver */ }
        await turn()
        if (network.pending === 0) break
      }
    }
    try {
      const [n0, n1, n2] = [0, 1, 2].map((i) => cluster.node(i).runtime)
      const keys = [1, 4, 7] // Home: node 1.
      const moved = cluster.node(0).worker().localize(keys)
      await drain()
      await moved
      // Node 2 asks in three operations: node 0 hands the keys over in three frames.
      const w2 = cluster.node(2).worker()
      const asked = keys.map((key) => w2.localize([key]))
      const sent = n2.stats.framesSent
      await drain()
      await Promise.all(asked)
      for (const key of keys) {
        assert.equal(n2.store.state[key], KeyState.Owner)
        assert.equal(n1.directory.owner[key], 2, `the home knows key ${key} moved on`)
        assert.equal(n1.directory.epoch[key], 2)
        assert.equal(n0.store.state[key], KeyState.Absent)
      }
      // Three acknowledgements to node 0, and one OwnerUpdate with the three keys to node 1.
      assert.equal(n2.stats.framesSent - sent, 4)
    } finally {
      await cluster.close()
    }
  })
})
