import { BbnpError, errorMessage, type ProtocolDescriptor } from '@bbnp/core'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type GossipSub, type GossipsubEvents, gossipsub } from '@chainsafe/libp2p-gossipsub'
import { type Identify, identify } from '@libp2p/identify'
import type { Connection, Libp2p, Message, PubSub } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { gossipsubOptions, topicValidator, type GossipValidationDeps } from './gossip.ts'
import { type BanPolicy, PeerGuard } from './peer-guard.ts'
import { PersistentPeers } from './persistent-peers.ts'
import { type RateLimit, RateLimiter } from './rate-limit.ts'
import { handlerOptions, sendRequest, serverHandler } from './reqresp.ts'
import type {
  P2PNodeModules,
  P2PNodeOptions,
  PeerEvent,
  PersistentPeer,
  ProtocolSpec,
  RedialPolicy,
  RequestOptions,
  TopicSpec
} from './types.ts'

/** How long a connected persistent peer may stay unknown to gossipsub before we reconnect to it. */
const GOSSIP_GRACE_MS = 5000
/** How long after one of a peer's connections closed the others must still be open to count as a partial close. */
const PARTIAL_CLOSE_GRACE_MS = 300

export const networkDefaults: {
  gossipRateLimit: RateLimit
  requestRateLimit: RateLimit
  ban: BanPolicy
  redial: RedialPolicy
  maxConnections: number
  inboundConnectionsPerSecondPerHost: number
  connectTimeoutMs: number
} = {
  // per publisher per topic: PBFT sends a handful of messages per block; a block is far below 1 MiB
  gossipRateLimit: { messagesPerSecond: 100, burstMessages: 200, bytesPerSecond: 4 << 20, burstBytes: 8 << 20 },
  // per peer per protocol: a meter process hosting many meters should get a larger limit on /bbnp/report/1
  requestRateLimit: { messagesPerSecond: 20, burstMessages: 50, bytesPerSecond: 4 << 20, burstBytes: 8 << 20 },
  ban: { maxRejects: 8, windowMs: 60_000, durationMs: 10 * 60_000 },
  redial: { initialMs: 250, maxMs: 10_000 },
  maxConnections: 300,
  inboundConnectionsPerSecondPerHost: 100,
  connectTimeoutMs: 10_000
}

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

/**
 * Two timers of the pinned libraries outlive `stop()`: gossipsub 14.1.2 replaces its status on
 * stop without clearing the next heartbeat (up to one interval), and libp2p 2.10's address
 * manager debounces a peer-store update by 1 s when its listeners close. Neither does harm, but
 * each holds the process open after a shutdown; clear them. Reached defensively, since these
 * are internals: if a later version renames them, this does nothing.
 */
interface LibraryInternals {
  pubsub: { status?: { heartbeatTimeout?: ReturnType<typeof setTimeout> } } | undefined
  libp2p: { components?: { addressManager?: { _updatePeerStoreAddresses?: { stop?: () => void } } } }
}

function releaseLibraryTimers(libp2p: unknown, gossipStatus: { heartbeatTimeout?: ReturnType<typeof setTimeout> } | undefined): void {
  clearTimeout(gossipStatus?.heartbeatTimeout)
  ;(libp2p as LibraryInternals['libp2p']).components?.addressManager?._updatePeerStoreAddresses?.stop?.()
}

/** libp2p reports listen failures as one message holding every address's error and stack; keep one line. */
function listenFailure(e: unknown): string {
  const lines = errorMessage(e).split('\n')
  const perAddress = lines.filter((l) => /^\s+\/\S+: /.test(l)).map((l) => l.trim())
  return perAddress.length > 0 ? perAddress.join('; ') : lines[0]
}

function withPeerId(addr: string, peerId: string): string {
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${peerId}`
}

function checkSpecs(topics: TopicSpec[], protocols: ProtocolSpec[], gossipLimit: RateLimit, requestLimit: RateLimit): void {
  const seen = new Set<string>()
  for (const t of topics) {
    if (seen.has(t.name)) throw new BbnpError('CONFIG', `topic ${t.name} listed twice`)
    seen.add(t.name)
    const burst = t.rateLimit?.burstBytes ?? gossipLimit.burstBytes
    if (!(t.maxBytes > 0) || t.maxBytes > burst) throw new BbnpError('CONFIG', `topic ${t.name}: maxBytes must be in (0, ${burst}]`)
  }
  for (const p of protocols) {
    if (seen.has(p.id)) throw new BbnpError('CONFIG', `protocol ${p.id} listed twice`)
    seen.add(p.id)
    const burst = p.rateLimit?.burstBytes ?? requestLimit.burstBytes
    if (!(p.maxRequestBytes > 0) || p.maxRequestBytes > burst)
      throw new BbnpError('CONFIG', `protocol ${p.id}: maxRequestBytes must be in (0, ${burst}]`)
    if (!(p.maxResponseBytes > 0) || !(p.maxResponseFrames > 0) || !(p.timeoutMs > 0)) {
      throw new BbnpError('CONFIG', `protocol ${p.id}: response bounds and timeout must be positive`)
    }
  }
}

/**
 * Builds the libp2p node: TCP, Noise, Yamux, identify and (when asked) gossipsub, behind a
 * connection gater that admits only `allowedPeers` minus the banned. No discovery, DHT, relay,
 * autonat or UPnP: peers are known from the genesis and dialled explicitly.
 */
export async function createP2PNode(options: P2PNodeOptions, modules: P2PNodeModules): Promise<P2PNode> {
  const topics = options.gossip === false ? [] : options.gossip.topics
  const protocols = options.protocols ?? []
  const gossipLimit: RateLimit = { ...networkDefaults.gossipRateLimit, ...options.gossipRateLimit }
  const requestLimit: RateLimit = { ...networkDefaults.requestRateLimit, ...options.requestRateLimit }
  const banPolicy: BanPolicy = { ...networkDefaults.ban, ...options.ban }
  const redial: RedialPolicy = { ...networkDefaults.redial, ...options.redial }
  checkSpecs(topics, protocols, gossipLimit, requestLimit)
  for (const p of options.persistentPeers ?? []) {
    if (!options.allowedPeers.has(p.peerId)) throw new BbnpError('CONFIG', `persistent peer ${p.peerId} is not in allowedPeers`)
  }

  const selfId = peerIdFromPrivateKey(options.privateKey).toString()
  const log = modules.logger.child({ component: 'network', peerId: selfId })
  const m = modules.metrics
  const gossipMessages = m.counter('bbnp_gossip_messages_total', 'Gossip messages received, by topic and validation result and reason')
  const requests = m.counter('bbnp_reqresp_requests_total', 'Request/response exchanges, by protocol, side and result')
  const bans = m.counter('bbnp_peer_bans_total', 'Peers disconnected and banned for too many rejected inputs')
  const peersConnected = m.gauge('bbnp_peers_connected', 'Peers connected (identify completed on at least one connection)')
  const published = m.counter('bbnp_gossip_published_total', 'Gossip messages this node published, by topic')

  const guard = new PeerGuard(options.allowedPeers, banPolicy)
  const limiter = new RateLimiter()
  const topicByName = new Map(topics.map((t) => [t.name, t]))
  const protocolById = new Map(protocols.map((p) => [p.id, p]))
  const inflight = new Set<AbortController>()

  const libp2p: Libp2p<{ identify: Identify; pubsub?: PubSub<GossipsubEvents> }> = await createLibp2p({
    privateKey: options.privateKey,
    start: false,
    addresses: { listen: options.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: guard.gater(),
    connectionManager: {
      maxConnections: options.maxConnections ?? networkDefaults.maxConnections,
      inboundConnectionThreshold: options.inboundConnectionsPerSecondPerHost ?? networkDefaults.inboundConnectionsPerSecondPerHost
    },
    peerDiscovery: [],
    services: {
      identify: identify({ agentVersion: 'bbnp/0.1.0' }),
      ...(options.gossip === false ? {} : { pubsub: gossipsub(gossipsubOptions(topics)) })
    }
  })
  const pubsub = libp2p.services.pubsub as GossipSub | undefined

  const listeners = new Set<(e: PeerEvent) => void>()
  const emit = (event: PeerEvent) => {
    for (const l of listeners) {
      try {
        l(event)
      } catch (e) {
        log.warn('peer event listener threw', { error: errorMessage(e) })
      }
    }
  }

  // A peer counts as connected once identify has completed on one of its connections: only then
  // do we know the remote admitted us too. (With Noise XX the dialler finishes its handshake
  // before the listener sees its identity, so a listener that denies us still leaves the dialler
  // with a connection for a moment; it never shows up here.) connection id -> peer id
  const identified = new Map<string, string>()
  const identifiedPeers = new Map<string, number>()
  const identifyWaiters = new Map<string, (ok: boolean) => void>()
  const updatePeerGauge = () => peersConnected.set(identifiedPeers.size)

  const banPeer = (peerId: string) => {
    bans.inc()
    log.warn('peer banned', { peer: peerId, ms: banPolicy.durationMs })
    libp2p.hangUp(peerIdFromString(peerId)).catch((e: unknown) => log.debug('hang up failed', { peer: peerId, error: errorMessage(e) }))
  }

  async function connectOnce(peerId: string, addr: string, signal: AbortSignal): Promise<void> {
    let conn: Connection
    try {
      conn = await libp2p.dial(multiaddr(withPeerId(addr, peerId)), { signal })
    } catch (e) {
      throw new BbnpError('NO_CONNECTION', `cannot connect to ${peerId}: ${errorMessage(e)}`, { peer: peerId }, { cause: e })
    }
    if (identified.has(conn.id)) return
    if (conn.status !== 'open') throw new BbnpError('NO_CONNECTION', `${peerId} closed the connection`, { peer: peerId })
    const ok = await new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        identifyWaiters.delete(conn.id)
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      }
      const onAbort = () => done(false)
      identifyWaiters.set(conn.id, done)
      signal.addEventListener('abort', onAbort, { once: true })
      if (signal.aborted) done(false)
    })
    if (!ok) throw new BbnpError('NO_CONNECTION', `${peerId} did not accept the connection`, { peer: peerId })
  }

  const keeper = new PersistentPeers(
    options.persistentPeers ?? [],
    redial,
    (p: PersistentPeer, signal) =>
      connectOnce(p.peerId, p.addr, AbortSignal.any([signal, AbortSignal.timeout(networkDefaults.connectTimeoutMs)])),
    (id) => identifiedPeers.has(id),
    log
  )

  // Gossip watchdog: a persistent peer that stays connected while gossipsub knows none of its
  // subscriptions gets nothing we publish and sends us nothing (seen rarely at start-up, when
  // two peers dial each other at once and gossipsub's stream state is lost). Every persistent
  // peer of ours subscribes to at least one of our topics, so after a grace period the
  // connection is closed and the keeper dials it again, which rebuilds the gossip state.
  const unsubscribedSince = new Map<string, number>()
  let watchdog: ReturnType<typeof setInterval> | undefined
  const gossipRepairs = m.counter(
    'bbnp_gossip_repairs_total',
    'Peers hung up to rebuild their gossip streams, by reason (partial_close: one of several connections closed; unsubscribed: connected but unknown to gossipsub)'
  )
  const checkGossip = () => {
    if (pubsub === undefined || topics.length === 0 || state !== 'running') return
    const subscribed = new Set<string>()
    for (const t of topics) for (const p of pubsub.getSubscribers(t.name)) subscribed.add(p.toString())
    const now = Date.now()
    for (const p of options.persistentPeers ?? []) {
      if (!identifiedPeers.has(p.peerId) || subscribed.has(p.peerId)) {
        unsubscribedSince.delete(p.peerId)
        continue
      }
      const since = unsubscribedSince.get(p.peerId) ?? now
      unsubscribedSince.set(p.peerId, since)
      if (now - since < GOSSIP_GRACE_MS) continue
      unsubscribedSince.delete(p.peerId)
      gossipRepairs.inc({ reason: 'unsubscribed' })
      log.warn('connected peer unknown to gossip, reconnecting', { peer: p.peerId, ms: now - since })
      libp2p
        .hangUp(peerIdFromString(p.peerId))
        .catch((e: unknown) => log.debug('hang up failed', { peer: p.peerId, error: errorMessage(e) }))
    }
  }

  libp2p.addEventListener('peer:identify', (evt) => {
    const connId = evt.detail.connection.id
    const peerId = evt.detail.peerId.toString()
    identifyWaiters.get(connId)?.(true)
    if (identified.has(connId) || evt.detail.connection.status !== 'open') return
    identified.set(connId, peerId)
    const n = identifiedPeers.get(peerId) ?? 0
    identifiedPeers.set(peerId, n + 1)
    if (n === 0) {
      updatePeerGauge()
      emit({ type: 'connect', peerId })
    }
    keeper.onIdentified(peerId)
  })
  libp2p.addEventListener('connection:close', (evt) => {
    const connId = evt.detail.id
    identifyWaiters.get(connId)?.(false)
    const peerId = identified.get(connId)
    if (peerId === undefined) return
    identified.delete(connId)
    // A peer's connections end together. Two peers that dial each other at once keep two
    // connections, and gossipsub 14 keeps one outbound stream per peer, on one of them: when
    // that connection closes (a failed ping under load, a reset) while another stays open,
    // gossipsub neither notices nor opens a new stream, so nothing we publish reaches that peer
    // again (and the peer, in the same state, sends us nothing). Closing the rest makes gossipsub
    // forget the peer; the keeper (ours or theirs) dials again and the streams start afresh.
    // Checked again after a moment: when a peer dies, its connections close one after another.
    const remote = evt.detail.remotePeer
    const othersOpen = () => libp2p.getConnections(remote).some((c) => c.id !== connId && c.status === 'open')
    if (pubsub !== undefined && state === 'running' && othersOpen()) {
      setTimeout(() => {
        if (state !== 'running' || !othersOpen()) return
        gossipRepairs.inc({ reason: 'partial_close' })
        log.info('one of several connections to a peer closed, reconnecting', { peer: peerId })
        libp2p.hangUp(remote).catch((e: unknown) => log.debug('hang up failed', { peer: peerId, error: errorMessage(e) }))
      }, PARTIAL_CLOSE_GRACE_MS).unref()
    }
    const n = (identifiedPeers.get(peerId) ?? 1) - 1
    if (n > 0) {
      identifiedPeers.set(peerId, n)
      return
    }
    identifiedPeers.delete(peerId)
    updatePeerGauge()
    emit({ type: 'disconnect', peerId })
    keeper.onDisconnected(peerId)
  })

  const validationDeps: GossipValidationDeps = {
    guard,
    limiter,
    rateLimit: gossipLimit,
    messages: gossipMessages,
    logger: log,
    onBan: banPeer
  }
  if (pubsub !== undefined) {
    for (const t of topics) {
      pubsub.topicValidators.set(t.name, topicValidator(t, { ...validationDeps, rateLimit: { ...gossipLimit, ...t.rateLimit } }))
    }
    // gossipsub emits 'message' only for messages every validator accepted, once per message
    pubsub.addEventListener('message', (evt: CustomEvent<Message>) => {
      const msg = evt.detail
      const spec = topicByName.get(msg.topic)
      if (spec === undefined || msg.type !== 'signed') return
      try {
        spec.onMessage(msg.data, msg.from.toString())
      } catch (e) {
        log.error('gossip onMessage threw', { topic: msg.topic, error: errorMessage(e) })
      }
    })
  }

  let state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new'
  let stopping: Promise<void> | undefined

  const requireRunning = () => {
    if (state !== 'running') throw new BbnpError('NOT_STARTED', `network node is ${state}`)
  }

  const node: P2PNode = {
    peerId: selfId,

    async start() {
      if (state !== 'new') throw new BbnpError('NOT_STARTED', `network node cannot start when ${state}`)
      state = 'starting'
      try {
        await libp2p.start()
      } catch (e) {
        state = 'stopped'
        await Promise.resolve(libp2p.stop()).catch(() => {})
        releaseLibraryTimers(libp2p, undefined)
        throw new BbnpError('LISTEN', `cannot listen: ${listenFailure(e)}`, { listen: options.listen }, { cause: e })
      }
      for (const p of protocols) {
        if (p.handler === undefined) continue
        const rateLimit = { ...requestLimit, ...p.rateLimit }
        await libp2p.handle(
          p.id,
          serverHandler(p, { guard, limiter, rateLimit, requests, logger: log, onBan: banPeer, inflight }),
          handlerOptions()
        )
      }
      for (const t of topics) pubsub?.subscribe(t.name)
      state = 'running'
      keeper.start()
      watchdog = setInterval(checkGossip, 1000)
      watchdog.unref()
      log.info('network started', { addrs: libp2p.getMultiaddrs().map(String), topics: topics.length, protocols: protocols.length })
    },

    stop() {
      if (stopping !== undefined) return stopping
      stopping = (async () => {
        state = 'stopping'
        keeper.stop()
        clearInterval(watchdog)
        for (const done of identifyWaiters.values()) done(false)
        for (const deadline of inflight) deadline.abort(new BbnpError('NOT_STARTED', 'network node stopping'))
        const gossipStatus = (pubsub as unknown as LibraryInternals['pubsub'])?.status
        try {
          await libp2p.stop()
        } finally {
          releaseLibraryTimers(libp2p, gossipStatus)
          limiter.clear()
          identified.clear()
          identifiedPeers.clear()
          peersConnected.set(0)
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
      published.inc({ topic })
      return result.recipients.length
    },

    async request(peerId, protocol, data, opts = {}) {
      requireRunning()
      const spec = typeof protocol === 'string' ? protocolById.get(protocol) : protocol
      if (spec === undefined) throw new BbnpError('PROTOCOL', `not a protocol of this node: ${String(protocol)}`)
      return sendRequest(spec, peerId, data, opts, { libp2p, requests })
    },

    async connect(peerId, addr, opts = {}) {
      requireRunning()
      const signals = [AbortSignal.timeout(opts.timeoutMs ?? networkDefaults.connectTimeoutMs)]
      if (opts.signal !== undefined) signals.push(opts.signal)
      await connectOnce(peerId, addr, AbortSignal.any(signals))
    },

    connectedPeers: () => [...identifiedPeers.keys()],
    multiaddrs: () => libp2p.getMultiaddrs().map(String),
    meshPeers: (topic) => pubsub?.getMeshPeers(topic) ?? [],
    gossipScore: (peerId) => pubsub?.getScore(peerId) ?? 0,
    isBanned: (peerId) => guard.isBanned(peerId),
    onPeer(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    }
  }
  libp2pOf.set(node, libp2p)
  return node
}
