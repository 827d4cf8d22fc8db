/**
 * Per-epoch progress: a terminal bar when stdout is a terminal, plain lines
 * otherwise (logs, CI, pipes), and nothing with `quiet`.
 *
 * The training loop calls `tick(done)` as it goes (cheap: without a
 * terminal it returns at once, and a bar redraws at most 10 times a second)
 * and `end(line)` once per epoch with a finished summary line, printed in
 * both modes so that a log holds one line per epoch. The bar shows data
 * points per second and the share of accesses served locally.
 */
import process from "node:process"
import { type Bar, makeBar } from "./_cli_progress.ts"

export interface Progress {
  begin(epoch: number, total: number): void
  tick(done: number): void
  end(line: string): void
}

/**
 * Progress output for `epochs` epochs. `localShare` reports the share of
 * accesses served locally so far; it is called only to redraw the bar.
 */
export function makeProgress(
  options: { quiet: boolean; epochs: number; localShare: () => number },
): Progress {
  if (options.quiet) return { begin() {}, tick() {}, end() {} }
  const bar: Bar | undefined = process.stdout.isTTY
    ? makeBar("epoch {epoch}/{epochs} [{bar}] {percentage}% | {rate} points/s | local {local}%")
    : undefined
  let started = 0
  let epoch = 0
  let drawn = 0
  return {
    begin(e, total) {
      epoch = e
      started = performance.now()
      bar?.start(total, 0, { epoch, epochs: options.epochs, rate: 0, local: "100.0" })
    },
    tick(done) {
      if (bar === undefined) return
      const now = performance.now()
      // Redraw at most 10 times a second: reading the counters is not free.
      if (now - drawn < 100) return
      drawn = now
      const seconds = (now - started) / 1000
      bar.update(done, {
        epoch,
        epochs: options.epochs,
        rate: seconds > 0 ? Math.round(done / seconds) : 0,
        local: (options.localShare() * 100).toFixed(1),
      })
    },
    end(line) {
      bar?.stop()
      console.log(line)
    },
  }
}
