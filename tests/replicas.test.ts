/**
 * Replicas through the public API on the live clock: full-replication and
 * nups (hot list and hottest-n), waitSync, set on a replica, dropping a
 * replica (its last delta reaches the owner), stats, and bad policy options,
 * and a seeded property of `set` on replicated keys (it overwrites, once).
 * The seeded properties of the contract with replicas live in
 * consistency.test.ts; these are the scenarios a user meets first.
 */
import fc from "fast-check"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { setImmediate } from "node:timers"
import { KeyState } from "../actors/lifecycle.ts"
import { Cluster, InvalidOptions } from "../mod.ts"
import { MemoryNetwork } from "../runtime/memory_transport.ts"
import type { PolicyOption } from "../runtime/policy.ts"

const KEYS = 12
const LENGTH = 2
const all = Array.from({ length: KEYS }, (_, k) => k)

function start(policy: PolicyOption, nodes = 3) {
  return Cluster.local({
    nodes,
    tables: [{ name: "t", keys: KEYS, length: LENGTH, init: (k, v) => v.fill(k) }],
    policy,
  })
}

/** Pull `keys` on every node's worker and return what each saw. */
async function pullEverywhere(workers: { pull(k: number[]): Promise<Float32Array> }[]) {
  return await Promise.all(workers.map((w) => w.pull(all).then((v) => Array.from(v))))
}

const expected = (perKey: (k: number) => number) =>
  all.flatMap((k) => [k + perKey(k), k + perKey(k)])

describe("replicas", () => {
  it("full-replication: every node serves every key locally and converges exactly", async () => {
    const cluster = await start("full-replication")
    try {
      const workers = cluster.localNodes.map((n) => n.worker())
      await Promise.all(workers.map((w) => w.waitSync()))
      const out = new Float32Array(KEYS * LENGTH)
      for (const w of workers) assert.ok(w.tryPull(all, out), `node ${w.nodeId} has every key`)
      for (let round = 0; round < 4; round++) {
        for (const w of workers) w.push(all, new Float32Array(KEYS * LENGTH).fill(w.nodeId + 1))
      }
      await Promise.all(workers.map((w) => w.waitSync()))
      // Each round adds 1 + 2 + 3 = 6 to every float.
      for (const seen of await pullEverywhere(workers)) assert.deepEqual(seen, expected(() => 24))
      const stats = cluster.stats()
      assert.equal(stats.total.replicasCreated, KEYS * 2, "each key replicated on 2 non-owners")
      assert.equal(stats.total.pushKeysRemote, 0, "pushes all applied locally")
      assert.ok(stats.total.replicaKeysLocal > 0)
      assert.ok(stats.total.syncRounds > 0 && stats.total.syncKeysMerged > 0)
      assert.equal(stats.total.replicasHeld, KEYS * 2)
      assert.ok(stats.syncRoundsPerSecond > 0, "sync rounds per second")
      assert.ok(stats.syncKeysPerRound > 0 && stats.syncKeysPerRound <= KEYS * 2)
      assert.equal(stats.syncBytesPerRound > stats.syncKeysPerRound * LENGTH * 4, true)
      assert.equal(stats.localShare, 1)
    } finally {
      await cluster.close()
    }
  })

  it("nups with a hot list replicates exactly those keys and relocates the rest", async () => {
    const hot = [0, 1, 2, 3]
    const cluster = await start({ name: "nups", hot })
    try {
      const workers = cluster.localNodes.map((n) => n.worker())
      await Promise.all(workers.map((w) => w.waitSync()))
      for (const node of cluster.localNodes) {
        const state = node.runtime.store.state
        for (const k of all) {
          const home = k % 3 === node.id
          const want = home ? KeyState.Owner : hot.includes(k) ? KeyState.Replica : KeyState.Absent
          assert.equal(state[k], want, `node ${node.id} key ${k}`)
        }
      }
      // A non-hot key relocates on localize; a hot one is already local.
      await workers[1].localize([6, 0])
      assert.equal(cluster.node(1).runtime.store.state[6], KeyState.Owner)
      assert.equal(cluster.node(1).runtime.store.state[0], KeyState.Replica)
      for (const w of workers) w.push([0, 6], new Float32Array(4).fill(1))
      await Promise.all(workers.map((w) => w.waitSync()))
      for (const seen of await pullEverywhere(workers)) {
        assert.deepEqual(seen, expected((k) => (k === 0 || k === 6 ? 3 : 0)))
      }
    } finally {
      await cluster.close()
    }
  })

  it("nups { hottest: n } replicates each node's most accessed keys after the first barrier", async () => {
    const cluster = await start({ name: "nups", hot: { hottest: 2 } })
    try {
      const workers = cluster.localNodes.map((n) => n.worker())
      const out = new Float32Array(LENGTH * 3)
      // Node 2's workers hammer keys 3 and 4 (not its own) and touch 7 once.
      for (let i = 0; i < 20; i++) await workers[2].pull([3, 4, 3], out)
      await workers[2].pull([7], new Float32Array(LENGTH))
      await Promise.all(workers.map((w) => w.barrier()))
      await Promise.all(workers.map((w) => w.waitSync()))
      const state = cluster.node(2).runtime.store.state
      assert.equal(state[3], KeyState.Replica)
      assert.equal(state[4], KeyState.Replica)
      assert.equal(state[7], KeyState.Absent)
      assert.ok(workers[2].tryPull([3, 4, 3], out), "hot keys now local")
      assert.equal(cluster.node(0).runtime.replicas.count, 0, "node 0 accessed nothing")
    } finally {
      await cluster.close()
    }
  })

  it("set on a replica is read back at once and reaches the owner", async () => {
    const cluster = await start("full-replication")
    try {
      const [w0, w1] = cluster.localNodes.map((n) => n.worker())
      await w1.waitSync()
      w1.set([3], new Float32Array([40, 41])) // key 3's owner is node 0
      const out = new Float32Array(LENGTH)
      assert.ok(w1.tryPull([3], out))
      assert.deepEqual(Array.from(out), [40, 41])
      await w1.waitSync()
      assert.ok(w0.tryPull([3], out))
      assert.deepEqual(Array.from(out), [40, 41])
    } finally {
      await cluster.close()
    }
  })

  it("sets of one key on two replicas leave one of the two values, not their sum", async () => {
    // Found by a new-user audit: a set on a replica was sent as a delta, so
    // sets of 100 and 200 on two replicas of a key holding 10 gave 290.
    for (const policy of ["full-replication", "replication-only"] as const) {
      const cluster = await start(policy)
      try {
        const workers = cluster.localNodes.map((n) => n.worker())
        const [w0, w1, w2] = workers
        for (const w of workers) w.intent([0], 0, 1000)
        const settle = async () => {
          await Promise.all(workers.map((w) => w.barrier()))
          await Promise.all(workers.map((w) => w.waitSync()))
        }
        await settle()
        assert.equal(cluster.node(1).runtime.store.state[0], KeyState.Replica, policy)
        w0.set([0], new Float32Array([10, 10]))
        await settle()
        w1.set([0], new Float32Array([100, 100]))
        assert.deepEqual(Array.from(await w1.pull([0])), [100, 100], `${policy}: read-your-writes`)
        w2.set([0], new Float32Array([200, 200]))
        await settle()
        const seen = await pullEverywhere(workers)
        assert.ok([100, 200].includes(seen[0][0]), `${policy}: ${seen[0]}`)
        for (const values of seen) assert.deepEqual(values.slice(0, 2), seen[0].slice(0, 2), policy)
        w1.push([0], new Float32Array([1, 1]))
        w2.push([0], new Float32Array([2, 2]))
        await settle()
        const after = await pullEverywhere(workers)
        for (const values of after) {
          assert.equal(values[0], seen[0][0] + 3, `${policy}: pushes after`)
        }
      } finally {
        await cluster.close()
      }
    }
  })

  it("dropping a replica sends its last delta; the node then reads its own push remotely", async () => {
    const cluster = await start("full-replication", 2)
    try {
      const [w0, w1] = cluster.localNodes.map((n) => n.worker())
      await w1.waitSync()
      const runtime = cluster.node(1).runtime
      w1.push([0], new Float32Array([5, 5]))
      runtime.dropReplicas([0])
      assert.equal(runtime.store.state[0], KeyState.Absent)
      const out = new Float32Array(LENGTH)
      assert.equal(w1.tryPull([0], out), false, "no longer local")
      assert.deepEqual(Array.from(await w1.pull([0])), [5, 5], "read-your-writes after the drop")
      assert.ok(w0.tryPull([0], out))
      assert.deepEqual(Array.from(out), [5, 5])
      assert.equal(cluster.stats().total.replicasDropped, 1)
      runtime.checkIntegrity()
    } finally {
      await cluster.close()
    }
  })

  it("waitSync after close fails with ClusterClosed", async () => {
    const cluster = await start("full-replication")
    const w = cluster.node(0).worker()
    await cluster.close()
    assert.throws(
      () => w.waitSync(),
      (e: unknown) => (e as { _tag?: string })._tag === "ClusterClosed",
    )
  })

  it("rejects bad policy options with InvalidOptions", async () => {
    const bad: unknown[] = [
      "nups",
      { name: "nups" },
      { name: "nups", hot: [1.5] },
      { name: "nups", hot: [-1] },
      { name: "nups", hot: [KEYS] },
      { name: "nups", hot: { hottest: 0 } },
      "replicate-everything",
    ]
    for (const policy of bad) {
      await assert.rejects(
        start(policy as PolicyOption),
        (e: unknown) => e instanceof InvalidOptions,
        JSON.stringify(policy),
      )
    }
  })

  it("rejects unknown keys of a policy object, naming them, instead of ignoring them", async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ name: "static", hot: [1] }, /^policy static: unknown option 'hot'; known: name$/],
      [
        { nmae: "static" },
        /^policy: unknown option 'nmae' \(did you mean 'name'\?\); known: name$/,
      ],
      [
        { name: "nups", hot: [1], hottest: 2 },
        /^policy nups: unknown option 'hottest'; known: name, hot$/,
      ],
      [
        { name: "nups", hot: { hotest: 2 } },
        /^policy nups: unknown hot option 'hotest' \(did you mean 'hottest'\?\); known: hottest$/,
      ],
      [{}, /^policy \{ \.\.\. \} needs a name: one of static, /],
    ]
    for (const [policy, message] of bad) {
      await assert.rejects(start(policy as PolicyOption), (e: unknown) => {
        assert.equal((e as InvalidOptions)._tag, "InvalidOptions", String(e))
        assert.match((e as InvalidOptions).message, message)
        return true
      }, JSON.stringify(policy))
    }
  })
})

/** One step of the `set` property: a write, a read or a turn of the event loop. */
type SetStep =
  | { readonly kind: "set" | "push" | "pull"; readonly node: number }
  | { readonly kind: "turn" }

const setSteps = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constantFrom("set", "push", "pull"), node: fc.nat(3) }),
    fc.constant({ kind: "turn" as const }),
  ),
  { minLength: 1, maxLength: 30 },
)

describe("set on replicated keys (property)", () => {
  it("overwrites once at the owner: every node ends on one set value plus some pushes, and reads its own set", async () => {
    // A set writes 1000 c (c its number) and a push adds 1, so a value names
    // the set it comes from and the pushes applied after it. Frames are
    // delayed at random (seeded), so sets from different nodes race.
    const policies: PolicyOption[] = [
      "full-replication",
      "replication-only",
      "adaptive",
      { name: "nups", hot: [0] },
    ]
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 4 }),
        fc.constantFrom(...policies),
        fc.nat(1000),
        setSteps,
        async (nodes, policy, seed, steps) => {
          const network = new MemoryNetwork({ nodes, seed, delayMax: 3 })
          const cluster = await Cluster.local({
            nodes,
            tables: [{ name: "t", keys: 2, length: 1 }],
            policy,
          }, { network })
          try {
            const workers = cluster.localNodes.map((n) => n.worker())
            for (const w of workers) w.intent([0], 0, 1_000_000)
            const settle = async () => {
              await Promise.all(workers.map((w) => w.barrier()))
              await Promise.all(workers.map((w) => w.waitSync()))
              await Promise.all(workers.map((w) => w.waitSync()))
            }
            await settle()
            const sets = [0]
            let pushes = 0
            const reads: Promise<void>[] = []
            for (const step of steps) {
              if (step.kind === "turn") {
                await new Promise<void>((resolve) => setImmediate(resolve))
                continue
              }
              const n = step.node % nodes
              const w = workers[n]
              if (step.kind === "push") (pushes++, w.push([0], new Float32Array([1])))
              else if (step.kind === "pull") reads.push(w.pull([0]).then(() => {}))
              else {
                const c = sets.length
                sets.push(c)
                const state = cluster.node(n).runtime.store.state[0]
                w.set([0], new Float32Array([1000 * c]))
                // Read-your-writes: a node that held the key reads its set back.
                if (state === KeyState.Owner || state === KeyState.Replica) {
                  reads.push(
                    w.pull([0]).then((v) => {
                      const from = Math.floor(v[0] / 1000)
                      assert.ok(from >= c, `node ${n} set ${c} and read ${v[0]}`)
                    }),
                  )
                }
              }
            }
            await Promise.all(reads)
            await settle()
            const seen = await Promise.all(workers.map((w) => w.pull([0])))
            const value = seen[0][0]
            for (const v of seen) {
              assert.equal(
                v[0],
                value,
                `nodes disagree: ${seen.map((x) => x[0])}`,
              )
            }
            const from = Math.floor(value / 1000)
            const added = value - 1000 * from
            assert.ok(sets.includes(from), `${value} is no set value`)
            assert.ok(added <= pushes, `${value}: more than the ${pushes} pushes`)
            if (sets.length === 1) assert.equal(value, pushes, "no set: exactly the pushes")
          } finally {
            await cluster.close()
          }
        },
      ),
      { seed: 20261125, numRuns: 60 },
    )
  })
})
