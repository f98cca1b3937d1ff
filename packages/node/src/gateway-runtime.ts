/**
 * The gateway (paper IV-C, PROTOCOL 3, 3.5 and 4.1): receives the meters' reports, checks and sums
 * them per slot (gateway-slots.ts), recovers each closed slot with the meters and the consensus
 * peers (gateway-recovery.ts), signs the result, and hands it to every consensus peer until a
 * block holds it (gateway-handoff.ts, with the gateway's own store); answers each height's first
 * election draw with Theta, its VRF threshold.
 *
 * Every slot is accounted for: a slot closes as complete (every meter), recovered (the sum of the
 * meters present, the missing named) or incomplete (no sum, with the reason); after a restart,
 * the slots the gateway missed while it was down, however many, are recorded as one `missed`
 * range (docs/protocol.md, "Every slot on the chain").
 */
import { BbnpError, consensusId, GATEWAY_ID, toHex } from '@bbnp/core'
import { GatewayCrypto, reportBytes } from '@bbnp/aggregation'
import { decodeStatus, GatewayStore } from '@bbnp/chain'
import { encodeAggregate, maxBlockBytes } from '@bbnp/consensus'
import { createP2PNode, type P2PNode } from '@bbnp/network'
import { join } from 'node:path'
import { openApiRoutes } from './api-contract.ts'
import { SlotCloser } from './gateway-closer.ts'
import { AggregateHandoff } from './gateway-handoff.ts'
import { ReportIntake } from './gateway-reports.ts'
import { GatewayRecovery } from './gateway-recovery.ts'
import { GatewaySlots } from './gateway-slots.ts'
import { gatewayTopics, thetaProtocol } from './gossip-checks.ts'
import { type Route, startApi } from './http-api.ts'
import { defaultApiPort } from './options.ts'
import { decodeHandoffAck, protocolLimits, wireProtocols } from './protocols.ts'
import { gatewayReadiness, healthRoutes } from './readiness.ts'
import { readdressPeers, type RunningNode, type SingleKeyContext, waitForPeers } from './runtime.ts'
import { SlotClock } from './slot-clock.ts'
import { ThetaResponder } from './theta.ts'

export { signAggregate } from './gateway-closer.ts'

export async function startGateway(ctx: SingleKeyContext): Promise<RunningNode> {
  const { options, genesis, key } = ctx
  if (options.misbehave.length > 0) throw new BbnpError('CONFIG', 'the gateway has no --misbehave modes')
  if (!key.blsKey) throw new BbnpError('CONFIG', 'the gateway key cannot sign')
  const clock = new SlotClock(genesis)
  const store = await GatewayStore.open(join(options.dataDir, 'aggregates'), { genesisHash: genesis.hash })
  const cleanup: (() => Promise<void>)[] = [async () => clock.stop(), () => store.close()]
  try {
    return await composeGateway(ctx, clock, store, cleanup)
  } catch (e) {
    for (const c of cleanup) await c().catch(() => {})
    throw e
  }
}

/** Who the gateway talks to: the consensus peers (by index) and the meters' processes. */
function gatewaySetup(ctx: SingleKeyContext) {
  const { genesis, addresses } = ctx
  const consensusPeers = genesis.consensus.map((c) => ({ peerId: c.peerId.toString(), addr: addresses.address(c.id), index: c.index }))
  const nodeOfPeer = new Map(consensusPeers.map((c) => [c.peerId, c.index]))
  const meterPeers = new Set(genesis.meters.map((x) => x.peerId.toString()))
  return {
    n: genesis.meters.length,
    m: genesis.consensus.length,
    wire: wireProtocols(protocolLimits(genesis)),
    consensusPeers,
    nodeOfPeer,
    meterPeers,
    nameOf: (p: string) => (nodeOfPeer.has(p) ? consensusId(nodeOfPeer.get(p)!) : meterPeers.has(p) ? 'meter' : p)
  }
}
type GatewaySetup = ReturnType<typeof gatewaySetup>

async function composeGateway(
  ctx: SingleKeyContext,
  clock: SlotClock,
  store: GatewayStore,
  cleanup: (() => Promise<void>)[]
): Promise<RunningNode> {
  const { options, genesis, key, logger, metrics } = ctx
  const gw = gatewaySetup(ctx)
  const { n, m, wire, nodeOfPeer } = gw
  // Every meter's key was dealt by the trusted authority (PROTOCOL 3.5.1): no Diffie-Hellman at start.
  const t0 = performance.now()
  const params = { candidates: genesis.candidates, extraPartners: genesis.extraPartners }
  const crypto = new GatewayCrypto({ keys: key.gatewayKeys!, consensusCount: m, params, minReporters: genesis.minReporters })
  logger.info('meter keys ready', { meters: n, ms: Math.round(performance.now() - t0) })

  let p2p: P2PNode | undefined
  let closing = false
  let fail: (e: unknown) => void = () => {}
  const done = new Promise<number>((resolve) => {
    fail = (e) => {
      // The store refused a write: stop rather than hand off what could not be kept.
      logger.error('stopping: the gateway store failed', { error: (e as Error).message })
      resolve(2)
    }
  })
  const slots = new GatewaySlots({
    crypto,
    meters: n,
    reportBytes: reportBytes(m),
    genesisTimeMs: genesis.genesisTimeMs,
    periodMs: genesis.periodMs,
    skewMs: genesis.skewMs,
    lastClosed: store.lastClosedSlot()
  })
  const handoff = new AggregateHandoff(
    { store, resendMs: 3 * genesis.periodMs },
    {
      send: async (peer, a) => decodeHandoffAck((await p2p!.request(peer, wire.aggregate, encodeAggregate(a), { timeoutMs: 2000 }))[0]),
      peers: () => p2p!.connectedPeers().filter((p) => nodeOfPeer.has(p)),
      nameOf: gw.nameOf,
      logger,
      metrics
    }
  )
  const leftOver = await handoff.load()
  if (leftOver > 0) logger.info('aggregates closed before a restart, handed off again', { slots: handoff.pendingSlots() })
  const recovery = gatewayRecovery(ctx, gw, slots, () => p2p!)
  const closer = new SlotCloser({ signer: key.blsKey!, meters: n, nodes: m, slots, recovery, handoff, logger, metrics, fail })
  let started = false
  const reports = new ReportIntake({
    wire,
    nodes: m,
    meterPeers: gw.meterPeers,
    slots,
    logger,
    metrics,
    // Reports flow in as soon as the network is up, but until this run has accounted for an
    // outage (below) no slot may close: a slot filled meanwhile would close ahead of the missed
    // range and leave the slots before it on no block. It is closed at its time instead.
    onFull: (slot) => {
      if (started) closer.close(slot)
    }
  })

  p2p = await openGatewayNetwork(ctx, gw, reports)
  cleanup.unshift(() => p2p!.stop())
  // A consensus peer that (re)connects gets every aggregate still waiting for a block.
  const offPeer = p2p.onPeer((e) => {
    if (e.type === 'connect' && nodeOfPeer.has(e.peerId)) handoff.onConnect(e.peerId)
  })
  cleanup.unshift(async () => offPeer())
  const routes = gatewayRoutes(ctx, gw, {
    clock,
    slots,
    handoff,
    closer,
    reports,
    peers: () => p2p!.connectedPeers(),
    started: () => started
  })
  const api = await startApi({
    host: options.apiHost,
    port: options.apiPort ?? defaultApiPort(ctx.addresses.multiaddr(GATEWAY_ID)),
    routes,
    logger
  })
  cleanup.unshift(() => api.close())

  await waitForPeers(p2p, 1, Math.max(1500, genesis.periodMs), ctx.signal)
  const chainSlot = await chainPosition(ctx, p2p, gw, store.lastClosedSlot() < 0 && handoff.pendingSlots().length === 0)
  const startedAt = Date.now()
  await closer.accountForOutage(chainSlot, startedAt)
  // Slots before the first one still open when this run starts are not its to close (one instant for
  // both, so that no slot falls between the missed range and this run).
  slots.startAt(slots.firstLive(startedAt))

  driveSlots(ctx, { clock, slots, closer, handoff, closing: () => closing })
  started = true

  logger.info('gateway started', {
    peerId: p2p.peerId,
    listen: p2p.multiaddrs(),
    api: `http://${options.apiHost}:${api.port}`,
    meters: n,
    consensus: m
  })
  return {
    done,
    apiPort: api.port,
    readdress: (changes) => readdressPeers(p2p, genesis, changes, logger),
    close: async () => {
      if (closing) return
      closing = true
      for (const c of cleanup) await c().catch((e) => logger.warn('shutdown step failed', { error: (e as Error).message }))
      logger.info('gateway stopped')
    }
  }
}

/** PROTOCOL 3.5: the reveal, endorsement and partial rounds, paced by the slot period. */
function gatewayRecovery(ctx: SingleKeyContext, gw: GatewaySetup, slots: GatewaySlots, p2p: () => P2PNode): GatewayRecovery {
  const { genesis, logger, metrics } = ctx
  return new GatewayRecovery(
    {
      wire: gw.wire,
      keys: genesis.consensus.map((c) => c.verificationKey),
      quorum: genesis.quorum,
      revealTimeoutMs: Math.max(500, Math.min(3000, genesis.periodMs)),
      committeeTimeoutMs: Math.max(1000, Math.min(5000, 2 * genesis.periodMs)),
      // Within the peers' endorsement window (ENDORSE_WINDOW = 64 slots): at most 32 periods.
      retryMs: Math.min(32 * genesis.periodMs, Math.max(30_000, 4 * genesis.periodMs)),
      retryPauseMs: Math.min(1000, genesis.periodMs)
    },
    {
      p2p: {
        request: (peer, protocol, data, opts) => p2p().request(peer, protocol, data, opts),
        connectedPeers: () => p2p().connectedPeers()
      },
      hostOf: (i: number) => slots.hostOf(i),
      peers: gw.consensusPeers,
      logger,
      metrics
    }
  )
}

/**
 * Keys for a slot are prepared when it starts; the slot closes at the end of its window (skew
 * included). Before the genesis time there are no slots (slot numbers start at 0).
 */
function driveSlots(
  ctx: SingleKeyContext,
  p: { clock: SlotClock; slots: GatewaySlots; closer: SlotCloser; handoff: AggregateHandoff; closing: () => boolean }
): void {
  const { clock, slots, closer, handoff } = p
  clock.every(0, (slot) => {
    if (!p.closing() && slot >= 0) slots.openSlot(slot)
  })
  clock.every(ctx.genesis.skewMs + 1, (slot) => {
    if (p.closing() || slot < 1) return
    closer.closeDue(slot - 1)
    void handoff.flush()
  })
  const now = Date.now()
  if (clock.currentSlot() >= 0) slots.openSlot(clock.currentSlot())
  if (clock.currentSlot() >= 1 && slots.windowOpen(clock.currentSlot() - 1, now)) slots.openSlot(clock.currentSlot() - 1)
}

/** The gateway's libp2p node: the election topic (Theta for each draw, PROTOCOL 4.1), reports and Theta requests. */
async function openGatewayNetwork(ctx: SingleKeyContext, gw: GatewaySetup, reports: ReportIntake): Promise<P2PNode> {
  const { options, genesis, key, logger, metrics } = ctx
  const mTheta = metrics.counter('bbnp_theta_signed_total', 'Election thresholds (Theta) signed')
  const mElection = metrics.counter('bbnp_gossip_election_total', 'Election messages seen by the gateway, by outcome', {
    labels: { outcome: ['draw', 'theta_request', 'theta_request_refused'] }
  })
  const electionId = {
    limits: { maxBlockBytes: maxBlockBytes(gw.m, gw.n), nodes: gw.m },
    nodeOfPeer: gw.nodeOfPeer,
    gatewayPeer: genesis.gateway.peerId.toString()
  }
  const theta = new ThetaResponder(
    key.blsKey!,
    genesis.consensus.map((c) => c.verificationKey)
  )
  let p2p: P2PNode | undefined
  const gatewayGossip = gatewayTopics({
    id: electionId,
    theta,
    publish: (topic, data) => void p2p?.publish(topic, data).catch(() => {}),
    onDraw: (_draw, answered) => {
      mElection.inc({ outcome: 'draw' })
      if (answered) mTheta.inc()
    }
  })
  p2p = await createP2PNode(
    {
      privateKey: key.libp2pKey,
      listen: [options.listen ?? ctx.addresses.listen(GATEWAY_ID)],
      allowedPeers: new Set([...gw.consensusPeers.map((c) => c.peerId), ...gw.meterPeers]),
      persistentPeers: gw.consensusPeers.map((c) => ({ peerId: c.peerId, addr: c.addr })),
      gossip: { topics: gatewayGossip },
      protocols: [
        reports.protocol(),
        thetaProtocol({
          descriptor: gw.wire.theta,
          id: electionId,
          theta,
          onAnswer: (answered) => mElection.inc({ outcome: answered ? 'theta_request' : 'theta_request_refused' })
        })
      ]
    },
    { logger: logger.child({ component: 'p2p' }), metrics }
  )
  await p2p.start()
  return p2p
}

/** The gateway's API: its status, metrics, health and the API's contract. */
export function gatewayRoutes(
  ctx: SingleKeyContext,
  gw: GatewaySetup,
  parts: {
    clock: SlotClock
    slots: GatewaySlots
    handoff: AggregateHandoff
    closer: SlotCloser
    reports: ReportIntake
    peers: () => string[]
    /** Whether the run has started (the slots missed while down are accounted for). */
    started: () => boolean
  }
): Record<string, Route> {
  const { genesis, key, metrics } = ctx
  const { clock, slots, handoff, closer, reports } = parts
  return {
    '/status': () => {
      const last = closer.last
      return {
        status: 200,
        body: {
          role: 'gateway',
          id: key.id,
          chainId: genesis.chainId,
          genesisHash: toHex(genesis.hash),
          slot: clock.currentSlot(),
          meters: gw.n,
          received: reports.accepted,
          rejected: reports.rejected,
          openSlots: slots.openSlots(),
          lastSlot: last && { ...last, sum: last.sum === null ? null : last.sum.toString() },
          lastClosedSlot: slots.lastClosed,
          pendingSlots: handoff.pendingSlots(),
          chainSlot: handoff.headSlot,
          peers: parts.peers().map(gw.nameOf).sort()
        }
      }
    },
    '/metrics': async () => ({ status: 200, body: await metrics.render(), text: true }),
    ...healthRoutes(() =>
      gatewayReadiness({ started: parts.started(), consensusPeers: parts.peers().filter((p) => gw.nodeOfPeer.has(p)).length })
    ),
    ...openApiRoutes()
  }
}

/**
 * The newest slot of the chain, from the consensus peers. A gateway whose own store knows nothing
 * (new, or moved away after damage) must learn it before it closes any slot, or the slots between
 * the chain's end and now would be on no block and in no missed range: it asks until a peer answers
 * (a warning after ten seconds). A gateway with a store goes on from its own record if none answers.
 */
async function chainPosition(ctx: SingleKeyContext, p2p: P2PNode, gw: GatewaySetup, mustKnow: boolean): Promise<number | null> {
  const peers = gw.consensusPeers.map((c) => c.peerId)
  const since = Date.now()
  let warned = false
  for (;;) {
    const slot = await latestChainSlot(p2p, gw.wire.status, peers)
    if (slot !== null || !mustKnow || ctx.signal?.aborted) return slot
    if (!warned && Date.now() - since >= 10_000) {
      warned = true
      ctx.logger.warn('no consensus peer answers: waiting to learn where the chain ends before closing slots', { peers: peers.length })
    }
    await new Promise((r) => setTimeout(r, 1000))
  }
}

/** The newest slot in any reachable consensus peer's chain (-1 when empty), or null if none answered. */
async function latestChainSlot(p2p: P2PNode, status: Parameters<P2PNode['request']>[1], peers: string[]): Promise<number | null> {
  const answers = await Promise.all(
    peers.map((p) =>
      p2p
        .request(p, status, new Uint8Array(0), { timeoutMs: 2000 })
        .then((f) => decodeStatus(f[0]).latestSlot)
        .catch(() => null)
    )
  )
  const known = answers.filter((s): s is number => s !== null)
  return known.length === 0 ? null : Math.max(...known)
}
