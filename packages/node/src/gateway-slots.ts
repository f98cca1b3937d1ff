/**
 * The gateway's slots (PROTOCOL 3, docs/protocol.md "Which reports count"): slot t's reports are
 * sent by the meters when t ends, so they are accepted in the window [start(t+1) - skew,
 * start(t+1) + skew]; t's keys are prepared when it starts; it closes at the end of its window, or
 * at once when every meter is in, and its recovery begins (gateway-recovery.ts). A closed slot's
 * aggregator stays a little longer to tell a late report (LATE) from a copy of one it counted
 * (DUPLICATE) and from a second, different report of a counted meter (CONFLICT: two sources of
 * one identity). A slot whose window is not open accepts nothing (WRONG_SLOT).
 *
 * No slot is ever passed over: `closeDue` closes every slot up to the one given that is not closed
 * yet, with no report if none came, so a timer that fired late (a loaded machine) or a slot closed
 * early (every meter in) leaves no earlier slot unaccounted for.
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
  /** Every slot before this one is closed (or was never this gateway's to close). */
  private nextToClose: number
  /** Slots at or after nextToClose closed already (every meter was in before their deadline). */
  private readonly closedAhead = new Set<number>()
  private newestClosed: number

  constructor(opts: GatewaySlotsOptions) {
    this.opts = opts
    this.newestClosed = opts.lastClosed
    this.nextToClose = opts.lastClosed + 1
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

  /** The newest slot closed. */
  get lastClosed(): number {
    return this.newestClosed
  }

  /** The oldest slot not closed yet: every slot before it is closed. */
  get firstUnclosed(): number {
    return this.nextToClose
  }

  /** Whether slot t is closed: no report is counted for it any more. */
  isClosed(slot: number): boolean {
    return slot < this.nextToClose || this.closedAhead.has(slot)
  }

  /** This run is responsible for slots from `slot` on (the first slot still open when it starts). */
  startAt(slot: number): void {
    this.skipTo(slot - 1)
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
    if (slot < 0 || this.isClosed(slot) || this.open.has(slot)) return
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
      if (this.isClosed(slot)) {
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

  /** Close slot t: its aggregator, to run its recovery (undefined when it is closed already). */
  close(slot: number): SlotAggregator | undefined {
    if (slot < 0 || this.isClosed(slot)) return undefined
    this.openSlot(slot)
    const agg = this.open.get(slot)!
    this.open.delete(slot)
    this.closed.set(slot, agg)
    this.closedAhead.add(slot)
    while (this.closedAhead.delete(this.nextToClose)) this.nextToClose++
    this.newestClosed = Math.max(this.newestClosed, slot)
    for (const s of this.closed.keys()) if (s < this.newestClosed - CLOSED_KEPT) this.closed.delete(s)
    return agg
  }

  /** Close every slot up to `upTo` not closed yet, oldest first (each with the reports it got, maybe none). */
  closeDue(upTo: number): { slot: number; agg: SlotAggregator }[] {
    const out: { slot: number; agg: SlotAggregator }[] = []
    for (let s = Math.max(0, this.nextToClose); s <= upTo; s++) {
      const agg = this.close(s)
      if (agg) out.push({ slot: s, agg })
    }
    return out
  }

  /** Mark slots up to `slot` as closed without a result (recorded as missed, or before this run's start). */
  skipTo(slot: number): void {
    if (slot < this.nextToClose) return
    this.nextToClose = slot + 1
    this.newestClosed = Math.max(this.newestClosed, slot)
    for (const s of this.closedAhead) if (s <= slot) this.closedAhead.delete(s)
    while (this.closedAhead.delete(this.nextToClose)) this.nextToClose++
    for (const s of this.open.keys()) if (s <= slot) this.open.delete(s)
  }
}
