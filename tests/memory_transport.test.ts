/**
 * Tests of the memory transport: the shared conformance suite in auto and
 * manual mode, then what only this implementation promises (replay from a
 * seed, FIFO under random delays, the `drain` limit, the counters), a negative
 * control showing the FIFO check catches a transport that reorders a link, and
 * a few checks of the `Prng` that drives the scheduler.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { Effect } from "effect"
import { MemoryNetwork, type MemoryNetworkOptions } from "../runtime/memory_transport.ts"
import { Prng } from "../runtime/prng.ts"
import { type Endpoint, Transport } from "../runtime/transport.ts"
import {
  checkPerLinkFifo,
  nextMacrotask,
  transportConformance,
  type TransportHarness,
} from "./transport_conformance.ts"

const SETTLE_MACROTASKS_MAX = 100_000

function harnessOf(network: MemoryNetwork, manual: boolean): TransportHarness {
  return {
    endpoint: (i) => network.endpoint(i),
    settle: async () => {
      if (manual) {
        network.drain()
        return
      }
      for (let i = 0; network.pending > 0; i++) {
        if (i === SETTLE_MACROTASKS_MAX) {
          throw new Error(`${network.pending} frames never delivered`)
        }
        await nextMacrotask()
      }
    },
    close: () => network.close(),
  }
}

function makeHarness(options: Omit<MemoryNetworkOptions, "nodes">) {
  return (nodes: number) =>
    Promise.resolve(harnessOf(new MemoryNetwork({ nodes, ...options }), options.manual ?? false))
}

transportConformance("memory (auto)", makeHarness({ seed: 1 }))
transportConformance("memory (manual)", makeHarness({ seed: 2, manual: true }))
transportConformance("memory (auto, delayMax 20)", makeHarness({ seed: 3, delayMax: 20 }))

/**
 * Wraps an endpoint so that every two frames on a link go out swapped: a
 * transport that is reliable but not FIFO, which the FIFO check must reject.
 */
function swappingEndpoint(inner: Endpoint): Endpoint {
  const held = new Map<number, Uint8Array>()
  return {
    nodeId: inner.nodeId,
    nodes: inner.nodes,
    send(to, frame) {
      const first = held.get(to)
      if (first === undefined) {
        held.set(to, frame)
        return
      }
      held.delete(to)
      inner.send(to, frame)
      inner.send(to, first)
    },
    onFrame: (handler) => inner.onFrame(handler),
    close: () => inner.close(),
  }
}

/** Sends `framesPerLink` frames on every link of `network`, link-interleaved, and drains it. */
function runWorkload(network: MemoryNetwork, framesPerLink: number): string[] {
  const log: string[] = []
  const n = network.nodes
  for (let i = 0; i < n; i++) {
    network.endpoint(i).onFrame((from, frame) => {
      log.push(`${from}>${i}#${frame[0]}`)
    })
  }
  for (let k = 0; k < framesPerLink; k++) {
    for (let from = 0; from < n; from++) {
      for (let to = 0; to < n; to++) {
        if (from !== to) network.endpoint(from).send(to, Uint8Array.of(k))
      }
    }
  }
  network.drain()
  return log
}

describe("MemoryNetwork", () => {
  it("replays the same delivery order from the same seed, and not from another", () => {
    const options = { nodes: 4, delayMax: 5, manual: true }
    const a = runWorkload(new MemoryNetwork({ ...options, seed: 42 }), 50)
    const b = runWorkload(new MemoryNetwork({ ...options, seed: 42 }), 50)
    const c = runWorkload(new MemoryNetwork({ ...options, seed: 43 }), 50)
    assert.equal(a.length, 4 * 3 * 50)
    assert.deepEqual(a, b)
    // 600 deliveries over 12 links: two seeds agreeing on the order is practically impossible.
    assert.notDeepEqual(a, c)
    // The order really is interleaved, not link after link or in send order.
    const sendOrder = runWorkload(new MemoryNetwork({ nodes: 4, manual: true }), 1)
    assert.notDeepEqual(sendOrder, [...sendOrder].sort())
  })

  it("delivers in auto mode in the order manual mode does for the same seed", async () => {
    const manual = runWorkload(new MemoryNetwork({ nodes: 3, seed: 9, manual: true }), 20)
    const network = new MemoryNetwork({ nodes: 3, seed: 9 })
    const log: string[] = []
    for (let i = 0; i < 3; i++) {
      network.endpoint(i).onFrame((from, frame) => {
        log.push(`${from}>${i}#${frame[0]}`)
      })
    }
    for (let k = 0; k < 20; k++) {
      for (let from = 0; from < 3; from++) {
        for (let to = 0; to < 3; to++) {
          if (from !== to) network.endpoint(from).send(to, Uint8Array.of(k))
        }
      }
    }
    await harnessOf(network, false).settle()
    assert.deepEqual(log, manual)
  })

  it("keeps a link FIFO when later frames draw shorter delays", async () => {
    const network = new MemoryNetwork({ nodes: 2, seed: 5, delayMax: 1000, manual: true })
    const got: number[] = []
    network.endpoint(1).onFrame((_, frame) => {
      got.push(frame[0] | (frame[1] << 8))
    })
    for (let k = 0; k < 500; k++) network.endpoint(0).send(1, Uint8Array.of(k & 0xff, k >> 8))
    network.drain()
    assert.deepEqual(got, Array.from({ length: 500 }, (_, k) => k))
    for (const seed of [1, 2, 3]) {
      const options = { nodes: 4, seed, delayMax: 100, manual: true }
      await checkPerLinkFifo(harnessOf(new MemoryNetwork(options), true), seed)
    }
  })

  it("stays FIFO while a link with a standing backlog is compacted", () => {
    const network = new MemoryNetwork({ nodes: 2, seed: 8, delayMax: 3, manual: true })
    const got: number[] = []
    network.endpoint(1).onFrame((_, frame) => {
      got.push(new DataView(frame.buffer).getUint32(0))
    })
    let sent = 0
    const send = () => {
      const frame = new Uint8Array(4)
      new DataView(frame.buffer).setUint32(0, sent++)
      network.endpoint(0).send(1, frame)
    }
    for (let k = 0; k < 5000; k++) {
      send()
      send()
      network.step()
    }
    assert.equal(network.pending, 5000)
    network.drain()
    assert.deepEqual(got, Array.from({ length: 10_000 }, (_, k) => k))
  })

  it("delivers at most framesPerPumpMax frames per macrotask in auto mode", async () => {
    const network = new MemoryNetwork({ nodes: 2, framesPerPumpMax: 10 })
    let calls = 0
    let microtasksRun = 0
    network.endpoint(1).onFrame(() => {
      calls++
      queueMicrotask(() => microtasksRun++)
    })
    for (let k = 0; k < 25; k++) network.endpoint(0).send(1, Uint8Array.of(k))
    assert.equal(calls, 0)
    await nextMacrotask()
    assert.equal(calls, 10, "one pump delivers framesPerPumpMax frames")
    assert.equal(microtasksRun, 10, "microtasks of a pump run before the next pump")
    await harnessOf(network, false).settle()
    assert.equal(calls, 25)
    await network.close()
  })

  it("drain throws when its step limit runs out with frames pending", () => {
    const network = new MemoryNetwork({ nodes: 2, manual: true })
    network.endpoint(1).onFrame(() => {})
    for (let k = 0; k < 10; k++) network.endpoint(0).send(1, Uint8Array.of(k))
    assert.throws(() => network.drain(5), /limit of 5 steps with 5 frames still pending/)
    assert.equal(network.drain(5), 5, "exactly enough steps is not an error")
    assert.equal(network.drain(), 0)
  })

  it("counts pending, delivered and dropped frames", async () => {
    const network = new MemoryNetwork({ nodes: 3, manual: true })
    const got: number[] = []
    network.endpoint(1).onFrame((_, frame) => {
      got.push(frame[0])
    })
    network.endpoint(2).onFrame((_, frame) => {
      got.push(frame[0])
    })
    network.endpoint(0).send(1, Uint8Array.of(1))
    network.endpoint(0).send(1, Uint8Array.of(2))
    network.endpoint(0).send(2, Uint8Array.of(3))
    assert.equal(got.length, 0, "nothing is delivered before a step")
    assert.deepEqual([network.pending, network.delivered, network.dropped], [3, 0, 0])
    assert.equal(network.step(), true)
    assert.deepEqual([network.pending, network.delivered], [2, 1])
    await network.endpoint(0).close()
    assert.deepEqual([network.pending, network.delivered, network.dropped], [0, 1, 2])
    assert.equal(network.step(), false, "frames from a closed node are dropped")
    assert.equal(got.length, 1)
  })

  it("holds frames for a node until it installs a handler", async () => {
    const network = new MemoryNetwork({ nodes: 2 })
    network.endpoint(0).send(1, Uint8Array.of(7))
    await nextMacrotask()
    await nextMacrotask()
    assert.equal(network.pending, 1)
    const got: number[] = []
    network.endpoint(1).onFrame((_, frame) => {
      got.push(frame[0])
    })
    await harnessOf(network, false).settle()
    assert.deepEqual(got, [7])
    await network.close()
  })

  it("hands out each endpoint once and passes frames through uncopied", () => {
    const network = new MemoryNetwork({ nodes: 2, manual: true })
    assert.equal(network.endpoint(1), network.endpoint(1))
    const frame = Uint8Array.of(1, 2, 3)
    let got: Uint8Array | undefined
    network.endpoint(1).onFrame((_, f) => {
      got = f
    })
    network.endpoint(0).send(1, frame)
    network.drain()
    assert.equal(got, frame)
  })

  it("stops the pump and every endpoint on close", async () => {
    const network = new MemoryNetwork({ nodes: 2 })
    let calls = 0
    network.endpoint(1).onFrame(() => {
      calls++
    })
    network.endpoint(0).send(1, Uint8Array.of(1))
    await network.close()
    await nextMacrotask()
    assert.equal(calls, 0)
    assert.throws(() => network.endpoint(0).send(1, Uint8Array.of(2)), { _tag: "TransportError" })
  })

  it("provides the Transport service through its layer", () => {
    const network = new MemoryNetwork({ nodes: 3, manual: true })
    const program = Effect.gen(function* () {
      const transport = yield* Transport
      return transport.endpoint(2)
    })
    assert.equal(Effect.runSync(Effect.provide(program, network.layer())), network.endpoint(2))
  })

  it("the FIFO check rejects a transport that swaps frames on a link", async () => {
    const network = new MemoryNetwork({ nodes: 4, seed: 1, manual: true })
    const plain = harnessOf(network, true)
    const endpoints = Array.from({ length: 4 }, (_, i) => swappingEndpoint(network.endpoint(i)))
    const broken: TransportHarness = { ...plain, endpoint: (i) => endpoints[i] }
    await assert.rejects(checkPerLinkFifo(broken), /per-link FIFO violated/)
  })
})

describe("Prng", () => {
  it("is a deterministic function of its seed", () => {
    const draw = (seed: number) => {
      const prng = new Prng(seed)
      return Array.from({ length: 8 }, () => prng.nextU32())
    }
    assert.deepEqual(draw(1), draw(1))
    assert.notDeepEqual(draw(1), draw(2))
    const prng = new Prng(3)
    const fork = prng.fork()
    assert.notDeepEqual(draw(3).slice(1), Array.from({ length: 7 }, () => fork.nextU32()))
  })

  it("draws ints and floats in range and roughly uniformly", () => {
    const prng = new Prng(11)
    const counts = new Array<number>(10).fill(0)
    for (let i = 0; i < 100_000; i++) {
      const k = prng.nextInt(10)
      assert.ok(Number.isInteger(k) && k >= 0 && k < 10)
      counts[k]++
      const f = prng.nextFloat()
      assert.ok(f >= 0 && f < 1)
    }
    for (const c of counts) assert.ok(c > 9_500 && c < 10_500, `bucket count ${c}`)
    assert.ok(prng.nextU32() >= 0 && prng.nextInt(2 ** 32) < 2 ** 32)
    assert.throws(() => prng.nextInt(0), RangeError)
  })
})
