/**
 * A consensus peer (PROTOCOL 4): the composition root that joins the pure PBFT replica to its
 * adapters, each its own part: the LevelDB store, the effect driver (serial queue, persist before
 * broadcast), the gossip topics, the request/response protocols, catch-up, the opinion publisher
 * (reputation evidence), the leadership window (fairness) and the HTTP API. Parts close in the
 * reverse order of opening.
 */
import { join } from 'node:path'
import { BbnpError, consensusId, toHex } from '@bbnp/core'
import { BlockStore, decodeBlocksRequest, encodeStatus, isStoreDamage, serveBlocks, statusOf } from '@bbnp/chain'
import {
  decodeAggregate,
  decodeMessage,
  type DrawMessage,
  encodeMessage,
  maxBlockBytes,
  REPLICA_MISBEHAVIOUR,
  Replica,
  TOPICS,
  withMisbehaviour
} from '@bbnp/consensus'
import { createP2PNode, type P2PNode } from '@bbnp/network'
import { initialReputations } from '@bbnp/reputation'
import { CommitteeCrypto } from '@bbnp/aggregation'
import { CatchUp } from './catch-up.ts'
import { reputationParams } from './config.ts'
import { consensusRoutes } from './consensus-routes.ts'
import { consensusTopics } from './consensus-topics.ts'
import { EffectDriver } from './effect-driver.ts'
import type { Genesis } from './genesis.ts'
import { type ApiServer, startApi } from './http-api.ts'
import { LeadershipWindow } from './leadership.ts'
import { OpinionPublisher } from './opinion-publisher.ts'
import { defaultApiPort } from './options.ts'
import { decodeEndorseRequest, decodePartialRequest, encodeHandoffAck, protocolLimits, wireProtocols } from './protocols.ts'
import { RecoveryCommittee } from './recovery-committee.ts'
import { SlotClock } from './slot-clock.ts'
import { reputationRules } from './reputation-rules.ts'
import { type RunningNode, type SingleKeyContext, waitForPeers } from './runtime.ts'
import { replicaTiming } from './timing.ts'
import type { BlockTiming } from './views.ts'

/** Test-only misbehaviour of a consensus peer (issue 5); refused unless the genesis is a devnet. */
export const CONSENSUS_MISBEHAVIOUR = ['silent', 'late', 'wrong-partials', ...REPLICA_MISBEHAVIOUR] as const

export function checkMisbehaviour(modes: string[], genesis: Genesis, allowed: readonly string[]): void {
  if (modes.length === 0) return
  if (!genesis.devnet) throw new BbnpError('CONFIG', '--misbehave is refused: the genesis is not marked as a devnet (bbnp setup --devnet)')
  for (const m of modes)
    if (!allowed.includes(m)) throw new BbnpError('CONFIG', `unknown --misbehave mode "${m}" (one of: ${allowed.join(', ')})`)
}

export async function startConsensusPeer(ctx: SingleKeyContext): Promise<RunningNode> {
  const { options, genesis, key, logger, metrics } = ctx
  checkMisbehaviour(options.misbehave, genesis, CONSENSUS_MISBEHAVIOUR)
  const me = genesis.consensus.find((c) => c.id === key.id)
  if (!me || !key.blsKey) throw new BbnpError('CONFIG', `${key.id} is not a consensus node of this genesis`)
  const signer = key.blsKey
  const m = genesis.consensus.length
  const n = genesis.meters.length
  const keys = genesis.consensus.map((c) => c.verificationKey)
  const params = reputationParams(genesis)
  const timing = replicaTiming(genesis, params.t0Ms)
  const maxBytes = maxBlockBytes(m, n)
  const wire = wireProtocols(protocolLimits(genesis))
  const silent = options.misbehave.includes('silent')
  const lateMs = options.misbehave.includes('late') ? 2 * timing.graceMs : 0
  const mHandoffs = metrics.counter('bbnp_aggregates_received_total', 'Signed aggregates received from the gateway')
  const mThetaFetches = metrics.counter(
    'bbnp_theta_requests_total',
    'Theta asked from the gateway over /bbnp/theta/1 because gossip had not brought it, by result'
  )

  // ---- who is who
  const nodeOfPeer = new Map(genesis.consensus.map((c) => [c.peerId.toString(), c.index]))
  const gatewayPeer = genesis.gateway.peerId.toString()
  const nameOf = (p: string) => (p === gatewayPeer ? 'gateway' : nodeOfPeer.has(p) ? consensusId(nodeOfPeer.get(p)!) : p)
  const others = genesis.consensus.filter((c) => c.index !== me.index)

  const store = await BlockStore.open(join(options.dataDir, 'chain'), {
    genesisHash: genesis.hash,
    keys,
    quorum: genesis.quorum,
    maxBlockBytes: maxBytes
  })
  const cleanup: (() => Promise<void>)[] = [() => store.close()]
  let p2p: P2PNode | undefined
  try {
    const lost = store.lostBlocks()
    if (lost) logger.warn('the block store lost blocks it once held (its log was cut short); catching them up from peers', { ...lost })
    const head = await store.chainHead(initialReputations(m, params))
    const honest = new Replica(
      {
        me: me.index,
        keys,
        gatewayKey: genesis.gateway.publicKey,
        meters: n,
        minReporters: genesis.minReporters,
        signer,
        maxBlockBytes: maxBytes,
        timing,
        rules: reputationRules(keys, params)
      },
      head,
      await store.getConsensusLog()
    )
    // 'wrong-signatures' and 'equivocate' rewrite what the replica sends; 'silent' and 'late' act in publish below.
    const replica = withMisbehaviour(honest, options.misbehave, signer)
    logger.info('consensus peer starting', {
      id: key.id,
      height: head.height,
      head: toHex(head.hash).slice(0, 16),
      misbehave: options.misbehave
    })

    const publish = (topic: string, data: Uint8Array) => {
      if (silent || !p2p) return
      const send = () => void p2p!.publish(topic, data).catch((e) => logger.debug('publish failed', { topic, error: (e as Error).message }))
      if (lateMs > 0) driver.later(lateMs, send)
      else send()
    }
    const opinions = new OpinionPublisher(
      { self: me.index, nodes: m, params, signer, stored: await store.getRecords() },
      {
        publish: (encoded) => {
          publish(TOPICS.reputation, encoded)
          void driver.dispatch({ type: 'opinion', encoded, own: true, now: Date.now() })
        },
        logger
      }
    )
    let catchUp: CatchUp | undefined
    // PROTOCOL 3.5.5: this peer's part in each slot's recovery, its pads computed as the slot ends.
    const clock = new SlotClock(genesis)
    const committee = new RecoveryCommittee(
      {
        keys,
        quorum: genesis.quorum,
        minReporters: genesis.minReporters,
        slotAt: (now) => clock.slotAt(now),
        wrongPartials: options.misbehave.includes('wrong-partials')
      },
      { crypto: new CommitteeCrypto({ keys: key.committeeKeys!, minReporters: genesis.minReporters }), store, signer, logger, metrics }
    )
    clock.every(0, (slot) => committee.prepare(slot - 1))
    cleanup.unshift(async () => clock.stop())
    const leadership = new LeadershipWindow(m, metrics)
    await leadership.load(store)
    /** Local timings of recent blocks: when this peer got the aggregate, and when it stored the block. */
    const timings = new Map<number, BlockTiming>()
    let lastStoredAt = Date.now()
    /** When the gateway last handed this peer work (an aggregate no block holds yet). */
    let lastHandoffAt = 0
    let stalled: { height: number; since: number } | null = null

    const driver: EffectDriver = new EffectDriver({
      replica,
      store,
      publish,
      logger,
      metrics,
      extraState: () => ({ records: opinions.snapshot() }),
      onCommitted: (c) => {
        lastStoredAt = c.committedAt
        timings.set(c.block.height, { aggregateReceivedAtMs: c.aggregateAt, committedAtMs: c.committedAt })
        if (timings.size > 4096) timings.delete(timings.keys().next().value as number)
        leadership.add(c.block.height, c.block.primary)
        if (stalled) {
          logger.warn('stall over: a block was stored', {
            height: c.block.height,
            stalledSeconds: Math.round((c.committedAt - stalled.since) / 1000)
          })
          stalled = null
        }
        if (c.synced) return
        const a = c.block.aggregate
        logger.info('block committed', {
          height: c.block.height,
          slot: a.slot,
          ...(a.fromSlot !== a.slot ? { fromSlot: a.fromSlot } : {}),
          status: a.status,
          sum: a.status === 'complete' ? a.sum : null,
          count: a.count,
          primary: consensusId(c.block.primary),
          view: c.cert.view,
          latencyMs: c.aggregateAt === null ? null : c.committedAt - c.aggregateAt
        })
      },
      onObservations: (height, items) => opinions.observe(height, items),
      onBehind: (height) => void catchUp?.sync(`messages for height ${height}`),
      onFetchTheta: (draw) => void fetchTheta(draw)
    })

    /** PROTOCOL 4.1: Theta from the gateway over a stream, when gossip did not bring it; handled as if gossiped. */
    const fetchTheta = async (draw: DrawMessage) => {
      if (silent || !p2p) return
      try {
        const [frame] = await p2p.request(gatewayPeer, wire.theta, encodeMessage(draw), { timeoutMs: 2000 })
        const message = decodeMessage(frame, { maxBlockBytes: maxBytes, nodes: m })
        if (message.kind !== 'theta' || message.height !== draw.height)
          throw new BbnpError('MALFORMED', 'the answer is not Theta for this height')
        mThetaFetches.inc({ result: 'ok' })
        logger.info('Theta fetched from the gateway (not received by gossip)', { height: draw.height })
        await driver.dispatch({ type: 'message', message, now: Date.now() })
      } catch (e) {
        mThetaFetches.inc({ result: 'failed' })
        logger.debug('Theta request failed', { height: draw.height, error: (e as Error).message })
      }
    }

    p2p = await createP2PNode(
      {
        privateKey: key.libp2pKey,
        listen: [options.listen ?? me.listen.toString()],
        allowedPeers: new Set([gatewayPeer, ...others.map((c) => c.peerId.toString())]),
        persistentPeers: [
          ...others.map((c) => ({ peerId: c.peerId.toString(), addr: c.listen.toString() })),
          { peerId: gatewayPeer, addr: genesis.gateway.listen.toString() }
        ],
        gossip: {
          topics: consensusTopics(
            { identity: { limits: { maxBlockBytes: maxBytes, nodes: m }, nodeOfPeer, gatewayPeer }, nodes: m },
            {
              position: () => ({ height: replica.height, opinionHeight: replica.head.opinionHeight }),
              onMessage: (message) => void driver.dispatch({ type: 'message', message, now: Date.now() }),
              onOpinion: (encoded) => void driver.dispatch({ type: 'opinion', encoded, now: Date.now() })
            }
          )
        },
        protocols: [
          {
            ...wire.aggregate,
            rateLimit: { messagesPerSecond: 200, burstMessages: 400 },
            handler: async (req, from) => {
              if (from !== gatewayPeer) throw new BbnpError('REFUSED', 'only the gateway hands off aggregates')
              const aggregate = decodeAggregate(req, wire.aggregate.maxRequestBytes)
              mHandoffs.inc()
              const held = aggregate.slot <= store.head().slot && (await store.heightsBySlot(aggregate.slot, aggregate.slot, 1)).length > 0
              if (!held) {
                lastHandoffAt = Date.now()
                void driver.dispatch({ type: 'aggregate', aggregate, now: lastHandoffAt })
              }
              return [encodeHandoffAck({ headSlot: store.head().slot, held })]
            }
          },
          {
            ...wire.endorse,
            handler: async (req, from) => {
              if (from !== gatewayPeer || silent) throw new BbnpError('REFUSED', 'only the gateway asks for endorsements')
              return [await committee.endorse(decodeEndorseRequest(req, n))]
            }
          },
          {
            ...wire.partial,
            handler: async (req, from) => {
              if (from !== gatewayPeer || silent) throw new BbnpError('REFUSED', 'only the gateway asks for partial sums')
              return [await committee.partial(decodePartialRequest(req, m))]
            }
          },
          { ...wire.blocks, handler: (req) => serveBlocks(store, decodeBlocksRequest(req)) },
          { ...wire.status, handler: async () => [encodeStatus(statusOf(store))] }
        ]
      },
      { logger: logger.child({ component: 'p2p' }), metrics }
    )
    await p2p.start()
    cleanup.unshift(() => p2p!.stop())
    cleanup.unshift(() => driver.close())

    catchUp = new CatchUp(
      { genesisHash: genesis.hash, keys, quorum: genesis.quorum, maxBlockBytes: maxBytes, wire },
      { p2p, isConsensusPeer: (p) => nodeOfPeer.has(p), nameOf, store, driver, logger }
    )
    cleanup.unshift(async () => catchUp.close())

    // Fallback detection of being behind, when gossip is quiet: only when nothing was stored for two
    // periods (a healthy peer learns of new heights from gossip). A stuck peer then catches up from
    // any peer ahead of it, even by one block: a view change at a height that some honest peers have
    // already decided cannot gather a quorum (they have moved on), so fetching that block is the only way.
    const poll = setInterval(
      () => {
        if (Date.now() - lastStoredAt >= 2 * genesis.periodMs) void catchUp!.sync('status poll')
        watchForStall()
      },
      Math.max(2000, 2 * genesis.periodMs)
    )
    cleanup.unshift(async () => clearInterval(poll))

    /** A height with work that does not commit for this long is a stall: said once, at warn, and counted. */
    const stallMs = 5 * timing.viewTimeoutMs
    const mStalls = metrics.counter('bbnp_stalls_total', `Heights that had work and did not commit for ${stallMs / 1000} s`)
    function watchForStall(): void {
      const now = Date.now()
      if (stalled || lastHandoffAt <= lastStoredAt || now - lastStoredAt < stallMs) return
      stalled = { height: replica.height, since: lastStoredAt }
      mStalls.inc()
      logger.warn('height stalled: work is waiting and no block was stored', {
        height: replica.height,
        view: replica.view,
        primary: replica.primary === null ? null : consensusId(replica.primary),
        seconds: Math.round((now - lastStoredAt) / 1000),
        peers: p2p!.connectedPeers().length
      })
    }

    let stopped: (code: number) => void = () => {}
    const failure = new Promise<number>((resolve) => {
      stopped = resolve
    })
    const routes = consensusRoutes({
      id: key.id,
      genesis,
      params,
      store,
      replica: () => replica,
      peers: () => p2p!.connectedPeers().map(nameOf).sort(),
      catchUp,
      leadership,
      timing: (h) => timings.get(h),
      metrics,
      misbehave: options.misbehave
    })
    const api: ApiServer = await startApi({
      host: options.apiHost,
      port: options.apiPort ?? defaultApiPort(me.listen),
      routes,
      logger,
      // A damaged store stops the peer once, with the message saying what to do (never a loop of errors).
      onFailure: (e) => {
        if (!isStoreDamage(e)) return
        logger.error('stopping: the block store is damaged', { error: (e as Error).message })
        stopped(2)
      }
    })
    cleanup.unshift(() => api.close())
    logger.info('consensus peer started', {
      id: key.id,
      peerId: p2p.peerId,
      listen: p2p.multiaddrs(),
      api: `http://${options.apiHost}:${api.port}`
    })

    // Take part only after catching up with whoever is reachable at start (PROTOCOL 4.6); the API
    // already answers meanwhile, with "syncing": true.
    await waitForPeers(
      p2p,
      others.length > 0 ? Math.min(others.length, genesis.quorum - 1) : 0,
      Math.max(2000, genesis.periodMs),
      ctx.signal
    )
    if (!ctx.signal?.aborted) {
      await catchUp.sync('start')
      if (lost && store.head().height <= lost.to) void takePartAfter(lost.to + 1)
      else void driver.dispatch({ type: 'start', now: Date.now() })
    }

    /**
     * A store that lost blocks also lost the record of what this peer signed at them: it takes part
     * again only once the chain is past the height after them (it may have voted there already).
     */
    async function takePartAfter(height: number): Promise<void> {
      logger.warn('waiting to take part until the chain is past the lost heights', { height })
      while (!closing && store.head().height < height) {
        await new Promise((r) => setTimeout(r, genesis.periodMs))
        await catchUp!.sync('lost blocks')
      }
      if (!closing) void driver.dispatch({ type: 'start', now: Date.now() })
    }

    let closing = false
    return {
      done: Promise.race([driver.done, failure]),
      apiPort: api.port,
      close: async () => {
        if (closing) return
        closing = true
        for (const c of cleanup) await c().catch((e) => logger.warn('shutdown step failed', { error: (e as Error).message }))
        logger.info('consensus peer stopped', { id: key.id, height: store.head().height })
      }
    }
  } catch (e) {
    for (const c of cleanup) await c().catch(() => {})
    throw e
  }
}
