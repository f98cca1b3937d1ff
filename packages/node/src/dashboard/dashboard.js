/* global uPlot, console, document, location, fetch, AbortSignal, Node, performance, ResizeObserver, setTimeout, setInterval, URLSearchParams */
/**
 * The control centre's dashboard: polls this peer's JSON API for what it shows (the newest blocks
 * of a window, never the whole chain; the status, reputations, metrics and the gateway's status),
 * and draws it with uPlot. Every value reaches the page through textContent or attributes, never
 * as markup: a status string or an ID from the API is text. Elements the e2e test reads carry ids
 * and data-* attributes (e2e/dashboard.test.ts).
 */
import {
  averagePowerW,
  formatMs,
  formatPercent,
  formatPeriod,
  formatPower,
  groupDigits,
  health,
  loadColumns,
  median,
  mergeBlocks,
  missingRanges,
  metricValue,
  peerColour,
  readiness,
  STATUS_COLOURS,
  statusColour
} from './dashboard-model.js'

const query = new URLSearchParams(location.search)
/** Blocks kept for the charts: the newest WINDOW (?window=N, 8..1024). */
const WINDOW = Math.min(1024, Math.max(8, Number.parseInt(query.get('window') ?? '', 10) || 120))
/** Rows of the "Last slots" table. */
const TABLE_ROWS = 8
/** The API serves at most this many blocks per request (chain MAX_RANGE). */
const PAGE = 64
const REQUEST_TIMEOUT_MS = 5000
/** Tick steps of a height axis: whole blocks only. */
const HEIGHT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 1_000_000]

const state = {
  info: null,
  status: null,
  blocks: [],
  reputation: null,
  gateway: null,
  metrics: null,
  readyz: null,
  reachable: false,
  error: null,
  ticks: 0,
  charts: null
}

// ---- fetching

async function get(path) {
  const res = await fetch(path, { cache: 'no-store', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  const type = res.headers.get('content-type') ?? ''
  const body = type.includes('json') ? await res.json() : await res.text()
  return { status: res.status, ok: res.ok, body }
}

async function getOk(path) {
  const r = await get(path)
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}${r.body?.error ? ` (${r.body.error})` : ''}`)
  return r.body
}

/** Blocks from..to, in pages the API serves, fetched side by side; a page the API cut is followed by its `next` link. */
async function fetchBlocks(from, to) {
  const pages = []
  for (let f = from; f <= to; f += PAGE) pages.push(`/blocks?from=${f}&to=${Math.min(to, f + PAGE - 1)}`)
  const lists = await Promise.all(
    pages.map(async (path) => {
      const out = []
      for (let next = path; next;) {
        const body = await getOk(next)
        out.push(...body.blocks)
        next = body.next
      }
      return out
    })
  )
  return lists.flat()
}

/**
 * One poll: this peer's status, the blocks of the window the page lacks, reputations, readiness.
 * `first` holds what the start fetched at once (the status and the newest blocks): then only newer
 * blocks are awaited, and the answer says that older ones are still to come (the next poll, at once).
 */
async function tick(first) {
  const info = state.info
  const status = first?.status ?? (await getOk('/status'))
  let kept = state.blocks
  const newest = kept.at(-1)
  // A chain that is shorter, or another block at our head: the peer was wiped or replaced. Start again.
  if (newest && (status.height < newest.height || (status.height === newest.height && status.headHash !== newest.hash))) kept = []
  if (first)
    kept = mergeBlocks(
      kept,
      first.blocks.filter((b) => b.height <= status.height),
      WINDOW
    )
  const ranges = missingRanges(kept[0]?.height ?? null, kept.at(-1)?.height ?? null, status.height, WINDOW)
  const now = first ? ranges.filter(([, to]) => to === status.height) : ranges
  const moved = status.height !== state.status?.height || status.headHash !== state.status?.headHash
  const [lists, reputation, readyz] = await Promise.all([
    Promise.all(now.map(([from, to]) => fetchBlocks(from, to))),
    moved || state.ticks % 5 === 0 || !state.reputation ? getOk('/reputation') : null,
    info.readyz ? get('/readyz') : null
  ])
  state.status = status
  state.blocks = linkedTail(mergeBlocks(kept, lists.flat(), WINDOW))
  if (reputation) state.reputation = reputation
  state.readyz = readyz
  state.reachable = true
  state.error = null
  state.ticks++
  return now.length < ranges.length
}

/** The newest run of blocks that link to each other (a peer that switched chains leaves older ones that do not). */
function linkedTail(blocks) {
  for (let i = blocks.length - 1; i > 0; i--) {
    const [a, b] = [blocks[i - 1], blocks[i]]
    if (a.height + 1 !== b.height || b.prevHash !== a.hash) return blocks.slice(i)
  }
  return blocks
}

/**
 * Side requests, apart from the poll, one at a time each: the gateway's status (an unreachable
 * gateway costs the peer's proxy its timeout, which must not hold up the rest of the page) and the
 * metrics (only the view-change counter is read from them).
 */
const pending = new Set()
function pollSide(path, apply) {
  if (pending.has(path)) return
  pending.add(path)
  get(path)
    .catch((e) => ({ status: 0, ok: false, body: { error: e.message, code: 'NO_ANSWER' } }))
    .then(apply)
    .finally(() => pending.delete(path))
}

function pollSides() {
  pollSide('/gateway', (g) => {
    state.gateway = g
    renderGateway()
  })
  pollSide('/metrics', (m) => {
    if (!m.ok) return
    state.metrics = m.body
    renderViewChanges()
  })
}

// ---- the DOM

const $ = (id) => document.getElementById(id)

function setText(id, value) {
  const e = $(id)
  if (e.textContent !== value) e.textContent = value
}

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue
    if (k === 'class') e.className = v
    else if (k === 'style') for (const [p, x] of Object.entries(v)) e.style.setProperty(p, x)
    else e.setAttribute(k, String(v))
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return e
}

function chip(status) {
  return el('span', { class: 'chip', style: { '--chip': statusColour(status) }, 'data-status': status }, status)
}

function shortHash(hex) {
  return hex ? `${hex.slice(0, 12)}…` : '—'
}

function slotTime(slot) {
  const d = new Date(state.info.genesisTimeMs + slot * state.info.periodMs)
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })
}

function withAlpha(colour, alpha) {
  if (colour.startsWith('#') && colour.length === 7) {
    const a = Math.round(alpha * 255)
      .toString(16)
      .padStart(2, '0')
    return colour + a
  }
  return colour
}

function render() {
  const t0 = performance.now()
  const { info, status, blocks } = state
  renderHealth()
  if (status) {
    setText('height', String(status.height))
    $('height').dataset.value = String(status.height)
    setText('head-hash', shortHash(status.headHash))
    $('head-hash').title = status.headHash
    $('head-hash').dataset.value = status.headHash
    setText('view', String(status.view))
    setText('primary', status.primary ?? 'none yet')
    // /status names every connected peer (the gateway, meters); the count is of consensus peers.
    const members = new Set(info.consensus)
    const cn = status.peers.filter((p) => members.has(p))
    const rest = status.peers.filter((p) => !members.has(p))
    setText('peers-count', `${cn.length}/${info.consensus.length - 1}`)
    setText('peers', [...cn, ...rest].join(' ') || 'none')
    setText('syncing', status.syncing ? 'catching up (syncing)' : 'in sync')
    $('syncing').dataset.value = String(status.syncing)
  }
  renderViewChanges()
  renderLastSlot(blocks.at(-1))
  renderLatency(blocks)
  renderViewsInWindow(blocks)
  renderSlotsTable(blocks)
  renderGateway()
  renderPeers()
  renderCharts()
  setText('updated', new Date().toLocaleTimeString([], { hour12: false }))
  document.body.dataset.renderMs = String(Math.round(performance.now() - t0))
}

function renderViewChanges() {
  const views = state.metrics === null ? null : metricValue(state.metrics, 'bbnp_view_changes_total')
  setText('view-changes', views === null ? 'n/a' : String(views))
}

function renderHealth() {
  const { info, status, blocks } = state
  const box = $('health')
  if (!status) return
  const ready = readiness(status, state.readyz, info.quorum, info.consensus)
  const head = blocks.at(-1)
  const committed = head ? (head.committedAtMs ?? head.timestampMs) : null
  const h = health({
    reachable: state.reachable,
    ready,
    status,
    headAgeMs: committed === null ? null : Date.now() - committed,
    periodMs: info.periodMs
  })
  box.dataset.level = h.level
  setText('health-word', h.word)
  setText('health-why', state.reachable ? h.why : `${h.why}: ${state.error ?? ''}`)
  const r = $('ready')
  r.dataset.ready = String(ready.ready)
  r.dataset.source = ready.source
  setText('ready', ready.ready ? `ready (${ready.source})` : `not ready: ${ready.reasons.join('; ') || 'no reason given'}`)
}

function renderLastSlot(b) {
  if (!b) return
  const { periodMs, meters } = state.info
  setText('last-sum', b.sum === null ? 'no sum' : `${groupDigits(b.sum)} Wh`)
  $('last-sum').dataset.value = b.sum ?? ''
  setText('last-power', b.sum === null ? '—' : formatPower(averagePowerW(Number(b.sum), periodMs)))
  setText('last-meters', `${b.count}/${meters}`)
  $('last-status').replaceChildren(chip(b.status))
  setText('last-slot', b.fromSlot === b.slot ? String(b.slot) : `${b.fromSlot}–${b.slot}`)
  setText('last-time', slotTime(b.slot))
}

function renderViewsInWindow(blocks) {
  // A block certified in a view above 0 needed a view change at its height.
  const late = blocks.filter((b) => (b.certificate?.view ?? b.view) > 0).length
  setText('late-views', `${late} of the last ${blocks.length}`)
  $('late-views').dataset.value = String(late)
}

function renderLatency(blocks) {
  const lat = blocks.map((b) => b.latencyMs)
  const known = lat.filter((x) => x !== null)
  setText('latency-last', formatMs(lat.at(-1) ?? null))
  setText('latency-median', formatMs(median(lat)))
  setText('latency-count', String(known.length))
}

function renderSlotsTable(blocks) {
  const { periodMs, meters } = state.info
  const rows = blocks
    .slice(-TABLE_ROWS)
    .reverse()
    .map((b) =>
      el(
        'tr',
        { 'data-height': b.height, 'data-slot': b.slot, 'data-sum': b.sum ?? '', 'data-count': b.count, 'data-status': b.status },
        el('td', {}, String(b.height)),
        el('td', {}, b.fromSlot === b.slot ? String(b.slot) : `${b.fromSlot}–${b.slot}`),
        el('td', {}, slotTime(b.slot)),
        el('td', {}, chip(b.status)),
        el('td', { class: 'num' }, b.sum === null ? '—' : `${groupDigits(b.sum)} Wh`),
        el('td', { class: 'num' }, b.sum === null ? '—' : formatPower(averagePowerW(Number(b.sum), periodMs))),
        el('td', { class: 'num' }, `${b.count}/${meters}`),
        el('td', {}, b.primary)
      )
    )
  $('slots').tBodies[0].replaceChildren(...rows)
}

function renderGateway() {
  const g = state.gateway
  const box = $('gateway')
  const body = $('rejections').tBodies[0]
  if (!g) return
  if (!g.ok) {
    box.dataset.state = 'unreachable'
    setText('gateway-summary', `gateway not reachable (${g.body?.code ?? `HTTP ${g.status}`}): ${g.body?.error ?? ''}`)
    body.replaceChildren()
    return
  }
  const s = g.body
  box.dataset.state = 'reachable'
  const rejected = Object.entries(s.rejected ?? {})
  const total = rejected.reduce((a, [, n]) => a + Number(n), 0)
  const last = s.lastSlot ? ` · last slot ${s.lastSlot.slot ?? ''}` : ''
  setText(
    'gateway-summary',
    `reachable · slot ${s.slot} · ${groupDigits(String(s.received ?? 0))} reports accepted, ${groupDigits(String(total))} rejected${last} · peers ${(s.peers ?? []).length}`
  )
  body.replaceChildren(
    ...(rejected.length === 0
      ? [el('tr', {}, el('td', { colspan: 2, class: 'muted' }, 'no rejections'))]
      : rejected
          .sort((a, b) => Number(b[1]) - Number(a[1]))
          .map(([reason, n]) =>
            el('tr', { 'data-reason': reason, 'data-count': n }, el('td', {}, reason), el('td', { class: 'num' }, String(n)))
          ))
  )
}

function renderPeers() {
  const rep = state.reputation
  if (!rep) return
  const { leadership } = rep
  setText('threshold', rep.threshold.toFixed(4))
  setText('cutoff', rep.preselectionCutoff.toFixed(4))
  setText('rule', String(rep.rule))
  const led = new Map(leadership.led.map((l) => [l.id, l.blocks]))
  const max = Math.max(1, ...leadership.led.map((l) => l.blocks))
  const connected = new Set(state.status?.peers ?? [])
  const self = state.status?.id
  const rows = rep.reputations.map((r, i) => {
    const n = led.get(r.id) ?? 0
    const share = leadership.blocks > 0 ? n / leadership.blocks : 0
    const cls = r.id === self ? 'self' : connected.has(r.id) ? null : 'offline'
    return el(
      'tr',
      { 'data-peer': r.id, 'data-led': n, 'data-reputation': r.reputation, 'data-preselected': r.preselected, class: cls },
      el('td', {}, el('span', { class: 'chip', style: { '--chip': peerColour(i) } }, r.id), r.id === self ? ' (this peer)' : ''),
      el('td', { class: 'num' }, r.reputation.toFixed(4)),
      el('td', {}, r.preselected ? 'yes' : 'no'),
      el('td', { class: 'num' }, String(n)),
      el(
        'td',
        { class: 'bar-col', title: formatPercent(share) },
        el('div', { class: 'bar', style: { width: `${(100 * n) / max}%`, background: peerColour(i) } })
      )
    )
  })
  $('peer-table').tBodies[0].replaceChildren(...rows)
  const top = [...leadership.led].sort((a, b) => b.blocks - a.blocks)[0]
  setText('top-leader', top && top.blocks > 0 ? `${top.id} led ${top.blocks} of ${leadership.blocks}` : 'no blocks yet')
  setText('top-share', formatPercent(leadership.topShare))
  $('top-share').dataset.value = String(leadership.topShare)
  setText('gini', leadership.gini.toFixed(3))
  $('gini').dataset.value = String(leadership.gini)
  const range = $('leadership-range')
  setText('leadership-range', leadership.blocks > 0 ? `${leadership.fromHeight}–${leadership.toHeight} (${leadership.blocks} blocks)` : '—')
  range.dataset.from = String(leadership.fromHeight)
  range.dataset.to = String(leadership.toHeight)
  range.dataset.blocks = String(leadership.blocks)
}

function renderStatusKey(statuses) {
  const seen = new Set([...Object.keys(STATUS_COLOURS).filter((s) => s !== 'recovered'), ...statuses])
  const key = $('status-key')
  const wanted = [...seen].join('\u0000')
  if (key.dataset.statuses === wanted) return
  key.dataset.statuses = wanted
  key.replaceChildren(...[...seen].map(chip))
}

// ---- the charts (uPlot)

function chartWidth(id) {
  return Math.max(240, $(id).clientWidth)
}

function createCharts() {
  const { periodMs, meters, consensus } = state.info
  const halfSlot = periodMs / 2000
  const xRange = (_u, min, max) => [min - halfSlot, max + halfSlot]
  const cols = { statuses: [] }
  const timeValue = '{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}'

  const load = new uPlot(
    {
      width: chartWidth('load-chart'),
      height: 260,
      cursor: { sync: { key: 'slots' } },
      scales: {
        x: { time: true, range: xRange },
        wh: { range: (_u, min, max) => [Math.min(0, min ?? 0), max > 0 ? max * 1.1 : 1] },
        mark: { range: [0, 1] }
      },
      series: [
        { value: timeValue },
        {
          label: 'sum',
          scale: 'wh',
          stroke: '#1c7ed6',
          width: 2,
          fill: 'rgba(28, 126, 214, 0.12)',
          points: { size: 5 },
          value: (_u, v, _s, i) =>
            i === null || i === undefined
              ? '—'
              : v === null || v === undefined
                ? 'no sum'
                : `${groupDigits(v)} Wh · ${formatPower(averagePowerW(v, periodMs))}`
        },
        {
          label: 'status',
          scale: 'mark',
          width: 0,
          fill: 'rgba(224, 49, 49, 0.15)',
          paths: uPlot.paths.bars({
            size: [1, 80],
            disp: {
              fill: {
                unit: 3,
                values: () => cols.statuses.map((s) => (s === 'complete' ? null : withAlpha(statusColour(s), 0.22)))
              }
            }
          }),
          points: { show: false },
          value: (_u, _v, _s, i) => (i === null || i === undefined ? '—' : (cols.statuses[i] ?? '—'))
        }
      ],
      axes: [
        {},
        { scale: 'wh', label: 'Wh per slot', size: 64, values: (_u, ticks) => ticks.map((t) => groupDigits(Math.round(t))) },
        {
          scale: 'wh',
          side: 1,
          label: 'average power',
          size: 72,
          grid: { show: false },
          values: (_u, ticks) => ticks.map((t) => formatPower(averagePowerW(t, periodMs)))
        }
      ]
    },
    [[], [], []],
    $('load-chart')
  )

  const metersChart = new uPlot(
    {
      width: chartWidth('meters-chart'),
      height: 120,
      cursor: { sync: { key: 'slots' } },
      legend: { show: true },
      scales: { x: { time: true, range: xRange }, n: { range: [0, meters] } },
      series: [
        { value: timeValue },
        {
          label: 'meters reporting',
          scale: 'n',
          width: 0,
          fill: '#2f9e44',
          paths: uPlot.paths.bars({
            size: [0.8, 40],
            disp: { fill: { unit: 3, values: () => cols.statuses.map((s) => statusColour(s)) } }
          }),
          points: { show: false },
          value: (_u, v, _s, i) => (v === null || v === undefined ? '—' : `${v}/${meters} (${cols.statuses[i] ?? ''})`)
        }
      ],
      axes: [{}, { scale: 'n', size: 64, label: 'meters' }, { scale: 'n', side: 1, size: 72, grid: { show: false }, values: () => [] }]
    },
    [[], []],
    $('meters-chart')
  )

  const repChart = new uPlot(
    {
      width: chartWidth('rep-chart'),
      height: 240,
      scales: {
        x: { time: false },
        r: { range: (_u, min, max) => [Math.max(0, (min ?? 0) - 0.02), Math.min(1, (max ?? 1) + 0.02)] }
      },
      series: [
        { label: 'height' },
        ...consensus.map((id, i) => ({ label: id, scale: 'r', stroke: peerColour(i), width: 1.5, points: { show: false } })),
        { label: 'threshold (now)', scale: 'r', stroke: '#495057', dash: [6, 4], width: 1, points: { show: false } },
        { label: 'pre-selection cutoff (now)', scale: 'r', stroke: '#e8590c', dash: [2, 3], width: 1, points: { show: false } }
      ],
      axes: [
        { label: 'height', incrs: HEIGHT_INCRS },
        { scale: 'r', label: 'reputation', size: 56 }
      ]
    },
    [[], ...consensus.map(() => []), [], []],
    $('rep-chart')
  )

  const latencyChart = new uPlot(
    {
      width: chartWidth('latency-chart'),
      height: 200,
      scales: {
        x: { time: false },
        ms: { range: (_u, _min, max) => [0, Math.max(10, (max ?? 0) * 1.1)] },
        view: { range: (_u, _min, max) => [0, Math.max(1, max ?? 0)] }
      },
      series: [
        { label: 'height' },
        {
          label: 'commit latency',
          scale: 'ms',
          stroke: '#1c7ed6',
          width: 1.5,
          points: { size: 4 },
          value: (_u, v, _s, i) => (i === null || i === undefined ? '—' : formatMs(v ?? null))
        },
        {
          label: 'view',
          scale: 'view',
          stroke: '#e03131',
          width: 1.5,
          paths: uPlot.paths.stepped({ align: 1 }),
          points: { show: false }
        }
      ],
      axes: [
        { label: 'height', incrs: HEIGHT_INCRS },
        { scale: 'ms', label: 'ms', size: 56 },
        {
          scale: 'view',
          side: 1,
          label: 'view',
          size: 48,
          grid: { show: false },
          values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : ''))
        }
      ]
    },
    [[], [], []],
    $('latency-chart')
  )

  const charts = { cols, load, metersChart, repChart, latencyChart }
  const resize = new ResizeObserver(() => {
    for (const [id, chart] of [
      ['load-chart', load],
      ['meters-chart', metersChart],
      ['rep-chart', repChart],
      ['latency-chart', latencyChart]
    ]) {
      const width = chartWidth(id)
      if (chart.width !== width) chart.setSize({ width, height: chart.height })
    }
  })
  for (const id of ['load-chart', 'meters-chart', 'rep-chart', 'latency-chart']) resize.observe($(id))
  return charts
}

function renderCharts() {
  const { info, blocks, reputation } = state
  if (!state.charts) state.charts = createCharts()
  const c = state.charts
  const cols = loadColumns(blocks, info.genesisTimeMs, info.periodMs)
  c.cols.statuses = cols.statuses
  c.load.setData([cols.x, cols.wh, cols.statuses.map((s) => (s === 'complete' ? null : 1))])
  c.metersChart.setData([cols.x, cols.meters])
  $('load-chart').dataset.points = String(cols.wh.filter((v) => v !== null).length)
  $('load-chart').dataset.slots = String(cols.x.length)
  $('load-chart').dataset.blocks = String(blocks.length)
  renderStatusKey(cols.statuses)

  const heights = blocks.map((b) => b.height)
  const peers = info.consensus.map((_id, i) => blocks.map((b) => b.reputation?.[i] ?? null))
  const flat = (v) => heights.map(() => v ?? null)
  c.repChart.setData([heights, ...peers, flat(reputation?.threshold), flat(reputation?.preselectionCutoff)])
  c.latencyChart.setData([heights, blocks.map((b) => b.latencyMs ?? null), blocks.map((b) => b.certificate?.view ?? b.view)])
}

// ---- start and poll

function showError(message) {
  const e = $('error')
  e.hidden = message === null
  setText('error', message ?? '')
}

async function start() {
  pollSides()
  // The first view needs the genesis figures, the status and the newest blocks: asked for at once.
  const [info, status, newest] = await Promise.all([getOk('/dashboard.json'), getOk('/status'), getOk('/blocks')])
  state.info = info
  setText('chain-id', info.chainId)
  setText('period', formatPeriod(info.periodMs))
  setText('meters-total', groupDigits(String(info.meters)))
  setText('meters-total-2', groupDigits(String(info.meters)))
  setText('consensus-total', String(info.consensus.length))
  setText('window', String(WINDOW))
  setText('attribution', info.readings.attribution)
  const pollMs = Math.min(5000, Math.max(1000, info.periodMs / 2))
  let first = { status, blocks: newest.blocks }
  for (;;) {
    if (!first) pollSides()
    let more = false
    try {
      more = await tick(first)
      setText('peer-id', state.status.id)
      document.title = `${state.status.id} · height ${state.status.height} · BBNP control centre`
      showError(null)
    } catch (e) {
      state.reachable = false
      state.error = e.message
      showError(`cannot read this peer's API: ${e.message}`)
    }
    first = undefined
    if (state.status) {
      try {
        render()
      } catch (e) {
        // A shape the page did not expect: say so, and keep polling (the console keeps the trace).
        console.error(e)
        showError(`cannot show this peer's answer: ${e.message}`)
      }
      const body = document.body.dataset
      if (body.state === 'loading') body.loadedMs = String(Math.round(performance.now()))
      body.state = state.reachable ? 'live' : 'unreachable'
      if (!more && !body.windowMs) body.windowMs = String(Math.round(performance.now()))
    }
    // Older blocks of the window still to come: fetch them now, not after a pause.
    if (!more) await new Promise((r) => setTimeout(r, pollMs))
  }
}

start().catch((e) => {
  showError(`the dashboard could not start: ${e.message}`)
  document.body.dataset.state = 'failed'
})

// The health line ages between polls too.
setInterval(() => {
  if (state.status) renderHealth()
}, 1000)
