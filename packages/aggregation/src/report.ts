/**
 * The report a meter sends to the gateway (PROTOCOL 2.6): exactly 76 bytes,
 *
 *   u32 meter index | u64 slot | C_i (32 bytes, big-endian, < r) | MAC_i (32 bytes)
 *
 * The tag covers the first 44 bytes, which is our encode(ID_i, ID_g, t, C_i) (PROTOCOL 2.5): the
 * index names ID_i, and k_mac is derived with ID_i, ID_g and t in its HKDF info, so a tag made
 * for one meter, gateway or slot verifies for no other. 44 bytes keep the inner hash of the HMAC
 * at a single SHA-256 block.
 */
import { R } from '@bbnp/crypto'
import { isCanonicalScalar, readScalar32, writeScalar32 } from './accumulator.ts'
import { aggregationError } from './errors.ts'
import { checkSlot, readU32, writeU32, writeU64 } from './kdf.ts'

export const REPORT_BYTES = 76
/** Bytes covered by the tag: index, slot, ciphertext. */
export const TAGGED_BYTES = 44

export interface Report {
  meterIndex: number
  slot: number
  /** C_i in [0, r) */
  ciphertext: bigint
  /** 32 bytes */
  tag: Uint8Array
}

export function encodeReport(r: Report): Uint8Array {
  if (!Number.isSafeInteger(r.meterIndex) || r.meterIndex < 1 || r.meterIndex > 0xffffffff) {
    throw aggregationError('PARAMS', `meter index must be in [1, 2^32 - 1], got ${r.meterIndex}`)
  }
  checkSlot(r.slot)
  if (r.ciphertext < 0n || r.ciphertext >= R) throw aggregationError('MALFORMED', 'ciphertext must be in [0, r)')
  if (r.tag.length !== 32) throw aggregationError('MALFORMED', 'a tag is 32 bytes')
  const out = new Uint8Array(REPORT_BYTES)
  writeU32(out, 0, r.meterIndex)
  writeU64(out, 4, r.slot)
  writeScalar32(out, 12, r.ciphertext)
  out.set(r.tag, TAGGED_BYTES)
  return out
}

/** Why `bytes` is not a decodable report, or undefined when it is (no exception: hot path). */
export function reportFormatError(bytes: Uint8Array): 'OVERSIZED' | 'MALFORMED' | undefined {
  if (bytes.length > REPORT_BYTES) return 'OVERSIZED'
  if (bytes.length !== REPORT_BYTES) return 'MALFORMED'
  // Slots are safe integers (< 2^53): the high word of the u64 must be below 2^21.
  if (readU32(bytes, 4) >= 0x200000) return 'MALFORMED'
  if (!isCanonicalScalar(bytes, 12)) return 'MALFORMED'
  return undefined
}

export function reportSlot(bytes: Uint8Array): number {
  return readU32(bytes, 4) * 4294967296 + readU32(bytes, 8)
}

export function decodeReport(bytes: Uint8Array): Report {
  const err = reportFormatError(bytes)
  if (err === 'OVERSIZED') throw aggregationError(err, `report of ${bytes.length} bytes exceeds ${REPORT_BYTES}`)
  if (err === 'MALFORMED') {
    throw aggregationError(
      err,
      bytes.length !== REPORT_BYTES ? `a report is ${REPORT_BYTES} bytes, got ${bytes.length}` : 'report slot or ciphertext out of range'
    )
  }
  return {
    meterIndex: readU32(bytes, 0),
    slot: reportSlot(bytes),
    ciphertext: readScalar32(bytes, 12),
    tag: bytes.slice(TAGGED_BYTES, REPORT_BYTES)
  }
}
