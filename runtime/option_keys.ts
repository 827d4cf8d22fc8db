/**
 * Unknown option keys: the one check every reader of a user's options object
 * makes.
 *
 * Options are plain objects, so a misspelt key (`polcy: "static"`) is not a
 * type error in JavaScript, nor in TypeScript when the object was built
 * elsewhere, and a reader that only looks up the keys it knows would run on
 * its defaults without a word. Every place that reads a user's options object
 * (the cluster's options, each table, `config`, `sampling`, a policy object,
 * `tls`, `prepareSample`'s options) calls `checkKeys` with the keys it reads,
 * so that an unknown key fails with the key, the known ones and, for a near
 * miss, the key that was probably meant. Control plane only: it runs when a
 * cluster starts or once per `prepareSample` call, never per key.
 */
import { invalidOptions } from "./errors.ts"

/** How `checkKeys` names what it checks and which error it throws. */
export interface CheckKeysOptions {
  /** What a key of this object is, for the message: "option", "config field". */
  readonly what: string
  /** Prefixed to the message, as in `table 'w': unknown option ...`. */
  readonly context?: string
  /** Builds the error (default `invalidOptions`). */
  readonly fail?: (message: string) => Error
}

/** Throw (`InvalidOptions` unless told otherwise) for an own key of `value` not in `known`. */
export function checkKeys(
  value: object,
  known: readonly string[],
  options: CheckKeysOptions,
): void {
  // `for in` rather than Object.keys: no array per call, and prepareSample calls this per batch.
  for (const key in value) {
    if (!Object.hasOwn(value, key) || known.includes(key)) continue
    const near = nearest(key, known)
    const hint = near === undefined ? "" : ` (did you mean '${near}'?)`
    const prefix = options.context === undefined ? "" : `${options.context}: `
    const fail = options.fail ?? invalidOptions
    throw fail(`${prefix}unknown ${options.what} '${key}'${hint}; known: ${known.join(", ")}`)
  }
}

/**
 * The known key closest to `key`, if it is a near miss: at most a third of its
 * letters wrong (so `polcy` finds `policy`, `nope` finds nothing), or the same
 * but for case.
 */
function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1
  for (const candidate of known) {
    if (candidate.toLowerCase() === key.toLowerCase()) return candidate
    const distance = editDistance(key, candidate)
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance]
  }
  return best
}

/**
 * Edit distance with adjacent transpositions (`nmae` is one edit from `name`),
 * row by row; keys are a few letters long and this runs only on a mistake.
 */
function editDistance(a: string, b: string): number {
  let before: number[] = []
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      let distance = Math.min(
        previous[j] + 1,
        row[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      )
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, before[j - 2] + 1)
      }
      row.push(distance)
    }
    before = previous
    previous = row
  }
  return previous[b.length]
}
