/**
 * The votes of one height (PROTOCOL 4.2, 4.3): for each phase and view, the PREPAREs or COMMITs
 * by block digest, which block each node voted for, and whether this replica has voted. A node
 * voting for two blocks in one (phase, view) is caught here; the signatures of a set are checked
 * together, as one aggregate, when the set is first counted towards a quorum.
 */
import { bytesEqual, toHex } from '@bbnp/core'
import { aggregateSignatures, batchVerifySameMessage, verifyGroups } from '@bbnp/crypto'
import { type CommitCertificate, indicesFromBitmap } from './block.ts'
import { makeCertificate, type VotePhase, voteDomain, votePayload } from './certificate.ts'
import type { ReplicaContext } from './context.ts'
import type { Evidence } from './observations.ts'

export interface Vote {
  signature: Uint8Array
  verified: boolean
  /** When it arrived (0 for this replica's own). */
  at: number
}

interface VoteSet {
  digest: Uint8Array
  votes: Map<number, Vote>
}

/** The votes of one (phase, view). */
interface Round {
  /** By digest (hex). */
  sets: Map<string, VoteSet>
  /** The digest (hex) each node voted for: one vote per node. */
  choice: Map<number, string>
  /** This replica has sent its vote. */
  sent: boolean
}

export class VoteBook {
  readonly height: number
  private readonly ctx: ReplicaContext
  private readonly evidence: Evidence
  private readonly rounds: Record<VotePhase, Map<number, Round>> = { prepare: new Map(), commit: new Map() }
  /** When this replica prepared, by view. */
  private readonly prepared = new Map<number, number>()

  constructor(ctx: ReplicaContext, height: number, evidence: Evidence) {
    this.ctx = ctx
    this.height = height
    this.evidence = evidence
  }

  private round(phase: VotePhase, view: number): Round {
    let round = this.rounds[phase].get(view)
    if (!round) {
      round = { sets: new Map(), choice: new Map(), sent: false }
      this.rounds[phase].set(view, round)
    }
    return round
  }

  private set(phase: VotePhase, view: number, digest: Uint8Array): VoteSet | undefined {
    return this.rounds[phase].get(view)?.sets.get(toHex(digest))
  }

  /**
   * Record `node`'s vote for `digest`; false if it had voted in this (phase, view) already (for
   * another block: provably wrong, reported).
   */
  add(phase: VotePhase, view: number, digest: Uint8Array, node: number, vote: Vote): boolean {
    const round = this.round(phase, view)
    const key = toHex(digest)
    const prev = round.choice.get(node)
    if (prev !== undefined) {
      if (prev !== key) this.evidence.wrongFrom(node, phase, 'DOUBLE_VOTE')
      return false
    }
    round.choice.set(node, key)
    let set = round.sets.get(key)
    if (!set) {
      set = { digest, votes: new Map() }
      round.sets.set(key, set)
    }
    set.votes.set(node, vote)
    return true
  }

  /** Votes held for (phase, view, digest), verified or not. */
  count(phase: VotePhase, view: number, digest: Uint8Array): number {
    return this.set(phase, view, digest)?.votes.size ?? 0
  }

  /**
   * PROTOCOL 4.3: verify the unverified votes for (phase, view, digest) as one aggregate; if that
   * fails, one by one to find and penalise the bad ones, which are dropped. Returns the votes left.
   */
  verify(phase: VotePhase, view: number, digest: Uint8Array): number {
    const set = this.set(phase, view, digest)
    return set ? this.verifySet(phase, view, set) : 0
  }

  /**
   * Verify every set of a view, in both phases (the votes that came after a decision): all of
   * them as one multi-set, each (phase, digest) set one group (PROTOCOL 4.3); only if that fails,
   * set by set, to find the bad votes.
   */
  verifyView(view: number): void {
    const open: { phase: VotePhase; set: VoteSet; votes: [number, Vote][] }[] = []
    for (const phase of ['prepare', 'commit'] as const)
      for (const set of this.rounds[phase].get(view)?.sets.values() ?? []) {
        const votes = [...set.votes.entries()].filter(([, v]) => !v.verified)
        if (votes.length > 0) open.push({ phase, set, votes })
      }
    if (open.length > 1) {
      const { config, stats } = this.ctx
      const ok = verifyGroups(
        open.map(({ phase, set, votes }) => ({
          publicKeys: votes.map(([node]) => config.keys[node - 1]),
          domain: voteDomain(phase),
          message: votePayload(this.height, view, set.digest),
          signatures: votes.map(([, v]) => v.signature)
        }))
      )
      stats.batchChecks++
      stats.signaturesInBatches += open.reduce((n, o) => n + o.votes.length, 0)
      if (ok) for (const o of open) for (const [, v] of o.votes) v.verified = true
    }
    for (const { phase, set } of open) this.verifySet(phase, view, set)
  }

  private verifySet(phase: VotePhase, view: number, set: VoteSet): number {
    const unverified = [...set.votes.entries()].filter(([, v]) => !v.verified)
    if (unverified.length > 0) {
      const { config, stats } = this.ctx
      const res = batchVerifySameMessage(
        unverified.map(([node, v]) => ({ publicKey: config.keys[node - 1], signature: v.signature })),
        voteDomain(phase),
        votePayload(this.height, view, set.digest)
      )
      stats.batchChecks++
      stats.signaturesInBatches += unverified.length
      if (res.checks > 1) stats.fallbackChecks += res.checks - 1
      const bad = new Set(res.bad)
      unverified.forEach(([node, v], i) => {
        if (bad.has(i)) {
          set.votes.delete(node)
          this.rounds[phase].get(view)?.choice.delete(node)
          this.evidence.wrongFrom(node, phase, 'BAD_SIGNATURE')
        } else v.verified = true
      })
    }
    return set.votes.size
  }

  /** The certificate made of every vote held for (phase, view, digest). */
  certificate(phase: VotePhase, view: number, digest: Uint8Array): CommitCertificate {
    const votes = [...(this.set(phase, view, digest)?.votes.entries() ?? [])].map(([node, v]) => ({ node, signature: v.signature }))
    return makeCertificate(this.height, view, votes, this.ctx.m)
  }

  /** The verified commits for (view, digest): what this replica can vouch for once it decided that block. */
  verifiedCommits(view: number, digest: Uint8Array): CommitVotes {
    const votes = new Map<number, Uint8Array>()
    for (const [node, v] of this.set('commit', view, digest)?.votes ?? []) if (v.verified) votes.set(node, v.signature)
    return new CommitVotes(this.height, view, votes, this.ctx)
  }

  /** The vote `node` cast in (phase, view), if any. */
  voteOf(phase: VotePhase, view: number, node: number): Vote | undefined {
    const round = this.rounds[phase].get(view)
    const key = round?.choice.get(node)
    return key === undefined ? undefined : round?.sets.get(key)?.votes.get(node)
  }

  /** This replica has voted in (phase, view). */
  hasSent(phase: VotePhase, view: number): boolean {
    return this.rounds[phase].get(view)?.sent ?? false
  }

  markSent(phase: VotePhase, view: number): void {
    this.round(phase, view).sent = true
  }

  notePrepared(view: number, now: number): void {
    this.prepared.set(view, now)
  }

  preparedAt(view: number): number | undefined {
    return this.prepared.get(view)
  }
}

/**
 * The verified commit votes behind a decided block's certificate, by node. A certificate of that
 * height and view made only of them is valid: aggregating their signatures (a few point
 * additions) and comparing the bytes replaces the pairing check.
 */
export class CommitVotes {
  readonly height: number
  readonly view: number
  private readonly votes: Map<number, Uint8Array>
  private readonly ctx: Pick<ReplicaContext, 'm' | 'quorum'>

  constructor(height: number, view: number, votes: Map<number, Uint8Array>, ctx: Pick<ReplicaContext, 'm' | 'quorum'>) {
    this.height = height
    this.view = view
    this.votes = votes
    this.ctx = ctx
  }

  vouchFor(cert: CommitCertificate): boolean {
    if (cert.height !== this.height || cert.view !== this.view) return false
    let signers: number[]
    try {
      signers = indicesFromBitmap(cert.signers, this.ctx.m)
    } catch {
      return false
    }
    if (signers.length < this.ctx.quorum || !signers.every((n) => this.votes.has(n))) return false
    return bytesEqual(aggregateSignatures(signers.map((n) => this.votes.get(n) as Uint8Array)), cert.signature)
  }
}
