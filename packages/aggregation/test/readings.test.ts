import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { BbnpError } from '@bbnp/core'
import { loadReadings, parseReadings, parseReadingsTable, parseUciHousehold, TableReadings, UciReadings } from '../src/index.ts'

const isCode = (code: string, line?: number) => (e: unknown) =>
  e instanceof BbnpError && e.code === code && (line === undefined || (e.meta.line === line && e.message.includes(`line ${line}`)))

const UCI_HEADER =
  '"","date","time","global_active_power","global_reactive_power","voltage","global_intensity","sub_metering_1","sub_metering_2","sub_metering_3"'
const uciRow = (n: number, kw: string) => `"${n}","1/2/2007","00:0${n}:00",${kw},0.1,240,1.4,0,0,0`

/** The real UCI subset shipped in the repository (configs/data). */
const UCI_FILE = resolve(import.meta.dirname, '../../../configs/data/uci-household-power-2007-02.csv')

describe('UCI household layout', () => {
  const text = [UCI_HEADER, uciRow(1, '0.600'), uciRow(2, '?'), uciRow(3, '1.200'), uciRow(4, 'NA'), uciRow(5, '0.300'), ''].join('\r\n')

  it('one row per slot for a one-second devnet slot: Wh = kW * 1000 / 60, rounded', () => {
    const r = parseUciHousehold(text, { periodMs: 1000 })
    assert.equal(r.rowsPerSlot, 1)
    assert.equal(r.rows, 5)
    assert.equal(r.reading(1, 0), 10n) // 600 W for a minute
    assert.equal(r.reading(1, 2), 20n) // 1200 W
    assert.equal(r.reading(1, 4), 5n) // 300 W
    assert.equal(r.reading(1, 5), 10n) // wraps around
  })

  it('a missing value (? or NA) repeats the last valid one', () => {
    const r = parseUciHousehold(text, { periodMs: 60000 })
    assert.equal(r.reading(1, 1), 10n) // '?' after 0.600
    assert.equal(r.reading(1, 3), 20n) // 'NA' after 1.200
  })

  it('leading missing values take the last valid value of the file (cyclic replay)', () => {
    const r = parseUciHousehold([UCI_HEADER, uciRow(1, '?'), uciRow(2, '0.120'), uciRow(3, '0.060')].join('\n'), { periodMs: 60000 })
    assert.equal(r.reading(1, 0), 1n) // 60 W
  })

  it('a longer period sums several rows and rounds once', () => {
    // 0.6, 0.6 (filled), 1.2 kW -> 2400 W over three minutes = 40 Wh
    const r = parseUciHousehold(text, { periodMs: 180000 })
    assert.equal(r.rowsPerSlot, 3)
    assert.equal(r.reading(1, 0), 40n)
    // 0.020 kW for a minute is 0.33 Wh each, rounded once per slot, not per row: 3 rows -> 1 Wh
    const small = parseUciHousehold([UCI_HEADER, uciRow(1, '0.020'), uciRow(2, '0.020'), uciRow(3, '0.020')].join('\n'), {
      periodMs: 180000
    })
    assert.equal(small.reading(1, 0), 1n)
  })

  it('rejects malformed files with the line number', () => {
    assert.throws(
      () => parseUciHousehold(`${UCI_HEADER}\n${uciRow(1, '0.5')}\n${uciRow(2, 'abc')}\n`, { periodMs: 1000 }),
      isCode('CONFIG', 3)
    )
    assert.throws(() => parseUciHousehold(`${UCI_HEADER}\n${uciRow(1, '0.5')}\n"2","1/2/2007"\n`, { periodMs: 1000 }), isCode('CONFIG', 3))
    assert.throws(() => parseUciHousehold(`${UCI_HEADER}\n\n${uciRow(1, '0.5')}\n`, { periodMs: 1000 }), isCode('CONFIG', 2))
    assert.throws(() => parseUciHousehold(`${UCI_HEADER}\n${uciRow(1, '0x10')}\n`, { periodMs: 1000 }), isCode('CONFIG', 2))
    assert.throws(() => parseUciHousehold('"a","b"\n1,2\n', { periodMs: 1000 }), isCode('CONFIG', 1))
    assert.throws(() => parseUciHousehold(`${UCI_HEADER}\n`, { periodMs: 1000 }), isCode('CONFIG'))
    assert.throws(() => parseUciHousehold(`${UCI_HEADER}\n${uciRow(1, '?')}\n${uciRow(2, 'NA')}\n`, { periodMs: 1000 }), isCode('CONFIG'))
    assert.throws(() => parseUciHousehold(text, { periodMs: 0 }), isCode('PARAMS'))
  })

  it('refuses meter index 0 and negative slots', () => {
    const r = parseUciHousehold(text, { periodMs: 1000 })
    assert.throws(() => r.reading(0, 0), isCode('PARAMS'))
    assert.throws(() => r.reading(1, -1), isCode('BAD_SLOT'))
  })

  it('the real February 2007 file: known rows, gaps, wrap-around, and a different curve per meter', async () => {
    const r = await loadReadings(UCI_FILE, { periodMs: 1000 })
    assert.ok(r instanceof UciReadings)
    assert.equal(r.rows, 40320)
    assert.equal(r.days, 28)
    assert.equal(r.reading(1, 0), 5n) // row 0: 0.326 kW
    assert.equal(r.reading(2, 0), 22n) // row 1440 (2/2/2007 00:00): 1.314 kW
    assert.equal(r.reading(29, 0), 5n) // offset 97 (01:37): 0.298 kW
    assert.equal(r.offsetOf(29), 97)
    // Rows 31618-31619 are NA in this subset: they repeat row 31617 (3.046 kW -> 51 Wh).
    assert.equal(r.offsetOf(22), 21 * 1440)
    assert.equal(r.reading(22, 1377), 51n)
    assert.equal(r.reading(22, 1378), 51n)
    assert.equal(r.reading(22, 1379), 51n)
    assert.equal(r.reading(22, 1380), 82n) // 4.896 kW
    // Meter 28 starts on the last day and wraps to the first row.
    assert.equal(r.reading(28, 1439), 4n) // 0.226 kW
    assert.equal(r.reading(28, 1440), 5n)
    // 15-minute slots: rows 0-14 sum to 4.260 kW*min -> 71 Wh.
    const quarter = await loadReadings(UCI_FILE, { periodMs: 15 * 60000 })
    assert.equal(quarter.reading(1, 0), 71n)
    // Offsets differ for the first thousand meters, and so do their curves.
    const offsets = new Set<number>()
    for (let i = 1; i <= 1000; i++) offsets.add(r.offsetOf(i))
    assert.equal(offsets.size, 1000)
    const curve = (i: number) => Array.from({ length: 60 }, (_, t) => quarter.reading(i, t)).join(',')
    assert.notEqual(curve(1), curve(2))
    assert.notEqual(curve(1), curve(29))
  })
})

describe('meter,slot,wh table', () => {
  const text = 'meter,slot,wh\nmeter-1,0,120\n2,0,-45\n\nmeter-1,1,0\n  meter-10 , 7 , -281474976710655 \n'

  it('parses both meter forms, negative values up to -(2^48 - 1), and skips blank lines', () => {
    const r = parseReadingsTable(text)
    assert.equal(r.size, 4)
    assert.equal(r.reading(1, 0), 120n)
    assert.equal(r.reading(2, 0), -45n)
    assert.equal(r.reading(1, 1), 0n)
    assert.equal(r.reading(10, 7), -281474976710655n)
  })

  it('a missing (meter, slot) pair means no reading', () => {
    const r = parseReadingsTable(text)
    assert.equal(r.reading(2, 1), undefined)
    assert.equal(r.reading(3, 0), undefined)
  })

  it('rejects malformed lines with the line number', () => {
    const bad: [string, number][] = [
      ['meter,slot,wh\n1,0\n', 2],
      ['meter,slot,wh\n1,0,5,6\n', 2],
      ['meter,slot,wh\n1,0,5\nmeter-0,1,5\n', 3],
      ['meter,slot,wh\nfoo-1,1,5\n', 2],
      ['meter,slot,wh\n1,-1,5\n', 2],
      ['meter,slot,wh\n1,1.5,5\n', 2],
      ['meter,slot,wh\n1,1,5.5\n', 2],
      ['meter,slot,wh\n1,1,abc\n', 2],
      ['meter,slot,wh\n1,1,281474976710656\n', 2], // 2^48
      ['meter,slot,wh\n1,1,5\n\nmeter-1,1,6\n', 4], // duplicate
      ['meter,slot,kwh\n1,1,5\n', 1]
    ]
    for (const [t, line] of bad) assert.throws(() => parseReadingsTable(t, { source: 'x.csv' }), isCode('CONFIG', line), t)
  })
})

describe('format detection and loading', () => {
  it('picks the layout from the header line', () => {
    assert.ok(parseReadings('meter,slot,wh\n1,0,5\n', { periodMs: 1000 }) instanceof TableReadings)
    assert.ok(parseReadings(`${UCI_HEADER}\n${uciRow(1, '1')}\n`, { periodMs: 1000 }) instanceof UciReadings)
    assert.throws(() => parseReadings('LCLid,stdorToU,DateTime,KWH/hh\n', { periodMs: 1000 }), isCode('CONFIG', 1))
  })

  it('loads a file, names it in errors, and reports an unreadable path as IO', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bbnp-readings-'))
    try {
      const good = join(dir, 'good.csv')
      await writeFile(good, 'meter,slot,wh\nmeter-3,4,-12\n')
      const r = await loadReadings(good, { periodMs: 1000 })
      assert.equal(r.reading(3, 4), -12n)
      const bad = join(dir, 'bad.csv')
      await writeFile(bad, 'meter,slot,wh\nmeter-3,x,1\n')
      await assert.rejects(
        loadReadings(bad, { periodMs: 1000 }),
        (e: unknown) => isCode('CONFIG', 2)(e) && (e as Error).message.includes(bad)
      )
      await assert.rejects(loadReadings(join(dir, 'missing.csv'), { periodMs: 1000 }), isCode('IO'))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
