/**
 * The genesis (PROTOCOL 1.6): every public value of a network, written by the trusted authority
 * (`bbnp setup`) as `genesis.json`, with its own hash. Loading it checks the hash, every point
 * (on the curve, in the subgroup), every proof of possession, that each consensus verification
 * key is G_j^{c_j}, and every peer ID, and refuses the file with one clear GENESIS error otherwise.
 *
 * It fixes identities, not addresses: where an entity listens is in the address book
 * (address-book.ts, docs/deployment.md), which changes without a new chain.
 */
import { readFileSync } from 'node:fs'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { BbnpError, consensusId, fromHex, GATEWAY_ID, meterId, toHex, utf8 } from '@bbnp/core'
import { decodePublicKey, g1Multiply, type PublicKey, R, sha256, verifyPossession } from '@bbnp/crypto'
import { MIN_CONSENSUS, MIN_METERS } from '@bbnp/aggregation'

/**
 * 2: consensus share keys and minReporters (PROTOCOL 3.5). 3: no listen addresses (they moved to
 * the address book). A version 2 genesis is still read: its addresses are the address book of a
 * network that has no addresses.json, so that its chain and key files stay valid.
 */
export const GENESIS_VERSION = 3
export const LEGACY_GENESIS_VERSION = 2

export interface GenesisJson {
  version: number
  chainId: string
  devnet: boolean
  genesisTimeMs: number
  periodMs: number
  /** Reports for slot t are accepted until this long after the slot ends (clock skew, PROTOCOL 3.1). */
  skewMs: number
  aggregation: { candidates: number; extraPartners: number; minReporters: number }
  reputation: Record<string, number | string>
  /** `listen` only in a version 2 genesis. */
  gateway: { id: string; publicKey: string; pop: string; peerId: string; listen?: string }
  meters: { id: string; publicKey: string; peerId: string }[]
  consensus: {
    id: string
    publicKey: string
    c: string
    verificationKey: string
    pop: string
    shareKey: string
    peerId: string
    listen?: string
  }[]
  hash: string
}

export interface ConsensusMember {
  index: number
  id: string
  c: bigint
  publicKeyBytes: Uint8Array
  verificationKeyBytes: Uint8Array
  verificationKey: PublicKey
  /** W_u, the key of the meters' share pads towards this peer (PROTOCOL 3.5.1) */
  shareKeyBytes: Uint8Array
  peerId: PeerId
}

export interface MeterMember {
  index: number
  id: string
  publicKey: Uint8Array
  peerId: PeerId
}

export interface Genesis {
  json: GenesisJson
  hash: Uint8Array
  chainId: string
  devnet: boolean
  genesisTimeMs: number
  periodMs: number
  skewMs: number
  candidates: number
  extraPartners: number
  /** Fewest present meters a slot's sum may be over (PROTOCOL 3.5.3). */
  minReporters: number
  reputation: Record<string, number | string>
  gateway: { id: string; publicKeyBytes: Uint8Array; publicKey: PublicKey; peerId: PeerId }
  /** A version 2 genesis's listen addresses by entity ID: the address book when there is no addresses.json. */
  legacyAddresses?: Record<string, string>
  meters: MeterMember[]
  consensus: ConsensusMember[]
  /** f = floor((M - 1) / 3), the number of faulty consensus nodes tolerated. */
  f: number
  /** 2f + 1 */
  quorum: number
}

/** JSON with object keys sorted at every depth: the byte string the genesis hash is over. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v)
}

export function genesisHash(json: Omit<GenesisJson, 'hash'> | GenesisJson): Uint8Array {
  const { hash: _omit, ...rest } = json as GenesisJson
  return sha256(utf8(`bbnp/v1/genesis\u0000${canonicalJson(rest)}`))
}

function bad(msg: string): never {
  throw new BbnpError('GENESIS', msg)
}

function hexField(v: unknown, what: string, len?: number): Uint8Array {
  if (typeof v !== 'string') bad(`${what} must be a hex string`)
  let b: Uint8Array
  try {
    b = fromHex(v)
  } catch {
    bad(`${what} is not valid hex`)
  }
  if (len !== undefined && b.length !== len) bad(`${what} must be ${len} bytes`)
  return b
}

function pointField(v: unknown, what: string): { bytes: Uint8Array; key: PublicKey } {
  const bytes = hexField(v, what, 48)
  try {
    return { bytes, key: decodePublicKey(bytes) }
  } catch (e) {
    bad(`${what} is not a valid G1 point (${(e as Error).message})`)
  }
}

function peerIdField(v: unknown, what: string): PeerId {
  if (typeof v !== 'string') bad(`${what} must be a peer ID string`)
  try {
    return peerIdFromString(v)
  } catch {
    bad(`${what} is not a valid peer ID`)
  }
}

function addrField(v: unknown, what: string): string {
  if (typeof v !== 'string') bad(`${what} must be a multiaddr string`)
  try {
    return multiaddr(v).toString()
  } catch {
    bad(`${what} is not a valid multiaddr: ${v}`)
  }
}

function intField(v: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) bad(`${what} must be an integer in [${min}, ${max}]`)
  return v
}

/** Validate a parsed genesis object; `validateReputation` checks the model parameters. */
export function validateGenesis(raw: unknown, validateReputation: (p: Record<string, number | string>) => void = () => {}): Genesis {
  if (typeof raw !== 'object' || raw === null) bad('genesis must be a JSON object')
  const json = raw as GenesisJson
  if (json.version !== GENESIS_VERSION && json.version !== LEGACY_GENESIS_VERSION)
    bad(`unsupported genesis version ${String(json.version)} (this build reads versions ${LEGACY_GENESIS_VERSION} and ${GENESIS_VERSION})`)
  const legacy = json.version === LEGACY_GENESIS_VERSION
  const hash = genesisHash(json)
  if (typeof json.hash !== 'string' || json.hash !== toHex(hash))
    bad('genesis hash does not match its content (the file was modified after setup)')
  if (typeof json.chainId !== 'string' || json.chainId.length === 0 || json.chainId.length > 64) bad('chainId must be a short string')
  if (typeof json.devnet !== 'boolean') bad('devnet must be true or false')
  const genesisTimeMs = intField(json.genesisTimeMs, 'genesisTimeMs', 0)
  const periodMs = intField(json.periodMs, 'periodMs', 100, 7 * 24 * 3600 * 1000)
  const skewMs = intField(json.skewMs, 'skewMs', 0, periodMs * 10)
  const agg = json.aggregation ?? bad('aggregation parameters missing')
  const candidates = intField(agg.candidates, 'aggregation.candidates', 2, 1024)
  if (candidates % 2 !== 0) bad('aggregation.candidates must be even (K/2 on each side of the ring)')
  if (typeof agg.extraPartners !== 'number' || !(agg.extraPartners >= 0) || agg.extraPartners > candidates)
    bad('aggregation.extraPartners must be a number in [0, candidates]')
  if (typeof json.reputation !== 'object' || json.reputation === null) bad('reputation parameters missing')
  try {
    validateReputation(json.reputation)
  } catch (e) {
    bad(`reputation parameters: ${(e as Error).message}`)
  }

  const gwJson = json.gateway ?? bad('gateway missing')
  if (gwJson.id !== GATEWAY_ID) bad(`gateway id must be "${GATEWAY_ID}"`)
  const gwKey = pointField(gwJson.publicKey, 'gateway.publicKey')
  if (!verifyPossession(gwKey.key, hexField(gwJson.pop, 'gateway.pop', 96))) bad('gateway proof of possession does not verify')
  const gateway = {
    id: GATEWAY_ID,
    publicKeyBytes: gwKey.bytes,
    publicKey: gwKey.key,
    peerId: peerIdField(gwJson.peerId, 'gateway.peerId')
  }
  const legacyAddresses: Record<string, string> = {}
  if (legacy) legacyAddresses[GATEWAY_ID] = addrField(gwJson.listen, 'gateway.listen')

  if (!Array.isArray(json.meters) || json.meters.length < MIN_METERS) bad(`genesis needs at least ${MIN_METERS} meters`)
  const meters = json.meters.map((m, k): MeterMember => {
    const index = k + 1
    if (m?.id !== meterId(index)) bad(`meters[${k}] must have id ${meterId(index)}`)
    return {
      index,
      id: m.id,
      publicKey: pointField(m.publicKey, `${m.id}.publicKey`).bytes,
      peerId: peerIdField(m.peerId, `${m.id}.peerId`)
    }
  })

  if (!Array.isArray(json.consensus) || json.consensus.length < MIN_CONSENSUS)
    bad(`genesis needs at least ${MIN_CONSENSUS} consensus nodes`)
  const consensus = json.consensus.map((cn, k): ConsensusMember => {
    const index = k + 1
    if (cn?.id !== consensusId(index)) bad(`consensus[${k}] must have id ${consensusId(index)}`)
    const G = pointField(cn.publicKey, `${cn.id}.publicKey`)
    const vk = pointField(cn.verificationKey, `${cn.id}.verificationKey`)
    const c = BigInt(`0x${toHex(hexField(cn.c, `${cn.id}.c`, 32))}`)
    if (c === 0n || c >= R) bad(`${cn.id}.c is out of range`)
    if (toHex(g1Multiply(G.bytes, c)) !== toHex(vk.bytes)) bad(`${cn.id}.verificationKey is not publicKey^c`)
    if (!verifyPossession(vk.key, hexField(cn.pop, `${cn.id}.pop`, 96))) bad(`${cn.id} proof of possession does not verify`)
    if (legacy) legacyAddresses[cn.id] = addrField(cn.listen, `${cn.id}.listen`)
    return {
      index,
      id: cn.id,
      c,
      publicKeyBytes: G.bytes,
      verificationKeyBytes: vk.bytes,
      verificationKey: vk.key,
      shareKeyBytes: pointField(cn.shareKey, `${cn.id}.shareKey`).bytes,
      peerId: peerIdField(cn.peerId, `${cn.id}.peerId`)
    }
  })

  const peerIds = new Set<string>([
    gateway.peerId.toString(),
    ...meters.map((m) => m.peerId.toString()),
    ...consensus.map((c) => c.peerId.toString())
  ])
  if (peerIds.size !== 1 + meters.length + consensus.length) bad('peer IDs in the genesis are not unique')

  const f = Math.floor((consensus.length - 1) / 3)
  return {
    json,
    hash,
    chainId: json.chainId,
    devnet: json.devnet,
    genesisTimeMs,
    periodMs,
    skewMs,
    candidates,
    extraPartners: agg.extraPartners,
    minReporters: intField(agg.minReporters, 'aggregation.minReporters', 2, meters.length),
    reputation: json.reputation,
    gateway,
    ...(legacy ? { legacyAddresses } : {}),
    meters,
    consensus,
    f,
    quorum: 2 * f + 1
  }
}

export function readGenesisFile(path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    bad(code === 'ENOENT' ? `no genesis at ${path} (run "bbnp setup" first)` : `cannot read ${path}: ${(e as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    bad(`${path} is not valid JSON: ${(e as Error).message}`)
  }
}

/** The slot a wall-clock time falls in (PROTOCOL 2): floor((ms - genesis) / period). */
export function slotAt(genesis: Pick<Genesis, 'genesisTimeMs' | 'periodMs'>, ms: number): number {
  return Math.floor((ms - genesis.genesisTimeMs) / genesis.periodMs)
}

export function slotStartMs(genesis: Pick<Genesis, 'genesisTimeMs' | 'periodMs'>, slot: number): number {
  return genesis.genesisTimeMs + slot * genesis.periodMs
}
