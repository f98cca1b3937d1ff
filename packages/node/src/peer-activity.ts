/**
 * What a consensus peer says about its own progress: each block it commits (one info line), local
 * timings of recent blocks for the API, and stalls. A height with work that does not commit for
 * five view timeouts is a stall: said once at warn, counted, and its end said too.
 */
import { consensusId, type Logger, type MetricsRegistry } from '@bbnp/core'
import type { CommittedBlock } from './effect-driver.ts'
import type { BlockTiming } from './views.ts'

/** Timings kept for the API's block views. */
const TIMINGS_KEPT = 4096

export interface StallContext {
  height: number
  view: number
  primary: number | null
  peers: number
}

export class PeerActivity {
  /** When this peer last stored a block (or started). */
  lastStoredAt = Date.now()
  /** When the gateway last handed this peer work (an aggregate no block holds yet). */
  private lastHandoffAt = 0
  private stalled: { height: number; since: number } | null = null
  private readonly timings = new Map<number, BlockTiming>()
  private readonly progress: (() => void)[] = []
  private readonly mStalls
  readonly stallMs: number

  private readonly logger: Logger

  constructor(viewTimeoutMs: number, logger: Logger, metrics: MetricsRegistry) {
    this.logger = logger
    this.stallMs = 5 * viewTimeoutMs
    this.mStalls = metrics.counter('bbnp_stalls_total', `Heights that had work and did not commit for ${this.stallMs / 1000} s`)
    // "no block for five slots" in an alert: time() - this > 5 * bbnp_slot_period_seconds
    const stored = metrics.gauge(
      'bbnp_last_block_timestamp_seconds',
      'Unix time this peer last stored a block (committed or caught up), or started',
      {
        collect: () => {
          stored.set(this.lastStoredAt / 1000)
        }
      }
    )
  }

  /** Local timing of a recent block: when this peer got the aggregate, and when it stored the block. */
  timing(height: number): BlockTiming | undefined {
    return this.timings.get(height)
  }

  handedOff(now: number): void {
    this.lastHandoffAt = now
    for (const f of this.progress) f()
  }

  /** Work waits: an aggregate was handed off after the last block stored. */
  hasWork(): boolean {
    return this.lastHandoffAt > this.lastStoredAt
  }

  /** Called on every hand-off and every block stored. */
  onProgress(listener: () => void): void {
    this.progress.push(listener)
  }

  committed(c: CommittedBlock): void {
    this.lastStoredAt = c.committedAt
    for (const f of this.progress) f()
    this.timings.set(c.block.height, { aggregateReceivedAtMs: c.aggregateAt, committedAtMs: c.committedAt })
    if (this.timings.size > TIMINGS_KEPT) this.timings.delete(this.timings.keys().next().value as number)
    if (this.stalled) {
      this.logger.warn('stall over: a block was stored', {
        height: c.block.height,
        stalledSeconds: Math.round((c.committedAt - this.stalled.since) / 1000)
      })
      this.stalled = null
    }
    if (c.synced) return
    const a = c.block.aggregate
    this.logger.info('block committed', {
      height: c.block.height,
      slot: a.slot,
      ...(a.fromSlot !== a.slot ? { fromSlot: a.fromSlot } : {}),
      status: a.status,
      sum: a.status === 'complete' || a.status === 'recovered' ? a.sum : null,
      count: a.count,
      primary: consensusId(c.block.primary),
      view: c.cert.view,
      latencyMs: c.aggregateAt === null ? null : c.committedAt - c.aggregateAt
    })
  }

  /** How long work has waited with no block stored, once that is stallMs or more (a stall); null otherwise. */
  stalledMs(now: number): number | null {
    if (this.lastHandoffAt <= this.lastStoredAt) return null
    const ms = now - this.lastStoredAt
    return ms >= this.stallMs ? ms : null
  }

  /** Called on the status poll: a stall starts when work waits and nothing was stored for stallMs. */
  checkStall(now: number, at: () => StallContext): void {
    if (this.stalled || this.stalledMs(now) === null) return
    const ctx = at()
    this.stalled = { height: ctx.height, since: this.lastStoredAt }
    this.mStalls.inc()
    this.logger.warn('height stalled: work is waiting and no block was stored', {
      height: ctx.height,
      view: ctx.view,
      primary: ctx.primary === null ? null : consensusId(ctx.primary),
      seconds: Math.round((now - this.lastStoredAt) / 1000),
      peers: ctx.peers
    })
  }
}
