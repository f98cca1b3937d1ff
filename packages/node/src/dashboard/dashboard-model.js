/**
 * The dashboard's arithmetic and wording, apart from the page (no DOM, no fetch): the browser loads
 * it as a module and the unit tests import it in Node. Types: dashboard-model.d.ts.
 */

/** Colours of the statuses a slot can have; any other status gets one of PALETTE, always the same one. */
export const STATUS_COLOURS = {
  complete: '#2f9e44',
  incomplete: '#f08c00',
  missed: '#e03131',
  recovered: '#1c7ed6'
}
const PALETTE = ['#9c36b5', '#0c8599', '#d6336c', '#5c940d', '#e8590c', '#495057']

/** Series colours of the consensus peers (cn-1 first), distinct for up to 64 peers. */
export function peerColour(index) {
  // Golden-angle hues: neighbours differ most.
  const hue = Math.round((index * 137.508 + 210) % 360)
  return `hsl(${hue}, 65%, ${index % 2 === 0 ? 42 : 52}%)`
}

export function statusColour(status) {
  if (Object.hasOwn(STATUS_COLOURS, status)) return STATUS_COLOURS[status]
  let h = 0
  for (const ch of String(status)) h = (h * 31 + ch.codePointAt(0)) >>> 0
  return PALETTE[h % PALETTE.length]
}

/** Average power over a slot: W = Wh * 3,600,000 / periodMs. */
export function averagePowerW(wh, periodMs) {
  return (wh * 3_600_000) / periodMs
}

/** A decimal string (any length, maybe negative) with thousands separators: "-1234567" → "-1,234,567". */
export function groupDigits(decimal) {
  const s = String(decimal)
  const m = /^(-?)(\d+)$/.exec(s)
  if (!m) return s
  return m[1] + m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/** Watts with an SI prefix and three significant digits: 5480000 → "5.48 MW". */
export function formatPower(w) {
  if (w === null || w === undefined || !Number.isFinite(w)) return '—'
  const units = ['W', 'kW', 'MW', 'GW', 'TW']
  let v = w
  let u = 0
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2
  return `${v.toFixed(u === 0 ? 0 : digits)} ${units[u]}`
}

export function formatMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return 'n/a'
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`
}

/** "12 s", "3 min", "2 h" */
export function formatAge(ms) {
  if (ms === null || !Number.isFinite(ms)) return 'unknown'
  const s = Math.max(0, ms) / 1000
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`
  if (s < 3600) return `${Math.round(s / 60)} min`
  return `${(s / 3600).toFixed(1)} h`
}

export function formatPercent(x) {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '—'
}

/** A slot length in words: 1000 → "1 s", 900000 → "15 min". */
export function formatPeriod(ms) {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`
  if (ms % 60_000 === 0) return `${ms / 60_000} min`
  if (ms % 1000 === 0) return `${ms / 1000} s`
  return `${ms} ms`
}

/** The median of the numbers in `values` (nulls left out), or null. */
export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const mid = v.length >> 1
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

/** The sum of every sample of one Prometheus series (all label sets), or null when absent. */
export function metricValue(text, name) {
  let total = null
  for (const line of String(text).split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== ' ' && rest[0] !== '{') continue
    const value = Number(
      rest
        .slice(rest[0] === '{' ? rest.lastIndexOf('}') + 1 : 0)
        .trim()
        .split(/\s+/)[0]
    )
    if (Number.isFinite(value)) total = (total ?? 0) + value
  }
  return total
}

/**
 * The blocks kept for the charts: `incoming` merged into `kept` by height, at most `window` of the
 * newest. Both lists ascend by height.
 */
export function mergeBlocks(kept, incoming, window) {
  const byHeight = new Map()
  for (const b of kept) byHeight.set(b.height, b)
  for (const b of incoming) byHeight.set(b.height, b)
  const all = [...byHeight.values()].sort((a, b) => a.height - b.height)
  return all.length > window ? all.slice(all.length - window) : all
}

/**
 * The height ranges [from, to] the page lacks for its window of `window` blocks ending at `height`,
 * given the heights it keeps (keptFrom..keptTo, or null for none): newer blocks first, then older.
 */
export function missingRanges(keptFrom, keptTo, height, window) {
  if (height < 1) return []
  const start = Math.max(1, height - window + 1)
  if (keptFrom === null || keptTo === null || keptTo < start) return [[start, height]]
  const ranges = []
  if (keptTo < height) ranges.push([keptTo + 1, height])
  if (keptFrom > start) ranges.push([start, keptFrom - 1])
  return ranges
}

/** Slots of a missed range drawn one by one (the rest of a longer range shows as its two ends). */
export const RANGE_FILL = 256

/**
 * The load curve's columns, one row per slot: slot start (Unix seconds), sum in Wh (null without
 * one), reporting meters, status. A block that covers a range of slots (an outage: `missed` from
 * fromSlot to slot) gets a row for each slot of it, up to RANGE_FILL, so that the whole range is
 * marked, not only its last slot.
 */
export function loadColumns(blocks, genesisTimeMs, periodMs) {
  const x = []
  const wh = []
  const meters = []
  const statuses = []
  const row = (slot, sum, count, status) => {
    x.push((genesisTimeMs + slot * periodMs) / 1000)
    wh.push(sum)
    meters.push(count)
    statuses.push(status)
  }
  for (const b of blocks) {
    const status = String(b.status)
    const from = b.fromSlot ?? b.slot
    if (from < b.slot) {
      const first = Math.max(from, b.slot - RANGE_FILL)
      if (first > from) row(from, null, null, status)
      for (let s = first; s < b.slot; s++) row(s, null, null, status)
    }
    row(b.slot, b.sum === null || b.sum === undefined ? null : Number(b.sum), b.count, status)
  }
  return { x, wh, meters, statuses }
}

/**
 * Is this peer ready to serve the control centre? From /readyz when the peer has it (200: ready,
 * 503: not, with reasons), otherwise from /status: not catching up and connected to enough
 * consensus peers for a quorum (itself and quorum − 1 others; /status also names the gateway and
 * meters it is connected to, which `consensus` leaves out).
 */
export function readiness(status, readyz, quorum, consensus) {
  if (readyz) {
    const body = readyz.body ?? {}
    // Each reason is {code, message} (docs/openapi.json NotReadyReason): the page shows the message.
    const said = (r) => (typeof r === 'string' ? r : typeof r?.message === 'string' ? r.message : JSON.stringify(r))
    const reasons = Array.isArray(body.reasons) ? body.reasons.map(said) : []
    return { ready: readyz.status === 200, source: '/readyz', reasons }
  }
  const reasons = []
  if (status.syncing) reasons.push('catching up (syncing)')
  const members = consensus ? new Set(consensus) : null
  const connected = members ? status.peers.filter((p) => members.has(p)).length : status.peers.length
  const needed = quorum - 1
  if (connected < needed) reasons.push(`connected to ${connected} of the ${needed} consensus peers a quorum needs`)
  return { ready: reasons.length === 0, source: '/status', reasons }
}

/**
 * One word for the chain's health and the sentence behind it: what a newcomer reads first.
 * `headAgeMs`: how long ago the newest block was committed.
 */
export function health({ reachable, ready, status, headAgeMs, periodMs }) {
  if (!reachable) return { level: 'down', word: 'Unreachable', why: 'this peer does not answer' }
  if (!ready.ready) return { level: 'warn', word: 'Not ready', why: ready.reasons.join('; ') || 'the peer says it is not ready' }
  const stallMs = Math.max(10_000, 5 * periodMs)
  if (status.height === 0) return { level: 'warn', word: 'Starting', why: 'no block yet' }
  if (headAgeMs !== null && headAgeMs > stallMs)
    return { level: 'bad', word: 'Stalled', why: `no new block for ${formatAge(headAgeMs)} (slots are ${formatPeriod(periodMs)})` }
  if (status.viewChanging) return { level: 'warn', word: 'Changing view', why: `view ${status.view}: electing a new primary` }
  return {
    level: 'ok',
    word: 'Healthy',
    why: headAgeMs === null ? 'committing blocks' : `committing blocks; the newest ${formatAge(headAgeMs)} ago`
  }
}
