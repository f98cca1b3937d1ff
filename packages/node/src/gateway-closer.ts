/**
 * How the gateway ends a slot (PROTOCOL 3.4, 3.5): close it, recover it with the meters and the
 * consensus peers, sign its aggregate as complete, recovered or incomplete, and hand it off. After
 * a restart, the slots missed while the gateway was down are signed as one `missed` range.
 */
import type { SlotAggregator } from '@bbnp/aggregation'
import { DOMAIN, type Logger, meterIndex, type MetricsRegistry } from '@bbnp/core'
import { AGGREGATE_STATUSES, aggregatePayload, aggregateSum, bitmapFromIndices, type SignedAggregate } from '@bbnp/consensus'
import { sign } from '@bbnp/crypto'
import type { AggregateHandoff } from './gateway-handoff.ts'
import type { GatewayRecovery, RecoveryOutcome } from './gateway-recovery.ts'
import type { GatewaySlots } from './gateway-slots.ts'
import type { LoadedKey } from './keys.ts'

/** sigma_GW1 = BLS_sign(s_g, "bbnp/v1/aggregate" || slot range, status, sum, count, missing) (PROTOCOL 3.4). */
export function signAggregate(sk: NonNullable<LoadedKey['blsKey']>, body: Omit<SignedAggregate, 'signature'>): Uint8Array {
  return sign(sk, DOMAIN.aggregate, aggregatePayload(body))
}

/** The newest slot the gateway closed, as its /status shows it. */
export interface LastSlot {
  slot: number
  fromSlot?: number
  status: string
  sum: bigint | null
  count: number
  missing: string[]
  reason?: string
}

export interface SlotCloserDeps {
  signer: NonNullable<LoadedKey['blsKey']>
  meters: number
  nodes: number
  slots: GatewaySlots
  recovery: GatewayRecovery
  handoff: AggregateHandoff
  logger: Logger
  metrics: MetricsRegistry
  /** A step failed (the store refused a write): the gateway stops. */
  fail: (e: unknown) => void
}

export class SlotCloser {
  last: LastSlot | null = null
  private inOrder: Promise<void> = Promise.resolve()
  /** Slots closed whose recovery still runs. */
  private readonly recovering = new Set<number>()
  /** Aggregates signed but held back until every slot before theirs is closed and handed off. */
  private readonly ready = new Map<number, SignedAggregate>()
  private readonly d: SlotCloserDeps
  private readonly mSlots
  private readonly mAggregateMs

  constructor(d: SlotCloserDeps) {
    this.d = d
    this.mSlots = d.metrics.counter('bbnp_slots_total', 'Slots closed by the gateway, by status', {
      labels: { status: AGGREGATE_STATUSES }
    })
    this.mAggregateMs = d.metrics.histogram(
      'bbnp_gateway_aggregate_seconds',
      'Time to verify and sum one slot when it closes',
      [0.001, 0.005, 0.01, 0.03, 0.1, 0.3, 1]
    )
  }

  /**
   * Close slot t, recover it (PROTOCOL 3.5), sign its aggregate and hand it off. Recoveries run side
   * by side, but their aggregates are handed off in slot order: a primary builds on the lowest slot
   * it holds, and a later slot handed off first would make the chain pass an earlier one by. A slot
   * that closed early (every meter in) while the one before it still takes reports waits for it.
   */
  close(slot: number): void {
    const agg = this.d.slots.close(slot)
    if (agg) this.recover(slot, agg)
  }

  /** Close every slot up to `upTo` not closed yet: a timer that fired late passes no slot over. */
  closeDue(upTo: number): void {
    for (const { slot, agg } of this.d.slots.closeDue(upTo)) this.recover(slot, agg)
  }

  private recover(slot: number, agg: SlotAggregator): void {
    const started = performance.now()
    this.recovering.add(slot)
    this.d.recovery
      .run(agg)
      .then((o) => {
        this.ready.set(slot, this.finish(slot, o, started))
        this.recovering.delete(slot)
        this.release()
      })
      .catch((e) => this.d.fail(e))
  }

  /** Hand off, in slot order, the aggregates no earlier slot can still come before. */
  private release(): void {
    const limit = Math.min(this.d.slots.firstUnclosed, ...this.recovering)
    const due = [...this.ready.keys()].filter((s) => s < limit).sort((a, b) => a - b)
    for (const slot of due) {
      const aggregate = this.ready.get(slot)!
      this.ready.delete(slot)
      this.inOrder = this.inOrder.then(() => this.d.handoff.add(aggregate)).catch((e) => this.d.fail(e))
    }
  }

  /** The slot's aggregate, signed as complete, recovered or incomplete. */
  private finish(slot: number, { result, reason, endorsement, faulty, faultProof }: RecoveryOutcome, started: number): SignedAggregate {
    const { logger, meters, nodes } = this.d
    this.mAggregateMs.observe((performance.now() - started) / 1000)
    const hasSum = result.status === 'complete'
    const status = !hasSum ? 'incomplete' : result.missing.length === 0 ? 'complete' : 'recovered'
    this.mSlots.inc({ status })
    if (result.status === 'inconsistent')
      logger.error('slot without a sum: its decoded value is impossible', { slot, detail: result.reason })
    else if (!hasSum) logger.warn('slot without a sum', { slot, reason, count: result.count, missing: result.missing.length })
    if (!this.last || slot > this.last.slot)
      this.last = { slot, status, sum: hasSum ? result.sum : null, count: result.count, missing: result.missing, reason }
    const aggregate = this.signed({
      slot,
      fromSlot: slot,
      status,
      sum: hasSum ? result.sum : 0n,
      count: result.count,
      missing: status === 'complete' ? new Uint8Array(0) : bitmapFromIndices(result.missing.map(meterIndex), meters),
      reason,
      endorsement,
      faulty: faulty.length === 0 ? new Uint8Array(0) : bitmapFromIndices(faulty, nodes),
      // Only when someone is named: the signed partials that prove it (PROTOCOL 3.5.5).
      ...(faulty.length === 0 ? {} : { faultProof })
    })
    logger.info('slot closed', { slot, status, sum: aggregateSum(aggregate), count: result.count, missing: result.missing.length })
    return aggregate
  }

  /**
   * Slots missed while this gateway was down: one `missed` range, however long the outage. Nothing
   * is recorded when the chain or this gateway's store already accounts for every slot before now.
   */
  async accountForOutage(chainSlot: number | null, now: number): Promise<void> {
    const { slots, handoff, logger } = this.d
    const accounted = Math.max(slots.lastClosed, chainSlot ?? -1, ...handoff.pendingSlots())
    const firstLive = slots.firstLive(now)
    if (accounted < 0 || accounted >= firstLive - 1) return
    const range = { fromSlot: accounted + 1, slot: firstLive - 1 }
    logger.warn('slots missed while the gateway was down: recorded as one missed range', {
      from: range.fromSlot,
      to: range.slot,
      slots: range.slot - range.fromSlot + 1
    })
    slots.skipTo(range.slot)
    this.mSlots.inc({ status: 'missed' })
    this.last = { ...range, status: 'missed', sum: null, count: 0, missing: [] }
    await handoff.add(
      this.signed({
        ...range,
        status: 'missed',
        sum: 0n,
        count: 0,
        missing: new Uint8Array(0),
        reason: '',
        endorsement: null,
        faulty: new Uint8Array(0)
      })
    )
  }

  private signed(body: Omit<SignedAggregate, 'signature'>): SignedAggregate {
    return { ...body, signature: signAggregate(this.d.signer, body) }
  }
}
