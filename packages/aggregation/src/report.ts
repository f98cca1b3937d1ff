/**
 * The report a meter sends to the gateway (PROTOCOL 2.6 and 3.5.2), for M consensus peers:
 * exactly `reportBytes(M)` = 76 + 64 M bytes,
 *
 *   u32 meter index | u64 slot | C_i | e_i1 | tau_i1 | ... | e_iM | tau_iM | MAC_i
 *
 * with C_i, every padded share e_iu and every share tag tau_iu 32 bytes big-endian, each < r (one
 * encoding per value, so "the identical report" means identical bytes), and MAC_i (32 bytes) the
 * HMAC under k_mac(t) of everything before it. That is our encode(ID_i, ID_g, t, C_i, e_i1..e_iM)
 * (PROTOCOL 2.5): the index names ID_i, and k_mac is derived with ID_i, ID_g and t in its HKDF
 * info, so a tag made for one meter, gateway or slot verifies for no other, and a share moved,
 * altered or swapped between peers breaks the tag.
 *
 * MAC_i authenticates the report to the gateway only. tau_iu authenticates e_iu to consensus peer u,
 * who cannot check MAC_i: a one-time MAC under a key from Q_iu, which the gateway does not hold
 * (kdf.ts, `shareTag`; PROTOCOL 3.5.1). Each share travels with its tag, so the gateway forwards
 * peer u one contiguous 64 bytes per meter. With M = 4 a report is 332 bytes and MAC_i costs six
 * SHA-256 compressions (five for the 300 tagged bytes, one outer).
 */
import { R } from '@bbnp/crypto'
import { isCanonicalScalar, readScalar32, writeScalar32 } from './accumulator.ts'
import { aggregationError } from './errors.ts'
import { checkSlot, readU32, writeU32, writeU64 } from './kdf.ts'
import { checkConsensusCount } from './params.ts'

/** Where C_i starts; the shares follow it. */
export const CIPHERTEXT_OFFSET = 12

/** A padded share and its tag: what a report carries for one peer, and what the gateway forwards it per meter. */
export const SHARE_ENTRY_BYTES = 64

/** The size of a report with `consensusCount` shares. */
export function reportBytes(consensusCount: number): number {
  checkConsensusCount(consensusCount)
  return 76 + SHARE_ENTRY_BYTES * consensusCount
}

/** Bytes covered by the tag: index, slot, ciphertext, shares. */
export function taggedBytes(consensusCount: number): number {
  return reportBytes(consensusCount) - 32
}

/** Offset of e_iu (u in 1..M); its tag tau_iu follows it. */
export function shareOffset(peer: number): number {
  return CIPHERTEXT_OFFSET + 32 + SHARE_ENTRY_BYTES * (peer - 1)
}

/** Offset of tau_iu, the tag of e_iu for peer u (u in 1..M). */
export function shareTagOffset(peer: number): number {
  return shareOffset(peer) + 32
}

export interface Report {
  meterIndex: number
  slot: number
  /** C_i in [0, r) */
  ciphertext: bigint
  /** e_iu in [0, r) at position u - 1 */
  shares: bigint[]
  /** tau_iu in [0, r) at position u - 1, the tag of e_iu for peer u */
  shareTags: bigint[]
  /** 32 bytes */
  tag: Uint8Array
}

export function encodeReport(r: Report): Uint8Array {
  if (!Number.isSafeInteger(r.meterIndex) || r.meterIndex < 1 || r.meterIndex > 0xffffffff) {
    throw aggregationError('PARAMS', `meter index must be in [1, 2^32 - 1], got ${r.meterIndex}`)
  }
  checkSlot(r.slot)
  const size = reportBytes(r.shares.length)
  if (r.shareTags.length !== r.shares.length) throw aggregationError('MALFORMED', 'one tag per share')
  for (const v of [r.ciphertext, ...r.shares, ...r.shareTags])
    if (v < 0n || v >= R) throw aggregationError('MALFORMED', 'ciphertext, shares and share tags must be in [0, r)')
  if (r.tag.length !== 32) throw aggregationError('MALFORMED', 'a tag is 32 bytes')
  const out = new Uint8Array(size)
  writeU32(out, 0, r.meterIndex)
  writeU64(out, 4, r.slot)
  writeScalar32(out, CIPHERTEXT_OFFSET, r.ciphertext)
  r.shares.forEach((s, k) => writeScalar32(out, shareOffset(k + 1), s))
  r.shareTags.forEach((s, k) => writeScalar32(out, shareTagOffset(k + 1), s))
  out.set(r.tag, size - 32)
  return out
}

/** Why `bytes` is not a decodable report for M peers, or undefined when it is (no exception: hot path). */
export function reportFormatError(bytes: Uint8Array, consensusCount: number): 'OVERSIZED' | 'MALFORMED' | undefined {
  const size = 76 + SHARE_ENTRY_BYTES * consensusCount
  if (bytes.length > size) return 'OVERSIZED'
  if (bytes.length !== size) return 'MALFORMED'
  // Slots are safe integers (< 2^53): the high word of the u64 must be below 2^21.
  if (readU32(bytes, 4) >= 0x200000) return 'MALFORMED'
  for (let off = CIPHERTEXT_OFFSET; off < size - 32; off += 32) if (!isCanonicalScalar(bytes, off)) return 'MALFORMED'
  return undefined
}

export function reportSlot(bytes: Uint8Array): number {
  return readU32(bytes, 4) * 4294967296 + readU32(bytes, 8)
}

export function decodeReport(bytes: Uint8Array, consensusCount: number): Report {
  const size = reportBytes(consensusCount)
  const err = reportFormatError(bytes, consensusCount)
  if (err === 'OVERSIZED') throw aggregationError(err, `report of ${bytes.length} bytes exceeds ${size}`)
  if (err === 'MALFORMED') {
    throw aggregationError(
      err,
      bytes.length !== size ? `a report is ${size} bytes, got ${bytes.length}` : 'report slot, ciphertext, share or share tag out of range'
    )
  }
  return {
    meterIndex: readU32(bytes, 0),
    slot: reportSlot(bytes),
    ciphertext: readScalar32(bytes, CIPHERTEXT_OFFSET),
    shares: Array.from({ length: consensusCount }, (_, k) => readScalar32(bytes, shareOffset(k + 1))),
    shareTags: Array.from({ length: consensusCount }, (_, k) => readScalar32(bytes, shareTagOffset(k + 1))),
    tag: bytes.slice(size - 32)
  }
}
