/**
 * The gateway's signed aggregates this replica holds for slots after its head (PROTOCOL 3.4,
 * 4.2): the work of the next heights. A primary builds its block on the lowest one, and a view
 * timer runs only while one waits.
 *
 * An aggregate is checked in full when it arrives, as a block's would be (`checkAggregate`): an
 * honest primary then never proposes one that replicas refuse, so a gateway that hands off a bad
 * endorsement or an unproven fault cannot get the primary counted as wrong in its place.
 */
import type { SignedAggregate } from './block.ts'
import type { ReplicaContext } from './context.ts'
import type { ReplicaTiming } from './replica-types.ts'
import { checkAggregate } from './validate.ts'

export interface PendingAggregate {
  aggregate: SignedAggregate
  /** When this replica received it (its hand-off). */
  at: number
}

/** Bounded: the lowest slots are kept. */
const MAX_PENDING = 64

/** The slot of `now` on the genesis clock. */
export function slotAt(timing: ReplicaTiming, now: number): number {
  return Math.floor((now - timing.genesisTimeMs) / timing.periodMs)
}

export class PendingAggregates {
  private readonly ctx: ReplicaContext
  private readonly bySlot = new Map<number, PendingAggregate>()

  constructor(ctx: ReplicaContext) {
    this.ctx = ctx
  }

  /** A hand-off from the gateway: true if it is new, for slots after `headSlot` and not in the future, and valid. */
  add(a: SignedAggregate, headSlot: number, now: number): boolean {
    const { config, cache, out } = this.ctx
    if (a.fromSlot <= headSlot || this.bySlot.has(a.slot)) return false
    if (a.slot > slotAt(config.timing, now) + 1) {
      out.reject(null, 'aggregate', 'SLOT_IN_FUTURE')
      return false
    }
    const err = checkAggregate(a, { ...config, quorum: this.ctx.quorum, cache })
    if (err) {
      out.reject(null, 'aggregate', err === 'BAD_AGGREGATE_SIGNATURE' ? 'BAD_SIGNATURE' : err)
      return false
    }
    this.bySlot.set(a.slot, { aggregate: a, at: now })
    if (this.bySlot.size > MAX_PENDING) this.bySlot.delete(Math.max(...this.bySlot.keys()))
    return true
  }

  /** The aggregate of the lowest slot after `headSlot`. */
  next(headSlot: number): PendingAggregate | null {
    let best: PendingAggregate | null = null
    for (const p of this.bySlot.values()) if (p.aggregate.fromSlot > headSlot && (!best || p.aggregate.slot < best.aggregate.slot)) best = p
    return best
  }

  /** When this replica received the aggregate of `slot` (null: it has none). */
  receivedAt(slot: number): number | null {
    return this.bySlot.get(slot)?.at ?? null
  }

  /** Forget the slots up to the head's. */
  prune(headSlot: number): void {
    for (const slot of [...this.bySlot.keys()]) if (slot <= headSlot) this.bySlot.delete(slot)
  }
}
