/**
 * The failure detector on a TestClock, without sockets: the heartbeat fiber
 * (`forkHeartbeats`, as the WebSocket endpoint forks it) drives `PeerLink`s
 * over fake sockets. It checks when heartbeats go out on idle links, that
 * traffic in either direction counts as life, that a peer silent past
 * `peerTimeoutMs` fails its link (code 4004) on the first tick after the
 * timeout and not before, and that closing the scope stops the fiber. The
 * WebSocket tests check the same detector end to end on loopback.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { Clock, Effect, Exit, Scope } from "effect"
import { TestClock } from "effect/testing"
import { forkHeartbeats, monotonicMs } from "../runtime/heartbeats.ts"
import { type LinkEvents, PeerLink, type WsSocket } from "../runtime/peer_link.ts"
import { waitFor } from "./_ws_harness.ts"

const HEARTBEAT_MS = 100
const PEER_TIMEOUT_MS = 1_000
const limits = {
  heartbeatMs: HEARTBEAT_MS,
  peerTimeoutMs: PEER_TIMEOUT_MS,
  linkBufferedBytesMax: 1 << 20,
  linkQueueBytesMax: 1 << 24,
  frameBytesMax: 1 << 24,
}
const BEAT = "beat"

/** The part of a `ws` socket a `PeerLink` uses, recording what is sent and how it closed. */
class FakeSocket implements WsSocket {
  binaryType = ""
  readyState = 1
  readonly bufferedAmount = 0
  readonly sent: Array<Uint8Array | string> = []
  closeCode: number | undefined
  private readonly listeners = new Map<string, (...args: unknown[]) => void>()

  send(data: Uint8Array | string, callback?: (error?: Error) => void): void {
    this.sent.push(data)
    callback?.()
  }
  close(code?: number): void {
    this.closeCode = code
    this.readyState = 3
  }
  terminate(): void {
    this.readyState = 3
  }
  on(event: string, listener: (...args: never[]) => void): void {
    this.listeners.set(event, listener as (...args: unknown[]) => void)
  }
  /** The peer sends a control message (text) or a frame (binary). */
  receive(data: string | ArrayBuffer): void {
    this.listeners.get("message")!(data, typeof data !== "string")
  }
  get beats(): number {
    return this.sent.filter((m) => m === BEAT).length
  }
}

describe("heartbeat fiber on a TestClock", () => {
  it("beats on idle links, fails a silent one after peerTimeoutMs, stops with its scope", async () => {
    const clockScope = await Effect.runPromise(Scope.make())
    const clock = await Effect.runPromise(
      TestClock.make({ warningDelay: "1 hour" }).pipe(Scope.provide(clockScope)),
    )
    const scope = Scope.makeUnsafe()
    try {
      const closed: string[] = []
      const events: LinkEvents = {
        message: () => {},
        closed: (link, reason, byUs) => closed.push(`${link.peer}:${byUs}:${reason}`),
      }
      const now = () => monotonicMs(clock)
      const [answering, silent] = [1, 2].map((peer) => {
        const link = new PeerLink(new FakeSocket(), limits, events, now)
        link.peer = peer
        link.state = "open"
        return link
      })
      const sockets = [answering.socket, silent.socket] as FakeSocket[]
      let ticks = 0
      // What the endpoint's tick does for its open links.
      const tick = (nowMs: number) => {
        ticks++
        for (const link of [answering, silent]) {
          if (link.state === "open") link.heartbeat(nowMs, limits, BEAT)
        }
      }
      forkHeartbeats(scope, { tick, heartbeatMs: HEARTBEAT_MS, clock })
      /** Move the clock `ms` on and wait for the fiber to run the ticks due by then. */
      const advance = async (ms: number, ticksDue: number) => {
        await Effect.runPromise(clock.adjust(ms))
        await waitFor(() => ticks >= ticksDue, `tick ${ticksDue}`)
        // A few more turns of the event loop: no extra tick may sneak in.
        for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 0))
        assert.equal(ticks, ticksDue, `ticks after ${now()} ms`)
      }

      await advance(HEARTBEAT_MS - 1, 0)
      assert.deepEqual(sockets.map((s) => s.sent.length), [0, 0], "no beat before one period")
      // Each period: one beat on each idle link; the answering peer replies to each.
      for (let k = 1; k <= PEER_TIMEOUT_MS / HEARTBEAT_MS; k++) {
        await advance(k === 1 ? 1 : HEARTBEAT_MS, k)
        assert.deepEqual(sockets.map((s) => s.beats), [k, k], `beats at ${now()} ms`)
        sockets[0].receive(BEAT)
      }
      // At exactly peerTimeoutMs of silence the silent link is still up...
      assert.equal(now(), PEER_TIMEOUT_MS)
      assert.equal(silent.state, "open")
      assert.deepEqual(closed, [])
      // ...and the first tick past it fails that link alone, as lost (not by us).
      await advance(HEARTBEAT_MS, 11)
      assert.equal(silent.state, "closed")
      assert.equal(sockets[1].closeCode, 4004)
      assert.deepEqual(closed, [`2:false:silent for 1100 ms (peerTimeoutMs ${PEER_TIMEOUT_MS})`])
      assert.equal(answering.state, "open")
      assert.equal(sockets[0].beats, 11)

      // Traffic counts as life both ways: a frame sent mid-period postpones the
      // next beat, and frames received keep the link up with no beats from the peer.
      await Effect.runPromise(clock.adjust(HEARTBEAT_MS / 2))
      answering.send(Uint8Array.of(1))
      await advance(HEARTBEAT_MS / 2, 12)
      assert.equal(sockets[0].beats, 11, "no beat right after a frame")
      await advance(HEARTBEAT_MS, 13)
      assert.equal(sockets[0].beats, 12, "a beat once idle for a period")
      for (let k = 14; k < 14 + 2 * PEER_TIMEOUT_MS / HEARTBEAT_MS; k++) {
        sockets[0].receive(new ArrayBuffer(8))
        await advance(HEARTBEAT_MS, k)
      }
      assert.equal(answering.state, "open", "frames from the peer are life")

      // Closing the scope interrupts the fiber: no tick however far time moves.
      await Effect.runPromise(Scope.close(scope, Exit.void))
      const ticksAtClose = ticks
      await Effect.runPromise(clock.adjust(10 * PEER_TIMEOUT_MS))
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0))
      assert.equal(ticks, ticksAtClose)
      assert.equal(answering.state, "open", "no silence check after the scope closed")
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await Effect.runPromise(Scope.close(clockScope, Exit.void))
    }
  })

  it("judges no silence on the tick that ends a stall of this process; the next tick does", async () => {
    const clockScope = await Effect.runPromise(Scope.make())
    const test = await Effect.runPromise(
      TestClock.make({ warningDelay: "1 hour" }).pipe(Scope.provide(clockScope)),
    )
    // The TestClock wakes every sleep on time; a stall is time that passes
    // with no tick at all, so it is an offset added to what the clock reads.
    let stalledNs = 0n
    const clock: Clock.Clock = {
      currentTimeMillisUnsafe: () =>
        test.currentTimeMillisUnsafe() + Number(stalledNs / 1_000_000n),
      currentTimeMillis: Effect.sync(() => clock.currentTimeMillisUnsafe()),
      currentTimeNanosUnsafe: () => test.currentTimeNanosUnsafe() + stalledNs,
      currentTimeNanos: Effect.sync(() => clock.currentTimeNanosUnsafe()),
      monotonicTimeNanosUnsafe: () => test.monotonicTimeNanosUnsafe() + stalledNs,
      monotonicTimeNanos: Effect.sync(() => clock.monotonicTimeNanosUnsafe()),
      sleep: (duration) => test.sleep(duration),
    }
    const scope = Scope.makeUnsafe()
    try {
      const closed: string[] = []
      const events: LinkEvents = {
        message: () => {},
        closed: (link) => closed.push(`${link.peer}`),
      }
      const socket = new FakeSocket()
      const link = new PeerLink(socket, limits, events, () => monotonicMs(clock))
      link.peer = 1
      link.state = "open"
      const judged: boolean[] = []
      forkHeartbeats(scope, {
        // What the endpoint's tick does: no silence judged on a stall's tick.
        tick: (nowMs, judge) => {
          judged.push(judge)
          if (link.state === "open") {
            link.heartbeat(nowMs, judge ? limits : { ...limits, peerTimeoutMs: Infinity }, BEAT)
          }
        },
        heartbeatMs: HEARTBEAT_MS,
        clock,
      })
      const advance = async (ms: number, ticks: number) => {
        await Effect.runPromise(test.adjust(ms))
        await waitFor(() => judged.length >= ticks, `tick ${ticks}`)
      }
      await advance(HEARTBEAT_MS, 1)
      socket.receive(BEAT)
      // This process stalls for five peer timeouts: the peer's beats wait unread.
      stalledNs += BigInt(5 * PEER_TIMEOUT_MS) * 1_000_000n
      await advance(HEARTBEAT_MS, 2)
      assert.deepEqual(judged, [true, false])
      assert.equal(link.state, "open", "a stall of ours is not the peer's silence")
      // The event loop turns: the waiting beats are read, the next tick is on time.
      socket.receive(BEAT)
      await advance(HEARTBEAT_MS, 3)
      assert.deepEqual(judged, [true, false, true])
      assert.equal(link.state, "open")
      // A peer truly silent past peerTimeoutMs is still failed by timely ticks.
      await advance(
        PEER_TIMEOUT_MS + HEARTBEAT_MS,
        3 + (PEER_TIMEOUT_MS + HEARTBEAT_MS) / HEARTBEAT_MS,
      )
      assert.equal(link.state, "closed")
      assert.deepEqual(closed, ["1"])
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await Effect.runPromise(Scope.close(clockScope, Exit.void))
    }
  })
})
