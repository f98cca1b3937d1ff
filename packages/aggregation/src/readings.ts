/**
 * Where a meter's readings come from (DESIGN: "meters read real data by default").
 *
 * Two file layouts, recognised by their header line:
 *
 * 1. The UCI household layout (`../shared/data/uci-household-power-2007-02.csv`, README there):
 *    one row per minute, `global_active_power` in kW. Every simulated meter replays the same file
 *    from its own offset, wrapping around at the end, so that N meters show N different but
 *    realistic load curves:
 *      - meter i starts on day (i - 1) mod D (offset (i - 1) * 1440 rows, D = days in the file);
 *      - meters beyond the first D shift a further 97 minutes per round (97 is prime to 1440, so
 *        up to 1440 rounds never land on the same time of day): offset =
 *        ((i - 1) * 1440 + floor((i - 1) / D) * 97) mod rows.
 *    Slot t covers max(1, round(periodMs / 60000)) rows (a devnet slot of one second replays one
 *    minute) starting at offset + t * rowsPerSlot, and its reading is the energy of those rows in
 *    Wh, sum(kW * 1000 / 60), rounded to an integer once per slot.
 *    Missing values (`?` in the UCI original, `NA` in this subset, or empty) repeat the last valid
 *    value before them, so a gap reads as a flat load rather than zero; rows missing before the
 *    first valid value take the file's last valid value (the replay is cyclic).
 *
 * 2. A plain table `meter,slot,wh`: meter as `meter-7` or `7`, slot an integer counted from the
 *    genesis time, wh a signed integer. A (meter, slot) pair that is not in the table has no
 *    reading: that meter does not report in that slot.
 *
 * Parse errors name the file and line (code CONFIG); an unreadable file is IO.
 */
import { readFile } from 'node:fs/promises'
import { aggregationError } from './errors.ts'
import { MAX_READING_MAGNITUDE } from './meter.ts'

export interface ReadingsSource {
  /** The reading in Wh of meter i in slot t, or undefined: no reading, so the meter does not report. */
  reading(meterIndex: number, slot: number): bigint | undefined
  /** The last slot meter i has a reading for; undefined when its readings never end (they repeat). */
  lastSlot(meterIndex: number): number | undefined
}

const ROWS_PER_DAY = 1440
const EXTRA_SHIFT_ROWS = 97
const UCI_POWER_COLUMN = 'global_active_power'
const MISSING = new Set(['?', 'NA', ''])
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

function fail(source: string, line: number, msg: string): never {
  throw aggregationError('CONFIG', `readings file ${source} line ${line}: ${msg}`, { source, line })
}

function unquote(field: string): string {
  const f = field.trim()
  return f.length >= 2 && f.startsWith('"') && f.endsWith('"') ? f.slice(1, -1) : f
}

function lines(text: string): string[] {
  const out = text.split(/\r?\n/)
  while (out.length > 0 && out[out.length - 1].trim() === '') out.pop()
  return out
}

function checkPeriod(periodMs: number): void {
  if (!Number.isSafeInteger(periodMs) || periodMs <= 0)
    throw aggregationError('PARAMS', `periodMs must be a positive integer, got ${periodMs}`)
}

function checkMeterSlot(meterIndex: number, slot: number): void {
  if (!Number.isSafeInteger(meterIndex) || meterIndex < 1 || meterIndex > 0xffffffff) {
    throw aggregationError('PARAMS', `meter index must be an integer in [1, 2^32 - 1], got ${meterIndex}`)
  }
  if (!Number.isSafeInteger(slot) || slot < 0) throw aggregationError('BAD_SLOT', `slot must be a non-negative safe integer, got ${slot}`)
}

/** Replays one household's minute readings for every meter, each from its own offset. */
export class UciReadings implements ReadingsSource {
  /** Active power of each row in whole W (kW * 1000, rounded), gaps already filled. */
  readonly watts: Float64Array
  readonly rowsPerSlot: number
  readonly days: number

  constructor(watts: Float64Array, opts: { periodMs: number }) {
    checkPeriod(opts.periodMs)
    if (watts.length === 0) throw aggregationError('CONFIG', 'no readings')
    this.watts = watts
    this.rowsPerSlot = Math.max(1, Math.round(opts.periodMs / 60000))
    this.days = Math.max(1, Math.floor(watts.length / ROWS_PER_DAY))
  }

  get rows(): number {
    return this.watts.length
  }

  /** The row meter i reads in slot 0. */
  offsetOf(meterIndex: number): number {
    checkMeterSlot(meterIndex, 0)
    // Indices are u32, so k * 1440 stays far below 2^53.
    const k = meterIndex - 1
    return (k * ROWS_PER_DAY + Math.floor(k / this.days) * EXTRA_SHIFT_ROWS) % this.rows
  }

  /** The household's month repeats: a meter never runs out. */
  lastSlot(_meterIndex: number): undefined {
    return undefined
  }

  reading(meterIndex: number, slot: number): bigint {
    checkMeterSlot(meterIndex, slot)
    const rows = this.rows
    const start = (this.offsetOf(meterIndex) + (((slot % rows) * (this.rowsPerSlot % rows)) % rows)) % rows
    let watts = 0
    for (let k = 0, r = start; k < this.rowsPerSlot; k++, r = r + 1 === rows ? 0 : r + 1) watts += this.watts[r]
    // W summed over minutes, / 60 = Wh; rounded once per slot.
    return BigInt(Math.round(watts / 60))
  }
}

/** Parse the UCI household layout (header with a `global_active_power` column). */
export function parseUciHousehold(text: string, opts: { periodMs: number; source?: string }): UciReadings {
  const source = opts.source ?? '<text>'
  const all = lines(text)
  if (all.length === 0) fail(source, 1, 'empty file')
  const header = all[0].split(',').map(unquote)
  const col = header.indexOf(UCI_POWER_COLUMN)
  if (col < 0) fail(source, 1, `no "${UCI_POWER_COLUMN}" column in the header`)
  const values: number[] = []
  const missing: boolean[] = []
  for (let n = 1; n < all.length; n++) {
    const lineNo = n + 1
    if (all[n].trim() === '') fail(source, lineNo, 'empty line')
    const fields = all[n].split(',')
    if (fields.length !== header.length) fail(source, lineNo, `expected ${header.length} fields, got ${fields.length}`)
    const raw = unquote(fields[col])
    if (MISSING.has(raw)) {
      values.push(0)
      missing.push(true)
      continue
    }
    if (!DECIMAL.test(raw)) fail(source, lineNo, `${UCI_POWER_COLUMN} "${raw}" is not a number`)
    const kw = Number(raw)
    if (!Number.isFinite(kw) || Math.abs(kw) > 1e6) fail(source, lineNo, `${UCI_POWER_COLUMN} ${raw} kW is out of range`)
    // Whole watts: the UCI values have three decimals in kW, so this is exact for them, and the
    // per-slot sums below are exact integers (no float drift at a .5 Wh boundary).
    values.push(Math.round(kw * 1000))
    missing.push(false)
  }
  if (values.length === 0) fail(source, 2, 'no data rows')
  let last = -1
  for (let k = values.length - 1; k >= 0; k--) {
    if (!missing[k]) {
      last = k
      break
    }
  }
  if (last < 0) fail(source, 2, `every ${UCI_POWER_COLUMN} value is missing`)
  const watts = new Float64Array(values.length)
  let previous = values[last]
  for (let k = 0; k < values.length; k++) {
    if (!missing[k]) previous = values[k]
    watts[k] = previous
  }
  return new UciReadings(watts, opts)
}

/** An explicit table of readings; absent pairs have no reading. */
export class TableReadings implements ReadingsSource {
  private readonly byMeter: Map<number, Map<number, bigint>>

  constructor(byMeter: Map<number, Map<number, bigint>>) {
    this.byMeter = byMeter
  }

  get size(): number {
    let n = 0
    for (const m of this.byMeter.values()) n += m.size
    return n
  }

  reading(meterIndex: number, slot: number): bigint | undefined {
    checkMeterSlot(meterIndex, slot)
    return this.byMeter.get(meterIndex)?.get(slot)
  }

  /** The meter's last row (-1 when it has none). */
  lastSlot(meterIndex: number): number {
    let last = -1
    for (const slot of this.byMeter.get(meterIndex)?.keys() ?? []) if (slot > last) last = slot
    return last
  }
}

const TABLE_HEADER = 'meter,slot,wh'
const METER_FIELD = /^(?:meter-)?([0-9]+)$/
const SLOT_FIELD = /^[0-9]+$/
const WH_FIELD = /^[+-]?[0-9]+$/

/** Parse a `meter,slot,wh` table. Blank lines are skipped; everything else must parse. */
export function parseReadingsTable(text: string, opts: { source?: string } = {}): TableReadings {
  const source = opts.source ?? '<text>'
  const all = lines(text)
  if (all.length === 0 || all[0].replace(/\s/g, '').toLowerCase() !== TABLE_HEADER) fail(source, 1, `expected the header "${TABLE_HEADER}"`)
  const byMeter = new Map<number, Map<number, bigint>>()
  for (let n = 1; n < all.length; n++) {
    const lineNo = n + 1
    if (all[n].trim() === '') continue
    const fields = all[n].split(',').map((f) => f.trim())
    if (fields.length !== 3) fail(source, lineNo, `expected 3 fields (meter,slot,wh), got ${fields.length}`)
    const [meterField, slotField, whField] = fields
    const m = METER_FIELD.exec(meterField)
    const meter = m ? Number(m[1]) : Number.NaN
    if (!Number.isSafeInteger(meter) || meter < 1 || meter > 0xffffffff)
      fail(source, lineNo, `meter "${meterField}" is not meter-<i> or <i> with i >= 1`)
    const slot = SLOT_FIELD.test(slotField) ? Number(slotField) : Number.NaN
    if (!Number.isSafeInteger(slot)) fail(source, lineNo, `slot "${slotField}" is not a non-negative integer`)
    if (!WH_FIELD.test(whField)) fail(source, lineNo, `wh "${whField}" is not an integer`)
    const wh = BigInt(whField)
    if (wh >= MAX_READING_MAGNITUDE || wh <= -MAX_READING_MAGNITUDE) fail(source, lineNo, `wh ${whField} is out of range (|wh| < 2^48)`)
    let slots = byMeter.get(meter)
    if (!slots) byMeter.set(meter, (slots = new Map()))
    if (slots.has(slot)) fail(source, lineNo, `a second reading for meter-${meter} in slot ${slot}`)
    slots.set(slot, wh)
  }
  return new TableReadings(byMeter)
}

export type ReadingsFormat = 'uci-household' | 'table'

/** Which layout a file is in, from its first line. */
export function detectReadingsFormat(firstLine: string): ReadingsFormat | undefined {
  if (firstLine.split(',').map(unquote).includes(UCI_POWER_COLUMN)) return 'uci-household'
  if (firstLine.replace(/\s/g, '').toLowerCase() === TABLE_HEADER) return 'table'
  return undefined
}

/** Parse readings text in either layout, chosen by the header line. */
export function parseReadings(text: string, opts: { periodMs: number; source?: string }): ReadingsSource {
  const source = opts.source ?? '<text>'
  const nl = text.indexOf('\n')
  const first = (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '')
  const format = detectReadingsFormat(first)
  if (format === 'uci-household') return parseUciHousehold(text, opts)
  if (format === 'table') return parseReadingsTable(text, { source })
  return fail(source, 1, `unrecognised header (expected a UCI household header with "${UCI_POWER_COLUMN}", or "${TABLE_HEADER}")`)
}

/** Load a readings file, picking the layout from its header line. */
export async function loadReadings(path: string, opts: { periodMs: number }): Promise<ReadingsSource> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    throw aggregationError('IO', `cannot read readings file ${path}: ${(e as Error).message}`, { path })
  }
  return parseReadings(text, { periodMs: opts.periodMs, source: path })
}
