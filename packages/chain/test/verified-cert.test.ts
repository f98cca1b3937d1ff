import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { DOMAIN, SeededRng } from '@bbnp/core'
import { blockHash, type Block, makeCertificate, votePayload } from '@bbnp/consensus'
import { decodePublicKey, randomScalar, secretKeyFromScalar, sign } from '@bbnp/crypto'
import { BlockStore } from '../src/index.ts'

describe('store: a certificate the replica assembled from verified votes', () => {
  it('is stored without a second pairing check, but still refused with too few signers or for another height', async () => {
    const rng = new SeededRng('verified-cert')
    const sks = Array.from({ length: 4 }, () => secretKeyFromScalar(randomScalar(rng)))
    const keys = sks.map((sk) => decodePublicKey(sk.toPublicKey().toBytes()))
    const genesisHash = new Uint8Array(32).fill(3)
    const dir = mkdtempSync(join(tmpdir(), 'bbnp-verified-cert-'))
    const store = await BlockStore.open(dir, { genesisHash, keys, quorum: 3, maxBlockBytes: 1 << 16 })
    try {
      const sig = sign(sks[0], 'x', new Uint8Array(1))
      const block: Block = {
        height: 1,
        prevHash: genesisHash,
        slot: 5,
        aggregate: {
          slot: 5,
          fromSlot: 5,
          status: 'complete',
          sum: 10n,
          count: 3,
          missing: new Uint8Array(0),
          reason: '',
          endorsement: { signers: new Uint8Array([7]), signature: sig },
          faulty: new Uint8Array(0),
          signature: sig
        },
        primary: 1,
        view: 0,
        election: { theta: sig, draws: [] },
        reputation: { vector: [1, 1, 1, 1], opinionHeight: 0 },
        opinions: [],
        prevCert: null,
        timestampMs: 1
      }
      const digest = blockHash(block)
      const votes = (nodes: number[]) =>
        nodes.map((n) => ({ node: n, signature: sign(sks[n - 1], DOMAIN.commit, votePayload(1, 0, digest)) }))
      await assert.rejects(store.commit(block, makeCertificate(1, 0, votes([1, 2]), 4), undefined, { certificateVerified: true }), {
        code: 'BAD_CERTIFICATE'
      })
      await assert.rejects(
        store.commit(block, { ...makeCertificate(1, 0, votes([1, 2, 3]), 4), height: 2 }, undefined, { certificateVerified: true }),
        { code: 'BAD_CERTIFICATE' }
      )
      const head = await store.commit(block, makeCertificate(1, 0, votes([1, 2, 3]), 4), undefined, { certificateVerified: true })
      assert.equal(head.height, 1)
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
