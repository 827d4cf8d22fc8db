/**
 * Frames from a peer that break the relocation protocol are rejected whole.
 *
 * The codec checks a frame's shape (`checkFrame`); the node checks what a
 * frame claims against its own state before applying any of it: a hand-over
 * must be for keys this node expects, an acknowledgement for keys it is
 * handing over to that peer, ownership news must not contradict what this
 * node owns. A buggy or mismatched peer's frame is logged and counted, and
 * changes nothing; the genuine protocol then carries on.
 */
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { setImmediate } from "node:timers"
import { KeyState } from "../actors/lifecycle.ts"
import { Cluster } from "../mod.ts"
import { encodeFrame, FrameType } from "../runtime/codec.ts"
import { PeerLost, peerLost } from "../runtime/errors.ts"
import { MemoryNetwork } from "../runtime/memory_transport.ts"

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("a peer's frame that breaks the protocol", () => {
  it("is rejected before it changes anything, and the real protocol carries on", async () => {
    const network = new MemoryNetwork({ nodes: 2, seed: 1, manual: true })
    const cluster = await Cluster.local({
      nodes: 2,
      policy: "lapse",
      tables: [{ name: "t", keys: 4, length: 2, init: (key, value) => value.fill(key) }],
    }, { network })
    const warnings: string[] = []
    const warn = console.warn
    console.warn = (message: string) => warnings.push(message)
    try {
      const node0 = cluster.node(0).runtime
      const state = node0.store.state
      const forge = (type: number, keys: number[], epoch: number, values = false) =>
        network.endpoint(1).send(
          0,
          encodeFrame(
            { type, origin: 1, id: 0, hops: 0 },
            Uint32Array.from(keys),
            type === FrameType.HandOver
              ? {
                a: new Uint32Array(keys.length),
                b: new Uint32Array(keys.length).fill(epoch),
                values: values ? new Float32Array(2 * keys.length).fill(99) : undefined,
              }
              : { b: new Uint32Array(keys.length).fill(epoch) },
          ),
        )
      const drain = async () => {
        for (let i = 0; i < 20; i++) {
          while (network.step()) { /* deliver everything */ }
          await turn()
          if (network.pending === 0) break
        }
      }
      // Node 0 asks for key 1 (homed at node 1); its Localize waits in the network.
      const localized = cluster.node(0).worker().localize([1])
      assert.equal(state[1], KeyState.Expected)
      // Forged, in front of the genuine frames: a hand-over of key 1 (expected,
      // fine) and key 0 (node 0 owns it: not expected); an acknowledgement of
      // key 2, never handed over; news that node 1 owns key 0 at a newer epoch.
      forge(FrameType.HandOver, [1, 0], 1, true)
      forge(FrameType.HandOverAck, [2], 1)
      forge(FrameType.OwnerUpdate, [0], 5)
      await drain()
      await localized
      assert.equal(cluster.stats().total.framesRejected, 3)
      assert.ok(
        warnings.some((m) => /a hand-over from node 1 for key 0, which is owner here/.test(m)),
      )
      assert.ok(
        warnings.some((m) => /an acknowledgement from node 1 for key 2, which is owner/.test(m)),
      )
      assert.ok(
        warnings.some((m) => /owner update: node 0 owns key 0 at epoch 0 but node 1/.test(m)),
      )
      // Nothing of the forged frames was applied: key 1 arrived with its real
      // value, keys 0 and 2 are still node 0's, and the books balance.
      assert.equal(state[1], KeyState.Owner)
      assert.equal(state[0], KeyState.Owner)
      assert.equal(state[2], KeyState.Owner)
      assert.deepEqual([...await cluster.node(0).worker().pull([0, 1, 2])], [0, 0, 1, 1, 2, 2])
      for (const node of cluster.localNodes) node.runtime.checkIntegrity()
    } finally {
      console.warn = warn
      await cluster.close()
    }
  })

  it("negative control: the same hand-over, for a key the node expects, is applied", async () => {
    const network = new MemoryNetwork({ nodes: 2, seed: 1, manual: true })
    const cluster = await Cluster.local({
      nodes: 2,
      policy: "lapse",
      tables: [{ name: "t", keys: 4, length: 2 }],
    }, { network })
    try {
      const state = cluster.node(0).runtime.store.state
      void cluster.node(0).worker().localize([1])
      network.endpoint(1).send(
        0,
        encodeFrame({ type: FrameType.HandOver, origin: 1, id: 0, hops: 0 }, Uint32Array.of(1), {
          a: Uint32Array.of(0),
          b: Uint32Array.of(1),
          values: Float32Array.of(7, 7),
        }),
      )
      // Deliver only the forged frame (the genuine Localize went first; node
      // 1 would answer it, and a forged owner and a real one cannot coexist).
      network.step()
      network.step()
      // The check lets a well-formed hand-over through: the forged value is in.
      assert.equal(state[1], KeyState.Owner)
      const slab = cluster.node(0).runtime.store.slabOf(1)
      const at = slab.offsetOf(1)
      assert.deepEqual([...slab.values.subarray(at, at + 2)], [7, 7])
      assert.equal(cluster.stats().total.framesRejected, 0)
    } finally {
      await cluster.close()
    }
  })
})

describe("waitSync against lost and repeating peers", () => {
  /** Three nodes on a manual network, and node 0's `waitSync` once its SyncWait frames are out. */
  async function waiting() {
    const network = new MemoryNetwork({ nodes: 3, seed: 2, manual: true })
    const cluster = await Cluster.local({ nodes: 3, tables: [{ name: "t", keys: 6, length: 1 }] }, {
      network,
    })
    const outcome: { settled?: "resolved" | unknown } = {}
    const wait = cluster.node(0).worker().waitSync()
    wait.then(() => (outcome.settled = "resolved"), (error) => (outcome.settled = error))
    for (let i = 0; i < 200 && network.pending < 2; i++) await turn()
    assert.equal(network.pending, 2, "node 0 asked both peers")
    return { network, cluster, outcome, wait }
  }

  it("fails with PeerLost when a peer is lost before it answers", { timeout: 10_000 }, async () => {
    const { cluster, outcome, wait } = await waiting()
    try {
      cluster.node(0).runtime.failPeer(1, peerLost(1, "test"))
      await assert.rejects(wait, PeerLost)
      assert.ok(outcome.settled instanceof PeerLost)
    } finally {
      await cluster.close()
    }
  })

  it("counts peers, not answers: a second answer from one peer is rejected", {
    timeout: 20_000,
  }, async () => {
    const { network, cluster, outcome, wait } = await waiting()
    const warnings: string[] = []
    const warn = console.warn
    console.warn = (message: string) => warnings.push(message)
    try {
      // Node 1 answers twice before node 2 has answered at all.
      const answer = encodeFrame(
        { type: FrameType.SyncWaitDone, origin: 1, id: 1, hops: 0 },
        new Uint32Array(0),
      )
      network.endpoint(1).send(0, answer)
      network.endpoint(1).send(0, answer)
      // Peers answer after a sync round of their own, which runs on the live clock.
      const deadline = Date.now() + 10_000
      while (outcome.settled === undefined && Date.now() < deadline) {
        while (network.step()) { /* deliver everything */ }
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
      await wait
      assert.ok(warnings.some((m) => /node 1 answered sync wait 1 again/.test(m)), warnings.join())
      // Counting answers, node 1's second answer settled the wait and every
      // later answer named an unknown wait; counting peers, it is refused.
    } finally {
      console.warn = warn
      await cluster.close()
    }
  })
})
