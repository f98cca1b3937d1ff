/**
 * The gateway's side of /bbnp/report/1 (PROTOCOL 2.6, 3.1): batches of meter reports, each checked by
 * the slot aggregator; rejections counted by reason, and two different reports for one meter and
 * slot (two sources of one identity) said at warn and counted.
 */
import { BbnpError, type Logger, meterId, type MetricsRegistry } from '@bbnp/core'
import { REJECT_CODES, reportBytes } from '@bbnp/aggregation'
import type { ProtocolSpec } from '@bbnp/network'
import type { GatewaySlots } from './gateway-slots.ts'
import { encodeReceipt, type WireProtocols } from './protocols.ts'

export interface ReportIntakeDeps {
  wire: WireProtocols
  nodes: number
  meterPeers: ReadonlySet<string>
  slots: GatewaySlots
  logger: Logger
  metrics: MetricsRegistry
  /** Every meter has reported for this slot: it can close now rather than at its deadline. */
  onFull: (slot: number) => void
}

export class ReportIntake {
  accepted = 0
  readonly rejected: Record<string, number> = {}
  private readonly d: ReportIntakeDeps
  private readonly mAccepted
  private readonly mRejected
  private readonly mConflicts

  constructor(d: ReportIntakeDeps) {
    this.d = d
    this.mAccepted = d.metrics.counter('bbnp_reports_accepted_total', 'Meter reports accepted (tag verified, first for its meter and slot)')
    this.mRejected = d.metrics.counter('bbnp_reports_rejected_total', 'Meter reports rejected, by reason', {
      labels: { reason: REJECT_CODES }
    })
    this.mConflicts = d.metrics.counter(
      'bbnp_report_conflicts_total',
      'Second, different reports for one meter and slot (two sources of one identity)'
    )
  }

  protocol(): ProtocolSpec {
    return {
      ...this.d.wire.report,
      rateLimit: { messagesPerSecond: 1000, burstMessages: 2000, bytesPerSecond: 64 * 1024 * 1024, burstBytes: 64 * 1024 * 1024 },
      handler: async (req, from) => [this.receive(req, from)]
    }
  }

  private reject(code: string, count: number): void {
    this.rejected[code] = (this.rejected[code] ?? 0) + count
    this.mRejected.inc({ reason: code }, count)
  }

  private receive(req: Uint8Array, from: string): Uint8Array {
    const { meterPeers, slots, nodes, logger } = this.d
    if (!meterPeers.has(from)) throw new BbnpError('REFUSED', 'only meters send reports')
    if (req.length % reportBytes(nodes) !== 0) {
      this.reject('MALFORMED', 1)
      throw new BbnpError('MALFORMED', `a report batch is a multiple of ${reportBytes(nodes)} bytes`)
    }
    const out = slots.accept(req, Date.now(), from)
    this.accepted += out.accepted
    this.mAccepted.inc(undefined, out.accepted)
    for (const [code, c] of Object.entries(out.rejected)) this.reject(code, c)
    for (const c of out.conflicts) {
      this.mConflicts.inc()
      logger.warn('two different reports for one meter and slot: two sources of one identity', { slot: c.slot, meter: meterId(c.meter) })
    }
    for (const slot of out.full) this.d.onFull(slot)
    return encodeReceipt({ accepted: out.accepted, rejected: out.rejected })
  }
}
