/**
 * A literal, slow implementation of PROTOCOL 2.1-2.5 with node:crypto (hkdfSync, createHmac) and
 * bigints, written straight from the formulas in kdf.ts with none of the fast path's tricks
 * (cached midstates, preallocated buffers, 32-bit lanes). Two uses:
 *
 * - known-answer tests: `MeterCrypto` and `GatewayCrypto` must agree with it byte for byte;
 * - `bbnp bench`: "the naive way", the cost of the same report and tag when every HMAC and HKDF
 *   is a node:crypto call (20-30 microseconds each on the target machines).
 *
 * Static values (the DH results and the pair seeds P_ij) are cached as in the fast path; every
 * per-slot value is recomputed per call.
 */
import { createHmac, hkdfSync } from 'node:crypto'
import { bytesToBigInt, concatBytes, DOMAIN, u32be, u64be, utf8 } from '@bbnp/core'
import { dhSharedSecret, modR, R, scalarToBytes } from '@bbnp/crypto'
import { aggregationError } from './errors.ts'
import { checkSlot } from './kdf.ts'
import { type AggregationModules, checkReading, type MeterOptions } from './meter.ts'
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

/** MAC_i = HMAC(k_mac, u32(i) || u64(t) || C_i) (PROTOCOL 2.5). */
export function referenceTag(macKey: Uint8Array, meterIndex: number, slot: number, ciphertext: bigint): Uint8Array {
  return hmac(macKey, concatBytes(u32be(meterIndex), u64be(slot), scalarToBytes(ciphertext)))
}

export class ReferenceMeter {
  readonly index: number
  private readonly secret: bigint
  private readonly sharedWithGateway: Uint8Array
  private readonly pairs: { index: number; seed: Uint8Array; neighbour: boolean }[] = []
  /** floor(p * 2^64), or undefined when every candidate is a partner (p = 1) */
  private readonly threshold: bigint | undefined

  constructor(opts: MeterOptions, modules: AggregationModules = {}) {
    const params = resolveParams(opts.params)
    const dh = modules.sharedSecret ?? dhSharedSecret
    this.index = opts.index
    this.secret = opts.secret
    this.sharedWithGateway = dh(opts.secret, opts.gatewayPublicKey)
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
    const msg = concatBytes(utf8(DOMAIN.cluster), Z, u64be(slot))
    return this.pairs
      .filter(
        (pair) => pair.neighbour || this.threshold === undefined || bytesToBigInt(hmac(pair.seed, msg).subarray(0, 8)) <= this.threshold
      )
      .map((pair) => pair.index)
      .sort((a, b) => a - b)
  }

  report(slot: number, reading: bigint): Uint8Array {
    checkSlot(slot)
    checkReading(reading)
    const { mask, mac } = referenceSlotKeys(this.sharedWithGateway, this.index, slot)
    const partners = new Set(this.partners(slot))
    let aui = 0n
    for (const pair of this.pairs) {
      if (!partners.has(pair.index)) continue
      const x = bytesToBigInt(hkdfExpand(pair.seed, concatBytes(utf8(DOMAIN.aui), Z, u64be(slot)), 48)) % R
      aui += this.index > pair.index ? x : -x
    }
    const c = modR(reading + mask + aui + this.secret)
    return concatBytes(u32be(this.index), u64be(slot), scalarToBytes(c), referenceTag(mac, this.index, slot, c))
  }
}
