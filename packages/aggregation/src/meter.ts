/**
 * The meter's side of data reporting (paper IV-B, PROTOCOL section 2).
 *
 * All Diffie-Hellman work happens once, in the constructor: K_ig with the gateway (2.1) and one
 * pair seed P_ij per candidate (2.2), 1 + K scalar multiplications. A report then costs only
 * HMAC-SHA256 compressions on cached key midstates and one reduction mod r:
 *
 *   C_i   = m_i + k_mask(t) + sum_{j in partners(t)} AUI_ij(t) + s_i  mod r      (2.4)
 *   MAC_i = HMAC(k_mac(t), u32(i) || u64(t) || C_i)                              (2.5)
 */
import { DOMAIN } from '@bbnp/core'
import { dhSharedSecret, HmacKey, modR, R } from '@bbnp/crypto'
import { WordAccumulator, writeScalar32 } from './accumulator.ts'
import { aggregationError } from './errors.ts'
import { checkSlot, Expander, meterGatewayInfo, meterGatewayKey, pairInfo, pairSeed, writeU32, writeU64 } from './kdf.ts'
import {
  type AggregationParams,
  belowThreshold,
  candidateIndices,
  checkMeterCount,
  checkMeterIndex,
  type PartnerThreshold,
  partnerThreshold,
  resolveParams,
  ringNeighbours
} from './partners.ts'
import { REPORT_BYTES, TAGGED_BYTES } from './report.ts'
import { GATEWAY_ID, meterId } from './trusted-setup.ts'

/** S_peer^{own} compressed (48 bytes). The default validates the peer point (dhSharedSecret). */
export type SharedSecretFn = (ownSecret: bigint, peerPublicKey: Uint8Array) => Uint8Array

export interface AggregationModules {
  sharedSecret?: SharedSecretFn
}

/**
 * Readings are integers in (-2^48, 2^48) Wh (about 281 GWh per slot, far beyond any meter), so
 * that a sum over up to 2^32 meters stays below r/2 in magnitude and decodes as a signed integer
 * without ambiguity (PROTOCOL 3.3).
 */
export const MAX_READING_MAGNITUDE = 1n << 48n

export function checkReading(reading: bigint): void {
  if (typeof reading !== 'bigint' || reading >= MAX_READING_MAGNITUDE || reading <= -MAX_READING_MAGNITUDE) {
    throw aggregationError('READING_RANGE', `a reading must be an integer number of Wh with |m| < 2^48, got ${String(reading)}`)
  }
}

export interface MeterOptions {
  /** i in 1..N */
  index: number
  /** N */
  meterCount: number
  /** s_i */
  secret: bigint
  /** S_g */
  gatewayPublicKey: Uint8Array
  /** S_j of (at least) every candidate j of this meter, see `candidateIndices`. */
  candidatePublicKeys: ReadonlyMap<number, Uint8Array>
  params?: Partial<AggregationParams>
}

interface PairLink {
  index: number
  key: HmacKey
  /** sign(i - j): AUI_ij = -AUI_ji (PROTOCOL 2.3) */
  sign: 1 | -1
}

export class MeterCrypto {
  readonly index: number
  readonly id: string
  readonly meterCount: number
  readonly params: AggregationParams
  /** Candidate partners in ring order (PROTOCOL 2.2). */
  readonly candidates: readonly number[]
  readonly threshold: PartnerThreshold

  private readonly secret: bigint
  private readonly prk: HmacKey
  private readonly neighbours: PairLink[] = []
  private readonly extras: PairLink[] = []
  private readonly maskExp: Expander
  private readonly macExp: Expander
  private readonly auiExp: Expander
  private readonly clusterMsg: Uint8Array
  private readonly acc = new WordAccumulator(12)
  private readonly scratch = new Uint8Array(48)
  private readonly prf = new Uint8Array(32)
  private readonly macKeyBytes = new Uint8Array(32)

  constructor(opts: MeterOptions, modules: AggregationModules = {}) {
    this.params = resolveParams(opts.params)
    checkMeterCount(opts.meterCount)
    checkMeterIndex(opts.index, opts.meterCount)
    if (typeof opts.secret !== 'bigint' || opts.secret <= 0n || opts.secret >= R)
      throw aggregationError('PARAMS', 'meter secret must be in [1, r)')
    this.index = opts.index
    this.id = meterId(opts.index)
    this.meterCount = opts.meterCount
    this.secret = opts.secret
    const dh = modules.sharedSecret ?? dhSharedSecret

    // PROTOCOL 2.1: K_ig = S_g^{s_i}, computed once; only PRK_i's midstates are kept.
    this.prk = meterGatewayKey(dh(opts.secret, opts.gatewayPublicKey))
    this.maskExp = new Expander(meterGatewayInfo(DOMAIN.mask, this.id, GATEWAY_ID))
    this.macExp = new Expander(meterGatewayInfo(DOMAIN.mac, this.id, GATEWAY_ID))
    this.auiExp = new Expander(pairInfo(DOMAIN.aui))
    this.clusterMsg = pairInfo(DOMAIN.cluster)

    // PROTOCOL 2.2: one DH per candidate, once; P_ij kept as a key with cached midstates.
    this.candidates = candidateIndices(opts.index, opts.meterCount, this.params.candidates)
    const [left, right] = ringNeighbours(opts.index, opts.meterCount)
    for (const j of this.candidates) {
      const pk = opts.candidatePublicKeys.get(j)
      if (!pk)
        throw aggregationError('MISSING_KEY', `public key of candidate ${meterId(j)} of ${this.id} not supplied`, {
          meter: this.id,
          candidate: j
        })
      const link: PairLink = { index: j, key: new HmacKey(pairSeed(dh(opts.secret, pk), opts.index, j)), sign: opts.index > j ? 1 : -1 }
      if (j === left || j === right) this.neighbours.push(link)
      else this.extras.push(link)
    }
    this.threshold = partnerThreshold(opts.meterCount, this.params)
  }

  /** The 76-byte report {i, t, C_i, MAC_i} for reading m_i (Wh, may be negative) in slot t. */
  report(slot: number, reading: bigint): Uint8Array {
    checkSlot(slot)
    checkReading(reading)
    const acc = this.acc
    acc.reset()
    // k_mask(t), 48 bytes, added unreduced: one reduction mod r at the end gives the same C_i.
    this.maskExp.setSlot(slot)
    this.maskExp.expand(this.prk, this.scratch, 0, 48)
    acc.add(this.scratch, 0, 1)
    this.addAuis(slot, acc, undefined)
    const c = modR(acc.value() + reading + this.secret)

    const out = new Uint8Array(REPORT_BYTES)
    writeU32(out, 0, this.index)
    writeU64(out, 4, slot)
    writeScalar32(out, 12, c)
    this.macExp.setSlot(slot)
    this.macExp.expand(this.prk, this.macKeyBytes, 0, 32)
    new HmacKey(this.macKeyBytes).mac(out.subarray(0, TAGGED_BYTES), out.subarray(TAGGED_BYTES))
    return out
  }

  /** This meter's partners in slot t, sorted (diagnostics and tests; not on the report path). */
  partners(slot: number): number[] {
    checkSlot(slot)
    const out: number[] = []
    this.addAuis(slot, undefined, out)
    return out.sort((a, b) => a - b)
  }

  /** sum_j AUI_ij(t) mod r over this meter's partners (tests: the AUIs of all meters cancel). */
  auxiliarySum(slot: number): bigint {
    checkSlot(slot)
    const acc = new WordAccumulator(12)
    this.addAuis(slot, acc, undefined)
    return modR(acc.value())
  }

  /**
   * Add sign(i-j) * PRF(P_ij, "aui" || t) for every partner j of slot t to `acc`, and/or list
   * the partners. Ring neighbours always; another candidate when HMAC(P_ij, "cluster" || t),
   * read as a uint64, is at most floor(p * 2^64) (PROTOCOL 2.2, see partners.ts for p).
   */
  private addAuis(slot: number, acc: WordAccumulator | undefined, partnersOut: number[] | undefined): void {
    writeU64(this.clusterMsg, this.clusterMsg.length - 8, slot)
    this.auiExp.setSlot(slot)
    for (const link of this.neighbours) this.addPartner(link, acc, partnersOut)
    for (const link of this.extras) {
      link.key.mac(this.clusterMsg, this.prf)
      if (belowThreshold(this.prf, this.threshold)) this.addPartner(link, acc, partnersOut)
    }
  }

  private addPartner(link: PairLink, acc: WordAccumulator | undefined, partnersOut: number[] | undefined): void {
    partnersOut?.push(link.index)
    if (!acc) return
    this.auiExp.expand(link.key, this.scratch, 0, 48)
    acc.add(this.scratch, 0, link.sign)
  }
}
