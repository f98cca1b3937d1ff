/**
 * The gateway's side of secure aggregation (paper IV-C, PROTOCOL sections 3 and 3.5).
 *
 * Stages, so the expensive work is off the critical path of a slot:
 *
 * 1. `GatewayCrypto` (start-up): one HMAC key per meter from its dealt PRK_i (key-material.ts);
 *    no Diffie-Hellman at start.
 * 2. `prepareSlot(t)` (before the slot's reports arrive): every k_mac(t) as a key with cached
 *    midstates, every k_mask(t), and their total.
 * 3. `SlotAggregator.accept` (while reports arrive): per report a few byte comparisons, one HMAC
 *    over the report in place, one copy of it into the slot's preallocated store (so each
 *    accepted meter's padded shares are kept for the peers) and one addition of C_i into 32-bit
 *    lanes. Nothing is allocated on the success path.
 * 4. Recovery (PROTOCOL 3.5.3-3.5.6), driven by the caller, which owns the network and the clock:
 *
 *      close()            reporting ends: A = the accepted meters, D = the others. Fewer than
 *                         minReporters in A: `incomplete`, and nothing more happens. Otherwise
 *                         the first round's reveal questions: each meter of A with a candidate
 *                         partner in D is asked about those candidates.
 *      acceptReveal(b)    checks an answer (the question it answers, its tag) and keeps r_i.
 *      endRevealRound()   the round's deadline passed: a meter that did not answer moves to D,
 *                         and its candidates in A get a second question (the whole missing set
 *                         again, a superset of the first). After the second round a further
 *                         move would need a third: the slot is `incomplete` instead.
 *      stage 'endorse'    A is final: the caller has the peers endorse (t, A) and sends peer u
 *                         the packed e_iu of A with their tags (`sharesFor(u)`); from their
 *                         partial sums it recovers B (shamir.ts, `recoverSelfMaskSum`).
 *      exclude(meters)    peers refused the shares of these meters (their tags failed) and A
 *                         can no longer be certified: they move to D, and the next step is a
 *                         reveal round about them, the smaller A, or `incomplete`.
 *      decode(B)          sum_t = sum_A C_i - sum_A k_mask_i - sum_A r_i - B mod r, as a signed
 *                         integer; `inconsistent` (no sum) outside |A| * 2^48 in magnitude.
 *
 * Why it is exact: AUI edges inside A cancel in pairs, each edge from A to D is in exactly one
 * r_i, and B removes the self-masks of A. A rejected report or answer changes nothing but its
 * counter: it never enters the sum and never marks its meter, so a forgery sent ahead of a meter's
 * real report cannot block it.
 */
import { DOMAIN } from '@bbnp/core'
import { HmacKey, modR } from '@bbnp/crypto'
import { WordAccumulator } from './accumulator.ts'
import { aggregationError } from './errors.ts'
import { checkSlot, Expander, meterGatewayInfo } from './kdf.ts'
import { type GatewayKeys, KEY_BYTES } from './key-material.ts'
import { SlotAggregator } from './slot-aggregator.ts'
import { checkConsensusCount, resolveMinReporters } from './params.ts'
import { type AggregationParams, checkMeterCount, checkMeterIndex, resolveParams } from './partners.ts'
import { reportBytes } from './report.ts'
import { GATEWAY_ID, meterId } from './trusted-setup.ts'

export interface GatewayOptions {
  keys: GatewayKeys
  /** M from the genesis: every report carries M shares */
  consensusCount: number
  /** K (and e) from the genesis: who is asked about whom (PROTOCOL 2.2, 3.5.4) */
  params?: Partial<AggregationParams>
  /** From the genesis; default `defaultMinReporters(N)` (params.ts) */
  minReporters?: number
}

/** The precomputed keys of one slot (stage 2). Single use: one aggregator per slot. */
export class SlotKeys {
  readonly slot: number
  /** k_mac_i(t) at position i - 1 */
  readonly macKeys: readonly HmacKey[]
  /** k_mask_i(t), 48 bytes unreduced, at bytes [48 (i - 1), 48 i) */
  readonly masks: Uint8Array
  /** sum_i k_mask_i(t) over all N meters, exact (unreduced) */
  readonly maskTotal: bigint
  private used = false

  constructor(slot: number, macKeys: HmacKey[], masks: Uint8Array, maskTotal: bigint) {
    this.slot = slot
    this.macKeys = macKeys
    this.masks = masks
    this.maskTotal = maskTotal
  }

  /** @internal marks the keys as consumed by an aggregator. */
  claim(): void {
    if (this.used) throw aggregationError('SLOT_CLOSED', `the keys of slot ${this.slot} are already used by an aggregator`)
    this.used = true
  }
}

export class GatewayCrypto {
  readonly meterCount: number
  readonly consensusCount: number
  readonly params: AggregationParams
  readonly minReporters: number
  readonly reportLength: number
  private readonly prks: HmacKey[]
  private readonly maskInfos: Uint8Array[]
  private readonly macInfos: Uint8Array[]
  // One expander per info layout: their buffers are only reallocated when an ID's length changes.
  private readonly maskExp = new Expander()
  private readonly macExp = new Expander()
  private readonly macKeyBytes = new Uint8Array(32)

  constructor(opts: GatewayOptions) {
    const n = opts.keys.meterCount
    checkMeterCount(n)
    if (opts.keys.meterKeys.length !== n * KEY_BYTES) throw aggregationError('BAD_KEYS', 'gateway keys: one 32-byte key per meter')
    checkConsensusCount(opts.consensusCount)
    this.meterCount = n
    this.consensusCount = opts.consensusCount
    this.params = resolveParams(opts.params)
    this.minReporters = resolveMinReporters(opts.minReporters, n)
    this.reportLength = reportBytes(opts.consensusCount)
    this.prks = new Array(n)
    this.maskInfos = new Array(n)
    this.macInfos = new Array(n)
    for (let i = 0; i < n; i++) {
      this.prks[i] = new HmacKey(opts.keys.meterKeys.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES))
      this.maskInfos[i] = meterGatewayInfo(DOMAIN.mask, meterId(i + 1), GATEWAY_ID)
      this.macInfos[i] = meterGatewayInfo(DOMAIN.mac, meterId(i + 1), GATEWAY_ID)
    }
  }

  /** Stage 2: every k_mac(t) and k_mask(t), computable before any report of t arrives. */
  prepareSlot(slot: number): SlotKeys {
    checkSlot(slot)
    const n = this.meterCount
    const maskExp = this.maskExp
    const macExp = this.macExp
    const total = new WordAccumulator(12)
    const masks = new Uint8Array(n * 48)
    const macKeys: HmacKey[] = new Array(n)
    for (let i = 0; i < n; i++) {
      const prk = this.prks[i]
      maskExp.setInfo(this.maskInfos[i])
      maskExp.setSlot(slot)
      maskExp.expand(prk, masks, i * 48, 48)
      total.add(masks, i * 48, 1)
      macExp.setInfo(this.macInfos[i])
      macExp.setSlot(slot)
      macExp.expand(prk, this.macKeyBytes, 0, 32)
      macKeys[i] = new HmacKey(this.macKeyBytes)
    }
    return new SlotKeys(slot, macKeys, masks, total.value())
  }

  /** Stage 3: the aggregator of one slot, from keys made by `prepareSlot` (or made now). */
  openSlot(slotOrKeys: number | SlotKeys): SlotAggregator {
    const keys = typeof slotOrKeys === 'number' ? this.prepareSlot(slotOrKeys) : slotOrKeys
    if (keys.macKeys.length !== this.meterCount) throw aggregationError('PARAMS', 'slot keys belong to a gateway with another meter count')
    keys.claim()
    return new SlotAggregator(keys, this)
  }

  /** k_mask_i(t) reduced mod r: what the gateway removes from C_i (tests and diagnostics). */
  meterMask(meterIndex: number, slot: number): bigint {
    checkMeterIndex(meterIndex, this.meterCount)
    checkSlot(slot)
    const exp = new Expander(this.maskInfos[meterIndex - 1])
    exp.setSlot(slot)
    const out = new Uint8Array(48)
    exp.expand(this.prks[meterIndex - 1], out, 0, 48)
    const acc = new WordAccumulator(12)
    acc.add(out, 0, 1)
    return modR(acc.value())
  }
}

export { SlotAggregator } from './slot-aggregator.ts'
export type {
  AcceptResult,
  IncompleteReason,
  RecoveryStep,
  RejectCounters,
  RevealRejectCounters,
  RevealResult,
  SlotResult
} from './slot-aggregator.ts'
