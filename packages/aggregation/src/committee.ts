/**
 * A consensus peer's part in dropout recovery (PROTOCOL 3.5.1, 3.5.5): peer u holds every meter's
 * Q_iu (key-material.ts), so it can remove the pads from the shares addressed to it, and returns
 *
 *   z_u = sum_{i in A} y_iu = sum_{i in A} e_iu - sum_{i in A} pad_iu(t)   mod r,
 *
 * a share of B = sum_{i in A} b_i(t) (shamir.ts). It learns nothing of any single b_i(t): it only
 * ever sees its own share of each, and f of them say nothing (the privacy tests check it).
 *
 * **Only shares it has checked.** Every e_iu comes with its tag tau_iu = lambda_iu(t) e_iu +
 * kappa_iu(t) mod r, under a key from Q_iu that the gateway, which forwards both, does not hold
 * (kdf.ts, `shareTag`). The peer computes z_u only when every tag of A holds, and otherwise
 * throws BAD_SHARE_TAG naming the meters whose tag fails (`meta.meters`), remembering nothing: a
 * gateway that alters a share gets a refusal, never a signed z_u it could prove wrong. It checks
 * them all in one equation, sum_A tau_iu = sum_A lambda_iu e_iu + sum_A kappa_iu mod r (one
 * multiplication and a few additions per meter; an altered share passes it with probability
 * 1.5 * 2^-128, as a single tag would), and one tag at a time only when that fails, to name them.
 *
 * The pads and tag keys of slot t depend on nothing but t, so `prepareSlot(t)` computes all N of
 * them and their totals off the critical path; `partial` then adds the |A| shares and tags and
 * subtracts the pads and kappas of A (or the totals minus those of D, whichever is shorter).
 *
 * What the caller (the consensus runtime) must add, PROTOCOL 3.5.5: it calls `partial` only for
 * the (t, A) that it endorses, persists that endorsement before it answers, and releases the value
 * only with a certificate of 2f + 1 endorsements for it. As defence in depth this object refuses a
 * set below minReporters (TOO_FEW_REPORTERS: the check that holds against a gateway that lies
 * about who is missing) and a second, different set for a slot it answered in the last
 * COMMITTEE_MEMORY slots, or any set for an older slot (SET_CONFLICT: B over two sets that differ
 * by one meter is that meter's self-mask).
 */
import { DOMAIN, toHex } from '@bbnp/core'
import { HmacKey, modR, sha256 } from '@bbnp/crypto'
import { isCanonicalScalar, readScalar32, WordAccumulator } from './accumulator.ts'
import { bitmapCount, bitmapHas, checkBitmap } from './bitmap.ts'
import { aggregationError } from './errors.ts'
import { checkSlot, Expander, SHARE_KAPPA_OFFSET, SHARE_LAMBDA_OFFSET, SHARE_PRF_BYTES, shareTag, slotInfo } from './kdf.ts'
import { checkPeer, type CommitteeKeys, KEY_BYTES } from './key-material.ts'
import { checkConsensusCount, resolveMinReporters } from './params.ts'
import { checkMeterCount } from './partners.ts'
import { SHARE_ENTRY_BYTES } from './report.ts'

/** How many slots' reporter sets a peer remembers for the SET_CONFLICT check. */
export const COMMITTEE_MEMORY = 64

export interface CommitteeOptions {
  keys: CommitteeKeys
  /** From the genesis; default `defaultMinReporters(N)` (params.ts) */
  minReporters?: number
}

/**
 * The pads and share-tag keys of one slot: meter i's `SHARE_PRF_BYTES` (pad_iu(t) unreduced, then
 * lambda_iu(t) and kappa_iu(t), kdf.ts) at bytes [96 (i - 1), 96 i), and the exact totals of the
 * pads and of the kappas over all N meters.
 */
export class CommitteePads {
  readonly slot: number
  readonly pads: Uint8Array
  readonly total: bigint
  readonly kappaTotal: bigint

  constructor(slot: number, pads: Uint8Array, total: bigint, kappaTotal: bigint) {
    this.slot = slot
    this.pads = pads
    this.total = total
    this.kappaTotal = kappaTotal
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

  /** Every meter's pad_iu(t) and share-tag key, and the totals (N PRF evaluations), before the slot's set is known. */
  prepareSlot(slot: number): CommitteePads {
    checkSlot(slot)
    const n = this.meterCount
    const pads = new Uint8Array(n * SHARE_PRF_BYTES)
    const total = new WordAccumulator(12)
    const kappas = new WordAccumulator(8)
    const exp = this.exp
    exp.setSlot(slot)
    for (let i = 0; i < n; i++) {
      const off = i * SHARE_PRF_BYTES
      exp.expand(this.keys[i], pads, off, SHARE_PRF_BYTES)
      total.add(pads, off, 1)
      kappas.add(pads, off + SHARE_KAPPA_OFFSET, 1)
    }
    return new CommitteePads(slot, pads, total.value(), kappas.value())
  }

  /**
   * z_u for the reporter set A (a bitmap, bitmap.ts) and the entries of A in ascending order of i,
   * `SHARE_ENTRY_BYTES` each: the padded share e_iu, then its tag tau_iu (`SlotAggregator.sharesFor(u)`).
   * Throws MALFORMED, TOO_FEW_REPORTERS, SET_CONFLICT, or BAD_SHARE_TAG with the meters whose tag
   * does not hold in `meta.meters`; a refused set is not remembered.
   */
  partial(slotOrPads: number | CommitteePads, present: Uint8Array, entries: Uint8Array): bigint {
    const prepared = typeof slotOrPads === 'number' ? this.prepareSlot(slotOrPads) : slotOrPads
    const slot = prepared.slot
    const n = this.meterCount
    checkBitmap(present, n, 'reporter set')
    const count = bitmapCount(present)
    if (count < this.minReporters)
      throw aggregationError('TOO_FEW_REPORTERS', `a reporter set of ${count} meters is below minReporters = ${this.minReporters}`, {
        slot
      })
    if (!(entries instanceof Uint8Array) || entries.length !== SHARE_ENTRY_BYTES * count)
      throw aggregationError(
        'MALFORMED',
        `expected ${count} shares with their tags, ${SHARE_ENTRY_BYTES} bytes each, got ${entries.length} bytes`,
        {
          slot
        }
      )
    if (slot < this.answeredFloor)
      throw aggregationError('SET_CONFLICT', `slot ${slot} is older than the reporter sets this peer remembers`, { slot })
    const digest = toHex(sha256(present))
    const before = this.answered.get(slot)
    if (before !== undefined && before !== digest)
      throw aggregationError('SET_CONFLICT', `slot ${slot} was already answered for another reporter set`, { slot })

    const keys = prepared.pads
    const kv = new DataView(keys.buffer, keys.byteOffset, keys.length)
    const ev = new DataView(entries.buffer, entries.byteOffset, entries.length)
    const shares = new WordAccumulator(8)
    const tags = new WordAccumulator(8)
    let weighted = 0n // sum over A of lambda_iu e_iu, unreduced
    // The pads and kappas of A: directly, or as the totals minus those of D when D is smaller.
    const pads = new WordAccumulator(12)
    const kappas = new WordAccumulator(8)
    const fromTotal = count > n / 2
    for (let i = 1, off = 0; i <= n; i++) {
      const keyOff = (i - 1) * SHARE_PRF_BYTES
      const inA = bitmapHas(present, i)
      if (inA !== fromTotal) {
        pads.add(keys, keyOff, 1)
        kappas.add(keys, keyOff + SHARE_KAPPA_OFFSET, 1)
      }
      if (!inA) continue
      if (!isCanonicalScalar(entries, off) || !isCanonicalScalar(entries, off + 32))
        throw aggregationError('MALFORMED', `the share or tag of meter-${i} is not below r`, { slot })
      shares.add(entries, off, 1)
      tags.add(entries, off + 32, 1)
      const e =
        (ev.getBigUint64(off) << 192n) | (ev.getBigUint64(off + 8) << 128n) | (ev.getBigUint64(off + 16) << 64n) | ev.getBigUint64(off + 24)
      weighted += ((kv.getBigUint64(keyOff + SHARE_LAMBDA_OFFSET) << 64n) | kv.getBigUint64(keyOff + SHARE_LAMBDA_OFFSET + 8)) * e
      off += SHARE_ENTRY_BYTES
    }
    const kappasOfA = fromTotal ? prepared.kappaTotal - kappas.value() : kappas.value()
    if (modR(tags.value() - weighted - kappasOfA) !== 0n) {
      const meters = this.badTags(prepared, present, entries)
      throw aggregationError('BAD_SHARE_TAG', `the share tags of ${meters.length} meter(s) do not hold`, { slot, meters })
    }
    const padsOfA = fromTotal ? prepared.total - pads.value() : pads.value()

    this.answered.set(slot, digest)
    if (this.answered.size > COMMITTEE_MEMORY) {
      const oldest = Math.min(...this.answered.keys())
      this.answered.delete(oldest)
      this.answeredFloor = Math.max(this.answeredFloor, oldest + 1)
    }
    return modR(shares.value() - padsOfA)
  }

  /** The meters of A whose tag does not hold, ascending: one tag at a time (only after the sum check failed). */
  private badTags(prepared: CommitteePads, present: Uint8Array, entries: Uint8Array): number[] {
    const kv = new DataView(prepared.pads.buffer, prepared.pads.byteOffset, prepared.pads.length)
    const bad: number[] = []
    for (let i = 1, off = 0; i <= this.meterCount; i++) {
      if (!bitmapHas(present, i)) continue
      const keyOff = (i - 1) * SHARE_PRF_BYTES
      const lambda = (kv.getBigUint64(keyOff + SHARE_LAMBDA_OFFSET) << 64n) | kv.getBigUint64(keyOff + SHARE_LAMBDA_OFFSET + 8)
      const kappa = readScalar32(prepared.pads, keyOff + SHARE_KAPPA_OFFSET)
      if (shareTag(readScalar32(entries, off), lambda, kappa) !== readScalar32(entries, off + 32)) bad.push(i)
      off += SHARE_ENTRY_BYTES
    }
    return bad
  }
}
