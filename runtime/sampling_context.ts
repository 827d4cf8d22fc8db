/**
 * Sampling options and what the samplers of a cluster share.
 *
 * The cluster's `sampling` option (default scheme, `reuse`, `poolSize`,
 * `localDrawsMax`) and each table's `sampling` distribution are checked here
 * when the cluster starts, so that bad options fail with `InvalidOptions`
 * before any node exists. The per-table distributions (an alias table for
 * weights, which costs O(keys) to build) are built once per cluster and
 * shared by every worker's `Sampler` (`runtime/sampling.ts`), read-only. Each
 * worker's random stream is seeded, when the worker is made, from its node's
 * `Random` service; `nodeRandom` (prng.ts) is the one roam provides, derived
 * from the cluster seed and the node id, so sampling replays from the seed
 * whether the nodes share a process or not.
 */
import { AliasTable, type UniformSource, weightsProblem } from "../actors/alias_table.ts"
import type { KeySpace, TableSpec } from "../actors/key_space.ts"
import { defaultConfig, type RoamConfigShape } from "./config.ts"
import { invalidOptions } from "./errors.ts"
import { checkKeys } from "./option_keys.ts"

export const samplingSchemes = ["conventional", "reuse", "local", "postpone"] as const
export type SamplingScheme = (typeof samplingSchemes)[number]

/** The cluster's `sampling` option. */
export interface SamplingOptions {
  /** The scheme `prepareSample` uses unless a call names one (default `conventional`). */
  readonly scheme?: SamplingScheme
  /** `reuse` scheme: times each pool entry is handed out (default 4). */
  readonly reuse?: number
  /** `reuse` scheme: draws per pool, per worker and table (default 1024). */
  readonly poolSize?: number
  /** `local` scheme: rejected draws in a row before a non-local key is used (default 64). */
  readonly localDrawsMax?: number
}

export const defaultSampling: Required<SamplingOptions> = {
  scheme: "conventional",
  reuse: 4,
  poolSize: 1_024,
  localDrawsMax: 64,
}

const samplingKeys = Object.keys(defaultSampling)

/** Draws an index of a table (key − table.start). The alias table is one. */
export interface Distribution {
  sample(random: UniformSource): number
}

/** What every sampler of a cluster shares: options, limits, one distribution per table. */
export interface SamplingContext {
  readonly space: KeySpace
  readonly options: Required<SamplingOptions>
  readonly handlesMax: number
  readonly keysMax: number
  readonly distributions: readonly Distribution[]
}

/** The `sampling` option with defaults; throws `InvalidOptions`. */
export function resolveSampling(option: SamplingOptions | undefined): Required<SamplingOptions> {
  if (option === undefined) return defaultSampling
  if (typeof option !== "object" || option === null) {
    throw invalidOptions(
      "sampling must be an object { scheme?, reuse?, poolSize?, localDrawsMax? }",
    )
  }
  checkKeys(option, samplingKeys, { what: "sampling option" })
  const resolved = { ...defaultSampling, ...option }
  checkScheme(resolved.scheme, invalidOptions)
  for (const name of ["reuse", "poolSize", "localDrawsMax"] as const) {
    const value = resolved[name]
    if (!Number.isInteger(value) || value < 1 || value > 0xffff_ffff) {
      throw invalidOptions(`sampling.${name} must be a positive integer, got ${value}`)
    }
  }
  return resolved
}

/** Why a table's `sampling` is bad, or undefined; checked by `checkOptions`. */
export function tableSamplingProblem(spec: TableSpec): string | undefined {
  const sampling = spec.sampling
  if (sampling === undefined || sampling === "uniform") return undefined
  if (typeof sampling !== "object" || sampling === null || !("weights" in sampling)) {
    return `sampling must be "uniform" or { weights }, got ${String(sampling)}`
  }
  const problem = weightsProblem(sampling.weights)
  if (problem !== undefined) return `sampling: ${problem}`
  if (sampling.weights.length !== spec.keys) {
    return `sampling: ${sampling.weights.length} weights for ${spec.keys} keys (one per key)`
  }
  return undefined
}

/** Build the per-table distributions once per cluster (an alias table for weights). */
export function makeSamplingContext(
  space: KeySpace,
  options: { sampling: Required<SamplingOptions>; config: RoamConfigShape },
): SamplingContext {
  const distributions = space.tables.map((table): Distribution => {
    const sampling = table.sampling
    if (sampling === "uniform") return { sample: (random) => random.nextInt(table.keys) }
    return new AliasTable(sampling.weights)
  })
  return {
    space,
    options: options.sampling,
    handlesMax: options.config.sampleHandlesMax,
    keysMax: options.config.sampleKeysMax,
    distributions,
  }
}

/** The context of a worker built without one: default options and limits. */
export function defaultSamplingContext(space: KeySpace): SamplingContext {
  return makeSamplingContext(space, { sampling: defaultSampling, config: defaultConfig })
}

export function checkScheme(scheme: unknown, fail: (message: string) => Error): void {
  if (!samplingSchemes.includes(scheme as SamplingScheme)) {
    throw fail(
      `unknown sampling scheme '${String(scheme)}': expected ${samplingSchemes.join(", ")}`,
    )
  }
}
