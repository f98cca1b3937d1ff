/**
 * The gateway's slots (PROTOCOL 3, docs/protocol.md "Which reports count"): slot t's reports are
 * sent by the meters when t ends, so they are accepted in the window [start(t+1) - skew,
 * start(t+1) + skew]; t's keys are prepared when it starts; it closes at the end of its window, or
 * at once when every meter is in, and its recovery begins (gateway-recovery.ts). A closed slot's
 * aggregator stays a little longer to tell a late report (LATE) from a copy of one it counted
 * (DUPLICATE) and from a second, different report of a counted meter (CONFLICT: two sources of
 * one identity). A slot whose window is not open accepts nothing (WRONG_SLOT).
 *
 * Time comes from outside (`now` arguments), so the lifecycle is tested without a clock.
 */
import { type GatewayCrypto, reportSlot, type SlotAggregator } from '@bbnp/aggregation'

export interface GatewaySlotsOptions {
  crypto: GatewayCrypto
  meters: number
  /** Bytes per report (reportBytes(M)). */
  reportBytes: number
  genesisTimeMs: number
  periodMs: number
  skewMs: number
  /** Slots up to this one are closed already (recorded by an earlier run): they stay closed. */
  lastClosed: number
}

export interface BatchOutcome {
  accepted: number
  rejected: Record<string, number>
  /** Slots that now hold a report from every meter (the caller closes them at once). */
  full: number[]
  /** Meters that sent a second, different, validly tagged report for a slot. */
  conflicts: { slot: number; meter: number }[]
}

/** How many closed slots keep their aggregator to classify late reports. */
const CLOSED_KEPT = 4

export class GatewaySlots {
  private readonly opts: GatewaySlotsOptions
  private readonly open = new Map<number, SlotAggregator>()
  private readonly closed = new Map<number, SlotAggregator>()
  /** Which peer (meter process) delivered each meter's last accepted report: where to ask it (3.5.4). */
  private readonly hosts = new Map<number, string>()
  private closedUpTo: number

  constructor(opts: GatewaySlotsOptions) {
    this.opts = opts
    this.closedUpTo = opts.lastClosed
  }

  /** The slot `ms` falls in (PROTOCOL 2: counted from the genesis time). */
  slotAt(ms: number): number {
    return Math.floor((ms - this.opts.genesisTimeMs) / this.opts.periodMs)
  }

  startOf(slot: number): number {
    return this.opts.genesisTimeMs + slot * this.opts.periodMs
  }

  /** Whether slot t's reports are accepted at `now`. */
  windowOpen(slot: number, now: number): boolean {
    const due = this.startOf(slot + 1)
    return now >= due - this.opts.skewMs && now <= due + this.opts.skewMs
  }

  /** The oldest slot whose window is still open at `now` (slots before it can no longer get reports). */
  firstLive(now: number): number {
    return this.slotAt(now - this.opts.skewMs)
  }

  /** The last slot closed: no report is counted for it or any earlier slot. */
  get lastClosed(): number {
    return this.closedUpTo
  }

  openSlots(): number[] {
    return [...this.open.keys()].sort((a, b) => a - b)
  }

  /** The meter process that delivered meter i's reports (undefined: none yet). */
  hostOf(meter: number): string | undefined {
    return this.hosts.get(meter)
  }

  /** Prepare slot t's keys (when it starts); a slot closed already stays closed. */
  openSlot(slot: number): void {
    if (slot < 0 || slot <= this.closedUpTo || this.open.has(slot)) return
    this.open.set(slot, this.opts.crypto.openSlot(this.opts.crypto.prepareSlot(slot)))
  }

  /** Check and add a batch of reports from `from` (PROTOCOL 3.1); a rejected report changes nothing but its counter. */
  accept(batch: Uint8Array, now: number, from: string): BatchOutcome {
    const out: BatchOutcome = { accepted: 0, rejected: {}, full: [], conflicts: [] }
    const reject = (code: string) => {
      out.rejected[code] = (out.rejected[code] ?? 0) + 1
    }
    const size = this.opts.reportBytes
    const touched = new Set<number>()
    for (let off = 0; off < batch.length; off += size) {
      const bytes = batch.subarray(off, off + size)
      const slot = reportSlot(bytes)
      if (!Number.isSafeInteger(slot) || !this.windowOpen(slot, now)) {
        reject('WRONG_SLOT')
        continue
      }
      if (!this.open.has(slot) && slot <= this.closedUpTo) {
        // Closed: its aggregator (while kept) tells LATE from DUPLICATE and CONFLICT.
        const r = this.closed.get(slot)?.accept(bytes)
        if (r && !r.ok && r.code === 'CONFLICT' && r.meterIndex !== undefined) out.conflicts.push({ slot, meter: r.meterIndex })
        reject(r && !r.ok ? r.code : 'LATE')
        continue
      }
      this.openSlot(slot)
      const r = this.open.get(slot)!.accept(bytes)
      if (r.ok) {
        out.accepted++
        touched.add(slot)
        this.hosts.set(r.meterIndex, from)
      } else {
        if (r.code === 'CONFLICT' && r.meterIndex !== undefined) out.conflicts.push({ slot, meter: r.meterIndex })
        reject(r.code)
      }
    }
    for (const slot of touched) if (this.open.get(slot)?.count === this.opts.meters) out.full.push(slot)
    return out
  }

  /** Close slot t: its aggregator, to run its recovery (undefined when it was not open). */
  close(slot: number): SlotAggregator | undefined {
    const agg = this.open.get(slot)
    if (!agg) return undefined
    this.open.delete(slot)
    this.closedUpTo = Math.max(this.closedUpTo, slot)
    this.closed.set(slot, agg)
    for (const s of this.closed.keys()) if (s < slot - CLOSED_KEPT) this.closed.delete(s)
    return agg
  }

  /** Mark slots up to `slot` as closed without a result (recorded as missed). */
  skipTo(slot: number): void {
    this.closedUpTo = Math.max(this.closedUpTo, slot)
    for (const s of this.open.keys()) if (s <= slot) this.open.delete(s)
  }
}
