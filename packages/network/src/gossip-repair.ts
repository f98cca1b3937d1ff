import type { Counter, Logger, MetricsRegistry } from '@bbnp/core'
import type { ConnectionInfo } from './connections.ts'

/** How long a connected persistent peer may stay unknown to gossipsub before we reconnect to it. */
const GOSSIP_GRACE_MS = 5000
/** How long after one of a peer's connections closed the others must still be open to count as a partial close. */
const PARTIAL_CLOSE_GRACE_MS = 300
/** How often the watchdog compares the persistent peers with gossipsub's subscribers, when gossipsub does not tell us its heartbeats. */
const WATCHDOG_INTERVAL_MS = 1000

export interface GossipRepairDeps {
  /**
   * The node's gossipsub; without one (a node that does not gossip) nothing is ever repaired.
   * With its heartbeat event the watchdog runs after each heartbeat (every second) instead of on
   * a timer of its own: an idle process then wakes once for both (docs/performance.md).
   */
  pubsub:
    | {
        getSubscribers(topic: string): { toString(): string }[]
        addEventListener?(type: 'gossipsub:heartbeat', listener: () => void): void
        removeEventListener?(type: 'gossipsub:heartbeat', listener: () => void): void
      }
    | undefined
  /** The node's topic names. */
  topics: string[]
  /** Peer IDs of the node's persistent peers. */
  persistentPeers: string[]
  /** Identify completed on at least one of the peer's connections. */
  isConnected(peerId: string): boolean
  /** libp2p's connections to the peer, open or closing. */
  connections(peerId: string): ConnectionInfo[]
  /** Closes every connection to the peer; never throws. */
  hangUp(peerId: string): void
  metrics: MetricsRegistry
  logger: Logger
  now?: () => number
}

/**
 * Two ways a peer can stay connected while gossip between us has silently stopped, and the one
 * repair for both: hang up, so that gossipsub forgets the peer and a new connection (dialled by
 * our keeper or by theirs) starts its streams afresh. Each repair is counted by reason. Acts only
 * between `start()` and `stop()`.
 */
export class GossipRepair {
  private readonly deps: GossipRepairDeps
  private readonly now: () => number
  private readonly repairs: Counter<'reason'>
  /** persistent peer id -> when the watchdog first saw it connected but unknown to gossipsub */
  private readonly unsubscribedSince = new Map<string, number>()
  private watchdog: ReturnType<typeof setInterval> | undefined
  private readonly onHeartbeat = () => this.checkSubscriptions()
  private running = false

  constructor(deps: GossipRepairDeps) {
    this.deps = deps
    this.now = deps.now ?? Date.now
    this.repairs = deps.metrics.counter(
      'bbnp_gossip_repairs_total',
      'Peers hung up to rebuild their gossip streams, by reason (partial_close: one of several connections closed; unsubscribed: connected but unknown to gossipsub)',
      { labels: { reason: ['partial_close', 'unsubscribed'] } }
    )
  }

  start(): void {
    this.running = true
    const { pubsub } = this.deps
    if (pubsub?.addEventListener) pubsub.addEventListener('gossipsub:heartbeat', this.onHeartbeat)
    else {
      this.watchdog = setInterval(() => this.checkSubscriptions(), WATCHDOG_INTERVAL_MS)
      this.watchdog.unref()
    }
  }

  stop(): void {
    this.running = false
    this.deps.pubsub?.removeEventListener?.('gossipsub:heartbeat', this.onHeartbeat)
    clearInterval(this.watchdog)
  }

  /**
   * Gossip watchdog: a persistent peer that stays connected while gossipsub knows none of its
   * subscriptions gets nothing we publish and sends us nothing (seen rarely at start-up, when
   * two peers dial each other at once and gossipsub's stream state is lost). Every persistent
   * peer of ours subscribes to at least one of our topics, so after a grace period the
   * connection is closed and the keeper dials it again, which rebuilds the gossip state.
   * Runs after every gossipsub heartbeat (or every WATCHDOG_INTERVAL_MS) while started.
   */
  checkSubscriptions(): void {
    const { pubsub, topics } = this.deps
    if (pubsub === undefined || topics.length === 0 || !this.running) return
    const subscribed = new Set<string>()
    for (const t of topics) for (const p of pubsub.getSubscribers(t)) subscribed.add(p.toString())
    const now = this.now()
    for (const peerId of this.deps.persistentPeers) {
      if (!this.deps.isConnected(peerId) || subscribed.has(peerId)) {
        this.unsubscribedSince.delete(peerId)
        continue
      }
      const since = this.unsubscribedSince.get(peerId) ?? now
      this.unsubscribedSince.set(peerId, since)
      if (now - since < GOSSIP_GRACE_MS) continue
      this.unsubscribedSince.delete(peerId)
      this.repairs.inc({ reason: 'unsubscribed' })
      this.deps.logger.warn('connected peer unknown to gossip, reconnecting', { peer: peerId, ms: now - since })
      this.deps.hangUp(peerId)
    }
  }

  /**
   * One of the peer's identified connections closed. A peer's connections end together. Two
   * peers that dial each other at once keep two connections, and gossipsub 14 keeps one outbound
   * stream per peer, on one of them: when that connection closes (a failed ping under load, a
   * reset) while another stays open, gossipsub neither notices nor opens a new stream, so nothing
   * we publish reaches that peer again (and the peer, in the same state, sends us nothing).
   * Closing the rest makes gossipsub forget the peer; the keeper (ours or theirs) dials again and
   * the streams start afresh. Checked again after a moment: when a peer dies, its connections
   * close one after another.
   */
  connectionClosed(connId: string, peerId: string): void {
    const othersOpen = () => this.deps.connections(peerId).some((c) => c.id !== connId && c.status === 'open')
    if (this.deps.pubsub === undefined || !this.running || !othersOpen()) return
    setTimeout(() => {
      if (!this.running || !othersOpen()) return
      this.repairs.inc({ reason: 'partial_close' })
      this.deps.logger.info('one of several connections to a peer closed, reconnecting', { peer: peerId })
      this.deps.hangUp(peerId)
    }, PARTIAL_CLOSE_GRACE_MS).unref()
  }
}
