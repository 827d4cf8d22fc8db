/**
 * Line charts as self-contained SVG text: axes with ticks and labels, one
 * `<polyline>` per series that has points (with a `<circle>` per point, so a
 * one-point series still shows), and a legend naming every series. The benchmark reports are opened from disk,
 * possibly offline, so they draw their own charts with no script or
 * stylesheet to fetch; this module is the whole of that drawing.
 *
 * Either axis may be logarithmic (throughputs of policies differ by orders
 * of magnitude, and so do their training times); non-positive values cannot
 * be placed on a log axis and are left out of the series. Every piece of
 * text goes through `escapeXml`, since series names come from the command
 * line.
 */

export interface Series {
  readonly name: string
  readonly points: readonly (readonly [number, number])[]
  readonly color: string
  /** Drawn dashed: a reference line (the plain implementation) rather than a policy. */
  readonly dashed?: boolean
}

export interface ChartSpec {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly series: readonly Series[]
  readonly xLog?: boolean
  readonly yLog?: boolean
  /** Tick values for the x axis (default: chosen from the range). */
  readonly xTicks?: readonly number[]
  readonly width?: number
  readonly height?: number
}

/** Text safe inside an XML element or a double- or single-quoted attribute. */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&#39;",
  )
}

/** A tick label: short, without float noise. */
export function formatTick(value: number): string {
  const a = Math.abs(value)
  if (a >= 1e6) return `${+(value / 1e6).toPrecision(3)}M`
  if (a >= 1e3) return `${+(value / 1e3).toPrecision(3)}k`
  if (a === 0) return "0"
  return `${+value.toPrecision(3)}`
}

/** About `count` round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]. */
function linearTicks(lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / Math.max(1, count)
  const power = Math.pow(10, Math.floor(Math.log10(raw)))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power
  const ticks: number[] = []
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(+t.toPrecision(12))
  }
  return ticks
}

/** Powers of ten in [lo, hi], with 2 and 5 times them when there are few decades. */
function logTicks(lo: number, hi: number): number[] {
  const first = Math.floor(Math.log10(lo))
  const last = Math.ceil(Math.log10(hi))
  const multiples = Math.log10(hi / lo) <= 2.5 ? [1, 2, 5] : [1]
  const ticks: number[] = []
  for (let p = first; p <= last; p++) {
    for (const m of multiples) {
      const t = m * Math.pow(10, p)
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(+t.toPrecision(12))
    }
  }
  return ticks
}

/** The range of one axis, padded so that points do not sit on the frame. */
function range(values: readonly number[], log: boolean): [number, number] {
  if (values.length === 0) return log ? [1, 10] : [0, 1]
  let lo = Math.min(...values)
  let hi = Math.max(...values)
  if (log) {
    if (lo === hi) return [lo / 2, hi * 2]
    const pad = Math.pow(hi / lo, 0.05)
    return [lo / pad, hi * pad]
  }
  if (lo === hi) [lo, hi] = [lo - Math.abs(lo || 1) * 0.1, hi + Math.abs(hi || 1) * 0.1]
  const pad = (hi - lo) * 0.05
  return [lo - pad, hi + pad]
}

/** A map from data to pixels along one axis. */
function scale(lo: number, hi: number, from: number, to: number, log: boolean) {
  const f = log ? Math.log10 : (v: number) => v
  const [a, b] = [f(lo), f(hi)]
  return (v: number) => from + ((f(v) - a) / (b - a)) * (to - from)
}

const px = (v: number) => v.toFixed(1)

/** Where a chart draws: the plot area in pixels and the maps from data into it. */
interface Frame {
  readonly left: number
  readonly right: number
  readonly top: number
  readonly bottom: number
  readonly sx: (x: number) => number
  readonly sy: (y: number) => number
}

/** Grid lines and tick labels, the frame, and the axis labels. */
function axes(spec: ChartSpec, frame: Frame, ticks: { x: number[]; y: number[] }): string[] {
  const { left, right, top, bottom, sx, sy } = frame
  const out: string[] = []
  for (const t of ticks.x) {
    const x = px(sx(t))
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#eee"/>`)
    out.push(
      `<text class="tick" x="${x}" y="${bottom + 14}" font-size="10" text-anchor="middle">${
        escapeXml(formatTick(t))
      }</text>`,
    )
  }
  for (const t of ticks.y) {
    const y = px(sy(t))
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#eee"/>`)
    out.push(
      `<text class="tick" x="${left - 4}" y="${y}" font-size="10" text-anchor="end" ` +
        `dominant-baseline="middle">${escapeXml(formatTick(t))}</text>`,
    )
  }
  const middle = (top + bottom) / 2
  out.push(
    `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" ` +
      `fill="none" stroke="#888"/>`,
    `<text class="axis-label" x="${(left + right) / 2}" y="${bottom + 38}" font-size="11" ` +
      `text-anchor="middle">${escapeXml(spec.xLabel + (spec.xLog ? " (log)" : ""))}</text>`,
    `<text class="axis-label" x="14" y="${middle}" font-size="11" text-anchor="middle" ` +
      `transform="rotate(-90 14 ${middle})">${
        escapeXml(spec.yLabel + (spec.yLog ? " (log)" : ""))
      }</text>`,
  )
  return out
}

/**
 * The series and the legend. Every series gets a legend entry, in order; one
 * with no points (a run that timed out) is listed in grey with no line, so
 * its absence is visible.
 */
function lines(series: readonly Series[], frame: Frame): string[] {
  const { right, top, sx, sy } = frame
  const out: string[] = []
  series.forEach((s, i) => {
    const dash = s.dashed === true ? ` stroke-dasharray="5 3"` : ""
    const color = escapeXml(s.color)
    const ly = top + 6 + i * 16
    const lx = right + 12
    if (s.points.length > 0) {
      const points = s.points.map(([x, y]) => `${px(sx(x))},${px(sy(y))}`).join(" ")
      out.push(
        `<polyline class="series" data-series="${escapeXml(s.name)}" points="${points}" ` +
          `fill="none" stroke="${color}" stroke-width="2"${dash}/>`,
      )
      for (const [x, y] of s.points) {
        out.push(`<circle cx="${px(sx(x))}" cy="${px(sy(y))}" r="2.5" fill="${color}"/>`)
      }
      out.push(
        `<line x1="${lx}" y1="${ly}" x2="${lx + 18}" y2="${ly}" stroke="${color}" ` +
          `stroke-width="2"${dash}/>`,
      )
    }
    const fill = s.points.length > 0 ? "" : ` fill="#999"`
    out.push(
      `<text class="legend" x="${lx + 22}" y="${ly}" font-size="10"${fill} ` +
        `dominant-baseline="middle">${escapeXml(s.name)}</text>`,
    )
  })
  return out
}

/** One chart as an `<svg>` element. */
export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 460
  const height = spec.height ?? 300
  const xLog = spec.xLog === true
  const yLog = spec.yLog === true
  const series = spec.series.map((s) => ({
    ...s,
    points: s.points.filter(([x, y]) =>
      Number.isFinite(x) && Number.isFinite(y) && (!xLog || x > 0) && (!yLog || y > 0)
    ),
  }))
  const all = series.flatMap((s) => s.points)
  const [x0, x1] = range([...all.map((p) => p[0]), ...(spec.xTicks ?? [])], xLog)
  const [y0, y1] = range(all.map((p) => p[1]), yLog)
  // Margins: tick labels on the left, axis labels below, the legend on the right.
  const [left, right, top, bottom] = [64, width - 162, 28, height - 46]
  const frame: Frame = {
    left,
    right,
    top,
    bottom,
    sx: scale(x0, x1, left, right, xLog),
    sy: scale(y0, y1, bottom, top, yLog),
  }
  const ticks = {
    x: (spec.xTicks ?? (xLog ? logTicks(x0, x1) : linearTicks(x0, x1, 5)))
      .filter((t) => t >= x0 && t <= x1),
    y: yLog ? logTicks(y0, y1) : linearTicks(y0, y1, 5),
  }
  const title = escapeXml(spec.title)
  const empty = all.length > 0 ? [] : [
    `<text x="${(left + right) / 2}" y="${(top + bottom) / 2}" font-size="11" ` +
    `text-anchor="middle" fill="#888">no finished runs</text>`,
  ]
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" role="img" aria-label="${title}">`,
    `<title>${title}</title>`,
    `<text class="chart-title" x="${left}" y="16" font-size="13" font-weight="bold">${title}</text>`,
    ...axes(spec, frame, ticks),
    ...lines(series, frame),
    ...empty,
    "</svg>",
  ].join("\n")
}
