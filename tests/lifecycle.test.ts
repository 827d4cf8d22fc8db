/**
 * Tests that the compiled transition table says exactly what the xstate
 * machine says, pair by pair and along every path of its graph, and that the
 * machine allows exactly the transitions the protocol was designed with.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { setup, transition } from "xstate"
import {
  compileTransitions,
  INVALID,
  KeyEvent,
  keyEventNames,
  keyLifecycle,
  KeyState,
  keyStateNames,
  lifecycleChart,
  mustTransition,
  nextState,
  transitionTable,
} from "../actors/lifecycle.ts"

type Snapshot = ReturnType<typeof keyLifecycle.resolveState>
type EventType = Parameters<Snapshot["can"]>[0]["type"]

const stateCount = keyStateNames.length
const eventCount = keyEventNames.length

function eventOf(code: number): { type: EventType } {
  return { type: keyEventNames[code] as EventType }
}

// Asks xstate directly, never the table, where `event` leads from `snapshot`.
function xstateStep(snapshot: Snapshot, event: number): { can: boolean; next: Snapshot } {
  const can = snapshot.can(eventOf(event))
  const [next] = transition(keyLifecycle, snapshot, eventOf(event))
  return { can, next }
}

describe("key lifecycle table", () => {
  it("has one cell per (state, event) pair", () => {
    assert.equal(transitionTable.length, stateCount * eventCount)
    assert.deepEqual(Object.keys(keyLifecycle.root.states).sort(), [...keyStateNames].sort())
  })

  it("agrees with xstate on every (state, event) pair", () => {
    for (let state = 0; state < stateCount; state++) {
      for (let event = 0; event < eventCount; event++) {
        const snapshot = keyLifecycle.resolveState({ value: keyStateNames[state] })
        const { can, next } = xstateStep(snapshot, event)
        const cell = nextState(state, event)
        const pair = `${keyStateNames[state]} + ${keyEventNames[event]}`
        if (can) {
          assert.notEqual(cell, INVALID, pair)
          assert.equal(keyStateNames[cell], next.value, pair)
        } else {
          assert.equal(cell, INVALID, pair)
          assert.equal(next.value, keyStateNames[state], `${pair} must leave the state unchanged`)
        }
      }
    }
  })

  it("agrees with xstate along every path from absent up to depth 6", () => {
    const maxDepth = 6
    let paths = 0
    const reached = new Set<number>()
    // Each frame carries both the table's state and xstate's own snapshot, so
    // a divergence anywhere along a path shows up at the step where it starts.
    const walk = (state: number, snapshot: Snapshot, path: string[]): void => {
      reached.add(state)
      paths++
      if (path.length === maxDepth) return
      for (let event = 0; event < eventCount; event++) {
        const cell = nextState(state, event)
        const { can, next } = xstateStep(snapshot, event)
        const where = [...path, keyEventNames[event]].join(" ")
        assert.equal(can, cell !== INVALID, where)
        if (cell === INVALID) continue
        assert.equal(next.value, keyStateNames[cell], where)
        walk(cell, next, [...path, keyEventNames[event]])
      }
    }
    const initial = keyLifecycle.resolveState({ value: "absent" })
    walk(KeyState.Absent, initial, [])
    // From absent: straight to owner, or to expected by two events (localize,
    // await replica), expected on to owner or replica; owner cycles back to
    // absent through handingOver, replica directly. Counting the empty path,
    // that gives 1, 3, 5, 5, 11, 21 and 25 paths of lengths 0 to 6. Pinning
    // the total makes any change to the graph visible here.
    assert.equal(paths, 71)
    assert.deepEqual(
      [...reached].sort(),
      [KeyState.Absent, KeyState.Expected, KeyState.Owner, KeyState.HandingOver, KeyState.Replica],
    )
  })

  it("allows exactly the designed transitions", () => {
    const allowed: string[] = []
    for (let state = 0; state < stateCount; state++) {
      for (let event = 0; event < eventCount; event++) {
        const next = nextState(state, event)
        if (next === INVALID) continue
        allowed.push(`${keyStateNames[state]} --${keyEventNames[event]}--> ${keyStateNames[next]}`)
      }
    }
    assert.deepEqual(allowed, [
      "absent --INIT_OWNER--> owner",
      "absent --LOCALIZE--> expected",
      "absent --AWAIT_REPLICA--> expected",
      "expected --VALUE_ARRIVED--> owner",
      "expected --REPLICA_ARRIVED--> replica",
      "owner --HAND_OVER--> handingOver",
      "handingOver --HAND_OVER_ACKED--> absent",
      "replica --DROP_REPLICA--> absent",
    ])
    assert.equal(keyLifecycle.config.initial, "absent")
  })

  it("answers INVALID for codes out of range", () => {
    assert.equal(nextState(KeyState.Absent, eventCount), INVALID)
    assert.equal(nextState(stateCount, KeyEvent.InitOwner), INVALID)
    assert.equal(nextState(-1, KeyEvent.InitOwner), INVALID)
  })
})

describe("mustTransition", () => {
  it("returns the next state of an allowed transition", () => {
    assert.equal(mustTransition(KeyState.Absent, KeyEvent.Localize, 7), KeyState.Expected)
    assert.equal(mustTransition(KeyState.HandingOver, KeyEvent.HandOverAcked, 7), KeyState.Absent)
  })

  it("throws naming the key, the state and the event", () => {
    assert.throws(
      () => mustTransition(KeyState.Owner, KeyEvent.ValueArrived, 4242),
      (error: unknown) => {
        assert.ok(error instanceof Error)
        assert.match(error.message, /4242/)
        assert.match(error.message, /\bowner\b/)
        assert.match(error.message, /VALUE_ARRIVED/)
        return true
      },
    )
    assert.throws(
      () => mustTransition(KeyState.Replica, KeyEvent.HandOver, 9),
      /9.*HAND_OVER.*replica/,
    )
  })
})

describe("compileTransitions", () => {
  it("refuses a machine with a state that has no code", () => {
    const stray = setup({}).createMachine({
      initial: "absent",
      states: { absent: {}, zombie: {} },
    })
    assert.throws(() => compileTransitions(stray), /zombie/)
  })

  it("recompiles keyLifecycle to the same table", () => {
    assert.deepEqual(compileTransitions(keyLifecycle), transitionTable)
  })
})

describe("lifecycleChart", () => {
  it("is a Mermaid state diagram that mentions every state", () => {
    const chart = lifecycleChart()
    assert.match(chart, /^stateDiagram-v2\n/)
    assert.match(chart, /\[\*\] --> absent/)
    for (const name of keyStateNames) assert.match(chart, new RegExp(`^  ${name}\\b`, "m"), name)
    assert.match(chart, /owner --> handingOver : HAND_OVER/)
  })
})
