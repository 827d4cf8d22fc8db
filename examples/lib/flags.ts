/**
 * Command-line flags common to every example, parsed with `node:util`'s
 * `parseArgs`.
 *
 * Every example takes `--nodes`, `--workers` (per node), `--policy`,
 * `--epochs`, `--seed` and `--json FILE`, plus its own options. Values are
 * checked here, so that a typo is a one-line error naming the flag rather
 * than a NaN deep in a training loop; unknown flags are refused by
 * `parseArgs` itself (strict mode).
 */
import { accessSync, constants, existsSync, statSync } from "node:fs"
import { dirname } from "node:path"
import process from "node:process"
import { parseArgs } from "node:util"
import { type PolicyName, policyNames, type PolicyOption } from "../../mod.ts"
import { DebianDataMissing } from "../data/debian.ts"

export interface CommonFlags {
  readonly nodes: number
  readonly workers: number
  readonly policy: PolicyName
  readonly epochs: number
  readonly seed: number
  readonly json: string | undefined
  readonly quiet: boolean
}

type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; default?: string | boolean; short?: string }
>

const COMMON = {
  nodes: { type: "string", default: "2" },
  workers: { type: "string", default: "1" },
  policy: { type: "string", default: "adaptive" },
  epochs: { type: "string", default: "10" },
  seed: { type: "string", default: "1" },
  json: { type: "string" },
  quiet: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const satisfies OptionSpec

/** Parse `args` into the common flags and the example's own (as strings/booleans). */
export function parseFlags<T extends OptionSpec>(
  args: readonly string[],
  own: T,
  usage: string,
): { common: CommonFlags; own: Record<keyof T, string | boolean | undefined>; help: boolean } {
  let parsed
  try {
    parsed = parseArgs({ args: [...args], options: { ...COMMON, ...own }, strict: true })
  } catch (error) {
    throw new RangeError(`${(error as Error).message}\n${usage}`)
  }
  const v = parsed.values as Record<string, string | boolean | undefined>
  const common: CommonFlags = {
    nodes: intFlag(v, "nodes", 1),
    workers: intFlag(v, "workers", 1),
    // Every policy of roam; "nups" replicates each node's 1% most accessed keys (policyOption).
    policy: choiceFlag<PolicyName>(v, "policy", policyNames),
    epochs: intFlag(v, "epochs", 1),
    seed: intFlag(v, "seed", 0),
    json: jsonFlag(v.json as string | undefined),
    quiet: v.quiet === true,
  }
  return { common, own: v as Record<keyof T, string | boolean | undefined>, help: v.help === true }
}

/**
 * `--json FILE`, checked before any work: its directory must exist and be
 * writable, so a typo does not cost a whole training run. `{node}` in the
 * name stands for the node's id (`report.ts`).
 */
function jsonFlag(path: string | undefined): string | undefined {
  if (path === undefined) return undefined
  if (path === "") throw new RangeError("--json needs a file name")
  const dir = dirname(path)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new RangeError(`--json ${path}: no directory ${dir}`)
  }
  try {
    accessSync(dir, constants.W_OK)
  } catch {
    throw new RangeError(`--json ${path}: cannot write in ${dir}`)
  }
  if (existsSync(path) && statSync(path).isDirectory()) {
    throw new RangeError(`--json ${path}: is a directory`)
  }
  return path
}

/** Flag `name` as an integer >= `min`. */
export function intFlag(values: Record<string, unknown>, name: string, min: number): number {
  const n = Number(values[name])
  if (!Number.isInteger(n) || n < min) {
    throw new RangeError(`--${name} must be an integer >= ${min}, got '${values[name]}'`)
  }
  return n
}

/** Flag `name` as a finite number >= `min`. */
export function numberFlag(values: Record<string, unknown>, name: string, min: number): number {
  const n = Number(values[name])
  if (!Number.isFinite(n) || n < min) {
    throw new RangeError(`--${name} must be a number >= ${min}, got '${values[name]}'`)
  }
  return n
}

/** Flag `name` as one of `choices`. */
export function choiceFlag<C extends string>(
  values: Record<string, unknown>,
  name: string,
  choices: readonly C[],
): C {
  const value = String(values[name])
  if (!(choices as readonly string[]).includes(value)) {
    throw new RangeError(`--${name} must be one of ${choices.join(", ")}, got '${value}'`)
  }
  return value as C
}

/** A flag holding `count` comma-separated positive integers, e.g. `--synthetic 100,50,2000`. */
export function intListFlag(
  values: Record<string, unknown>,
  name: string,
  count: number,
): number[] {
  const parts = String(values[name]).split(",").map(Number)
  if (parts.length !== count || !parts.every((n) => Number.isInteger(n) && n > 0)) {
    throw new RangeError(
      `--${name} must be ${count} comma-separated positive integers, got '${values[name]}'`,
    )
  }
  return parts
}

/**
 * The cluster's `policy` option for `--policy`: `nups` needs its hot keys,
 * here each node's 1% most accessed keys (counted until the first barrier).
 */
export function policyOption(policy: PolicyName, keys: number): PolicyOption {
  if (policy !== "nups") return policy
  return { name: "nups", hot: { hottest: Math.max(1, Math.ceil(keys / 100)) } }
}

/**
 * What a user is told of `error`: one line for what they can act on, the
 * whole error (with its stack) for anything else, which would be a bug.
 * One line for a bad flag or a malformed file (a `RangeError` or
 * `SyntaxError` from the parsers, naming the flag or the file and line),
 * missing data (`DebianDataMissing`, whose message says how to fetch it), a
 * file the system cannot open (`ENOENT: no such file or directory, open
 * 'x.mmc'`), and roam's own tagged errors (`InvalidOptions: ...`,
 * `PeerLost: ...`).
 */
export function errorReport(error: unknown): unknown {
  if (
    error instanceof RangeError || error instanceof SyntaxError ||
    error instanceof DebianDataMissing
  ) return error.message
  if (!(error instanceof Error)) return error
  const { code, syscall, _tag } = error as { code?: unknown; syscall?: unknown; _tag?: unknown }
  if (typeof code === "string" && typeof syscall === "string") return error.message
  if (typeof _tag === "string") return `${_tag}: ${error.message}`
  return error
}

/**
 * Run an example's `main` on the process arguments; on an error, print
 * `errorReport` and exit with status 1.
 */
export async function runMain(main: (args: string[]) => Promise<unknown>): Promise<void> {
  try {
    await main(process.argv.slice(2))
  } catch (error) {
    console.error(errorReport(error))
    process.exit(1)
  }
}
