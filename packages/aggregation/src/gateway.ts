/**
 * The gateway's side of secure aggregation (paper IV-C, PROTOCOL section 3).
 *
 * Three stages, so the expensive work is off the critical path of a slot:
 *
 * 1. `GatewayCrypto` (start-up): K_gi = S_i^{s_g} and PRK_i for every meter, N scalar
 *    multiplications of a few milliseconds each, done once (3.2).
 * 2. `prepareSlot(t)` (before the slot's reports arrive): every k_mac(t) as a key with cached
 *    midstates, and s_g - sum_i k_mask_i(t) mod r.
 * 3. `SlotAggregator` (while reports arrive): per report a few byte comparisons, one HMAC with
 *    the cached key (two SHA-256 compressions) and one addition into 32-bit lanes; `finish()`
 *    does a single reduction mod r.
 *
 * sum_t = sum_i C_i - sum_i k_mask_i + s_g = sum_i m_i (mod r), because the AUIs cancel in pairs
 * and s_g = -sum_i s_i (3.3, paper IV-C steps 3-4).
 */
import { DOMAIN } from '@bbnp/core'
import { dhSharedSecret, HmacKey, modR, R, scalarToSigned } from '@bbnp/crypto'
import { WordAccumulator } from './accumulator.ts'
import { aggregationError, REJECT_CODES, type RejectCode } from './errors.ts'
import { checkSlot, Expander, meterGatewayInfo, meterGatewayKey, readU32 } from './kdf.ts'
import { type AggregationModules, MAX_READING_MAGNITUDE } from './meter.ts'
import { checkMeterCount, checkMeterIndex } from './partners.ts'
import { reportFormatError, reportSlot, TAGGED_BYTES } from './report.ts'
import { GATEWAY_ID, meterId } from './trusted-setup.ts'

export interface GatewayOptions {
  /** s_g */
  secret: bigint
  /** S_i of meter i at position i - 1, for i = 1..N */
  meterPublicKeys: readonly Uint8Array[]
  /** Called after each meter's key is derived during construction (N DH operations). */
  onProgress?: (done: number, total: number) => void
}

/** The precomputed keys of one slot (stage 2). Single use: one aggregator per slot. */
export class SlotKeys {
  readonly slot: number
  /** k_mac_i(t) at position i - 1 */
  readonly macKeys: readonly HmacKey[]
  /** s_g - sum_i k_mask_i(t) mod r */
  readonly offset: bigint
  private used = false

  constructor(slot: number, macKeys: HmacKey[], offset: bigint) {
    this.slot = slot
    this.macKeys = macKeys
    this.offset = offset
  }

  /** @internal marks the keys as consumed by an aggregator. */
  claim(): void {
    if (this.used) throw aggregationError('SLOT_CLOSED', `the keys of slot ${this.slot} are already used by an aggregator`)
    this.used = true
  }
}

export class GatewayCrypto {
  readonly meterCount: number
  private readonly secret: bigint
  private readonly prks: HmacKey[]
  private readonly maskInfos: Uint8Array[]
  private readonly macInfos: Uint8Array[]
  // One expander per info layout: their buffers are only reallocated when an ID's length changes.
  private readonly maskExp = new Expander()
  private readonly macExp = new Expander()
  private readonly scratch = new Uint8Array(48)
  private readonly macKeyBytes = new Uint8Array(32)

  constructor(opts: GatewayOptions, modules: AggregationModules = {}) {
    const n = opts.meterPublicKeys.length
    checkMeterCount(n)
    if (typeof opts.secret !== 'bigint' || opts.secret <= 0n || opts.secret >= R)
      throw aggregationError('PARAMS', 'gateway secret must be in [1, r)')
    this.meterCount = n
    this.secret = opts.secret
    const dh = modules.sharedSecret ?? dhSharedSecret
    this.prks = new Array(n)
    this.maskInfos = new Array(n)
    this.macInfos = new Array(n)
    for (let i = 0; i < n; i++) {
      // PROTOCOL 3.2: K_gi = S_i^{s_g} = K_ig, static, so it is derived once for the process.
      this.prks[i] = meterGatewayKey(dh(opts.secret, opts.meterPublicKeys[i]))
      this.maskInfos[i] = meterGatewayInfo(DOMAIN.mask, meterId(i + 1), GATEWAY_ID)
      this.macInfos[i] = meterGatewayInfo(DOMAIN.mac, meterId(i + 1), GATEWAY_ID)
      opts.onProgress?.(i + 1, n)
    }
  }

  /** Stage 2: every k_mac(t) and s_g - sum k_mask(t), computable before any report of t arrives. */
  prepareSlot(slot: number): SlotKeys {
    checkSlot(slot)
    const n = this.meterCount
    const maskExp = this.maskExp
    const macExp = this.macExp
    const masks = new WordAccumulator(12)
    const macKeys: HmacKey[] = new Array(n)
    for (let i = 0; i < n; i++) {
      const prk = this.prks[i]
      maskExp.setInfo(this.maskInfos[i])
      maskExp.setSlot(slot)
      maskExp.expand(prk, this.scratch, 0, 48)
      masks.add(this.scratch, 0, 1)
      macExp.setInfo(this.macInfos[i])
      macExp.setSlot(slot)
      macExp.expand(prk, this.macKeyBytes, 0, 32)
      macKeys[i] = new HmacKey(this.macKeyBytes)
    }
    return new SlotKeys(slot, macKeys, modR(this.secret - masks.value()))
  }

  /** Stage 3: the aggregator of one slot, from keys made by `prepareSlot` (or made now). */
  openSlot(slotOrKeys: number | SlotKeys): SlotAggregator {
    const keys = typeof slotOrKeys === 'number' ? this.prepareSlot(slotOrKeys) : slotOrKeys
    if (keys.macKeys.length !== this.meterCount) throw aggregationError('PARAMS', 'slot keys belong to a gateway with another meter count')
    keys.claim()
    return new SlotAggregator(keys)
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

export type AcceptResult = { ok: true; meterIndex: number } | { ok: false; code: RejectCode; meterIndex?: number }

export type SlotResult =
  | { status: 'complete'; slot: number; sum: bigint; count: number }
  | { status: 'incomplete'; slot: number; missing: string[]; count: number }
  | { status: 'inconsistent'; slot: number; count: number; reason: string }

export type RejectCounters = Record<RejectCode, number>

// The result of every accepted report, one frozen object per meter index shared by all slots, so
// that accept() allocates nothing on its success path: at 10,000 reports a slot, allocation there
// would trigger young-generation collections that copy the slot's keys and reports mid-loop.
const OK_RESULTS: AcceptResult[] = []

function okResults(n: number): readonly AcceptResult[] {
  for (let i = OK_RESULTS.length; i <= n; i++) OK_RESULTS.push(Object.freeze({ ok: true, meterIndex: i }))
  return OK_RESULTS
}

/**
 * Verifies and sums the reports of one slot (PROTOCOL 3.1). A rejected report changes nothing
 * but its counter: it never enters the sum and never marks its meter as reported, so a forgery
 * sent ahead of a meter's real report cannot block it (the tag is checked before the duplicate
 * mark is set, and only an authentic report sets it).
 */
export class SlotAggregator {
  readonly slot: number
  private readonly keys: SlotKeys
  private readonly macKeys: readonly HmacKey[]
  private readonly ok: readonly AcceptResult[]
  private readonly seen: Uint8Array
  private readonly sum = new WordAccumulator(8)
  private readonly counters: RejectCounters
  private readonly tagged = new Uint8Array(TAGGED_BYTES)
  private readonly expected = new Uint8Array(32)
  private accepted = 0
  private result: SlotResult | undefined

  constructor(keys: SlotKeys) {
    this.slot = keys.slot
    this.keys = keys
    this.macKeys = keys.macKeys
    this.ok = okResults(keys.macKeys.length)
    this.seen = new Uint8Array(keys.macKeys.length)
    this.counters = Object.fromEntries(REJECT_CODES.map((c) => [c, 0])) as RejectCounters
  }

  get count(): number {
    return this.accepted
  }

  get closed(): boolean {
    return this.result !== undefined
  }

  /** Snapshot of the rejection counters of this slot. */
  rejections(): RejectCounters {
    return { ...this.counters }
  }

  /**
   * Check one report, in this order: size (OVERSIZED, MALFORMED), decodability (MALFORMED), meter
   * in the genesis (UNKNOWN_METER), slot (WRONG_SLOT), first report of the meter (DUPLICATE),
   * tag (BAD_TAG, constant-time comparison). Which slots are open, given the clock-skew window,
   * is the caller's decision.
   */
  accept(bytes: Uint8Array): AcceptResult {
    if (this.result) throw aggregationError('SLOT_CLOSED', `slot ${this.slot} is already finished`)
    const formatError = reportFormatError(bytes)
    if (formatError) return this.reject(formatError, undefined)
    const index = readU32(bytes, 0)
    const n = this.seen.length
    if (index < 1 || index > n) return this.reject('UNKNOWN_METER', index)
    if (reportSlot(bytes) !== this.slot) return this.reject('WRONG_SLOT', index)
    if (this.seen[index - 1] !== 0) return this.reject('DUPLICATE', index)
    // Copy into preallocated buffers rather than take views: no allocation per report.
    const tagged = this.tagged
    for (let k = 0; k < TAGGED_BYTES; k++) tagged[k] = bytes[k]
    const expected = this.expected
    this.macKeys[index - 1].mac(tagged, expected)
    // Constant-time comparison: the time taken does not depend on where the tags differ.
    let diff = 0
    for (let k = 0; k < 32; k++) diff |= expected[k] ^ bytes[TAGGED_BYTES + k]
    if (diff !== 0) return this.reject('BAD_TAG', index)
    this.seen[index - 1] = 1
    this.sum.add(bytes, 12, 1)
    this.accepted++
    return this.ok[index]
  }

  /**
   * Close the slot. With all N meters in: the decoded sum (PROTOCOL 3.3). Otherwise: the IDs of
   * the missing meters and no sum, since without every k_mask and AUI the masks do not cancel and
   * any number would be wrong (3.5). A third outcome, `inconsistent` (no sum either), is our
   * addition: all N tags verified but the decoded value cannot be a sum of N valid readings.
   * Idempotent; the slot accepts nothing afterwards (accept() throws SLOT_CLOSED), so a slot is
   * never decoded twice with different meter sets.
   */
  finish(): SlotResult {
    if (this.result) return this.result
    const n = this.seen.length
    if (this.accepted < n) {
      const missing: string[] = []
      for (let i = 0; i < n; i++) if (this.seen[i] === 0) missing.push(meterId(i + 1))
      this.result = { status: 'incomplete', slot: this.slot, missing, count: this.accepted }
    } else {
      const sum = scalarToSigned(modR(this.sum.value() + this.keys.offset))
      // Every reading is below 2^48 in magnitude, so an honest sum is below N * 2^48. Anything
      // else means keys that do not match (e.g. a TA whose s_g is not -sum s_i) or a meter that
      // added garbage under its valid tag: refuse it rather than publish a wrong sum (3.5).
      const bound = BigInt(n) * MAX_READING_MAGNITUDE
      this.result =
        sum < bound && sum > -bound
          ? { status: 'complete', slot: this.slot, sum, count: this.accepted }
          : { status: 'inconsistent', slot: this.slot, count: this.accepted, reason: 'decoded sum outside the range of N valid readings' }
    }
    return this.result
  }

  private reject(code: RejectCode, meterIndex: number | undefined): AcceptResult {
    this.counters[code]++
    return meterIndex === undefined ? { ok: false, code } : { ok: false, code, meterIndex }
  }
}
