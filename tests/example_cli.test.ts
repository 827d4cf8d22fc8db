/**
 * What a new user meets at the examples' command line: a mistake is one line
 * that names it, said before any training, and never a stack of internal
 * frames; only a bug prints its whole error. Covers `errorReport` (what
 * `runMain` prints), `--json` checked up front and `{node}` in its path,
 * missing and mistaken data files, empty test sets, the quickstart's flags
 * (run as a process, as `npm run example` runs it), and KGE's random-MRR
 * baseline.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Cluster } from "../mod.ts"
import { runtimeCommand } from "../runtime/launch.ts"
import { errorReport } from "../examples/lib/flags.ts"
import { randomMrr } from "../examples/lib/kge_model.ts"
import { main as kgeMain } from "../examples/kge.ts"
import { main as mfMain } from "../examples/mf.ts"

const TINY = ["--synthetic", "60,40,600", "--rank", "4", "--epochs", "1", "--nodes", "1", "--quiet"]

/** A fresh directory for one test's files, removed afterwards. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "roam-cli-"))
  try {
    await body(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The one line `runMain` would print for what `run` throws. */
async function reportOf(run: Promise<unknown>): Promise<string> {
  try {
    await run
  } catch (error) {
    const report = errorReport(error)
    assert.equal(typeof report, "string", `printed whole: ${String(error)}`)
    return report as string
  }
  throw new Error("expected the run to fail")
}

describe("the examples' command line", () => {
  it("prints one line for a user's mistake and the whole error for a bug", async () => {
    assert.equal(errorReport(new RangeError("--rank must be ...")), "--rank must be ...")
    const missing = await reportOf(mfMain(["--train", "/nonexistent/a.mmc", "--test", "b.mmc"]))
    assert.match(missing, /^ENOENT: no such file or directory, open '\/nonexistent\/a\.mmc'$/)
    const tagged = await reportOf(Cluster.local({ nodes: 100, tables: [] }))
    assert.match(tagged, /^InvalidOptions: nodes must be an integer in \[1, 64\], got 100$/)
    // Negative control: a bug's error is printed whole, stack and all.
    const bug = new TypeError("x is undefined")
    assert.equal(errorReport(bug), bug)
  })

  it("checks --json before training, and makes {node} the node's id", async () => {
    await inTempDir(async (dir) => {
      const started = performance.now()
      const noDir = await reportOf(mfMain([...TINY, "--json", join(dir, "nope", "out.json")]))
      assert.equal(
        noDir,
        `--json ${join(dir, "nope", "out.json")}: no directory ${join(dir, "nope")}`,
      )
      assert.match(await reportOf(mfMain([...TINY, "--json", dir])), /is a directory$/)
      assert.ok(performance.now() - started < 2_000, "refused before any training")
      await mfMain([...TINY, "--json", join(dir, "out-{node}.json")])
      const written = JSON.parse(readFileSync(join(dir, "out-0.json"), "utf8"))
      assert.equal(written.settings.nodes, 1)
      assert.equal(existsSync(join(dir, "out-{node}.json")), false)
    })
  })

  it("says which data file is wrong and why", async () => {
    await inTempDir(async (dir) => {
      // --movielens: a text file that is no ratings CSV, whatever its name.
      const notes = join(dir, "notes.txt")
      writeFileSync(notes, "# my notes\nnothing here\n")
      assert.match(
        await reportOf(mfMain(["--movielens", notes])),
        /notes\.txt:1: expected a header naming userId, movieId and rating/,
      )
      // An R database is a pair: the .rdb without its .rdx is named as such.
      const rdb = join(dir, "Rdata.rdb")
      writeFileSync(rdb, "")
      assert.match(
        await reportOf(mfMain(["--movielens", rdb])),
        /Rdata\.rdb: no .*Rdata\.rdx \(an R lazy-load database is a \.rdb file with its \.rdx index\)/,
      )
      // A test set with no entries would report an RMSE of 0.
      const banner = "%%MatrixMarket matrix coordinate real general\n"
      const train = join(dir, "train.mmc")
      const test = join(dir, "test.mmc")
      writeFileSync(train, `${banner}3 3 1\n1 1 2.0\n`)
      writeFileSync(test, `${banner}3 3 0\n`)
      assert.equal(
        await reportOf(mfMain(["--train", train, "--test", test])),
        `${test}: no entries to test on`,
      )
    })
    assert.match(
      await reportOf(kgeMain(["--synthetic", "2,1,1", "--quiet"])),
      /^--synthetic 2,1,1: no test triples left to evaluate on/,
    )
  })

  it("judges KGE against the MRR of random scores, H(n)/n", () => {
    assert.equal(randomMrr(1), 1)
    assert.equal(randomMrr(2), 0.75)
    const n = 40_000
    const approx = (Math.log(n) + 0.5772) / n
    assert.ok(Math.abs(randomMrr(n) - approx) < 1e-3 * approx, `${randomMrr(n)} vs ${approx}`)
  })

  it("the quickstart takes --help and refuses a bad flag in one line", () => {
    const quickstart = fileURLToPath(new URL("../examples/quickstart.ts", import.meta.url))
    const runtime = "Bun" in globalThis ? "bun" : "deno"
    const run = (...args: string[]) => {
      const [bin, ...rest] = runtimeCommand(runtime, quickstart, args)
      return spawnSync(bin, rest, { encoding: "utf8", timeout: 30_000 })
    }
    const help = run("--help")
    assert.equal(help.status, 0, help.stderr)
    assert.match(help.stdout, /^usage: quickstart\.ts \[--nodes 3\]/)
    const bad = run("--epochs", "abc")
    assert.equal(bad.status, 1)
    assert.equal(bad.stderr.trim(), "--epochs must be an integer >= 1, got 'abc'")
    const unknown = run("--bogus")
    assert.equal(unknown.status, 1)
    assert.match(unknown.stderr, /^Unknown option '--bogus'\nusage: quickstart\.ts/)
  })
})
