/**
 * A consensus peer (PROTOCOL 4): the composition root that joins the pure PBFT replica to its
 * adapters, each its own part: the LevelDB store, the effect driver (serial queue, persist before
 * broadcast), the gossip topics, the request/response protocols, catch-up, the opinion publisher
 * (reputation evidence), the recovery committee, the leadership window (fairness), the peer's
 * activity (commit lines, stalls) and the HTTP API. Parts close in the reverse order of opening.
 */
import { join } from 'node:path'
import { BbnpError, consensusId, GATEWAY_ID, toHex } from '@bbnp/core'
import { BlockStore, isStoreDamage } from '@bbnp/chain'
import { maxBlockBytes, REPLICA_MISBEHAVIOUR, Replica, type ReplicaLike, TOPICS, withMisbehaviour } from '@bbnp/consensus'
import { createP2PNode, type P2PNode } from '@bbnp/network'
import { initialReputations } from '@bbnp/reputation'
import { CommitteeCrypto } from '@bbnp/aggregation'
import { CatchUp } from './catch-up.ts'
import { reputationParams } from './config.ts'
import { consensusProtocols, electionFetchers } from './consensus-protocols.ts'
import { consensusRoutes } from './consensus-routes.ts'
import { gatewayApiAddress } from './dashboard/dashboard-routes.ts'
import { consensusTopics } from './consensus-topics.ts'
import { EffectDriver } from './effect-driver.ts'
import type { Genesis } from './genesis.ts'
import { type ApiServer, startApi } from './http-api.ts'
import { LeadershipWindow } from './leadership.ts'
import { OpinionPublisher } from './opinion-publisher.ts'
import { defaultApiPort } from './options.ts'
import { PeerActivity } from './peer-activity.ts'
import { protocolLimits, type WireProtocols, wireProtocols } from './protocols.ts'
import { consensusReadiness } from './readiness.ts'
import { RecoveryCommittee } from './recovery-committee.ts'
import { reputationGauges } from './reputation-gauges.ts'
import { SlotClock } from './slot-clock.ts'
import { StatusPoll } from './status-poll.ts'
import { reputationRules } from './reputation-rules.ts'
import { readdressPeers, type RunningNode, type SingleKeyContext, waitForPeers } from './runtime.ts'
import { replicaTiming } from './timing.ts'

/** Test-only misbehaviour of a consensus peer (issue 5); refused unless the genesis is a devnet. */
export const CONSENSUS_MISBEHAVIOUR = ['silent', 'late', 'wrong-partials', ...REPLICA_MISBEHAVIOUR] as const

export function checkMisbehaviour(modes: string[], genesis: Genesis, allowed: readonly string[]): void {
  if (modes.length === 0) return
  if (!genesis.devnet) throw new BbnpError('CONFIG', '--misbehave is refused: the genesis is not marked as a devnet (bbnp setup --devnet)')
  for (const m of modes)
    if (!allowed.includes(m)) throw new BbnpError('CONFIG', `unknown --misbehave mode "${m}" (one of: ${allowed.join(', ')})`)
}

export async function startConsensusPeer(ctx: SingleKeyContext): Promise<RunningNode> {
  const { options, genesis, key } = ctx
  checkMisbehaviour(options.misbehave, genesis, CONSENSUS_MISBEHAVIOUR)
  const me = genesis.consensus.find((c) => c.id === key.id)
  if (!me || !key.blsKey) throw new BbnpError('CONFIG', `${key.id} is not a consensus node of this genesis`)
  const peer = peerSetup(ctx, me)
  const store = await BlockStore.open(join(options.dataDir, 'chain'), {
    genesisHash: genesis.hash,
    keys: peer.keys,
    quorum: genesis.quorum,
    maxBlockBytes: peer.limits.maxBlockBytes
  })
  const cleanup: (() => Promise<void>)[] = [() => store.close()]
  try {
    return await composePeer(ctx, peer, store, cleanup)
  } catch (e) {
    for (const c of cleanup) await c().catch(() => {})
    throw e
  }
}

/** What a consensus peer derives from the genesis and its flags before it opens anything. */
function peerSetup(ctx: SingleKeyContext, me: Genesis['consensus'][number]) {
  const { options, genesis } = ctx
  const m = genesis.consensus.length
  const params = reputationParams(genesis)
  const timing = replicaTiming(genesis, params.t0Ms)
  const nodeOfPeer = new Map(genesis.consensus.map((c) => [c.peerId.toString(), c.index]))
  const gatewayPeer = genesis.gateway.peerId.toString()
  return {
    me,
    m,
    n: genesis.meters.length,
    keys: genesis.consensus.map((c) => c.verificationKey),
    params,
    timing,
    limits: { maxBlockBytes: maxBlockBytes(m, genesis.meters.length), nodes: m },
    wire: wireProtocols(protocolLimits(genesis)) as WireProtocols,
    silent: options.misbehave.includes('silent'),
    lateMs: options.misbehave.includes('late') ? 2 * timing.graceMs : 0,
    nodeOfPeer,
    gatewayPeer,
    nameOf: (p: string) => (p === gatewayPeer ? 'gateway' : nodeOfPeer.has(p) ? consensusId(nodeOfPeer.get(p)!) : p),
    others: genesis.consensus.filter((c) => c.index !== me.index)
  }
}
type PeerSetup = ReturnType<typeof peerSetup>

/** The replica over the stored chain head and consensus log, with any devnet misbehaviour. */
async function openReplica(ctx: SingleKeyContext, peer: PeerSetup, store: BlockStore): Promise<ReplicaLike> {
  const { genesis, options, logger } = ctx
  const signer = ctx.key.blsKey!
  const head = await store.chainHead(initialReputations(peer.m, peer.params))
  const honest = new Replica(
    {
      me: peer.me.index,
      keys: peer.keys,
      gatewayKey: genesis.gateway.publicKey,
      meters: peer.n,
      minReporters: genesis.minReporters,
      signer,
      maxBlockBytes: peer.limits.maxBlockBytes,
      timing: peer.timing,
      rules: reputationRules(peer.keys, peer.params)
    },
    head,
    await store.getConsensusLog()
  )
  logger.info('consensus peer starting', {
    id: ctx.key.id,
    height: head.height,
    head: toHex(head.hash).slice(0, 16),
    misbehave: options.misbehave
  })
  // 'wrong-signatures' and 'equivocate' rewrite what the replica sends; 'silent' and 'late' act in publish.
  return withMisbehaviour(honest, options.misbehave, signer)
}

/** PROTOCOL 3.5.5: this peer's part in each slot's recovery, its pads computed as each slot ends. */
function openCommittee(ctx: SingleKeyContext, peer: PeerSetup, store: BlockStore, cleanup: (() => Promise<void>)[]): RecoveryCommittee {
  const { genesis, key, logger, metrics } = ctx
  const clock = new SlotClock(genesis)
  const committee = new RecoveryCommittee(
    {
      keys: peer.keys,
      quorum: genesis.quorum,
      minReporters: genesis.minReporters,
      slotAt: (now) => clock.slotAt(now),
      wrongPartials: ctx.options.misbehave.includes('wrong-partials')
    },
    {
      crypto: new CommitteeCrypto({ keys: key.committeeKeys!, minReporters: genesis.minReporters }),
      store,
      signer: key.blsKey!,
      logger,
      metrics
    }
  )
  clock.every(0, (slot) => committee.prepare(slot - 1))
  cleanup.unshift(async () => clock.stop())
  return committee
}

/** Opens the peer's parts around its store; `cleanup` receives each part's close, newest first. */
async function composePeer(
  ctx: SingleKeyContext,
  peer: PeerSetup,
  store: BlockStore,
  cleanup: (() => Promise<void>)[]
): Promise<RunningNode> {
  const { options, genesis, key, logger, metrics } = ctx
  const lost = store.lostBlocks()
  if (lost) logger.warn('the block store lost blocks it once held (its log was cut short); catching them up from peers', { ...lost })
  const replica = await openReplica(ctx, peer, store)
  let p2p: P2PNode | undefined
  const publish = (topic: string, data: Uint8Array) => {
    if (peer.silent || !p2p) return
    const send = () => void p2p!.publish(topic, data).catch((e) => logger.debug('publish failed', { topic, error: (e as Error).message }))
    if (peer.lateMs > 0) driver.later(peer.lateMs, send)
    else send()
  }
  const opinions = new OpinionPublisher(
    { self: peer.me.index, nodes: peer.m, params: peer.params, signer: key.blsKey!, stored: await store.getRecords() },
    {
      publish: (encoded) => {
        publish(TOPICS.reputation, encoded)
        void driver.dispatch({ type: 'opinion', encoded, own: true, now: Date.now() })
      },
      logger
    }
  )
  const committee = openCommittee(ctx, peer, store, cleanup)
  const leadership = new LeadershipWindow(peer.m, metrics)
  await leadership.load(store)
  const activity = new PeerActivity(peer.timing.viewTimeoutMs, logger, metrics)
  reputationGauges(metrics, peer.m, peer.params, () => replica.head)
  const fetchers = electionFetchers({
    ...peer,
    peerOfNode: new Map(peer.others.map((c) => [c.index, c.peerId.toString()])),
    p2p: () => (peer.silent ? undefined : p2p),
    logger,
    metrics,
    onMessage: (message) => driver.dispatch({ type: 'message', message, now: Date.now() })
  })
  let catchUp: CatchUp | undefined
  const driver: EffectDriver = new EffectDriver({
    replica,
    store,
    publish,
    logger,
    metrics,
    extraState: () => ({ records: opinions.snapshot() }),
    onCommitted: (c) => {
      activity.committed(c)
      leadership.add(c.block.height, c.block.primary)
    },
    onObservations: (height, items) => opinions.observe(height, items),
    onBehind: (height) => void catchUp?.sync(`messages for height ${height}`),
    onFetchTheta: (draw) => void fetchers.theta(draw),
    onFetchDraws: (draw, nodes) => void fetchers.draws(draw, nodes)
  })

  p2p = await openNetwork(ctx, peer, { replica, driver, store, committee, activity })
  await p2p.start()
  cleanup.unshift(() => p2p!.stop())
  cleanup.unshift(() => driver.close())
  catchUp = new CatchUp(
    { genesisHash: genesis.hash, keys: peer.keys, quorum: genesis.quorum, maxBlockBytes: peer.limits.maxBlockBytes, wire: peer.wire },
    { p2p, isConsensusPeer: (p) => peer.nodeOfPeer.has(p), nameOf: peer.nameOf, store, driver, logger }
  )
  cleanup.unshift(async () => catchUp.close())
  watchProgress(ctx, { replica, p2p, catchUp, activity }, cleanup)

  let takingPart = false
  let stopped: (code: number) => void = () => {}
  const failure = new Promise<number>((resolve) => {
    stopped = resolve
  })
  const api = await openApi(ctx, peer, { store, replica, p2p, catchUp, leadership, activity, takingPart: () => takingPart }, (code) =>
    stopped(code)
  )
  cleanup.unshift(() => api.close())
  logger.info('consensus peer started', {
    id: key.id,
    peerId: p2p.peerId,
    listen: p2p.multiaddrs(),
    api: `http://${options.apiHost}:${api.port}`
  })

  let closing = false
  const start = () => {
    takingPart = true
    void driver.dispatch({ type: 'start', now: Date.now() })
  }
  await takePart(ctx, peer, { p2p, catchUp, store, lost, closing: () => closing, start })
  return {
    done: Promise.race([driver.done, failure]),
    apiPort: api.port,
    readdress: (changes) => readdressPeers(p2p, genesis, changes, logger),
    close: async () => {
      if (closing) return
      closing = true
      for (const c of cleanup) await c().catch((e) => logger.warn('shutdown step failed', { error: (e as Error).message }))
      logger.info('consensus peer stopped', { id: key.id, height: store.head().height })
    }
  }
}

/** The HTTP API (README "HTTP API"); a request that finds the store damaged stops the peer, once. */
function openApi(
  ctx: SingleKeyContext,
  peer: PeerSetup,
  parts: {
    store: BlockStore
    replica: ReplicaLike
    p2p: P2PNode
    catchUp: CatchUp
    leadership: LeadershipWindow
    activity: PeerActivity
    takingPart: () => boolean
  },
  stop: (code: number) => void
): Promise<ApiServer> {
  const { options, genesis, key, logger, metrics } = ctx
  const { store, replica, p2p, catchUp, leadership, activity } = parts
  return startApi({
    host: options.apiHost,
    port: options.apiPort ?? defaultApiPort(ctx.addresses.multiaddr(key.id)),
    routes: consensusRoutes({
      id: key.id,
      genesis,
      params: peer.params,
      store,
      replica: () => replica,
      peers: () => p2p.connectedPeers().map(peer.nameOf).sort(),
      catchUp,
      leadership,
      timing: (h) => activity.timing(h),
      metrics,
      misbehave: options.misbehave,
      gateway: () => gatewayApiAddress(ctx.addresses.multiaddr(GATEWAY_ID)),
      readiness: () =>
        consensusReadiness({
          takingPart: parts.takingPart(),
          catchingUp: catchUp.catchingUp,
          consensusPeers: p2p.connectedPeers().filter((p) => peer.nodeOfPeer.has(p)).length,
          others: peer.others.length,
          quorum: genesis.quorum,
          stalledMs: activity.stalledMs(Date.now())
        })
    }),
    logger,
    onFailure: (e) => {
      if (!isStoreDamage(e)) return
      logger.error('stopping: the block store is damaged', { error: (e as Error).message })
      stop(2)
    }
  })
}

/** The peer's libp2p node: its gossip topics and the protocols it serves, fed to the driver. */
function openNetwork(
  ctx: SingleKeyContext,
  peer: PeerSetup,
  parts: { replica: ReplicaLike; driver: EffectDriver; store: BlockStore; committee: RecoveryCommittee; activity: PeerActivity }
): Promise<P2PNode> {
  const { options, key, logger, metrics } = ctx
  const { replica, driver, store, committee, activity } = parts
  return createP2PNode(
    {
      privateKey: key.libp2pKey,
      listen: [options.listen ?? ctx.addresses.listen(key.id)],
      allowedPeers: new Set([peer.gatewayPeer, ...peer.others.map((c) => c.peerId.toString())]),
      persistentPeers: [
        ...peer.others.map((c) => ({ peerId: c.peerId.toString(), addr: ctx.addresses.address(c.id) })),
        { peerId: peer.gatewayPeer, addr: ctx.addresses.address(GATEWAY_ID) }
      ],
      gossip: {
        topics: consensusTopics(
          { identity: { limits: peer.limits, nodeOfPeer: peer.nodeOfPeer, gatewayPeer: peer.gatewayPeer }, nodes: peer.m },
          {
            position: () => ({ height: replica.height, opinionHeight: replica.head.opinionHeight }),
            onMessage: (message) => void driver.dispatch({ type: 'message', message, now: Date.now() }),
            onOpinion: (encoded) => void driver.dispatch({ type: 'opinion', encoded, now: Date.now() })
          }
        )
      },
      protocols: consensusProtocols({
        ...peer,
        meters: peer.n,
        nodes: peer.m,
        store,
        committee,
        metrics,
        onAggregate: (aggregate, now) => {
          activity.handedOff(now)
          void driver.dispatch({ type: 'aggregate', aggregate, now })
        },
        ownDraw: (height) => replica.ownDraw(height),
        onDraw: (message) => void driver.dispatch({ type: 'message', message, now: Date.now() })
      })
    },
    { logger: logger.child({ component: 'p2p' }), metrics }
  )
}

/** The fallback check for being behind and for stalls (status-poll.ts), closed with the peer. */
function watchProgress(
  ctx: SingleKeyContext,
  parts: { replica: ReplicaLike; p2p: P2PNode; catchUp: CatchUp; activity: PeerActivity },
  cleanup: (() => Promise<void>)[]
): void {
  const { replica, p2p, catchUp, activity } = parts
  const poll = new StatusPoll(
    { periodMs: ctx.genesis.periodMs },
    {
      activity,
      sync: (why) => catchUp.sync(why),
      stallContext: () => ({ height: replica.height, view: replica.view, primary: replica.primary, peers: p2p.connectedPeers().length })
    }
  )
  poll.start()
  cleanup.unshift(async () => poll.stop())
}

/**
 * Take part only after catching up with whoever is reachable at start (PROTOCOL 4.6); the API
 * already answers meanwhile, with "syncing": true. A store that lost blocks also lost the record
 * of what this peer signed at them: it takes part again only once the chain is past the height
 * after them (it may have voted there already).
 */
async function takePart(
  ctx: SingleKeyContext,
  peer: PeerSetup,
  p: {
    p2p: P2PNode
    catchUp: CatchUp
    store: BlockStore
    lost: { from: number; to: number } | null
    closing: () => boolean
    start: () => void
  }
): Promise<void> {
  const { genesis, logger } = ctx
  const needed = peer.others.length > 0 ? Math.min(peer.others.length, genesis.quorum - 1) : 0
  await waitForPeers(p.p2p, needed, Math.max(2000, genesis.periodMs), ctx.signal)
  if (ctx.signal?.aborted) return
  await p.catchUp.sync('start')
  if (!p.lost || p.store.head().height > p.lost.to) return p.start()
  const after = p.lost.to + 1
  logger.warn('waiting to take part until the chain is past the lost heights', { height: after })
  void (async () => {
    while (!p.closing() && p.store.head().height < after) {
      await new Promise((r) => setTimeout(r, genesis.periodMs))
      await p.catchUp.sync('lost blocks')
    }
    if (!p.closing()) p.start()
  })()
}
