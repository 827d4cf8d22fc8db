/**
 * Policies: the strategies that decide where keys live, over one mechanism.
 *
 * A policy never touches the data plane. It answers questions the node asks
 * (does `localize` relocate keys? which keys does a node replicate, and when?)
 * and the node carries the answer out with the same protocol for every policy,
 * so policies can be compared side by side on the same task:
 * - `static`: every key stays at its home (the classic parameter server, the
 *   baseline);
 * - `lapse`: `localize` relocates keys to the caller's node (dynamic
 *   parameter allocation);
 * - `nups`: a hot-key set is replicated on every node and the other keys
 *   relocate on `localize`. `hot` is the key list, or `{ hottest: n }`: each
 *   node counts its workers' accesses until the cluster's first barrier and
 *   then replicates the n keys it accessed most (per node, so a node replicates
 *   what its own workers use);
 * - `full-replication`: every key replicated on every node (the all-reduce-like
 *   baseline);
 * - `adaptive` (the default): intent-driven (AdaPM). A node that gains intent
 *   for a key tells its owner, which relocates the key there when no other
 *   node (itself included) has intent, and sends a replica otherwise; when the
 *   intent ends the replica is dropped (runtime/intents.ts, placement.ts);
 * - `replication-only` and `relocation-only`: the ablations of `adaptive`
 *   that always answer an intent with a replica, or always with a relocation.
 *
 * Under a policy without intent, `worker.intent` is accepted and ignored, so
 * one task runs unchanged under every policy.
 */
import { invalidOptions } from "./errors.ts"
import { checkKeys } from "./option_keys.ts"

export const policyNames = [
  "static",
  "lapse",
  "nups",
  "full-replication",
  "adaptive",
  "replication-only",
  "relocation-only",
] as const
export type PolicyName = (typeof policyNames)[number]

/** The hot keys of `nups`: a list, or the n most accessed per node during warm-up. */
export type HotKeys = readonly number[] | { readonly hottest: number }

/** The `policy` option: a name, or `{ name, ...options }`. */
export type PolicyOption =
  | PolicyName
  | { readonly name: Exclude<PolicyName, "nups"> }
  | { readonly name: "nups"; readonly hot: HotKeys }

export interface Policy {
  readonly name: PolicyName
  /** Does `worker.localize(keys)` move the keys' ownership to the caller's node? */
  readonly relocatesOnLocalize: boolean
  /** Can a replica be dropped while workers run (so a node's operations need ordering)? */
  readonly dropsReplicas: boolean
  /** Keys every node replicates from the start (those it does not own): all, some or none. */
  readonly replicateAtStart: "all" | readonly number[]
  /** Replicate each node's n most accessed keys after the first barrier (0: never). */
  readonly hottest: number
  /** Do intents place keys (adaptive and its ablations)? */
  readonly usesIntent: boolean
}

/** The policy used when none is given. */
export const defaultPolicy: PolicyName = "adaptive"

const base = {
  dropsReplicas: false,
  replicateAtStart: [] as readonly number[],
  hottest: 0,
  usesIntent: false,
}
const intent = { ...base, dropsReplicas: true, usesIntent: true }

export function resolvePolicy(option: PolicyOption | undefined): Policy {
  const isObject = typeof option === "object" && option !== null
  if (option !== undefined && typeof option !== "string" && !isObject) {
    throw invalidOptions(`policy must be a name or { name, ... }, got ${String(option)}`)
  }
  const name = typeof option === "string" ? option : option?.name ?? defaultPolicy
  if (isObject && policyNames.includes(name)) {
    checkKeys(option, name === "nups" ? ["name", "hot"] : ["name"], {
      what: "option",
      context: "name" in option ? `policy ${name}` : "policy",
    })
  }
  if (isObject && option.name === undefined) {
    throw invalidOptions(`policy { ... } needs a name: one of ${policyNames.join(", ")}`)
  }
  switch (name) {
    case "static":
      return { ...base, name, relocatesOnLocalize: false }
    case "lapse":
      return { ...base, name, relocatesOnLocalize: true }
    case "full-replication":
      return { ...base, name, relocatesOnLocalize: false, replicateAtStart: "all" }
    case "nups":
      return { ...base, name, relocatesOnLocalize: true, ...resolveHot(option) }
    case "adaptive":
    case "relocation-only":
      return { ...intent, name, relocatesOnLocalize: true }
    case "replication-only":
      return { ...intent, name, relocatesOnLocalize: false }
    default:
      throw invalidOptions(
        `unknown policy '${String(name)}': expected one of ${policyNames.join(", ")}`,
      )
  }
}

function resolveHot(
  option: PolicyOption | undefined,
): Pick<Policy, "replicateAtStart" | "hottest"> {
  const hot = typeof option === "object" && option !== null && "hot" in option
    ? option.hot
    : undefined
  if (Array.isArray(hot)) {
    for (const key of hot) {
      if (!Number.isInteger(key) || key < 0) {
        throw invalidOptions(`policy nups: hot keys must be non-negative integers, got ${key}`)
      }
    }
    return { replicateAtStart: [...new Set<number>(hot)].sort((x, y) => x - y), hottest: 0 }
  }
  if (typeof hot === "object" && hot !== null) {
    checkKeys(hot, ["hottest"], { what: "hot option", context: "policy nups" })
    if ("hottest" in hot) {
      const n = hot.hottest
      if (!Number.isInteger(n) || n < 1) {
        throw invalidOptions(`policy nups: hot.hottest must be a positive integer, got ${n}`)
      }
      return { replicateAtStart: [], hottest: n }
    }
  }
  throw invalidOptions(
    "policy nups needs hot keys: { name: 'nups', hot: [keys...] } or { hot: { hottest: n } }",
  )
}
