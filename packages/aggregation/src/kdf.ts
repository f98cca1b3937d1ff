/**
 * Key derivation shared by the meter and the gateway (PROTOCOL 2.1-2.3).
 *
 * Byte layouts (every field fixed-width or 0x00-terminated, so no two inputs collide; the tag
 * comes first with a 0x00 after it, as in every other domain-separated message of the project):
 *
 *   PRK_i          = HKDF-Extract(salt "bbnp/v1/meter-gateway", K_ig)           K_ig = S_g^{s_i}
 *   k_mask(t)      = HKDF-Expand(PRK_i, "mask" 0 ID_i 0 ID_g 0 u64(t), 48) mod r
 *   k_mac(t)       = HKDF-Expand(PRK_i, "mac"  0 ID_i 0 ID_g 0 u64(t), 32)
 *   P_ij           = HKDF(salt "bbnp/v1/pair", DH(s_i, S_j), u32(min i,j) u32(max i,j), 32)
 *   cluster_ij(t)  = HMAC(P_ij, "cluster" 0 u64(t)), first 8 bytes as a uint64
 *   AUI_ij(t)      = sign(i - j) * HKDF-Expand(P_ij, "aui" 0 u64(t), 48) mod r
 *
 * [hardening] (PROTOCOL 2.1) the paper uses one session key both as the additive mask and as the
 * HMAC key; here two outputs of one KDF with different info strings remove that coupling. Outputs
 * that become scalars are 48 bytes, so reducing them mod r is unbiased (PROTOCOL 0).
 *
 * Everything on the per-report path uses `HmacKey` (cached midstates), never node:crypto, and
 * writes into preallocated buffers: see `Expander`.
 */
import { concatBytes, DOMAIN, u32be, utf8 } from '@bbnp/core'
import { HmacKey, hkdf, hkdfExtract } from '@bbnp/crypto'
import { aggregationError } from './errors.ts'

const TWO32 = 4294967296

/** Throws BAD_SLOT unless `slot` is a non-negative safe integer (PROTOCOL 2: counted from genesis). */
export function checkSlot(slot: number): void {
  if (!Number.isSafeInteger(slot) || slot < 0) throw aggregationError('BAD_SLOT', `slot must be a non-negative safe integer, got ${slot}`)
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24
  b[off + 1] = v >>> 16
  b[off + 2] = v >>> 8
  b[off + 3] = v
}

/** Write a safe non-negative integer as u64 big-endian (no bigint). */
export function writeU64(b: Uint8Array, off: number, v: number): void {
  writeU32(b, off, Math.floor(v / TWO32))
  writeU32(b, off + 4, v >>> 0)
}

export function readU32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0
}

/** The info string of a meter-gateway key for slot 0; the slot is the last 8 bytes. */
export function meterGatewayInfo(tag: typeof DOMAIN.mask | typeof DOMAIN.mac, meterId: string, gatewayId: string): Uint8Array {
  const z = new Uint8Array([0])
  return concatBytes(utf8(tag), z, utf8(meterId), z, utf8(gatewayId), z, new Uint8Array(8))
}

/** The PRF input of a pair key for slot 0; the slot is the last 8 bytes. */
export function pairInfo(tag: typeof DOMAIN.cluster | typeof DOMAIN.aui): Uint8Array {
  return concatBytes(utf8(tag), new Uint8Array([0]), new Uint8Array(8))
}

/** PRK_i from the static DH secret K_ig (PROTOCOL 2.1), as a key with cached midstates. */
export function meterGatewayKey(sharedSecret: Uint8Array): HmacKey {
  return new HmacKey(hkdfExtract(utf8(DOMAIN.meterGatewaySalt), sharedSecret))
}

/** P_ij (PROTOCOL 2.2): symmetric, since DH(s_i, S_j) = DH(s_j, S_i) and the info orders i, j. */
export function pairSeed(sharedSecret: Uint8Array, i: number, j: number): Uint8Array {
  const info = concatBytes(u32be(Math.min(i, j)), u32be(Math.max(i, j)))
  return hkdf(utf8(DOMAIN.pairSalt), sharedSecret, info, 32)
}

/**
 * HKDF-Expand (RFC 5869 section 2.3) for outputs of up to 64 bytes, with the info held in an
 * internal buffer laid out as T(1) || info || counter, so that T(1) = HMAC(PRK, info || 1) and
 * T(2) = HMAC(PRK, T(1) || info || 2) are both views of one buffer: no allocation per call.
 * `HmacKey.expand` gives the same bytes (checked in the tests) but allocates per block.
 */
export class Expander {
  private buf = new Uint8Array(0)
  private infoLen = 0
  private first = new Uint8Array(0)
  private whole = new Uint8Array(0)
  private t1 = new Uint8Array(0)
  private readonly t2 = new Uint8Array(32)

  constructor(info?: Uint8Array) {
    if (info) this.setInfo(info)
  }

  setInfo(info: Uint8Array): void {
    const len = info.length
    if (len !== this.infoLen || this.buf.length === 0) {
      this.buf = new Uint8Array(32 + len + 1)
      this.infoLen = len
      this.t1 = this.buf.subarray(0, 32)
      this.first = this.buf.subarray(32, 32 + len + 1)
      this.whole = this.buf
    }
    this.buf.set(info, 32)
  }

  /** Overwrite the last 8 bytes of the info (the slot in every layout above). */
  setSlot(slot: number): void {
    writeU64(this.buf, 32 + this.infoLen - 8, slot)
  }

  /** Write `length` (<= 64) bytes of HKDF-Expand(prk, info) into `out` at `off`. */
  expand(prk: HmacKey, out: Uint8Array, off: number, length: number): void {
    if (length > 64) throw new RangeError('Expander gives at most 64 bytes')
    const counter = 32 + this.infoLen
    this.buf[counter] = 1
    prk.mac(this.first, this.t1)
    const t1 = this.t1
    const n1 = Math.min(length, 32)
    for (let k = 0; k < n1; k++) out[off + k] = t1[k]
    if (length <= 32) return
    this.buf[counter] = 2
    prk.mac(this.whole, this.t2)
    const t2 = this.t2
    for (let k = 0; k < length - 32; k++) out[off + 32 + k] = t2[k]
  }
}
