/**
 * The training benchmark's report as one self-contained HTML page: what a
 * person opens in a browser after `bench/train.ts` (no scripts, no external
 * stylesheets or fonts; the charts are inline SVG from `_svg_chart.ts`).
 *
 * Per task it shows quality against training time with one series per
 * policy (plus the plain implementation, dashed), one chart per mode and
 * node count; throughput against nodes with one series per policy, one chart
 * per mode (the plain implementation as a dashed level line and, beside
 * process runs, its copies run at once: the machine's ceiling); a table of
 * every run with its numbers or why it has none; and the ratios of issue 6's
 * performance goal. The page is a pure function of the report data, so the
 * JSON and the page always agree and the page can be regenerated from it.
 */
import { escapeXml, lineChart, type Series } from "./_svg_chart.ts"
import {
  formatRate,
  formatRatio,
  goalRatios,
  type Mode,
  primaryMetric,
  type TrainReport,
  type TrainRun,
} from "./_train_results.ts"

/** A fixed colour per policy, so a policy looks the same in every chart. */
const COLORS: Record<string, string> = {
  adaptive: "#d62728",
  static: "#7f7f7f",
  lapse: "#1f77b4",
  nups: "#2ca02c",
  "full-replication": "#9467bd",
  "replication-only": "#ff7f0e",
  "relocation-only": "#17becf",
  plain: "#000000",
}
const SPARE_COLORS = ["#8c564b", "#e377c2", "#bcbd22", "#393b79"]

function colorOf(policy: string, index: number): string {
  return COLORS[policy] ?? SPARE_COLORS[index % SPARE_COLORS.length]
}

const MODE_NAMES: Record<Mode, string> = {
  local: "in one process",
  process: "as processes",
  plain: "plain",
}

const ok = (r: TrainRun) => r.status === "ok" && r.final !== undefined

/** Distinct values in first-seen order. */
const distinct = <T>(values: readonly T[]): T[] => [...new Set(values)]

/** The plain implementation's run of one process, if it finished. */
const plainAlone = (runs: readonly TrainRun[]) =>
  runs.find((r) => r.mode === "plain" && r.nodes === 1 && ok(r))

/** Quality against training time: one chart per mode and node count of a task. */
function qualityCharts(task: string, runs: readonly TrainRun[]): string[] {
  const first = runs.find(ok)
  if (first === undefined) return []
  const metric = primaryMetric(task, first.final!.quality)
  const plain = plainAlone(runs)
  const configs = distinct(
    runs.filter((r) => r.mode !== "plain").map((r) => `${r.mode}:${r.nodes}`),
  )
  return configs.map((config) => {
    const [mode, nodes] = config.split(":")
    const here = runs.filter((r) => r.mode === mode && r.nodes === Number(nodes))
    const series: Series[] = here.map((r, i) => ({
      name: r.status === "ok" ? r.policy : `${r.policy} (${r.status})`,
      color: colorOf(r.policy, i),
      points: (r.epochs ?? []).map((e) => [e.elapsedSeconds, e.quality[metric.name]] as const),
    }))
    if (plain !== undefined) {
      series.push({
        name: "plain",
        color: COLORS.plain,
        dashed: true,
        points: (plain.epochs ?? []).map((e) =>
          [e.elapsedSeconds, e.quality[metric.name]] as const
        ),
      })
    }
    const better = metric.higherIsBetter ? "higher is better" : "lower is better"
    return lineChart({
      title: `${task}: ${metric.name}, ${nodes} node${nodes === "1" ? "" : "s"} ${
        MODE_NAMES[mode as Mode]
      }`,
      xLabel: "training time, s",
      yLabel: `${metric.name} (${better})`,
      xLog: true,
      series,
    })
  })
}

/** Throughput against nodes: one chart per mode of a task. */
function throughputCharts(task: string, runs: readonly TrainRun[]): string[] {
  const plain = plainAlone(runs)
  // Copies of plain run at once: beside process runs, what the machine gives that many processes.
  const copies = runs.filter((r) => r.mode === "plain" && r.nodes > 1 && ok(r))
  const modes = distinct(runs.filter((r) => r.mode !== "plain").map((r) => r.mode))
  return modes.map((mode) => {
    const here = runs.filter((r) => r.mode === mode)
    const nodes = distinct(here.map((r) => r.nodes)).sort((a, b) => a - b)
    const policies = distinct(here.map((r) => r.policy))
    const series: Series[] = policies.map((policy, i) => ({
      name: policy,
      color: colorOf(policy, i),
      points: here.filter((r) => r.policy === policy && ok(r))
        .sort((a, b) => a.nodes - b.nodes)
        .map((r) => [r.nodes, r.final!.dataPointsPerSecond] as const),
    }))
    if (plain !== undefined && nodes.length > 0) {
      const level = plain.final!.dataPointsPerSecond
      series.push({
        name: "plain (1 process)",
        color: COLORS.plain,
        dashed: true,
        points: [[nodes[0], level], [nodes.at(-1)!, level]],
      })
      if (mode === "process" && copies.length > 0) {
        series.push({
          name: "plain, copies at once (machine ceiling)",
          color: COLORS.plain,
          points: [plain, ...copies].sort((a, b) => a.nodes - b.nodes)
            .map((r) => [r.nodes, r.final!.dataPointsPerSecond] as const),
        })
      }
    }
    return lineChart({
      title: `${task}: throughput, ${MODE_NAMES[mode]}`,
      xLabel: "nodes",
      yLabel: "data points / s",
      xLog: true,
      yLog: true,
      xTicks: nodes,
      series,
    })
  })
}

/** Every run of a task as a table row. */
function runTable(task: string, runs: readonly TrainRun[]): string {
  const head = [
    "policy",
    "mode",
    "nodes",
    "status",
    "s / epoch",
    "points / s",
    "local %",
    "bytes / epoch",
    "quality",
    "wall s",
  ]
  const rows = runs.map((r) => {
    const f = r.final
    const metric = f ? primaryMetric(task, f.quality) : undefined
    const cells = [
      r.policy,
      MODE_NAMES[r.mode],
      String(r.nodes),
      r.status,
      f ? f.secondsPerEpoch.toFixed(3) : "",
      f ? formatRate(f.dataPointsPerSecond) : "",
      f ? (f.localShare * 100).toFixed(2) : "",
      f ? formatRate(f.bytesPerEpoch) : "",
      f && metric ? `${metric.name} ${f.quality[metric.name].toFixed(4)}` : "",
      r.wallSeconds.toFixed(1),
    ]
    const title = r.error === undefined ? "" : ` title="${escapeXml(r.error)}"`
    return `<tr class="${r.status === "ok" ? "ok" : "bad"}"${title}>${
      cells.map((c) => `<td>${escapeXml(c)}</td>`).join("")
    }</tr>`
  })
  return `<table><thead><tr>${
    head.map((h) => `<th>${escapeXml(h)}</th>`).join("")
  }</tr></thead><tbody>\n${rows.join("\n")}\n</tbody></table>`
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1500px; }
h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 32px; border-bottom: 1px solid #ccc; }
h3 { font-size: 14px; } .charts { display: flex; flex-wrap: wrap; gap: 12px; }
table { border-collapse: collapse; font-size: 12px; }
td, th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: right; }
td:first-child, th:first-child { text-align: left; }
tr.bad td { color: #a00; } .meta { font-size: 12px; color: #555; } li { font-size: 13px; }
`

/** The whole page. */
export function renderTrainReport(report: TrainReport): string {
  const tasks = distinct(report.runs.map((r) => r.task))
  const sections = tasks.map((task) => {
    const runs = report.runs.filter((r) => r.task === task)
    const ratios = goalRatios(report.runs, task)
      .map((r) => `<li>${escapeXml(r.label)}: ${escapeXml(formatRatio(r))}</li>`)
    return [
      `<section id="${escapeXml(task)}">`,
      `<h2>${escapeXml(task)}</h2>`,
      `<h3>Quality against training time</h3>`,
      `<div class="charts">${qualityCharts(task, runs).join("\n")}</div>`,
      `<h3>Throughput against nodes</h3>`,
      `<div class="charts">${throughputCharts(task, runs).join("\n")}</div>`,
      `<h3>Issue 6 ratios</h3>`,
      `<ul>${ratios.join("")}</ul>`,
      `<h3>Runs</h3>`,
      runTable(task, runs),
      `</section>`,
    ].join("\n")
  })
  const meta = Object.entries(report.meta)
    .map(([k, v]) => `<li>${escapeXml(k)}: ${escapeXml(JSON.stringify(v))}</li>`)
  return [
    "<!DOCTYPE html>",
    `<html lang="en"><head><meta charset="utf-8">`,
    `<title>roam training benchmark</title><style>${STYLE}</style></head><body>`,
    `<h1>roam training benchmark</h1>`,
    `<ul class="meta">${meta.join("")}</ul>`,
    `<p class="meta">Times are training time (evaluation excluded); a multi-node run's epoch ` +
    `is its slowest node's, its data points the sum over nodes. Local share is the share of ` +
    `key accesses served locally. Hover a failed run's row for the end of its output.</p>`,
    ...sections,
    "</body></html>",
    "",
  ].join("\n")
}
