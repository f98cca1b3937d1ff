/**
 * Issue 13 e2e, operating a network of real processes: a running peer streams its chain from
 * GET /export (rows that agree with its /blocks), every role exports bbnp_build_info, the offline
 * export refuses the store of a running peer, and once everything is stopped, `bbnp export` gives
 * byte for byte what the API gave for the same range and `bbnp verify` finds every store intact.
 * Issue 10: two meter processes that serve the same identities (a meter cloned by mistake, or an
 * impostor with its keys) are named at warn and counted at the gateway, as conflicts.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { sumMetric } from '@bbnp/core'
import type { ExportRow } from '@bbnp/node'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BBNP, readingsTable, ROOT, TestNetwork, waitFor } from './harness.ts'
import { networks } from './scope.ts'

const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string
const nets = networks()

function bbnp(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BBNP, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** A row as the API streams it: the export's row, its status as a plain string. */
type Row = Omit<ExportRow, 'status'> & { status: string }

describe('export and verify a real network', () => {
  it('the API streams the rows the offline export writes; every stopped store verifies', { timeout: 240_000 }, async () => {
    await nets.test(async () => {
      const net = await TestNetwork.create({ name: 'operate', meters: 6, consensus: 4 })
      nets.add(net)
      const readings = net.writeFile('readings.csv', readingsTable(6, 0, net.slotNow() + 600, 5).text)
      net.startAll({ readings })
      const ids = net.consensusIds()
      await net.waitHeight(6, ids, 120_000)

      // The running peer's export: every block up to the head when asked, as its /blocks shows them.
      const res = await fetch(`http://127.0.0.1:${net.apiPort('cn-1')}/export?format=jsonl`)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('transfer-encoding'), 'chunked')
      const live = await res.text()
      const rows = live
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Row)
      const top = rows.length
      assert.ok(top >= 6)
      const blocks = await net.blocks('cn-1', 1, top)
      rows.forEach((r, i) => {
        const b = blocks[i]
        assert.equal(r.height, i + 1)
        assert.deepEqual(
          {
            slot: r.slot,
            fromSlot: r.fromSlot,
            status: r.status,
            sum: r.sum,
            count: r.count,
            missing: r.missing,
            hash: r.hash,
            primary: r.primary
          },
          {
            slot: b.slot,
            fromSlot: b.fromSlot,
            status: b.status,
            sum: b.sum,
            count: b.count,
            missing: b.missing,
            hash: b.hash,
            primary: b.primary
          },
          `row of height ${r.height}`
        )
        assert.deepEqual(r.signers, b.certificate.signers)
        assert.equal(r.time, new Date(net.genesis.genesisTimeMs + r.slot * net.genesis.periodMs).toISOString())
      })
      const [fromSlot, toSlot] = [rows[1].slot, rows[top - 2].slot]
      const liveCsv = await (
        await fetch(`http://127.0.0.1:${net.apiPort('cn-2')}/export?format=csv&fromSlot=${fromSlot}&toSlot=${toSlot}`)
      ).text()
      assert.equal(liveCsv.trimEnd().split('\n').length, 1 + top - 2, 'the header and the rows of slots 2..top-1')

      // Every role says what build it runs.
      for (const id of ['cn-1', 'gateway']) {
        const text = await net.api<string>(id, '/metrics')
        assert.equal(sumMetric(text, 'bbnp_build_info', { version: VERSION, node: process.version }), 1, `${id}: ${text.slice(0, 200)}`)
      }

      // A running peer's store is refused, with one line and exit code 2.
      const busy = bbnp(['export', '--config', net.configDir, '--id', 'cn-3', '--format', 'csv'])
      assert.equal(busy.status, 2, busy.stderr)
      assert.match(busy.stderr, /^bbnp: block store .* is in use by a running peer: stop it first/)
      assert.equal(busy.stdout, '')

      const codes = await net.stopAll('SIGTERM')
      for (const [name, code] of Object.entries(codes)) assert.equal(code, 0, `${name} exits cleanly on SIGTERM`)

      // Offline, the same range gives the same bytes.
      const offline = bbnp(['export', '--config', net.configDir, '--id', 'cn-1', '--format', 'jsonl', '--to-height', String(top)])
      assert.equal(offline.status, 0, offline.stderr)
      assert.equal(offline.stdout, live)
      const offlineCsv = bbnp([
        'export',
        '--config',
        net.configDir,
        '--data-dir',
        `${net.configDir}/data/cn-2`,
        '--format',
        'csv',
        '--from-slot',
        String(fromSlot),
        '--to-slot',
        String(toSlot)
      ])
      assert.equal(offlineCsv.status, 0, offlineCsv.stderr)
      assert.equal(offlineCsv.stdout, liveCsv)

      for (const id of ids) {
        const v = bbnp(['verify', '--config', net.configDir, '--id', id])
        assert.equal(v.status, 0, `${id}: ${v.stdout}${v.stderr}`)
        assert.match(v.stdout, /^store .*: (\d+) blocks, heights 1\.\.\1, every link, index and certificate checks out\n$/)
      }
    })
  })

  it(
    'two meter processes serving the same identities: conflicting reports are named at warn and counted',
    { timeout: 180_000 },
    async () => {
      await nets.test(async () => {
        const net = await TestNetwork.create({ name: 'conflict', meters: 4, consensus: 4 })
        nets.add(net)
        const a = net.writeFile('a.csv', readingsTable(4, 0, net.slotNow() + 600, 31).text)
        const b = net.writeFile('b.csv', readingsTable(4, 0, net.slotNow() + 600, 32).text)
        for (const id of net.consensusIds()) net.start('consensus', id)
        net.start('gateway', 'gateway')
        net.start('meter', 'meter-1..meter-4', ['--readings', a], 'meters-a')
        net.start('meter', 'meter-1..meter-4', ['--readings', b], 'meters-b')
        await waitFor('conflicting reports counted', async () => (await net.metric('gateway', 'bbnp_report_conflicts_total')) >= 4, 60_000)
        const warned = net
          .log('gateway')
          .split('\n')
          .filter((l) => l.includes('two different reports for one meter and slot'))
          .map((l) => JSON.parse(l) as { level: string; meter: string; slot: number })
        assert.ok(warned.length > 0, 'a warning names the conflict')
        assert.equal(warned[0].level, 'warn')
        assert.match(warned[0].meter, /^meter-[1-4]$/)
        // The first report of each meter counts; the chain goes on.
        const h = await net.height('cn-1')
        await net.waitHeight(h + 2, net.consensusIds(), 60_000)
      })
    }
  )
})
