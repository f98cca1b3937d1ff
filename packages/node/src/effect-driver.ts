/**
 * The consensus peer's effect driver: the one place where the pure replica meets the world.
 *
 * Every replica event runs through one serial queue; the effects it returns run in order and are
 * awaited, so a `persist` is on disk before the broadcast that follows it (no double signing
 * after a crash, PROTOCOL 4.5) and a block is stored before the next height's messages leave.
 * Timers leave as effects and come back as events. A store write that fails stops the peer
 * (`done` resolves): the write was one atomic batch that did not happen, so nothing is corrupted.
 */
import type { Logger, MetricsRegistry } from '@bbnp/core'
import { type BlockStore, isStoreDamage } from '@bbnp/chain'
import type {
  Block,
  BlockError,
  CommitCertificate,
  CommitInfo,
  DrawMessage,
  Observation,
  ReplicaEffect,
  ReplicaEvent,
  ReplicaLike
} from '@bbnp/consensus'
import { topicOf } from '@bbnp/consensus'

/**
 * Why a proposed block is invalid (@bbnp/consensus validateBlock, and the election check after
 * it): a record over BlockError, so that a new error cannot be left out of the list.
 */
const BLOCK_ERRORS = Object.keys({
  WRONG_HEIGHT: true,
  WRONG_PARENT: true,
  BAD_PARENT_CERTIFICATE: true,
  SLOT_NOT_INCREASING: true,
  SLOT_IN_FUTURE: true,
  BAD_AGGREGATE_SIGNATURE: true,
  BAD_AGGREGATE: true,
  BAD_ENDORSEMENT: true,
  BAD_FAULT_PROOF: true,
  BAD_ELECTION_PROOF: true,
  WRONG_PRIMARY: true,
  BAD_REPUTATION: true,
  BAD_OPINIONS: true
} satisfies Record<BlockError, true>)

/**
 * The replica's refusals by message kind and reason, as its code gives them: each of these series
 * of bbnp_consensus_rejected_total starts at 0. A reason missing here is still counted, from
 * its first occurrence.
 */
const CONSENSUS_REJECTIONS: [kind: string, reasons: readonly string[]][] = [
  ['aggregate', ['BAD_SIGNATURE', 'SLOT_IN_FUTURE', 'BAD_AGGREGATE', 'BAD_ENDORSEMENT', 'BAD_FAULT_PROOF']],
  ['draw', ['BAD_SIGNATURE', 'WRONG_SEED']],
  ['theta', ['BAD_SIGNATURE']],
  ['preprepare', ['MALFORMED_BLOCK', 'BAD_SIGNATURE', 'EQUIVOCATION', ...BLOCK_ERRORS]],
  ['prepare', ['BAD_SIGNATURE', 'DOUBLE_VOTE']],
  ['commit', ['BAD_SIGNATURE', 'DOUBLE_VOTE']],
  ['viewchange', ['BAD_VIEW_CHANGE']],
  [
    'newview',
    [
      'BAD_ELECTION_PROOF',
      'WRONG_PRIMARY',
      'MALFORMED_BLOCK',
      'BAD_SIGNATURE',
      'BAD_VIEW_CHANGE',
      'TOO_FEW_VIEW_CHANGES',
      'NOT_HIGHEST_PREPARED'
    ]
  ],
  ['synced', ['WRONG_PARENT']],
  ['opinion', ['BAD_SIGNATURE', 'MALFORMED']]
]

export interface CommittedBlock {
  block: Block
  cert: CommitCertificate
  /** When this peer first held the block's aggregate; null for a block fetched by catch-up. */
  aggregateAt: number | null
  committedAt: number
  synced: boolean
}

export interface DriverModules {
  replica: ReplicaLike
  store: BlockStore
  publish: (topic: string, data: Uint8Array) => void
  logger: Logger
  metrics: MetricsRegistry
  /** Extra state written in the block's batch (this peer's interaction records). */
  extraState?: () => { records?: Uint8Array }
  onCommitted?: (c: CommittedBlock) => void
  onObservations?: (height: number, items: Observation[]) => void
  onBehind?: (height: number) => void
  onFetchTheta?: (draw: DrawMessage) => void
  onFetchDraws?: (draw: DrawMessage, nodes: number[]) => void
}

export class EffectDriver {
  /** Resolves with an exit code when the peer must stop (a store that fails or is damaged). */
  readonly done: Promise<number>
  private readonly m: DriverModules
  private queue: Promise<void> = Promise.resolve()
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private closing = false
  private stop: (code: number) => void = () => {}
  private readonly mHeight
  private readonly mView
  private readonly mCommits
  private readonly mSynced
  private readonly mLatency
  private readonly mRejected
  private readonly mVerify
  private readonly mViewChanges

  constructor(modules: DriverModules) {
    this.m = modules
    this.done = new Promise<number>((resolve) => {
      this.stop = resolve
    })
    const metrics = modules.metrics
    this.mHeight = metrics.gauge('bbnp_chain_height', 'Height of the stored chain head')
    this.mView = metrics.gauge('bbnp_consensus_view', 'Current PBFT view at the working height')
    this.mCommits = metrics.counter('bbnp_blocks_committed_total', 'Blocks committed by consensus (not by sync)')
    this.mSynced = metrics.counter('bbnp_blocks_synced_total', 'Blocks fetched and stored by catch-up')
    this.mLatency = metrics.histogram(
      'bbnp_commit_latency_seconds',
      "From this peer's receipt of the gateway's aggregate to the block stored",
      [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]
    )
    this.mRejected = metrics.counter('bbnp_consensus_rejected_total', 'Consensus inputs refused by the replica, by kind and reason', {
      labels: ['kind', 'reason'],
      initial: CONSENSUS_REJECTIONS.flatMap(([kind, reasons]) => reasons.map((reason) => ({ kind, reason })))
    })
    this.mVerify = metrics.counter(
      'bbnp_signature_checks_total',
      'BLS signature work, by kind (batch = one aggregate check over many votes)',
      { labels: { kind: ['batch', 'in_batches', 'fallback', 'cached', 'single'] } }
    )
    this.mViewChanges = metrics.counter('bbnp_view_changes_total', 'View changes this peer started')
    this.mHeight.set(modules.store.head().height)
  }

  /** Run a replica event and its effects, after everything queued before it. */
  dispatch(event: ReplicaEvent): Promise<void> {
    return this.enqueue(() => this.execute(this.m.replica.handle(event)))
  }

  /** Store a block fetched by catch-up (its certificate verified) and tell the replica, in the queue. */
  applySynced(block: Block, cert: CommitCertificate): Promise<void> {
    return this.enqueue(async () => {
      if (block.height !== this.m.store.head().height + 1) return
      await this.m.store.commit(block, cert, undefined, { extra: this.m.extraState?.() })
      this.mSynced.inc()
      this.mHeight.set(block.height)
      this.m.onCommitted?.({ block, cert, aggregateAt: null, committedAt: Date.now(), synced: true })
      await this.execute(this.m.replica.handle({ type: 'synced', block, cert, now: Date.now() }))
    })
  }

  /** Stop taking events; clear the timers; wait for the event running now. */
  async close(): Promise<void> {
    this.closing = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    await this.queue.catch(() => {})
  }

  /** A timer owned by the driver (cleared on close). */
  later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (!this.closing) fn()
    }, ms)
    this.timers.add(t)
  }

  private enqueue(job: () => Promise<void> | void): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.closing) return
      try {
        await job()
      } catch (e) {
        const damaged = isStoreDamage(e)
        this.m.logger.error(damaged ? 'stopping: the block store is damaged' : 'stopping: a store write failed', {
          error: (e as Error).message
        })
        this.closing = true
        this.stop(damaged ? 2 : 1)
      }
    })
    this.queue = run
    return run
  }

  private async execute(effects: ReplicaEffect[]): Promise<void> {
    for (const e of effects) {
      switch (e.type) {
        case 'persist':
          await this.m.store.putConsensusLog(e.record)
          break
        case 'broadcast':
          this.m.publish(topicOf(e.message), e.encoded)
          break
        case 'commit':
          await this.commit(e.commit)
          break
        case 'timer':
          this.later(e.delayMs, () => void this.dispatch({ type: 'timeout', timer: e.timer, now: Date.now() }))
          break
        case 'observations':
          this.m.onObservations?.(e.height, e.items)
          break
        case 'reject':
          this.mRejected.inc({ kind: e.kind, reason: e.reason })
          this.m.logger.debug('consensus input refused', { kind: e.kind, reason: e.reason, from: e.node })
          break
        case 'behind':
          this.m.onBehind?.(e.height)
          break
        case 'fetch-theta':
          this.m.onFetchTheta?.(e.draw)
          break
        case 'fetch-draws':
          this.m.onFetchDraws?.(e.draw, e.nodes)
          break
        case 'log':
          this.m.logger[e.level](e.msg, e.ctx)
          break
      }
    }
    this.updateMetrics()
  }

  private async commit(c: CommitInfo): Promise<void> {
    const { block, cert, aggregateAt } = c
    if (block.height <= this.m.store.head().height) return // already stored by catch-up
    // The replica assembled the certificate from commit votes it verified (PROTOCOL 4.3).
    await this.m.store.commit(block, cert, undefined, { certificateVerified: true, extra: this.m.extraState?.() })
    const now = Date.now()
    this.mHeight.set(block.height)
    this.mCommits.inc()
    if (aggregateAt !== null) this.mLatency.observe((now - aggregateAt) / 1000)
    this.m.onCommitted?.({ block, cert, aggregateAt, committedAt: now, synced: false })
  }

  private updateMetrics(): void {
    const { replica } = this.m
    this.mView.set(replica.view)
    const s = replica.stats
    const c = replica.cache
    // totals the replica keeps: the counters mirror them
    this.mVerify.reset()
    this.mVerify.inc({ kind: 'batch' }, s.batchChecks + c.batches)
    this.mVerify.inc({ kind: 'in_batches' }, s.signaturesInBatches + c.inBatches)
    this.mVerify.inc({ kind: 'fallback' }, s.fallbackChecks)
    this.mVerify.inc({ kind: 'cached' }, c.hits)
    this.mVerify.inc({ kind: 'single' }, c.checks)
    this.mViewChanges.reset()
    this.mViewChanges.inc(undefined, s.viewChanges)
  }
}
