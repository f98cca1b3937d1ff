/**
 * A damaged store, as an operator meets it (issue 10): the peer stops once, with one line naming
 * the damage and what to do (exit code 2), never loops and never deletes files it did not write;
 * after the documented recovery (move the directory away, start again) it rebuilds the chain from
 * its peers. A store that lost its newest blocks (a log cut short) is noticed at open, logged at
 * warn with the heights lost, and caught up.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ClassicLevel } from 'classic-level'
import { assertOneChain } from './chains.ts'
import { readingsTable, TestNetwork, waitFor } from './harness.ts'

let net: TestNetwork
let failed = false
const ALL = ['cn-1', 'cn-2', 'cn-3', 'cn-4']
const LIVE = ['cn-1', 'cn-2', 'cn-3']

before(async () => {
  net = await TestNetwork.create({ name: 'damage', meters: 4, consensus: 4, genesisInMs: 3000 })
  const table = readingsTable(4, 0, net.slotNow() + 900, 29)
  net.startAll({ readings: net.writeFile('readings.csv', table.text) })
  await net.waitHeight(4, ALL, 90_000)
})
after(async () => {
  await net?.destroy(failed)
})

async function run(body: () => Promise<void>): Promise<void> {
  try {
    await body()
  } catch (e) {
    failed = true
    throw e
  }
}

const chainDir = () => join(net.configDir, 'data', 'cn-4', 'chain')

/** Start cn-4 and wait for it to end by itself; its stderr lines that are not JSON logs. */
async function startExpectingExit(): Promise<{ code: number | null; lines: string[] }> {
  const before = net.log('cn-4').length
  const p = net.start('consensus', 'cn-4')
  const code = await Promise.race([p.exited, new Promise<'alive'>((r) => setTimeout(() => r('alive'), 30_000))])
  if (code === 'alive') {
    await net.stop('cn-4', 'SIGKILL')
    assert.fail('cn-4 did not stop on a damaged store')
  }
  const lines = net
    .log('cn-4')
    .slice(before)
    .split('\n')
    .filter((l) => l.startsWith('bbnp: '))
  return { code, lines }
}

/** The documented recovery: move the directory away and start again; the peer rebuilds the chain. */
async function recoverAndRejoin(): Promise<void> {
  renameSync(chainDir(), `${chainDir()}.damaged`)
  net.start('consensus', 'cn-4')
  const target = (await net.height('cn-1')) + 2
  await net.waitHeight(target, ALL, 120_000)
  await assertOneChain(net, ALL, target)
  rmSync(`${chainDir()}.damaged`, { recursive: true, force: true })
}

describe('a damaged block store', () => {
  it('CURRENT deleted: one line saying what to do, exit 2, no file touched; recovered by moving it away', { timeout: 240_000 }, () =>
    run(async () => {
      assert.equal(await net.stop('cn-4'), 0)
      rmSync(join(chainDir(), 'CURRENT'))
      const files = readdirSync(chainDir()).sort()
      const { code, lines } = await startExpectingExit()
      assert.equal(code, 2)
      assert.equal(lines.length, 1, lines.join(' | '))
      assert.match(
        lines[0],
        /CURRENT file is missing \(nothing was changed\); move it away \(mv .*chain .*chain\.damaged\) and start again/
      )
      assert.deepEqual(readdirSync(chainDir()).sort(), files, 'no file removed or added')
      await recoverAndRejoin()
    })
  )

  it('bytes flipped in its tables: one line, exit 2, never a loop; recovered by moving it away', { timeout: 240_000 }, () =>
    run(async () => {
      assert.equal(await net.stop('cn-4'), 0)
      // Compact the store into a table file, as LevelDB does on its own once it has grown.
      const db = new ClassicLevel<Uint8Array, Uint8Array>(chainDir(), { keyEncoding: 'view', valueEncoding: 'view' })
      await db.open()
      await db.compactRange(new Uint8Array([0]), new Uint8Array([255]))
      await db.close()
      for (const f of readdirSync(chainDir()).filter((x) => x.endsWith('.ldb'))) {
        const path = join(chainDir(), f)
        const bytes = readFileSync(path)
        const size = statSync(path).size
        for (let k = 1; k <= 24; k++) bytes[Math.floor((k * size) / 25)] ^= 0x5a
        writeFileSync(path, bytes)
      }
      const { code, lines } = await startExpectingExit()
      assert.equal(code, 2)
      assert.equal(lines.length, 1, lines.join(' | '))
      // Where the flips land decides which check sees them first: a record that does not decode
      // (damaged), or the version or genesis record read as another value, since LevelDB does not
      // verify block checksums on reads; every such line says how to recover.
      assert.match(
        lines[0],
        /block store .*chain (is damaged|has schema version|belongs to genesis).*move it away \(mv .*\) and start again: the peer rebuilds it from its peers/
      )
      await recoverAndRejoin()
    })
  )

  it('its log cut short: the lost heights are logged at warn and caught up from peers', { timeout: 240_000 }, () =>
    run(async () => {
      await net.waitHeight((await net.height('cn-1')) + 3, ALL, 60_000)
      // Killed: what it wrote since the last compaction is only in LevelDB's log.
      await net.stop('cn-4', 'SIGKILL')
      const heightBefore = JSON.parse(readFileSync(join(chainDir(), 'bbnp-head.json'), 'utf8')).height as number
      const log = readdirSync(chainDir())
        .filter((f) => f.endsWith('.log'))
        .sort()
        .at(-1) as string
      truncateSync(join(chainDir(), log), Math.floor(statSync(join(chainDir(), log)).size / 3))
      const before = net.log('cn-4').length
      net.start('consensus', 'cn-4')
      const warned = await waitFor(
        'the warning about lost blocks',
        () => {
          const line = net
            .log('cn-4')
            .slice(before)
            .split('\n')
            .find((l) => l.includes('lost blocks it once held'))
          return line ? (JSON.parse(line) as { level: string; from: number; to: number }) : false
        },
        30_000
      )
      assert.equal(warned.level, 'warn')
      assert.equal(warned.to, heightBefore, 'the heights lost are named')
      assert.ok(warned.from <= warned.to)
      const target = (await net.height('cn-1')) + 3
      await net.waitHeight(target, ALL, 120_000)
      await assertOneChain(net, ALL, target)
      assert.ok(LIVE.length === 3)
    })
  )
})
