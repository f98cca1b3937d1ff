/**
 * A meter process (paper IV-B, PROTOCOL 2 and 3.5): hosts one or many meter identities, each with
 * its own dealt keys, reads their readings from a real data file, and when slot t ends sends every
 * hosted meter's encrypted, tagged report for t (with its padded self-mask shares) to the gateway
 * in one batch per request. During a slot's recovery it answers the gateway's reveal questions
 * for its meters (PROTOCOL 3.5.4), on the connection it dialled.
 *
 * `--drop-rate P` (devnets only) drops each meter's report with probability P per slot, decided
 * by a hash of the chain, the meter and the slot: the same drops on every run, for tests.
 */
import { BbnpError, concatBytes, GATEWAY_ID, type MetricsRegistry, projectPath, readU64be, toHex, utf8 } from '@bbnp/core'
import { loadReadings, MeterCrypto } from '@bbnp/aggregation'
import { sha256 } from '@bbnp/crypto'
import { createP2PNode, type P2PNode } from '@bbnp/network'
import { openApiRoutes } from './api-contract.ts'
import { type ApiServer, type Route, startApi } from './http-api.ts'
import { MeterReporter, revealProtocol } from './meter-reports.ts'
import { protocolLimits, wireProtocols } from './protocols.ts'
import { healthRoutes, meterReadiness } from './readiness.ts'
import { type MeterContext, readdressPeers, type RunningNode, waitForPeers } from './runtime.ts'
import { SlotClock } from './slot-clock.ts'

/** The real readings shipped with the repository (UCI household power, CC BY 4.0). */
export const DEFAULT_READINGS = projectPath('configs', 'data', 'uci-household-power-2007-02.csv')

/** Whether meter `id` drops its report of `slot` at rate `p`: seeded by the chain, so every run drops the same ones. */
export function dropsReport(chainId: string, id: string, slot: number, p: number): boolean {
  if (p <= 0) return false
  const x = Number(readU64be(sha256(concatBytes(utf8(`bbnp/drop/${chainId}/${id}/`), utf8(String(slot))))) >> 11n) / 2 ** 53
  return x < p
}

/** A meter process's API (with --api-port): its status, metrics, health and the API's contract. */
export function meterRoutes(m: { status: () => object; metrics: MetricsRegistry; gatewayConnected: () => boolean }): Record<string, Route> {
  return {
    '/status': () => ({ status: 200, body: m.status() }),
    '/metrics': async () => ({ status: 200, body: await m.metrics.render(), text: true }),
    ...healthRoutes(() => meterReadiness({ gatewayConnected: m.gatewayConnected() })),
    ...openApiRoutes()
  }
}

export async function startMeters(ctx: MeterContext): Promise<RunningNode> {
  const { options, genesis, keys, logger, metrics } = ctx
  if (options.misbehave.length > 0) throw new BbnpError('CONFIG', 'meters have no --misbehave modes')
  if (options.dropRate > 0 && !genesis.devnet)
    throw new BbnpError('CONFIG', '--drop-rate is refused: the genesis is not marked as a devnet (bbnp setup --devnet)')
  const m = genesis.consensus.length
  const clock = new SlotClock(genesis)
  const readingsPath = options.readings ?? DEFAULT_READINGS
  const readings = await loadReadings(readingsPath, { periodMs: genesis.periodMs })

  // Every Diffie-Hellman result was dealt by the trusted authority (PROTOCOL 3.5.1): a report
  // costs only hashes, and starting costs no elliptic-curve work.
  const params = { candidates: genesis.candidates, extraPartners: genesis.extraPartners }
  const started = performance.now()
  const meters = keys.map((k) => new MeterCrypto({ keys: k.meterKeys!, params, consensusCount: m }))
  logger.info('meters ready', { meters: meters.length, readings: readingsPath, ms: Math.round(performance.now() - started) })
  if (options.dropRate > 0) logger.info('dropping reports on purpose (devnet)', { rate: options.dropRate, seed: genesis.chainId })

  const gatewayPeer = genesis.gateway.peerId.toString()
  const wire = wireProtocols(protocolLimits(genesis))
  const reporter = new MeterReporter({
    meters,
    readings,
    readingsPath,
    nodes: m,
    wire,
    gatewayPeer,
    p2p: () => p2p,
    drops: (id, slot) => dropsReport(genesis.chainId, id, slot, options.dropRate),
    logger,
    metrics
  })
  const p2p: P2PNode = await createP2PNode(
    {
      // A meter process uses the libp2p identity of the first meter it hosts.
      privateKey: keys[0].libp2pKey,
      listen: options.listen ? [options.listen] : [],
      allowedPeers: new Set([gatewayPeer]),
      persistentPeers: [{ peerId: gatewayPeer, addr: ctx.addresses.address(GATEWAY_ID) }],
      gossip: false,
      protocols: [
        revealProtocol({
          wire,
          gatewayPeer,
          candidates: genesis.candidates,
          meters,
          reported: (i, slot) => reporter.reported(i, slot),
          logger,
          metrics
        })
      ]
    },
    { logger: logger.child({ component: 'p2p' }), metrics }
  )
  await p2p.start()
  const cleanup: (() => Promise<void>)[] = [() => p2p.stop()]
  try {
    let closing = false
    // The API comes up before the wait for the gateway, so that a port in use is reported at once.
    let api: ApiServer | null = null
    if (options.apiPort !== null) {
      const status = () => ({
        role: 'meter',
        ids: keys.map((k) => k.id),
        chainId: genesis.chainId,
        slot: clock.currentSlot(),
        dropRate: options.dropRate,
        lastSlot: reporter.lastSlot,
        gateway: p2p.connectedPeers().includes(gatewayPeer)
      })
      const routes = meterRoutes({ status, metrics, gatewayConnected: () => p2p.connectedPeers().includes(gatewayPeer) })
      api = await startApi({ host: options.apiHost, port: options.apiPort, routes, logger })
      cleanup.unshift(() => (api as ApiServer).close())
    }
    // Slot t is reported just after it ends, with a little per-process jitter so that many meter
    // processes do not all hit the gateway in the same millisecond.
    const jitter =
      Math.min(50, Math.floor(genesis.periodMs / 20)) + (Number.parseInt(toHex(keys[0].libp2pKey.publicKey.raw.subarray(0, 2)), 16) % 20)
    await waitForPeers(p2p, 1, Math.max(1000, genesis.periodMs), ctx.signal)
    clock.every(jitter, async (slot) => {
      if (!closing && slot >= 1) await reporter.report(slot - 1)
    })

    logger.info('meters started', { meters: keys.length, first: keys[0].id, peerId: p2p.peerId })
    return {
      done: new Promise<number>(() => {}),
      apiPort: api?.port ?? null,
      readdress: (changes) => readdressPeers(p2p, genesis, changes, logger),
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
