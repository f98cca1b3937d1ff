import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { BbnpError, bytesEqual, decodeCanonical, encodeCanonical } from '@bbnp/core'
import { encode as cborEncode } from 'cborg'
import {
  BlockStore,
  blockHash,
  decodeBlockFrame,
  decodeBlocksRequest,
  decodeStatus,
  encodeBlock,
  encodeBlockFrame,
  encodeBlocksRequest,
  encodeCertificate,
  encodeStatus,
  MAX_SYNC_COUNT,
  maxBlockFrameBytes,
  nextBlocksRequest,
  type SyncErrorCode,
  serveBlocks,
  statusOf,
  verifySyncedBlocks
} from '../src/index.ts'
import { buildChain, type Certified, certify, MAX_BLOCK_BYTES, makeBlock, QUORUM, storeOptions, tempDir, testChain } from './helpers.ts'

const t = testChain('sync-test')
let root: { path: string; remove: () => Promise<void> }
let chain: Certified[]
let server: BlockStore
let n = 0
const freshDir = () => join(root.path, `store-${n++}`)

before(async () => {
  root = await tempDir()
  chain = buildChain(t, 70)
  server = await BlockStore.open(freshDir(), storeOptions(t))
  for (const c of chain) await server.commit(c.block, c.cert)
})
after(async () => {
  await server?.close()
  await root.remove()
})

function verify(frames: Uint8Array[], from: number, prevHash: Uint8Array) {
  return verifySyncedBlocks(frames, from, prevHash, t.keys, QUORUM, MAX_BLOCK_BYTES)
}

function expectFailure(frames: Uint8Array[], from: number, prevHash: Uint8Array, code: SyncErrorCode, index: number): void {
  const r = verify(frames, from, prevHash)
  assert.ok(r.error, `expected ${code}`)
  assert.equal(r.error.code, code, r.error.message)
  assert.equal(r.error.index, index)
  assert.equal(r.blocks.length, index, 'only the frames before the bad one are returned')
}

function decodeFails(f: () => unknown, code: 'MALFORMED' | 'OVERSIZED'): void {
  assert.throws(f, (e: unknown) => e instanceof BbnpError && e.code === code)
}

describe('block sync', () => {
  it('serves a range that a second store verifies and stores, until both are identical', async () => {
    const client = await BlockStore.open(freshDir(), storeOptions(t))
    try {
      let rounds = 0
      for (;;) {
        // status over the wire, then a request over the wire, as a client and server would
        const status = decodeStatus(encodeStatus(statusOf(server)))
        const req = nextBlocksRequest(client.head(), client.genesisHash, status)
        if (!req) break
        const frames = await serveBlocks(server, decodeBlocksRequest(encodeBlocksRequest(req)))
        assert.ok(frames.length <= MAX_SYNC_COUNT)
        for (const f of frames) assert.ok(f.length <= maxBlockFrameBytes(MAX_BLOCK_BYTES))
        const head = client.head()
        const r = verify(frames, head.height + 1, head.hash)
        assert.equal(r.error, null)
        assert.equal(r.blocks.length, frames.length)
        for (const b of r.blocks) await client.commit(b.block, b.cert)
        rounds++
      }
      assert.equal(rounds, 2) // 64 + 6
      assert.deepEqual(client.head(), server.head())
      assert.deepEqual(statusOf(client), statusOf(server))
      for (let h = 1; h <= 70; h++) {
        assert.deepEqual(await client.getEncodedBlock(h), await server.getEncodedBlock(h))
        assert.deepEqual(await client.getCertificate(h), await server.getCertificate(h))
      }
      assert.deepEqual(await client.getReputationState(), await server.getReputationState())
      assert.deepEqual(await client.heightsBySlot(0, 1000), await server.heightsBySlot(0, 1000))
      assert.deepEqual(await client.verifyStore(), { height: 70, blocks: 70 })
    } finally {
      await client.close()
    }
  })

  it('serves nothing above the head and stops at the head', async () => {
    assert.deepEqual(await serveBlocks(server, { from: 71, count: 5 }), [])
    assert.equal((await serveBlocks(server, { from: 68, count: 10 })).length, 3)
    assert.equal((await serveBlocks(server, { from: 1, count: 1000 })).length, MAX_SYNC_COUNT)
  })

  it('refuses tampered frames, and stores nothing from the bad frame on', async () => {
    const frames = await serveBlocks(server, { from: 1, count: 5 })
    const g = t.genesisHash
    // block bytes changed: another sum under the same certificate
    const f2 = decodeBlockFrame(frames[2], MAX_BLOCK_BYTES)
    const changed = encodeBlock({ ...chain[2].block, aggregate: { ...chain[2].block.aggregate, sum: 999n } })
    expectFailure([frames[0], frames[1], encodeBlockFrame(changed, f2.certBytes), frames[3]], 1, g, 'BAD_CERTIFICATE', 2)
    // one byte of the block flipped inside the frame
    const flipped = new Uint8Array(f2.encoded)
    flipped[flipped.length - 3] ^= 0x01
    const flippedResult = verify([frames[0], frames[1], encodeBlockFrame(flipped, f2.certBytes)], 1, g)
    assert.ok(flippedResult.error && ['BAD_CERTIFICATE', 'MALFORMED', 'NOT_CANONICAL'].includes(flippedResult.error.code))
    assert.equal(flippedResult.blocks.length, 2)
    // certificate swapped with the next block's
    const f3 = decodeBlockFrame(frames[3], MAX_BLOCK_BYTES)
    expectFailure([frames[0], frames[1], encodeBlockFrame(f2.encoded, f3.certBytes)], 1, g, 'BAD_CERTIFICATE', 2)
    // certificate of another block at the same height (a valid certificate, wrong digest)
    const other = makeBlock(t, 3, blockHash(chain[1].block), { timestampMs: 1 })
    expectFailure([frames[0], frames[1], encodeBlockFrame(f2.encoded, encodeCertificate(certify(t, other)))], 1, g, 'BAD_CERTIFICATE', 2)
    // a certificate with too few signers
    expectFailure(
      [encodeBlockFrame(encodeBlock(chain[0].block), encodeCertificate(certify(t, chain[0].block, [1, 2])))],
      1,
      g,
      'BAD_CERTIFICATE',
      0
    )
    // a gap in heights
    expectFailure([frames[0], frames[1], frames[3]], 1, g, 'WRONG_HEIGHT', 2)
    // a different starting point than asked for
    expectFailure(frames, 2, blockHash(chain[0].block), 'WRONG_HEIGHT', 0)
    // not on top of our head
    expectFailure(frames, 1, new Uint8Array(32).fill(3), 'WRONG_PARENT', 0)
    // a fork: a valid, certified block 2 that does not extend block 1
    const fork = makeBlock(t, 2, new Uint8Array(32).fill(5))
    expectFailure([frames[0], encodeBlockFrame(encodeBlock(fork), encodeCertificate(certify(t, fork)))], 1, g, 'WRONG_PARENT', 1)
    // garbage, wrong shape, oversized, non-canonical, too many
    expectFailure([frames[0], new Uint8Array([0xff, 0x00, 0x13])], 1, g, 'MALFORMED', 1)
    expectFailure([encodeCanonical({ block: f2.encoded })], 1, g, 'MALFORMED', 0)
    expectFailure([new Uint8Array(maxBlockFrameBytes(MAX_BLOCK_BYTES) + 1)], 1, g, 'OVERSIZED', 0)
    // the same block with its map keys in another order: decodes, but only one encoding hashes to Bd
    const reordered = reorderKeys(encodeBlock(chain[0].block))
    expectFailure([encodeBlockFrame(reordered, encodeCertificate(chain[0].cert))], 1, g, 'NOT_CANONICAL', 0)
    expectFailure([encodeBlockFrame(encodeBlock(chain[0].block), reorderKeys(encodeCertificate(chain[0].cert)))], 1, g, 'NOT_CANONICAL', 0)
    // an extra field in the block
    const extra = encodeCanonical({ ...(decodeCanonical(encodeBlock(chain[0].block), { maxBytes: MAX_BLOCK_BYTES }) as object), z: 0 })
    expectFailure([encodeBlockFrame(extra, encodeCertificate(chain[0].cert))], 1, g, 'MALFORMED', 0)
    const tooMany = [
      ...(await serveBlocks(server, { from: 1, count: MAX_SYNC_COUNT })),
      ...(await serveBlocks(server, { from: MAX_SYNC_COUNT + 1, count: 1 }))
    ]
    expectFailure(tooMany, 1, g, 'TOO_MANY_FRAMES', MAX_SYNC_COUNT)
    // the good prefix of a refused batch still stores cleanly
    const client = await BlockStore.open(freshDir(), storeOptions(t))
    try {
      const r = verify([frames[0], frames[1], frames[3]], 1, g)
      for (const b of r.blocks) await client.commit(b.block, b.cert)
      assert.equal(client.head().height, 2)
      assert.ok(bytesEqual(client.head().hash, blockHash(chain[1].block)))
      assert.deepEqual(await client.verifyStore(), { height: 2, blocks: 2 })
    } finally {
      await client.close()
    }
  })

  it('decodes block requests defensively', () => {
    assert.deepEqual(decodeBlocksRequest(encodeBlocksRequest({ from: 5, count: 64 })), { from: 5, count: 64 })
    decodeFails(() => decodeBlocksRequest(encodeCanonical({ from: 0, count: 1 })), 'MALFORMED')
    decodeFails(() => decodeBlocksRequest(encodeCanonical({ from: 1, count: 0 })), 'MALFORMED')
    decodeFails(() => decodeBlocksRequest(encodeCanonical({ from: 1, count: 65 })), 'MALFORMED')
    decodeFails(() => decodeBlocksRequest(encodeCanonical({ from: 1, count: 1, more: 1 })), 'MALFORMED')
    decodeFails(() => decodeBlocksRequest(encodeCanonical({ from: -1, count: 1 })), 'MALFORMED')
    decodeFails(() => decodeBlocksRequest(encodeCanonical({ from: 2n ** 64n - 1n, count: 1 })), 'MALFORMED')
    decodeFails(() => decodeBlocksRequest(encodeCanonical([1, 2])), 'MALFORMED')
    decodeFails(() => decodeBlocksRequest(new Uint8Array([0xa2, 0x64])), 'MALFORMED')
    // a non-minimal integer (0x18 0x05 for 5) is not canonical
    decodeFails(
      () => decodeBlocksRequest(new Uint8Array([0xa2, 0x64, 0x66, 0x72, 0x6f, 0x6d, 0x18, 0x05, 0x65, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x01])),
      'MALFORMED'
    )
    decodeFails(() => decodeBlocksRequest(new Uint8Array(65)), 'OVERSIZED')
    assert.throws(() => encodeBlocksRequest({ from: 1, count: 65 }), RangeError)
  })

  it('encodes and decodes the status payload', async () => {
    const s = statusOf(server)
    assert.equal(s.height, 70)
    assert.equal(s.latestSlot, chain[69].block.slot)
    assert.deepEqual(decodeStatus(encodeStatus(s)), s)
    const empty = await BlockStore.open(freshDir(), storeOptions(t))
    try {
      const g = statusOf(empty)
      assert.deepEqual(g, { genesisHash: t.genesisHash, height: 0, headHash: t.genesisHash, latestSlot: -1 })
      assert.deepEqual(decodeStatus(encodeStatus(g)), g)
      assert.deepEqual(nextBlocksRequest(empty.head(), empty.genesisHash, s), { from: 1, count: 64 })
      assert.equal(nextBlocksRequest(empty.head(), empty.genesisHash, { ...s, genesisHash: new Uint8Array(32) }), null)
      assert.equal(nextBlocksRequest(server.head(), server.genesisHash, s), null)
    } finally {
      await empty.close()
    }
    decodeFails(() => decodeStatus(encodeStatus({ ...s, latestSlot: -1 })), 'MALFORMED')
    decodeFails(() => decodeStatus(encodeStatus({ ...s, height: 0 })), 'MALFORMED')
    decodeFails(() => decodeStatus(encodeStatus({ ...s, latestSlot: -2 })), 'MALFORMED')
    decodeFails(() => decodeStatus(encodeStatus({ ...s, headHash: new Uint8Array(31) })), 'MALFORMED')
    decodeFails(() => decodeStatus(new Uint8Array(500)), 'OVERSIZED')
  })
})

/** Re-encode a canonical CBOR map with its top-level keys in reverse order (valid CBOR, not canonical). */
function reorderKeys(bytes: Uint8Array): Uint8Array {
  const map = decodeCanonical(bytes, { maxBytes: MAX_BLOCK_BYTES }) as Record<string, unknown>
  const reversed = Object.fromEntries(Object.entries(map).reverse())
  return cborEncode(reversed, { mapSorter: () => 0 })
}
