/**
 * A small, dependency-free SVG writer for the simulators' figures: a grid of line-chart panels
 * (the paper's Fig. 9) and a grouped bar chart (table VIII / Fig. 10). Output is a standalone
 * SVG string; the caller writes it to a file.
 */

export const PALETTE = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666']

export interface LineSeries {
  name: string
  /** y for each x of the panel. */
  values: readonly number[]
  color?: string
  dashed?: boolean
}

export interface LinePanel {
  title: string
  x: readonly number[]
  series: readonly LineSeries[]
  /** Reference points drawn as hollow circles (e.g. values a paper states). */
  points?: readonly { x: number; y: number; color?: string }[]
}

export interface LineChartOptions {
  title: string
  xLabel: string
  yLabel: string
  yMin?: number
  yMax?: number
  columns?: number
  panelWidth?: number
  panelHeight?: number
  /** Legend entry for `points`, if any. */
  pointsLabel?: string
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function num(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2)
}

function ticks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo
  if (!(span > 0)) return [lo]
  const raw = span / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => span / s <= count) ?? 10 * mag
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(10)))
  return out
}

const FONT = 'font-family="sans-serif"'

function header(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" ${FONT}>${esc(title)}</text>`
  ]
}

function legend(x: number, y: number, entries: { name: string; color: string; kind: 'line' | 'dashed' | 'box' | 'point' }[]): string[] {
  const out: string[] = []
  let cx = x
  for (const e of entries) {
    if (e.kind === 'box') out.push(`<rect x="${cx}" y="${y - 9}" width="14" height="10" fill="${e.color}"/>`)
    else if (e.kind === 'point') out.push(`<circle cx="${cx + 7}" cy="${y - 4}" r="4" fill="none" stroke="${e.color}" stroke-width="1.5"/>`)
    else
      out.push(
        `<line x1="${cx}" y1="${y - 4}" x2="${cx + 14}" y2="${y - 4}" stroke="${e.color}" stroke-width="2"${e.kind === 'dashed' ? ' stroke-dasharray="4 3"' : ''}/>`
      )
    out.push(`<text x="${cx + 18}" y="${y}" font-size="11" ${FONT}>${esc(e.name)}</text>`)
    cx += 26 + e.name.length * 6.5
  }
  return out
}

/** A grid of line-chart panels sharing axes labels, y range and legend. */
export function lineChartSvg(panels: readonly LinePanel[], o: LineChartOptions): string {
  const cols = Math.max(1, Math.min(o.columns ?? panels.length, panels.length))
  const rows = Math.ceil(panels.length / cols)
  const pw = o.panelWidth ?? 300
  const ph = o.panelHeight ?? 220
  const width = cols * pw + 20
  const height = rows * ph + 80
  const yMin = o.yMin ?? 0
  const yMax = o.yMax ?? 1
  const m = { l: 48, r: 12, t: 28, b: 38 }
  const out = header(width, height, o.title)
  panels.forEach((p, k) => {
    const ox = 10 + (k % cols) * pw
    const oy = 34 + Math.floor(k / cols) * ph
    const w = pw - m.l - m.r
    const h = ph - m.t - m.b
    const xLo = Math.min(...p.x)
    const xHi = Math.max(...p.x)
    const sx = (x: number) => ox + m.l + (xHi > xLo ? ((x - xLo) / (xHi - xLo)) * w : w / 2)
    const sy = (y: number) => oy + m.t + h - ((Math.min(Math.max(y, yMin), yMax) - yMin) / (yMax - yMin)) * h
    out.push(`<text x="${ox + m.l + w / 2}" y="${oy + 16}" text-anchor="middle" font-size="12" ${FONT}>${esc(p.title)}</text>`)
    out.push(`<rect x="${ox + m.l}" y="${oy + m.t}" width="${w}" height="${h}" fill="none" stroke="#999"/>`)
    for (const t of ticks(yMin, yMax, 5)) {
      out.push(`<line x1="${ox + m.l}" y1="${sy(t)}" x2="${ox + m.l + w}" y2="${sy(t)}" stroke="#eee"/>`)
      out.push(`<text x="${ox + m.l - 4}" y="${sy(t) + 4}" text-anchor="end" font-size="10" ${FONT}>${num(t)}</text>`)
    }
    for (const t of ticks(xLo, xHi, 5)) {
      out.push(`<text x="${sx(t)}" y="${oy + m.t + h + 14}" text-anchor="middle" font-size="10" ${FONT}>${num(t)}</text>`)
    }
    out.push(`<text x="${ox + m.l + w / 2}" y="${oy + ph - 8}" text-anchor="middle" font-size="11" ${FONT}>${esc(o.xLabel)}</text>`)
    out.push(
      `<text x="${ox + 12}" y="${oy + m.t + h / 2}" text-anchor="middle" font-size="11" ${FONT} transform="rotate(-90 ${ox + 12} ${oy + m.t + h / 2})">${esc(o.yLabel)}</text>`
    )
    p.series.forEach((s, i) => {
      const color = s.color ?? PALETTE[i % PALETTE.length]
      const pts = s.values.map((y, n) => `${sx(p.x[n]).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')
      out.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/>`)
    })
    for (const pt of p.points ?? []) {
      out.push(
        `<circle cx="${sx(pt.x).toFixed(1)}" cy="${sy(pt.y).toFixed(1)}" r="4" fill="none" stroke="${pt.color ?? '#000'}" stroke-width="1.5"/>`
      )
    }
  })
  const first = panels[0]
  if (first) {
    const entries = first.series.map((s, i) => ({
      name: s.name,
      color: s.color ?? PALETTE[i % PALETTE.length],
      kind: (s.dashed ? 'dashed' : 'line') as 'line' | 'dashed'
    }))
    const withPoints = o.pointsLabel ? [...entries, { name: o.pointsLabel, color: '#000', kind: 'point' as const }] : entries
    out.push(...legend(20, height - 14, withPoints))
  }
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

export interface BarSeries {
  name: string
  values: readonly number[]
  color?: string
}

export interface BarChartOptions {
  title: string
  xLabel: string
  yLabel: string
  /** One group of bars per category. */
  categories: readonly string[]
  series: readonly BarSeries[]
  width?: number
  height?: number
}

/** Grouped bars: one group per category, one bar per series. */
export function barChartSvg(o: BarChartOptions): string {
  const width = o.width ?? 760
  const height = o.height ?? 420
  const m = { l: 56, r: 16, t: 40, b: 78 }
  const w = width - m.l - m.r
  const h = height - m.t - m.b
  const yMax = Math.max(1, ...o.series.flatMap((s) => s.values)) * 1.05
  const yTicks = ticks(0, yMax, 5)
  const top = Math.max(yMax, yTicks[yTicks.length - 1])
  const sy = (y: number) => m.t + h - (y / top) * h
  const out = header(width, height, o.title)
  out.push(`<rect x="${m.l}" y="${m.t}" width="${w}" height="${h}" fill="none" stroke="#999"/>`)
  for (const t of yTicks) {
    out.push(`<line x1="${m.l}" y1="${sy(t)}" x2="${m.l + w}" y2="${sy(t)}" stroke="#eee"/>`)
    out.push(`<text x="${m.l - 4}" y="${sy(t) + 4}" text-anchor="end" font-size="10" ${FONT}>${num(t)}</text>`)
  }
  const gw = w / Math.max(1, o.categories.length)
  const bw = (gw * 0.8) / Math.max(1, o.series.length)
  o.categories.forEach((c, ci) => {
    const gx = m.l + ci * gw + gw * 0.1
    o.series.forEach((s, si) => {
      const v = s.values[ci] ?? 0
      out.push(
        `<rect x="${(gx + si * bw).toFixed(1)}" y="${sy(v).toFixed(1)}" width="${(bw * 0.9).toFixed(1)}" height="${(m.t + h - sy(v)).toFixed(1)}" fill="${s.color ?? PALETTE[si % PALETTE.length]}"><title>${esc(`${s.name}, ${c}: ${num(v)}`)}</title></rect>`
      )
    })
    out.push(`<text x="${m.l + ci * gw + gw / 2}" y="${m.t + h + 16}" text-anchor="middle" font-size="11" ${FONT}>${esc(c)}</text>`)
  })
  out.push(`<text x="${m.l + w / 2}" y="${m.t + h + 34}" text-anchor="middle" font-size="11" ${FONT}>${esc(o.xLabel)}</text>`)
  out.push(
    `<text x="14" y="${m.t + h / 2}" text-anchor="middle" font-size="11" ${FONT} transform="rotate(-90 14 ${m.t + h / 2})">${esc(o.yLabel)}</text>`
  )
  out.push(
    ...legend(
      m.l,
      height - 12,
      o.series.map((s, i) => ({ name: s.name, color: s.color ?? PALETTE[i % PALETTE.length], kind: 'box' as const }))
    )
  )
  out.push('</svg>')
  return `${out.join('\n')}\n`
}
