/**
 * A literal, slow implementation of PROTOCOL 2.1-2.5 and 3.5 with node:crypto (hkdfSync,
 * createHmac) and bigints, written straight from the formulas in kdf.ts with none of the fast
 * path's tricks (cached midstates, preallocated buffers, 32-bit lanes, unreduced sums, dealt keys).
 * Two uses:
 *
 * - known-answer tests: `MeterCrypto`, `GatewayCrypto` and `CommitteeCrypto`, built from the keys
 *   the trusted authority deals, must agree with it byte for byte and value for value;
 * - `bbnp bench`: "the naive way", the cost of the same report and tag when every HMAC and HKDF
 *   is a node:crypto call (20-30 microseconds each on the target machines).
 *
 * Keys come from the parties' secrets by Diffie-Hellman (a `SharedSecretFn`, the validated noble
 * one unless given), once, in the constructor; every per-slot value is recomputed per call.
 */
import { createHmac, hkdfSync } from 'node:crypto'
import { bytesToBigInt, concatBytes, DOMAIN, u32be, u64be, utf8 } from '@bbnp/core'
import { dhSharedSecret, modR, R, scalarToBytes } from '@bbnp/crypto'
import { aggregationError } from './errors.ts'
import { checkSlot } from './kdf.ts'
import type { AggregationModules, MeterKeyOptions } from './key-material.ts'
import { checkReading } from './meter.ts'
import { faultTolerance } from './params.ts'
import { candidateIndices, resolveParams, ringNeighbours } from './partners.ts'
import { GATEWAY_ID, meterId } from './trusted-setup.ts'

const Z = new Uint8Array([0])

function hmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(msg).digest())
}

function hkdf(ikm: Uint8Array, salt: string, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, utf8(salt), info, length))
}

/** HKDF-Expand alone (node:crypto has no expand-only call): T(k) = HMAC(PRK, T(k-1) || info || k). */
function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const blocks: Uint8Array[] = []
  let t: Uint8Array = new Uint8Array(0)
  for (let k = 1; blocks.length * 32 < length; k++) {
    t = hmac(prk, concatBytes(t, info, new Uint8Array([k])))
    blocks.push(t)
  }
  return concatBytes(...blocks).slice(0, length)
}

const slotInfo = (tag: string, slot: number) => concatBytes(utf8(tag), Z, u64be(slot))

function meterGatewayInfo(tag: string, meterIndex: number, slot: number): Uint8Array {
  return concatBytes(utf8(tag), Z, utf8(meterId(meterIndex)), Z, utf8(GATEWAY_ID), Z, u64be(slot))
}

/** k_mask_i(t) (reduced mod r) and k_mac_i(t) from K_ig (PROTOCOL 2.1), each one full HKDF call. */
export function referenceSlotKeys(sharedWithGateway: Uint8Array, meterIndex: number, slot: number): { mask: bigint; mac: Uint8Array } {
  const maskBytes = hkdf(sharedWithGateway, DOMAIN.meterGatewaySalt, meterGatewayInfo(DOMAIN.mask, meterIndex, slot), 48)
  return {
    mask: bytesToBigInt(maskBytes) % R,
    mac: hkdf(sharedWithGateway, DOMAIN.meterGatewaySalt, meterGatewayInfo(DOMAIN.mac, meterIndex, slot), 32)
  }
}

/** The tag of a report (PROTOCOL 2.5): HMAC(k_mac, everything before the tag). */
export function referenceTag(macKey: Uint8Array, taggedBytes: Uint8Array): Uint8Array {
  return hmac(macKey, taggedBytes)
}

/** The tag of a reveal answer (reveal.ts): HMAC(k_mac, u32(0) || "bbnp/v1/reveal" || 0 || body). */
export function referenceRevealTag(macKey: Uint8Array, body: Uint8Array): Uint8Array {
  return hmac(macKey, concatBytes(u32be(0), utf8(DOMAIN.reveal), Z, body))
}

/** Q_iu from K_iu (PROTOCOL 3.5.1). */
export function referenceCommitteeKey(sharedWithPeer: Uint8Array, meterIndex: number, peer: number): Uint8Array {
  return hkdf(sharedWithPeer, DOMAIN.meterCommitteeSalt, concatBytes(u32be(meterIndex), u32be(peer)), 32)
}

/** pad_iu(t) = PRF(Q_iu, "share" || t) mod r (PROTOCOL 3.5.1). */
export function referencePad(committeeKey: Uint8Array, slot: number): bigint {
  return bytesToBigInt(hkdfExpand(committeeKey, slotInfo(DOMAIN.share, slot), 48)) % R
}

/**
 * The key of the share tag, lambda_iu(t) (a 128-bit integer) and kappa_iu(t) (32 bytes), bytes
 * [48, 64) and [64, 96) of the expansion whose first 48 bytes are the pad (PROTOCOL 3.5.1).
 */
export function referenceShareTagKey(committeeKey: Uint8Array, slot: number): { lambda: bigint; kappa: bigint } {
  const bytes = hkdfExpand(committeeKey, slotInfo(DOMAIN.share, slot), 96)
  return { lambda: bytesToBigInt(bytes.subarray(48, 64)), kappa: bytesToBigInt(bytes.subarray(64, 96)) }
}

/** tau_iu = lambda_iu(t) e_iu + kappa_iu(t) mod r, the tag of the padded share e_iu for peer u. */
export function referenceShareTag(committeeKey: Uint8Array, slot: number, share: bigint): bigint {
  const { lambda, kappa } = referenceShareTagKey(committeeKey, slot)
  return (lambda * share + kappa) % R
}

/** z_u = sum over A of (e_iu - pad_iu(t)) mod r, from each meter's Q_iu and e_iu. */
export function referencePartial(slot: number, entries: { committeeKey: Uint8Array; share: bigint }[]): bigint {
  return modR(entries.reduce((acc, e) => acc + e.share - referencePad(e.committeeKey, slot), 0n))
}

/** PROTOCOL 3.5.6: sum_A C_i - sum_A k_mask_i - sum_A r_i - B mod r, as a signed integer. */
export function referenceDecode(terms: { ciphertexts: bigint[]; masks: bigint[]; reveals: bigint[]; selfMaskSum: bigint }): bigint {
  const total = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n)
  const v = modR(total(terms.ciphertexts) - total(terms.masks) - total(terms.reveals) - terms.selfMaskSum)
  return v > R / 2n ? v - R : v
}

export class ReferenceMeter {
  readonly index: number
  /** M */
  readonly consensusCount: number
  /** f */
  readonly faultTolerance: number
  readonly sharedWithGateway: Uint8Array
  readonly committeeKeys: Uint8Array[]
  private readonly selfKey: Uint8Array
  private readonly pairs: { index: number; seed: Uint8Array; neighbour: boolean }[] = []
  /** floor(p * 2^64), or undefined when every candidate is a partner (p = 1) */
  private readonly threshold: bigint | undefined

  constructor(opts: MeterKeyOptions, modules: AggregationModules = {}) {
    const params = resolveParams(opts.params)
    const dh = modules.sharedSecret ?? dhSharedSecret
    this.index = opts.index
    this.consensusCount = opts.committeePublicKeys.length
    this.faultTolerance = faultTolerance(this.consensusCount)
    this.sharedWithGateway = dh(opts.secret, opts.gatewayPublicKey)
    this.committeeKeys = opts.committeePublicKeys.map((w, k) => referenceCommitteeKey(dh(opts.secret, w), opts.index, k + 1))
    this.selfKey = hkdf(scalarToBytes(opts.secret), DOMAIN.selfMaskSalt, u32be(opts.index), 32)
    const candidates = candidateIndices(opts.index, opts.meterCount, params.candidates)
    const neighbours = ringNeighbours(opts.index, opts.meterCount)
    for (const j of candidates) {
      const pk = opts.candidatePublicKeys.get(j)
      if (!pk) throw aggregationError('MISSING_KEY', `public key of candidate ${meterId(j)} not supplied`)
      const info = concatBytes(u32be(Math.min(opts.index, j)), u32be(Math.max(opts.index, j)))
      this.pairs.push({ index: j, seed: hkdf(dh(opts.secret, pk), DOMAIN.pairSalt, info, 32), neighbour: neighbours.includes(j) })
    }
    const c = candidates.length - 2
    const p = c <= 0 ? 0 : Math.min(1, params.extraPartners / c)
    this.threshold = p >= 1 ? undefined : BigInt(Math.floor(p * 2 ** 64))
  }

  /** The partners of slot t, sorted. */
  partners(slot: number): number[] {
    const msg = slotInfo(DOMAIN.cluster, slot)
    return this.pairs
      .filter(
        (pair) => pair.neighbour || this.threshold === undefined || bytesToBigInt(hmac(pair.seed, msg).subarray(0, 8)) <= this.threshold
      )
      .map((pair) => pair.index)
      .sort((a, b) => a - b)
  }

  /** AUI_ij(t) mod r (PROTOCOL 2.3), for a candidate j (whether or not a partner in t). */
  aui(slot: number, j: number): bigint {
    const pair = this.pairs.find((p) => p.index === j)
    if (!pair) throw aggregationError('PARAMS', `${j} is not a candidate of ${this.index}`)
    const x = bytesToBigInt(hkdfExpand(pair.seed, slotInfo(DOMAIN.aui, slot), 48)) % R
    return modR(this.index > j ? x : -x)
  }

  /** b_i(t), a_i1(t), ..., a_if(t) (PROTOCOL 3.5.1). */
  selfMaskCoefficients(slot: number): bigint[] {
    const f = this.faultTolerance
    const bytes = hkdfExpand(this.selfKey, slotInfo(DOMAIN.selfMask, slot), 48 * (f + 1))
    return Array.from({ length: f + 1 }, (_, k) => bytesToBigInt(bytes.subarray(48 * k, 48 * k + 48)) % R)
  }

  /** b_i(t) */
  selfMask(slot: number): bigint {
    return this.selfMaskCoefficients(slot)[0]
  }

  /** y_iu = p_i(u) mod r for u = 1..M, at position u - 1 */
  shares(slot: number): bigint[] {
    const a = this.selfMaskCoefficients(slot)
    return Array.from({ length: this.consensusCount }, (_, k) => {
      const u = BigInt(k + 1)
      return modR(a.reduce((acc, coef, d) => acc + coef * u ** BigInt(d), 0n))
    })
  }

  pad(slot: number, peer: number): bigint {
    return referencePad(this.committeeKeys[peer - 1], slot)
  }

  report(slot: number, reading: bigint): Uint8Array {
    checkSlot(slot)
    checkReading(reading)
    const { mask, mac } = referenceSlotKeys(this.sharedWithGateway, this.index, slot)
    let aui = 0n
    for (const j of this.partners(slot)) aui += this.aui(slot, j)
    const c = modR(reading + mask + aui + this.selfMask(slot))
    const e = this.shares(slot).map((y, k) => modR(y + this.pad(slot, k + 1)))
    const entries = e.map((share, k) =>
      concatBytes(scalarToBytes(share), scalarToBytes(referenceShareTag(this.committeeKeys[k], slot, share)))
    )
    const body = concatBytes(u32be(this.index), u64be(slot), scalarToBytes(c), ...entries)
    return concatBytes(body, referenceTag(mac, body))
  }

  /** The answer to a reveal question (reveal.ts), without the meter's two-request limit. */
  reveal(slot: number, missing: number[]): Uint8Array {
    const sorted = [...missing].sort((a, b) => a - b)
    const partners = new Set(this.partners(slot))
    const r = modR(sorted.filter((j) => partners.has(j)).reduce((acc, j) => acc + this.aui(slot, j), 0n))
    const count = new Uint8Array([sorted.length >> 8, sorted.length & 0xff])
    const body = concatBytes(u32be(this.index), u64be(slot), count, ...sorted.map(u32be), scalarToBytes(r))
    return concatBytes(body, referenceRevealTag(referenceSlotKeys(this.sharedWithGateway, this.index, slot).mac, body))
  }
}
