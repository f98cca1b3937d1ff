/**
 * The PBFT replica as a state machine (PROTOCOL 4): `replica.handle(event)` returns the effects
 * the runtime must carry out, in order. No I/O, no timers, no clock: time arrives in events,
 * timers leave as effects and come back as `timeout` events, storage and the network are effects.
 *
 * One height at a time. For height h in view v:
 *   election  every node publishes its VRF draw over (h, seed = hash of block h-1); the gateway
 *             answers with Theta; the order of candidates (PROTOCOL 4.1) names the primary of v.
 *   propose   the primary of v, holding the gateway's aggregate for the next slot, builds the
 *             block and publishes PRE-PREPARE.
 *   prepare   each replica checks the block (validate.ts) and that the sender is the rightful
 *             primary, and publishes PREPARE(h, v, Bd).
 *   commit    with 2f+1 valid prepares (checked as one aggregate, PROTOCOL 4.3) it is prepared and
 *             publishes COMMIT(h, v, Bd); with 2f+1 valid commits it decides: `commit` effect with
 *             the block and its certificate.
 *   view change (PROTOCOL 4.5, the paper has none): if a height with known work does not commit
 *             before the view timer, replicas publish VIEW-CHANGE(h, v+1, prepared certificate);
 *             the primary of v+1 gathers 2f+1 and publishes NEW-VIEW with the highest prepared
 *             block (or a fresh one); the timer doubles per failed view and resets after a commit.
 *
 * Safety against a crash-restart: before any signature leaves, a `persist` effect records
 * (height, view, phase, digest); the runtime must complete it before the following effects. The
 * replica never signs two different digests for one (height, view) and never signs for a view it
 * has left, including after a restart from the persisted record.
 */
import { BbnpError, bytesEqual, DOMAIN, toHex } from '@bbnp/core'
import { aggregateSignatures, batchVerifySameMessage, type PublicKey, type SecretKey, sign, vrfMessage, vrfOutput } from '@bbnp/crypto'
import {
  aggregatePayload,
  type Block,
  type CommitCertificate,
  decodeBlock,
  encodeBlock,
  hashEncodedBlock,
  indicesFromBitmap,
  type SignedAggregate
} from './block.ts'
import { checkCertificate, makeCertificate, type VotePhase, voteDomain, votePayload } from './certificate.ts'
import {
  type ConsensusMessage,
  type DrawMessage,
  type NewViewMessage,
  newViewPayload,
  type PreparedCertificate,
  type PrePrepareMessage,
  prePreparePayload,
  decodeMessage,
  encodeMessage,
  type ThetaMessage,
  type ViewChangeMessage,
  viewChangePayload,
  type VoteMessage
} from './messages.ts'
import type { ConsensusRules } from './rules.ts'
import { SignatureCache } from './sigcache.ts'
import { type BlockError, type ChainHead, openElection, rightfulPrimary, validateBlock } from './validate.ts'

export type { ChainHead }

export type SignedPhase = 'preprepare' | 'prepare' | 'commit' | 'viewchange' | 'newview'

/** The last message this replica signed, persisted before it is sent. */
export interface SignedRecord {
  height: number
  view: number
  phase: SignedPhase
  /** The block digest signed for (height, view); null for a view change. */
  digest: Uint8Array | null
}

export interface ReplicaTiming {
  /** View timer of view 0; view v waits base * 2^v, capped. */
  viewTimeoutMs: number
  maxViewTimeoutMs: number
  /** How long the primary waits for missing draws before it trusts the order it has. */
  electionWaitMs: number
  /** How long after a commit late votes still count before observations are final. */
  graceMs: number
  genesisTimeMs: number
  periodMs: number
}

/** Test-only misbehaviour (refused by the runtime unless the genesis is a devnet). */
export interface ReplicaFaults {
  /** Sign every vote over a wrong payload. */
  wrongSignatures?: boolean
  /** As primary, publish two different blocks for the same height and view. */
  equivocate?: boolean
}

export interface ReplicaConfig {
  me: number
  keys: PublicKey[]
  gatewayKey: PublicKey
  meters: number
  signer: SecretKey
  maxBlockBytes: number
  timing: ReplicaTiming
  rules: ConsensusRules
  faults?: ReplicaFaults
}

export type TimerKind = 'view' | 'election' | 'grace' | 'retry'

export type ReplicaEvent =
  | { type: 'start'; now: number }
  | { type: 'aggregate'; aggregate: SignedAggregate; now: number }
  | { type: 'message'; message: ConsensusMessage; now: number }
  | { type: 'opinion'; encoded: Uint8Array; now: number }
  | { type: 'timeout'; kind: TimerKind; height: number; view: number; now: number }
  | { type: 'synced'; block: Block; cert: CommitCertificate; now: number }

export type ObservationPhase = 'preprepare' | 'prepare' | 'commit' | 'draw'
export type ObservationOutcome = 'valid' | 'wrong' | 'missing'

/** One interaction this replica observed from another node (the reputation model's evidence). */
export interface Observation {
  node: number
  phase: ObservationPhase
  outcome: ObservationOutcome
  /** For valid messages: delay after the moment the message became due. */
  delayMs: number
}

export interface CommitInfo {
  block: Block
  encoded: Uint8Array
  digest: Uint8Array
  cert: CommitCertificate
  /** When this replica first held the aggregate of the block's slot (its hand-off), if it did. */
  aggregateAt: number | null
}

export type ReplicaEffect =
  | { type: 'persist'; record: SignedRecord }
  | { type: 'broadcast'; message: ConsensusMessage; encoded: Uint8Array }
  | { type: 'commit'; commit: CommitInfo }
  | { type: 'timer'; kind: TimerKind; height: number; view: number; delayMs: number }
  | { type: 'observations'; height: number; items: Observation[] }
  | { type: 'reject'; node: number | null; kind: string; reason: string }
  | { type: 'behind'; height: number }
  /** No Theta yet although the draw went out: ask the gateway directly with this draw (PROTOCOL 4.1). */
  | { type: 'fetch-theta'; draw: DrawMessage }
  | { type: 'log'; level: 'debug' | 'info' | 'warn'; msg: string; ctx?: Record<string, unknown> }

interface Vote {
  signature: Uint8Array
  verified: boolean
  at: number
}

interface VoteSet {
  digest: Uint8Array
  votes: Map<number, Vote>
}

interface Proposal {
  view: number
  block: Block
  encoded: Uint8Array
  digest: Uint8Array
  /** The node that proposed it in this view (pre-prepare or new-view sender). */
  proposer: number
  at: number
  /** When this replica first held the block's aggregate (the moment a proposal became due). */
  aggregateAt: number | null
}

interface Prepared {
  view: number
  digest: Uint8Array
  encoded: Uint8Array
  signers: Uint8Array
  signature: Uint8Array
}

interface HeightState {
  height: number
  startedAt: number
  seed: Uint8Array
  /** The parent's reputation vector: the election of this height ranks by it. */
  reputation: readonly number[]
  view: number
  /** Sent VIEW-CHANGE for `view`, waiting for its NEW-VIEW. */
  viewChanging: boolean
  /** Draws received; verified in one aggregate check when the order is first needed. */
  draws: Map<number, { signature: Uint8Array; x: bigint; verified: boolean }>
  theta: { signature: Uint8Array; x: bigint } | null
  electionWaitOver: boolean
  proposals: Map<number, Proposal>
  /** phase -> view -> digest hex -> votes */
  votes: Record<VotePhase, Map<number, Map<string, VoteSet>>>
  /** (phase, view, node) -> digest hex of that node's vote, to catch a node voting twice. */
  voted: Map<string, string>
  prepared: Prepared | null
  preparedAt: Map<number, number>
  sent: Set<string>
  viewChanges: Map<number, Map<number, { msg: ViewChangeMessage; encoded: Uint8Array }>>
  viewTimerArmed: Set<number>
  /** When work (an aggregate or a proposal) first appeared at this height. */
  workSince: number | null
  equivocators: Set<number>
  wrong: Observation[]
  decided: boolean
  /** The view whose block was decided. */
  decidedView: number
  decidedAt: number
  /** When this replica last asked the runtime to catch up (null: never at this height). */
  behindSignalledAt: number | null
}

const MAX_FUTURE_HEIGHTS = 3
const MAX_BUFFERED_PER_HEIGHT = 1024
const OPINION_HEIGHTS_KEPT = 16

export class Replica {
  readonly config: ReplicaConfig
  readonly m: number
  readonly f: number
  readonly quorum: number
  head: ChainHead
  private hs: HeightState
  /** Heights decided recently, kept until their grace timers so late votes still count. */
  private readonly closed = new Map<number, HeightState>()
  private lastSigned: SignedRecord | null
  private readonly pending = new Map<number, { aggregate: SignedAggregate; at: number }>()
  /** Signed opinion vectors by height and observer; `verified` once their signature was checked. */
  private readonly opinions = new Map<number, Map<number, { encoded: Uint8Array; verified: boolean }>>()
  /** The verified commit votes behind the head's certificate, by node (to vouch for certificates). */
  private headVotes: { view: number; votes: Map<number, Uint8Array> } | null = null
  private readonly future = new Map<number, ConsensusMessage[]>()
  private readonly futureSenders = new Map<number, Set<number>>()
  readonly cache = new SignatureCache()
  /** Moving average of how long a height takes from work to decision on this network (ms). */
  private commitMs = 0
  private effects: ReplicaEffect[] = []
  /** Batch verification work, for the benchmark and metrics. */
  readonly stats = { batchChecks: 0, signaturesInBatches: 0, fallbackChecks: 0, commits: 0, viewChanges: 0 }

  constructor(config: ReplicaConfig, head: ChainHead, lastSigned: SignedRecord | null) {
    this.config = config
    this.m = config.keys.length
    this.f = Math.floor((this.m - 1) / 3)
    this.quorum = 2 * this.f + 1
    this.head = head
    this.lastSigned = lastSigned
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
    return this.electionSettled(this.hs) ? this.primaryOf(this.hs, this.hs.view) : null
  }

  /** The primary of `view` at the current height, from the draws known so far. */
  primaryOfView(view: number): number | null {
    return this.primaryOf(this.hs, view)
  }

  get viewChanging(): boolean {
    return this.hs.viewChanging
  }

  handle(event: ReplicaEvent): ReplicaEffect[] {
    this.effects = []
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
        this.onOpinion(event.encoded)
        break
      case 'timeout':
        this.onTimeout(event.kind, event.height, event.view, event.now)
        break
      case 'synced':
        this.onSynced(event.block, event.cert, event.now)
        break
    }
    return this.effects
  }

  // ---------------------------------------------------------------- heights

  private newHeight(now: number): HeightState {
    return {
      height: this.head.height + 1,
      startedAt: now,
      seed: this.head.hash,
      reputation: this.head.reputation,
      view: 0,
      viewChanging: false,
      draws: new Map(),
      theta: null,
      electionWaitOver: false,
      proposals: new Map(),
      votes: { prepare: new Map(), commit: new Map() },
      voted: new Map(),
      prepared: null,
      preparedAt: new Map(),
      sent: new Set(),
      viewChanges: new Map(),
      viewTimerArmed: new Set(),
      workSince: null,
      equivocators: new Set(),
      wrong: [],
      decided: false,
      decidedView: 0,
      decidedAt: 0,
      behindSignalledAt: null
    }
  }

  private enterHeight(now: number, restoring = false): void {
    this.hs = this.newHeight(now)
    const hs = this.hs
    // After a restart, resume the view this replica had moved to, so it never signs for a view it left.
    const ls = this.lastSigned
    if (restoring && ls && ls.height === hs.height) {
      hs.view = ls.view
      if (ls.phase === 'viewchange') {
        hs.viewChanging = true
        hs.sent.add(`viewchange:${ls.view}`)
        this.armViewTimer(hs.view, now)
      }
    }
    for (const slot of [...this.pending.keys()]) if (slot <= this.head.slot) this.pending.delete(slot)
    for (const h of [...this.opinions.keys()]) if (h + OPINION_HEIGHTS_KEPT < hs.height) this.opinions.delete(h)

    // PROTOCOL 4.1: every node publishes its draw; the order ranks pre-selected nodes first, so
    // publishing it when not pre-selected only matters if every pre-selected node is silent.
    const proof = this.signDraw(hs.height, hs.seed)
    hs.draws.set(this.config.me, { signature: proof, x: vrfOutput(proof), verified: true })
    this.send({ kind: 'draw', height: hs.height, seed: hs.seed, node: this.config.me, signature: proof })
    this.effects.push({ type: 'timer', kind: 'election', height: hs.height, view: 0, delayMs: this.config.timing.electionWaitMs })
    // Gossip does not retransmit: a draw published before the mesh formed (a restart) is lost,
    // and without Theta no primary can be named. Re-send the draw until the election settles.
    this.effects.push({ type: 'timer', kind: 'retry', height: hs.height, view: 0, delayMs: this.retryDelay(0) })

    const buffered = this.future.get(hs.height) ?? []
    this.future.delete(hs.height)
    this.futureSenders.delete(hs.height)
    for (const msg of buffered) this.onMessage(msg, now)
    this.tryPropose(now)
    this.armIfWork(now)
  }

  private signDraw(height: number, seed: Uint8Array): Uint8Array {
    return sign(this.config.signer, DOMAIN.election, vrfMessage(height, seed))
  }

  // ---------------------------------------------------------------- election

  private order(hs: HeightState): number[] | null {
    if (!hs.theta) return null
    this.verifyDraws(hs)
    const draws = new Map<number, bigint>()
    for (const [n, d] of hs.draws) draws.set(n, d.x)
    return this.config.rules.electionOrder(hs.reputation, draws, hs.theta.x)
  }

  /** PROTOCOL 4.3 for the election: the draws of a height all sign one message, so one aggregate check. */
  private verifyDraws(hs: HeightState): void {
    const todo = [...hs.draws.entries()].filter(([, d]) => !d.verified)
    if (todo.length === 0) return
    const bad = new Set(
      this.cache.verifySameMessage(
        todo.map(([node, d]) => ({ signer: `cn-${node}`, publicKey: this.config.keys[node - 1], signature: d.signature })),
        DOMAIN.election,
        vrfMessage(hs.height, hs.seed)
      )
    )
    todo.forEach(([node, d], i) => {
      if (!bad.has(i)) d.verified = true
      else {
        hs.draws.delete(node)
        this.wrongFrom(node, 'draw', 'BAD_SIGNATURE', hs)
      }
    })
  }

  private primaryOf(hs: HeightState, view: number): number | null {
    const order = this.order(hs)
    return order ? rightfulPrimary(order, view) : null
  }

  private electionSettled(hs: HeightState): boolean {
    return hs.theta !== null && (hs.electionWaitOver || hs.draws.size === this.m)
  }

  private onDraw(msg: DrawMessage): void {
    const hs = this.hs
    if (!bytesEqual(msg.seed, hs.seed)) return this.reject(msg.node, 'draw', 'WRONG_SEED')
    if (hs.draws.has(msg.node)) return
    hs.draws.set(msg.node, { signature: msg.signature, x: vrfOutput(msg.signature), verified: false })
  }

  private onTheta(msg: ThetaMessage): void {
    const hs = this.hs
    if (hs.theta || !bytesEqual(msg.seed, hs.seed)) return
    if (!this.cache.verify('gateway', this.config.gatewayKey, DOMAIN.threshold, vrfMessage(msg.height, msg.seed), msg.signature)) {
      return this.reject(null, 'theta', 'BAD_SIGNATURE')
    }
    hs.theta = { signature: msg.signature, x: vrfOutput(msg.signature) }
  }

  private electionProof(hs: HeightState): Block['election'] {
    if (!hs.theta) throw new BbnpError('STATE', 'no Theta yet')
    return {
      theta: hs.theta.signature,
      draws: [...hs.draws.entries()].sort((a, b) => a[0] - b[0]).map(([node, d]) => ({ node, signature: d.signature }))
    }
  }

  // ---------------------------------------------------------------- work and timers

  private currentSlot(now: number): number {
    const t = this.config.timing
    return Math.floor((now - t.genesisTimeMs) / t.periodMs)
  }

  private nextAggregate(): { aggregate: SignedAggregate; at: number } | null {
    let best: { aggregate: SignedAggregate; at: number } | null = null
    for (const [slot, p] of this.pending) if (slot > this.head.slot && (!best || slot < best.aggregate.slot)) best = p
    return best
  }

  /**
   * View v waits base * 2^v (PROTOCOL 4.5), where base is four times the recent time to commit,
   * kept between the configured timeout and four times it: on a slow or loaded machine a healthy
   * primary is not replaced just because every height takes longer, and a few slow heights do
   * not make the next failover wait long.
   */
  private viewTimeout(view: number): number {
    const t = this.config.timing
    const base = Math.min(4 * t.viewTimeoutMs, Math.max(t.viewTimeoutMs, Math.ceil(4 * this.commitMs)))
    return Math.min(t.maxViewTimeoutMs, base * 2 ** Math.min(view, 20))
  }

  private armViewTimer(view: number, now: number): void {
    const hs = this.hs
    if (hs.workSince === null) hs.workSince = now
    if (hs.viewTimerArmed.has(view)) return
    hs.viewTimerArmed.add(view)
    this.effects.push({ type: 'timer', kind: 'view', height: hs.height, view, delayMs: this.viewTimeout(view) })
  }

  /** A view timer runs only while there is work: an aggregate waiting, or a proposal seen. */
  private armIfWork(now: number): void {
    const hs = this.hs
    if (hs.decided || hs.viewChanging) return
    if (this.nextAggregate() || hs.proposals.size > 0) this.armViewTimer(hs.view, now)
  }

  private retryDelay(attempt: number): number {
    return Math.min(5000, Math.max(250, 4 * this.config.timing.electionWaitMs) * 2 ** Math.min(attempt, 5))
  }

  private onTimeout(kind: TimerKind, height: number, view: number, now: number): void {
    if (kind === 'retry') {
      const hs = this.hs
      // Keep re-sending until this replica holds every draw and Theta, not only until the wait
      // is over: a peer that missed this draw would otherwise rank the candidates differently
      // for the whole height (a node that never draws, crashed or lying, keeps this going, with
      // backoff, until the height is decided).
      if (height !== hs.height || hs.decided || (hs.theta && hs.draws.size === this.m)) return
      const own = hs.draws.get(this.config.me)
      if (own) {
        const draw: DrawMessage = { kind: 'draw', height: hs.height, seed: hs.seed, node: this.config.me, signature: own.signature }
        this.send(draw)
        // Θ is the one input that comes from outside the consensus peers: when gossip with the
        // gateway is broken, every replica lacks it and no primary can be named, so also ask
        // the gateway over a stream.
        if (!hs.theta) this.effects.push({ type: 'fetch-theta', draw })
      }
      // `view` counts the attempts here.
      this.effects.push({ type: 'timer', kind: 'retry', height, view: view + 1, delayMs: this.retryDelay(view + 1) })
      return
    }
    if (kind === 'grace') {
      const hs = this.closed.get(height)
      if (hs) this.finishObservations(hs)
      return
    }
    const hs = this.hs
    if (height !== hs.height || hs.decided) return
    if (kind === 'election') {
      hs.electionWaitOver = true
      this.tryPropose(now)
      return
    }
    if (view !== hs.view) return
    this.startViewChange(hs.view + 1, now)
  }

  // ---------------------------------------------------------------- inputs

  private onAggregate(a: SignedAggregate, now: number): void {
    if (a.slot <= this.head.slot || this.pending.has(a.slot)) return
    if (a.slot > this.currentSlot(now) + 1) return this.reject(null, 'aggregate', 'SLOT_IN_FUTURE')
    if (!this.cache.verify('gateway', this.config.gatewayKey, DOMAIN.aggregate, aggregatePayload(a), a.signature))
      return this.reject(null, 'aggregate', 'BAD_SIGNATURE')
    this.pending.set(a.slot, { aggregate: a, at: now })
    // Bounded: keep the 64 lowest slots.
    if (this.pending.size > 64) this.pending.delete(Math.max(...this.pending.keys()))
    this.tryPropose(now)
    this.tryNewView(now)
    this.armIfWork(now)
  }

  private onOpinion(encoded: Uint8Array): void {
    // Only decoded here; the signature is checked, in a batch, when a block uses the vector.
    let opened: { height: number; node: number }
    try {
      opened = this.config.rules.peekOpinion(encoded)
    } catch (e) {
      return this.reject(null, 'opinion', (e as BbnpError).code ?? 'MALFORMED')
    }
    if (opened.height <= this.head.opinionHeight || opened.height > this.head.height + 1) return
    let byNode = this.opinions.get(opened.height)
    if (!byNode) {
      byNode = new Map()
      this.opinions.set(opened.height, byNode)
    }
    if (byNode.has(opened.node)) return
    const own = opened.node === this.config.me
    if (own) this.config.rules.trustOpinion(encoded)
    byNode.set(opened.node, { encoded, verified: own })
    // Once a quorum of one height is in, check them together now, while idle, rather than
    // inside the next pre-prepare (PROTOCOL 4.3).
    if (byNode.size >= this.quorum) this.verifyPool(byNode)
  }

  /** Batch-verify the unverified vectors of one height; drop and report the bad ones. */
  private verifyPool(byNode: Map<number, { encoded: Uint8Array; verified: boolean }>): void {
    const todo = [...byNode.entries()].filter(([, o]) => !o.verified)
    if (todo.length === 0) return
    const ok = this.config.rules.verifyOpinions(todo.map(([, o]) => o.encoded))
    todo.forEach(([node, o], i) => {
      if (ok[i]) o.verified = true
      else {
        byNode.delete(node)
        this.reject(node, 'opinion', 'BAD_SIGNATURE')
      }
    })
  }

  private onMessage(msg: ConsensusMessage, now: number): void {
    const hs = this.hs
    if (msg.height > hs.height) return this.buffer(msg, now)
    if (msg.height < hs.height) {
      const closed = this.closed.get(msg.height)
      if (closed && (msg.kind === 'prepare' || msg.kind === 'commit')) this.lateVote(closed, msg, now)
      return
    }
    if (msg.kind !== 'theta' && msg.node === this.config.me) return
    switch (msg.kind) {
      case 'draw':
        this.onDraw(msg)
        break
      case 'theta':
        this.onTheta(msg)
        break
      case 'preprepare':
        this.onPrePrepare(msg, now)
        break
      case 'prepare':
      case 'commit':
        this.onVote(msg, now)
        break
      case 'viewchange':
        this.onViewChange(msg, now)
        break
      case 'newview':
        this.onNewView(msg, now)
        break
    }
    this.tryPropose(now)
  }

  private buffer(msg: ConsensusMessage, now: number): void {
    if (msg.height > this.hs.height + MAX_FUTURE_HEIGHTS) {
      this.signalBehind(msg.height, now)
      return
    }
    // A proposal for the next height carries the commit certificate of this one: this height is
    // decided elsewhere (maybe by peers whose view change we would otherwise wait for in vain).
    if ((msg.kind === 'preprepare' || msg.kind === 'newview') && msg.height === this.hs.height + 1) this.signalBehind(msg.height, now)
    const list = this.future.get(msg.height) ?? []
    if (list.length >= MAX_BUFFERED_PER_HEIGHT) return
    list.push(msg)
    this.future.set(msg.height, list)
    if (msg.kind !== 'theta') {
      const senders = this.futureSenders.get(msg.height) ?? new Set<number>()
      senders.add(msg.node)
      this.futureSenders.set(msg.height, senders)
      // f+1 distinct nodes already work on a later height: at least one honest node got there.
      if (senders.size > this.f) this.signalBehind(msg.height, now)
    }
  }

  /** Ask the runtime to catch up; again after a second if still behind (a sync may find nothing yet). */
  private signalBehind(height: number, now: number): void {
    const last = this.hs.behindSignalledAt
    if (last !== null && now - last < 1000) return
    this.hs.behindSignalledAt = now
    this.effects.push({ type: 'behind', height })
  }

  // ---------------------------------------------------------------- proposing

  private tryPropose(now: number): void {
    const hs = this.hs
    if (hs.decided || hs.viewChanging || hs.view !== 0 || hs.proposals.has(0) || hs.sent.has('preprepare:0')) return
    if (!this.electionSettled(hs) || this.primaryOf(hs, 0) !== this.config.me) return
    const next = this.nextAggregate()
    if (!next) return
    const block = this.buildBlock(0, next.aggregate, now)
    const encoded = encodeBlock(block)
    const digest = hashEncodedBlock(encoded)
    if (!this.mayAndRecordSign('preprepare', 0, digest)) return
    const signature = sign(this.config.signer, DOMAIN.preprepare, prePreparePayload(hs.height, 0, digest))
    this.send({ kind: 'preprepare', height: hs.height, view: 0, node: this.config.me, block: encoded, signature })
    if (this.config.faults?.equivocate) {
      // Test-only: a second, different block for the same height and view.
      const twin = encodeBlock({ ...block, timestampMs: block.timestampMs + 1 })
      const twinSig = sign(this.config.signer, DOMAIN.preprepare, prePreparePayload(hs.height, 0, hashEncodedBlock(twin)))
      this.send({ kind: 'preprepare', height: hs.height, view: 0, node: this.config.me, block: twin, signature: twinSig })
    }
    this.acceptProposal({ view: 0, block, encoded, digest, proposer: this.config.me, at: now, aggregateAt: next.at }, now)
  }

  private buildBlock(view: number, aggregate: SignedAggregate, now: number): Block {
    const hs = this.hs
    let reputation = { vector: this.head.reputation, opinionHeight: this.head.opinionHeight }
    let opinions: Uint8Array[] = []
    // PROTOCOL 4.4: the newest height with a quorum of signed opinion vectors updates reputations.
    const heights = [...this.opinions.keys()].filter((h) => h > this.head.opinionHeight && h < hs.height).sort((a, b) => b - a)
    for (const h of heights) {
      const byNode = this.opinions.get(h) as Map<number, { encoded: Uint8Array; verified: boolean }>
      if (byNode.size < this.quorum) continue
      this.verifyPool(byNode)
      const chosen = [...byNode.entries()].sort((a, b) => a[0] - b[0]).map(([, o]) => o.encoded)
      if (chosen.length < this.quorum) continue
      try {
        reputation = { vector: this.config.rules.combineOpinions(chosen, this.head.reputation), opinionHeight: h }
        opinions = chosen
      } catch (e) {
        this.log('warn', 'cannot combine opinions', { height: h, error: (e as Error).message })
        continue
      }
      break
    }
    return {
      height: hs.height,
      prevHash: this.head.hash,
      slot: aggregate.slot,
      aggregate,
      primary: this.config.me,
      view,
      election: this.electionProof(hs),
      reputation,
      opinions,
      prevCert: this.head.cert,
      timestampMs: now
    }
  }

  // ---------------------------------------------------------------- pre-prepare

  private decodeProposal(encoded: Uint8Array): { block: Block; digest: Uint8Array } | null {
    try {
      const block = decodeBlock(encoded, this.config.maxBlockBytes)
      // Only the canonical encoding can be signed: re-encode and compare.
      if (!bytesEqual(encodeBlock(block), encoded)) return null
      return { block, digest: hashEncodedBlock(encoded) }
    } catch {
      return null
    }
  }

  private validationContext(now: number) {
    return {
      head: this.head,
      keys: this.config.keys,
      gatewayKey: this.config.gatewayKey,
      meters: this.config.meters,
      quorum: this.quorum,
      currentSlot: this.currentSlot(now),
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
    const hv = this.headVotes
    if (!hv || cert.height !== this.head.height || cert.view !== hv.view) return false
    let signers: number[]
    try {
      signers = indicesFromBitmap(cert.signers, this.m)
    } catch {
      return false
    }
    if (signers.length < this.quorum || !signers.every((n) => hv.votes.has(n))) return false
    return bytesEqual(aggregateSignatures(signers.map((n) => hv.votes.get(n) as Uint8Array)), cert.signature)
  }

  private onPrePrepare(msg: PrePrepareMessage, now: number): void {
    const hs = this.hs
    if (msg.view !== hs.view || hs.viewChanging || hs.decided) return
    const decoded = this.decodeProposal(msg.block)
    if (!decoded) return this.wrongFrom(msg.node, 'preprepare', 'MALFORMED_BLOCK')
    const { block, digest } = decoded
    if (
      !this.cache.verify(
        `cn-${msg.node}`,
        this.config.keys[msg.node - 1],
        DOMAIN.preprepare,
        prePreparePayload(msg.height, msg.view, digest),
        msg.signature
      )
    ) {
      return this.wrongFrom(msg.node, 'preprepare', 'BAD_SIGNATURE')
    }
    const existing = hs.proposals.get(msg.view)
    if (existing) {
      if (bytesEqual(existing.digest, digest)) return
      if (existing.proposer === msg.node) {
        // Two signed blocks for one (height, view) from the primary: equivocation. Prove-able,
        // so count it as a wrong message and leave the view at once.
        hs.equivocators.add(msg.node)
        this.wrongFrom(msg.node, 'preprepare', 'EQUIVOCATION')
        this.startViewChange(hs.view + 1, now)
      }
      return
    }
    if (block.view !== msg.view || block.primary !== msg.node) return this.wrongFrom(msg.node, 'preprepare', 'WRONG_PRIMARY')
    const err = this.checkProposal(block, msg.node, msg.view, now)
    // An honest node whose draw set was incomplete may believe it is the primary: refused and
    // counted, but not held against its reputation. Every other error is the signer's fault.
    if (err === 'WRONG_PRIMARY') return this.reject(msg.node, 'preprepare', err)
    if (err) return this.wrongFrom(msg.node, 'preprepare', err)
    this.acceptProposal(
      {
        view: msg.view,
        block,
        encoded: msg.block,
        digest,
        proposer: msg.node,
        at: now,
        aggregateAt: this.pending.get(block.slot)?.at ?? null
      },
      now
    )
  }

  /**
   * Validate a fresh proposal and that `proposer` is the rightful primary of `view`, judged on
   * the union of the draws this replica knows and those the block carries: a primary cannot
   * drop a better candidate's draw that honest replicas have seen.
   */
  private checkProposal(block: Block, proposer: number, view: number, now: number): BlockError | null {
    const err = validateBlock(block, this.validationContext(now))
    if (err) return err
    const hs = this.hs
    const opened = openElection(block.election, block.height, hs.seed, this.config.keys, this.config.gatewayKey, this.cache)
    if (!opened) return 'BAD_ELECTION_PROOF'
    this.learnElection(block.election, opened)
    const order = this.order(hs)
    if (!order || rightfulPrimary(order, view) !== proposer) return 'WRONG_PRIMARY'
    return null
  }

  private learnElection(proof: Block['election'], opened: { draws: Map<number, bigint>; theta: bigint }): void {
    const hs = this.hs
    if (!hs.theta) hs.theta = { signature: proof.theta, x: opened.theta }
    // openElection verified these; a different unverified draw we held for a node is replaced.
    for (const d of proof.draws) hs.draws.set(d.node, { signature: d.signature, x: vrfOutput(d.signature), verified: true })
  }

  private acceptProposal(p: Proposal, now: number): void {
    const hs = this.hs
    hs.proposals.set(p.view, p)
    this.log('debug', 'proposal accepted', {
      height: hs.height,
      view: p.view,
      proposer: p.proposer,
      slot: p.block.slot,
      digest: toHex(p.digest).slice(0, 16)
    })
    this.armIfWork(now)
    this.sendVote('prepare', p.view, p.digest)
    this.evaluate('prepare', p.view, p.digest, now)
    this.evaluate('commit', p.view, p.digest, now)
  }

  // ---------------------------------------------------------------- votes

  /** Refuse to sign a conflicting message for (height, view); record what is about to be signed. */
  private mayAndRecordSign(phase: SignedPhase, view: number, digest: Uint8Array | null): boolean {
    const hs = this.hs
    const ls = this.lastSigned
    if (ls && ls.height === hs.height) {
      if (view < ls.view) return false
      if (ls.phase === 'viewchange' && view === ls.view && phase !== 'viewchange' && phase !== 'newview' && !hs.proposals.has(view))
        return false
      if (view === ls.view && digest && ls.digest && !bytesEqual(digest, ls.digest)) return false
    }
    if (ls && ls.height > hs.height) return false
    const record: SignedRecord = { height: hs.height, view, phase, digest }
    this.lastSigned = record
    this.effects.push({ type: 'persist', record })
    return true
  }

  private sendVote(phase: VotePhase, view: number, digest: Uint8Array): void {
    const hs = this.hs
    const key = `${phase}:${view}`
    if (hs.sent.has(key)) return
    if (!this.mayAndRecordSign(phase, view, digest)) {
      this.log('warn', 'refused to sign a conflicting vote', { height: hs.height, view, phase })
      return
    }
    hs.sent.add(key)
    const payload = votePayload(hs.height, view, digest)
    const signed = this.config.faults?.wrongSignatures ? votePayload(hs.height, view + 1_000_000, digest) : payload
    const signature = sign(this.config.signer, voteDomain(phase), signed)
    this.addVote(phase, view, digest, this.config.me, { signature, verified: true, at: 0 })
    this.send({ kind: phase, height: hs.height, view, node: this.config.me, digest, signature })
  }

  private voteSet(hs: HeightState, phase: VotePhase, view: number, digest: Uint8Array): VoteSet {
    let byView = hs.votes[phase].get(view)
    if (!byView) {
      byView = new Map()
      hs.votes[phase].set(view, byView)
    }
    const k = toHex(digest)
    let set = byView.get(k)
    if (!set) {
      set = { digest, votes: new Map() }
      byView.set(k, set)
    }
    return set
  }

  private addVote(phase: VotePhase, view: number, digest: Uint8Array, node: number, vote: Vote, hs = this.hs): boolean {
    const votedKey = `${phase}:${view}:${node}`
    const prev = hs.voted.get(votedKey)
    if (prev !== undefined) {
      // The same node voting for two blocks in one view is provably wrong.
      if (prev !== toHex(digest)) this.wrongFrom(node, phase, 'DOUBLE_VOTE', hs)
      return false
    }
    hs.voted.set(votedKey, toHex(digest))
    this.voteSet(hs, phase, view, digest).votes.set(node, vote)
    return true
  }

  private onVote(msg: VoteMessage, now: number): void {
    const hs = this.hs
    if (hs.decided) return
    // Votes of older views cannot decide anything now; votes for later views wait for their NEW-VIEW.
    if (msg.view < hs.view || msg.view > hs.view + 8) return
    if (!this.addVote(msg.kind, msg.view, msg.digest, msg.node, { signature: msg.signature, verified: false, at: now })) return
    this.evaluate(msg.kind, msg.view, msg.digest, now)
  }

  /**
   * PROTOCOL 4.3: once enough votes are in for one (phase, view, Bd), verify the unverified ones
   * as one aggregate; if that fails, one by one to find and penalise the bad ones.
   */
  private verifyVotes(phase: VotePhase, view: number, set: VoteSet, hs: HeightState): number {
    const unverified = [...set.votes.entries()].filter(([, v]) => !v.verified)
    if (unverified.length > 0) {
      const res = batchVerifySameMessage(
        unverified.map(([node, v]) => ({ publicKey: this.config.keys[node - 1], signature: v.signature })),
        voteDomain(phase),
        votePayload(hs.height, view, set.digest)
      )
      this.stats.batchChecks++
      this.stats.signaturesInBatches += unverified.length
      if (res.checks > 1) this.stats.fallbackChecks += res.checks - 1
      const bad = new Set(res.bad)
      unverified.forEach(([node, v], i) => {
        if (bad.has(i)) {
          set.votes.delete(node)
          hs.voted.delete(`${phase}:${view}:${node}`)
          this.wrongFrom(node, phase, 'BAD_SIGNATURE', hs)
        } else v.verified = true
      })
    }
    return set.votes.size
  }

  private evaluate(phase: VotePhase, view: number, digest: Uint8Array, now: number): void {
    const hs = this.hs
    if (hs.decided) return
    const set = hs.votes[phase].get(view)?.get(toHex(digest))
    if (!set || set.votes.size < this.quorum) return
    if (phase === 'prepare') {
      const proposal = hs.proposals.get(view)
      if (!proposal || !bytesEqual(proposal.digest, digest) || hs.sent.has(`commit:${view}`)) return
      if (this.verifyVotes('prepare', view, set, hs) < this.quorum) return
      const votes = [...set.votes.entries()].map(([node, v]) => ({ node, signature: v.signature }))
      const cert = makeCertificate(hs.height, view, votes, this.m)
      if (!hs.prepared || hs.prepared.view < view) {
        hs.prepared = { view, digest, encoded: proposal.encoded, signers: cert.signers, signature: cert.signature }
      }
      hs.preparedAt.set(view, now)
      this.log('debug', 'prepared', { height: hs.height, view, votes: set.votes.size })
      this.sendVote('commit', view, digest)
      this.evaluate('commit', view, digest, now)
      return
    }
    // commit
    if (this.verifyVotes('commit', view, set, hs) < this.quorum) return
    const proposal = [...hs.proposals.values()].find((p) => bytesEqual(p.digest, digest))
    if (!proposal) {
      // 2f+1 nodes committed a block this replica never saw: fetch it from them.
      this.signalBehind(hs.height + 1, now)
      return
    }
    const votes = [...set.votes.entries()].map(([node, v]) => ({ node, signature: v.signature }))
    this.decide(proposal, view, makeCertificate(hs.height, view, votes, this.m), now)
  }

  private lateVote(hs: HeightState, msg: VoteMessage, now: number): void {
    if (msg.node === this.config.me) return
    this.addVote(msg.kind, msg.view, msg.digest, msg.node, { signature: msg.signature, verified: false, at: now }, hs)
  }

  // ---------------------------------------------------------------- deciding

  private decide(p: Proposal, view: number, cert: CommitCertificate, now: number): void {
    const hs = this.hs
    hs.decided = true
    hs.decidedView = view
    hs.decidedAt = now
    if (view === 0) {
      const sample = now - (hs.workSince ?? hs.startedAt)
      this.commitMs = this.commitMs === 0 ? sample : 0.8 * this.commitMs + 0.2 * sample
    }
    this.effects.push({
      type: 'commit',
      commit: { block: p.block, encoded: p.encoded, digest: p.digest, cert, aggregateAt: p.aggregateAt }
    })
    this.stats.commits++
    this.advanceHead(p.block, p.digest, cert)
    const votes = new Map<number, Uint8Array>()
    for (const [node, v] of hs.votes.commit.get(view)?.get(toHex(p.digest))?.votes ?? []) if (v.verified) votes.set(node, v.signature)
    this.headVotes = { view, votes }
    this.closed.set(hs.height, hs)
    // Bounded: a height whose grace timer never came (heights faster than the grace) is dropped.
    for (const h of this.closed.keys()) if (h + 64 < hs.height) this.closed.delete(h)
    this.effects.push({ type: 'timer', kind: 'grace', height: hs.height, view, delayMs: this.config.timing.graceMs })
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
    if (!bytesEqual(block.prevHash, this.head.hash)) return this.reject(null, 'synced', 'WRONG_PARENT')
    const digest = hashEncodedBlock(encodeBlock(block))
    this.advanceHead(block, digest, cert)
    this.headVotes = null
    this.enterHeight(now)
  }

  // ---------------------------------------------------------------- observations (reputation evidence)

  /**
   * After the grace period, what each other node did at this height: its prepare and commit in
   * the deciding view, the deciding view's proposal, and a missing proposal for every view whose
   * primary failed. Wrong signatures were collected as they were found.
   */
  private finishObservations(hs: HeightState): void {
    this.closed.delete(hs.height)
    const v = hs.decidedView
    // Votes that came after the decision were never checked: check each (phase, digest) set's
    // rest as one aggregate now (PROTOCOL 4.3).
    for (const phase of ['prepare', 'commit'] as const)
      for (const set of hs.votes[phase].get(v)?.values() ?? []) this.verifyVotes(phase, v, set, hs)
    const items: Observation[] = [...hs.wrong]
    const wrongNodes = new Set(hs.wrong.map((o) => `${o.node}:${o.phase}`))
    const proposal = hs.proposals.get(v)
    for (let node = 1; node <= this.m; node++) {
      if (node === this.config.me) continue
      for (const phase of ['prepare', 'commit'] as const) {
        if (wrongNodes.has(`${node}:${phase}`)) continue
        const ref = phase === 'prepare' ? (proposal?.at ?? hs.decidedAt) : (hs.preparedAt.get(v) ?? hs.decidedAt)
        const digest = this.votedDigest(hs, phase, v, node)
        if (digest === null) items.push({ node, phase, outcome: 'missing', delayMs: 0 })
        else {
          const vote = hs.votes[phase].get(v)?.get(digest)?.votes.get(node)
          items.push({ node, phase, outcome: 'valid', delayMs: Math.max(0, (vote?.at ?? ref) - ref) })
        }
      }
    }
    for (let view = 0; view <= v; view++) {
      const primary = view === v ? proposal?.proposer : this.primaryOf(hs, view)
      if (!primary || primary === this.config.me || hs.equivocators.has(primary)) continue
      if (view === v && proposal) {
        const due = Math.max(hs.startedAt, proposal.aggregateAt ?? hs.startedAt)
        items.push({ node: primary, phase: 'preprepare', outcome: 'valid', delayMs: Math.max(0, proposal.at - due) })
      } else items.push({ node: primary, phase: 'preprepare', outcome: 'missing', delayMs: 0 })
    }
    this.effects.push({ type: 'observations', height: hs.height, items })
  }

  private votedDigest(hs: HeightState, phase: VotePhase, view: number, node: number): string | null {
    return hs.voted.get(`${phase}:${view}:${node}`) ?? null
  }

  // ---------------------------------------------------------------- view change

  private startViewChange(target: number, now: number): void {
    const hs = this.hs
    if (hs.decided || target <= hs.view) return
    if (!this.mayAndRecordSign('viewchange', target, null)) return
    hs.view = target
    hs.viewChanging = true
    hs.sent.add(`viewchange:${target}`)
    this.stats.viewChanges++
    const prepared: PreparedCertificate | null = hs.prepared
      ? { view: hs.prepared.view, block: hs.prepared.encoded, signers: hs.prepared.signers, signature: hs.prepared.signature }
      : null
    const base = { height: hs.height, view: target, node: this.config.me, prepared }
    const signature = sign(this.config.signer, DOMAIN.viewchange, viewChangePayload(base, hs.prepared ? hs.prepared.digest : null))
    const msg: ViewChangeMessage = { kind: 'viewchange', ...base, signature }
    const encoded = this.send(msg)
    this.recordViewChange(msg, encoded)
    // The draw goes out again with every view change: a replica stops re-sending its draw once it
    // holds every draw itself, so a peer that missed it (published before the mesh formed) would
    // rank the candidates differently for the whole height, and with f liars one such honest peer
    // is enough to block every quorum.
    const own = hs.draws.get(this.config.me)
    if (own) this.send({ kind: 'draw', height: hs.height, seed: hs.seed, node: this.config.me, signature: own.signature })
    this.log('info', 'view change', { height: hs.height, view: target })
    this.armViewTimer(target, now)
    this.tryNewView(now)
  }

  private recordViewChange(msg: ViewChangeMessage, encoded: Uint8Array): void {
    const hs = this.hs
    let byNode = hs.viewChanges.get(msg.view)
    if (!byNode) {
      byNode = new Map()
      hs.viewChanges.set(msg.view, byNode)
    }
    byNode.set(msg.node, { msg, encoded })
  }

  /** Check a VIEW-CHANGE: its signature and, if it claims a prepared block, that certificate. */
  private checkViewChange(msg: ViewChangeMessage, height: number): { digest: Uint8Array | null } | null {
    let preparedDigest: Uint8Array | null = null
    if (msg.prepared) {
      const decoded = this.decodeProposal(msg.prepared.block)
      if (!decoded || decoded.block.height !== height) return null
      preparedDigest = decoded.digest
      const cert = { height, view: msg.prepared.view, signers: msg.prepared.signers, signature: msg.prepared.signature }
      if (msg.prepared.view >= msg.view) return null
      if (checkCertificate(cert, height, preparedDigest, this.config.keys, this.quorum, 'prepare') !== null) return null
    }
    const ok = this.cache.verify(
      `cn-${msg.node}`,
      this.config.keys[msg.node - 1],
      DOMAIN.viewchange,
      viewChangePayload(msg, preparedDigest),
      msg.signature
    )
    return ok ? { digest: preparedDigest } : null
  }

  private onViewChange(msg: ViewChangeMessage, now: number): void {
    const hs = this.hs
    if (hs.decided || msg.view <= 0) return
    if (msg.view < hs.view) return
    if (hs.viewChanges.get(msg.view)?.has(msg.node)) return
    if (!this.checkViewChange(msg, hs.height)) return this.wrongFrom(msg.node, 'viewchange', 'BAD_VIEW_CHANGE')
    this.recordViewChange(msg, encodeMessage(msg))
    // PBFT liveness: f+1 nodes asking for a later view means at least one honest node timed out;
    // join the smallest such view rather than wait for the own timer.
    const later = new Map<number, number>()
    for (const [view, byNode] of hs.viewChanges) {
      if (view <= hs.view) continue
      for (const node of byNode.keys()) later.set(node, Math.min(later.get(node) ?? view, view))
    }
    if (later.size > this.f) {
      const target = Math.min(...later.values())
      if (target > hs.view) this.startViewChange(target, now)
    }
    this.tryNewView(now)
  }

  /** As the primary of the view this replica is changing to, publish NEW-VIEW once 2f+1 agree. */
  private tryNewView(now: number): void {
    const hs = this.hs
    if (hs.decided || !hs.viewChanging || hs.view === 0 || hs.sent.has(`newview:${hs.view}`)) return
    if (!this.electionSettled(hs) || this.primaryOf(hs, hs.view) !== this.config.me) return
    const vcs = hs.viewChanges.get(hs.view)
    if (!vcs || vcs.size < this.quorum) return
    const chosen = [...vcs.values()].sort((a, b) => a.msg.node - b.msg.node).slice(0, this.quorum)
    const best = highestPrepared(chosen.map((c) => c.msg))
    let encoded: Uint8Array
    let block: Block
    if (best) {
      encoded = best.block
      const decoded = this.decodeProposal(encoded)
      if (!decoded) return
      block = decoded.block
    } else {
      const next = this.nextAggregate()
      if (!next) return
      block = this.buildBlock(hs.view, next.aggregate, now)
      encoded = encodeBlock(block)
    }
    const digest = hashEncodedBlock(encoded)
    if (!this.mayAndRecordSign('newview', hs.view, digest)) return
    hs.sent.add(`newview:${hs.view}`)
    const msg: NewViewMessage = {
      kind: 'newview',
      height: hs.height,
      view: hs.view,
      node: this.config.me,
      proof: this.electionProof(hs),
      viewChanges: chosen.map((c) => c.encoded),
      block: encoded,
      signature: sign(this.config.signer, DOMAIN.newview, newViewPayload(hs.height, hs.view, digest))
    }
    this.send(msg)
    hs.viewChanging = false
    this.acceptProposal(
      { view: hs.view, block, encoded, digest, proposer: this.config.me, at: now, aggregateAt: this.pending.get(block.slot)?.at ?? null },
      now
    )
  }

  private onNewView(msg: NewViewMessage, now: number): void {
    const hs = this.hs
    if (hs.decided || msg.view < hs.view || msg.view === 0 || hs.proposals.has(msg.view)) return
    const proof = openElection(msg.proof, hs.height, hs.seed, this.config.keys, this.config.gatewayKey, this.cache)
    if (!proof) return this.wrongFrom(msg.node, 'newview', 'BAD_ELECTION_PROOF')
    this.learnElection(msg.proof, proof)
    const order = this.order(hs)
    if (!order || rightfulPrimary(order, msg.view) !== msg.node) return this.wrongFrom(msg.node, 'newview', 'WRONG_PRIMARY')
    const decoded = this.decodeProposal(msg.block)
    if (!decoded) return this.wrongFrom(msg.node, 'newview', 'MALFORMED_BLOCK')
    if (
      !this.cache.verify(
        `cn-${msg.node}`,
        this.config.keys[msg.node - 1],
        DOMAIN.newview,
        newViewPayload(hs.height, msg.view, decoded.digest),
        msg.signature
      )
    ) {
      return this.wrongFrom(msg.node, 'newview', 'BAD_SIGNATURE')
    }
    // 2f+1 valid VIEW-CHANGEs for this view from distinct nodes.
    const vcs: ViewChangeMessage[] = []
    const seen = new Set<number>()
    for (const enc of msg.viewChanges) {
      let vc: ConsensusMessage
      try {
        vc = decodeMessage(enc, { maxBlockBytes: this.config.maxBlockBytes, nodes: this.m })
      } catch {
        return this.wrongFrom(msg.node, 'newview', 'BAD_VIEW_CHANGE')
      }
      if (vc.kind !== 'viewchange' || vc.height !== hs.height || vc.view !== msg.view || seen.has(vc.node))
        return this.wrongFrom(msg.node, 'newview', 'BAD_VIEW_CHANGE')
      if (!this.checkViewChange(vc, hs.height)) return this.wrongFrom(msg.node, 'newview', 'BAD_VIEW_CHANGE')
      seen.add(vc.node)
      vcs.push(vc)
    }
    if (vcs.length < this.quorum) return this.wrongFrom(msg.node, 'newview', 'TOO_FEW_VIEW_CHANGES')
    // Safety: a block prepared in an earlier view must be re-proposed.
    const best = highestPrepared(vcs)
    if (best) {
      if (!bytesEqual(best.block, msg.block)) return this.wrongFrom(msg.node, 'newview', 'NOT_HIGHEST_PREPARED')
    } else {
      if (decoded.block.view !== msg.view || decoded.block.primary !== msg.node) return this.wrongFrom(msg.node, 'newview', 'WRONG_PRIMARY')
      const err = validateBlock(decoded.block, this.validationContext(now))
      if (err) return this.wrongFrom(msg.node, 'newview', err)
    }
    // A replica that had signed a view change for a still later view stays there.
    if (this.lastSigned && this.lastSigned.height === hs.height && this.lastSigned.view > msg.view) return
    hs.view = msg.view
    hs.viewChanging = false
    this.armViewTimer(msg.view, now)
    this.acceptProposal(
      {
        view: msg.view,
        block: decoded.block,
        encoded: msg.block,
        digest: decoded.digest,
        proposer: msg.node,
        at: now,
        aggregateAt: this.pending.get(decoded.block.slot)?.at ?? null
      },
      now
    )
  }

  // ---------------------------------------------------------------- helpers

  private send(message: ConsensusMessage): Uint8Array {
    const encoded = encodeMessage(message)
    this.effects.push({ type: 'broadcast', message, encoded })
    return encoded
  }

  private reject(node: number | null, kind: string, reason: string): void {
    this.effects.push({ type: 'reject', node, kind, reason })
  }

  /** A signed message from `node` that is provably wrong: counted, and evidence for reputation. */
  private wrongFrom(node: number, kind: string, reason: string, hs = this.hs): void {
    this.reject(node, kind, reason)
    const phase: ObservationPhase = kind === 'prepare' || kind === 'commit' || kind === 'draw' ? kind : 'preprepare'
    hs.wrong.push({ node, phase, outcome: 'wrong', delayMs: 0 })
  }

  private log(level: 'debug' | 'info' | 'warn', msg: string, ctx?: Record<string, unknown>): void {
    this.effects.push({ type: 'log', level, msg, ctx })
  }
}

function highestPrepared(vcs: ViewChangeMessage[]): PreparedCertificate | null {
  let best: PreparedCertificate | null = null
  for (const vc of vcs) if (vc.prepared && (!best || vc.prepared.view > best.view)) best = vc.prepared
  return best
}
