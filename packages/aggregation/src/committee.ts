/**
 * A consensus peer's part in dropout recovery (PROTOCOL 3.5.1, 3.5.5): peer u holds every meter's
 * Q_iu (key-material.ts), so it can remove the pads from the shares addressed to it, and returns
 *
 *   z_u = sum_{i in A} y_iu = sum_{i in A} e_iu - sum_{i in A} pad_iu(t)   mod r,
 *
 * a share of B = sum_{i in A} b_i(t) (shamir.ts). It learns nothing of any single b_i(t): it only
 * ever sees its own share of each, and f of them say nothing (the privacy tests check it).
 *
 * The pads of slot t depend on nothing but t, so `prepareSlot(t)` computes all N of them and
 * their total off the critical path; `partial` then adds the |A| shares and subtracts the pads of
 * A (or the total minus the pads of D, whichever is shorter).
 *
 * What the caller (the consensus runtime) must add, PROTOCOL 3.5.5: it calls `partial` only for
 * the (t, A) that it endorsed, after persisting that endorsement, and only with a certificate of
 * 2f + 1 endorsements for it. As defence in depth this object refuses a set below minReporters
 * (TOO_FEW_REPORTERS: the check that holds against a gateway that lies about who is missing) and
 * a second, different set for a slot it answered in the last COMMITTEE_MEMORY slots, or any set
 * for an older slot (SET_CONFLICT: B over two sets that differ by one meter is that meter's
 * self-mask).
 */
import { DOMAIN, toHex } from '@bbnp/core'
import { HmacKey, modR, sha256 } from '@bbnp/crypto'
import { isCanonicalScalar, WordAccumulator } from './accumulator.ts'
import { bitmapCount, bitmapHas, checkBitmap } from './bitmap.ts'
import { aggregationError } from './errors.ts'
import { checkSlot, Expander, slotInfo } from './kdf.ts'
import { checkPeer, type CommitteeKeys, KEY_BYTES } from './key-material.ts'
import { checkConsensusCount, resolveMinReporters } from './params.ts'
import { checkMeterCount } from './partners.ts'

/** How many slots' reporter sets a peer remembers for the SET_CONFLICT check. */
export const COMMITTEE_MEMORY = 64

export interface CommitteeOptions {
  keys: CommitteeKeys
  /** From the genesis; default `defaultMinReporters(N)` (params.ts) */
  minReporters?: number
}

/** The pads of one slot: pad_iu(t) unreduced (48 bytes) at bytes [48 (i - 1), 48 i), and their exact total. */
export class CommitteePads {
  readonly slot: number
  readonly pads: Uint8Array
  readonly total: bigint

  constructor(slot: number, pads: Uint8Array, total: bigint) {
    this.slot = slot
    this.pads = pads
    this.total = total
  }
}

export class CommitteeCrypto {
  /** u */
  readonly peer: number
  /** M */
  readonly consensusCount: number
  readonly meterCount: number
  readonly minReporters: number
  private readonly keys: HmacKey[]
  private readonly exp = new Expander(slotInfo(DOMAIN.share))
  private readonly answered = new Map<number, string>()
  private answeredFloor = 0

  constructor(opts: CommitteeOptions) {
    const k = opts.keys
    checkMeterCount(k.meterCount)
    checkConsensusCount(k.consensusCount)
    checkPeer(k.peer, k.consensusCount)
    if (k.meterKeys.length !== k.meterCount * KEY_BYTES) throw aggregationError('BAD_KEYS', 'committee keys: one 32-byte key per meter')
    this.peer = k.peer
    this.consensusCount = k.consensusCount
    this.meterCount = k.meterCount
    this.minReporters = resolveMinReporters(opts.minReporters, k.meterCount)
    this.keys = Array.from({ length: k.meterCount }, (_, i) => new HmacKey(k.meterKeys.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES)))
  }

  /** Every meter's pad_iu(t) and their total (N PRF evaluations), before the slot's set is known. */
  prepareSlot(slot: number): CommitteePads {
    checkSlot(slot)
    const n = this.meterCount
    const pads = new Uint8Array(n * 48)
    const total = new WordAccumulator(12)
    const exp = this.exp
    exp.setSlot(slot)
    for (let i = 0; i < n; i++) {
      exp.expand(this.keys[i], pads, i * 48, 48)
      total.add(pads, i * 48, 1)
    }
    return new CommitteePads(slot, pads, total.value())
  }

  /**
   * z_u for the reporter set A (a bitmap, bitmap.ts) and the padded shares e_iu of A in ascending
   * order of i, 32 bytes each (`SlotAggregator.sharesFor(u)`). Throws MALFORMED, TOO_FEW_REPORTERS
   * or SET_CONFLICT.
   */
  partial(slotOrPads: number | CommitteePads, present: Uint8Array, packedShares: Uint8Array): bigint {
    const prepared = typeof slotOrPads === 'number' ? this.prepareSlot(slotOrPads) : slotOrPads
    const slot = prepared.slot
    const n = this.meterCount
    checkBitmap(present, n, 'reporter set')
    const count = bitmapCount(present)
    if (count < this.minReporters)
      throw aggregationError('TOO_FEW_REPORTERS', `a reporter set of ${count} meters is below minReporters = ${this.minReporters}`, {
        slot
      })
    if (!(packedShares instanceof Uint8Array) || packedShares.length !== 32 * count)
      throw aggregationError('MALFORMED', `expected ${count} shares of 32 bytes, got ${packedShares.length} bytes`, { slot })
    if (slot < this.answeredFloor)
      throw aggregationError('SET_CONFLICT', `slot ${slot} is older than the reporter sets this peer remembers`, { slot })
    const digest = toHex(sha256(present))
    const before = this.answered.get(slot)
    if (before !== undefined && before !== digest)
      throw aggregationError('SET_CONFLICT', `slot ${slot} was already answered for another reporter set`, { slot })

    const shares = new WordAccumulator(8)
    for (let off = 0; off < packedShares.length; off += 32) {
      if (!isCanonicalScalar(packedShares, off)) throw aggregationError('MALFORMED', `share ${off / 32} is not below r`, { slot })
      shares.add(packedShares, off, 1)
    }
    // sum over A of the pads: directly, or as the total minus the pads of D when D is smaller.
    const pads = new WordAccumulator(12)
    const fromTotal = count > n / 2
    for (let i = 1; i <= n; i++) if (bitmapHas(present, i) !== fromTotal) pads.add(prepared.pads, (i - 1) * 48, 1)
    const padsOfA = fromTotal ? prepared.total - pads.value() : pads.value()

    this.answered.set(slot, digest)
    if (this.answered.size > COMMITTEE_MEMORY) {
      const oldest = Math.min(...this.answered.keys())
      this.answered.delete(oldest)
      this.answeredFloor = Math.max(this.answeredFloor, oldest + 1)
    }
    return modR(shares.value() - padsOfA)
  }
}
