/**
 * Key derivation shared by the meter, the gateway and the consensus peers (PROTOCOL 2.1-2.3, 3.5).
 *
 * Byte layouts (every field fixed-width or 0x00-terminated, so no two inputs collide; the tag
 * comes first with a 0x00 after it, as in every other domain-separated message of the project):
 *
 *   PRK_i          = HKDF-Extract(salt "bbnp/v1/meter-gateway", K_ig)           K_ig = g^{s_i s_g}
 *   k_mask(t)      = HKDF-Expand(PRK_i, "mask" 0 ID_i 0 ID_g 0 u64(t), 48) mod r
 *   k_mac(t)       = HKDF-Expand(PRK_i, "mac"  0 ID_i 0 ID_g 0 u64(t), 32)
 *   P_ij           = HKDF(salt "bbnp/v1/pair", K_ij, u32(min i,j) u32(max i,j), 32)  K_ij = g^{s_i s_j}
 *   cluster_ij(t)  = HMAC(P_ij, "cluster" 0 u64(t)), first 8 bytes as a uint64
 *   AUI_ij(t)      = sign(i - j) * HKDF-Expand(P_ij, "aui" 0 u64(t), 48) mod r
 *   Q_iu           = HKDF(salt "bbnp/v1/meter-committee", K_iu, u32(i) u32(u), 32)  K_iu = g^{s_i w_u}
 *   pad_iu(t)      = bytes [0, 48) of HKDF-Expand(Q_iu, "share" 0 u64(t), 96) mod r
 *   lambda_iu(t)   = bytes [48, 64) of the same expansion, a 128-bit integer
 *   kappa_iu(t)    = bytes [64, 96) of the same expansion (mod r where it is used)
 *   tau_iu         = lambda_iu(t) e_iu + kappa_iu(t) mod r        the tag of the padded share e_iu
 *   V_i            = HKDF(salt "bbnp/v1/self-mask", s_i as 32 bytes, u32(i), 32)
 *   a_ik(t)        = bytes [48k, 48k + 48) of HKDF-Expand(V_i, "self-mask" 0 u64(t), 48 (f + 1)) mod r
 *
 * a_i0(t) = b_i(t) is the self-mask and a_i1..a_if the other coefficients of its sharing polynomial
 * (PROTOCOL 3.5.1). The pad and the share tag's key come from one expansion: the pad's second
 * HKDF block has 16 bytes to spare (lambda), and a third block gives kappa, so authenticating a
 * share costs one HKDF block more than padding it (`shareTag` below has the argument). V_i is derived from s_i, which only meter i (and the trusted authority, which
 * made s_i) knows, so a meter can compute it itself and a retried report has the same bytes.
 *
 * [hardening] (PROTOCOL 2.1) the paper uses one session key both as the additive mask and as the
 * HMAC key; here two outputs of one KDF with different info strings remove that coupling. Outputs
 * that become scalars are 48 bytes, so reducing them mod r is unbiased (PROTOCOL 0).
 *
 * Everything on the per-report path uses `HmacKey` (cached midstates), never node:crypto, and
 * writes into preallocated buffers: see `Expander`.
 */
import { concatBytes, DOMAIN, u32be, utf8 } from '@bbnp/core'
import { HmacKey, hkdf, hkdfExtract, R, scalarToBytes } from '@bbnp/crypto'
import { aggregationError } from './errors.ts'

const TWO32 = 4294967296

/**
 * The per-(meter, peer, slot) expansion of Q_iu: the pad, then the share tag's key (lambda, kappa).
 * HKDF-Expand's first blocks do not depend on the length asked, so the pad is the same 48 bytes a
 * 48-byte expansion gives.
 */
export const SHARE_PRF_BYTES = 96
export const SHARE_LAMBDA_OFFSET = 48
export const SHARE_KAPPA_OFFSET = 64

/**
 * tau = lambda e + kappa mod r, the one-time MAC of a padded share e under the key (lambda, kappa)
 * that meter i and peer u derive from Q_iu for slot t (PROTOCOL 3.5.1). The gateway, which
 * forwards e and tau and does not hold Q_iu, forges it with probability at most 1.5 * 2^-128 per
 * try: to pass (e', tau') with e' != e it needs tau' - tau = lambda (e' - e) mod r, i.e. one
 * particular value of lambda; lambda is uniform over 2^128 values and independent of everything
 * the gateway sees but tau, and tau = lambda e + kappa hides it, kappa being 32 uniform bytes
 * reduced mod r (each residue taken by 2 or 3 of them, hence the factor 1.5). Each key tags one
 * share only (a retried report has the same bytes). Over a sum of several tags the same argument
 * holds for any one altered share, which is what lets a peer check all of A in one equation.
 */
export function shareTag(share: bigint, lambda: bigint, kappa: bigint): bigint {
  return (lambda * share + kappa) % R
}

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

/** The PRF input `tag 0 u64(t)` for slot 0; the slot is the last 8 bytes. */
export function slotInfo(tag: typeof DOMAIN.cluster | typeof DOMAIN.aui | typeof DOMAIN.share | typeof DOMAIN.selfMask): Uint8Array {
  return concatBytes(utf8(tag), new Uint8Array([0]), new Uint8Array(8))
}

/** PRK_i from the static DH secret K_ig (PROTOCOL 2.1). */
export function meterGatewayKeyBytes(sharedSecret: Uint8Array): Uint8Array {
  return hkdfExtract(utf8(DOMAIN.meterGatewaySalt), sharedSecret)
}

/** P_ij (PROTOCOL 2.2): symmetric, since DH(s_i, S_j) = DH(s_j, S_i) and the info orders i, j. */
export function pairSeed(sharedSecret: Uint8Array, i: number, j: number): Uint8Array {
  const info = concatBytes(u32be(Math.min(i, j)), u32be(Math.max(i, j)))
  return hkdf(utf8(DOMAIN.pairSalt), sharedSecret, info, 32)
}

/** Q_iu (PROTOCOL 3.5.1): the key of meter i's share pads towards consensus peer u, from K_iu. */
export function committeeKey(sharedSecret: Uint8Array, meterIndex: number, peer: number): Uint8Array {
  return hkdf(utf8(DOMAIN.meterCommitteeSalt), sharedSecret, concatBytes(u32be(meterIndex), u32be(peer)), 32)
}

/** V_i (PROTOCOL 3.5.1): the key of meter i's self-masks, from s_i, so that only the meter has it. */
export function selfMaskKey(secret: bigint, meterIndex: number): Uint8Array {
  return hkdf(utf8(DOMAIN.selfMaskSalt), scalarToBytes(secret), u32be(meterIndex), 32)
}

/**
 * HKDF-Expand (RFC 5869 section 2.3) with the info held in an internal buffer laid out as
 * T(k-1) || info || counter, so that T(1) = HMAC(PRK, info || 1) and T(k) = HMAC(PRK, T(k-1) ||
 * info || k) are both ranges of one buffer: no allocation per call. `HmacKey.expand` gives the
 * same bytes (checked in the tests) but allocates per block.
 */
export class Expander {
  private buf = new Uint8Array(0)
  private infoLen = 0

  constructor(info?: Uint8Array) {
    if (info) this.setInfo(info)
  }

  setInfo(info: Uint8Array): void {
    const len = info.length
    if (len !== this.infoLen || this.buf.length === 0) {
      this.buf = new Uint8Array(32 + len + 1)
      this.infoLen = len
    }
    this.buf.set(info, 32)
  }

  /** Overwrite the last 8 bytes of the info (the slot in every layout above). */
  setSlot(slot: number): void {
    writeU64(this.buf, 32 + this.infoLen - 8, slot)
  }

  /** Write `length` (<= 255 * 32) bytes of HKDF-Expand(prk, info) into `out` at `off`. */
  expand(prk: HmacKey, out: Uint8Array, off: number, length: number): void {
    if (length > 255 * 32) throw new RangeError('HKDF-Expand gives at most 255 blocks')
    const buf = this.buf
    const counter = 32 + this.infoLen
    for (let k = 1, done = 0; done < length; k++) {
      buf[counter] = k
      // T(k) overwrites T(k-1) in place: the MAC reads its whole input before writing its output.
      if (k === 1) prk.macRange(buf, 32, this.infoLen + 1, buf, 0)
      else prk.macRange(buf, 0, counter + 1, buf, 0)
      const n = Math.min(32, length - done)
      for (let j = 0; j < n; j++) out[off + done + j] = buf[j]
      done += n
    }
  }
}
