import assert from 'node:assert/strict'
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { toHex } from '@bbnp/core'
import {
  createNetwork,
  defaultReputationParams,
  genesisHash,
  type GenesisJson,
  keyFilePath,
  loadGenesis,
  loadKey,
  slotAt,
  validateGenesis,
  writeNetwork
} from '../src/index.ts'

let dir: string
let genesisJson: GenesisJson

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bbnp-genesis-'))
  const net = await createNetwork({
    meters: 5,
    consensus: 4,
    periodMs: 1000,
    host: '127.0.0.1',
    basePort: 7100,
    seed: 'genesis-test',
    devnet: true,
    genesisTimeMs: 1_700_000_000_000,
    reputation: defaultReputationParams()
  })
  writeNetwork(dir, net, { force: false })
  genesisJson = JSON.parse(readFileSync(join(dir, 'genesis.json'), 'utf8'))
})
after(() => rmSync(dir, { recursive: true, force: true }))

function rehash(j: Omit<GenesisJson, 'hash'> & { hash?: string }): GenesisJson {
  return { ...j, hash: toHex(genesisHash(j as GenesisJson)) } as GenesisJson
}

describe('genesis', () => {
  it('loads and validates what setup wrote', () => {
    const g = loadGenesis(dir)
    assert.equal(g.meters.length, 5)
    assert.equal(g.consensus.length, 4)
    assert.equal(g.f, 1)
    assert.equal(g.quorum, 3)
    assert.equal(g.json.version, 3)
    assert.equal(g.legacyAddresses, undefined, 'addresses live in the address book')
    assert.equal(slotAt(g, 1_700_000_002_500), 2)
  })

  it('the same seed gives the same network', async () => {
    const again = await createNetwork({
      meters: 5,
      consensus: 4,
      periodMs: 1000,
      host: '127.0.0.1',
      basePort: 7100,
      seed: 'genesis-test',
      devnet: true,
      genesisTimeMs: 1_700_000_000_000,
      reputation: defaultReputationParams()
    })
    assert.equal(again.genesis.hash, genesisJson.hash)
  })

  it('refuses a tampered genesis', () => {
    assert.throws(() => validateGenesis({ ...genesisJson, periodMs: 2000 }), { code: 'GENESIS', message: /hash does not match/ })
  })

  it('refuses a re-hashed genesis whose proof of possession or point is wrong', () => {
    const swapped = structuredClone(genesisJson)
    swapped.consensus[0].pop = genesisJson.consensus[1].pop
    assert.throws(() => validateGenesis(rehash(swapped)), { code: 'GENESIS', message: /proof of possession/ })
    const badPoint = structuredClone(genesisJson)
    badPoint.meters[2].publicKey = `80${'00'.repeat(47)}`
    assert.throws(() => validateGenesis(rehash(badPoint)), { code: 'GENESIS', message: /meter-3.publicKey is not a valid G1 point/ })
    const badVk = structuredClone(genesisJson)
    badVk.consensus[2].verificationKey = genesisJson.consensus[3].verificationKey
    assert.throws(() => validateGenesis(rehash(badVk)), { code: 'GENESIS' })
  })

  it('refuses a duplicate peer ID and a wrong version', () => {
    const dup = structuredClone(genesisJson)
    dup.meters[1].peerId = dup.meters[0].peerId
    assert.throws(() => validateGenesis(rehash(dup)), { code: 'GENESIS', message: /not unique/ })
    assert.throws(() => validateGenesis(rehash({ ...genesisJson, version: 99 })), {
      code: 'GENESIS',
      message: 'unsupported genesis version 99 (this build reads versions 2 and 3)'
    })
  })

  it('refuses a missing genesis file with a hint', () => {
    assert.throws(() => loadGenesis(join(dir, 'nowhere')), { code: 'GENESIS', message: /run "bbnp setup" first/ })
  })
})

describe('key files', () => {
  it('each entity loads its own key', () => {
    const g = loadGenesis(dir)
    for (const id of ['gateway', 'meter-1', 'meter-5', 'cn-1', 'cn-4']) {
      const k = loadKey(dir, id, g)
      assert.equal(k.id, id)
    }
    assert.equal(loadKey(dir, 'cn-2', g).blsKey !== undefined, true)
  })

  it('refuses a key file readable by others', () => {
    const g = loadGenesis(dir)
    const path = keyFilePath(dir, 'meter-2')
    chmodSync(path, 0o644)
    try {
      assert.throws(() => loadKey(dir, 'meter-2', g), { code: 'KEY', message: /readable by others/ })
    } finally {
      chmodSync(path, 0o600)
    }
  })

  it('refuses a missing key, a key for another entity and a key that does not match the genesis', () => {
    const g = loadGenesis(dir)
    assert.throws(() => loadKey(dir, 'meter-9', g), { code: 'KEY', message: /no key file/ })
    const path = keyFilePath(dir, 'cn-3')
    const original = readFileSync(path)
    try {
      copyFileSync(keyFilePath(dir, 'cn-4'), path)
      assert.throws(() => loadKey(dir, 'cn-3', g), { code: 'KEY', message: /is for "cn-4"/ })
      const forged = JSON.parse(readFileSync(keyFilePath(dir, 'cn-4'), 'utf8'))
      forged.id = 'cn-3'
      writeFileSync(path, JSON.stringify(forged), { mode: 0o600 })
      assert.throws(() => loadKey(dir, 'cn-3', g), { code: 'KEY', message: /does not match cn-3's public key/ })
    } finally {
      writeFileSync(path, original, { mode: 0o600 })
    }
  })
})
