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
 * range (docs/protocol.md).
 */
import { BbnpError, consensusId, DOMAIN, meterId, meterIndex, toHex } from '@bbnp/core'
import { GatewayCrypto, reportBytes } from '@bbnp/aggregation'
import { decodeStatus, GatewayStore } from '@bbnp/chain'
import { aggregatePayload, aggregateSum, bitmapFromIndices, encodeAggregate, maxBlockBytes, type SignedAggregate } from '@bbnp/consensus'
import { sign } from '@bbnp/crypto'
import { createP2PNode, type P2PNode } from '@bbnp/network'
import { join } from 'node:path'
import { AggregateHandoff } from './gateway-handoff.ts'
import { GatewayRecovery, type RecoveryOutcome } from './gateway-recovery.ts'
import { GatewaySlots } from './gateway-slots.ts'
import { gatewayElectionTopic, thetaProtocol } from './gossip-checks.ts'
import { type ApiServer, type Route, startApi } from './http-api.ts'
import type { LoadedKey } from './keys.ts'
import { defaultApiPort } from './options.ts'
import { decodeHandoffAck, encodeReceipt, protocolLimits, wireProtocols } from './protocols.ts'
import { type RunningNode, type SingleKeyContext, waitForPeers } from './runtime.ts'
import { SlotClock } from './slot-clock.ts'
import { ThetaResponder } from './theta.ts'

export async function startGateway(ctx: SingleKeyContext): Promise<RunningNode> {
  const { options, genesis, key, logger, metrics } = ctx
  if (options.misbehave.length > 0) throw new BbnpError('CONFIG', 'the gateway has no --misbehave modes')
  if (!key.blsKey) throw new BbnpError('CONFIG', 'the gateway key cannot sign')
  const blsKey = key.blsKey
  const n = genesis.meters.length
  const m = genesis.consensus.length
  const clock = new SlotClock(genesis)
  const skew = genesis.skewMs
  const wire = wireProtocols(protocolLimits(genesis))

  const mReceived = metrics.counter('bbnp_reports_accepted_total', 'Meter reports accepted (tag verified, first for its meter and slot)')
  const mRejected = metrics.counter('bbnp_reports_rejected_total', 'Meter reports rejected, by reason')
  const mSlots = metrics.counter('bbnp_slots_total', 'Slots closed by the gateway, by status')
  const mConflicts = metrics.counter(
    'bbnp_report_conflicts_total',
    'Second, different reports for one meter and slot (two sources of one identity)'
  )
  const mTheta = metrics.counter('bbnp_theta_signed_total', 'Election thresholds (Theta) signed')
  const mElection = metrics.counter('bbnp_gossip_election_total', 'Election messages seen by the gateway, by outcome')
  const mAggregateMs = metrics.histogram(
    'bbnp_gateway_aggregate_seconds',
    'Time to verify and sum one slot when it closes',
    [0.001, 0.005, 0.01, 0.03, 0.1, 0.3, 1]
  )

  // Every meter's key was dealt by the trusted authority (PROTOCOL 3.5.1): no Diffie-Hellman at start.
  const t0 = performance.now()
  const params = { candidates: genesis.candidates, extraPartners: genesis.extraPartners }
  const crypto = new GatewayCrypto({ keys: key.gatewayKeys!, consensusCount: m, params, minReporters: genesis.minReporters })
  logger.info('meter keys ready', { meters: n, ms: Math.round(performance.now() - t0) })

  const consensusPeers = genesis.consensus.map((c) => ({ peerId: c.peerId.toString(), addr: c.listen.toString(), index: c.index }))
  const nodeOfPeer = new Map(consensusPeers.map((c) => [c.peerId, c.index]))
  const meterPeers = new Set(genesis.meters.map((x) => x.peerId.toString()))
  const nameOf = (p: string) => (nodeOfPeer.has(p) ? consensusId(nodeOfPeer.get(p)!) : meterPeers.has(p) ? 'meter' : p)

  const store = await GatewayStore.open(join(options.dataDir, 'aggregates'), { genesisHash: genesis.hash })
  const cleanup: (() => Promise<void>)[] = [() => store.close()]
  let p2p: P2PNode | undefined
  let closing = false
  let offPeer = () => {}
  try {
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
      skewMs: skew,
      lastClosed: store.lastClosedSlot()
    })
    const handoff = new AggregateHandoff(
      { store, resendMs: 3 * genesis.periodMs },
      {
        send: async (peer, a) => decodeHandoffAck((await p2p!.request(peer, wire.aggregate, encodeAggregate(a), { timeoutMs: 2000 }))[0]),
        peers: () => p2p!.connectedPeers().filter((p) => nodeOfPeer.has(p)),
        nameOf,
        logger,
        metrics
      }
    )
    const leftOver = await handoff.load()
    if (leftOver > 0) logger.info('aggregates closed before a restart, handed off again', { slots: handoff.pendingSlots() })
    const rejected: Record<string, number> = {}
    let accepted = 0
    let last: {
      slot: number
      fromSlot?: number
      status: string
      sum: bigint | null
      count: number
      missing: string[]
      reason?: string
    } | null = null

    const signed = (body: Omit<SignedAggregate, 'signature'>): SignedAggregate => ({ ...body, signature: signAggregate(blsKey, body) })

    const recovery = new GatewayRecovery(
      {
        wire,
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
          request: (peer, protocol, data, opts) => p2p!.request(peer, protocol, data, opts),
          connectedPeers: () => p2p!.connectedPeers()
        },
        hostOf: (i: number) => slots.hostOf(i),
        peers: consensusPeers,
        logger,
        metrics
      }
    )

    /**
     * Close slot t, recover it (PROTOCOL 3.5), sign its aggregate and hand it off. Recoveries run side
     * by side, but their aggregates are handed off in slot order: a primary builds on the lowest slot
     * it holds, and a later slot handed off first would make the chain pass an earlier one by.
     */
    let inOrder: Promise<void> = Promise.resolve()
    const closeSlot = (slot: number) => {
      const started = performance.now()
      const agg = slots.close(slot)
      if (!agg) return
      const outcome = recovery.run(agg)
      inOrder = inOrder.then(() => outcome.then((o) => finishSlot(slot, o, started))).catch((e) => fail(e))
    }
    const finishSlot = async (slot: number, { result, reason, endorsement, faulty }: RecoveryOutcome, started: number) => {
      mAggregateMs.observe((performance.now() - started) / 1000)
      const hasSum = result.status === 'complete'
      const status = !hasSum ? 'incomplete' : result.missing.length === 0 ? 'complete' : 'recovered'
      mSlots.inc({ status })
      if (result.status === 'inconsistent')
        logger.error('slot without a sum: its decoded value is impossible', { slot, detail: result.reason })
      else if (!hasSum) logger.warn('slot without a sum', { slot, reason, count: result.count, missing: result.missing.length })
      last = { slot, status, sum: hasSum ? result.sum : null, count: result.count, missing: result.missing, reason }
      const aggregate = signed({
        slot,
        fromSlot: slot,
        status,
        sum: hasSum ? result.sum : 0n,
        count: result.count,
        missing: status === 'complete' ? new Uint8Array(0) : bitmapFromIndices(result.missing.map(meterIndex), n),
        reason,
        endorsement,
        faulty: faulty.length === 0 ? new Uint8Array(0) : bitmapFromIndices(faulty, m)
      })
      logger.info('slot closed', { slot, status, sum: aggregateSum(aggregate), count: result.count, missing: result.missing.length })
      await handoff.add(aggregate)
    }

    const electionId = {
      limits: { maxBlockBytes: maxBlockBytes(m, n), nodes: m },
      nodeOfPeer,
      gatewayPeer: genesis.gateway.peerId.toString()
    }
    const theta = new ThetaResponder(
      blsKey,
      genesis.consensus.map((c) => c.verificationKey)
    )
    const electionTopic = gatewayElectionTopic({
      id: electionId,
      theta,
      publish: (topic, data) => void p2p!.publish(topic, data).catch(() => {}),
      onDraw: (_draw, answered) => {
        mElection.inc({ outcome: 'draw' })
        if (answered) mTheta.inc()
      }
    })

    p2p = await createP2PNode(
      {
        privateKey: key.libp2pKey,
        listen: [options.listen ?? genesis.gateway.listen.toString()],
        allowedPeers: new Set([...consensusPeers.map((c) => c.peerId), ...meterPeers]),
        persistentPeers: consensusPeers.map((c) => ({ peerId: c.peerId, addr: c.addr })),
        gossip: { topics: [electionTopic] },
        protocols: [
          {
            ...wire.report,
            rateLimit: { messagesPerSecond: 1000, burstMessages: 2000, bytesPerSecond: 64 * 1024 * 1024, burstBytes: 64 * 1024 * 1024 },
            handler: async (req, from) => {
              if (!meterPeers.has(from)) throw new BbnpError('REFUSED', 'only meters send reports')
              if (req.length % reportBytes(m) !== 0) {
                rejected.MALFORMED = (rejected.MALFORMED ?? 0) + 1
                mRejected.inc({ reason: 'MALFORMED' })
                throw new BbnpError('MALFORMED', `a report batch is a multiple of ${reportBytes(m)} bytes`)
              }
              const out = slots.accept(req, Date.now(), from)
              accepted += out.accepted
              mReceived.inc(undefined, out.accepted)
              for (const [code, c] of Object.entries(out.rejected)) {
                rejected[code] = (rejected[code] ?? 0) + c
                mRejected.inc({ reason: code }, c)
              }
              for (const c of out.conflicts) {
                mConflicts.inc()
                logger.warn('two different reports for one meter and slot: two sources of one identity', {
                  slot: c.slot,
                  meter: meterId(c.meter)
                })
              }
              // All N in: close now rather than at the deadline.
              for (const slot of out.full) closeSlot(slot)
              return [encodeReceipt({ accepted: out.accepted, rejected: out.rejected })]
            }
          },
          thetaProtocol({
            descriptor: wire.theta,
            id: electionId,
            theta,
            onAnswer: (answered) => mElection.inc({ outcome: answered ? 'theta_request' : 'theta_request_refused' })
          })
        ]
      },
      { logger: logger.child({ component: 'p2p' }), metrics }
    )
    await p2p.start()
    cleanup.unshift(() => p2p!.stop())
    // A consensus peer that (re)connects gets every aggregate still waiting for a block.
    offPeer = p2p.onPeer((e) => {
      if (e.type === 'connect' && nodeOfPeer.has(e.peerId)) handoff.onConnect(e.peerId)
    })

    const routes: Record<string, Route> = {
      '/status': () => ({
        status: 200,
        body: {
          role: 'gateway',
          id: key.id,
          chainId: genesis.chainId,
          genesisHash: toHex(genesis.hash),
          slot: clock.currentSlot(),
          meters: n,
          received: accepted,
          rejected,
          openSlots: slots.openSlots(),
          lastSlot: last && { ...last, sum: last.sum === null ? null : last.sum.toString() },
          lastClosedSlot: slots.lastClosed,
          pendingSlots: handoff.pendingSlots(),
          chainSlot: handoff.headSlot,
          peers: p2p!.connectedPeers().map(nameOf).sort()
        }
      }),
      '/metrics': () => ({ status: 200, body: metrics.render(), text: true })
    }
    const api: ApiServer = await startApi({
      host: options.apiHost,
      port: options.apiPort ?? defaultApiPort(genesis.gateway.listen),
      routes,
      logger
    })
    cleanup.unshift(() => api.close())

    // ---- slots missed while this gateway was down: one `missed` range, however long the outage
    await waitForPeers(p2p, 1, Math.max(1500, genesis.periodMs), ctx.signal)
    const chainSlot = await latestChainSlot(
      p2p,
      wire.status,
      consensusPeers.map((c) => c.peerId)
    )
    const accounted = Math.max(slots.lastClosed, chainSlot ?? -1, ...handoff.pendingSlots())
    const firstLive = slots.firstLive(Date.now())
    if (accounted >= 0 && accounted < firstLive - 1) {
      const range = { fromSlot: accounted + 1, slot: firstLive - 1 }
      logger.warn('slots missed while the gateway was down: recorded as one missed range', {
        from: range.fromSlot,
        to: range.slot,
        slots: range.slot - range.fromSlot + 1
      })
      slots.skipTo(range.slot)
      mSlots.inc({ status: 'missed' })
      last = { ...range, status: 'missed', sum: null, count: 0, missing: [] }
      await handoff.add(
        signed({
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

    // Keys for a slot are prepared when it starts; the slot closes at the end of its window.
    // Before the genesis time there are no slots (slot numbers start at 0).
    clock.every(0, (slot) => {
      if (!closing && slot >= 0) slots.openSlot(slot)
    })
    clock.every(skew + 1, (slot) => {
      if (closing || slot < 1) return
      closeSlot(slot - 1)
      void handoff.flush()
    })
    const now = Date.now()
    if (clock.currentSlot() >= 0) slots.openSlot(clock.currentSlot())
    if (clock.currentSlot() >= 1 && slots.windowOpen(clock.currentSlot() - 1, now)) slots.openSlot(clock.currentSlot() - 1)

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
      close: async () => {
        if (closing) return
        closing = true
        clock.stop()
        offPeer()
        for (const c of cleanup) await c().catch((e) => logger.warn('shutdown step failed', { error: (e as Error).message }))
        logger.info('gateway stopped')
      }
    }
  } catch (e) {
    clock.stop()
    offPeer()
    for (const c of cleanup) await c().catch(() => {})
    throw e
  }
}

/** sigma_GW1 = BLS_sign(s_g, "bbnp/v1/aggregate" || slot range, status, sum, count, missing) (PROTOCOL 3.4). */
export function signAggregate(sk: NonNullable<LoadedKey['blsKey']>, body: Omit<SignedAggregate, 'signature'>): Uint8Array {
  return sign(sk, DOMAIN.aggregate, aggregatePayload(body))
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
