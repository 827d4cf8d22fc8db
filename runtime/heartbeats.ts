/**
 * The WebSocket transport's failure-detector loop: a fiber on a Schedule.
 *
 * DESIGN.md §6 puts heartbeats in the control plane, as Effect programs: this
 * module owns the loop that, every `heartbeatMs` on an injected `Clock`, calls
 * the endpoint's `tick` with the time (which sends heartbeats on idle links and
 * fails links silent past `peerTimeoutMs`; see `ws_transport.ts` and
 * `peer_link.ts`). The fiber lives in a `Scope` the caller owns: closing the
 * scope interrupts it, so an endpoint's `close()` leaves no timer behind in
 * either runtime. Because the Schedule sleeps on the Clock in context and the
 * tick reads the same Clock, a test can run the whole detector on a
 * `TestClock` and move time by hand.
 *
 * All times are on the Clock's monotonic line (`monotonicMs`): link time
 * stamps and ticks are compared with each other only, never with the wall
 * clock, so a wall-clock jump cannot fake a silence.
 *
 * A tick that comes more than `STALL_PERIODS` periods after the previous one
 * means this process's event loop was stalled (a training loop that ran
 * without awaiting): the peers' heartbeats may still sit unread in the
 * sockets, since a timer can run before the sockets are polled, so that
 * tick does not judge silence (`judge` false); the next, timely one does.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { assert } from "../actors/assert.ts"

/** Periods between two ticks beyond which the second is a stall's, and judges no silence. */
export const STALL_PERIODS = 2

/** Milliseconds on `clock`'s monotonic time line (arbitrary origin; only differences mean anything). */
export const monotonicMs = (clock: Clock.Clock): number =>
  Number(clock.monotonicTimeNanosUnsafe()) / 1e6

/**
 * Call `tick` with the Clock's time every `heartbeatMs`, first after one
 * period (as a timer would), until interrupted.
 */
export const heartbeats = (
  tick: (nowMs: number, judge: boolean) => void,
  heartbeatMs: number,
) => {
  const period = Duration.millis(heartbeatMs)
  let previous = Number.NaN
  const once = Clock.clockWith((clock) =>
    Effect.sync(() => {
      const now = monotonicMs(clock)
      const judge = !(now - previous > STALL_PERIODS * heartbeatMs)
      previous = now
      tick(now, judge)
    })
  )
  return Effect.sleep(period).pipe(
    Effect.andThen(once.pipe(Effect.repeat(Schedule.spaced(period)))),
    // A throwing tick is a broken invariant. Rethrow it outside Effect, so it
    // crashes the process as a throw in a timer callback would, instead of
    // ending the fiber quietly and leaving every link without a detector.
    Effect.catchDefect((defect) => Effect.sync(() => queueMicrotask(() => rethrow(defect)))),
  )
}

/**
 * Fork `heartbeats(tick, heartbeatMs)` on `clock` into `scope`: it runs until
 * the scope closes. Returns at once; the fiber's first tick is one period away.
 */
export function forkHeartbeats(
  scope: Scope.Scope,
  options: {
    tick: (nowMs: number, judge: boolean) => void
    heartbeatMs: number
    clock: Clock.Clock
  },
): void {
  // A zero period would spin the fiber; `resolveConfig` refuses it, so this is an invariant.
  assert(options.heartbeatMs > 0, () => `heartbeatMs must be positive, got ${options.heartbeatMs}`)
  const program = heartbeats(options.tick, options.heartbeatMs).pipe(
    Effect.provideService(Clock.Clock, options.clock),
    Effect.forkIn(scope),
  )
  Effect.runFork(program)
}

const rethrow = (defect: unknown): never => {
  throw defect
}
