/**
 * The lifecycle of one key on one node: absent, expected, owner, handing over
 * and replica.
 *
 * The xstate 5 machine `keyLifecycle` is the specification: the docs draw it
 * (`lifecycleChart`), and the tests walk its graph. The hot path cannot afford
 * xstate (about a microsecond an event, plus a snapshot allocation), so at
 * module load `compileTransitions` asks the machine itself what every
 * (state, event) pair does and stores the answers in a `Uint8Array`; a lookup
 * then costs a few nanoseconds and allocates nothing. Because the table is
 * derived from the machine rather than copied by hand, the two cannot drift,
 * and a test checks that they agree on every pair.
 */
import { type AnyStateMachine, initialTransition, setup, transition } from "xstate"
import { assert, InvariantViolation } from "./assert.ts"

export const KeyState = { Absent: 0, Expected: 1, Owner: 2, HandingOver: 3, Replica: 4 } as const
export type KeyState = (typeof KeyState)[keyof typeof KeyState]

export const KeyEvent = {
  InitOwner: 0,
  Localize: 1,
  ValueArrived: 2,
  HandOver: 3,
  HandOverAcked: 4,
  AwaitReplica: 5,
  ReplicaArrived: 6,
  DropReplica: 7,
} as const
export type KeyEvent = (typeof KeyEvent)[keyof typeof KeyEvent]

/** State names as the machine spells them, indexed by `KeyState` code. */
export const keyStateNames: readonly string[] = [
  "absent",
  "expected",
  "owner",
  "handingOver",
  "replica",
]

/** Event types as the machine spells them, indexed by `KeyEvent` code. */
export const keyEventNames: readonly string[] = [
  "INIT_OWNER",
  "LOCALIZE",
  "VALUE_ARRIVED",
  "HAND_OVER",
  "HAND_OVER_ACKED",
  "AWAIT_REPLICA",
  "REPLICA_ARRIVED",
  "DROP_REPLICA",
]

// The codes and the names are two lists that must line up; a mismatch would
// silently relabel states, so it is checked once here rather than trusted.
for (const [label, code] of Object.entries(KeyState)) {
  assert(keyStateNames[code] === label[0].toLowerCase() + label.slice(1), `state code ${label}`)
}
for (const [label, code] of Object.entries(KeyEvent)) {
  const type = label.replace(/(?<=.)([A-Z])/g, "_$1").toUpperCase()
  assert(keyEventNames[code] === type, `event code ${label}`)
}

/** Value of a table cell whose (state, event) pair the machine does not allow. */
export const INVALID = 255

export const keyLifecycle = setup({
  types: {
    events: {} as
      | { type: "INIT_OWNER" }
      | { type: "LOCALIZE" }
      | { type: "VALUE_ARRIVED" }
      | { type: "HAND_OVER" }
      | { type: "HAND_OVER_ACKED" }
      | { type: "AWAIT_REPLICA" }
      | { type: "REPLICA_ARRIVED" }
      | { type: "DROP_REPLICA" },
  },
}).createMachine({
  id: "key",
  initial: "absent",
  states: {
    absent: {
      description: "no value here",
      on: { INIT_OWNER: "owner", LOCALIZE: "expected", AWAIT_REPLICA: "expected" },
    },
    expected: {
      description: "asked for, requests queue until the value arrives",
      on: { VALUE_ARRIVED: "owner", REPLICA_ARRIVED: "replica" },
    },
    owner: {
      description: "holds the value and serves it",
      on: { HAND_OVER: "handingOver" },
    },
    handingOver: {
      description: "value sent, slot kept until the new owner acknowledges",
      on: { HAND_OVER_ACKED: "absent" },
    },
    // A replica serves this node's own pulls and pushes from its local value
    // and sends the owner its delta every sync round (runtime/replica_sync.ts);
    // requests from other nodes pass through it towards the owner.
    replica: {
      description: "a synced copy; local pushes are sent as deltas",
      on: { DROP_REPLICA: "absent" },
    },
  },
})

/**
 * Derives the transition table from `machine`: for every state of the machine
 * and every event code, it resolves a snapshot in that state and asks xstate's
 * pure `transition` where the event leads. Cell `state * eventCount + event`
 * holds the next state code, or INVALID where `snapshot.can(event)` is false.
 */
export function compileTransitions(machine: AnyStateMachine): Uint8Array {
  const stateCount = keyStateNames.length
  const eventCount = keyEventNames.length
  const machineStates = Object.keys(machine.root.states)
  for (const name of machineStates) {
    assert(keyStateNames.includes(name), `machine state "${name}" has no code`)
    assert(machine.root.states[name].type === "atomic", `state "${name}" must be atomic`)
  }
  for (const type of machine.events) {
    assert(keyEventNames.includes(type), `machine event "${type}" has no code`)
  }
  const table = new Uint8Array(stateCount * eventCount).fill(INVALID)
  // Resolving every state with the initial context keeps the compiler honest
  // for machines that carry context, although this one carries none.
  const [initial] = initialTransition(machine)
  for (const name of machineStates) {
    const state = keyStateNames.indexOf(name)
    const snapshot = machine.resolveState({ value: name, context: initial.context })
    for (let event = 0; event < eventCount; event++) {
      const type = keyEventNames[event]
      if (!snapshot.can({ type })) continue
      const [next] = transition(machine, snapshot, { type })
      const target = keyStateNames.indexOf(String(next.value))
      assert(target >= 0, `"${name}" --${type}--> ${JSON.stringify(next.value)} has no code`)
      table[state * eventCount + event] = target
    }
  }
  return table
}

export const transitionTable: Uint8Array = compileTransitions(keyLifecycle)

const stateCount = keyStateNames.length
const eventCount = keyEventNames.length

/** The state `event` leads to from `state`, or INVALID if the machine forbids it. */
export function nextState(state: number, event: number): number {
  // Without the range checks an out-of-range event would read the next state's
  // row and return a plausible but wrong answer.
  if ((state >>> 0) !== state || (event >>> 0) !== event) return INVALID
  if (state >= stateCount || event >= eventCount) return INVALID
  return transitionTable[state * eventCount + event]
}

/**
 * Like `nextState`, for callers whose protocol guarantees the transition is
 * allowed: a forbidden one means the runtime's invariants are broken, so it
 * crashes instead of returning INVALID.
 */
export function mustTransition(state: number, event: number, key: number): number {
  const next = nextState(state, event)
  if (next === INVALID) {
    const stateName = keyStateNames[state] ?? `#${state}`
    const eventName = keyEventNames[event] ?? `#${event}`
    throw new InvariantViolation(
      `assertion failed: key ${key}: event ${eventName} is not allowed in state ${stateName}`,
    )
  }
  return next
}

/** A Mermaid `stateDiagram-v2` of `keyLifecycle`, drawn from its state nodes. */
export function lifecycleChart(): string {
  const root = keyLifecycle.root
  const lines = ["stateDiagram-v2", `  [*] --> ${root.initial.target[0].key}`]
  for (const node of Object.values(root.states)) {
    // Declaring each state with its description makes states without
    // transitions, such as replica, still appear in the chart.
    lines.push(node.description ? `  ${node.key} : ${node.description}` : `  state ${node.key}`)
  }
  for (const node of Object.values(root.states)) {
    for (const [type, transitions] of Object.entries(node.on)) {
      for (const t of transitions) {
        for (const target of t.target ?? []) lines.push(`  ${node.key} --> ${target.key} : ${type}`)
      }
    }
  }
  return lines.join("\n") + "\n"
}
