/**
 * What a meter process does for its hosted meters (PROTOCOL 2.4-2.6, 3.5.4): when slot t ends, the
 * encrypted, tagged report of every meter with a reading goes to the gateway in batches of at most
 * MAX_REPORTS_PER_REQUEST; during a slot's recovery, the gateway's reveal questions are answered.
 * A meter whose readings have ended stops reporting, said once at warn and counted.
 *
 * A meter answers reveal questions only about slots for which this process sent its report
 * (PROTOCOL 3.5.4): never about a slot it did not report or one before this process started, so
 * the meter's limit of two answers per slot, kept in memory, cannot be reset by a restart.
 */
import { BbnpError, concatBytes, type Logger, type MetricsRegistry } from '@bbnp/core'
import { decodeRevealRequest, type MeterCrypto, type ReadingsSource, REJECT_CODES, REVEAL_MEMORY, reportBytes } from '@bbnp/aggregation'
import type { P2PNode, ProtocolSpec } from '@bbnp/network'
import { decodeReceipt, MAX_REPORTS_PER_REQUEST, splitRevealItems, type WireProtocols } from './protocols.ts'

export interface SlotReport {
  slot: number
  sent: number
  dropped: number
  accepted: number
  rejected: Record<string, number>
}

export interface MeterReporterDeps {
  meters: MeterCrypto[]
  readings: ReadingsSource
  readingsPath: string
  nodes: number
  wire: WireProtocols
  gatewayPeer: string
  p2p: () => P2PNode
  /** Whether a meter drops its report of a slot on purpose (--drop-rate, devnets only). */
  drops: (meterId: string, slot: number) => boolean
  logger: Logger
  metrics: MetricsRegistry
}

export class MeterReporter {
  lastSlot: SlotReport | null = null
  private readonly d: MeterReporterDeps
  private readonly readingsEnd: Map<number, number | undefined>
  private readonly exhausted = new Set<number>()
  /** Which hosted meters' reports this process sent, per slot, for the last REVEAL_MEMORY slots. */
  private readonly sent = new Map<number, Set<number>>()
  private readonly mSent
  private readonly mDropped
  private readonly mExhausted
  private readonly mMs

  constructor(d: MeterReporterDeps) {
    this.d = d
    this.readingsEnd = new Map(d.meters.map((meter) => [meter.index, d.readings.lastSlot(meter.index)]))
    this.mSent = d.metrics.counter(
      'bbnp_reports_sent_total',
      'Reports sent to the gateway, by outcome (accepted, unsent, or why the gateway rejected it)',
      {
        labels: { outcome: ['accepted', 'unsent', ...REJECT_CODES] }
      }
    )
    this.mDropped = d.metrics.counter('bbnp_reports_dropped_total', 'Reports this process dropped on purpose (--drop-rate)')
    this.mExhausted = d.metrics.gauge('bbnp_meters_out_of_readings', 'Hosted meters whose readings have ended (they no longer report)')
    this.mMs = d.metrics.histogram(
      'bbnp_meter_report_seconds',
      'Time to encrypt and tag the reports of all hosted meters for one slot',
      [0.0001, 0.001, 0.01, 0.1, 1]
    )
  }

  /**
   * Encrypt, tag and send the reports of slot t (PROTOCOL 2.4-2.6). A batch goes out as soon as it
   * is made, while the next one is made: with thousands of meters in one process, the last report
   * no longer waits for every report to be encrypted first.
   */
  async report(slot: number): Promise<void> {
    const summary: SlotReport = { slot, sent: 0, dropped: 0, accepted: 0, rejected: {} }
    const reported = new Set<number>()
    this.sent.set(slot, reported)
    for (const s of this.sent.keys()) if (s <= slot - REVEAL_MEMORY) this.sent.delete(s)
    const sending: Promise<void>[] = []
    let encryptMs = 0
    const { meters } = this.d
    for (let i = 0; i < meters.length; i += MAX_REPORTS_PER_REQUEST) {
      const t = performance.now()
      const batch = this.encrypt(slot, meters.slice(i, i + MAX_REPORTS_PER_REQUEST), summary, reported)
      encryptMs += performance.now() - t
      if (batch.length > 0) sending.push(this.send(summary, batch))
      // Let the batch just made be written out before the next one is encrypted.
      if (i + MAX_REPORTS_PER_REQUEST < meters.length) await new Promise((r) => setImmediate(r))
    }
    this.mDropped.inc(undefined, summary.dropped)
    this.mMs.observe(encryptMs / 1000)
    await Promise.all(sending)
    if (summary.sent === 0) return
    this.lastSlot = summary
    this.d.logger.debug('slot reported', { ...summary })
  }

  /** Whether this process sent meter i's report of slot t (the only slots it answers reveal questions about). */
  reported(meterIndex: number, slot: number): boolean {
    return this.sent.get(slot)?.has(meterIndex) ?? false
  }

  private encrypt(slot: number, meters: MeterCrypto[], summary: SlotReport, reported: Set<number>): Uint8Array[] {
    const batch: Uint8Array[] = []
    const ranOut: string[] = []
    for (const meter of meters) {
      const r = this.d.readings.reading(meter.index, slot)
      if (r === undefined) {
        const last = this.readingsEnd.get(meter.index)
        if (last !== undefined && slot > last && !this.exhausted.has(meter.index)) {
          this.exhausted.add(meter.index)
          ranOut.push(meter.id)
        }
      } else if (this.d.drops(meter.id, slot)) summary.dropped++
      else {
        batch.push(meter.report(slot, r))
        reported.add(meter.index)
      }
    }
    summary.sent += batch.length
    if (ranOut.length > 0) {
      this.mExhausted.set(this.exhausted.size)
      this.d.logger.warn('meters ran out of readings and stop reporting', { slot, meters: ranOut, readings: this.d.readingsPath })
    }
    return batch
  }

  private async send(summary: SlotReport, chunk: Uint8Array[]): Promise<void> {
    const size = reportBytes(this.d.nodes)
    const body = new Uint8Array(chunk.length * size)
    for (let k = 0; k < chunk.length; k++) body.set(chunk[k], k * size)
    try {
      const [frame] = await this.d.p2p().request(this.d.gatewayPeer, this.d.wire.report, body, { timeoutMs: 5000 })
      const receipt = decodeReceipt(frame)
      summary.accepted += receipt.accepted
      this.mSent.inc({ outcome: 'accepted' }, receipt.accepted)
      for (const [code, c] of Object.entries(receipt.rejected)) {
        summary.rejected[code] = (summary.rejected[code] ?? 0) + c
        this.mSent.inc({ outcome: code }, c)
      }
    } catch (e) {
      this.mSent.inc({ outcome: 'unsent' }, chunk.length)
      this.d.logger.warn('reports not delivered', { slot: summary.slot, reports: chunk.length, error: (e as Error).message })
    }
  }
}

/** PROTOCOL 3.5.4: r_i for the missing candidates the gateway names, on the connection this process dialled. */
export function revealProtocol(d: {
  wire: WireProtocols
  gatewayPeer: string
  candidates: number
  meters: MeterCrypto[]
  /** Whether this process sent meter i's report of slot t. */
  reported: (meterIndex: number, slot: number) => boolean
  logger: Logger
  metrics: MetricsRegistry
}): ProtocolSpec {
  const byIndex = new Map(d.meters.map((x) => [x.index, x]))
  const mReveals = d.metrics.counter(
    'bbnp_reveals_answered_total',
    'Reveal questions of the gateway answered, by result (PROTOCOL 3.5.4)',
    {
      labels: { result: ['answered', 'REVEAL_REQUEST', 'REVEAL_LIMIT', 'REVEAL_NOT_SUPERSET', 'REVEAL_STALE'] }
    }
  )
  return {
    ...d.wire.reveal,
    handler: async (req, from) => {
      if (from !== d.gatewayPeer) throw new BbnpError('REFUSED', 'only the gateway asks')
      const answers: Uint8Array[] = []
      for (const item of splitRevealItems(req, false)) {
        const q = decodeRevealRequest(item, d.candidates)
        const meter = byIndex.get(q.meterIndex)
        if (!meter) continue
        if (!d.reported(q.meterIndex, q.slot)) {
          mReveals.inc({ result: 'NOT_REPORTED' })
          d.logger.warn('reveal question refused: this process did not send that report', { meter: meter.id, slot: q.slot })
          continue
        }
        try {
          answers.push(meter.reveal(q.slot, q.missing))
          mReveals.inc({ result: 'answered' })
        } catch (e) {
          mReveals.inc({ result: (e as BbnpError).code ?? 'refused' })
          d.logger.warn('reveal question refused', { meter: meter.id, error: (e as Error).message })
        }
      }
      return [concatBytes(...answers)]
    }
  }
}
