import { BbnpError, errorMessage, type Logger, type MetricsRegistry, type ProtocolDescriptor } from '@bbnp/core'
import type { GossipSub } from '@chainsafe/libp2p-gossipsub'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { ConnectionBook } from './connections.ts'
import { attachTopics } from './gossip.ts'
import { GossipRepair } from './gossip-repair.ts'
import { buildLibp2p, gossipStatusOf, gossipsubOf, listenFailure, type NodeLibp2p, releaseLibraryTimers } from './libp2p-factory.ts'
import { type NetworkSettings, networkDefaults, resolveOptions } from './options.ts'
import { PeerGuard } from './peer-guard.ts'
import { PersistentPeers } from './persistent-peers.ts'
import { RateLimiter } from './rate-limit.ts'
import { sendRequest, serveProtocols } from './reqresp.ts'
import type { P2PNodeModules, P2PNodeOptions, PeerEvent, RequestOptions, TopicSpec } from './types.ts'

/** The libp2p instance under each node, for tests that must break a connection on purpose. */
export const libp2pOf = new WeakMap<P2PNode, Libp2p>()

export interface P2PNode {
  /** This node's peer ID. */
  readonly peerId: string
  start(): Promise<void>
  /** Closes every connection, listener and timer; idempotent. */
  stop(): Promise<void>
  /** Publishes on one of the node's topics; resolves with the number of peers it was sent to (0 is fine). */
  publish(topic: string, data: Uint8Array): Promise<number>
  /**
   * One request/response exchange: on a protocol given by its descriptor (a client needs no more),
   * or by the id of one of the node's own protocols.
   */
  request(peerId: string, protocol: string | ProtocolDescriptor, data: Uint8Array, opts?: RequestOptions): Promise<Uint8Array[]>
  /** Dials once; resolves when the peer has let us in (identify ran), fails with NO_CONNECTION otherwise. */
  connect(peerId: string, addr: string, opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void>
  connectedPeers(): string[]
  /**
   * Points a persistent peer at a new address (its entry in the address book changed): dialled
   * there at once unless connected. False when `peerId` is not one of the node's persistent peers.
   */
  setPeerAddress(peerId: string, addr: string): boolean
  /** Actual listen addresses (with the OS-assigned port), each ending in /p2p/<peerId>. */
  multiaddrs(): string[]
  /** Peers in this node's gossip mesh for a topic. */
  meshPeers(topic: string): string[]
  /** Gossipsub's score of a peer (below `scoreThresholds.graylistThreshold` it is ignored). */
  gossipScore(peerId: string): number
  isBanned(peerId: string): boolean
  /** Subscribes to peer connect/disconnect events; returns the unsubscribe function. */
  onPeer(listener: (event: PeerEvent) => void): () => void
}

/** The outcomes of gossip validation (gossip.ts, applyVerdict). */
const GOSSIP_RESULTS = ['accept', 'ignore', 'reject']

/**
 * The network's own metrics. Series known in advance start at 0: each topic's accepted messages
 * and publications, and the answers this node serves on each of its protocols; the reasons of
 * ignores and rejects and the protocols asked of others appear when they first occur.
 */
function networkMetrics(m: MetricsRegistry, settings: NetworkSettings) {
  const topics = settings.topics.map((t) => t.name)
  return {
    gossipMessages: m.counter('bbnp_gossip_messages_total', 'Gossip messages received, by topic and validation result and reason', {
      labels: { topic: topics, result: GOSSIP_RESULTS, reason: [] },
      initial: topics.map((topic) => ({ topic, result: 'accept', reason: 'OK' }))
    }),
    requests: m.counter('bbnp_reqresp_requests_total', 'Request/response exchanges, by protocol, side and result', {
      labels: { protocol: settings.protocols.map((p) => p.id), side: ['server', 'client'], result: [] },
      initial: settings.protocols.map((p) => ({ protocol: p.id, side: 'server', result: 'ok' }))
    }),
    bans: m.counter('bbnp_peer_bans_total', 'Peers disconnected and banned for too many rejected inputs'),
    peersConnected: m.gauge('bbnp_peers_connected', 'Peers connected (identify completed on at least one connection)'),
    published: m.counter('bbnp_gossip_published_total', 'Gossip messages this node published, by topic', { labels: { topic: topics } })
  }
}

/** What createP2PNode composes; the node object drives it. */
interface NodeParts {
  selfId: string
  listen: string[]
  settings: NetworkSettings
  topicByName: ReadonlyMap<string, TopicSpec>
  log: Logger
  metrics: ReturnType<typeof networkMetrics>
  libp2p: NodeLibp2p
  pubsub: GossipSub | undefined
  guard: PeerGuard
  limiter: RateLimiter
  book: ConnectionBook
  keeper: PersistentPeers
  repair: GossipRepair
  banPeer(peerId: string): void
}

/**
 * Builds a node from its parts: the libp2p node (libp2p-factory.ts) behind the peer guard, the
 * identify-based view of connected peers (connections.ts), the persistent peers' keeper, the
 * gossip repairs (gossip-repair.ts), gossip validation (gossip.ts) and request/response
 * (reqresp.ts). Nothing listens or dials until `start()`.
 */
export async function createP2PNode(options: P2PNodeOptions, modules: P2PNodeModules): Promise<P2PNode> {
  const settings = resolveOptions(options)
  const selfId = peerIdFromPrivateKey(options.privateKey).toString()
  const log = modules.logger.child({ component: 'network', peerId: selfId })
  const metrics = networkMetrics(modules.metrics, settings)
  const guard = new PeerGuard(options.allowedPeers, settings.ban)
  const limiter = new RateLimiter()
  const libp2p = await buildLibp2p(options, settings.topics, guard.gater(), modules.metrics)
  const pubsub = gossipsubOf(libp2p)

  const hangUp = (peerId: string) => {
    libp2p.hangUp(peerIdFromString(peerId)).catch((e: unknown) => log.debug('hang up failed', { peer: peerId, error: errorMessage(e) }))
  }
  const banPeer = (peerId: string) => {
    metrics.bans.inc()
    log.warn('peer banned', { peer: peerId, ms: settings.ban.durationMs })
    hangUp(peerId)
  }

  // the hooks run on libp2p events, which start with start(), after keeper and repair exist
  const book = new ConnectionBook(
    { dial: (addr, signal) => libp2p.dial(multiaddr(addr), { signal }), peersConnected: metrics.peersConnected, logger: log },
    {
      identified: (peerId) => keeper.onIdentified(peerId),
      connectionClosed: (connId, peerId) => repair.connectionClosed(connId, peerId),
      disconnected: (peerId) => keeper.onDisconnected(peerId)
    }
  )
  const persistentPeers = options.persistentPeers ?? []
  const keeper = new PersistentPeers(
    persistentPeers,
    settings.redial,
    (p, signal) => book.connect(p.peerId, p.addr, AbortSignal.any([signal, AbortSignal.timeout(networkDefaults.connectTimeoutMs)])),
    (id) => book.isConnected(id),
    log
  )
  const repair = new GossipRepair({
    pubsub,
    topics: settings.topics.map((t) => t.name),
    persistentPeers: persistentPeers.map((p) => p.peerId),
    isConnected: (id) => book.isConnected(id),
    connections: (id) => libp2p.getConnections(peerIdFromString(id)),
    hangUp,
    metrics: modules.metrics,
    logger: log
  })
  libp2p.addEventListener('peer:identify', (evt) => book.identifyCompleted(evt.detail.connection, evt.detail.peerId.toString()))
  libp2p.addEventListener('connection:close', (evt) => book.connectionClosed(evt.detail.id))

  const topicByName = new Map(settings.topics.map((t) => [t.name, t]))
  if (pubsub !== undefined) {
    const deps = {
      selfId,
      guard,
      limiter,
      rateLimit: settings.gossipRateLimit,
      messages: metrics.gossipMessages,
      logger: log,
      onBan: banPeer
    }
    attachTopics(pubsub, topicByName, deps)
  }

  const parts = {
    selfId,
    listen: options.listen,
    settings,
    topicByName,
    log,
    metrics,
    libp2p,
    pubsub,
    guard,
    limiter,
    book,
    keeper,
    repair,
    banPeer
  }
  const node = p2pNode(parts)
  libp2pOf.set(node, libp2p)
  return node
}

/** The node object: its lifecycle (new, starting, running, stopping, stopped) and its API. */
function p2pNode(parts: NodeParts): P2PNode {
  const { libp2p, pubsub, settings, topicByName, log, book, metrics, guard } = parts
  const protocolById = new Map(settings.protocols.map((p) => [p.id, p]))
  /** Deadlines of the requests being served, so that stop() can end them all at once. */
  const inflight = new Set<AbortController>()
  let state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new'
  let stopping: Promise<void> | undefined

  const requireRunning = () => {
    if (state !== 'running') throw new BbnpError('NOT_STARTED', `network node is ${state}`)
  }

  return {
    peerId: parts.selfId,

    async start() {
      if (state !== 'new') throw new BbnpError('NOT_STARTED', `network node cannot start when ${state}`)
      state = 'starting'
      try {
        await libp2p.start()
      } catch (e) {
        state = 'stopped'
        await Promise.resolve(libp2p.stop()).catch(() => {})
        releaseLibraryTimers(libp2p, undefined)
        throw new BbnpError('LISTEN', `cannot listen: ${listenFailure(e)}`, { listen: parts.listen }, { cause: e })
      }
      const serverDeps = { guard, limiter: parts.limiter, requests: metrics.requests, logger: log, onBan: parts.banPeer, inflight }
      await serveProtocols(libp2p, settings.protocols, settings.requestRateLimit, serverDeps)
      for (const t of settings.topics) pubsub?.subscribe(t.name)
      state = 'running'
      parts.keeper.start()
      parts.repair.start()
      const addrs = libp2p.getMultiaddrs().map(String)
      log.info('network started', { addrs, topics: settings.topics.length, protocols: settings.protocols.length })
    },

    stop() {
      if (stopping !== undefined) return stopping
      stopping = (async () => {
        state = 'stopping'
        parts.keeper.stop()
        parts.repair.stop()
        book.abortWaiters()
        for (const deadline of inflight) deadline.abort(new BbnpError('NOT_STARTED', 'network node stopping'))
        const gossipStatus = gossipStatusOf(pubsub)
        try {
          await libp2p.stop()
        } finally {
          releaseLibraryTimers(libp2p, gossipStatus)
          parts.limiter.clear()
          book.clear()
          state = 'stopped'
          log.info('network stopped')
        }
      })()
      return stopping
    },

    async publish(topic, data) {
      requireRunning()
      const spec = topicByName.get(topic)
      if (spec === undefined || pubsub === undefined) throw new BbnpError('PROTOCOL', `not a topic of this node: ${topic}`)
      if (data.length > spec.maxBytes)
        throw new BbnpError('OVERSIZED', `message of ${data.length} bytes exceeds ${spec.maxBytes} on ${topic}`)
      const result = await pubsub.publish(topic, data)
      metrics.published.inc({ topic })
      return result.recipients.length
    },

    async request(peerId, protocol, data, opts = {}) {
      requireRunning()
      const spec = typeof protocol === 'string' ? protocolById.get(protocol) : protocol
      if (spec === undefined) throw new BbnpError('PROTOCOL', `not a protocol of this node: ${String(protocol)}`)
      return sendRequest(spec, peerId, data, opts, { libp2p, requests: metrics.requests })
    },

    async connect(peerId, addr, opts = {}) {
      requireRunning()
      const signals = [AbortSignal.timeout(opts.timeoutMs ?? networkDefaults.connectTimeoutMs)]
      if (opts.signal !== undefined) signals.push(opts.signal)
      await book.connect(peerId, addr, AbortSignal.any(signals))
    },

    connectedPeers: () => book.peers(),
    setPeerAddress: (peerId, addr) => parts.keeper.setAddress(peerId, addr),
    multiaddrs: () => libp2p.getMultiaddrs().map(String),
    meshPeers: (topic) => pubsub?.getMeshPeers(topic) ?? [],
    gossipScore: (peerId) => pubsub?.getScore(peerId) ?? 0,
    isBanned: (peerId) => guard.isBanned(peerId),
    onPeer: (listener) => book.onPeer(listener)
  }
}
