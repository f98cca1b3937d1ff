/**
 * One line per committed block, from the block JSON of a consensus peer's HTTP API
 * (`/blocks?from=&to=`, see packages/node/src/views.ts).
 */

/** The fields of the API's block view that the devnet shows. */
export interface BlockJson {
  height: number
  hash: string
  slot: number
  /** The first slot of a missed range (the slot itself otherwise). */
  fromSlot?: number
  status: 'complete' | 'recovered' | 'incomplete' | 'missed' | string
  /** Why an incomplete slot has no sum. */
  reason?: string | null
  /** Decimal string (Wh); null for an incomplete slot. */
  sum: string | null
  count: number
  missing: string[]
  primary: string
  view: number
  latencyMs: number | null
  /** null when the peer fetched the block by catch-up (it did not take part in committing it). */
  committedAtMs?: number | null
}

/** How many runs of missing meters to name before "+N more". */
const MISSING_SHOWN = 6

/** ["meter-1", "meter-2", "meter-3", "meter-7"] -> runs "meter-1..meter-3" (3 IDs) and "meter-7" (1). */
export function idRuns(ids: string[]): { text: string; count: number }[] {
  const runs: { text: string; count: number }[] = []
  let i = 0
  while (i < ids.length) {
    const m = /^([a-z]+)-(\d+)$/.exec(ids[i])
    let j = i
    if (m) while (j + 1 < ids.length && ids[j + 1] === `${m[1]}-${Number(m[2]) + (j + 1 - i)}`) j++
    if (j === i + 1) j = i // two in a row read better as a list
    runs.push({ text: j === i ? ids[i] : `${ids[i]}..${ids[j]}`, count: j - i + 1 })
    i = j + 1
  }
  return runs
}

/** "meter-3, meter-7", "meter-1..meter-10" or "meter-1, meter-3, meter-5, …, +12 more". */
export function missingText(ids: string[]): string {
  const runs = idRuns(ids)
  const shown = runs.slice(0, MISSING_SHOWN)
  const rest = ids.length - shown.reduce((n, r) => n + r.count, 0)
  return `${shown.map((r) => r.text).join(', ')}${rest > 0 ? `, +${rest} more` : ''}`
}

/** "2153" -> "2,153"; "-12000" -> "-12,000" (exact for any size: the sum is a big integer). */
export function groupDigits(decimal: string): string {
  const neg = decimal.startsWith('-')
  const digits = neg ? decimal.slice(1) : decimal
  if (!/^\d+$/.test(digits)) return decimal
  return `${neg ? '-' : ''}${digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}`
}

/** What a block says of its slot(s): the sum, the missing meters, or the range the gateway missed. */
function blockWhat(b: BlockJson): string {
  if (b.status === 'complete' && b.sum !== null) return `sum ${groupDigits(b.sum)} Wh`.padEnd(18)
  if (b.status === 'recovered' && b.sum !== null) return `sum ${groupDigits(b.sum)} Wh recovered, missing ${missingText(b.missing)}`
  if (b.status === 'missed') return `no reports: slots ${b.fromSlot ?? b.slot}..${b.slot} missed (the gateway was down)`
  const reason = b.reason ? ` (${b.reason})` : ''
  return b.missing.length > 0 ? `incomplete${reason}, missing ${missingText(b.missing)}` : `incomplete${reason}`
}

/**
 * From the aggregate's hand-off to the block stored, at the peer shown; n/a with the reason when
 * that peer fetched the block by catch-up or never got the hand-off.
 */
function latencyText(b: BlockJson): string {
  if (b.latencyMs !== null) return `${b.latencyMs} ms`
  return b.committedAtMs === null || b.committedAtMs === undefined ? 'n/a (block fetched by catch-up)' : 'n/a (no hand-off reached this peer)'
}

export function blockLine(b: BlockJson, meters: number): string {
  const what = blockWhat(b)
  const latency = latencyText(b)
  return [
    `height ${String(b.height).padEnd(4)}`,
    `slot ${String(b.slot).padEnd(5)}`,
    what,
    `meters ${b.count}/${meters}`,
    `primary ${b.primary}`,
    `view ${b.view}`,
    `latency ${latency}`
  ].join('  ')
}
