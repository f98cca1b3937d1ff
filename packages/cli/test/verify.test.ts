/**
 * `bbnp verify` as a user runs it (real processes): a good store checks out (exit 0); a store with
 * a broken index, a flipped certificate deep in the chain or at the head, or blocks it lost, does
 * not (exit 1) and the one line says what is wrong; usage and configuration problems are exit 2.
 * Each damaged store is a copy of the good one with one thing changed.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { u64be } from '@bbnp/core'
import { decodeCertificate, encodeCertificate } from '@bbnp/chain'
import { Level } from 'level'
import { BUCKET, bytesKey, numberKey } from '../../chain/src/buckets.ts'
import { type Expected, type Fixture, makeConfig, writeChain } from './store-fixture.ts'

const BBNP = fileURLToPath(new URL('../../../bin/bbnp', import.meta.url))
const HEIGHT = 100
const tmp = mkdtempSync(join(tmpdir(), 'bbnp-verify-'))
let f: Fixture
let good: string
let expected: Expected[]
let copies = 0

before(async () => {
  f = await makeConfig(tmp)
  good = join(tmp, 'good')
  expected = await writeChain(f, good, HEIGHT)
})
after(() => rmSync(tmp, { recursive: true, force: true }))

function verify(dataDir: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BBNP, ['verify', '--config', f.configDir, '--data-dir', dataDir], { encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** A copy of the good store with `change` applied to its raw database. */
async function damaged(change: (db: Level<Uint8Array, Uint8Array>) => Promise<void>): Promise<string> {
  const dir = join(tmp, `copy-${copies++}`)
  cpSync(good, dir, { recursive: true })
  const db = new Level<Uint8Array, Uint8Array>(join(dir, 'chain'), { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    await change(db)
  } finally {
    await db.close()
  }
  return dir
}

/** Flip the lowest bit of the signer bitmap of block `h`'s certificate: one more (or one fewer) signer than signed. */
async function flipCertificate(db: Level<Uint8Array, Uint8Array>, h: number): Promise<void> {
  const key = numberKey(BUCKET.certificate, h)
  const cert = decodeCertificate(new Uint8Array(await db.get(key)))
  const signers = new Uint8Array(cert.signers)
  signers[0] ^= 1
  await db.put(key, encodeCertificate({ ...cert, signers }))
}

function summary(r: { stdout: string; stderr: string }): string {
  const lines = r.stdout.trim().split('\n')
  assert.equal(lines.length, 1, `one summary line, got: ${r.stdout}`)
  assert.equal(r.stderr, '', 'nothing on stderr for a short chain')
  return lines[0]
}

describe('bbnp verify', () => {
  it('a good store checks out: exit 0 and the summary', () => {
    const r = verify(good)
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.equal(
      summary(r),
      `store ${join(good, 'chain')}: ${HEIGHT} blocks, heights 1..${HEIGHT}, every link, index and certificate checks out`
    )
  })

  it('a store with only the genesis checks out too', async () => {
    const dir = join(tmp, 'empty')
    await writeChain(f, dir, 0)
    const r = verify(dir)
    assert.equal(r.status, 0, r.stdout + r.stderr)
    assert.match(summary(r), /no blocks yet/)
  })

  it('a broken hash index: exit 1, naming the block', async () => {
    const dir = await damaged((db) => db.del(bytesKey(BUCKET.heightByHash, Buffer.from(expected[41].hash, 'hex'))))
    const r = verify(dir)
    assert.equal(r.status, 1, r.stdout + r.stderr)
    assert.match(summary(r), /is damaged: hash index entry of block 42 is missing or wrong/)
  })

  it('a slot index entry pointing at the wrong block: exit 1', async () => {
    const dir = await damaged((db) => db.put(numberKey(BUCKET.heightBySlot, expected[9].slot), u64be(11)))
    const r = verify(dir)
    assert.equal(r.status, 1, r.stdout + r.stderr)
    assert.match(summary(r), /slot index entry of block 10 is missing or wrong/)
  })

  it('a flipped certificate deep in the chain (which opening the store does not check): exit 1', async () => {
    const dir = await damaged((db) => flipCertificate(db, 7))
    const r = verify(dir)
    assert.equal(r.status, 1, r.stdout + r.stderr)
    assert.match(summary(r), /certificate of block 7 does not verify \(BAD_SIGNATURE\)/)
  })

  it('a flipped certificate at the head: exit 1', async () => {
    const dir = await damaged((db) => flipCertificate(db, HEIGHT))
    const r = verify(dir)
    assert.equal(r.status, 1, r.stdout + r.stderr)
    assert.match(summary(r), new RegExp(`certificate of head block ${HEIGHT} does not verify`))
  })

  it('a store whose CURRENT file is gone: damaged (exit 1), and left as it was', () => {
    const dir = join(tmp, `copy-${copies++}`)
    cpSync(good, dir, { recursive: true })
    rmSync(join(dir, 'chain', 'CURRENT'))
    const before = readdirSync(join(dir, 'chain')).sort()
    const r = verify(dir)
    assert.equal(r.status, 1, r.stdout + r.stderr)
    assert.match(summary(r), /is damaged: its CURRENT file is missing \(nothing was changed\)/)
    assert.deepEqual(readdirSync(join(dir, 'chain')).sort(), before)
  })

  it('a store that lost blocks it once held (its log cut short): exit 1', () => {
    const dir = join(tmp, `copy-${copies++}`)
    cpSync(good, dir, { recursive: true })
    writeFileSync(join(dir, 'chain', 'bbnp-head.json'), JSON.stringify({ height: HEIGHT + 20, hash: '00' }))
    const r = verify(dir)
    assert.equal(r.status, 1, r.stdout + r.stderr)
    assert.match(summary(r), new RegExp(`${HEIGHT} blocks check out, but blocks ${HEIGHT + 1}..${HEIGHT + 20} it once held are lost`))
  })

  it('usage and configuration problems are exit 2 with one line on stderr', async () => {
    const other = await makeConfig(join(tmp, 'other'), 'another-network')
    const cases: [string[], RegExp][] = [
      [['verify', '--config', f.configDir], /missing required flag --data-dir/],
      [['verify', '--config', f.configDir, '--data-dir', join(tmp, 'none')], /no block store in/],
      [['verify', '--config', other.configDir, '--data-dir', good], /belongs to genesis/],
      [['verify', '--config', f.configDir, '--data-dir', good, '--certs'], /Unknown option/]
    ]
    for (const [args, message] of cases) {
      const r = spawnSync(BBNP, args, { encoding: 'utf8' })
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.stdout, '')
      assert.match(r.stderr.trim(), message)
      assert.equal(r.stderr.trim().split('\n').length, 1)
    }
  })
})
