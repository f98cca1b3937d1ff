/**
 * The verification, sum and recovery of one slot at the gateway (PROTOCOL 3.1, 3.5.3-3.5.6): the
 * SlotAggregator that GatewayCrypto.openSlot makes. Stages and the order of calls: gateway.ts.
 */
import { HmacKey, modR, scalarToSigned } from '@bbnp/crypto'
import { readScalar32, WordAccumulator } from './accumulator.ts'
import { bitmapFromIndices } from './bitmap.ts'
import { aggregationError, REJECT_CODES, type RejectCode, REVEAL_REJECT_CODES, type RevealRejectCode } from './errors.ts'
import { readU32 } from './kdf.ts'
import { MAX_READING_MAGNITUDE } from './meter.ts'
import { candidateIndices } from './partners.ts'
import { CIPHERTEXT_OFFSET, reportFormatError, reportSlot, SHARE_ENTRY_BYTES, shareOffset } from './report.ts'
import { MAX_REVEAL_MISSING, REVEAL_TAG_PREFIX, type RevealQuery, revealAnswerBytes, revealFormatError } from './reveal.ts'
import { meterId } from './trusted-setup.ts'

import type { GatewayCrypto, SlotKeys } from './gateway.ts'

export type AcceptResult = { ok: true; meterIndex: number } | { ok: false; code: RejectCode; meterIndex?: number }
export type RevealResult = { ok: true; meterIndex: number } | { ok: false; code: RevealRejectCode; meterIndex?: number }

/** Why a slot has no sum: too few reports (3.5.3), a meter lost after the second reveal round (3.5.4), or the caller gave up (no endorsement or no B in time, 3.5.8). */
export type IncompleteReason = 'too-few-reporters' | 'reveal-rounds' | 'abandoned'

export type SlotResult =
  | { status: 'complete'; slot: number; sum: bigint; count: number; missing: string[]; present: Uint8Array }
  | { status: 'incomplete'; slot: number; count: number; missing: string[]; reason: IncompleteReason; detail?: string }
  | { status: 'inconsistent'; slot: number; count: number; missing: string[]; reason: string }

/** What the caller does next with a slot being closed. */
export type RecoveryStep =
  | { stage: 'reveal'; round: 1 | 2; queries: RevealQuery[] }
  | { stage: 'endorse'; slot: number; count: number; present: Uint8Array; missing: string[] }
  | { stage: 'done'; result: SlotResult }

export type RejectCounters = Record<RejectCode, number>
export type RevealRejectCounters = Record<RevealRejectCode, number>

// The result of every accepted report, one frozen object per meter index shared by all slots, so
// that accept() allocates nothing on its success path: at 10,000 reports a slot, allocation there
// would trigger young-generation collections that copy the slot's keys and reports mid-loop.
const OK_RESULTS: AcceptResult[] = []

function okResults(n: number): readonly AcceptResult[] {
  for (let i = OK_RESULTS.length; i <= n; i++) OK_RESULTS.push(Object.freeze({ ok: true, meterIndex: i }))
  return OK_RESULTS
}

// Per meter: 0 = no report counted (ABSENT), COUNTED, or DROPPED.
const COUNTED = 1
/** Accepted, then moved to D for not answering a reveal question (PROTOCOL 3.5.4). */
const DROPPED = 2

interface Answer {
  missing: number[]
  bytes: Uint8Array
  value: bigint
}

/**
 * Verifies and sums the reports of one slot (PROTOCOL 3.1), then runs its recovery (3.5); see the
 * file comment for the order of calls.
 */
export class SlotAggregator {
  readonly slot: number
  readonly meterCount: number
  readonly consensusCount: number
  readonly minReporters: number
  private readonly keys: SlotKeys
  private readonly macKeys: readonly HmacKey[]
  private readonly candidates: number
  private readonly maxMissing: number
  private readonly len: number
  private readonly ok: readonly AcceptResult[]
  /** 0 (absent), COUNTED or DROPPED per meter */
  private readonly status: Uint8Array
  /** each counted meter's report, at bytes [len (i - 1), len i) */
  private readonly store: Uint8Array
  private readonly storeWords: Uint32Array
  private readonly sum = new WordAccumulator(8)
  private readonly counters: RejectCounters
  private readonly revealCounters: RevealRejectCounters
  private readonly conflictList: number[] = []
  private readonly expected = new Uint8Array(32)
  /** REVEAL_TAG_PREFIX followed by the answer being checked: its tag input, without an allocation per answer */
  private readonly revealInput: Uint8Array
  private counted = 0
  private stage: 'open' | 'reveal' | 'endorse' | 'done' = 'open'
  /** the round whose questions were computed last */
  private round = 0
  /** reveal rounds ended so far: a meter is never asked more than once per round, so at most twice in all */
  private held = 0
  /** the missing candidates of each meter of A that has any */
  private readonly missingOf = new Map<number, number[]>()
  /** this round's questions */
  private asked = new Map<number, number[]>()
  private readonly answers = new Map<number, Answer>()
  private presentMap: Uint8Array | undefined
  private outcome: SlotResult | undefined

  constructor(keys: SlotKeys, gateway: GatewayCrypto) {
    this.slot = keys.slot
    this.keys = keys
    this.macKeys = keys.macKeys
    this.meterCount = gateway.meterCount
    this.consensusCount = gateway.consensusCount
    this.minReporters = gateway.minReporters
    this.candidates = gateway.params.candidates
    this.maxMissing = Math.min(gateway.params.candidates, gateway.meterCount - 1)
    this.len = gateway.reportLength
    this.ok = okResults(this.meterCount)
    this.status = new Uint8Array(this.meterCount)
    this.store = new Uint8Array(this.meterCount * this.len)
    this.storeWords = new Uint32Array(this.store.buffer)
    this.counters = Object.fromEntries(REJECT_CODES.map((c) => [c, 0])) as RejectCounters
    this.revealCounters = Object.fromEntries(REVEAL_REJECT_CODES.map((c) => [c, 0])) as RevealRejectCounters
    this.revealInput = new Uint8Array(REVEAL_TAG_PREFIX.length + revealAnswerBytes(Math.min(this.maxMissing, MAX_REVEAL_MISSING)))
    this.revealInput.set(REVEAL_TAG_PREFIX)
  }

  /** |A| so far: reports accepted, minus meters moved to D during recovery. */
  get count(): number {
    return this.counted
  }

  /** False until `close()`. */
  get closed(): boolean {
    return this.stage !== 'open'
  }

  get result(): SlotResult | undefined {
    return this.outcome
  }

  /** Snapshot of the report rejection counters of this slot. */
  rejections(): RejectCounters {
    return { ...this.counters }
  }

  /** Snapshot of the reveal answer rejection counters of this slot. */
  revealRejections(): RevealRejectCounters {
    return { ...this.revealCounters }
  }

  /** Meters that sent two different validly tagged reports (or answers) for this slot: two sources of one identity. */
  conflicts(): number[] {
    return [...new Set(this.conflictList)].sort((a, b) => a - b)
  }

  /**
   * Check one report (order in errors.ts, REJECT_CODES). Before `close()` a valid first report of
   * its meter is counted; afterwards nothing is: reports are classified (LATE, DUPLICATE,
   * CONFLICT, ...) and counted. Which slots are open, given the clock-skew window, is the caller's
   * decision.
   */
  accept(bytes: Uint8Array): AcceptResult {
    const formatError = reportFormatError(bytes, this.consensusCount)
    if (formatError) return this.reject(formatError, undefined)
    const index = readU32(bytes, 0)
    if (index < 1 || index > this.meterCount) return this.reject('UNKNOWN_METER', index)
    if (reportSlot(bytes) !== this.slot) return this.reject('WRONG_SLOT', index)
    const len = this.len
    const off = (index - 1) * len
    if (this.status[index - 1] === COUNTED) {
      const store = this.store
      let same = true
      for (let k = 0; k < len; k++) {
        if (store[off + k] !== bytes[k]) {
          same = false
          break
        }
      }
      if (same) return this.reject('DUPLICATE', index)
      if (!this.tagValid(bytes, index)) return this.reject('BAD_TAG', index)
      this.conflictList.push(index)
      return this.reject('CONFLICT', index)
    }
    if (!this.tagValid(bytes, index)) return this.reject('BAD_TAG', index)
    if (this.stage !== 'open') return this.reject('LATE', index)
    this.store.set(bytes, off)
    this.status[index - 1] = COUNTED
    this.sum.add(bytes, CIPHERTEXT_OFFSET, 1)
    this.counted++
    return this.ok[index]
  }

  /** Reporting ends (PROTOCOL 3.5.3): A and D are fixed, and the first round of reveal questions is computed. */
  close(): RecoveryStep {
    if (this.stage !== 'open') throw aggregationError('STAGE', `slot ${this.slot} is already closed`)
    this.stage = 'reveal'
    if (this.counted < this.minReporters) return this.incomplete('too-few-reporters')
    for (let i = 1; i <= this.meterCount; i++) if (this.status[i - 1] !== COUNTED) this.markMissing(i, undefined)
    this.round = 1
    return this.nextStep([...this.missingOf.keys()])
  }

  /** Check one reveal answer (order in errors.ts, REVEAL_REJECT_CODES) and keep its r_i. */
  acceptReveal(bytes: Uint8Array): RevealResult {
    const formatError = revealFormatError(bytes, this.maxMissing)
    if (formatError) return this.rejectReveal(formatError, undefined)
    const index = readU32(bytes, 0)
    if (index < 1 || index > this.meterCount) return this.rejectReveal('UNKNOWN_METER', index)
    if (reportSlot(bytes) !== this.slot) return this.rejectReveal('WRONG_SLOT', index)
    const question = this.stage === 'reveal' ? this.asked.get(index) : undefined
    if (!question) return this.rejectReveal(this.stage === 'open' ? 'NOT_ASKED' : this.wasAsked(index) ? 'LATE' : 'NOT_ASKED', index)
    const count = (bytes[12] << 8) | bytes[13]
    if (count !== question.length) return this.rejectReveal('NOT_ASKED', index)
    for (let k = 0; k < count; k++) if (readU32(bytes, 14 + 4 * k) !== question[k]) return this.rejectReveal('NOT_ASKED', index)
    const previous = this.answers.get(index)
    if (
      previous &&
      previous.missing === question &&
      previous.bytes.length === bytes.length &&
      previous.bytes.every((x, k) => x === bytes[k])
    )
      return this.rejectReveal('DUPLICATE', index)
    const input = this.revealInput
    const bodyLength = bytes.length - 32
    for (let k = 0; k < bodyLength; k++) input[REVEAL_TAG_PREFIX.length + k] = bytes[k]
    const tag = this.macKeys[index - 1].macRange(input, 0, REVEAL_TAG_PREFIX.length + bodyLength, this.expected, 0)
    let diff = 0
    for (let k = 0; k < 32; k++) diff |= tag[k] ^ bytes[bodyLength + k]
    if (diff !== 0) return this.rejectReveal('BAD_TAG', index)
    if (previous && previous.missing === question) {
      this.conflictList.push(index)
      return this.rejectReveal('CONFLICT', index)
    }
    this.answers.set(index, { missing: question, bytes: bytes.slice(), value: readScalar32(bytes, bytes.length - 64) })
    return { ok: true, meterIndex: index }
  }

  /** The meters asked this round that have not answered yet, ascending. */
  unanswered(): number[] {
    if (this.stage !== 'reveal') return []
    return [...this.asked.keys()].filter((i) => this.answers.get(i)?.missing !== this.asked.get(i)).sort((a, b) => a - b)
  }

  /**
   * The current round's deadline passed (or every answer is in): meters that did not answer move
   * to D (PROTOCOL 3.5.4), and the next step follows: a second round, the final set, or
   * `incomplete` when a second round was not enough.
   */
  endRevealRound(): RecoveryStep {
    if (this.stage !== 'reveal') throw aggregationError('STAGE', `slot ${this.slot} is not in a reveal round`)
    this.held++
    const silent = this.unanswered()
    for (const i of silent) {
      this.status[i - 1] = DROPPED
      this.sum.add(this.store, (i - 1) * this.len + CIPHERTEXT_OFFSET, -1)
      this.counted--
      this.missingOf.delete(i)
      this.answers.delete(i)
    }
    this.asked = new Map()
    if (this.counted < this.minReporters) return this.incomplete('too-few-reporters')
    const grown = new Set<number>()
    for (const d of silent) this.markMissing(d, grown)
    if (grown.size > 0 && this.held >= 2)
      return this.incomplete('reveal-rounds', `meters ${silent.join(', ')} did not answer the second round`)
    this.round = this.held + 1
    return this.nextStep([...grown])
  }

  /** A as a bitmap (bitmap.ts), once it is final. */
  presentBitmap(): Uint8Array {
    if (!this.presentMap) throw aggregationError('STAGE', `the reporter set of slot ${this.slot} is not final`)
    return this.presentMap.slice()
  }

  /** D, every meter not in A, as a bitmap, once A is final. */
  missingBitmap(): Uint8Array {
    const present = this.presentBitmap()
    const out = new Uint8Array(present.length)
    for (let k = 0; k < out.length; k++) out[k] = ~present[k] & 0xff
    const used = this.meterCount & 7
    if (used !== 0) out[out.length - 1] &= (1 << used) - 1
    return out
  }

  /**
   * What peer u needs (PROTOCOL 3.5.5): for every meter of A in ascending order of i, e_iu and its
   * tag tau_iu, `SHARE_ENTRY_BYTES` each, as they are in the meter's report.
   */
  sharesFor(peer: number): Uint8Array {
    if (!this.presentMap) throw aggregationError('STAGE', `the reporter set of slot ${this.slot} is not final`)
    if (!Number.isSafeInteger(peer) || peer < 1 || peer > this.consensusCount)
      throw aggregationError('PARAMS', `peer must be in [1, ${this.consensusCount}], got ${peer}`)
    const words = SHARE_ENTRY_BYTES / 4
    const out = new Uint32Array(this.counted * words)
    const store = this.storeWords
    const stride = this.len / 4
    const first = shareOffset(peer) / 4
    for (let i = 0, w = 0; i < this.meterCount; i++) {
      if (this.status[i] !== COUNTED) continue
      const from = i * stride + first
      for (let k = 0; k < words; k++) out[w++] = store[from + k]
    }
    return new Uint8Array(out.buffer)
  }

  /**
   * Consensus peers refused A because the share tags of these meters do not hold for them
   * (PROTOCOL 3.5.5): the meter dealt them, or the gateway forwarded them, wrongly. Before A has
   * a certificate the gateway may take them out: they move to D like a meter that did not answer
   * its reveal question (their ciphertexts leave the sum), their candidates in A are asked about
   * them in one more reveal round if a round is left (a superset of any question they had), and
   * the next step follows: that round, the endorsement of the smaller A, or `incomplete`
   * (`too-few-reporters`, or `reveal-rounds` when two rounds were held already). Meters not in A
   * are ignored.
   */
  exclude(meters: readonly number[]): RecoveryStep {
    if (this.stage !== 'endorse') throw aggregationError('STAGE', `the reporter set of slot ${this.slot} is not waiting for endorsements`)
    const gone: number[] = []
    for (const i of new Set(meters)) {
      if (!Number.isSafeInteger(i) || i < 1 || i > this.meterCount || this.status[i - 1] !== COUNTED) continue
      this.status[i - 1] = DROPPED
      this.sum.add(this.store, (i - 1) * this.len + CIPHERTEXT_OFFSET, -1)
      this.counted--
      this.missingOf.delete(i)
      this.answers.delete(i)
      gone.push(i)
    }
    if (gone.length === 0) return this.nextStep([])
    this.presentMap = undefined
    this.stage = 'reveal'
    if (this.counted < this.minReporters) return this.incomplete('too-few-reporters')
    const grown = new Set<number>()
    for (const d of gone) this.markMissing(d, grown)
    if (grown.size > 0 && this.held >= 2)
      return this.incomplete('reveal-rounds', `meters ${gone.join(', ')} left A after the second reveal round`)
    this.round = this.held + 1
    return this.nextStep([...grown])
  }

  /**
   * PROTOCOL 3.5.6, given B = sum_{i in A} b_i(t) recovered from the peers (shamir.ts). The slot
   * is then done: a slot is decoded once, with its one endorsed set.
   */
  decode(selfMaskSum: bigint): SlotResult {
    if (this.stage !== 'endorse') throw aggregationError('STAGE', `slot ${this.slot} is not ready to decode`)
    const dropped = new WordAccumulator(12)
    const masks = this.keys.masks
    for (let i = 0; i < this.meterCount; i++) if (this.status[i] !== COUNTED) dropped.add(masks, i * 48, 1)
    let reveals = 0n
    for (const [i, a] of this.answers) if (this.status[i - 1] === COUNTED) reveals += a.value
    const value = scalarToSigned(modR(this.sum.value() - (this.keys.maskTotal - dropped.value()) - reveals - selfMaskSum))
    // Every reading is below 2^48 in magnitude, so an honest sum is below |A| * 2^48. Anything
    // else means a wrong B (peers' values), a wrong r_i or garbage under a valid tag: refuse it
    // rather than publish a wrong sum.
    const bound = BigInt(this.counted) * MAX_READING_MAGNITUDE
    const missing = this.missingIds()
    this.stage = 'done'
    this.outcome =
      value < bound && value > -bound
        ? { status: 'complete', slot: this.slot, sum: value, count: this.counted, missing, present: this.presentBitmap() }
        : {
            status: 'inconsistent',
            slot: this.slot,
            count: this.counted,
            missing,
            reason: 'decoded sum outside the range of |A| valid readings'
          }
    return this.outcome
  }

  /** Give the slot up (no endorsement certificate or no B in time): `incomplete`, never decoded later. */
  abandon(detail?: string): SlotResult {
    if (this.outcome) return this.outcome
    return this.incomplete('abandoned', detail).result
  }

  // ---------------------------------------------------------------- internals

  private tagValid(bytes: Uint8Array, index: number): boolean {
    const len = this.len
    const expected = this.expected
    this.macKeys[index - 1].macRange(bytes, 0, len - 32, expected, 0)
    // Constant-time comparison: the time taken does not depend on where the tags differ.
    let diff = 0
    for (let k = 0; k < 32; k++) diff |= expected[k] ^ bytes[len - 32 + k]
    return diff === 0
  }

  /** Record meter d as missing for each of its candidates in A; `grown` collects those whose set grew. */
  private markMissing(d: number, grown: Set<number> | undefined): void {
    for (const c of candidateIndices(d, this.meterCount, this.candidates)) {
      if (this.status[c - 1] !== COUNTED) continue
      const list = this.missingOf.get(c)
      if (!list) this.missingOf.set(c, [d])
      else {
        list.push(d)
        list.sort((a, b) => a - b)
      }
      grown?.add(c)
    }
  }

  private nextStep(toAsk: number[]): RecoveryStep {
    if (toAsk.length === 0) {
      this.stage = 'endorse'
      const present: number[] = []
      for (let i = 1; i <= this.meterCount; i++) if (this.status[i - 1] === COUNTED) present.push(i)
      this.presentMap = bitmapFromIndices(present, this.meterCount)
      return { stage: 'endorse', slot: this.slot, count: this.counted, present: this.presentMap.slice(), missing: this.missingIds() }
    }
    toAsk.sort((a, b) => a - b)
    const queries: RevealQuery[] = []
    for (const i of toAsk) {
      // A copy per round: an answer is matched to its round's question by identity.
      const missing = [...(this.missingOf.get(i) as number[])]
      this.asked.set(i, missing)
      queries.push({ meterIndex: i, slot: this.slot, missing: [...missing] })
    }
    return { stage: 'reveal', round: this.round as 1 | 2, queries }
  }

  private wasAsked(index: number): boolean {
    return this.status[index - 1] === DROPPED || this.answers.has(index)
  }

  private missingIds(): string[] {
    const out: string[] = []
    for (let i = 1; i <= this.meterCount; i++) if (this.status[i - 1] !== COUNTED) out.push(meterId(i))
    return out
  }

  private incomplete(reason: IncompleteReason, detail?: string): { stage: 'done'; result: SlotResult } {
    this.stage = 'done'
    const result: SlotResult = {
      status: 'incomplete',
      slot: this.slot,
      count: this.counted,
      missing: this.missingIds(),
      reason,
      ...(detail === undefined ? {} : { detail })
    }
    this.outcome = result
    return { stage: 'done', result }
  }

  private reject(code: RejectCode, meterIndex: number | undefined): AcceptResult {
    this.counters[code]++
    return meterIndex === undefined ? { ok: false, code } : { ok: false, code, meterIndex }
  }

  private rejectReveal(code: RevealRejectCode, meterIndex: number | undefined): RevealResult {
    this.revealCounters[code]++
    return meterIndex === undefined ? { ok: false, code } : { ok: false, code, meterIndex }
  }
}
