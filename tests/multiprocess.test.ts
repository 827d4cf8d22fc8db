/**
 * Multi-process end to end: the launcher starts real node processes on
 * loopback running `tests/_launch_task.ts`. Three nodes push small-integer
 * deltas while keys relocate every round, and every owner value is exact at
 * the end (in this runtime, and with Deno and Bun nodes mixed in one
 * cluster); a wrong expected sum makes the launcher fail (negative control);
 * and a node killed with SIGKILL makes the others' pending pulls fail with
 * `PeerLost` naming it, well within the test's bound, with no process hanging.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { launch, type LaunchOptions } from "../runtime/launch.ts"

const RUN_MS_MAX = 30_000
/** Per test: spawning processes is slow on a loaded machine (bun test defaults to 5 s). */
const slow = { timeout: 2 * RUN_MS_MAX }
const thisRuntime = "Bun" in globalThis ? "bun" : "deno"

async function run(
  args: string[],
  runtime: LaunchOptions["runtime"] = thisRuntime,
  task = "./_launch_task.ts",
  nodes = 3,
): Promise<{ code: number; lines: string[]; ms: number }> {
  const lines: string[] = []
  const started = performance.now()
  const code = await launch({
    nodes,
    runtime,
    task: fileURLToPath(new URL(task, import.meta.url)),
    args,
    timeoutMs: RUN_MS_MAX,
    out: (line) => lines.push(line),
  })
  return { code, lines, ms: performance.now() - started }
}

const exactLines = (lines: string[]) =>
  lines.filter((l) => /^\[node (\d)\] node \1: all 90 keys exact \(468\)$/.test(l)).sort()

describe("multi-process cluster (launcher)", () => {
  it(`3 ${thisRuntime} processes: pushes with relocations sum exactly`, slow, async () => {
    const { code, lines } = await run(["push"])
    assert.equal(code, 0, lines.join("\n"))
    assert.equal(exactLines(lines).length, 3, lines.join("\n"))
  })

  it(`3 ${thisRuntime} processes: intents place keys (adaptive), sums exact`, slow, async () => {
    const { code, lines } = await run(["intent"])
    assert.equal(code, 0, lines.join("\n"))
    assert.equal(exactLines(lines).length, 3, lines.join("\n"))
    const placed = lines.filter((l) => /: [1-9]\d* keys moved in, [1-9]\d* replicas$/.test(l))
    assert.ok(placed.length >= 1, `no node saw both moves and replicas:\n${lines.join("\n")}`)
  })

  it("Deno and Bun nodes mixed in one cluster sum exactly", slow, async () => {
    const { code, lines } = await run(["push"], "mixed")
    assert.equal(code, 0, lines.join("\n"))
    assert.equal(exactLines(lines).length, 3, lines.join("\n"))
  })

  it("negative control: a wrong expected sum fails every node and the launcher", slow, async () => {
    const { code, lines } = await run(["push", "1"])
    assert.equal(code, 1)
    assert.equal(lines.filter((l) => /is 468, not 469/.test(l)).length, 3, lines.join("\n"))
  })

  it("the MF example trains across 2 processes with one loss and step size", slow, async () => {
    const dir = mkdtempSync(join(tmpdir(), "roam-mp-"))
    try {
      const json = join(dir, "mf-{node}.json")
      const args = ["--synthetic", "600,400,12000", "--rank", "8", "--epochs", "3", "--json", json]
      const { code, lines } = await run(args, thisRuntime, "../examples/mf.ts", 2)
      assert.equal(code, 0, lines.join("\n"))
      // Each process trains its share but reports the cluster's loss, so the
      // bold driver takes the same step everywhere: identical epoch lines.
      const epochLines = (node: number) =>
        lines.filter((l) => new RegExp(`^\\[node ${node}\\] epoch \\d+:`).test(l))
          .map((l) => l.replace(/^\[node \d\] /, "").replace(/local .*$/, ""))
      assert.equal(epochLines(0).length, 3, lines.join("\n"))
      assert.deepEqual(epochLines(1), epochLines(0))
      // Each node names the cluster it joined (the launcher's 2, not --nodes)
      // and writes its own JSON, `{node}` made its id.
      for (const node of [0, 1]) {
        const here = `[node ${node}] cluster: 2 nodes x 1 workers (this process: node ${node}); `
        assert.ok(lines.some((l) => l.startsWith(here)), lines.join("\n"))
        const written = JSON.parse(readFileSync(join(dir, `mf-${node}.json`), "utf8"))
        assert.equal(written.settings.nodes, 2)
        assert.equal(written.epochs.length, 3)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it(
    "an example's --json without {node} is refused before training, on every node",
    slow,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "roam-mp-"))
      try {
        const json = join(dir, "mf.json")
        const args = ["--synthetic", "600,400,12000", "--epochs", "50", "--json", json]
        const { code, lines } = await run(args, thisRuntime, "../examples/mf.ts", 2)
        assert.equal(code, 1, lines.join("\n"))
        for (const node of [0, 1]) {
          const refused = `[node ${node}] --json ${json}: this cluster's 2 nodes run in separate ` +
            `processes, and each writes its own file: put {node} in the path`
          assert.ok(lines.some((l) => l.startsWith(refused)), lines.join("\n"))
        }
        assert.ok(!lines.some((l) => /epoch \d+:/.test(l)), "no epoch trained")
        assert.equal(existsSync(json), false)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )

  it("a SIGKILLed node fails the others' pending pulls with PeerLost naming it", slow, async () => {
    const { code, lines, ms } = await run(["kill"])
    assert.equal(code, 1)
    assert.ok(lines.includes("[launch] node 2 exited with SIGKILL"), lines.join("\n"))
    for (const id of [0, 1]) {
      assert.ok(
        lines.some((l) => l.startsWith(`[node ${id}] node ${id}: PeerLost node=2: node 2 is lost`)),
        lines.join("\n"),
      )
      assert.ok(lines.includes(`[launch] node ${id} exited with code 3`), lines.join("\n"))
    }
    assert.ok(ms < RUN_MS_MAX / 2, `took ${ms} ms`)
  })
})
