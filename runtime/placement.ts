/**
 * Owner-side placement under intent: who has intent for each key owned here,
 * and the decision a new intent leads to.
 *
 * AdaPM's rule, as a pure function (`decidePlacement`): when node r tells the
 * owner it has intent for a key, and no other node (the owner included) has
 * intent for it, the key relocates to r; otherwise r gets a replica. The
 * ablations fix the answer (`replication-only` always replicates,
 * `relocation-only` always relocates). `IntentHolders` records, per key this
 * node owns, the other nodes with active intent; it is control-plane state
 * (a small array per key with intent, nothing per key otherwise). When a key
 * relocates, no other node has intent for it, so the new owner starts with an
 * empty record: the record never needs to travel with the value.
 */
import type { PolicyName } from "./policy.ts"

export type Placement = "relocate" | "replicate"

export interface PlacementQuestion {
  /** Does the owner node itself have active intent for the key? */
  readonly ownerHasIntent: boolean
  /** Other nodes with active intent, the requester excluded. */
  readonly otherHolders: number
}

/** The owner's answer to a node that gains intent for a key it owns. */
export function decidePlacement(policy: PolicyName, question: PlacementQuestion): Placement {
  if (policy === "replication-only") return "replicate"
  if (policy === "relocation-only") return "relocate"
  return !question.ownerHasIntent && question.otherHolders === 0 ? "relocate" : "replicate"
}

export class IntentHolders {
  private readonly holders = new Map<number, number[]>()

  /** Nodes other than `except` with intent for `key`. */
  countExcept(key: number, except: number): number {
    const list = this.holders.get(key)
    if (list === undefined) return 0
    return list.includes(except) ? list.length - 1 : list.length
  }

  add(key: number, node: number): void {
    const list = this.holders.get(key)
    if (list === undefined) this.holders.set(key, [node])
    else if (!list.includes(node)) list.push(node)
  }

  remove(key: number, node: number): void {
    const list = this.holders.get(key)
    if (list === undefined) return
    const at = list.indexOf(node)
    if (at >= 0) list.splice(at, 1)
    if (list.length === 0) this.holders.delete(key)
  }

  /** Forget a key that moved away (nobody else had intent for it). */
  clear(key: number): void {
    this.holders.delete(key)
  }

  holdersOf(key: number): readonly number[] {
    return this.holders.get(key) ?? []
  }
}
