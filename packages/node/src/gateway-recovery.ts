/**
 * The gateway's recovery of a closed slot (PROTOCOL 3.5.3-3.5.6), over the network: the
 * aggregation package's SlotAggregator says what to ask; this module asks and feeds the answers
 * back.
 *
 *   reveal     each present meter with a missing candidate partner is asked for r_i, on the
 *              connection of the meter process that delivered its report; a meter that does not
 *              answer in time moves to D, and its partners get a second question (at most two rounds)
 *   endorse    every consensus peer u gets (t, A, its padded shares of A with their tags) and
 *              answers with its ENDORSE signature; 2f+1 valid ones make the certificate. A peer
 *              whose shares from some meters do not match their tags refuses and names them: no
 *              fault of the peer (the meter dealt them, or this gateway forwarded them, wrongly),
 *              so it is never named; if A can no longer get 2f+1 endorsements those meters leave A
 *              (like a meter silent in a reveal round: a reveal round for their partners, then
 *              the endorsement round again for the smaller A)
 *   partial    with the certificate, every peer that endorsed releases z_u, signed; a value whose
 *              signature does not hold is no answer. B is recovered from the rest (one degree-f
 *              polynomial agreeing with enough values), and a peer whose value disagrees is named
 *              (`faulty`), counted, and recorded in the block with the proof: the signed values of
 *              2f+1 agreeing peers and its own (@bbnp/consensus fault-proof.ts)
 *   decode     sum_t = sum_A C_i - sum_A k_mask_i - sum_A r_i - B
 *
 * A slot that cannot get its endorsements or its partials in time is `incomplete`, with the
 * reason; it is decoded once, with its one endorsed set, or never (3.5.8).
 */
import { concatBytes, consensusId, DOMAIN, type Logger, type MetricsRegistry } from '@bbnp/core'
import {
  bitmapHas,
  bitmapIndices,
  encodeRevealRequest,
  type RecoveryStep,
  recoverSelfMaskSum,
  type SlotAggregator,
  type SlotResult
} from '@bbnp/aggregation'
import {
  badPartials,
  type Endorsement,
  endorsementPayload,
  type IncompleteReason,
  makeEndorsement,
  reporterSetHash,
  type SignedPartial
} from '@bbnp/consensus'
import { batchVerifySameMessage, type PublicKey } from '@bbnp/crypto'
import type { P2PNode } from '@bbnp/network'
import {
  decodeEndorseResponse,
  decodePartialResponse,
  encodeEndorseRequest,
  encodePartialRequest,
  splitRevealItems,
  type WireProtocols
} from './protocols.ts'

export interface RecoveryOutcome {
  result: SlotResult
  /** Why the slot has no sum (incomplete). */
  reason: IncompleteReason | ''
  endorsement: Endorsement | null
  /** Consensus nodes whose partial sum disagreed with the others'. */
  faulty: number[]
  /** The proof of `faulty`: the signed partials of 2f+1 agreeing nodes and of every faulty one, by node; empty when nobody is faulty. */
  faultProof: SignedPartial[]
}

export interface RecoveryOptions {
  wire: WireProtocols
  /** Consensus verification keys, index j-1 for cn-j. */
  keys: PublicKey[]
  quorum: number
  /** How long a reveal round waits for answers. */
  revealTimeoutMs: number
  /** How long the endorsement and partial rounds wait. */
  committeeTimeoutMs: number
  /** How long a slot's endorsement and partial rounds are tried again when the committee is away. */
  retryMs: number
  /** The pause between two tries. */
  retryPauseMs: number
}

export interface RecoveryModules {
  p2p: Pick<P2PNode, 'request' | 'connectedPeers'>
  /** The meter process that delivered meter i's reports. */
  hostOf: (meter: number) => string | undefined
  /** Consensus peers: node index and peer ID. */
  peers: { index: number; peerId: string }[]
  logger: Logger
  metrics: MetricsRegistry
}

export class GatewayRecovery {
  private readonly o: RecoveryOptions
  private readonly m: RecoveryModules
  private readonly mRounds
  private readonly mFaulty
  private readonly mUnsigned
  private readonly mRefusals
  private readonly mExcluded
  private readonly mMs

  constructor(options: RecoveryOptions, modules: RecoveryModules) {
    this.o = options
    this.m = modules
    this.mRounds = modules.metrics.counter(
      'bbnp_reveal_rounds_total',
      'Reveal rounds run to recover slots with missing meters (PROTOCOL 3.5.4)'
    )
    this.mFaulty = modules.metrics.counter(
      'bbnp_partials_inconsistent_total',
      'Partial sums of consensus peers that disagreed with the others, by peer',
      { labels: { peer: modules.peers.map((p) => `cn-${p.index}`) } }
    )
    this.mUnsigned = modules.metrics.counter(
      'bbnp_partials_bad_signature_total',
      'Partial sums of consensus peers whose signature did not verify, taken as no answer, by peer',
      { labels: { peer: modules.peers.map((p) => `cn-${p.index}`) } }
    )
    this.mRefusals = modules.metrics.counter(
      'bbnp_endorse_bad_shares_total',
      "ENDORSE refusals of consensus peers because shares did not match their tags (a meter's or the gateway's fault, not the peer's), by peer",
      { labels: { peer: modules.peers.map((p) => consensusId(p.index)) } }
    )
    this.mExcluded = modules.metrics.counter(
      'bbnp_meters_excluded_total',
      'Meters taken out of a reporter set because consensus peers refused their shares (PROTOCOL 3.5.5)'
    )
    this.mMs = modules.metrics.histogram(
      'bbnp_recovery_seconds',
      'From a slot closing to its sum decoded (or given up), network included',
      [0.01, 0.03, 0.1, 0.3, 1, 3, 10]
    )
  }

  /** Run a closed slot's recovery to its end. */
  async run(agg: SlotAggregator): Promise<RecoveryOutcome> {
    const started = performance.now()
    try {
      return await this.recover(agg)
    } finally {
      this.mMs.observe((performance.now() - started) / 1000)
    }
  }

  private async recover(agg: SlotAggregator): Promise<RecoveryOutcome> {
    let step = await this.reveal(agg, agg.close())
    if (step.stage === 'done') return this.done(step.result)

    // The committee may be away (a restart, an outage): the endorsement and partial rounds are
    // tried again until the retry deadline, while the peers can still endorse the slot.
    const slot = agg.slot
    const deadline = Date.now() + this.o.retryMs
    for (let attempt = 1; ; attempt++) {
      if (step.stage !== 'endorse') throw new Error('unreachable: recovery without a final reporter set')
      const present = step.present
      const { endorsed, refusals } = await this.endorseRound(agg, present, endorsementPayload(slot, present))
      if (endorsed.length >= this.o.quorum) {
        const endorsement = makeEndorsement(endorsed, this.o.keys.length)
        const partials = await this.partialRound(
          slot,
          reporterSetHash(present),
          endorsement,
          endorsed.map((e) => e.node)
        )
        const recovered = recoverSelfMaskSum(
          partials.map((p) => ({ peer: p.node, value: p.value })),
          this.o.keys.length
        )
        if (recovered.ok) {
          for (const node of recovered.inconsistent) {
            this.mFaulty.inc({ peer: consensusId(node) })
            this.m.logger.warn('a consensus peer returned an inconsistent partial sum', { slot, peer: consensusId(node) })
          }
          const result = agg.decode(recovered.value)
          return {
            result,
            reason: reasonOf(result),
            endorsement: result.status === 'complete' ? endorsement : null,
            faulty: recovered.inconsistent,
            faultProof: faultProof(partials, recovered.agreeing, recovered.inconsistent, this.o.quorum)
          }
        }
        if (Date.now() >= deadline) {
          this.m.logger.warn('slot given up: the partial sums do not agree', {
            slot,
            received: recovered.received,
            needed: recovered.needed,
            attempts: attempt
          })
          return this.giveUp(agg, 'no-partials')
        }
      } else {
        const excluded = this.metersToExclude(endorsed.length, refusals)
        if (excluded.length > 0) {
          this.mExcluded.inc(undefined, excluded.length)
          this.m.logger.warn('meters taken out of the reporter set: consensus peers refused their shares', {
            slot,
            meters: excluded.slice(0, 20).join(','),
            count: excluded.length,
            peers: [...refusals.keys()].map((node) => consensusId(node)).join(',')
          })
          // A smaller A at once: questions about them to their partners, then its endorsement.
          step = await this.reveal(agg, agg.exclude(excluded))
          if (step.stage === 'done') return this.done(step.result)
          continue
        }
        if (Date.now() >= deadline) {
          this.m.logger.warn('slot given up: too few consensus peers endorsed its reporter set', {
            slot,
            endorsed: endorsed.length,
            needed: this.o.quorum,
            attempts: attempt
          })
          return this.giveUp(agg, 'no-endorsement')
        }
      }
      if (attempt === 1) this.m.logger.info('recovery waits for the consensus peers', { slot, endorsed: endorsed.length })
      await new Promise((r) => setTimeout(r, this.o.retryPauseMs))
    }
  }

  /** Reveal rounds until the reporter set is final or the slot is done. */
  private async reveal(agg: SlotAggregator, first: RecoveryStep): Promise<RecoveryStep> {
    let step = first
    while (step.stage === 'reveal') {
      this.mRounds.inc()
      await this.revealRound(agg, step.queries)
      step = agg.endRevealRound()
    }
    return step
  }

  private done(result: SlotResult): RecoveryOutcome {
    return { result, reason: reasonOf(result), endorsement: null, faulty: [], faultProof: [] }
  }

  /**
   * The meters to take out of A after an endorsement round without a certificate: those the
   * refusing peers named, but only once A cannot get 2f+1 endorsements any more (the peers that
   * endorsed it and those that did not answer, who may come back, are fewer than 2f+1). Before
   * that A is kept: peers that endorsed it would refuse any other set, and a meter whose shares
   * only some peers refuse does not stop the others from recovering B.
   */
  private metersToExclude(endorsed: number, refusals: Map<number, number[]>): number[] {
    if (refusals.size === 0) return []
    const unanswered = this.m.peers.length - endorsed - refusals.size
    if (endorsed + unanswered >= this.o.quorum) return []
    return [...new Set([...refusals.values()].flat())].sort((a, b) => a - b)
  }

  private giveUp(agg: SlotAggregator, reason: IncompleteReason): RecoveryOutcome {
    return { result: agg.abandon(reason), reason, endorsement: null, faulty: [], faultProof: [] }
  }

  /** Ask every meter process its meters' questions at once; answers go straight to the aggregator. */
  private async revealRound(agg: SlotAggregator, queries: { meterIndex: number; slot: number; missing: number[] }[]): Promise<void> {
    const byHost = new Map<string, Uint8Array[]>()
    for (const q of queries) {
      const host = this.m.hostOf(q.meterIndex)
      if (!host) continue // it cannot be asked: it moves to D when the round ends
      const list = byHost.get(host) ?? []
      list.push(encodeRevealRequest(q))
      byHost.set(host, list)
    }
    await Promise.all(
      [...byHost].map(async ([host, questions]) => {
        for (let i = 0; i < questions.length; i += 1024) {
          const chunk = questions.slice(i, i + 1024)
          try {
            const [frame] = await this.m.p2p.request(host, this.o.wire.reveal, concatBytes(...chunk), { timeoutMs: this.o.revealTimeoutMs })
            for (const answer of splitRevealItems(frame, true)) agg.acceptReveal(answer)
          } catch (e) {
            this.m.logger.debug('reveal questions not answered', { host, slot: agg.slot, error: (e as Error).message })
          }
        }
      })
    )
  }

  /**
   * ENDORSE(t, A) to every consensus peer: the valid signatures, and the refusals for shares
   * whose tags do not hold, each with the meters of A it names.
   */
  private async endorseRound(
    agg: SlotAggregator,
    present: Uint8Array,
    payload: Uint8Array
  ): Promise<{ endorsed: { node: number; signature: Uint8Array }[]; refusals: Map<number, number[]> }> {
    const signed: { node: number; signature: Uint8Array }[] = []
    const refusals = new Map<number, number[]>()
    await Promise.all(
      this.m.peers.map(async ({ index, peerId }) => {
        try {
          const body = encodeEndorseRequest({ slot: agg.slot, present, shares: agg.sharesFor(index) })
          const [frame] = await this.m.p2p.request(peerId, this.o.wire.endorse, body, { timeoutMs: this.o.committeeTimeoutMs })
          const answer = decodeEndorseResponse(frame, agg.meterCount)
          if ('signature' in answer) {
            signed.push({ node: index, signature: answer.signature })
            return
          }
          const meters = bitmapIndices(answer.badShares, agg.meterCount).filter((i) => bitmapHas(present, i))
          if (meters.length === 0) {
            this.m.logger.warn('a consensus peer refused shares of meters not in the reporter set', {
              slot: agg.slot,
              peer: consensusId(index)
            })
            return
          }
          this.mRefusals.inc({ peer: consensusId(index) })
          this.m.logger.warn('a consensus peer refused the reporter set: shares that do not match their tags', {
            slot: agg.slot,
            peer: consensusId(index),
            meters: meters.slice(0, 20).join(','),
            count: meters.length
          })
          refusals.set(index, meters)
        } catch (e) {
          this.m.logger.debug('no endorsement', { slot: agg.slot, peer: consensusId(index), error: (e as Error).message })
        }
      })
    )
    // Every endorsement signs the same payload: one aggregate check for all of them (PROTOCOL
    // 4.3's batch verification), one check each only if that fails, to find the bad ones.
    const { bad } = batchVerifySameMessage(
      signed.map((e) => ({ publicKey: this.o.keys[e.node - 1], signature: e.signature })),
      DOMAIN.endorse,
      payload
    )
    for (const k of bad)
      this.m.logger.warn('a consensus peer endorsed with a wrong signature', { slot: agg.slot, peer: consensusId(signed[k].node) })
    const endorsed = signed.filter((_, k) => !bad.includes(k)).sort((a, b) => a.node - b.node)
    return { endorsed, refusals }
  }

  /**
   * PARTIAL(t, certificate) to the peers that endorsed; their signed values. A value whose
   * signature does not verify is taken as no answer, never as a wrong one: it proves nothing.
   */
  private async partialRound(slot: number, setHash: Uint8Array, e: Endorsement, nodes: number[]): Promise<SignedPartial[]> {
    const body = encodePartialRequest({ slot, signers: e.signers, signature: e.signature })
    const answers = await Promise.all(
      nodes.map(async (node): Promise<SignedPartial | null> => {
        const peerId = this.m.peers.find((p) => p.index === node)!.peerId
        try {
          const [frame] = await this.m.p2p.request(peerId, this.o.wire.partial, body, { timeoutMs: this.o.committeeTimeoutMs })
          return { node, ...decodePartialResponse(frame) }
        } catch (err) {
          this.m.logger.debug('no partial sum', { slot, peer: consensusId(node), error: (err as Error).message })
          return null
        }
      })
    )
    const received = answers.filter((a): a is SignedPartial => a !== null)
    const bad = new Set(badPartials(received, slot, setHash, this.o.keys))
    for (const node of bad) {
      this.mUnsigned.inc({ peer: consensusId(node) })
      this.m.logger.warn('a consensus peer sent a partial sum without a valid signature: taken as no answer', {
        slot,
        peer: consensusId(node)
      })
    }
    return received.filter((p) => !bad.has(p.node))
  }
}

/**
 * The proof behind `faulty` (PROTOCOL 3.5.5): the signed partials of the first `quorum` agreeing
 * peers (2f+1 are enough to fix the polynomial; more would only make the block larger) and of
 * every inconsistent one, by node. Empty when nobody is inconsistent, the common case.
 */
export function faultProof(
  partials: readonly SignedPartial[],
  agreeing: number[],
  inconsistent: number[],
  quorum: number
): SignedPartial[] {
  if (inconsistent.length === 0) return []
  const used = new Set([...agreeing.slice(0, quorum), ...inconsistent])
  return partials.filter((p) => used.has(p.node)).sort((a, b) => a.node - b.node)
}

function reasonOf(r: SlotResult): IncompleteReason | '' {
  if (r.status === 'complete') return ''
  if (r.status === 'inconsistent') return 'inconsistent'
  if (r.reason === 'too-few-reporters' || r.reason === 'reveal-rounds') return r.reason
  return r.detail === 'no-endorsement' ? 'no-endorsement' : 'no-partials'
}
