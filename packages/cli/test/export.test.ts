/**
 * `bbnp export` as a user runs it (real processes) on a store with real certificates: every row
 * against what the chain holds, CSV read back by an RFC 4180 reader, JSON lines the same rows,
 * slot and height ranges across pages, --out written whole, and every refusal one line with exit
 * code 2 (bad flags, no store, a store of another genesis, a store in use).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { BlockStore } from '@bbnp/chain'
import { blockStoreOptions } from '@bbnp/node'
import { throttled } from '../src/commands/export.ts'
import { type Expected, type Fixture, GENESIS_TIME_MS, makeConfig, PERIOD_MS, writeChain } from './store-fixture.ts'

const BBNP = fileURLToPath(new URL('../../../bin/bbnp', import.meta.url))
const HEIGHT = 150
const tmp = mkdtempSync(join(tmpdir(), 'bbnp-export-'))
let f: Fixture
let expected: Expected[]
let dataDir: string

before(async () => {
  f = await makeConfig(tmp)
  dataDir = join(tmp, 'cn-1')
  expected = await writeChain(f, dataDir, HEIGHT)
})
after(() => rmSync(tmp, { recursive: true, force: true }))

function bbnp(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BBNP, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function exportArgs(...extra: string[]): string[] {
  return ['export', '--config', f.configDir, '--data-dir', dataDir, ...extra]
}

/** RFC 4180, read independently of the writer: quoted fields may hold commas, quotes and spaces. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"'
        i++
      } else if (c === '"') quoted = false
      else field += c
    } else if (c === '"') quoted = true
    else if (c === ',') {
      row.push(field)
      field = ''
    } else if (c === '\n') {
      row.push(field)
      rows.push(row)
      row = []
      field = ''
    } else field += c
  }
  assert.equal(field, '', 'the text ends with a line break')
  return rows
}

const COLUMNS = ['slot', 'fromSlot', 'time', 'status', 'sum', 'count', 'missing', 'height', 'hash', 'primary', 'signers']

/** The CSV row the chain's block at `e.height` must give (times computed here from the fixture's genesis). */
function csvRow(e: Expected): string[] {
  return [
    String(e.slot),
    String(e.fromSlot),
    new Date(GENESIS_TIME_MS + e.slot * PERIOD_MS).toISOString(),
    e.status,
    e.sum ?? '',
    String(e.count),
    e.missing.join(' '),
    String(e.height),
    e.hash,
    e.primary,
    e.signers.join(' ')
  ]
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`)
  assert.doesNotMatch(lines[0], /\n|at .*\.ts:\d+/, 'no stack trace')
  return lines[0]
}

describe('bbnp export', () => {
  it('CSV: a header, then one row per block with every field as the chain holds it', () => {
    const r = bbnp(exportArgs('--format', 'csv'))
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stderr, '', 'a short export to stdout writes nothing on stderr')
    const rows = parseCsv(r.stdout)
    assert.deepEqual(rows[0], COLUMNS)
    assert.equal(rows.length, HEIGHT + 1)
    for (let h = 1; h <= HEIGHT; h++) assert.deepEqual(rows[h], csvRow(expected[h - 1]), `row of height ${h}`)
    // Literal checks of what the formula above computes, and of the quoting.
    assert.equal(rows[2][2], '2026-01-01T00:15:00.000Z', 'slot 1 starts 15 minutes after the genesis, in UTC')
    assert.ok(r.stdout.includes(',"meter-2 meter-5",'), 'a list of meters is one quoted field')
    assert.ok(r.stdout.split('\n')[2].includes(',incomplete,,3,'), 'an incomplete slot has an empty sum')
    assert.deepEqual(rows[3].slice(0, 6), ['6', '2', '2026-01-01T01:30:00.000Z', 'missed', '', '0'], 'a missed range: slots 2..6, no sum')
    assert.equal(rows[4][4], '-777', 'a negative sum')
  })

  it('JSON lines: the same rows, sums as strings (null where none), lists as arrays', () => {
    const r = bbnp(exportArgs('--format', 'jsonl'))
    assert.equal(r.status, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    assert.equal(lines.length, HEIGHT)
    lines.forEach((line, i) => {
      const e = expected[i]
      assert.deepEqual(JSON.parse(line), {
        slot: e.slot,
        fromSlot: e.fromSlot,
        time: new Date(GENESIS_TIME_MS + e.slot * PERIOD_MS).toISOString(),
        status: e.status,
        sum: e.sum,
        count: e.count,
        missing: e.missing,
        height: e.height,
        hash: e.hash,
        primary: e.primary,
        signers: e.signers
      })
    })
  })

  it('a height range across pages of 64, and slot ranges that meet a missed range', () => {
    const heights = (out: string) =>
      out
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { height: number }).height)
    const r = bbnp(exportArgs('--format', 'jsonl', '--from-height', '60', '--to-height', '140'))
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(
      heights(r.stdout),
      Array.from({ length: 81 }, (_, i) => 60 + i)
    )
    // Slots 4..5 lie inside the missed range 2..6 (height 3): that block is the one row.
    assert.deepEqual(heights(bbnp(exportArgs('--format', 'jsonl', '--from-slot', '4', '--to-slot', '5')).stdout), [3])
    // Slots 1..8: heights 2 (slot 1), 3 (2..6), 4 (7), 5 (8).
    assert.deepEqual(heights(bbnp(exportArgs('--format', 'jsonl', '--from-slot', '1', '--to-slot', '8')).stdout), [2, 3, 4, 5])
    // An open end runs to the head; a range past the head is empty.
    assert.deepEqual(heights(bbnp(exportArgs('--format', 'jsonl', '--from-slot', String(HEIGHT + 1))).stdout), [
      HEIGHT - 2,
      HEIGHT - 1,
      HEIGHT
    ])
    const past = bbnp(exportArgs('--format', 'csv', '--from-height', String(HEIGHT + 1)))
    assert.equal(past.status, 0, past.stderr)
    assert.equal(past.stdout, `${COLUMNS.join(',')}\n`, 'only the header')
  })

  it('--out writes the file whole (nothing left beside it) and says so on stderr', () => {
    const out = join(tmp, 'chain.csv')
    const r = bbnp(exportArgs('--format', 'csv', '--out', out))
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, '')
    assert.match(oneLine(r.stderr), new RegExp(`^bbnp export: ${HEIGHT} rows from .* to ${out}$`))
    assert.equal(parseCsv(readFileSync(out, 'utf8')).length, HEIGHT + 1)
    assert.deepEqual(
      readdirSync(tmp).filter((n) => n.startsWith('chain.csv')),
      ['chain.csv']
    )
  })

  it('--id finds the directory bbnp start uses for that peer (CONFIG/data/ID)', () => {
    cpSync(dataDir, join(f.configDir, 'data', 'cn-2'), { recursive: true })
    const r = bbnp(['export', '--config', f.configDir, '--id', 'cn-2', '--format', 'csv', '--to-height', '5'])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(parseCsv(r.stdout).length, 6)
  })

  it('refuses bad flags with one line and exit code 2', () => {
    const cases: [string[], RegExp][] = [
      [exportArgs(), /missing required flag --format/],
      [exportArgs('--format', 'xml'), /--format must be csv or jsonl/],
      [exportArgs('--format', 'csv', '--from-slot', '1', '--to-height', '3'), /not both/],
      [exportArgs('--format', 'csv', '--from-height', '9', '--to-height', '3'), /--to-height must not be below --from-height/],
      [exportArgs('--format', 'csv', '--from-slot', 'x'), /--from-slot must be a whole number/],
      [exportArgs('--format', 'csv', '--frm-slot', '1'), /Unknown option '--frm-slot'/],
      [['export', '--config', f.configDir, '--format', 'csv'], /missing required flag --data-dir/],
      [['export', '--data-dir', dataDir, '--format', 'csv'], /missing required flag --config/],
      [['export', '--config', join(tmp, 'nowhere'), '--data-dir', dataDir, '--format', 'csv'], /no genesis at/]
    ]
    for (const [args, message] of cases) {
      const r = bbnp(args)
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(oneLine(r.stderr), message)
      assert.equal(r.stdout, '')
    }
  })

  it('refuses a directory without a store, and does not create one there', () => {
    const empty = join(tmp, 'no-store')
    const r = bbnp(['export', '--config', f.configDir, '--data-dir', empty, '--format', 'csv'])
    assert.equal(r.status, 2)
    assert.match(oneLine(r.stderr), /no block store in .*no-store/)
    assert.equal(existsSync(empty), false)
  })

  it("refuses another network's store", async () => {
    const other = await makeConfig(join(tmp, 'other'), 'another-network')
    const r = bbnp(['export', '--config', other.configDir, '--data-dir', dataDir, '--format', 'csv'])
    assert.equal(r.status, 2)
    assert.match(oneLine(r.stderr), /belongs to genesis .* not /)
  })

  it('refuses a store in use (a running peer holds its lock)', async () => {
    const store = await BlockStore.open(join(dataDir, 'chain'), blockStoreOptions(f.genesis))
    try {
      const r = bbnp(exportArgs('--format', 'csv'))
      assert.equal(r.status, 2)
      assert.match(oneLine(r.stderr), /is in use by a running peer: stop it first/)
      assert.equal(r.stdout, '')
    } finally {
      await store.close()
    }
  })
})

describe('progress lines', () => {
  it('at most one per period, and none before the first period has passed', () => {
    let t = 0
    const lines: string[] = []
    const p = throttled(
      (l) => lines.push(l),
      2000,
      () => t
    )
    for (t = 0; t < 1999; t += 100) p.report(() => `at ${t}`)
    assert.deepEqual(lines, [])
    assert.equal(p.wrote, false)
    for (t = 2000; t <= 7000; t += 250) p.report(() => `at ${t}`)
    assert.deepEqual(lines, ['at 2000', 'at 4000', 'at 6000'])
    assert.equal(p.wrote, true)
  })
})
