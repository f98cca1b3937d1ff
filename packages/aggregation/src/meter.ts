/**
 * The meter's side of data reporting (paper IV-B, PROTOCOL sections 2 and 3.5).
 *
 * Built from the meter's key material (key-material.ts: dealt by the trusted authority, or
 * derived by Diffie-Hellman), so construction costs only HMAC key set-ups. A report costs HMAC-SHA256
 * compressions on cached key midstates, a few bigint operations and M + 1 reductions mod r:
 *
 *   b_i(t), a_i1..a_if  from HKDF-Expand(V_i, "self-mask" || t)                       (3.5.1)
 *   C_i   = m_i + k_mask(t) + sum_{j in partners(t)} AUI_ij(t) + b_i(t)  mod r          (3.5.2)
 *   e_iu  = p_i(u) + pad_iu(t)  mod r,  p_i(x) = b_i(t) + a_i1 x + ... + a_if x^f       (3.5.1)
 *   tau_iu = lambda_iu(t) e_iu + kappa_iu(t)  mod r, the share's tag for peer u           (3.5.1)
 *   MAC_i = HMAC(k_mac(t), u32(i) || u64(t) || C_i || e_i1 || tau_i1 || ... || tau_iM)  (2.5)
 *
 * Everything is a deterministic function of the keys, the slot and the reading, so a retried
 * report has the same bytes (the gateway counts it as a DUPLICATE, never as a CONFLICT).
 *
 * `reveal` answers the gateway's question about dangling pairwise masks (PROTOCOL 3.5.4, see
 * reveal.ts). A meter answers at most two different questions per slot, the second's missing set a
 * superset of the first's, as the gateway's two rounds need; the same question again gets the same
 * answer (a retry). Anything else is refused with a typed error (REVEAL_LIMIT,
 * REVEAL_NOT_SUPERSET): answering more would let a gateway learn single pairwise masks by asking
 * about different subsets. Which slot may be asked about is the caller's decision (the meter
 * runtime answers only for the slot it has just reported); this object remembers its answers for
 * the last REVEAL_MEMORY slots and refuses older ones (REVEAL_STALE), so the limit holds for the
 * life of the process. A restarted process starts with an empty memory: its runtime should answer
 * only for slots it reported after the restart.
 */
import { DOMAIN } from '@bbnp/core'
import { HmacKey, modR, R } from '@bbnp/crypto'
import { readUint384, WordAccumulator, writeScalar32 } from './accumulator.ts'
import { aggregationError } from './errors.ts'
import {
  checkSlot,
  Expander,
  meterGatewayInfo,
  SHARE_KAPPA_OFFSET,
  SHARE_LAMBDA_OFFSET,
  SHARE_PRF_BYTES,
  shareTag,
  slotInfo,
  writeU32,
  writeU64
} from './kdf.ts'
import type { MeterKeys } from './key-material.ts'
import { checkConsensusCount, faultTolerance } from './params.ts'
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
import { CIPHERTEXT_OFFSET, reportBytes, shareOffset, shareTagOffset } from './report.ts'
import { checkMissingList, revealAnswerBody, revealTagInput } from './reveal.ts'
import { GATEWAY_ID, meterId } from './trusted-setup.ts'

/**
 * Readings are integers in (-2^48, 2^48) Wh (about 281 GWh per slot, far beyond any meter), so
 * that a sum over up to 2^32 meters stays below r/2 in magnitude and decodes as a signed integer
 * without ambiguity (PROTOCOL 3.5.6).
 */
export const MAX_READING_MAGNITUDE = 1n << 48n

/** How many slots' reveal answers a meter remembers (see the file comment). */
export const REVEAL_MEMORY = 64

export function checkReading(reading: bigint): void {
  if (typeof reading !== 'bigint' || reading >= MAX_READING_MAGNITUDE || reading <= -MAX_READING_MAGNITUDE) {
    throw aggregationError('READING_RANGE', `a reading must be an integer number of Wh with |m| < 2^48, got ${String(reading)}`)
  }
}

export interface MeterOptions {
  keys: MeterKeys
  /** K and e from the genesis (PROTOCOL 2.2) */
  params?: Partial<AggregationParams>
  /** M from the genesis; when given, the keys must hold exactly M peer keys */
  consensusCount?: number
}

interface PairLink {
  index: number
  key: HmacKey
  /** sign(i - j): AUI_ij = -AUI_ji (PROTOCOL 2.3) */
  sign: 1 | -1
  neighbour: boolean
}

interface RevealRecord {
  missing: number[]
  answer: Uint8Array
}

export class MeterCrypto {
  readonly index: number
  readonly id: string
  readonly meterCount: number
  readonly params: AggregationParams
  /** Candidate partners in ring order (PROTOCOL 2.2). */
  readonly candidates: readonly number[]
  readonly threshold: PartnerThreshold
  /** M */
  readonly consensusCount: number
  /** f: the self-mask's sharing polynomial has degree f, threshold f + 1 */
  readonly faultTolerance: number
  /** reportBytes(M) */
  readonly reportLength: number

  private readonly prk: HmacKey
  private readonly links: PairLink[] = []
  private readonly linkOf = new Map<number, PairLink>()
  private readonly selfKey: HmacKey
  private readonly committee: HmacKey[]
  private readonly maskExp: Expander
  private readonly macExp: Expander
  private readonly auiExp = new Expander(slotInfo(DOMAIN.aui))
  private readonly selfExp = new Expander(slotInfo(DOMAIN.selfMask))
  private readonly shareExp = new Expander(slotInfo(DOMAIN.share))
  private readonly clusterMsg = slotInfo(DOMAIN.cluster)
  private readonly acc = new WordAccumulator(12)
  private readonly scratch = new Uint8Array(48)
  private readonly prf = new Uint8Array(32)
  private readonly macKeyBytes = new Uint8Array(32)
  private readonly coef: Uint8Array
  private readonly coefView: DataView
  private readonly coefBig: bigint[]
  /** pad_iu(t), lambda_iu(t), kappa_iu(t) of the peer being done (kdf.ts) */
  private readonly shareKeys = new Uint8Array(SHARE_PRF_BYTES)
  private readonly shareView = new DataView(this.shareKeys.buffer)
  private readonly points: bigint[]
  private readonly reveals = new Map<number, RevealRecord[]>()
  private revealFloor = 0

  constructor(opts: MeterOptions) {
    const keys = opts.keys
    this.params = resolveParams(opts.params)
    checkMeterCount(keys.meterCount)
    checkMeterIndex(keys.index, keys.meterCount)
    const m = keys.committeeKeys.length
    checkConsensusCount(m)
    if (opts.consensusCount !== undefined && opts.consensusCount !== m)
      throw aggregationError('BAD_KEYS', `keys for ${m} consensus peers, the genesis has ${opts.consensusCount}`)
    this.index = keys.index
    this.id = meterId(keys.index)
    this.meterCount = keys.meterCount
    this.consensusCount = m
    this.faultTolerance = faultTolerance(m)
    this.reportLength = reportBytes(m)

    this.prk = new HmacKey(keys.gatewayKey)
    this.maskExp = new Expander(meterGatewayInfo(DOMAIN.mask, this.id, GATEWAY_ID))
    this.macExp = new Expander(meterGatewayInfo(DOMAIN.mac, this.id, GATEWAY_ID))
    this.selfKey = new HmacKey(keys.selfMaskKey)
    this.committee = keys.committeeKeys.map((k) => new HmacKey(k))

    this.candidates = candidateIndices(keys.index, keys.meterCount, this.params.candidates)
    if (keys.pairSeeds.length !== this.candidates.length)
      throw aggregationError('BAD_KEYS', `${keys.pairSeeds.length} pair seeds for ${this.candidates.length} candidates`, { meter: this.id })
    const neighbours = ringNeighbours(keys.index, keys.meterCount)
    this.candidates.forEach((j, p) => {
      const link: PairLink = {
        index: j,
        key: new HmacKey(keys.pairSeeds[p]),
        sign: keys.index > j ? 1 : -1,
        neighbour: neighbours.includes(j)
      }
      this.links.push(link)
      this.linkOf.set(j, link)
    })
    this.threshold = partnerThreshold(keys.meterCount, this.params)

    const f = this.faultTolerance
    this.coef = new Uint8Array(48 * (f + 1))
    this.coefView = new DataView(this.coef.buffer)
    this.coefBig = new Array<bigint>(f + 1).fill(0n)
    this.points = Array.from({ length: m + 1 }, (_, u) => BigInt(u))
  }

  /** The report {i, t, C_i, (e_i1, tau_i1)..(e_iM, tau_iM), MAC_i} for reading m_i (Wh, may be negative) in slot t. */
  report(slot: number, reading: bigint): Uint8Array {
    checkSlot(slot)
    checkReading(reading)
    const acc = this.acc
    acc.reset()
    // k_mask(t), the AUIs and b_i(t) are added as unreduced 48-byte values: one reduction mod r
    // at the end gives the same C_i.
    this.maskExp.setSlot(slot)
    this.maskExp.expand(this.prk, this.scratch, 0, 48)
    acc.add(this.scratch, 0, 1)
    this.addAuis(slot, acc, undefined, undefined)
    const f = this.faultTolerance
    this.selfExp.setSlot(slot)
    this.selfExp.expand(this.selfKey, this.coef, 0, 48 * (f + 1))
    acc.add(this.coef, 0, 1)
    const c = modR(acc.value() + reading)

    const len = this.reportLength
    const out = new Uint8Array(len)
    writeU32(out, 0, this.index)
    writeU64(out, 4, slot)
    writeScalar32(out, CIPHERTEXT_OFFSET, c)

    // e_iu = p_i(u) + pad_iu(t): Horner on the unreduced coefficients (u is small, so each step
    // is a short multiplication), then one reduction per share; then its tag for peer u.
    const a = this.coefBig
    for (let k = 0; k <= f; k++) a[k] = readUint384(this.coefView, 48 * k)
    this.shareExp.setSlot(slot)
    const sv = this.shareView
    for (let u = 1; u <= this.consensusCount; u++) {
      const x = this.points[u]
      let v = a[f]
      for (let k = f - 1; k >= 0; k--) v = v * x + a[k]
      this.shareExp.expand(this.committee[u - 1], this.shareKeys, 0, SHARE_PRF_BYTES)
      const e = (v + readUint384(sv, 0)) % R
      const lambda = (sv.getBigUint64(SHARE_LAMBDA_OFFSET) << 64n) | sv.getBigUint64(SHARE_LAMBDA_OFFSET + 8)
      const kappa =
        (sv.getBigUint64(SHARE_KAPPA_OFFSET) << 192n) |
        (sv.getBigUint64(SHARE_KAPPA_OFFSET + 8) << 128n) |
        (sv.getBigUint64(SHARE_KAPPA_OFFSET + 16) << 64n) |
        sv.getBigUint64(SHARE_KAPPA_OFFSET + 24)
      writeScalar32(out, shareOffset(u), e)
      writeScalar32(out, shareTagOffset(u), shareTag(e, lambda, kappa))
    }

    this.macExp.setSlot(slot)
    this.macExp.expand(this.prk, this.macKeyBytes, 0, 32)
    new HmacKey(this.macKeyBytes).macRange(out, 0, len - 32, out, len - 32)
    return out
  }

  /**
   * The answer to the gateway's question about this meter's missing candidates in slot t
   * (PROTOCOL 3.5.4; byte layout in reveal.ts): r_i = sum of AUI_ij(t) over the active partners j
   * of this slot among them, tagged under k_mac(t). Throws REVEAL_REQUEST when `missing` names a
   * meter that is not a candidate (or nobody, or one twice), and REVEAL_LIMIT,
   * REVEAL_NOT_SUPERSET or REVEAL_STALE as described in the file comment.
   */
  reveal(slot: number, missingCandidates: readonly number[]): Uint8Array {
    checkSlot(slot)
    const missing = [...missingCandidates].sort((x, y) => x - y)
    checkMissingList(missing)
    for (const j of missing)
      if (!this.linkOf.has(j)) throw aggregationError('REVEAL_REQUEST', `meter-${j} is not a candidate partner of ${this.id}`, { slot })
    if (slot < this.revealFloor) throw aggregationError('REVEAL_STALE', `slot ${slot} is older than the reveals ${this.id} remembers`)
    const log = this.reveals.get(slot) ?? []
    const same = log.find((r) => r.missing.length === missing.length && r.missing.every((j, k) => j === missing[k]))
    if (same) return same.answer.slice()
    if (log.length >= 2) throw aggregationError('REVEAL_LIMIT', `${this.id} already answered two reveal requests for slot ${slot}`)
    if (log.length === 1 && !log[0].missing.every((j) => missing.includes(j)))
      throw aggregationError('REVEAL_NOT_SUPERSET', `the second reveal request of slot ${slot} must contain the first's missing meters`)

    const acc = new WordAccumulator(12)
    this.addAuis(slot, acc, undefined, new Set(missing))
    const body = revealAnswerBody({ meterIndex: this.index, slot, missing }, modR(acc.value()))
    this.macExp.setSlot(slot)
    this.macExp.expand(this.prk, this.macKeyBytes, 0, 32)
    new HmacKey(this.macKeyBytes).mac(revealTagInput(body.subarray(0, body.length - 32)), body.subarray(body.length - 32))

    log.push({ missing, answer: body })
    this.reveals.set(slot, log)
    if (this.reveals.size > REVEAL_MEMORY) {
      const oldest = Math.min(...this.reveals.keys())
      this.reveals.delete(oldest)
      this.revealFloor = Math.max(this.revealFloor, oldest + 1)
    }
    return body.slice()
  }

  /** This meter's partners in slot t, sorted (diagnostics and tests; not on the report path). */
  partners(slot: number): number[] {
    checkSlot(slot)
    const out: number[] = []
    this.addAuis(slot, undefined, out, undefined)
    return out.sort((a, b) => a - b)
  }

  /** sum_j AUI_ij(t) mod r over this meter's partners (tests: the AUIs of all meters cancel). */
  auxiliarySum(slot: number): bigint {
    checkSlot(slot)
    const acc = new WordAccumulator(12)
    this.addAuis(slot, acc, undefined, undefined)
    return modR(acc.value())
  }

  /**
   * Add sign(i-j) * PRF(P_ij, "aui" || t) for every partner j of slot t (within `only`, when
   * given) to `acc`, and/or list the partners. Ring neighbours always; another candidate when
   * HMAC(P_ij, "cluster" || t), read as a uint64, is at most floor(p * 2^64) (PROTOCOL 2.2, see
   * partners.ts for p).
   */
  private addAuis(slot: number, acc: WordAccumulator | undefined, partnersOut: number[] | undefined, only: Set<number> | undefined): void {
    writeU64(this.clusterMsg, this.clusterMsg.length - 8, slot)
    this.auiExp.setSlot(slot)
    for (const link of this.links) {
      if (only && !only.has(link.index)) continue
      if (!link.neighbour) {
        link.key.mac(this.clusterMsg, this.prf)
        if (!belowThreshold(this.prf, this.threshold)) continue
      }
      partnersOut?.push(link.index)
      if (!acc) continue
      this.auiExp.expand(link.key, this.scratch, 0, 48)
      acc.add(this.scratch, 0, link.sign)
    }
  }
}
