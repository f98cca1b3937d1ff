/**
 * The static key material of each role (PROTOCOL 2.1, 2.2, 3.5.1), and the two ways to get it:
 *
 * - dealt by the trusted authority (`dealKeys` in trusted-setup.ts), which knows every secret
 *   (PROTOCOL 1) and so computes each Diffie-Hellman result g^{a b} as one fixed-base
 *   multiplication by blst (about 0.15 ms) instead of a validated variable-base one by noble
 *   (about 4-7 ms). A process then starts by decoding its key file: no curve arithmetic at all.
 *   Without it the gateway spent 66 s on N = 10,000 DH operations at every start, and a meter
 *   process hosting 10,000 meters would spend 10,000 (1 + K + M) of them.
 * - derived locally by Diffie-Hellman (`deriveMeterKeys`, `deriveGatewayKeys`,
 *   `deriveCommitteeKeys`), from a party's own secret and the public keys in the genesis. The same
 *   bytes (the tests check it), for anyone who wants to check a dealt key or run without one.
 *
 * Only derived keys are kept, never the DH points: PRK_i (meter-gateway), P_ij (pairs), Q_iu
 * (meter-peer) and V_i (the meter's self-mask key); see kdf.ts for each formula.
 *
 * Encodings (`encode*Keys`, `decode*Keys`; bytes, or hex for a JSON key file), big-endian:
 *
 *   meter:     u8 1 | u8 1 | u32 i | u32 N | u16 c | u16 M | PRK_i | P_ij x c | Q_iu x M | V_i | check
 *   gateway:   u8 1 | u8 2 | u32 N | PRK_i x N (i = 1..N)                                   | check
 *   committee: u8 1 | u8 3 | u16 u | u16 M | u32 N | Q_iu x N (i = 1..N)                   | check
 *
 * Every key is 32 bytes; c = min(K, N - 1) pair seeds in the order of `candidateIndices`; `check`
 * is SHA-256("bbnp/v1/dealt-keys" 0 || everything before it), so a truncated, corrupted or
 * mislabelled file is refused at start with one BAD_KEYS error rather than failing every tag.
 */
import { concatBytes, DOMAIN, fromHex, utf8 } from '@bbnp/core'
import { constantTimeEqual, dhSharedSecret, R, sha256 } from '@bbnp/crypto'
import { aggregationError } from './errors.ts'
import { committeeKey, meterGatewayKeyBytes, pairSeed, readU32, selfMaskKey, writeU32 } from './kdf.ts'
import { type AggregationParams, candidateIndices, checkMeterCount, checkMeterIndex, resolveParams } from './partners.ts'
import { checkConsensusCount, MIN_CONSENSUS } from './params.ts'

/** S_peer^{own} compressed (48 bytes). The default validates the peer point (dhSharedSecret). */
export type SharedSecretFn = (ownSecret: bigint, peerPublicKey: Uint8Array) => Uint8Array

export interface AggregationModules {
  sharedSecret?: SharedSecretFn
}

export const KEY_BYTES = 32
const VERSION = 1
const KIND = { meter: 1, gateway: 2, committee: 3 } as const
const CHECK_BYTES = 32

export interface MeterKeys {
  /** i in 1..N */
  index: number
  /** N */
  meterCount: number
  /** PRK_i, the HKDF-Extract of K_ig (PROTOCOL 2.1) */
  gatewayKey: Uint8Array
  /** P_ij for each candidate j, in the order of `candidateIndices(i, N, K)` (PROTOCOL 2.2) */
  pairSeeds: Uint8Array[]
  /** Q_iu for u = 1..M, at position u - 1 (PROTOCOL 3.5.1) */
  committeeKeys: Uint8Array[]
  /** V_i, the key of the self-masks b_i(t), which no one else needs (PROTOCOL 3.5.1) */
  selfMaskKey: Uint8Array
}

export interface GatewayKeys {
  meterCount: number
  /** PRK_i of meter i at bytes [32 (i - 1), 32 i) */
  meterKeys: Uint8Array
}

export interface CommitteeKeys {
  /** u in 1..M */
  peer: number
  consensusCount: number
  meterCount: number
  /** Q_iu of meter i at bytes [32 (i - 1), 32 i) */
  meterKeys: Uint8Array
}

// ---------------------------------------------------------------- the Diffie-Hellman path

export interface MeterKeyOptions {
  index: number
  meterCount: number
  /** s_i */
  secret: bigint
  /** S_g */
  gatewayPublicKey: Uint8Array
  /** S_j of (at least) every candidate j of this meter, see `candidateIndices`. */
  candidatePublicKeys: ReadonlyMap<number, Uint8Array>
  /** W_u of consensus peer u at position u - 1 (the peers' share keys in the genesis). */
  committeePublicKeys: readonly Uint8Array[]
  params?: Partial<AggregationParams>
}

function checkSecret(secret: bigint, what: string): void {
  if (typeof secret !== 'bigint' || secret <= 0n || secret >= R) throw aggregationError('PARAMS', `${what} must be in [1, r)`)
}

/** Meter i's keys from s_i and the genesis: 1 + c + M Diffie-Hellman operations. */
export function deriveMeterKeys(opts: MeterKeyOptions, modules: AggregationModules = {}): MeterKeys {
  const params = resolveParams(opts.params)
  checkMeterCount(opts.meterCount)
  checkMeterIndex(opts.index, opts.meterCount)
  checkSecret(opts.secret, 'meter secret')
  checkConsensusCount(opts.committeePublicKeys.length)
  const dh = modules.sharedSecret ?? dhSharedSecret
  const i = opts.index
  const pairSeeds = candidateIndices(i, opts.meterCount, params.candidates).map((j) => {
    const pk = opts.candidatePublicKeys.get(j)
    if (!pk)
      throw aggregationError('MISSING_KEY', `public key of candidate meter-${j} of meter-${i} not supplied`, { meter: i, candidate: j })
    return pairSeed(dh(opts.secret, pk), i, j)
  })
  return {
    index: i,
    meterCount: opts.meterCount,
    gatewayKey: meterGatewayKeyBytes(dh(opts.secret, opts.gatewayPublicKey)),
    pairSeeds,
    committeeKeys: opts.committeePublicKeys.map((w, k) => committeeKey(dh(opts.secret, w), i, k + 1)),
    selfMaskKey: selfMaskKey(opts.secret, i)
  }
}

/** The gateway's keys from s_g and the meters' public keys: N Diffie-Hellman operations. */
export function deriveGatewayKeys(
  opts: { secret: bigint; meterPublicKeys: readonly Uint8Array[]; onProgress?: (done: number, total: number) => void },
  modules: AggregationModules = {}
): GatewayKeys {
  const n = opts.meterPublicKeys.length
  checkMeterCount(n)
  checkSecret(opts.secret, 'gateway secret')
  const dh = modules.sharedSecret ?? dhSharedSecret
  const meterKeys = new Uint8Array(n * KEY_BYTES)
  for (let k = 0; k < n; k++) {
    meterKeys.set(meterGatewayKeyBytes(dh(opts.secret, opts.meterPublicKeys[k])), k * KEY_BYTES)
    opts.onProgress?.(k + 1, n)
  }
  return { meterCount: n, meterKeys }
}

/** Consensus peer u's keys from its share secret w_u and the meters' public keys: N DH operations. */
export function deriveCommitteeKeys(
  opts: { peer: number; consensusCount: number; secret: bigint; meterPublicKeys: readonly Uint8Array[] },
  modules: AggregationModules = {}
): CommitteeKeys {
  const n = opts.meterPublicKeys.length
  checkMeterCount(n)
  checkConsensusCount(opts.consensusCount)
  checkPeer(opts.peer, opts.consensusCount)
  checkSecret(opts.secret, 'share secret')
  const dh = modules.sharedSecret ?? dhSharedSecret
  const meterKeys = new Uint8Array(n * KEY_BYTES)
  for (let k = 0; k < n; k++) meterKeys.set(committeeKey(dh(opts.secret, opts.meterPublicKeys[k]), k + 1, opts.peer), k * KEY_BYTES)
  return { peer: opts.peer, consensusCount: opts.consensusCount, meterCount: n, meterKeys }
}

export function checkPeer(peer: number, consensusCount: number): void {
  if (!Number.isSafeInteger(peer) || peer < 1 || peer > consensusCount)
    throw aggregationError('PARAMS', `consensus peer index must be in [1, ${consensusCount}], got ${peer}`)
}

// ---------------------------------------------------------------- encodings

function withCheck(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + CHECK_BYTES)
  out.set(body)
  out.set(sha256(concatBytes(utf8(DOMAIN.dealtKeys), new Uint8Array([0]), body)), body.length)
  return out
}

function badKeys(msg: string): never {
  throw aggregationError('BAD_KEYS', msg)
}

/** The bytes of an encoding given as bytes or hex, with version, kind, length and checksum checked. */
function openEncoding(input: Uint8Array | string, kind: number, what: string, minBody: number): Uint8Array {
  let b: Uint8Array
  if (typeof input === 'string') {
    try {
      b = fromHex(input)
    } catch {
      badKeys(`${what} keys: not a hex string`)
    }
  } else b = input
  if (!(b instanceof Uint8Array) || b.length < minBody + CHECK_BYTES) badKeys(`${what} keys: too short`)
  if (b[0] !== VERSION) badKeys(`${what} keys: unknown version ${b[0]}`)
  if (b[1] !== kind) badKeys(`${what} keys: this encoding holds another role's keys (kind ${b[1]})`)
  const body = b.subarray(0, b.length - CHECK_BYTES)
  const expected = sha256(concatBytes(utf8(DOMAIN.dealtKeys), new Uint8Array([0]), body))
  if (!constantTimeEqual(expected, b.subarray(b.length - CHECK_BYTES))) badKeys(`${what} keys: checksum mismatch (corrupted or truncated)`)
  return body
}

const readU16 = (b: Uint8Array, off: number) => (b[off] << 8) | b[off + 1]
function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8
  b[off + 1] = v & 0xff
}

function checkKey(k: Uint8Array, what: string): void {
  if (!(k instanceof Uint8Array) || k.length !== KEY_BYTES) throw aggregationError('BAD_KEYS', `${what} must be ${KEY_BYTES} bytes`)
}

export function encodeMeterKeys(k: MeterKeys): Uint8Array {
  checkMeterCount(k.meterCount)
  checkMeterIndex(k.index, k.meterCount)
  const c = k.pairSeeds.length
  const m = k.committeeKeys.length
  if (c > k.meterCount - 1) throw aggregationError('BAD_KEYS', `${c} pair seeds for ${k.meterCount} meters`)
  checkConsensusCount(m)
  const body = new Uint8Array(14 + KEY_BYTES * (2 + c + m))
  body[0] = VERSION
  body[1] = KIND.meter
  writeU32(body, 2, k.index)
  writeU32(body, 6, k.meterCount)
  writeU16(body, 10, c)
  writeU16(body, 12, m)
  let off = 14
  for (const key of [k.gatewayKey, ...k.pairSeeds, ...k.committeeKeys, k.selfMaskKey]) {
    checkKey(key, 'every meter key')
    body.set(key, off)
    off += KEY_BYTES
  }
  return withCheck(body)
}

export function decodeMeterKeys(input: Uint8Array | string): MeterKeys {
  const body = openEncoding(input, KIND.meter, 'meter', 14)
  const index = readU32(body, 2)
  const meterCount = readU32(body, 6)
  const c = readU16(body, 10)
  const m = readU16(body, 12)
  if (meterCount < 3 || index < 1 || index > meterCount) badKeys(`meter keys: index ${index} of ${meterCount} meters`)
  if (c < 1 || c > meterCount - 1 || m < MIN_CONSENSUS) badKeys(`meter keys: ${c} pair seeds and ${m} peer keys for ${meterCount} meters`)
  if (body.length !== 14 + KEY_BYTES * (2 + c + m)) badKeys('meter keys: length does not match the counts')
  const copy = body.slice(14)
  const key = (k: number) => copy.subarray(k * KEY_BYTES, (k + 1) * KEY_BYTES)
  return {
    index,
    meterCount,
    gatewayKey: key(0),
    pairSeeds: Array.from({ length: c }, (_, k) => key(1 + k)),
    committeeKeys: Array.from({ length: m }, (_, k) => key(1 + c + k)),
    selfMaskKey: key(1 + c + m)
  }
}

export function encodeGatewayKeys(k: GatewayKeys): Uint8Array {
  checkMeterCount(k.meterCount)
  if (k.meterKeys.length !== k.meterCount * KEY_BYTES) throw aggregationError('BAD_KEYS', 'gateway keys: one 32-byte key per meter')
  const body = new Uint8Array(6 + k.meterKeys.length)
  body[0] = VERSION
  body[1] = KIND.gateway
  writeU32(body, 2, k.meterCount)
  body.set(k.meterKeys, 6)
  return withCheck(body)
}

export function decodeGatewayKeys(input: Uint8Array | string): GatewayKeys {
  const body = openEncoding(input, KIND.gateway, 'gateway', 6)
  const meterCount = readU32(body, 2)
  if (meterCount < 3) badKeys(`gateway keys: ${meterCount} meters`)
  if (body.length !== 6 + meterCount * KEY_BYTES) badKeys('gateway keys: length does not match the meter count')
  return { meterCount, meterKeys: body.slice(6) }
}

export function encodeCommitteeKeys(k: CommitteeKeys): Uint8Array {
  checkMeterCount(k.meterCount)
  checkConsensusCount(k.consensusCount)
  checkPeer(k.peer, k.consensusCount)
  if (k.meterKeys.length !== k.meterCount * KEY_BYTES) throw aggregationError('BAD_KEYS', 'committee keys: one 32-byte key per meter')
  const body = new Uint8Array(10 + k.meterKeys.length)
  body[0] = VERSION
  body[1] = KIND.committee
  writeU16(body, 2, k.peer)
  writeU16(body, 4, k.consensusCount)
  writeU32(body, 6, k.meterCount)
  body.set(k.meterKeys, 10)
  return withCheck(body)
}

export function decodeCommitteeKeys(input: Uint8Array | string): CommitteeKeys {
  const body = openEncoding(input, KIND.committee, 'committee', 10)
  const peer = readU16(body, 2)
  const consensusCount = readU16(body, 4)
  const meterCount = readU32(body, 6)
  if (consensusCount < MIN_CONSENSUS || peer < 1 || peer > consensusCount) badKeys(`committee keys: peer ${peer} of ${consensusCount}`)
  if (meterCount < 3) badKeys(`committee keys: ${meterCount} meters`)
  if (body.length !== 10 + meterCount * KEY_BYTES) badKeys('committee keys: length does not match the meter count')
  return { peer, consensusCount, meterCount, meterKeys: body.slice(10) }
}
