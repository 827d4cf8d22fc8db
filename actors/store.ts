/**
 * The per-node store: the values of the keys that are local, and every key's state.
 *
 * Per table, a slab `Float32Array` holds one slot per local key (owned, or
 * being handed over); `slotOf` maps a key of the table to its slot (-1 when the
 * key has no value here) and `keyOfSlot` maps back. Freed slots go on a stack
 * and are reused first, and the slab grows by doubling, so memory follows the
 * number of local keys, not the size of the model. `state` holds one
 * `KeyState` per key of the whole key space; every change of it goes through
 * the transition table compiled from the lifecycle machine, so the store can
 * only take transitions the machine allows. The data plane (worker handles,
 * the node's frame handlers) reads `values` and `slotOf` directly.
 *
 * `ready` is the hot path's one read per key: the key's slot while this
 * node serves it locally now (owner or replica, `busy` zero), else -1. It is
 * derived, kept true by `transition`, `hold` and `unhold`, the only writers of
 * `state` and `busy`: one load where the worker loops would otherwise read
 * the state, the busy count and the slot. `busy` counts the node's
 * unfinished operations on a key (in flight or waiting: runtime/deferred.ts).
 *
 * `versions` counts, per key, the changes to the owner's value (every push,
 * set and merged sync delta bumps it, modulo 2^32); it travels with the key
 * when ownership moves, so a key's versions form one sequence whichever node
 * owns it. A replica remembers the version it was given, and a sync round
 * asks for a value only when the owner's version differs (replica_sync.ts).
 * A wrong "unchanged" would need 2^32 changes of one key between two syncs of
 * a replica, which a round (milliseconds) cannot span.
 *
 * `arrivals` counts, per key, the times its value arrived here (the key left
 * `expected`), so a node can tell that a value it was waiting for when asked
 * has come since, even if the key was dropped and asked for again in between:
 * `waitSync`'s answer needs that (runtime/replica_sync.ts).
 */
import { assert } from "./assert.ts"
import type { KeySpace, Table } from "./key_space.ts"
import { KeyState, keyStateNames, mustTransition } from "./lifecycle.ts"

/** The values of one table's local keys. */
export class TableSlab {
  /** `capacity * table.length` floats; replaced (grown) by `allocate`, so re-read it. */
  values: Float32Array
  /** Key of the table (key − table.start) → slot, or -1. */
  readonly slotOf: Int32Array
  private keyOfSlot: Int32Array
  private free: Int32Array
  private freeCount = 0
  /** Slots ever handed out; slots below this are in use or on the free stack. */
  private top = 0

  constructor(readonly table: Table, capacity: number) {
    const slots = Math.max(1, capacity)
    this.values = new Float32Array(slots * table.length)
    this.slotOf = new Int32Array(table.keys).fill(-1)
    this.keyOfSlot = new Int32Array(slots).fill(-1)
    this.free = new Int32Array(slots)
  }

  /** Number of keys with a slot. */
  get used(): number {
    return this.top - this.freeCount
  }

  get capacity(): number {
    return this.keyOfSlot.length
  }

  /** Slots ever handed out: every key with a slot is `keyAt(s)` for some `s < slotsTop`. */
  get slotsTop(): number {
    return this.top
  }

  /** The key in `slot`, or -1 for a free slot. */
  keyAt(slot: number): number {
    return this.keyOfSlot[slot]
  }

  /** Give `key` a slot (zero-filled) and return the float offset of its value. */
  allocate(key: number): number {
    const local = key - this.table.start
    assert(this.slotOf[local] === -1, () => `key ${key} already has a slot`)
    let slot: number
    if (this.freeCount > 0) slot = this.free[--this.freeCount]
    else {
      if (this.top === this.capacity) this.grow()
      slot = this.top++
    }
    this.slotOf[local] = slot
    this.keyOfSlot[slot] = key
    const offset = slot * this.table.length
    // A loop, not a native fill, for a row's few floats: allocate + release
    // of 16-float rows went from 27-30 to 22-27 ns under Bun, 34-45 to 23-35 under Deno.
    const values = this.values
    for (let j = offset, end = offset + this.table.length; j < end; j++) values[j] = 0
    return offset
  }

  /** Take `key`'s slot back for reuse. */
  release(key: number): void {
    const local = key - this.table.start
    const slot = this.slotOf[local]
    assert(slot >= 0, () => `key ${key} has no slot to release`)
    this.slotOf[local] = -1
    this.keyOfSlot[slot] = -1
    this.free[this.freeCount++] = slot
  }

  /** Float offset of `key`'s value, or -1 when it has no slot. */
  offsetOf(key: number): number {
    const slot = this.slotOf[key - this.table.start]
    return slot < 0 ? -1 : slot * this.table.length
  }

  private grow(): void {
    const capacity = this.capacity * 2
    const values = new Float32Array(capacity * this.table.length)
    values.set(this.values)
    this.values = values
    const keyOfSlot = new Int32Array(capacity).fill(-1)
    keyOfSlot.set(this.keyOfSlot)
    this.keyOfSlot = keyOfSlot
    const free = new Int32Array(capacity)
    free.set(this.free)
    this.free = free
  }

  /** Slot map and reverse map agree; free slots are unused. Returns keys with slots. */
  checkIntegrity(): number {
    let withSlot = 0
    for (let local = 0; local < this.table.keys; local++) {
      const slot = this.slotOf[local]
      if (slot < 0) continue
      withSlot++
      assert(
        slot < this.top,
        `slot ${slot} of key ${local + this.table.start} was never handed out`,
      )
      assert(
        this.keyOfSlot[slot] === local + this.table.start,
        `slot ${slot} maps back to ${this.keyOfSlot[slot]}, not ${local + this.table.start}`,
      )
    }
    const seen = new Set<number>()
    for (let i = 0; i < this.freeCount; i++) {
      const slot = this.free[i]
      assert(!seen.has(slot), `slot ${slot} is on the free stack twice`)
      seen.add(slot)
      assert(this.keyOfSlot[slot] === -1, `free slot ${slot} still maps to a key`)
    }
    assert(withSlot === this.used, `${withSlot} keys have slots but ${this.used} are in use`)
    return withSlot
  }
}

/**
 * Copy `length` floats from `from[fromAt ..]` to `to[toAt ..]`: one key's
 * value. A loop rather than `to.set(from.subarray(..))`, which allocates a
 * view per key on paths that move many short values (replies, hand-overs).
 */
export function copyFloats(
  to: Float32Array,
  toAt: number,
  from: Float32Array,
  fromAt: number,
  length: number,
): void {
  for (let j = 0; j < length; j++) to[toAt + j] = from[fromAt + j]
}

/** Add `length` floats of `from[fromAt ..]` to `to[toAt ..]`: one key's delta, as `copyFloats` copies. */
export function addFloats(
  to: Float32Array,
  toAt: number,
  from: Float32Array,
  fromAt: number,
  length: number,
): void {
  for (let j = 0; j < length; j++) to[toAt + j] += from[fromAt + j]
}

/** Does a key in this state hold a value (a slot) on this node? */
export function holdsValue(state: number): boolean {
  return state === KeyState.Owner || state === KeyState.HandingOver || state === KeyState.Replica
}

/**
 * Does a key in this state serve this node's own pulls and pushes from its
 * local value? (Also needs no earlier operation of the node on the key in
 * flight: see `NodeRuntime.isReady`.) The hot loops inline this test.
 */
export function servesLocally(state: number): boolean {
  return state === KeyState.Owner || state === KeyState.Replica
}

export class Store {
  /** One `KeyState` per key of the key space. */
  readonly state: Uint8Array
  /** Per key: the version of the value this node holds as owner (see the module note). */
  readonly versions: Uint32Array
  /** Per key: this node's unfinished operations on it; written only by `hold` and `unhold`. */
  readonly busy: Int32Array
  /** Per key: its slot while it serves locally with nothing busy, else -1 (the module note). */
  readonly ready: Int32Array
  /** Per key: how often its value arrived (it left `expected`), modulo 2^32. */
  readonly arrivals: Uint32Array
  readonly slabs: readonly TableSlab[]
  private replicaKeys = 0
  private expectedKeys = 0

  constructor(readonly space: KeySpace, capacities: readonly number[]) {
    this.state = new Uint8Array(space.keys)
    this.versions = new Uint32Array(space.keys)
    this.busy = new Int32Array(space.keys)
    this.ready = new Int32Array(space.keys).fill(-1)
    this.arrivals = new Uint32Array(space.keys)
    this.slabs = space.tables.map((t) => new TableSlab(t, capacities[t.index] ?? 1))
  }

  /** Number of keys held as replicas (so a hot loop can skip telling replicas apart). */
  get replicasHeld(): number {
    return this.replicaKeys
  }

  /** Number of keys whose value this node waits for (`expected`). */
  get expectedHeld(): number {
    return this.expectedKeys
  }

  /** The keys this node waits for (`expected`), in key order. */
  expectedList(): Uint32Array {
    const keys = new Uint32Array(this.expectedKeys)
    if (this.expectedKeys === 0) return keys
    let n = 0
    for (let k = 0; k < this.state.length; k++) {
      if (this.state[k] === KeyState.Expected) keys[n++] = k
    }
    return keys
  }

  /** One more unfinished operation of this node on `key`: it is not ready until it ends. */
  hold(key: number): void {
    this.busy[key]++
    this.ready[key] = -1
  }

  /** One fewer unfinished operation on `key`. */
  unhold(key: number): void {
    assert(this.busy[key] > 0, () => `key ${key} released more often than held`)
    if (--this.busy[key] === 0) this.refreshReady(key)
  }

  private refreshReady(key: number): void {
    if (this.busy[key] !== 0 || !servesLocally(this.state[key])) this.ready[key] = -1
    else {
      const slab = this.slabOf(key)
      this.ready[key] = slab.slotOf[key - slab.table.start]
    }
  }

  slabOf(key: number): TableSlab {
    return this.slabs[this.space.tableOf(key).index]
  }

  /**
   * Apply lifecycle `event` to `key` through the compiled table (a disallowed
   * transition is a broken invariant and throws), allocating a slot when the
   * key starts holding a value and releasing it when it stops. Returns the
   * float offset of the key's value in its slab, or -1 when it holds none.
   */
  transition(key: number, event: number): number {
    const from = this.state[key]
    const to = mustTransition(from, event, key)
    this.state[key] = to
    if (from === KeyState.Replica) this.replicaKeys--
    if (to === KeyState.Replica) this.replicaKeys++
    if (from === KeyState.Expected) {
      this.expectedKeys--
      this.arrivals[key]++
    }
    if (to === KeyState.Expected) this.expectedKeys++
    const slab = this.slabOf(key)
    let offset: number
    if (!holdsValue(from) && holdsValue(to)) offset = slab.allocate(key)
    else if (holdsValue(from) && !holdsValue(to)) {
      slab.release(key)
      offset = -1
    } else offset = slab.offsetOf(key)
    this.refreshReady(key)
    return offset
  }

  /** Number of keys in `state`. */
  count(state: number): number {
    let n = 0
    for (let k = 0; k < this.state.length; k++) if (this.state[k] === state) n++
    return n
  }

  /**
   * Every key holds a slot exactly when its state says it holds a value, and
   * `ready` and the replica count agree with the states, slots and `busy`.
   */
  checkIntegrity(): void {
    let holding = 0
    for (let k = 0; k < this.state.length; k++) {
      const s = this.state[k]
      assert(s < keyStateNames.length, `key ${k} has unknown state ${s}`)
      const has = this.slabOf(k).offsetOf(k) >= 0
      assert(
        has === holdsValue(s),
        () => `key ${k} is ${keyStateNames[s]} but ${has ? "has" : "has no"} slot`,
      )
      if (has) holding++
    }
    let used = 0
    for (const slab of this.slabs) used += slab.checkIntegrity()
    assert(used === holding, `${used} slots in use for ${holding} keys holding values`)
    let replicas = 0
    let expected = 0
    for (let k = 0; k < this.state.length; k++) {
      const s = this.state[k]
      if (s === KeyState.Replica) replicas++
      if (s === KeyState.Expected) expected++
      assert(this.busy[k] >= 0, () => `key ${k} has negative busy ${this.busy[k]}`)
      const slab = this.slabOf(k)
      const ready = this.busy[k] === 0 && servesLocally(s) ? slab.slotOf[k - slab.table.start] : -1
      assert(
        this.ready[k] === ready,
        () => `key ${k} (${keyStateNames[s]}, busy ${this.busy[k]}) has ready ${this.ready[k]}`,
      )
    }
    assert(replicas === this.replicaKeys, `${replicas} replicas but ${this.replicaKeys} counted`)
    assert(expected === this.expectedKeys, `${expected} expected but ${this.expectedKeys} counted`)
  }
}
