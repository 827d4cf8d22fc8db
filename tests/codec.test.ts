/**
 * Tests of the frame codec and the batch builders: every frame type survives
 * an encode/decode round trip with random contents (also from a misaligned
 * buffer), every malformed frame is rejected with `MalformedFrame`,
 * `checkFrame` holds a decoded frame to the cluster's key space and node
 * count, and an `Outbox` turns per-destination batches into frames of at most
 * `frameKeysMax` keys whose concatenation is exactly the batch.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { KeySpace } from "../actors/key_space.ts"
import {
  checkFrame,
  decodeFrame,
  encodeFrame,
  type Frame,
  FRAME_MAGIC,
  FRAME_VERSION,
  frameColumns,
  FrameType,
  frameTypeName,
  HEADER_BYTES,
  MalformedFrame,
} from "../runtime/codec.ts"
import { Batch, Outbox, sendBatch } from "../runtime/batch.ts"

const allTypes = Object.values(FrameType)
const u32 = fc.integer({ min: 0, max: 0xffff_ffff })

/** Arbitrary frame contents for `type`, shaped by its layout. */
function frameArb(type: number) {
  const cols = frameColumns(type)
  return fc.integer({ min: 0, max: 40 }).chain((count) =>
    fc.record({
      header: fc.record({ type: fc.constant(type), origin: u32, id: u32, hops: u32 }),
      keys: fc.uint32Array({ minLength: count, maxLength: count }),
      a: cols.a ? fc.uint32Array({ minLength: count, maxLength: count }) : fc.constant(undefined),
      b: cols.b ? fc.uint32Array({ minLength: count, maxLength: count }) : fc.constant(undefined),
      values: cols.values
        ? fc.float32Array({ maxLength: 200, noNaN: true })
        : fc.constant(undefined),
    })
  )
}

type Contents = {
  header: { type: number; origin: number; id: number; hops: number }
  keys: Uint32Array
  a: Uint32Array | undefined
  b: Uint32Array | undefined
  values: Float32Array | undefined
}

function encodeContents(c: Contents): Uint8Array {
  return encodeFrame(c.header, c.keys, { a: c.a, b: c.b, values: c.values })
}

function assertDecodedEquals(frame: Frame, c: Contents): void {
  assert.equal(frame.type, c.header.type)
  assert.equal(frame.origin, c.header.origin)
  assert.equal(frame.id, c.header.id)
  assert.equal(frame.hops, c.header.hops)
  assert.deepEqual(Array.from(frame.keys), Array.from(c.keys))
  assert.deepEqual(Array.from(frame.a), Array.from(c.a ?? []))
  assert.deepEqual(Array.from(frame.b), Array.from(c.b ?? []))
  // Compare bit patterns, so that -0 and 0 are told apart.
  const bits = (v: Float32Array) => Array.from(new Uint32Array(Float32Array.from(v).buffer))
  assert.deepEqual(bits(frame.values), bits(c.values ?? new Float32Array(0)))
}

/** A valid frame of `type` with `count` keys and `valueCount` floats (if it carries values). */
function sample(type: number, count = 3, valueCount = 5): Uint8Array {
  const cols = frameColumns(type)
  const keys = Uint32Array.from({ length: count }, (_, i) => i + 1)
  return encodeFrame({ type, origin: 2, id: 77, hops: 1 }, keys, {
    a: cols.a ? keys.map((k) => k * 10) : undefined,
    b: cols.b ? keys.map((k) => k * 100) : undefined,
    values: cols.values ? Float32Array.from({ length: valueCount }, (_, i) => i / 2) : undefined,
  })
}

function assertMalformed(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => decodeFrame(bytes), (e: unknown) => {
    assert.ok(e instanceof MalformedFrame, `expected MalformedFrame, got ${e}`)
    assert.match(e.message, pattern)
    return true
  })
}

describe("codec round trip", () => {
  it("lays out the header as documented", () => {
    const bytes = encodeFrame(
      { type: FrameType.PullReply, origin: 3, id: 0x01020304, hops: 5 },
      new Uint32Array([9, 8]),
      { a: new Uint32Array([0, 4]), b: new Uint32Array([1, 1]), values: new Float32Array(6) },
    )
    const view = new DataView(bytes.buffer)
    assert.equal(bytes.byteLength, HEADER_BYTES + 4 * (3 * 2 + 6))
    assert.equal(view.getUint8(0), FRAME_MAGIC)
    assert.equal(view.getUint8(1), FRAME_VERSION)
    assert.equal(view.getUint8(2), FrameType.PullReply)
    assert.equal(view.getUint8(3), 3) // flags: a and b
    assert.equal(view.getUint32(4, true), 3)
    assert.equal(view.getUint32(8, true), 0x01020304)
    assert.equal(view.getUint32(12, true), 5)
    assert.equal(view.getUint32(16, true), 2)
    assert.equal(view.getUint32(20, true), 6)
    assert.equal(view.getUint32(HEADER_BYTES, true), 9)
  })

  for (const type of allTypes) {
    it(`round-trips random ${frameTypeName(type)} frames, aligned and misaligned`, () => {
      fc.assert(
        fc.property(frameArb(type), fc.integer({ min: 1, max: 3 }), (contents, shift) => {
          const bytes = encodeContents(contents)
          const decoded = decodeFrame(bytes)
          assertDecodedEquals(decoded, contents)
          // Aligned input is decoded in place, as views of the received bytes.
          assert.equal(decoded.keys.buffer, bytes.buffer)

          // The same bytes at an odd offset of a larger buffer.
          const host = new Uint8Array(bytes.byteLength + 8)
          host.set(bytes, shift)
          const misaligned = host.subarray(shift, shift + bytes.byteLength)
          assert.notEqual(misaligned.byteOffset % 4, 0)
          assertDecodedEquals(decodeFrame(misaligned), contents)
        }),
        { seed: 4242 + type, numRuns: 60 },
      )
    })
  }

  it("names its frame types by layout", () => {
    assert.deepEqual(frameColumns(FrameType.Pull), { a: true, b: false, values: false })
    assert.deepEqual(frameColumns(FrameType.PullReply), { a: true, b: true, values: true })
    assert.deepEqual(frameColumns(FrameType.Push), { a: false, b: false, values: true })
    assert.deepEqual(frameColumns(FrameType.ReplicaDrop), { a: false, b: false, values: true })
    assert.deepEqual(frameColumns(FrameType.BarrierRelease), { a: false, b: false, values: false })
    assert.throws(() => frameColumns(0), /unknown frame type 0/)
  })

  it("refuses to encode sections the type does not carry", () => {
    const keys = new Uint32Array([1])
    const header = { type: FrameType.Pull, origin: 0, id: 0, hops: 0 }
    assert.throws(() => encodeFrame(header, keys), /sections do not match/)
    assert.throws(
      () => encodeFrame(header, keys, { a: keys, b: keys }),
      /sections do not match/,
    )
    assert.throws(
      () => encodeFrame(header, keys, { a: keys, values: new Float32Array(1) }),
      /carries no values/,
    )
    assert.throws(
      () => encodeFrame(header, keys, { a: new Uint32Array(2) }),
      /column length differs/,
    )
    assert.throws(() => encodeFrame({ ...header, type: 99 }, keys), /cannot encode frame type 99/)
  })
})

describe("decodeFrame rejects malformed frames", () => {
  it("rejects frames shorter than the header", () => {
    assertMalformed(new Uint8Array(0), /0 bytes is shorter than its header/)
    assertMalformed(sample(FrameType.Localize, 0).subarray(0, HEADER_BYTES - 1), /shorter/)
  })

  it("rejects a bad magic byte", () => {
    const bytes = sample(FrameType.Push)
    bytes[0] = 0x53
    assertMalformed(bytes, /bad magic/)
  })

  it("rejects another version", () => {
    const bytes = sample(FrameType.Push)
    bytes[1] = FRAME_VERSION + 1
    assertMalformed(
      bytes,
      new RegExp(`frame version ${FRAME_VERSION + 1}, expected ${FRAME_VERSION}`),
    )
  })

  it("rejects unknown frame types", () => {
    for (const type of [0, 24, 200, 255]) {
      const bytes = sample(FrameType.Localize)
      bytes[2] = type
      assertMalformed(bytes, new RegExp(`unknown frame type ${type}`))
    }
  })

  it("rejects flags that do not match the type", () => {
    for (const type of allTypes) {
      const cols = frameColumns(type)
      const right = (cols.a ? 1 : 0) | (cols.b ? 2 : 0)
      for (let flags = 0; flags < 8; flags++) {
        if (flags === right) continue
        const bytes = sample(type)
        bytes[3] = flags
        assertMalformed(bytes, /flags \d+ do not match frame type/)
      }
    }
  })

  it("rejects a byte length that differs from the header's counts", () => {
    for (const type of allTypes) {
      const bytes = sample(type)
      // One byte, one word too many; one word too few.
      const longer = new Uint8Array(bytes.byteLength + 4)
      longer.set(bytes)
      assertMalformed(longer, /its header says/)
      assertMalformed(longer.subarray(0, bytes.byteLength + 1), /its header says/)
      assertMalformed(bytes.subarray(0, bytes.byteLength - 4), /its header says/)
      // A count that claims more keys than the frame holds.
      const lying = bytes.slice()
      new DataView(lying.buffer).setUint32(16, 4, true)
      assertMalformed(lying, /its header says/)
      // A count so large that its byte size overflows 32 bits must not wrap around.
      const huge = bytes.slice()
      new DataView(huge.buffer).setUint32(16, 0x4000_0000 + 3, true)
      assertMalformed(huge, /its header says/)
    }
    // Values count too: a push claiming one float more than it carries.
    const push = sample(FrameType.Push, 2, 4)
    new DataView(push.buffer).setUint32(20, 5, true)
    assertMalformed(push, /its header says/)
  })

  it("rejects values on a type that carries none, even with a consistent length", () => {
    for (const type of allTypes) {
      if (frameColumns(type).values) continue
      const bytes = sample(type, 2)
      const padded = new Uint8Array(bytes.byteLength + 4)
      padded.set(bytes)
      new DataView(padded.buffer).setUint32(20, 1, true)
      assertMalformed(padded, /must not carry values/)
    }
  })

  it("rejects random corruption of the header with MalformedFrame or decodes consistently", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...allTypes),
        fc.integer({ min: 0, max: HEADER_BYTES - 1 }),
        fc.integer({ min: 0, max: 255 }),
        (type, at, byte) => {
          const bytes = sample(type)
          bytes[at] = byte
          try {
            const frame = decodeFrame(bytes)
            // Accepted: then the frame must be a well-formed one of its type.
            const cols = frameColumns(frame.type)
            assert.equal(frame.a.length, cols.a ? frame.keys.length : 0)
            assert.equal(frame.b.length, cols.b ? frame.keys.length : 0)
            if (!cols.values) assert.equal(frame.values.length, 0)
          } catch (e) {
            assert.ok(e instanceof MalformedFrame, `threw ${e}`)
          }
        },
      ),
      { seed: 99, numRuns: 500 },
    )
  })
})

describe("checkFrame", () => {
  // Two tables of different value lengths: keys 0..3 of length 2, keys 4..6 of length 5.
  const space = new KeySpace([{ name: "short", keys: 4, length: 2 }, {
    name: "long",
    keys: 3,
    length: 5,
  }])
  const nodes = 3

  function push(keys: number[], floats: number, origin = 1): Frame {
    return decodeFrame(
      encodeFrame({ type: FrameType.Push, origin, id: 1, hops: 0 }, Uint32Array.from(keys), {
        values: new Float32Array(floats),
      }),
    )
  }

  it("accepts a frame whose values match its keys' lengths", () => {
    checkFrame(push([0, 4, 3, 6], 2 + 5 + 2 + 5), space, nodes)
    checkFrame(push([], 0), space, nodes)
    checkFrame(push([6, 6], 10, 2), space, nodes)
  })

  it("rejects keys outside the key space", () => {
    assert.throws(() => checkFrame(push([0, 7], 2 + 5), space, nodes), (e: unknown) => {
      assert.ok(e instanceof MalformedFrame)
      assert.match(e.message, /key 7 is outside the key space \[0, 7\)/)
      return true
    })
    const pull = decodeFrame(
      encodeFrame(
        { type: FrameType.Pull, origin: 0, id: 1, hops: 0 },
        new Uint32Array([0xffff_ffff]),
        {
          a: new Uint32Array([0]),
        },
      ),
    )
    assert.throws(() => checkFrame(pull, space, nodes), MalformedFrame)
  })

  it("rejects an origin that is not a node", () => {
    checkFrame(push([1], 2, 2), space, nodes)
    assert.throws(() => checkFrame(push([1], 2, 3), space, nodes), /origin 3 is not a node of 3/)
    assert.throws(() => checkFrame(push([1], 2, 0xffff_ffff), space, nodes), MalformedFrame)
  })

  it("rejects a value count that does not match the keys' lengths", () => {
    // [0, 4] needs 2 + 5 = 7 floats; a count right for either table alone is wrong.
    for (const floats of [0, 2, 4, 5, 6, 8, 10]) {
      assert.throws(
        () => checkFrame(push([0, 4], floats), space, nodes),
        new RegExp(`has ${floats} floats, its keys need 7`),
      )
    }
    checkFrame(push([0, 4], 7), space, nodes)
    // The same check for the other frame types with values.
    for (const type of [FrameType.PullReply, FrameType.HandOver, FrameType.Set]) {
      const cols = frameColumns(type)
      const keys = new Uint32Array([5, 2])
      const make = (floats: number) =>
        decodeFrame(encodeFrame({ type, origin: 0, id: 0, hops: 0 }, keys, {
          a: cols.a ? new Uint32Array(2) : undefined,
          b: cols.b ? new Uint32Array(2) : undefined,
          values: new Float32Array(floats),
        }))
      checkFrame(make(7), space, nodes)
      assert.throws(() => checkFrame(make(4), space, nodes), MalformedFrame)
    }
  })
})

describe("Batch and Outbox", () => {
  // Keys 0..9 have 3 floats, keys 10..19 have 5: a batch mixes the two.
  const space = new KeySpace([{ name: "three", keys: 10, length: 3 }, {
    name: "five",
    keys: 10,
    length: 5,
  }])
  const lengthOf = (key: number) => space.lengthOf(key)

  /** Fill `batch` with `keys`, columns derived from each key, values `key + j / 10`. */
  function fill(batch: Batch, keys: readonly number[]): void {
    for (const key of keys) {
      batch.add(key, key * 2, key * 3)
      const length = lengthOf(key)
      const value = Float32Array.from({ length }, (_, j) => key + j / 10)
      batch.addValues(value, 0, length)
    }
  }

  function expected(keys: readonly number[]) {
    return {
      keys: keys,
      a: keys.map((k) => k * 2),
      b: keys.map((k) => k * 3),
      values: keys.flatMap((k) =>
        Array.from(Float32Array.from({ length: lengthOf(k) }, (_, j) => k + j / 10))
      ),
    }
  }

  /** Concatenate decoded frames' sections. */
  function concat(frames: Frame[]) {
    return {
      keys: frames.flatMap((f) => Array.from(f.keys)),
      a: frames.flatMap((f) => Array.from(f.a)),
      b: frames.flatMap((f) => Array.from(f.b)),
      values: frames.flatMap((f) => Array.from(f.values)),
    }
  }

  function collect() {
    const sent = new Map<number, Frame[]>()
    const send = (to: number, bytes: Uint8Array) => {
      const frame = decodeFrame(bytes)
      checkFrame(frame, space, 4)
      if (!sent.has(to)) sent.set(to, [])
      sent.get(to)!.push(frame)
    }
    return { sent, send }
  }

  it("grows past its initial capacity and snapshots copies", () => {
    const batch = new Batch()
    const keys = Array.from({ length: 150 }, (_, i) => i % 20)
    fill(batch, keys)
    assert.equal(batch.count, 150)
    const snap = batch.snapshot()
    const want = expected(keys)
    assert.deepEqual(Array.from(snap.keys), want.keys)
    assert.deepEqual(Array.from(snap.a), want.a)
    assert.deepEqual(Array.from(snap.b), want.b)
    assert.deepEqual(Array.from(snap.values), want.values)
    batch.reset()
    fill(batch, [1])
    assert.deepEqual(Array.from(snap.keys.subarray(0, 2)), [0, 1], "the snapshot is a copy")
    assert.equal(snap.values[0], 0)
  })

  it("sends one frame per non-empty destination, with the flush header", () => {
    const outbox = new Outbox(4, 100)
    const { sent, send } = collect()
    assert.equal(outbox.empty, true)
    fill(outbox.to(1), [0, 15, 3])
    fill(outbox.to(3), [19])
    fill(outbox.to(1), [11]) // a second visit to the same destination
    outbox.to(2) // touched but left empty: no frame
    assert.equal(outbox.empty, false)
    outbox.flush({ type: FrameType.PullReply, origin: 2, id: 9, hops: 4 }, lengthOf, send)
    assert.deepEqual([...sent.keys()].sort(), [1, 3])
    assert.equal(sent.get(1)!.length, 1)
    const frame = sent.get(1)![0]
    assert.deepEqual([frame.type, frame.origin, frame.id, frame.hops], [
      FrameType.PullReply,
      2,
      9,
      4,
    ])
    assert.deepEqual(concat(sent.get(1)!), expected([0, 15, 3, 11]))
    assert.deepEqual(concat(sent.get(3)!), expected([19]))
    assert.equal(outbox.empty, true)
  })

  it("splits a batch larger than frameKeysMax into frames that concatenate to it", () => {
    const outbox = new Outbox(3, 4)
    const { sent, send } = collect()
    const toOne = [0, 10, 1, 11, 12, 2, 13, 3, 4, 19] // 10 keys: frames of 4, 4, 2
    const toTwo = [5, 15, 6, 16, 7, 17, 8, 18] // 8 keys: exactly two full frames
    fill(outbox.to(1), toOne)
    fill(outbox.to(2), toTwo)
    outbox.flush({ type: FrameType.PullReply, origin: 0, id: 1, hops: 0 }, lengthOf, send)
    assert.deepEqual(sent.get(1)!.map((f) => f.keys.length), [4, 4, 2])
    assert.deepEqual(sent.get(2)!.map((f) => f.keys.length), [4, 4])
    const one = concat(sent.get(1)!)
    const want = expected(toOne)
    assert.deepEqual(one.keys, want.keys)
    assert.deepEqual(one.b, want.b)
    assert.deepEqual(one.a, want.a)
    assert.deepEqual(one.values, want.values)
    // Each frame's values are exactly its own keys' values.
    for (const frame of sent.get(1)!) {
      assert.deepEqual(Array.from(frame.values), expected(Array.from(frame.keys)).values)
    }
    assert.deepEqual(concat(sent.get(2)!).values, expected(toTwo).values)
  })

  it("splits random batches of every frame type", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...allTypes),
        fc.array(fc.integer({ min: 0, max: 19 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 9 }),
        (type, keys, frameKeysMax) => {
          const cols = frameColumns(type)
          const batch = new Batch()
          for (const key of keys) {
            batch.add(key, key * 2, key * 3)
            if (cols.values) {
              const v = Float32Array.from({ length: lengthOf(key) }, (_, j) => key + j / 10)
              batch.addValues(v, 0, v.length)
            }
          }
          const frames: Frame[] = []
          sendBatch(batch, { type, origin: 1, id: 2, hops: 3 }, frameKeysMax, lengthOf, (b) => {
            const f = decodeFrame(b)
            checkFrame(f, space, 4)
            frames.push(f)
          })
          assert.equal(frames.length, Math.ceil(keys.length / frameKeysMax))
          for (const f of frames) assert.ok(f.keys.length >= 1 && f.keys.length <= frameKeysMax)
          const got = concat(frames)
          const want = expected(keys)
          assert.deepEqual(got.keys, want.keys)
          assert.deepEqual(got.a, cols.a ? want.a : [])
          assert.deepEqual(got.b, cols.b ? want.b : [])
          assert.deepEqual(got.values, cols.values ? want.values : [])
        },
      ),
      { seed: 7, numRuns: 300 },
    )
  })

  it("starts empty after a flush when reused", () => {
    const outbox = new Outbox(3, 2)
    const first = collect()
    fill(outbox.to(1), [0, 1, 2, 10, 11])
    fill(outbox.to(2), [12])
    outbox.flush({ type: FrameType.Push, origin: 0, id: 1, hops: 0 }, lengthOf, first.send)
    assert.equal(outbox.batches[1].count, 0)
    assert.equal(outbox.batches[1].valueCount, 0)
    assert.equal(outbox.batches[2].count, 0)

    const second = collect()
    fill(outbox.to(2), [3, 13])
    outbox.flush({ type: FrameType.Push, origin: 0, id: 2, hops: 0 }, lengthOf, second.send)
    assert.deepEqual([...second.sent.keys()], [2], "node 1's old batch is not sent again")
    const got = concat(second.sent.get(2)!)
    assert.deepEqual(got.keys, [3, 13])
    assert.deepEqual(got.values, expected([3, 13]).values)
    assert.equal(second.sent.get(2)![0].id, 2)

    // A flush with nothing added sends nothing.
    const third = collect()
    outbox.flush({ type: FrameType.Push, origin: 0, id: 3, hops: 0 }, lengthOf, third.send)
    assert.equal(third.sent.size, 0)
  })
})
