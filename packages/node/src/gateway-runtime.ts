/**
 * The gateway (paper IV-C, PROTOCOL 3 and 4.1): receives the meters' reports, checks and sums them
 * per slot, signs the result, and hands it to every consensus peer; answers each height's first
 * election draw with Theta, its VRF threshold.
 *
 * Slot t's reports are sent by the meters when slot t ends, so the gateway accepts them in the
 * window [start(t+1) - skew, start(t+1) + skew] and closes the slot at the end of that window, or
 * as soon as all N meters are in. A slot with missing meters is signed as incomplete with their
 * IDs, never with a sum (PROTOCOL 3.5). After a restart, the slots it missed while down are
 * signed as incomplete with every meter missing, so the chain records them.
 */
import { BbnpError, DOMAIN, toHex } from '@bbnp/core'
import {
  GatewayCrypto,
  REJECT_CODES,
  REPORT_BYTES,
  type RejectCode,
  reportSlot,
  type SlotAggregator,
  type SlotResult
} from '@bbnp/aggregation'
import { decodeStatus, MAX_STATUS_BYTES, STATUS_PROTOCOL } from '@bbnp/chain'
import { aggregatePayload, bitmapFromIndices, encodeAggregate, maxBlockBytes, type SignedAggregate } from '@bbnp/consensus'
import { sign } from '@bbnp/crypto'
import { createP2PNode, type P2PNode } from '@bbnp/network'
import { type RunningNode, type SingleKeyContext, waitForPeers } from './runtime.ts'
import { type ApiServer, type Route, startApi } from './http-api.ts'
import type { LoadedKey } from './keys.ts'
import { AGGREGATE_PROTOCOL, aggregateRequestBytes, encodeReceipt, MAX_REPORTS_PER_REQUEST, REPORT_PROTOCOL } from './protocols.ts'
import { SlotClock } from './slot-clock.ts'
import { gatewayElectionTopic, thetaProtocol } from './gossip-checks.ts'
import { ThetaResponder } from './theta.ts'

/** How many past slots a restarted gateway records as incomplete at most. */
const MAX_BACKFILL_SLOTS = 256
const RECENT_AGGREGATES = 32

export async function startGateway(ctx: SingleKeyContext): Promise<RunningNode> {
  const { options, genesis, key, logger, metrics } = ctx
  if (options.misbehave.length > 0) throw new BbnpError('CONFIG', 'the gateway has no --misbehave modes')
  if (!key.blsKey) throw new BbnpError('CONFIG', 'the gateway key cannot sign')
  const blsKey = key.blsKey
  const n = genesis.meters.length
  const m = genesis.consensus.length
  const clock = new SlotClock(genesis)
  const skew = genesis.skewMs

  const mReceived = metrics.counter('bbnp_reports_accepted_total', 'Meter reports accepted (tag verified, first for its meter and slot)')
  const mRejected = metrics.counter('bbnp_reports_rejected_total', 'Meter reports rejected, by reason')
  const mSlots = metrics.counter('bbnp_slots_total', 'Slots closed by the gateway, by status')
  const mHandoff = metrics.counter('bbnp_handoffs_total', 'Aggregate hand-offs to consensus peers, by result')
  const mTheta = metrics.counter('bbnp_theta_signed_total', 'Election thresholds (Theta) signed')
  const mElection = metrics.counter('bbnp_gossip_election_total', 'Election messages seen by the gateway, by outcome')
  const mAggregateMs = metrics.histogram(
    'bbnp_gateway_aggregate_seconds',
    'Time to verify and sum one slot when it closes',
    [0.001, 0.005, 0.01, 0.03, 0.1, 0.3, 1]
  )

  // N Diffie-Hellman operations, once (PROTOCOL 3.2): K_gi = S_i^{s_g}.
  const t0 = performance.now()
  let lastLog = 0
  const crypto = new GatewayCrypto({
    secret: key.scalar,
    meterPublicKeys: genesis.meters.map((x) => x.publicKey),
    onProgress: (done, total) => {
      const now = performance.now()
      if (now - lastLog > 2000 || done === total) {
        lastLog = now
        logger.info('deriving meter keys', { done, total })
      }
    }
  })
  logger.info('meter keys ready', { meters: n, ms: Math.round(performance.now() - t0) })

  const consensusPeers = genesis.consensus.map((c) => ({ peerId: c.peerId.toString(), addr: c.listen.toString(), index: c.index }))
  const nodeOfPeer = new Map(consensusPeers.map((c) => [c.peerId, c.index]))
  const meterPeers = new Set(genesis.meters.map((x) => x.peerId.toString()))

  // ---- slots
  const open = new Map<number, SlotAggregator>()
  const closed = new Map<number, SlotResult>()
  const rejected: Record<string, number> = Object.fromEntries(REJECT_CODES.map((c) => [c, 0]))
  let accepted = 0
  const recent: SignedAggregate[] = []
  let lastHandoffSlot = -1
  let closing = false

  const windowOpen = (slot: number, now: number) => {
    const due = clock.startOf(slot + 1)
    return now >= due - skew && now <= due + skew
  }
  const openSlot = (slot: number) => {
    if (open.has(slot) || closed.has(slot) || slot <= lastHandoffSlot) return
    open.set(slot, crypto.openSlot(crypto.prepareSlot(slot)))
  }
  const reject = (code: RejectCode | string) => {
    rejected[code] = (rejected[code] ?? 0) + 1
    mRejected.inc({ reason: code })
  }

  const makeAggregate = (
    slot: number,
    status: 'complete' | 'incomplete',
    sum: bigint,
    count: number,
    missing: Uint8Array
  ): SignedAggregate => {
    const body = { slot, status, sum, count, missing }
    return { ...body, signature: signAggregate(blsKey, body) }
  }

  const closeSlot = (slot: number) => {
    const agg = open.get(slot)
    if (!agg) return
    open.delete(slot)
    const started = performance.now()
    const result = agg.finish()
    mAggregateMs.observe((performance.now() - started) / 1000)
    closed.set(slot, result)
    for (const s of closed.keys()) if (s < slot - RECENT_AGGREGATES) closed.delete(s)
    mSlots.inc({ status: result.status })
    if (result.status === 'inconsistent') {
      // Every tag verified but the decoded total is impossible: mismatched keys or a cheating
      // meter. Never publish it (PROTOCOL 3.5: never a wrong sum).
      logger.error('slot is inconsistent, not handed off', { slot, reason: result.reason })
      return
    }
    const signed =
      result.status === 'complete'
        ? makeAggregate(slot, 'complete', result.sum, result.count, new Uint8Array(0))
        : makeAggregate(
            slot,
            'incomplete',
            0n,
            result.count,
            bitmapFromIndices(
              result.missing.map((id) => Number(id.slice('meter-'.length))),
              n
            )
          )
    logger.info('slot closed', {
      slot,
      status: result.status,
      sum: result.status === 'complete' ? result.sum : null,
      count: result.count,
      missing: result.status === 'incomplete' ? result.missing.length : 0
    })
    void handOff(signed)
  }

  const handOff = async (agg: SignedAggregate) => {
    lastHandoffSlot = Math.max(lastHandoffSlot, agg.slot)
    recent.push(agg)
    if (recent.length > RECENT_AGGREGATES) recent.shift()
    await sendTo(
      consensusPeers.map((c) => c.peerId),
      [agg]
    )
  }

  const sendTo = async (peers: string[], aggs: SignedAggregate[]) => {
    await Promise.all(
      peers.map(async (peer) => {
        for (const agg of aggs) {
          try {
            await p2p.request(peer, AGGREGATE_PROTOCOL, encodeAggregate(agg), { timeoutMs: 2000 })
            mHandoff.inc({ result: 'ok' })
          } catch (e) {
            mHandoff.inc({ result: 'failed' })
            logger.debug('hand-off failed', { peer: `cn-${nodeOfPeer.get(peer)}`, slot: agg.slot, error: (e as Error).message })
          }
        }
      })
    )
  }

  // ---- Theta (PROTOCOL 4.1)
  const theta = new ThetaResponder(
    blsKey,
    genesis.consensus.map((c) => c.verificationKey)
  )
  const electionId = {
    limits: { maxBlockBytes: maxBlockBytes(m, n), nodes: m },
    nodeOfPeer,
    gatewayPeer: genesis.gateway.peerId.toString()
  }
  const electionTopic = gatewayElectionTopic({
    id: electionId,
    theta,
    publish: (topic, data) => void p2p.publish(topic, data).catch(() => {}),
    onDraw: (_draw, answered) => {
      mElection.inc({ outcome: 'draw' })
      if (answered) mTheta.inc()
    }
  })

  const p2p: P2PNode = await createP2PNode(
    {
      privateKey: key.libp2pKey,
      listen: [options.listen ?? genesis.gateway.listen.toString()],
      allowedPeers: new Set([...consensusPeers.map((c) => c.peerId), ...meterPeers]),
      persistentPeers: consensusPeers.map((c) => ({ peerId: c.peerId, addr: c.addr })),
      gossip: { topics: [electionTopic] },
      protocols: [
        {
          id: REPORT_PROTOCOL,
          maxRequestBytes: MAX_REPORTS_PER_REQUEST * REPORT_BYTES,
          maxResponseBytes: 1024,
          maxResponseFrames: 1,
          timeoutMs: 5000,
          rateLimit: { messagesPerSecond: 1000, burstMessages: 2000, bytesPerSecond: 64 * 1024 * 1024, burstBytes: 64 * 1024 * 1024 },
          handler: async (req, from) => {
            if (!meterPeers.has(from)) throw new BbnpError('REFUSED', 'only meters send reports')
            if (req.length % REPORT_BYTES !== 0) {
              reject('MALFORMED')
              throw new BbnpError('MALFORMED', `a report batch is a multiple of ${REPORT_BYTES} bytes`)
            }
            const now = Date.now()
            let ok = 0
            const bad: Record<string, number> = {}
            const touched = new Set<number>()
            for (let off = 0; off < req.length; off += REPORT_BYTES) {
              const bytes = req.subarray(off, off + REPORT_BYTES)
              const slot = reportSlot(bytes)
              if (!Number.isSafeInteger(slot) || !windowOpen(slot, now)) {
                reject('WRONG_SLOT')
                bad.WRONG_SLOT = (bad.WRONG_SLOT ?? 0) + 1
                continue
              }
              openSlot(slot)
              const agg = open.get(slot)
              if (!agg) {
                reject('WRONG_SLOT')
                bad.WRONG_SLOT = (bad.WRONG_SLOT ?? 0) + 1
                continue
              }
              const r = agg.accept(bytes)
              if (r.ok) {
                ok++
                touched.add(slot)
              } else {
                reject(r.code)
                bad[r.code] = (bad[r.code] ?? 0) + 1
              }
            }
            accepted += ok
            mReceived.inc(undefined, ok)
            // All N in: close now rather than at the deadline.
            for (const slot of touched) if (open.get(slot)?.count === n) closeSlot(slot)
            return [encodeReceipt({ accepted: ok, rejected: bad })]
          }
        },
        { id: AGGREGATE_PROTOCOL, maxRequestBytes: aggregateRequestBytes(n), maxResponseBytes: 16, maxResponseFrames: 1, timeoutMs: 5000 },
        thetaProtocol({
          id: electionId,
          theta,
          onAnswer: (answered) => mElection.inc({ outcome: answered ? 'theta_request' : 'theta_request_refused' })
        }),
        { id: STATUS_PROTOCOL, maxRequestBytes: 16, maxResponseBytes: MAX_STATUS_BYTES, maxResponseFrames: 1, timeoutMs: 3000 }
      ]
    },
    { logger: logger.child({ component: 'p2p' }), metrics }
  )
  await p2p.start()
  const cleanup: (() => Promise<void>)[] = [() => p2p.stop()]

  // A consensus peer that (re)connects gets the recent aggregates it may have missed.
  const offPeer = p2p.onPeer((e) => {
    if (e.type === 'connect' && nodeOfPeer.has(e.peerId) && recent.length > 0) void sendTo([e.peerId], recent.slice(-8))
  })

  try {
    // ---- backfill: slots missed while this gateway was down become incomplete blocks
    await waitForPeers(p2p, 1, Math.max(1500, genesis.periodMs), ctx.signal)
    const latest = await latestCommittedSlot(
      p2p,
      consensusPeers.map((c) => c.peerId)
    )
    const firstLive = clock.slotAt(Date.now() - skew) // the oldest slot whose window is still open
    if (latest !== null && latest >= 0 && latest < firstLive - 1) {
      const from = Math.max(latest + 1, firstLive - MAX_BACKFILL_SLOTS)
      logger.info('recording missed slots as incomplete', { from, to: firstLive - 1 })
      const everyone = bitmapFromIndices(
        genesis.meters.map((x) => x.index),
        n
      )
      for (let slot = from; slot < firstLive; slot++) {
        closed.set(slot, { status: 'incomplete', slot, missing: genesis.meters.map((x) => x.id), count: 0 })
        mSlots.inc({ status: 'incomplete' })
        await handOff(makeAggregate(slot, 'incomplete', 0n, 0, everyone))
      }
    }
    lastHandoffSlot = Math.max(lastHandoffSlot, firstLive - 1)

    // Keys for a slot are prepared when it starts; the slot closes at the end of its window.
    // Before the genesis time there are no slots (slot numbers start at 0).
    clock.every(0, (slot) => {
      if (!closing && slot >= 0) openSlot(slot)
    })
    clock.every(skew + 1, (slot) => {
      if (!closing && slot >= 1) closeSlot(slot - 1)
    })
    if (clock.currentSlot() >= 0) openSlot(clock.currentSlot())
    if (clock.currentSlot() >= 1 && windowOpen(clock.currentSlot() - 1, Date.now())) openSlot(clock.currentSlot() - 1)

    const routes: Record<string, Route> = {
      '/status': () => {
        const last = [...closed.entries()].sort((a, b) => b[0] - a[0])[0]
        return {
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
            openSlots: [...open.keys()].sort((a, b) => a - b),
            lastSlot: last
              ? {
                  slot: last[0],
                  status: last[1].status,
                  sum: last[1].status === 'complete' ? last[1].sum.toString() : null,
                  count: last[1].count,
                  missing: last[1].status === 'incomplete' ? last[1].missing : []
                }
              : null,
            lastHandoffSlot,
            peers: p2p
              .connectedPeers()
              .map((p) => (nodeOfPeer.has(p) ? `cn-${nodeOfPeer.get(p)}` : meterPeers.has(p) ? 'meter' : p))
              .sort()
          }
        }
      },
      '/metrics': () => ({ status: 200, body: metrics.render(), text: true })
    }
    const api: ApiServer = await startApi({
      host: options.apiHost,
      port: options.apiPort ?? genesis.gateway.listen.nodeAddress().port + 1000,
      routes,
      logger
    })
    cleanup.unshift(() => api.close())
    logger.info('gateway started', {
      peerId: p2p.peerId,
      listen: p2p.multiaddrs(),
      api: `http://${options.apiHost}:${api.port}`,
      meters: n,
      consensus: m
    })
    return {
      done: new Promise<number>(() => {}),
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

/** sigma_GW1 = BLS_sign(s_g, "bbnp/v1/aggregate" || slot, status, sum, count, missing) (PROTOCOL 3.4). */
export function signAggregate(sk: NonNullable<LoadedKey['blsKey']>, body: Omit<SignedAggregate, 'signature'>): Uint8Array {
  return sign(sk, DOMAIN.aggregate, aggregatePayload(body))
}

/** The newest slot in any reachable consensus peer's chain (-1 when empty), or null if none answered. */
async function latestCommittedSlot(p2p: P2PNode, peers: string[]): Promise<number | null> {
  const answers = await Promise.all(
    peers.map((p) =>
      p2p
        .request(p, STATUS_PROTOCOL, new Uint8Array(0), { timeoutMs: 2000 })
        .then((f) => decodeStatus(f[0]).latestSlot)
        .catch(() => null)
    )
  )
  const slots = answers.filter((s): s is number => s !== null)
  return slots.length === 0 ? null : Math.max(...slots)
}
