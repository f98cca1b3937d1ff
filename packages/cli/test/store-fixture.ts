/**
 * A network configuration (as `bbnp setup` writes it, seeded) and a consensus peer's store of it
 * with real certificates by the genesis keys, for the offline commands (export, verify). The
 * chain holds every kind of slot: complete, incomplete with missing meters, and a missed range.
 */
import { join } from 'node:path'
import { DOMAIN, utf8 } from '@bbnp/core'
import { type Block, BlockStore, blockHash, type CommitCertificate } from '@bbnp/chain'
import type { AggregateStatus } from '@bbnp/consensus'
import { sign } from '@bbnp/crypto'
import { blockStoreOptions, createNetwork, defaultReputationParams, type Genesis, loadGenesis, loadKey, writeNetwork } from '@bbnp/node'
import { certify, makeBlock, type TestChain } from '../../chain/test/helpers.ts'

/** 2026-01-01T00:00:00Z, 15-minute slots: slot s starts at s * 15 minutes past midnight. */
export const GENESIS_TIME_MS = Date.UTC(2026, 0, 1)
export const PERIOD_MS = 900_000
export const METERS = 5
export const NODES = 4

export interface Fixture {
  configDir: string
  genesis: Genesis
  chain: TestChain
}

export async function makeConfig(dir: string, seed = 'cli-store'): Promise<Fixture> {
  const configDir = join(dir, 'net')
  const network = await createNetwork({
    meters: METERS,
    consensus: NODES,
    periodMs: PERIOD_MS,
    host: '127.0.0.1',
    basePort: 7100,
    seed,
    devnet: true,
    genesisTimeMs: GENESIS_TIME_MS,
    candidates: 4,
    reputation: defaultReputationParams()
  })
  writeNetwork(configDir, network, { force: false })
  const genesis = loadGenesis(configDir)
  const signers = genesis.consensus.map((c) => loadKey(configDir, c.id, genesis).blsKey!)
  const chain: TestChain = {
    genesisHash: genesis.hash,
    signers,
    keys: genesis.consensus.map((c) => c.verificationKey),
    dummySig: sign(signers[0], DOMAIN.aggregate, utf8(seed))
  }
  return { configDir, genesis, chain }
}

/** What the fixture chain holds at each height; the tests check the rows against it. */
export interface Expected {
  height: number
  slot: number
  fromSlot: number
  status: AggregateStatus
  sum: string | null
  count: number
  missing: string[]
  hash: string
  primary: string
  signers: string[]
}

/**
 * Height 1: slot 0, complete. Height 2: slot 1, incomplete, meter-2 and meter-5 missing. Height 3:
 * slots 2..6 missed (the gateway was down). Height h >= 4: slot h + 3, complete, sum 1234h - 50
 * (negative sums happen: households export power). Certificates alternate between two signer sets.
 */
export function blockAt(f: Fixture, height: number, prevHash: Uint8Array, prevCert: CommitCertificate | null): Block {
  const sig = f.chain.dummySig
  if (height === 2)
    return makeBlock(f.chain, 2, prevHash, {
      slot: 1,
      prevCert,
      aggregate: {
        slot: 1,
        fromSlot: 1,
        status: 'incomplete',
        sum: 0n,
        count: 3,
        missing: new Uint8Array([0b10010]),
        reason: 'no-partials',
        endorsement: null,
        faulty: new Uint8Array(0),
        signature: sig
      }
    })
  if (height === 3)
    return makeBlock(f.chain, 3, prevHash, {
      slot: 6,
      prevCert,
      aggregate: {
        slot: 6,
        fromSlot: 2,
        status: 'missed',
        sum: 0n,
        count: 0,
        missing: new Uint8Array(0),
        reason: '',
        endorsement: null,
        faulty: new Uint8Array(0),
        signature: sig
      }
    })
  const slot = height === 1 ? 0 : height + 3
  const sum = height === 4 ? -777n : BigInt(height) * 1234n - 50n
  return makeBlock(f.chain, height, prevHash, {
    slot,
    prevCert,
    aggregate: {
      slot,
      fromSlot: slot,
      status: 'complete',
      sum,
      count: METERS,
      missing: new Uint8Array(0),
      reason: '',
      endorsement: { signers: new Uint8Array([7]), signature: sig },
      faulty: new Uint8Array(0),
      signature: sig
    }
  })
}

const signersOf = (height: number) => (height % 2 === 0 ? [1, 2, 3] : [2, 3, 4])

/** Write blocks 1..n into the store of `dataDir` (DATA_DIR/chain) and return what each holds. */
export async function writeChain(f: Fixture, dataDir: string, n: number): Promise<Expected[]> {
  const store = await BlockStore.open(join(dataDir, 'chain'), blockStoreOptions(f.genesis))
  const out: Expected[] = []
  try {
    let prevHash = f.genesis.hash
    let prevCert: CommitCertificate | null = null
    for (let h = 1; h <= n; h++) {
      const block = blockAt(f, h, prevHash, prevCert)
      const cert = certify(f.chain, block, signersOf(h))
      await store.commit(block, cert)
      prevHash = blockHash(block)
      prevCert = cert
      const a = block.aggregate
      out.push({
        height: h,
        slot: block.slot,
        fromSlot: a.fromSlot,
        status: a.status,
        sum: a.status === 'complete' ? a.sum.toString() : null,
        count: a.count,
        missing: h === 2 ? ['meter-2', 'meter-5'] : [],
        hash: Buffer.from(prevHash).toString('hex'),
        primary: `cn-${block.primary}`,
        signers: signersOf(h).map((j) => `cn-${j}`)
      })
    }
  } finally {
    await store.close()
  }
  return out
}
