/**
 * The trusted authority's output (paper IV-A, PROTOCOL section 1): `createNetwork` makes every
 * secret, the public genesis and the first address book; `writeNetwork` puts them on disk
 * (genesis.json, addresses.json, keys/ with mode 0600) and refuses to overwrite an existing
 * network unless told to.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { BbnpError, cryptoRng, type Rng, SeededRng, toHex } from '@bbnp/core'
import {
  dealKeys,
  encodeCommitteeKeys,
  encodeGatewayKeys,
  encodeMeterKeys,
  generateNetworkSecrets,
  resolveMinReporters
} from '@bbnp/aggregation'
import { scalarToBytes } from '@bbnp/crypto'
import {
  ADDRESS_BOOK_FILE,
  ADDRESS_BOOK_VERSION,
  type AddressBookJson,
  type Placement,
  planAddresses,
  writeAddressBook
} from './address-book.ts'
import { type GenesisJson, genesisHash, GENESIS_VERSION } from './genesis.ts'
import { type KeyFileJson, keyFilePath, libp2pKeyHex, writeKeyFile } from './keys.ts'

export interface NetworkOptions {
  meters: number
  consensus: number
  periodMs: number
  host: string
  basePort: number
  seed?: string
  devnet: boolean
  genesisTimeMs: number
  skewMs?: number
  candidates?: number
  extraPartners?: number
  /** Fewest present meters a slot's sum may be over (PROTOCOL 3.5.3); default max(2, ceil(N/2)). */
  minReporters?: number
  /** The election rule and reputation model's parameters. */
  reputation: Record<string, number | string>
  /** Per-entity placement (gateway, cn-j): HOST, HOST:PORT or a multiaddr, overriding `host` (address-book.ts placeAddress). */
  hosts?: Record<string, string>
  /** Placements with where each was written (a hosts manifest, a flag), over `hosts`. */
  places?: Record<string, Placement>
  /** Set to the manifest's name when every entity must be placed (address-book.ts planAddresses). */
  requireAll?: string
  onProgress?: (msg: string) => void
}

export interface Network {
  genesis: GenesisJson
  /** The first address book (addresses.json). */
  addresses: AddressBookJson
  keys: KeyFileJson[]
}

async function libp2pIdentity(rng: Rng) {
  const key = await generateKeyPairFromSeed('Ed25519', rng.bytes(32))
  return { key, peerId: peerIdFromPrivateKey(key).toString() }
}

export async function createNetwork(opts: NetworkOptions): Promise<Network> {
  // With a seed every key is reproducible (devnets, tests); without one they come from the OS.
  const rng: Rng = opts.seed !== undefined ? new SeededRng(`setup/${opts.seed}`) : cryptoRng
  if (opts.basePort + opts.consensus > 65535)
    throw new BbnpError('SETUP', `--base-port ${opts.basePort} leaves no room for ${opts.consensus} consensus ports`)
  // Placements are checked before any key is made: a typo in a manifest costs nothing.
  const hostPlaces = Object.fromEntries(Object.entries(opts.hosts ?? {}).map(([id, spec]) => [id, { spec, source: 'hosts' }]))
  const addresses = planAddresses({
    consensus: opts.consensus,
    host: opts.host,
    basePort: opts.basePort,
    places: { ...hostPlaces, ...opts.places },
    requireAll: opts.requireAll
  })
  const secrets = generateNetworkSecrets({
    meters: opts.meters,
    consensus: opts.consensus,
    rng,
    onProgress: (done, total) => opts.onProgress?.(`keys ${done}/${total}`)
  })
  const aggregation = { candidates: opts.candidates ?? 8, extraPartners: opts.extraPartners ?? 2 }
  const minReporters = resolveMinReporters(opts.minReporters, opts.meters)
  // PROTOCOL 3.5.1: every derived pairwise key is dealt by the trusted authority, which knows every
  // secret anyway, so that no process spends start-up on Diffie-Hellman (docs/protocol.md 3.5.1).
  const dealt = dealKeys(secrets, { params: aggregation, onProgress: (done, total) => opts.onProgress?.(`derived keys ${done}/${total}`) })
  const keys: KeyFileJson[] = []
  const gwId = await libp2pIdentity(rng)
  type Identity = Awaited<ReturnType<typeof libp2pIdentity>>
  const meterIds: Identity[] = []
  for (const _m of secrets.meters) meterIds.push(await libp2pIdentity(rng))
  const cnIds: Identity[] = []
  for (const _c of secrets.consensus) cnIds.push(await libp2pIdentity(rng))

  const body: Omit<GenesisJson, 'hash'> = {
    version: GENESIS_VERSION,
    chainId: `bbnp-${toHex(rng.bytes(6))}`,
    devnet: opts.devnet,
    genesisTimeMs: opts.genesisTimeMs,
    periodMs: opts.periodMs,
    skewMs: opts.skewMs ?? Math.max(200, Math.floor(opts.periodMs / 2)),
    aggregation: { ...aggregation, minReporters },
    reputation: opts.reputation,
    gateway: {
      id: secrets.gateway.id,
      publicKey: toHex(secrets.gateway.publicKey),
      pop: toHex(secrets.gateway.pop),
      peerId: gwId.peerId
    },
    meters: secrets.meters.map((m, k) => ({ id: m.id, publicKey: toHex(m.publicKey), peerId: meterIds[k].peerId })),
    consensus: secrets.consensus.map((c, k) => ({
      id: c.id,
      publicKey: toHex(c.publicKey),
      c: toHex(scalarToBytes(c.c)),
      verificationKey: toHex(c.verificationKey),
      pop: toHex(c.pop),
      shareKey: toHex(c.sharePublicKey),
      peerId: cnIds[k].peerId
    }))
  }
  const hash = toHex(genesisHash(body))
  const genesis: GenesisJson = { ...body, hash }
  keys.push({
    id: secrets.gateway.id,
    role: 'gateway',
    genesis: hash,
    secret: toHex(scalarToBytes(secrets.gateway.secret)),
    libp2pKey: libp2pKeyHex(gwId.key),
    dealt: toHex(encodeGatewayKeys(dealt.gateway))
  })
  secrets.meters.forEach((m, k) => {
    keys.push({
      id: m.id,
      role: 'meter',
      genesis: hash,
      secret: toHex(scalarToBytes(m.secret)),
      libp2pKey: libp2pKeyHex(meterIds[k].key),
      dealt: toHex(encodeMeterKeys(dealt.meters[k]))
    })
  })
  secrets.consensus.forEach((c, k) => {
    keys.push({
      id: c.id,
      role: 'consensus',
      genesis: hash,
      secret: toHex(scalarToBytes(c.alpha)),
      libp2pKey: libp2pKeyHex(cnIds[k].key),
      dealt: toHex(encodeCommitteeKeys(dealt.committee[k]))
    })
  })
  return { genesis, addresses: { version: ADDRESS_BOOK_VERSION, genesis: hash, addresses }, keys }
}

/** Refuse to overwrite an existing network unless forced (checked before any key is made). */
export function checkNetworkTarget(dir: string, opts: { force: boolean }): void {
  const keysDir = join(dir, 'keys')
  if (existsSync(join(dir, 'genesis.json')) || (existsSync(keysDir) && readdirSync(keysDir).length > 0)) {
    if (!opts.force) throw new BbnpError('SETUP', `${dir} already holds a network (genesis.json or keys/); pass --force to replace it`)
  }
}

export function writeNetwork(dir: string, net: Network, opts: { force: boolean }): void {
  checkNetworkTarget(dir, opts)
  const genesisPath = join(dir, 'genesis.json')
  const keysDir = join(dir, 'keys')
  try {
    rmSync(keysDir, { recursive: true, force: true })
    mkdirSync(keysDir, { recursive: true, mode: 0o700 })
    for (const k of net.keys) writeKeyFile(keyFilePath(dir, k.id), k)
    writeFileSync(genesisPath, `${JSON.stringify(net.genesis, null, 2)}\n`)
  } catch (e) {
    throw new BbnpError('IO', `cannot write the network to ${dir}: ${(e as Error).message}`)
  }
  writeAddressBook(join(dir, ADDRESS_BOOK_FILE), net.addresses)
}
