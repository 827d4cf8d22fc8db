/**
 * Replica bookkeeping: each replica's base, the value it had at its last sync.
 *
 * A replica's value lives in the store like an owner's, so the hot path
 * serves it with the same loops and a push to it is a plain `value += delta`.
 * What makes it a replica is kept here: the base (NuPS's "value at last
 * sync"), one slot per replica in a slab of its own per table, and whether a
 * sync of the key is unanswered. The delta a sync round sends is `value −
 * base`; when the owner answers with its value `A`, the replica becomes `A +
 * (value − base)` (the pushes made since sending) and the base becomes `A`.
 * With small-integer deltas all of this is exact in float32. Slots are
 * recycled, so memory follows the replicas held, not the model. `versions`
 * holds the owner's version of each replica's base (actors/store.ts), so a
 * round can ask for a key's value only when the owner's has changed.
 *
 * A `set` is not a delta: it overwrites, once, at the owner. A replica that
 * is set (`overwrite`) takes the value as both value and base, so it sends no
 * delta for it, while the set itself goes to the owner; until the owner
 * acknowledges (`setAnswered`), a sync answer, which the owner computed
 * before the set, changes nothing, and the version is one the owner does
 * not have, so the next round fetches the owner's value with what others pushed
 * after the set.
 */
import { assert } from "./assert.ts"
import type { KeySpace } from "./key_space.ts"
import { copyFloats, TableSlab } from "./store.ts"

/** A version an owner reaches only after 2^32 − 1 updates of the key: the next sync fetches its value. */
const STALE_VERSION = 0xffff_ffff

export class Replicas {
  /** Per table: the base of every replica held here. */
  readonly bases: readonly TableSlab[]
  /** Per key of the key space: 1 while a sync of the key is unanswered. */
  readonly outstanding: Uint8Array
  /** Per key of the key space: the owner's version of the replica's base. */
  readonly versions: Uint32Array
  /** Per key of the key space: sets of the replica sent to the owner and not yet acknowledged. */
  readonly setsPending: Uint32Array

  constructor(readonly space: KeySpace) {
    this.bases = space.tables.map((t) => new TableSlab(t, 1))
    this.outstanding = new Uint8Array(space.keys)
    this.versions = new Uint32Array(space.keys)
    this.setsPending = new Uint32Array(space.keys)
  }

  /** Number of replicas held. */
  get count(): number {
    let n = 0
    for (const slab of this.bases) n += slab.used
    return n
  }

  /**
   * Start tracking `key` as a replica whose value (and so base) is the
   * owner's, `values[valueAt ..]`, at `version`.
   */
  add(key: number, values: Float32Array, valueAt: number, version: number): void {
    const slab = this.baseSlab(key)
    const offset = slab.allocate(key)
    copyFloats(slab.values, offset, values, valueAt, slab.table.length)
    this.versions[key] = version
  }

  /** Stop tracking `key`; its sync must not be outstanding. */
  remove(key: number): void {
    assert(this.outstanding[key] === 0, () => `replica ${key} dropped with a sync outstanding`)
    this.setsPending[key] = 0
    this.baseSlab(key).release(key)
  }

  /**
   * A `set` of `key` to `values[valueAt ..]`, on its way to the owner: the
   * replica's value and base become the set value (no delta to send), and
   * its version one the owner never has (see the module note).
   */
  overwrite(key: number, slab: TableSlab, values: Float32Array, valueAt: number): void {
    const bases = this.baseSlab(key)
    copyFloats(slab.values, slab.offsetOf(key), values, valueAt, slab.table.length)
    copyFloats(bases.values, bases.offsetOf(key), values, valueAt, slab.table.length)
    this.versions[key] = STALE_VERSION
    this.setsPending[key]++
  }

  /** The owner acknowledged a set of `key` that `overwrite` made here. */
  setAnswered(key: number): void {
    if (this.setsPending[key] > 0) this.setsPending[key]--
  }

  /**
   * Write `key`'s delta (`value − base`, `value` read from its store slab) into
   * `out` from index 0, and make the base the value: what a sync sends, or a
   * drop pushes. Returns whether any float of the delta is non-zero.
   */
  takeDelta(key: number, slab: TableSlab, out: Float32Array): boolean {
    const bases = this.baseSlab(key)
    const at = slab.offsetOf(key)
    const baseAt = bases.offsetOf(key)
    const values = slab.values
    const base = bases.values
    let changed = false
    for (let j = 0; j < slab.table.length; j++) {
      const delta = values[at + j] - base[baseAt + j]
      if (delta !== 0) changed = true
      out[j] = delta
      base[baseAt + j] = values[at + j]
    }
    return changed
  }

  /**
   * Merge the owner's answer (`answer[answerAt ..]`, at `version`) into `key`'s
   * value in its store slab: value = answer + (value − base), the pushes made
   * here since the sync was sent, and base = answer.
   */
  merge(
    key: number,
    slab: TableSlab,
    answer: Float32Array,
    answerAt: number,
    version: number,
  ): void {
    // The owner answered before a set of this node reached it: the set wins.
    if (this.setsPending[key] > 0) return
    this.versions[key] = version
    const bases = this.baseSlab(key)
    const at = slab.offsetOf(key)
    const baseAt = bases.offsetOf(key)
    const data = slab.values
    const base = bases.values
    for (let j = 0; j < slab.table.length; j++) {
      const a = answer[answerAt + j]
      data[at + j] = a + (data[at + j] - base[baseAt + j])
      base[baseAt + j] = a
    }
  }

  has(key: number): boolean {
    return this.baseSlab(key).offsetOf(key) >= 0
  }

  baseSlab(key: number): TableSlab {
    return this.bases[this.space.tableOf(key).index]
  }

  /** Visit every replica key (in slot order, per table). */
  forEach(visit: (key: number) => void): void {
    for (const slab of this.bases) {
      for (let slot = 0; slot < slab.slotsTop; slot++) {
        const key = slab.keyAt(slot)
        if (key >= 0) visit(key)
      }
    }
  }

  /** Slot maps agree; only replicas have outstanding syncs. Returns replicas held. */
  checkIntegrity(): number {
    let held = 0
    for (const slab of this.bases) held += slab.checkIntegrity()
    for (let key = 0; key < this.outstanding.length; key++) {
      if (this.outstanding[key] !== 0) {
        assert(this.has(key), () => `key ${key} has a sync outstanding but is no replica`)
      }
    }
    return held
  }
}
