/**
 * The PBFT replica as a state machine (PROTOCOL 4): `replica.handle(event)` returns the effects
 * the runtime must carry out, in order. No I/O, no timers, no clock: time arrives in events,
 * timers leave as effects and come back as `timeout` events, storage and the network are effects.
 *
 * One height at a time. For height h in view v: the election names the primary of v
 * (election.ts); the primary builds the block on the gateway's aggregate and publishes
 * PRE-PREPARE; each replica checks it (validate.ts) and publishes PREPARE(h, v, Bd); with 2f+1
 * valid prepares (one aggregate check, PROTOCOL 4.3; vote-book.ts) it is prepared and publishes
 * COMMIT(h, v, Bd); with 2f+1 valid commits it decides: a `commit` effect with the block and its
 * certificate. A height that does not commit in time moves to the next view (view-change.ts);
 * after a grace period a decided height's observations leave (observations.ts); nothing is
 * signed that could conflict with what was signed before, across restarts too (sign-guard.ts).
 * This class keeps the heights, proposing and deciding.
 */
import { bytesEqual, DOMAIN, toHex } from '@bbnp/core'
import { sign } from '@bbnp/crypto'
import { type Block, type CommitCertificate, decodeCanonicalBlock, encodeBlock, hashEncodedBlock, type SignedAggregate } from './block.ts'
import { type VotePhase, voteDomain, votePayload } from './certificate.ts'
import { Outbox, type ReplicaContext, verifyFrom } from './context.ts'
import { ClosedHeights } from './closed-heights.ts'
import { drawSignature, Election } from './election.ts'
import { FutureMessages } from './future-messages.ts'
import type { HeightState, Proposal } from './height.ts'
import {
  type ConsensusMessage,
  carriedDraw,
  type DrawMessage,
  type PrePrepareMessage,
  prePreparePayload,
  type VoteMessage
} from './messages.ts'
import { Evidence } from './observations.ts'
import { OpinionPool } from './opinion-pool.ts'
import { PendingAggregates, slotAt } from './pending-aggregates.ts'
import type { RejectReason, ReplicaConfig, ReplicaEffect, ReplicaEvent, ReplicaStats, ReplicaTimer, SignedRecord } from './replica-types.ts'
import { SignGuard } from './sign-guard.ts'
import { SignatureCache } from './sigcache.ts'
import { type BlockError, type ChainHead, proposalGroups, validateBlock } from './validate.ts'
import { ViewChange, ViewChangeLog } from './view-change.ts'
import { type CommitVotes, VoteBook } from './vote-book.ts'

export class Replica {
  readonly config: ReplicaConfig
  readonly m: number
  readonly f: number
  readonly quorum: number
  head: ChainHead
  readonly cache = new SignatureCache()
  /** Batch verification work, for the benchmark and metrics. */
  readonly stats: ReplicaStats = { batchChecks: 0, signaturesInBatches: 0, fallbackChecks: 0, commits: 0, viewChanges: 0 }
  private readonly out = new Outbox()
  private readonly ctx: ReplicaContext
  private readonly guard: SignGuard
  private readonly viewChange: ViewChange
  private readonly opinions: OpinionPool
  private readonly pending: PendingAggregates
  private readonly future = new FutureMessages()
  private hs: HeightState
  /** Heights decided recently, kept until their grace timers so late votes still count. */
  private readonly closed: ClosedHeights
  /** The verified commit votes behind the head's certificate (null after a sync). */
  private headVotes: CommitVotes | null = null
  /** The draw this replica sent in its last COMMIT: of height + 1, over the block it committed. */
  private sentDraw: { height: number; seed: Uint8Array; signature: Uint8Array } | null = null

  constructor(config: ReplicaConfig, head: ChainHead, lastSigned: SignedRecord | null) {
    this.config = config
    this.m = config.keys.length
    this.f = Math.floor((this.m - 1) / 3)
    this.quorum = 2 * this.f + 1
    this.head = head
    this.ctx = { config, m: this.m, f: this.f, quorum: this.quorum, cache: this.cache, stats: this.stats, out: this.out }
    this.guard = new SignGuard(lastSigned, this.out)
    this.viewChange = new ViewChange(this.ctx, this.guard, {
      current: () => this.hs,
      freshBlock: (view, now) => {
        const next = this.pending.next(this.head.slot)
        return next ? this.buildBlock(view, next.aggregate, now) : null
      },
      validate: (block, now) => validateBlock(block, this.validationContext(now)),
      accept: (view, block, encoded, digest, proposer, now) => this.accept(view, block, encoded, digest, proposer, now)
    })
    this.opinions = new OpinionPool(this.ctx)
    this.closed = new ClosedHeights(this.ctx)
    this.pending = new PendingAggregates(this.ctx)
    this.hs = this.newHeight(0)
  }

  /** The height this replica is working on. */
  get height(): number {
    return this.hs.height
  }

  get view(): number {
    return this.hs.view
  }

  /**
   * The primary of the current view, once the election has settled (Theta and every draw, or
   * the election wait is over); null before: a partial set of draws may name someone else.
   */
  get primary(): number | null {
    return this.hs.election.settled ? this.hs.election.primaryOf(this.hs.view) : null
  }

  /** The primary of `view` at the current height, from the draws known so far. */
  primaryOfView(view: number): number | null {
    return this.hs.election.primaryOf(view)
  }

  get viewChanging(): boolean {
    return this.hs.viewChanging
  }

  /** This replica's own draw of `height` while it works on that height, else null (PROTOCOL 4.1). */
  ownDraw(height: number): DrawMessage | null {
    return this.hs.height === height ? this.hs.election.ownDraw() : null
  }

  handle(event: ReplicaEvent): ReplicaEffect[] {
    // A query between events (a getter that verified new draws) has no runtime to take its
    // effects; its evidence stays with the height.
    this.out.take()
    switch (event.type) {
      case 'start':
        this.enterHeight(event.now, true)
        break
      case 'aggregate':
        this.onAggregate(event.aggregate, event.now)
        break
      case 'message':
        this.onMessage(event.message, event.now)
        break
      case 'opinion':
        this.opinions.add(event.encoded, this.head, event.own === true)
        break
      case 'timeout':
        this.onTimeout(event.timer, event.now)
        break
      case 'synced':
        this.onSynced(event.block, event.cert, event.now)
        break
    }
    return this.out.take()
  }

  // ---------------------------------------------------------------- heights

  private newHeight(now: number): HeightState {
    const height = this.head.height + 1
    const evidence = new Evidence(this.out)
    return {
      height,
      startedAt: now,
      seed: this.head.hash,
      view: 0,
      viewChanging: false,
      election: new Election(this.ctx, height, this.head.hash, this.head.reputation, evidence),
      votes: new VoteBook(this.ctx, height, evidence),
      viewChanges: new ViewChangeLog(),
      evidence,
      proposals: new Map(),
      workSince: null,
      decided: false,
      decidedView: 0,
      decidedAt: 0,
      behindSignalledAt: null
    }
  }

  private enterHeight(now: number, restoring = false): void {
    const hs = (this.hs = this.newHeight(now))
    // After a restart, resume the view this replica had moved to, so it never signs for a view it left.
    const ls = this.guard.last
    if (restoring && ls && ls.height === hs.height) {
      hs.view = ls.view
      if (ls.phase === 'viewchange') {
        hs.viewChanging = true
        this.viewChange.armTimer(hs.view, now)
      }
    }
    this.pending.prune(this.head.slot)
    this.opinions.prune(hs.height)
    const sent = this.sentDraw
    hs.election.start(sent && sent.height === hs.height && bytesEqual(sent.seed, hs.seed) ? sent.signature : undefined)
    for (const msg of this.future.take(hs.height)) this.onMessage(msg, now)
    this.tryPropose(now)
    this.armIfWork(now)
  }

  // ---------------------------------------------------------------- work and timers

  /** A view timer runs only while there is work: an aggregate waiting, or a proposal seen. */
  private armIfWork(now: number): void {
    const hs = this.hs
    if (hs.decided || hs.viewChanging) return
    if (this.pending.next(this.head.slot) || hs.proposals.size > 0) this.viewChange.armTimer(hs.view, now)
  }

  private onTimeout(timer: ReplicaTimer, now: number): void {
    if (timer.kind === 'grace') return this.closed.finish(timer.height)
    const hs = this.hs
    if (timer.height !== hs.height || hs.decided) return
    switch (timer.kind) {
      case 'retry':
        hs.election.retry(timer.attempt)
        break
      case 'election':
        hs.election.endWait()
        this.tryPropose(now)
        break
      case 'view':
        if (timer.view === hs.view) this.viewChange.start(hs.view + 1, now)
        break
    }
  }

  // ---------------------------------------------------------------- inputs

  private onAggregate(a: SignedAggregate, now: number): void {
    if (!this.pending.add(a, this.head.slot, now)) return
    this.tryPropose(now)
    this.viewChange.tryNewView(now)
    this.armIfWork(now)
  }

  private onMessage(msg: ConsensusMessage, now: number): void {
    const hs = this.hs
    const draw = carriedDraw(msg)
    if (draw && draw.node !== this.config.me) {
      // A COMMIT carries the next height's draw (PROTOCOL 4.1): kept for it, or taken now (late).
      if (draw.height > hs.height) this.future.add(draw, hs.height, this.f)
      else if (draw.height === hs.height) hs.election.onDraw(draw)
    }
    if (msg.height > hs.height) {
      if (this.future.add(msg, hs.height, this.f)) this.signalBehind(msg.height, now)
      return
    }
    if (msg.height < hs.height) {
      if (msg.kind === 'prepare' || msg.kind === 'commit') this.closed.lateVote(msg, now)
      return
    }
    if (msg.kind !== 'theta' && msg.node === this.config.me) return
    switch (msg.kind) {
      case 'draw':
        hs.election.onDraw(msg)
        break
      case 'theta':
        hs.election.onTheta(msg)
        break
      case 'preprepare':
        this.onPrePrepare(msg, now)
        break
      case 'prepare':
      case 'commit':
        this.onVote(msg, now)
        break
      case 'viewchange':
        this.viewChange.onViewChange(msg, now)
        break
      case 'newview':
        this.viewChange.onNewView(msg, now)
        break
    }
    this.tryPropose(now)
  }

  /** Ask the runtime to catch up; again after a second if still behind (a sync may find nothing yet). */
  private signalBehind(height: number, now: number): void {
    const last = this.hs.behindSignalledAt
    if (last !== null && now - last < 1000) return
    this.hs.behindSignalledAt = now
    this.out.push({ type: 'behind', height })
  }

  // ---------------------------------------------------------------- proposing

  private tryPropose(now: number): void {
    const hs = this.hs
    if (hs.decided || hs.viewChanging || hs.view !== 0 || hs.proposals.has(0)) return
    if (!hs.election.settled || hs.election.primaryOf(0) !== this.config.me) return
    const next = this.pending.next(this.head.slot)
    if (!next) return
    const block = this.buildBlock(0, next.aggregate, now)
    const encoded = encodeBlock(block)
    const digest = hashEncodedBlock(encoded)
    if (!this.guard.maySign(hs, 'preprepare', 0, digest)) return
    const signature = sign(this.config.signer, DOMAIN.preprepare, prePreparePayload(hs.height, 0, digest))
    this.out.send({ kind: 'preprepare', height: hs.height, view: 0, node: this.config.me, block: encoded, signature })
    this.accept(0, block, encoded, digest, this.config.me, now)
  }

  private buildBlock(view: number, aggregate: SignedAggregate, now: number): Block {
    const hs = this.hs
    const { reputation, opinions } = this.opinions.select(this.head, hs.height)
    return {
      height: hs.height,
      prevHash: this.head.hash,
      slot: aggregate.slot,
      aggregate,
      primary: this.config.me,
      view,
      election: hs.election.proof(),
      reputation,
      opinions,
      prevCert: this.head.cert,
      timestampMs: now
    }
  }

  // ---------------------------------------------------------------- pre-prepare

  private validationContext(now: number) {
    return {
      head: this.head,
      keys: this.config.keys,
      gatewayKey: this.config.gatewayKey,
      meters: this.config.meters,
      minReporters: this.config.minReporters,
      quorum: this.quorum,
      currentSlot: slotAt(this.config.timing, now),
      rules: this.config.rules,
      cache: this.cache,
      knownCertificate: (cert: CommitCertificate) => this.knownCertificate(cert)
    }
  }

  /**
   * A certificate for the head made only of commit votes this replica verified itself is valid:
   * aggregating their signatures (a few point additions) and comparing the bytes replaces the
   * pairing check. Any other certificate is verified in full.
   */
  knownCertificate(cert: CommitCertificate): boolean {
    return this.headVotes?.vouchFor(cert) ?? false
  }

  private onPrePrepare(msg: PrePrepareMessage, now: number): void {
    const hs = this.hs
    if (msg.view !== hs.view || hs.viewChanging || hs.decided) return
    const wrong = (reason: RejectReason) => hs.evidence.wrongFrom(msg.node, 'preprepare', reason)
    const decoded = decodeCanonicalBlock(msg.block, this.config.maxBlockBytes)
    if (!decoded) return wrong('MALFORMED_BLOCK')
    const { block, digest } = decoded
    const payload = prePreparePayload(msg.height, msg.view, digest)
    // The proposer's signature with the Theta and draws it carries: one multi-set check (PROTOCOL 4.3).
    if (!hs.proposals.has(msg.view))
      this.cache.preverify(proposalGroups(msg.node, payload, msg.signature, block, this.head.hash, this.config))
    if (!verifyFrom(this.ctx, msg.node, DOMAIN.preprepare, payload, msg.signature)) return wrong('BAD_SIGNATURE')
    const existing = hs.proposals.get(msg.view)
    if (existing) {
      if (bytesEqual(existing.digest, digest)) return
      if (existing.proposer === msg.node) {
        // Two signed blocks for one (height, view) from the primary: equivocation. Prove-able,
        // so count it as a wrong message and leave the view at once.
        hs.evidence.equivocators.add(msg.node)
        wrong('EQUIVOCATION')
        this.viewChange.start(hs.view + 1, now)
      }
      return
    }
    if (block.view !== msg.view || block.primary !== msg.node) return wrong('WRONG_PRIMARY')
    const err = this.checkProposal(block, msg.node, msg.view, now)
    // An honest node whose draw set was incomplete may believe it is the primary: refused and
    // counted, but not held against its reputation. Every other error is the signer's fault.
    if (err === 'WRONG_PRIMARY') return this.out.reject(msg.node, 'preprepare', err)
    if (err) return wrong(err)
    this.accept(msg.view, block, msg.block, digest, msg.node, now)
  }

  /**
   * Validate a fresh proposal and that `proposer` is the rightful primary of `view`, judged on
   * the union of the draws this replica knows and those the block carries: a primary cannot
   * drop a better candidate's draw that honest replicas have seen.
   */
  private checkProposal(block: Block, proposer: number, view: number, now: number): BlockError | null {
    const err = validateBlock(block, this.validationContext(now))
    if (err) return err
    const { election } = this.hs
    if (!election.open(block.election)) return 'BAD_ELECTION_PROOF'
    if (election.primaryOf(view) !== proposer) return 'WRONG_PRIMARY'
    return null
  }

  /** Take the proposal of `view` (a PRE-PREPARE, a NEW-VIEW, or this replica's own) and vote for it. */
  private accept(view: number, block: Block, encoded: Uint8Array, digest: Uint8Array, proposer: number, now: number): void {
    const hs = this.hs
    const p: Proposal = { view, block, encoded, digest, proposer, at: now, aggregateAt: this.pending.receivedAt(block.slot) }
    hs.proposals.set(view, p)
    this.out.log('debug', 'proposal accepted', {
      height: hs.height,
      view,
      proposer,
      slot: block.slot,
      digest: toHex(digest).slice(0, 16)
    })
    this.armIfWork(now)
    this.sendVote('prepare', view, digest)
    this.evaluate('prepare', view, digest, now)
    this.evaluate('commit', view, digest, now)
  }

  // ---------------------------------------------------------------- votes

  private sendVote(phase: VotePhase, view: number, digest: Uint8Array): void {
    const hs = this.hs
    if (hs.votes.hasSent(phase, view)) return
    if (!this.guard.maySign(hs, phase, view, digest)) {
      this.out.log('warn', 'refused to sign a conflicting vote', { height: hs.height, view, phase })
      return
    }
    hs.votes.markSent(phase, view)
    const signature = sign(this.config.signer, voteDomain(phase), votePayload(hs.height, view, digest))
    hs.votes.add(phase, view, digest, this.config.me, { signature, verified: true, at: 0 })
    const vote: VoteMessage = { kind: phase, height: hs.height, view, node: this.config.me, digest, signature }
    if (phase === 'commit') {
      // The COMMIT carries this replica's draw of the next height, over this block as its seed
      // (PROTOCOL 4.1): once the block is decided nobody needs a draw message of its own.
      vote.nextDraw = drawSignature(this.config.signer, hs.height + 1, digest)
      this.sentDraw = { height: hs.height + 1, seed: digest, signature: vote.nextDraw }
    }
    this.out.send(vote)
  }

  private onVote(msg: VoteMessage, now: number): void {
    const hs = this.hs
    if (hs.decided) return
    // Votes of older views cannot decide anything now; votes for later views wait for their NEW-VIEW.
    if (msg.view < hs.view || msg.view > hs.view + 8) return
    if (!hs.votes.add(msg.kind, msg.view, msg.digest, msg.node, { signature: msg.signature, verified: false, at: now })) return
    this.evaluate(msg.kind, msg.view, msg.digest, now)
  }

  private evaluate(phase: VotePhase, view: number, digest: Uint8Array, now: number): void {
    const hs = this.hs
    if (hs.decided || hs.votes.count(phase, view, digest) < this.quorum) return
    if (phase === 'prepare') {
      const proposal = hs.proposals.get(view)
      if (!proposal || !bytesEqual(proposal.digest, digest) || hs.votes.hasSent('commit', view)) return
      const votes = hs.votes.verify('prepare', view, digest)
      if (votes < this.quorum) return
      hs.viewChanges.notePrepared(view, digest, proposal.encoded, hs.votes.certificate('prepare', view, digest))
      hs.votes.notePrepared(view, now)
      this.out.log('debug', 'prepared', { height: hs.height, view, votes })
      this.sendVote('commit', view, digest)
      this.evaluate('commit', view, digest, now)
      return
    }
    if (hs.votes.verify('commit', view, digest) < this.quorum) return
    const proposal = [...hs.proposals.values()].find((p) => bytesEqual(p.digest, digest))
    if (!proposal) {
      // 2f+1 nodes committed a block this replica never saw: fetch it from them.
      this.signalBehind(hs.height + 1, now)
      return
    }
    this.decide(proposal, view, hs.votes.certificate('commit', view, digest), now)
  }

  // ---------------------------------------------------------------- deciding

  private decide(p: Proposal, view: number, cert: CommitCertificate, now: number): void {
    const hs = this.hs
    hs.decided = true
    hs.decidedView = view
    hs.decidedAt = now
    this.viewChange.noteDecided(hs, view, now)
    this.out.push({
      type: 'commit',
      commit: { block: p.block, encoded: p.encoded, digest: p.digest, cert, aggregateAt: p.aggregateAt }
    })
    this.stats.commits++
    this.advanceHead(p.block, p.digest, cert)
    this.headVotes = hs.votes.verifiedCommits(view, p.digest)
    this.closed.close(hs)
    this.enterHeight(now)
  }

  private advanceHead(block: Block, digest: Uint8Array, cert: CommitCertificate): void {
    this.head = {
      height: block.height,
      hash: digest,
      slot: block.slot,
      reputation: block.reputation.vector,
      opinionHeight: block.reputation.opinionHeight,
      cert
    }
  }

  /** A block fetched by catch-up, already verified and stored by the runtime. */
  private onSynced(block: Block, cert: CommitCertificate, now: number): void {
    if (block.height !== this.head.height + 1) return
    // The runtime verified the certificate before storing the block (PROTOCOL 4.6).
    if (!bytesEqual(block.prevHash, this.head.hash)) return this.out.reject(null, 'synced', 'WRONG_PARENT')
    const digest = hashEncodedBlock(encodeBlock(block))
    this.advanceHead(block, digest, cert)
    this.headVotes = null
    this.enterHeight(now)
  }
}
