/**
 * A consensus peer's part in a slot's recovery (PROTOCOL 3.5.5): the recovery committee.
 *
 * ENDORSE(t, A): the gateway sends the set A of present meters and this peer's padded shares e_iu
 * of A, each with its tag. The peer endorses one set per slot, ever: it refuses a second,
 * different set for a slot it endorsed (also after a restart: the endorsement is on disk before
 * the answer leaves), a set below minReporters, and slots outside a short window. It checks
 * every share's tag under the key it shares with the meter, which the gateway does not hold: if
 * one fails it signs nothing, stores nothing, and answers with the meters whose tags fail
 * (BAD_SHARE_TAG), so a gateway that alters a share never obtains a signed partial it could prove
 * wrong. Otherwise it computes its partial sum z_u = sum_{i in A} y_iu now, keeps it with the
 * endorsement, and answers with its signature.
 *
 * PARTIAL(t, certificate): with 2f+1 endorsements of the same set (a certificate, which no second
 * set of the slot can have: it would need an honest peer to endorse twice), the peer releases z_u,
 * signed with its consensus key over PARTIAL(t, A, z_u): the gateway can then prove to every
 * replica that a value it names as wrong is this peer's own (@bbnp/consensus fault-proof.ts), and
 * cannot name a peer on its word alone.
 */
import { BbnpError, bytesEqual, DOMAIN, type Logger, type MetricsRegistry } from '@bbnp/core'
import { bitmapCount, bitmapFromIndices, type CommitteeCrypto, type CommitteePads, SHARE_ENTRY_BYTES } from '@bbnp/aggregation'
import type { BlockStore } from '@bbnp/chain'
import { checkEndorsement, endorsementPayloadOf, partialPayload, reporterSetHash } from '@bbnp/consensus'
import { modR, type PublicKey, type SecretKey, scalarFromBytes, scalarToBytes, sign } from '@bbnp/crypto'
import { type EndorseRequest, encodeEndorseResponse, encodePartialResponse, type PartialRequest } from './protocols.ts'

/** Slots this far behind the current one are no longer endorsed (and their records are dropped). */
export const ENDORSE_WINDOW = 64
/** Pads of this many recent slots are kept. */
const PADS_KEPT = 4

export interface RecoveryCommitteeOptions {
  keys: PublicKey[]
  quorum: number
  minReporters: number
  /** The slot of `now` on the genesis clock. */
  slotAt: (now: number) => number
  /** Devnet tests only: return a wrong partial sum (signed, as a lying peer would). */
  wrongPartials?: boolean
}

export interface RecoveryCommitteeModules {
  crypto: CommitteeCrypto
  store: BlockStore
  signer: SecretKey
  logger: Logger
  metrics: MetricsRegistry
  now?: () => number
}

function refuse(reason: string, message: string): never {
  throw new BbnpError('REFUSED', message, { reason })
}

export class RecoveryCommittee {
  private readonly o: RecoveryCommitteeOptions
  private readonly m: RecoveryCommitteeModules
  private readonly pads = new Map<number, CommitteePads>()
  private readonly now: () => number
  private readonly mEndorse
  private readonly mPartial
  private readonly mBadShares

  constructor(options: RecoveryCommitteeOptions, modules: RecoveryCommitteeModules) {
    this.o = options
    this.m = modules
    this.now = modules.now ?? Date.now
    this.mEndorse = modules.metrics.counter('bbnp_endorsements_total', 'ENDORSE requests of the gateway, by result (PROTOCOL 3.5.5)', {
      labels: { result: ['endorsed', 'FUTURE_SLOT', 'OLD_SLOT', 'TOO_FEW_REPORTERS', 'MALFORMED', 'SET_CONFLICT', 'BAD_SHARE_TAG'] }
    })
    this.mPartial = modules.metrics.counter('bbnp_partials_total', 'PARTIAL requests of the gateway, by result (PROTOCOL 3.5.5)', {
      labels: { result: ['released', 'NOT_ENDORSED', 'BAD_CERTIFICATE'] }
    })
    this.mBadShares = modules.metrics.counter(
      'bbnp_share_tags_failed_total',
      "Meters named in refused ENDORSE requests because this peer's share from them did not match its tag (PROTOCOL 3.5.5)"
    )
  }

  /** Compute the pads of `slot` ahead of its recovery (they depend on nothing but the slot). */
  prepare(slot: number): void {
    if (slot < 0 || this.pads.has(slot)) return
    this.pads.set(slot, this.m.crypto.prepareSlot(slot))
    for (const s of this.pads.keys()) if (s < slot - PADS_KEPT) this.pads.delete(s)
  }

  /**
   * ENDORSE(t, A): the answer (protocols.ts `encodeEndorseResponse`): this peer's signature, or the
   * meters whose share tags fail (counted as BAD_SHARE_TAG); a REFUSED error with the reason otherwise.
   */
  async endorse(req: EndorseRequest): Promise<Uint8Array> {
    try {
      const answer = await this.endorseOnce(req)
      this.mEndorse.inc({ result: 'signature' in answer ? 'endorsed' : 'BAD_SHARE_TAG' })
      return encodeEndorseResponse(answer)
    } catch (e) {
      this.mEndorse.inc({ result: ((e as BbnpError).meta?.reason as string) ?? 'error' })
      throw e
    }
  }

  /** PARTIAL(t, certificate): z_u and its signature (protocols.ts `encodePartialResponse`), or a REFUSED error with the reason. */
  async partial(req: PartialRequest): Promise<Uint8Array> {
    try {
      const z = await this.partialOnce(req)
      this.mPartial.inc({ result: 'released' })
      return z
    } catch (e) {
      this.mPartial.inc({ result: ((e as BbnpError).meta?.reason as string) ?? 'error' })
      throw e
    }
  }

  private async endorseOnce(req: EndorseRequest): Promise<{ signature: Uint8Array } | { badShares: Uint8Array }> {
    const current = this.o.slotAt(this.now())
    if (req.slot > current) refuse('FUTURE_SLOT', `slot ${req.slot} has not ended`)
    if (req.slot < current - ENDORSE_WINDOW) refuse('OLD_SLOT', `slot ${req.slot} is too old to endorse`)
    const count = bitmapCount(req.present)
    if (count < this.o.minReporters) refuse('TOO_FEW_REPORTERS', `${count} reporters, at least ${this.o.minReporters} needed`)
    if (req.shares.length !== SHARE_ENTRY_BYTES * count) refuse('MALFORMED', 'one share and its tag per present meter')
    const set = reporterSetHash(req.present)
    const known = await this.m.store.getEndorsement(req.slot)
    if (known) {
      // The same set again: the same answer. Its shares were checked when it was endorsed, and
      // z_u was computed from those, whatever this request carries.
      if (bytesEqual(known.set, set)) return { signature: known.signature }
      this.m.logger.warn('refused to endorse a second reporter set for a slot', { slot: req.slot })
      refuse('SET_CONFLICT', `another reporter set of slot ${req.slot} was endorsed already`)
    }
    let z: bigint
    try {
      z = this.m.crypto.partial(this.pads.get(req.slot) ?? req.slot, req.present, req.shares)
    } catch (e) {
      const err = e as BbnpError
      if (err.code === 'BAD_SHARE_TAG') {
        // The meter dealt it or the gateway forwarded it wrongly; not this peer's fault, and
        // nothing is signed or stored, so the gateway may still ask for a set without them.
        const meters = err.meta.meters as number[]
        this.mBadShares.inc(undefined, meters.length)
        this.m.logger.warn('refused to endorse a reporter set: shares whose tags do not hold', {
          slot: req.slot,
          count: meters.length,
          meters: meters.slice(0, 20).join(',')
        })
        return { badShares: bitmapFromIndices(meters, this.m.crypto.meterCount) }
      }
      refuse(err.code ?? 'MALFORMED', err.message)
    }
    const signature = sign(this.m.signer, DOMAIN.endorse, endorsementPayloadOf(req.slot, set))
    // On disk before the answer leaves: a restart can never make this peer endorse another set.
    await this.m.store.putEndorsement(req.slot, { set, z: scalarToBytes(z), signature }, Math.max(0, current - ENDORSE_WINDOW))
    return { signature }
  }

  private async partialOnce(req: PartialRequest): Promise<Uint8Array> {
    const known = await this.m.store.getEndorsement(req.slot)
    if (!known) refuse('NOT_ENDORSED', `no endorsed set for slot ${req.slot}`)
    const err = checkEndorsement({ signers: req.signers, signature: req.signature }, req.slot, known.set, this.o.keys, this.o.quorum)
    if (err) refuse('BAD_CERTIFICATE', `the endorsement certificate does not hold for the set this peer endorsed (${err})`)
    let value = scalarFromBytes(known.z)
    // Devnet tests only: a wrong partial, which the gateway must catch and prove.
    if (this.o.wrongPartials) value = modR(value + 1n)
    // Signed on each release rather than stored: BLS is deterministic, so the answer is the same
    // bytes every time, and the stored endorsement keeps its format.
    const signature = sign(this.m.signer, DOMAIN.partial, partialPayload(req.slot, known.set, value))
    return encodePartialResponse({ value, signature })
  }
}
