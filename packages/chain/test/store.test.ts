import assert from 'node:assert/strict'
import { readdirSync, rmSync, statSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { bytesEqual, u32be } from '@bbnp/core'
import { makeCertificate, voteDomain, votePayload } from '@bbnp/consensus'
import { sign } from '@bbnp/crypto'
import { Level } from 'level'
import { bytesKey, metaKey, numberKey, SCHEMA_VERSION, singletonKey } from '../src/buckets.ts'
import {
  BlockStore,
  BUCKET,
  blockHash,
  encodeBlock,
  encodeCertificate,
  isCommitRefusal,
  MAX_RANGE,
  type SignedRecord,
  StoreError,
  type StoreErrorCode
} from '../src/index.ts'
import { buildChain, type Certified, certify, M, makeBlock, storeOptions, slotOf, tempDir, testChain } from './helpers.ts'

const t = testChain()
let root: { path: string; remove: () => Promise<void> }
let chain: Certified[]
let n = 0
const freshDir = () => join(root.path, `store-${n++}`)

before(async () => {
  root = await tempDir()
  chain = buildChain(t, 70)
})
after(async () => {
  await root.remove()
})

async function rejectsWith(p: Promise<unknown>, code: StoreErrorCode): Promise<StoreError> {
  try {
    await p
  } catch (e) {
    assert.ok(e instanceof StoreError, `expected a StoreError, got ${e}`)
    assert.equal(e.code, code, e.message)
    return e
  }
  assert.fail(`expected ${code}, but it succeeded`)
}

async function commitAll(store: BlockStore, items: Certified[]): Promise<void> {
  for (const c of items) await store.commit(c.block, c.cert)
}

/** Every key in the raw database, as hex, to prove that a refused commit wrote nothing. */
async function rawKeys(dir: string): Promise<string[]> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    const keys = await db.keys().all()
    return keys.map((k) => Buffer.from(k).toString('hex'))
  } finally {
    await db.close()
  }
}

describe('BlockStore', () => {
  it('starts at the genesis, commits blocks and reads them back, also after a reopen', async () => {
    const dir = freshDir()
    let store = await BlockStore.open(dir, storeOptions(t))
    assert.equal(store.head().height, 0)
    assert.ok(bytesEqual(store.head().hash, t.genesisHash))
    assert.equal(store.head().slot, -1)
    assert.equal(await store.getBlock(1), null)
    assert.equal(await store.getReputationState(), null)
    const head0 = await store.chainHead([1, 2, 3, 4])
    assert.deepEqual(head0.reputation, [1, 2, 3, 4])
    assert.equal(head0.cert, null)

    const items = chain.slice(0, 5)
    for (const c of items) {
      const head = await store.commit(c.block, c.cert)
      assert.equal(head.height, c.block.height)
      assert.ok(bytesEqual(head.hash, blockHash(c.block)))
    }
    await store.close()
    await rejectsWith(store.commit(chain[5].block, chain[5].cert), 'STORE_CLOSED')
    await rejectsWith(store.getBlock(1), 'STORE_CLOSED')

    store = await BlockStore.open(dir, storeOptions(t))
    try {
      const head = store.head()
      assert.equal(head.height, 5)
      assert.ok(bytesEqual(head.hash, blockHash(items[4].block)))
      assert.equal(head.slot, slotOf(5))
      for (const c of items) {
        const h = c.block.height
        assert.deepEqual(await store.getBlock(h), c.block)
        assert.deepEqual(await store.getEncodedBlock(h), encodeBlock(c.block))
        assert.deepEqual(await store.getCertificate(h), c.cert)
        assert.equal(await store.getHeightByHash(blockHash(c.block)), h)
        assert.deepEqual(await store.heightsBySlot(c.block.slot, c.block.slot), [{ slot: c.block.slot, height: h }])
      }
      assert.equal(await store.getHeightByHash(new Uint8Array(32)), null)
      assert.deepEqual(await store.getReputationState(), { height: 5, vector: items[4].block.reputation.vector, opinionHeight: 4 })
      const ch = await store.chainHead([1, 2, 3, 4])
      assert.equal(ch.height, 5)
      assert.deepEqual(ch.reputation, items[4].block.reputation.vector)
      assert.deepEqual(ch.cert, items[4].cert)
      assert.deepEqual(await store.verifyStore(), { height: 5, blocks: 5 })
      // it goes on from where it stopped
      await store.commit(chain[5].block, chain[5].cert)
      assert.equal(store.head().height, 6)
    } finally {
      await store.close()
    }
  })

  it('stores a reputation state given with the block', async () => {
    const store = await BlockStore.open(freshDir(), storeOptions(t))
    try {
      await store.commit(chain[0].block, chain[0].cert, { height: 1, vector: [9, 8, 7, 6], opinionHeight: 0 })
      assert.deepEqual(await store.getReputationState(), { height: 1, vector: [9, 8, 7, 6], opinionHeight: 0 })
      await rejectsWith(
        store.commit(chain[1].block, chain[1].cert, { height: 1, vector: [1, 1, 1, 1], opinionHeight: 0 }),
        'BAD_REPUTATION_STATE'
      )
    } finally {
      await store.close()
    }
  })

  it('refuses a wrong block with a typed error and writes nothing', async () => {
    const dir = freshDir()
    const store = await BlockStore.open(dir, storeOptions(t))
    await commitAll(store, chain.slice(0, 3))
    const head = store.head()
    const b4 = chain[3].block
    const other = makeBlock(t, 4, head.hash, { timestampMs: 42 }) // another block for height 4
    const cases: [string, () => Promise<unknown>, StoreErrorCode][] = [
      ['height already stored', () => store.commit(chain[2].block, chain[2].cert), 'WRONG_HEIGHT'],
      ['height skips one', () => store.commit(chain[4].block, chain[4].cert), 'WRONG_HEIGHT'],
      ['wrong prevHash', () => store.commit({ ...b4, prevHash: new Uint8Array(32).fill(7) }, chain[3].cert), 'WRONG_PARENT'],
      [
        'slot not after the head',
        () => store.commit(makeBlock(t, 4, head.hash, { slot: head.slot }), chain[3].cert),
        'SLOT_NOT_INCREASING'
      ],
      ['too few signers', () => store.commit(b4, certify(t, b4, [1, 2])), 'BAD_CERTIFICATE'],
      ['certificate for another block', () => store.commit(b4, certify(t, other)), 'BAD_CERTIFICATE'],
      ['certificate of another height', () => store.commit(b4, chain[2].cert), 'BAD_CERTIFICATE'],
      ['certificate from another view than signed', () => store.commit(b4, { ...chain[3].cert, view: 1 }), 'BAD_CERTIFICATE'],
      ['malformed signer bitmap', () => store.commit(b4, { ...chain[3].cert, signers: new Uint8Array([0xff]) }), 'BAD_CERTIFICATE'],
      ['oversized', () => store.commit(makeBlock(t, 4, head.hash, { opinions: [new Uint8Array(60_000)] }), chain[3].cert), 'OVERSIZED'],
      ['unencodable field', () => store.commit({ ...b4, timestampMs: 1.5 }, chain[3].cert), 'MALFORMED'],
      [
        'undecodable field',
        () => store.commit({ ...b4, election: { ...b4.election, theta: new Uint8Array(5) } }, chain[3].cert),
        'MALFORMED'
      ]
    ]
    // a bad signature: the bitmap names 1, 2, 3, but the aggregate holds 1, 2, 4
    const forged = { ...certify(t, b4, [1, 2, 4]), signers: certify(t, b4, [1, 2, 3]).signers }
    cases.push(['bad aggregate signature', () => store.commit(b4, forged), 'BAD_CERTIFICATE'])
    // one vote in the aggregate signed another payload (another view)
    const d4 = blockHash(b4)
    const votes = [1, 2, 3].map((node) => ({
      node,
      signature: sign(t.signers[node - 1], voteDomain('commit'), votePayload(4, node === 3 ? 1 : 0, d4))
    }))
    cases.push(['one forged vote', () => store.commit(b4, makeCertificate(4, 0, votes, M)), 'BAD_CERTIFICATE'])
    // prepare votes are not commit votes
    const prepares = [1, 2, 3].map((node) => ({ node, signature: sign(t.signers[node - 1], voteDomain('prepare'), votePayload(4, 0, d4)) }))
    cases.push(['prepare votes', () => store.commit(b4, makeCertificate(4, 0, prepares, M)), 'BAD_CERTIFICATE'])
    const before = await Promise.all([store.verifyStore(), store.getReputationState()])
    for (const [name, attempt, code] of cases) {
      const e = await rejectsWith(attempt(), code)
      assert.ok(isCommitRefusal(e), name)
    }
    assert.deepEqual(store.head(), head)
    assert.deepEqual(await Promise.all([store.verifyStore(), store.getReputationState()]), before)
    await store.close()
    const keysAfterRefusals = await rawKeys(dir)
    // 3 blocks x 4 per-block records + head + reputation + 2 meta
    assert.equal(keysAfterRefusals.length, 3 * 4 + 4)
    // and the right block still goes in
    const again = await BlockStore.open(dir, storeOptions(t))
    try {
      await again.commit(chain[3].block, chain[3].cert)
      assert.equal(again.head().height, 4)
    } finally {
      await again.close()
    }
  })

  it('refuses a store of another genesis, another schema version, or unknown data', async () => {
    const dir = freshDir()
    const store = await BlockStore.open(dir, storeOptions(t))
    await commitAll(store, chain.slice(0, 2))
    await store.close()
    const otherGenesis = new Uint8Array(32).fill(1)
    const e = await rejectsWith(BlockStore.open(dir, storeOptions(t, { genesisHash: otherGenesis })), 'GENESIS_MISMATCH')
    assert.match(e.message, /belongs to genesis/)

    const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.put(metaKey('version'), u32be(SCHEMA_VERSION + 1))
    await db.close()
    const v = await rejectsWith(BlockStore.open(dir, storeOptions(t)), 'SCHEMA_MISMATCH')
    assert.match(v.message, new RegExp(`schema version ${SCHEMA_VERSION + 1}`))

    const foreign = freshDir()
    const db2 = new Level<Uint8Array, Uint8Array>(foreign, { keyEncoding: 'view', valueEncoding: 'view' })
    await db2.put(new Uint8Array([0x42]), new Uint8Array([1]))
    await db2.close()
    await rejectsWith(BlockStore.open(foreign, storeOptions(t)), 'SCHEMA_MISMATCH')
  })

  /** A store of two blocks that then lost these meta records. */
  const storeLosing = async (...names: ('version' | 'genesis')[]) => {
    const dir = freshDir()
    const store = await BlockStore.open(dir, storeOptions(t))
    await commitAll(store, chain.slice(0, 2))
    await store.close()
    const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
    for (const name of names) await db.del(metaKey(name))
    await db.close()
    return dir
  }

  it('calls a store whose genesis hash was lost damaged, not foreign', async () => {
    const dir = await storeLosing('genesis')
    const e = await rejectsWith(BlockStore.open(dir, storeOptions(t)), 'STORE_CORRUPT')
    assert.match(e.message, /is damaged: its genesis hash is missing.*move it away/)
  })

  it('calls a store whose version record was lost damaged, not foreign (a foreign store stays refused as such)', async () => {
    const dir = await storeLosing('version', 'genesis')
    const e = await rejectsWith(BlockStore.open(dir, storeOptions(t)), 'STORE_CORRUPT')
    assert.match(e.message, /is damaged: its schema version is missing.*move it away/)
  })

  it('refuses a second open of the same directory while it is open', async () => {
    const dir = freshDir()
    const store = await BlockStore.open(dir, storeOptions(t))
    try {
      await rejectsWith(BlockStore.open(dir, storeOptions(t)), 'STORE_LOCKED')
    } finally {
      await store.close()
    }
  })

  it('reports an unusable directory as a typed error', async () => {
    // a path under a regular file cannot be a directory (fails even as root)
    const file = freshDir()
    const db = new Level<Uint8Array, Uint8Array>(file, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    await db.close()
    const e = await rejectsWith(BlockStore.open(join(file, 'CURRENT', 'x'), storeOptions(t)), 'STORE_IO')
    assert.match(e.message, /cannot be created or written \(ENOTDIR\)/)
  })

  it('finds an inconsistent store at open', async () => {
    const cases: [string, (db: Level<Uint8Array, Uint8Array>) => Promise<void>][] = [
      ['hash index of the head missing', (db) => db.del(bytesKey(BUCKET.heightByHash, blockHash(chain[2].block)))],
      ['head block missing', (db) => db.del(numberKey(BUCKET.block, 3))],
      ['head certificate missing', (db) => db.del(numberKey(BUCKET.certificate, 3))],
      ['head certificate of another block', (db) => db.put(numberKey(BUCKET.certificate, 3), encodeCertificate(chain[1].cert))],
      ['slot index of the head missing', (db) => db.del(numberKey(BUCKET.heightBySlot, slotOf(3)))],
      ['head record missing', (db) => db.del(singletonKey(BUCKET.head))],
      ['reputation state missing', (db) => db.del(singletonKey(BUCKET.reputation))],
      ['a block above the head', (db) => db.put(numberKey(BUCKET.block, 4), encodeBlock(chain[3].block))]
    ]
    for (const [name, damage] of cases) {
      const dir = freshDir()
      const store = await BlockStore.open(dir, storeOptions(t))
      await commitAll(store, chain.slice(0, 3))
      await store.close()
      const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
      await damage(db)
      await db.close()
      const e = await rejectsWith(BlockStore.open(dir, storeOptions(t)), 'STORE_CORRUPT')
      assert.match(e.message, /is damaged: .*; move it away \(mv .*\.damaged\) and start again/, name)
    }
  })

  it('finds a broken index below the head with verifyStore', async () => {
    const dir = freshDir()
    let store = await BlockStore.open(dir, storeOptions(t))
    await commitAll(store, chain.slice(0, 4))
    await store.close()
    const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.del(numberKey(BUCKET.heightBySlot, slotOf(2)))
    await db.close()
    // Opening checks the newest blocks: the damage is found at once.
    const atOpen = await rejectsWith(BlockStore.open(dir, storeOptions(t)), 'STORE_CORRUPT')
    assert.match(atOpen.message, /slot index entry of block 2/)
    store = await BlockStore.open(dir, storeOptions(t, { recentCheck: 1 })) // the head is fine
    try {
      const e = await rejectsWith(store.verifyStore(), 'STORE_CORRUPT')
      assert.match(e.message, /slot index entry of block 2/)
    } finally {
      await store.close()
    }
  })

  it('surfaces a failed write as STORE_IO and leaves the store as it was', async () => {
    const dir = freshDir()
    const store = await BlockStore.open(dir, storeOptions(t))
    try {
      await commitAll(store, chain.slice(0, 2))
      const head = store.head()
      // Simulate the disk filling up under LevelDB: the batch fails as classic-level reports it.
      const db = (store as unknown as { db: { batch: (...a: unknown[]) => Promise<void> } }).db
      const real = db.batch
      db.batch = async () => {
        throw Object.assign(new Error('IO error: /x/000005.log: No space left on device'), { code: 'LEVEL_IO_ERROR' })
      }
      const e = await rejectsWith(store.commit(chain[2].block, chain[2].cert), 'STORE_IO')
      assert.match(e.message, /writing block 3 failed: IO error: .*No space left on device/)
      assert.equal(isCommitRefusal(e), false)
      await rejectsWith(store.putConsensusLog({ height: 3, view: 0, phase: 'prepare', digest: new Uint8Array(32) }), 'STORE_IO')
      db.batch = real
      assert.deepEqual(store.head(), head)
      assert.equal(await store.getBlock(3), null)
      assert.deepEqual(await store.verifyStore(), { height: 2, blocks: 2 })
      await store.commit(chain[2].block, chain[2].cert)
      assert.equal(store.head().height, 3)
    } finally {
      await store.close()
    }
  })

  it('serialises concurrent commits: only the one on top of the head goes in', async () => {
    const store = await BlockStore.open(freshDir(), storeOptions(t))
    try {
      const results = await Promise.allSettled([
        store.commit(chain[0].block, chain[0].cert),
        store.commit(chain[0].block, chain[0].cert),
        store.commit(chain[1].block, chain[1].cert)
      ])
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled']
      )
      assert.equal(store.head().height, 2)
    } finally {
      await store.close()
    }
  })

  it('notices blocks lost from a log cut short, and refuses a directory whose CURRENT is gone without touching it', async () => {
    const dir = freshDir()
    let store = await BlockStore.open(dir, storeOptions(t))
    await commitAll(store, chain.slice(0, 6))
    await store.close()
    // The newest writes are still in LevelDB's log: cut it short, as a failing disk would.
    const log = readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .sort()
      .at(-1) as string
    const size = statSync(join(dir, log)).size
    truncateSync(join(dir, log), Math.floor(size / 2))
    store = await BlockStore.open(dir, storeOptions(t))
    const head = store.head().height
    assert.ok(head < 6, `the store went back (to ${head})`)
    assert.deepEqual(store.lostBlocks(), { from: head + 1, to: 6 })
    await store.commit(chain[head].block, chain[head].cert)
    await store.close()

    const before = readdirSync(dir).sort()
    rmSync(join(dir, 'CURRENT'))
    const e = await rejectsWith(BlockStore.open(dir, storeOptions(t)), 'STORE_CORRUPT')
    assert.match(e.message, /CURRENT file is missing \(nothing was changed\); move it away/)
    assert.deepEqual(
      readdirSync(dir).sort(),
      before.filter((f) => f !== 'CURRENT'),
      'no file was removed or added'
    )
  })

  it('keeps the consensus log across a reopen', async () => {
    const dir = freshDir()
    let store = await BlockStore.open(dir, storeOptions(t))
    assert.equal(await store.getConsensusLog(), null)
    const prepare: SignedRecord = { height: 7, view: 2, phase: 'prepare', digest: new Uint8Array(32).fill(9) }
    await store.putConsensusLog(prepare)
    await store.close()
    store = await BlockStore.open(dir, storeOptions(t))
    assert.deepEqual(await store.getConsensusLog(), prepare)
    const viewChange: SignedRecord = { height: 7, view: 3, phase: 'viewchange', digest: null }
    await store.putConsensusLog(viewChange)
    await store.close()
    store = await BlockStore.open(dir, storeOptions(t))
    try {
      assert.deepEqual(await store.getConsensusLog(), viewChange)
      await assert.rejects(store.putConsensusLog({ ...prepare, digest: new Uint8Array(3) }), { code: 'MALFORMED' })
      assert.deepEqual(await store.getConsensusLog(), viewChange)
    } finally {
      await store.close()
    }
  })

  it('reads ranges and slots in order, bounded', async () => {
    const store = await BlockStore.open(freshDir(), storeOptions(t))
    try {
      await commitAll(store, chain)
      const heights = (xs: { height: number }[]) => xs.map((x) => x.height)
      assert.deepEqual(heights(await store.getRange(3, 7)), [3, 4, 5, 6, 7])
      assert.deepEqual(heights(await store.getRange(3, 70, 4)), [3, 4, 5, 6])
      assert.equal((await store.getRange(1, 1000)).length, MAX_RANGE)
      assert.deepEqual(
        heights(await store.getRange(1, 1000)),
        Array.from({ length: MAX_RANGE }, (_, i) => i + 1)
      )
      assert.equal((await store.getRange(1, 1000, 10_000)).length, MAX_RANGE)
      assert.deepEqual(heights(await store.getRange(68, 1000)), [68, 69, 70])
      assert.deepEqual(await store.getRange(8, 7), [])
      assert.deepEqual(await store.getRange(71, 80), [])
      assert.deepEqual(await store.getRange(3, 5, 0), [])
      const range = await store.getRange(10, 12)
      for (const s of range) {
        assert.deepEqual(s.block, chain[s.height - 1].block)
        assert.deepEqual(s.cert, chain[s.height - 1].cert)
        assert.ok(bytesEqual(s.hash, blockHash(s.block)))
      }
      await assert.rejects(store.getRange(-1, 3), RangeError)

      // slots are 3h + 10: slots 13..40 hold heights 1..10, every third slot
      assert.deepEqual(await store.heightsBySlot(13, 22), [
        { slot: 13, height: 1 },
        { slot: 16, height: 2 },
        { slot: 19, height: 3 },
        { slot: 22, height: 4 }
      ])
      assert.deepEqual(await store.heightsBySlot(14, 15), [])
      assert.deepEqual(heights(await store.heightsBySlot(0, Number.MAX_SAFE_INTEGER, 3)), [1, 2, 3])
      assert.equal((await store.heightsBySlot(0, Number.MAX_SAFE_INTEGER)).length, MAX_RANGE)
      const bySlot = await store.blocksBySlot(20, 30)
      assert.deepEqual(heights(bySlot), [4, 5, 6])
      assert.deepEqual(
        bySlot.map((s) => s.block.aggregate.sum),
        [4n, 5n, 6n].map((h) => h * 1234n - 50n)
      )
      assert.deepEqual(await store.verifyStore(), { height: 70, blocks: 70 })
    } finally {
      await store.close()
    }
  })

  it('checks its options', async () => {
    await assert.rejects(BlockStore.open(freshDir(), storeOptions(t, { quorum: M + 1 })), RangeError)
    await assert.rejects(BlockStore.open(freshDir(), storeOptions(t, { genesisHash: new Uint8Array(5) })), RangeError)
  })
})
