/**
 * Tests of the directory: the initial placement every node can compute, the
 * epoch rule for ownership news (only newer news is taken, two owners at one
 * epoch or news of a newer owner while this node owns the key are broken
 * invariants), recorded moves, and the routing of a request this node cannot
 * serve (the believed owner, the home after `forwardHopsMax` hops, never
 * itself).
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { InvariantViolation } from "../actors/assert.ts"
import { Directory } from "../runtime/directory.ts"

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
