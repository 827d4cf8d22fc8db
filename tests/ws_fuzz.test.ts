/**
 * Bad input against a live WebSocket endpoint, generated with fast-check.
 *
 * The victim is node 999 of a 1000-node key space, listening on loopback
 * with the codec's checks in front of its handler (as a real node has). Two
 * kinds of attacker, thousands of messages in all:
 * - unauthenticated connections sending random and mutated handshake
 *   messages and frames: each must be refused, nothing delivered;
 * - authenticated nodes (each a fresh id: a lost peer cannot rejoin) sending
 *   messages of one to four frames, valid ones mixed with mutated ones, some
 *   messages cut short: exactly the frames before the first malformed frame
 *   or broken message are delivered, byte for byte, and then the link is
 *   closed.
 * Afterwards a good peer still gets its frames through. A negative control
 * shows that an endpoint without the check would have delivered the garbage.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { KeySpace } from "../actors/key_space.ts"
import {
  checkFrame,
  decodeFrame,
  encodeFrame,
  frameColumns,
  FrameType,
  MalformedFrame,
} from "../runtime/codec.ts"
import { defaultConfig } from "../runtime/config.ts"
import { controlText, newNonce } from "../runtime/handshake.ts"
import { frameMessage } from "../runtime/peer_link.ts"
import { WsEndpoint } from "../runtime/ws_transport.ts"
import { rawConnect, rawDial, SECRET, waitFor } from "./_ws_harness.ts"

const NODES = 1000
const VICTIM = NODES - 1
const GOOD_PEER = NODES - 2
const space = new KeySpace([{ name: "w", keys: 50, length: 3 }, { name: "b", keys: 10, length: 1 }])
const codecCheck = (bytes: Uint8Array) => checkFrame(decodeFrame(bytes), space, NODES)
/**
 * What a node's frame handler tells the endpoint: the codec's verdict. Only
 * `MalformedFrame` is a verdict; anything else the codec throws on hostile
 * bytes escapes, and fails the test.
 */
const verdict = (bytes: Uint8Array): string | undefined => {
  try {
    codecCheck(bytes)
  } catch (error) {
    if (error instanceof MalformedFrame) return error.message
    throw error
  }
}
const config = { ...defaultConfig, heartbeatMs: 50, handshakeTimeoutMs: 300 }

const isValid = (bytes: Uint8Array): boolean => {
  try {
    codecCheck(bytes)
    return true
  } catch {
    return false
  }
}

/** A valid frame for `space`: any type, keys in range, the values they need. */
const validFrame = fc.record({
  type: fc.constantFrom(...Object.values(FrameType)),
  origin: fc.integer({ min: 0, max: NODES - 1 }),
  id: fc.nat(),
  keys: fc.array(fc.integer({ min: 0, max: space.keys - 1 }), { maxLength: 12 }),
}).map(({ type, origin, id, keys }) => {
  const cols = frameColumns(type)
  const k = Uint32Array.from(keys)
  const floats = keys.reduce((sum, key) => sum + space.lengthOf(key), 0)
  return encodeFrame({ type, origin, id, hops: 0 }, k, {
    a: cols.a ? new Uint32Array(k.length) : undefined,
    b: cols.b ? new Uint32Array(k.length) : undefined,
    values: cols.values ? new Float32Array(floats).fill(1) : undefined,
  })
})

/** A valid frame, or one damaged in a way a buggy or hostile peer might send. */
const mutatedFrame = fc.tuple(validFrame, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(7))
  .chain(([bytes, at, byte, how]) => {
    const out = bytes.slice()
    switch (how) {
      case 0:
        return fc.constant(bytes)
      case 1: // One byte anywhere.
        out[at % out.length] = byte
        return fc.constant(out)
      case 2: // Truncated.
        return fc.constant(bytes.slice(0, at % bytes.length))
      case 3: // Trailing bytes.
        return fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) =>
          Uint8Array.from([...bytes, ...tail])
        )
      case 4: // A header field (origin, id, hops, count, valueCount) set to anything.
        return fc.integer({ min: 0, max: 0xffff_ffff }).map((v) => {
          new DataView(out.buffer).setUint32(4 + 4 * (at % 5), v, true)
          return out
        })
      case 5: // A key out of range, when there is one to damage.
        if (bytes.length < 28) return fc.constant(bytes)
        new DataView(out.buffer).setUint32(24, space.keys + (at % 1000), true)
        return fc.constant(out)
      default: // Noise.
        return fc.uint8Array({ maxLength: 64 })
    }
  })

/**
 * A binary message as a buggy or hostile peer might send it: one to four
 * (possibly mutated) frames, each after its length, sometimes cut short.
 * `frames` are the ones wholly before the cut; `broken` says a cut left a
 * partial frame or length behind them (a cut on a boundary is a shorter,
 * well-formed message).
 */
const peerMessage = fc.tuple(
  fc.array(mutatedFrame, { minLength: 1, maxLength: 4 }),
  fc.option(fc.nat(), { freq: 4 }),
).map(([frames, cut]) => {
  const whole = frameMessage(frames)
  if (cut === null) return { bytes: whole, frames, broken: false }
  const at = cut % whole.length
  const kept: Uint8Array[] = []
  let end = 0
  for (const frame of frames) {
    if (end + 4 + frame.length > at) break
    kept.push(frame)
    end += 4 + frame.length
  }
  return { bytes: whole.slice(0, at), frames: kept, broken: at !== end }
})

/** Random handshake-shaped text, real-looking handshake messages, and binary noise. */
const unauthenticatedMessage = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.constant(controlText({ t: "hello", from: 3, to: VICTIM, nonce: newNonce(), shape: "" })),
  fc.record({ from: fc.nat(NODES + 5), to: fc.nat(NODES + 5) }).map((ids) =>
    controlText({ t: "hello", ...ids, nonce: newNonce(), shape: "" })
  ),
  fc.constant(controlText({ t: "proof", proof: "00".repeat(32) })),
  fc.constant(controlText({ t: "ready" })),
  fc.constant(controlText({ t: "beat" })),
  mutatedFrame,
)

describe("WebSocket endpoint under bad input", () => {
  it("refuses garbage, delivers only checked frames, and keeps serving a good peer", {
    timeout: 30_000,
  }, async () => {
    const log: string[] = []
    const victim = await WsEndpoint.listen({
      id: VICTIM,
      nodes: NODES,
      secret: SECRET,
      config,
      log: (m) => log.push(m),
    })
    const delivered: Array<[number, Uint8Array]> = []
    victim.onFrame((from, frame) => {
      const fault = verdict(frame)
      if (fault === undefined) delivered.push([from, frame.slice()])
      return fault
    })
    let messages = 0
    try {
      // Unauthenticated: every connection ends refused, and nothing is delivered.
      await fc.assert(
        fc.asyncProperty(
          fc.array(unauthenticatedMessage, { minLength: 10, maxLength: 60 }),
          async (batch) => {
            const client = await rawConnect(victim.url)
            for (const m of batch) client.socket.send(m)
            messages += batch.length
            const code = await client.closed
            assert.ok(code === 4003 || code === 1009, `closed with ${code}`)
            assert.equal(delivered.length, 0)
          },
        ),
        { numRuns: 120, seed: 5 },
      )
      // Authenticated: delivery stops at the first malformed frame or message,
      // which closes the link.
      let attacker = 0
      await fc.assert(
        fc.asyncProperty(
          fc.array(peerMessage, { minLength: 5, maxLength: 30 }),
          async (sent) => {
            const from = attacker++
            const client = await rawDial(victim.url, { from, to: VICTIM }, SECRET)
            const before = delivered.length
            for (const m of sent) client.socket.send(m.bytes)
            messages += sent.length
            const expected: Uint8Array[] = []
            let closes = false
            for (const m of sent) {
              const bad = m.frames.findIndex((f) => !isValid(f))
              expected.push(...(bad < 0 ? m.frames : m.frames.slice(0, bad)))
              if (bad >= 0 || m.broken) {
                closes = true
                break
              }
            }
            if (closes) assert.equal(await client.closed, 4002)
            await waitFor(() => delivered.length === before + expected.length, "the valid prefix")
            const got = delivered.slice(before)
            assert.deepEqual(got.map(([f]) => f), expected.map(() => from))
            assert.deepEqual(got.map(([, bytes]) => bytes), expected.map((f) => Uint8Array.from(f)))
            for (const [, bytes] of got) codecCheck(bytes)
            client.socket.close()
            await client.closed
          },
        ),
        { numRuns: 200, seed: 6 },
      )
      assert.ok(messages > 2_000, `only ${messages} messages sent`)
      assert.ok(victim.counters.connectionsRefused >= 120)
      assert.ok(victim.counters.framesRejected > 50, `${victim.counters.framesRejected} rejected`)
      assert.ok(log.some((m) => /closing the link: malformed frame/.test(m)))
      assert.ok(log.some((m) => /left in (a|its) message/.test(m)), "no message was cut short")
      // The victim still answers a good peer.
      const good = await rawDial(victim.url, { from: GOOD_PEER, to: VICTIM }, SECRET)
      const count = delivered.length
      const frame = encodeFrame(
        { type: FrameType.Push, origin: GOOD_PEER, id: 1, hops: 0 },
        Uint32Array.of(7),
        { values: Float32Array.of(1, 2, 3) },
      )
      good.socket.send(frameMessage([frame]))
      await waitFor(() => delivered.length === count + 1, "the good peer's frame")
      assert.deepEqual(delivered.at(-1), [GOOD_PEER, frame])
      good.socket.close()
      await good.closed
    } finally {
      await victim.close()
    }
  })

  it("negative control: without the check, a malformed frame would be delivered", async () => {
    const open = await WsEndpoint.listen({
      id: 1,
      nodes: 2,
      secret: SECRET,
      config,
      log: () => {},
    })
    const delivered: Uint8Array[] = []
    open.onFrame((_, frame) => {
      delivered.push(frame)
    })
    try {
      const client = await rawDial(open.url, { from: 0, to: 1 }, SECRET)
      client.socket.send(frameMessage([Uint8Array.of(0xde, 0xad)]))
      await waitFor(() => delivered.length === 1, "the garbage frame")
      assert.equal(isValid(delivered[0]), false)
      client.socket.close()
      await client.closed
    } finally {
      await open.close()
    }
  })
})
