/**
 * Policies: the strategies that decide where keys live, over one mechanism.
 *
 * A policy never touches the data plane. It answers questions the node asks
 * (here: does `localize` relocate keys?) and the node carries the answer out
 * with the same protocol for every policy, so policies can be compared side by
 * side on the same task. `static` is the classic parameter server (every key
 * stays at its home: the baseline); `lapse` relocates keys to the node that
 * calls `localize` (dynamic parameter allocation). Replication and intent-driven
 * policies build on the same interface.
 */
import { invalidOptions } from "./errors.ts"

export const policyNames = ["static", "lapse"] as const
export type PolicyName = (typeof policyNames)[number]

/** The `policy` option: a name, or `{ name, ...options }`. */
export type PolicyOption = PolicyName | { readonly name: PolicyName }

export interface Policy {
  readonly name: PolicyName
  /** Does `worker.localize(keys)` move the keys' ownership to the caller's node? */
  readonly relocatesOnLocalize: boolean
}

/** The policy used when none is given. */
export const defaultPolicy: PolicyName = "lapse"

export function resolvePolicy(option: PolicyOption | undefined): Policy {
  const name = typeof option === "string" ? option : option?.name ?? defaultPolicy
  switch (name) {
    case "static":
      return { name, relocatesOnLocalize: false }
    case "lapse":
      return { name, relocatesOnLocalize: true }
    default:
      throw invalidOptions(
        `unknown policy '${String(name)}': expected one of ${policyNames.join(", ")}`,
      )
  }
}
