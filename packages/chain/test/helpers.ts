/**
 * Test chains with real BLS: M = 4 consensus keys from a seed, blocks with well-formed (dummy but
 * real-signature) aggregate and election fields, and commit certificates made of real commit
 * votes (PROTOCOL 4.2 step 5), exactly as the replica makes them.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DOMAIN, SeededRng, utf8 } from '@bbnp/core'
import { blockHash, makeCertificate, maxBlockBytes, voteDomain, votePayload } from '@bbnp/consensus'
import { decodePublicKey, type PublicKey, publicKeyFromScalar, randomScalar, type SecretKey, secretKeyFromScalar, sign } from '@bbnp/crypto'
import type { Block, CommitCertificate, StoreOptions } from '../src/index.ts'

export const M = 4
export const QUORUM = 3 // 2f+1 with f = 1
export const METERS = 5
export const MAX_BLOCK_BYTES = maxBlockBytes(M, METERS)

export interface TestChain {
  genesisHash: Uint8Array
  signers: SecretKey[]
  keys: PublicKey[]
  dummySig: Uint8Array
}

export function testChain(seed = 'chain-test'): TestChain {
  const rng = new SeededRng(seed)
  const signers: SecretKey[] = []
  const keys: PublicKey[] = []
  for (let j = 1; j <= M; j++) {
    const s = randomScalar(rng)
    signers.push(secretKeyFromScalar(s))
    keys.push(decodePublicKey(publicKeyFromScalar(s)))
  }
  return { genesisHash: rng.bytes(32), signers, keys, dummySig: sign(signers[0], DOMAIN.aggregate, utf8(seed)) }
}

export function storeOptions(t: TestChain, overrides: Partial<StoreOptions> = {}): StoreOptions {
  return { genesisHash: t.genesisHash, keys: t.keys, quorum: QUORUM, maxBlockBytes: MAX_BLOCK_BYTES, ...overrides }
}

/** Slot of block h in test chains: not equal to h, so slot and height indexes differ. */
export function slotOf(height: number): number {
  return 3 * height + 10
}

export function makeBlock(t: TestChain, height: number, prevHash: Uint8Array, changes: Partial<Block> = {}): Block {
  const slot = changes.slot ?? slotOf(height)
  return {
    height,
    prevHash,
    slot,
    aggregate: {
      slot,
      fromSlot: slot,
      status: 'complete',
      sum: BigInt(height) * 1234n - 50n,
      count: METERS,
      missing: new Uint8Array(0),
      reason: '',
      endorsement: { signers: new Uint8Array([7]), signature: t.dummySig },
      faulty: new Uint8Array(0),
      signature: t.dummySig
    },
    primary: 1 + (height % M),
    view: 0,
    election: { theta: t.dummySig, draws: [{ node: 1, signature: t.dummySig }] },
    reputation: { vector: [500 + height, 500, 500, 500], opinionHeight: Math.max(0, height - 1) },
    opinions: [],
    prevCert: null,
    timestampMs: 1_700_000_000_000 + height * 1000,
    ...changes
  }
}

/** A certificate of real commit votes by `nodes` (1-based) on `block`. */
export function certify(t: TestChain, block: Block, nodes: number[] = [1, 2, 3], view = 0): CommitCertificate {
  const digest = blockHash(block)
  const votes = nodes.map((node) => ({
    node,
    signature: sign(t.signers[node - 1], voteDomain('commit'), votePayload(block.height, view, digest))
  }))
  return makeCertificate(block.height, view, votes, M)
}

export interface Certified {
  block: Block
  cert: CommitCertificate
}

/** Blocks from+1 .. from+n on top of (height from, hash prevHash), each certified by 3 of 4 nodes. */
export function buildChain(
  t: TestChain,
  n: number,
  from = 0,
  prevHash = t.genesisHash,
  prevCert: CommitCertificate | null = null
): Certified[] {
  const out: Certified[] = []
  let prev = prevHash
  let pc = prevCert
  for (let h = from + 1; h <= from + n; h++) {
    const block = makeBlock(t, h, prev, { prevCert: pc })
    // rotate the signer set so certificates differ in their bitmaps
    const cert = certify(t, block, h % 2 === 0 ? [1, 2, 3] : [2, 3, 4])
    out.push({ block, cert })
    prev = blockHash(block)
    pc = cert
  }
  return out
}

export async function tempDir(prefix = 'bbnp-chain-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, remove: () => rm(path, { recursive: true, force: true }) }
}
