/**
 * The conformance suite that every `Transport` implementation must pass.
 *
 * The relocation and replica protocols rely on exactly what `runtime/transport.ts`
 * promises: per-link FIFO, byte-exact reliable delivery while open, tagged errors
 * for bad sends, silence after close, and no delivery from inside `send`. Each
 * implementation's test file calls `transportConformance` with a harness that
 * builds a fresh network; the checks are also exported as plain functions so a
 * test can run one against a deliberately broken transport and see it fail.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { setImmediate } from "node:timers"
import { Prng } from "../runtime/prng.ts"
import type { Endpoint } from "../runtime/transport.ts"

/** What the suite needs from an implementation: endpoints, a way to wait, cleanup. */
export interface TransportHarness {
  endpoint(i: number): Endpoint
  /** Resolves when every frame sent so far has been delivered or dropped. */
  settle(): Promise<void>
  close(): Promise<void>
}

const FIFO_NODES = 4
const FIFO_FRAMES_PER_LINK = 200

/** Resolves after pending macrotasks (such as a transport's pumps) have had a turn. */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

function assertTransportError(fn: () => void, what: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.equal((e as { _tag?: unknown })._tag, "TransportError", `${what}: wrong error ${e}`)
    return true
  }, what)
}

/**
 * Every node sends 200 numbered frames to every other node, all links
 * interleaved in a seeded random order and split across two macrotasks so that
 * delivery overlaps sending. Each receiver must see, per sender, exactly
 * 0..199 in order, and the sender id in the frame must match `from`.
 */
export async function checkPerLinkFifo(harness: TransportHarness, seed = 1): Promise<void> {
  const n = FIFO_NODES
  const expected = Array.from({ length: n }, () => new Array<number>(n).fill(0))
  const errors: string[] = []
  for (let to = 0; to < n; to++) {
    harness.endpoint(to).onFrame((from, frame) => {
      const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
      const sender = view.getUint32(0, true)
      const seq = view.getUint32(4, true)
      if (sender !== from) errors.push(`node ${to}: frame from ${sender} arrived as from ${from}`)
      if (seq !== expected[to][from]) {
        errors.push(`node ${to}: from ${from} got seq ${seq}, expected ${expected[to][from]}`)
      }
      expected[to][from] = seq + 1
    })
  }
  // One entry per frame, naming its link; a seeded Fisher-Yates shuffle mixes the links.
  const order: number[] = []
  for (let from = 0; from < n; from++) {
    for (let to = 0; to < n; to++) {
      if (from !== to) { for (let k = 0; k < FIFO_FRAMES_PER_LINK; k++) order.push(from * n + to) }
    }
  }
  const prng = new Prng(seed)
  for (let i = order.length - 1; i > 0; i--) {
    const j = prng.nextInt(i + 1)
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  const nextSeq = new Array<number>(n * n).fill(0)
  for (let i = 0; i < order.length; i++) {
    if (i === order.length >> 1) await nextMacrotask()
    const link = order[i]
    const from = Math.floor(link / n)
    const frame = new Uint8Array(8)
    const view = new DataView(frame.buffer)
    view.setUint32(0, from, true)
    view.setUint32(4, nextSeq[link]++, true)
    harness.endpoint(from).send(link % n, frame)
  }
  await harness.settle()
  assert.deepEqual(errors.slice(0, 10), [], "per-link FIFO violated")
  for (let to = 0; to < n; to++) {
    for (let from = 0; from < n; from++) {
      const want = from === to ? 0 : FIFO_FRAMES_PER_LINK
      assert.equal(
        expected[to][from],
        want,
        `node ${to} got ${expected[to][from]} frames from ${from}`,
      )
    }
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** Frames of sizes 0 B to 1 MiB with random contents arrive byte for byte. */
export async function checkByteExact(harness: TransportHarness): Promise<void> {
  const sizes = [0, 1, 3, 4096, 1 << 20]
  const prng = new Prng(7)
  const sent = sizes.map((size) => {
    const bytes = new Uint8Array(size)
    for (let i = 0; i < size; i++) bytes[i] = prng.nextU32() & 0xff
    return bytes
  })
  const received: Uint8Array[] = []
  const senders: number[] = []
  harness.endpoint(1).onFrame((from, frame) => {
    senders.push(from)
    received.push(frame.slice())
  })
  // `send` takes ownership, so the transport gets copies and `sent` stays pristine.
  for (const bytes of sent) harness.endpoint(0).send(1, bytes.slice())
  await harness.settle()
  assert.equal(received.length, sent.length, "every frame arrives")
  assert.deepEqual(senders, sizes.map(() => 0), "every frame is from node 0")
  for (let i = 0; i < sent.length; i++) {
    assert.equal(received[i].byteLength, sizes[i], `frame ${i} has the size sent`)
    assert.ok(bytesEqual(received[i], sent[i]), `frame of ${sizes[i]} bytes arrives intact`)
  }
}

/** Sending to oneself or to a node outside [0, nodes) throws `TransportError`. */
export function checkBadSends(harness: TransportHarness): void {
  const ep = harness.endpoint(0)
  assert.equal(ep.nodeId, 0)
  assert.equal(ep.nodes, 2)
  assertTransportError(() => ep.send(0, new Uint8Array(1)), "send to self")
  assertTransportError(() => ep.send(2, new Uint8Array(1)), "send to id = nodes")
  assertTransportError(() => ep.send(-1, new Uint8Array(1)), "send to a negative id")
  assertTransportError(() => ep.send(0.5, new Uint8Array(1)), "send to a fractional id")
}

/**
 * After node 0 closes: it cannot send, frames to it (queued before or sent
 * after the close) never reach its handler, and the links among the other
 * nodes still work.
 */
export async function checkClose(harness: TransportHarness): Promise<void> {
  const got: Array<[number, number, number]> = []
  for (let i = 0; i < 3; i++) {
    harness.endpoint(i).onFrame((from, frame) => {
      got.push([from, i, frame[0]])
    })
  }
  harness.endpoint(1).send(0, Uint8Array.of(1))
  harness.endpoint(2).send(0, Uint8Array.of(2))
  await harness.endpoint(0).close()
  assertTransportError(() => harness.endpoint(0).send(1, Uint8Array.of(3)), "send after close")
  try {
    harness.endpoint(1).send(0, Uint8Array.of(4))
  } catch (e) {
    // A transport may refuse a send to a closed peer, but only with a tagged error.
    assert.equal((e as { _tag?: unknown })._tag, "TransportError")
  }
  harness.endpoint(1).send(2, Uint8Array.of(5))
  harness.endpoint(2).send(1, Uint8Array.of(6))
  await harness.settle()
  assert.deepEqual(got.filter(([, to]) => to === 0), [], "a closed node receives nothing")
  assert.deepEqual(
    got.filter(([, to]) => to !== 0).sort((a, b) => a[2] - b[2]),
    [[1, 2, 5], [2, 1, 6]],
    "links between open nodes keep working",
  )
}

/** The handler never runs inside `send`; every frame still arrives afterwards. */
export async function checkNoSyncDelivery(harness: TransportHarness): Promise<void> {
  let sending = false
  let calls = 0
  let callsDuringSend = 0
  for (let i = 0; i < 2; i++) {
    harness.endpoint(i).onFrame(() => {
      calls++
      if (sending) callsDuringSend++
    })
  }
  for (let k = 0; k < 50; k++) {
    sending = true
    harness.endpoint(k & 1).send(1 - (k & 1), Uint8Array.of(k))
    sending = false
    if (k % 10 === 9) await nextMacrotask()
  }
  await harness.settle()
  assert.equal(callsDuringSend, 0, "no handler call during send")
  assert.equal(calls, 50, "every frame delivered after send returned")
}

/** Registers the conformance tests for one transport implementation. */
export function transportConformance(
  name: string,
  makeHarness: (nodes: number) => Promise<TransportHarness>,
): void {
  const withHarness = (nodes: number, check: (h: TransportHarness) => unknown) => async () => {
    const harness = await makeHarness(nodes)
    try {
      await check(harness)
    } finally {
      await harness.close()
    }
  }
  describe(name + " conformance", () => {
    it("keeps every link FIFO under interleaving", withHarness(FIFO_NODES, checkPerLinkFifo))
    it("delivers frames byte-exact, 0 B to 1 MiB", withHarness(2, checkByteExact))
    it("rejects sends to self and to unknown nodes", withHarness(2, checkBadSends))
    it("goes silent for a closed node only", withHarness(3, checkClose))
    it("never delivers inside send", withHarness(2, checkNoSyncDelivery))
  })
}
