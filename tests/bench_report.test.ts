/**
 * Tests of the training benchmark's report (bench/_report_html.ts,
 * bench/_svg_chart.ts) and of how it combines a multi-process run's nodes
 * (bench/_train_results.ts), on small fixed inputs: every chart is
 * well-formed SVG (tags balance, no raw `<` or `&` in text or attributes)
 * with one polyline per policy that has data, axis labels and a legend;
 * names from the command line are escaped; a run that timed out is listed
 * without breaking a chart; and combining nodes sums points and bytes, takes
 * the slowest node's time, weights the local share by points, and leaves the
 * warm-up epoch out of the rates; copies of the plain run at once sit under
 * the process runs as the machine's ceiling, and the runner starts such
 * copies as processes, each writing its own JSON.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runForJson, thisRuntime } from "../bench/_processes.ts"
import { renderTrainReport } from "../bench/_report_html.ts"
import { escapeXml, lineChart } from "../bench/_svg_chart.ts"
import {
  combineNodes,
  type EpochPoint,
  formatTaskTable,
  goalRatios,
  medianRuns,
  type TrainReport,
  type TrainRun,
} from "../bench/_train_results.ts"
import type { RunSummary } from "../examples/lib/report.ts"

/** Check that `xml` is well-formed enough for a browser's XML parser; returns the tag names. */
function checkWellFormed(xml: string): string[] {
  const stack: string[] = []
  const names: string[] = []
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g
  let at = 0
  for (const m of xml.matchAll(tag)) {
    const text = xml.slice(at, m.index)
    assert.ok(
      !text.includes("<") && !text.includes(">"),
      `stray bracket in ${JSON.stringify(text)}`,
    )
    assert.ok(!/&(?!(amp|lt|gt|quot|#\d+);)/.test(text + m[3]), `raw & near ${m[0]}`)
    at = m.index + m[0].length
    const [, close, name, , selfClose] = m
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`)
    else if (!selfClose) stack.push(name)
    if (!close) names.push(name)
  }
  assert.ok(!xml.slice(at).includes("<"), "an unparsed tag")
  assert.deepEqual(stack, [], "unclosed elements")
  return names
}

const svgsOf = (html: string) => [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].map((m) => m[0])
const count = (names: string[], name: string) => names.filter((n) => n === name).length

function epochs(rate: number, quality: number[]): EpochPoint[] {
  return quality.map((q, i) => ({
    epoch: i + 1,
    seconds: 1,
    elapsedSeconds: i + 1,
    dataPoints: rate,
    dataPointsPerSecond: rate,
    localShare: 0.99,
    bytes: 1000,
    frames: 10,
    quality: { rmse: q, trainLoss: q },
  }))
}

function run(policy: string, mode: TrainRun["mode"], nodes: number, rate: number): TrainRun {
  const e = epochs(rate, [1.0, 0.9, 0.85])
  return {
    task: "mf",
    policy,
    mode,
    nodes,
    status: "ok",
    wallSeconds: 4,
    epochs: e,
    final: {
      quality: e[2].quality,
      localShare: 0.99,
      secondsPerEpoch: 1,
      bytesPerEpoch: 1000,
      framesPerEpoch: 10,
      dataPointsPerSecond: rate,
    },
  }
}

const TRICKY = `<b>"x" & 'y'</b>`

const REPORT: TrainReport = {
  meta: { runtime: "test", note: "a < b & c" },
  runs: [
    run("plain", "plain", 1, 5000),
    run("adaptive", "local", 1, 4000),
    run("static", "local", 1, 4000),
    run(TRICKY, "local", 1, 3000),
    run("adaptive", "local", 2, 6000),
    run("static", "local", 2, 50),
    { task: "mf", policy: TRICKY, mode: "local", nodes: 2, status: "timed out", wallSeconds: 30 },
  ],
}

describe("training benchmark report", () => {
  it("negative control: the well-formedness check refuses broken SVG", () => {
    assert.throws(() => checkWellFormed(`<svg><g></svg>`))
    assert.throws(() => checkWellFormed(`<svg><text>a & b</text></svg>`))
    assert.throws(() => checkWellFormed(`<svg><text>a < b</text></svg>`))
    assert.throws(() => checkWellFormed(`<svg><text class="a"b">x</text></svg>`))
    checkWellFormed(`<svg><text x="1">a &amp; b</text><line x1="0"/></svg>`)
  })

  it("draws one polyline per series with axis labels and a legend", () => {
    const svg = lineChart({
      title: "t",
      xLabel: "time, s",
      yLabel: "rmse",
      xLog: true,
      series: [
        { name: "a", color: "#f00", points: [[1, 1], [2, 0.5]] },
        { name: "b", color: "#0f0", points: [[1, 2]] },
        { name: "c", color: "#00f", points: [[0, 3], [3, 1]], dashed: true },
      ],
    })
    const names = checkWellFormed(svg)
    assert.equal(count(names, "polyline"), 3)
    // The point at x = 0 cannot sit on a log axis: dropped, leaving 2 + 1 + 1 markers.
    assert.equal(count(names, "circle"), 4)
    assert.match(svg, /class="axis-label"[^>]*>time, s \(log\)<\/text>/)
    assert.match(svg, /class="axis-label"[^>]*>rmse<\/text>/)
    assert.equal((svg.match(/class="legend"/g) ?? []).length, 3)
    assert.equal((svg.match(/stroke-dasharray/g) ?? []).length, 2, "series c and its legend")
  })

  it("renders a page of well-formed charts, one series per policy, names escaped", () => {
    const html = renderTrainReport(REPORT)
    assert.ok(html.startsWith("<!DOCTYPE html>"))
    assert.ok(!/<script|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/.test(html), "self-contained")
    const svgs = svgsOf(html)
    // Quality charts for local x1 and local x2, one throughput chart (local).
    assert.equal(svgs.length, 3)
    const [quality1, quality2, throughput] = svgs.map(checkWellFormed)
    assert.equal(count(quality1, "polyline"), 4, "3 policies and plain")
    assert.equal(count(quality2, "polyline"), 3, "2 finished policies and plain")
    assert.equal(count(throughput, "polyline"), 4, "3 policies and the plain level")
    assert.ok(svgs[1].includes("(timed out)"), "the timed-out run is named in the legend")
    assert.ok(!html.includes(TRICKY), "the raw name never appears")
    assert.ok(html.includes(escapeXml(TRICKY)))
    assert.ok(html.includes("a &lt; b &amp; c"))
    const table = html.slice(html.indexOf("<table"), html.indexOf("</table>") + 8)
    checkWellFormed(table)
    assert.equal((table.match(/<tr class="bad"/g) ?? []).length, 1)
  })

  it("keeps the median of repeated runs, with every finished repetition's rate", () => {
    const failed: TrainRun = { ...run("adaptive", "process", 2, 0), status: "failed" }
    delete (failed as { final?: unknown }).final
    const all = [
      run("adaptive", "process", 2, 3e6),
      run("plain", "plain", 1, 2e6),
      run("adaptive", "process", 2, 1e6),
      failed,
      run("adaptive", "process", 2, 2e6),
      run("adaptive", "process", 2, 4e6),
      { ...run("static", "process", 2, 0), status: "timed out" as const },
    ]
    const medians = medianRuns(all)
    assert.deepEqual(medians.map((r) => r.policy), ["adaptive", "plain", "static"])
    // Four finished: the lower middle (2M), not the mean (2.5M) nor the last.
    assert.equal(medians[0].final?.dataPointsPerSecond, 2e6)
    assert.deepEqual(medians[0].repetitions, [3e6, 1e6, 2e6, 4e6])
    assert.equal(medians[1].repetitions, undefined, "a single run carries no repetitions")
    assert.equal(medians[2].status, "timed out", "none finished: the last attempt")
    const ratios = goalRatios([...medians, run("adaptive", "local", 1, 1e6)], "mf")
    assert.equal(ratios[0].value, 2, "the goal ratio is taken between medians")
  })

  it("computes the goal ratios from the runs that exist", () => {
    const ratios = goalRatios(REPORT.runs, "mf")
    const byLabel = Object.fromEntries(ratios.map((r) => [r.label, r.value]))
    assert.equal(byLabel["adaptive / static, 2 nodes in-process, points/s"], 120)
    assert.equal(byLabel["adaptive 1 node / plain, points/s"], 0.8)
    assert.equal(byLabel["adaptive 2 processes / 1 node, points/s"], undefined, "no process runs")
  })

  it("places plain's copies at once under the process runs, as the machine's ceiling", () => {
    const runs = [
      run("plain", "plain", 1, 5000),
      run("plain", "plain", 2, 8000),
      run("adaptive", "local", 1, 4000),
      run("adaptive", "process", 1, 4000),
      run("adaptive", "process", 2, 6000),
    ]
    const table = formatTaskTable(runs, "mf").split("\n")
    const header = table[1].split(/\s{2,}/)
    const plain = table[2].split(/\s{2,}/)
    assert.deepEqual(header.slice(0, 4), ["policy", "local x1", "process x1", "process x2"])
    assert.deepEqual(plain.slice(0, 3), ["plain", "5.00k", "8.00k"])
    // Right-aligned: one copy ends under local x1, two under process x2, none under process x1.
    const end = (line: string, text: string) => line.indexOf(text) + text.length
    assert.equal(end(table[2], "5.00k"), end(table[1], "local x1"))
    assert.equal(end(table[2], "8.00k"), end(table[1], "process x2"))
    const ratios = Object.fromEntries(goalRatios(runs, "mf").map((r) => [r.label, r.value]))
    const ceiling = Object.entries(ratios).find(([label]) => label.includes("ceiling"))
    assert.equal(ceiling?.[1], 1.6)
    assert.equal(ratios["adaptive 2 processes / 1 node, points/s"], 1.5)
    const svgs = svgsOf(renderTrainReport({ meta: {}, runs })).map(checkWellFormed)
    // Quality: local x1, process x1, process x2; throughput: local, then process.
    assert.equal(svgs.length, 5)
    assert.equal(count(svgs[3], "polyline"), 2, "local: adaptive and the plain level")
    assert.equal(count(svgs[4], "polyline"), 3, "process: adaptive, the level and the copies")
  })

  it("runs copies of one process at once, each with its own {node}", async () => {
    const dir = mkdtempSync(join(tmpdir(), "roam-copies-"))
    try {
      const script = join(dir, "copy.ts")
      writeFileSync(
        script,
        `import { writeFileSync } from "node:fs"\nimport process from "node:process"\n` +
          `const [out] = process.argv.slice(2)\n` +
          `writeFileSync(out, JSON.stringify({ out, pid: process.pid }))\n`,
      )
      const template = join(dir, "copy-{node}.json")
      const run = await runForJson<{ out: string; pid: number }>({
        task: script,
        args: [template],
        template,
        processes: { concurrent: 3 },
        runtime: thisRuntime(),
        timeoutMs: 60_000,
      })
      assert.equal(run.status, "ok")
      if (run.status !== "ok") return
      assert.deepEqual(
        run.values.map((v) => v.out),
        [0, 1, 2].map((i) => join(dir, `copy-${i}.json`)),
      )
      assert.equal(new Set(run.values.map((v) => v.pid)).size, 3, "three processes")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("combines nodes: points summed, the slowest node's time, share by points, no warm-up", () => {
    const epoch = (epoch: number, seconds: number, points: number, local: number) => ({
      epoch,
      seconds,
      dataPoints: points,
      quality: { rmse: 0.9 + seconds / 100, trainLoss: seconds },
      localShare: local,
      frames: 5,
      bytes: 100,
    })
    // Epoch 1 (the warm-up) is slow and all remote; the rates leave it out.
    const node = (seconds: number, points: number, local: number): RunSummary => ({
      task: "mf",
      settings: {},
      epochs: [epoch(1, 100, points, 0), epoch(2, seconds, points, local)],
      final: {
        quality: {},
        localShare: local,
        secondsPerEpoch: seconds,
        bytesPerEpoch: 100,
        framesPerEpoch: 5,
        dataPointsPerSecond: points / seconds,
      },
    })
    const { epochs, final } = combineNodes([node(2, 300, 1), node(4, 100, 0.6)])
    assert.equal(epochs.length, 2)
    assert.equal(epochs[1].seconds, 4)
    assert.equal(epochs[1].dataPoints, 400)
    assert.equal(epochs[1].elapsedSeconds, 104)
    assert.equal(final.dataPointsPerSecond, 100)
    assert.equal(final.bytesPerEpoch, 200)
    assert.equal(final.framesPerEpoch, 10)
    assert.ok(Math.abs(final.localShare - 0.9) < 1e-12)
    assert.equal(final.quality.rmse, 0.92, "node 0's evaluation")
    assert.equal(final.quality.trainLoss, 2.5, "training loss weighted by points")
  })
})
