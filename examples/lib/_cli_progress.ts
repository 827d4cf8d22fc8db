/**
 * The one module that loads npm `cli-progress`, so that the dependency is
 * isolated: it is loaded with `require` at run time (the package is
 * CommonJS), found through `findPackageDir`, and its absence only means plain
 * progress lines. Nothing else in the examples knows the package exists.
 */
import { createRequire } from "node:module"
import { findPackageDir } from "../data/packages.ts"

/** The slice of cli-progress's `SingleBar` the examples use. */
export interface Bar {
  start(total: number, start: number, payload?: Record<string, unknown>): void
  update(value: number, payload?: Record<string, unknown>): void
  stop(): void
}

/** A terminal progress bar, or undefined when cli-progress is not installed. */
export function makeBar(format: string): Bar | undefined {
  const dir = findPackageDir("cli-progress")
  if (dir === undefined) return undefined
  const lib = createRequire(import.meta.url)(dir) as {
    SingleBar: new (options: Record<string, unknown>, preset: unknown) => Bar
    Presets: Record<string, unknown>
  }
  return new lib.SingleBar(
    { format, hideCursor: true, clearOnComplete: true, fps: 10 },
    lib.Presets.shades_classic,
  )
}
