/**
 * A meter process (paper IV-B, PROTOCOL 2): hosts one or many meter identities, each with its own
 * key, reads their readings from a real data file, and when slot t ends sends every hosted
 * meter's encrypted, tagged report for t to the gateway in one batch per request.
 */
import { fileURLToPath } from 'node:url'
import { BbnpError, toHex } from '@bbnp/core'
import { candidateIndices, loadReadings, MeterCrypto, REPORT_BYTES } from '@bbnp/aggregation'
import { createP2PNode, type P2PNode } from '@bbnp/network'
import { maxBlockBytes } from '@bbnp/consensus'
import { type MeterContext, type RunningNode, waitForPeers } from './runtime.ts'
import { type ApiServer, type Route, startApi } from './http-api.ts'
import { decodeReceipt, MAX_REPORTS_PER_REQUEST, wireProtocols } from './protocols.ts'
import { SlotClock } from './slot-clock.ts'

/** The real readings shipped with the repository (UCI household power, CC BY 4.0). */
export const DEFAULT_READINGS = fileURLToPath(new URL('../../../configs/data/uci-household-power-2007-02.csv', import.meta.url))

export async function startMeters(ctx: MeterContext): Promise<RunningNode> {
  const { options, genesis, keys, logger, metrics } = ctx
  if (options.misbehave.length > 0) throw new BbnpError('CONFIG', 'meters have no --misbehave modes')
  const n = genesis.meters.length
  const clock = new SlotClock(genesis)
  const readingsPath = options.readings ?? DEFAULT_READINGS
  const readings = await loadReadings(readingsPath, { periodMs: genesis.periodMs })

  const mSent = metrics.counter('bbnp_reports_sent_total', 'Reports sent to the gateway, by outcome')
  const mMs = metrics.histogram(
    'bbnp_meter_report_seconds',
    'Time to encrypt and tag the reports of all hosted meters for one slot',
    [0.0001, 0.001, 0.01, 0.1, 1]
  )

  // PROTOCOL 2.1, 2.2: every Diffie-Hellman (with the gateway and with each candidate partner)
  // is done once, here; a report then costs only hashes.
  const params = { candidates: genesis.candidates, extraPartners: genesis.extraPartners }
  const started = performance.now()
  const meters: MeterCrypto[] = []
  let lastLog = 0
  for (const k of keys) {
    const index = Number(k.id.slice('meter-'.length))
    const candidates = new Map<number, Uint8Array>()
    for (const j of candidateIndices(index, n, genesis.candidates)) candidates.set(j, genesis.meters[j - 1].publicKey)
    meters.push(
      new MeterCrypto({
        index,
        meterCount: n,
        secret: k.scalar,
        gatewayPublicKey: genesis.gateway.publicKeyBytes,
        candidatePublicKeys: candidates,
        params
      })
    )
    if (performance.now() - lastLog > 2000) {
      lastLog = performance.now()
      logger.info('deriving meter keys', { done: meters.length, total: keys.length })
    }
  }
  logger.info('meters ready', { meters: meters.length, readings: readingsPath, ms: Math.round(performance.now() - started) })

  const gatewayPeer = genesis.gateway.peerId.toString()
  const wire = wireProtocols({ meters: n, maxBlockBytes: maxBlockBytes(genesis.consensus.length, n) })
  const p2p: P2PNode = await createP2PNode(
    {
      // A meter process uses the libp2p identity of the first meter it hosts.
      privateKey: keys[0].libp2pKey,
      listen: options.listen ? [options.listen] : [],
      allowedPeers: new Set([gatewayPeer]),
      persistentPeers: [{ peerId: gatewayPeer, addr: genesis.gateway.listen.toString() }],
      gossip: false,
      protocols: []
    },
    { logger: logger.child({ component: 'p2p' }), metrics }
  )
  await p2p.start()
  const cleanup: (() => Promise<void>)[] = [() => p2p.stop()]
  try {
    let closing = false
    let lastSlot: { slot: number; sent: number; accepted: number; rejected: Record<string, number> } | null = null

    // A meter whose readings table has ended stops reporting: said once, at warn, and counted.
    const readingsEnd = new Map(meters.map((meter) => [meter.index, readings.lastSlot(meter.index)]))
    const exhausted = new Set<number>()
    const mExhausted = metrics.gauge('bbnp_meters_out_of_readings', 'Hosted meters whose readings have ended (they no longer report)')
    const report = async (slot: number) => {
      const t = performance.now()
      const batch: Uint8Array[] = []
      const ranOut: string[] = []
      for (const meter of meters) {
        const r = readings.reading(meter.index, slot)
        if (r !== undefined) batch.push(meter.report(slot, r))
        else {
          const last = readingsEnd.get(meter.index)
          if (last !== undefined && slot > last && !exhausted.has(meter.index)) {
            exhausted.add(meter.index)
            ranOut.push(meter.id)
          }
        }
      }
      if (ranOut.length > 0) {
        mExhausted.set(exhausted.size)
        logger.warn('meters ran out of readings and stop reporting', { slot, meters: ranOut, readings: readingsPath })
      }
      mMs.observe((performance.now() - t) / 1000)
      if (batch.length === 0) return
      const summary = { slot, sent: batch.length, accepted: 0, rejected: {} as Record<string, number> }
      for (let i = 0; i < batch.length; i += MAX_REPORTS_PER_REQUEST) {
        const chunk = batch.slice(i, i + MAX_REPORTS_PER_REQUEST)
        const body = new Uint8Array(chunk.length * REPORT_BYTES)
        for (let k = 0; k < chunk.length; k++) body.set(chunk[k], k * REPORT_BYTES)
        try {
          const receipt = decodeReceipt((await p2p.request(gatewayPeer, wire.report, body, { timeoutMs: 5000 }))[0])
          summary.accepted += receipt.accepted
          for (const [code, c] of Object.entries(receipt.rejected)) summary.rejected[code] = (summary.rejected[code] ?? 0) + c
          mSent.inc({ outcome: 'accepted' }, receipt.accepted)
          for (const [code, c] of Object.entries(receipt.rejected)) mSent.inc({ outcome: code }, c)
        } catch (e) {
          mSent.inc({ outcome: 'unsent' }, chunk.length)
          logger.warn('reports not delivered', { slot, reports: chunk.length, error: (e as Error).message })
        }
      }
      lastSlot = summary
      logger.debug('slot reported', summary)
    }

    // The API comes up before the wait for the gateway, so that a port in use is reported at once.
    let api: ApiServer | null = null
    if (options.apiPort !== null) {
      const routes: Record<string, Route> = {
        '/status': () => ({
          status: 200,
          body: {
            role: 'meter',
            ids: keys.map((k) => k.id),
            chainId: genesis.chainId,
            slot: clock.currentSlot(),
            lastSlot,
            gateway: p2p.connectedPeers().includes(gatewayPeer)
          }
        }),
        '/metrics': () => ({ status: 200, body: metrics.render(), text: true })
      }
      api = await startApi({ host: options.apiHost, port: options.apiPort, routes, logger })
      cleanup.unshift(() => (api as ApiServer).close())
    }
    // Slot t is reported just after it ends, with a little per-process jitter so that many meter
    // processes do not all hit the gateway in the same millisecond.
    const jitter =
      Math.min(50, Math.floor(genesis.periodMs / 20)) + (Number.parseInt(toHex(keys[0].libp2pKey.publicKey.raw.subarray(0, 2)), 16) % 20)
    await waitForPeers(p2p, 1, Math.max(1000, genesis.periodMs), ctx.signal)
    clock.every(jitter, async (slot) => {
      if (!closing && slot >= 1) await report(slot - 1)
    })

    logger.info('meters started', { meters: keys.length, first: keys[0].id, peerId: p2p.peerId })
    return {
      done: new Promise<number>(() => {}),
      apiPort: api?.port ?? null,
      close: async () => {
        if (closing) return
        closing = true
        clock.stop()
        for (const c of cleanup) await c().catch(() => {})
        logger.info('meters stopped')
      }
    }
  } catch (e) {
    // A failed start releases what it opened (the network, the slot timers) before it reports.
    clock.stop()
    for (const c of cleanup) await c().catch(() => {})
    throw e
  }
}
