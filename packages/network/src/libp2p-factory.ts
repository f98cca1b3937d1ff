import { errorMessage, type MetricsRegistry } from '@bbnp/core'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type GossipSub, type GossipsubEvents, gossipsub } from '@chainsafe/libp2p-gossipsub'
import { type Identify, identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p, PubSub } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { cacheEd25519Verification, withCachedSigning } from './ed25519-keys.ts'
import { gossipsubOptions } from './gossip.ts'
import { gossipsubMetricsRegister, gossipsubTopicLabels, libp2pMetrics } from './libp2p-metrics.ts'
import { networkDefaults } from './options.ts'
import type { P2PNodeOptions, TopicSpec } from './types.ts'
import { sendYamuxWindowUpdatesAtHalf } from './yamux-window.ts'

export type NodeLibp2p = Libp2p<{ identify: Identify; pubsub?: PubSub<GossipsubEvents> }>

/**
 * Builds the libp2p node: TCP, Noise, Yamux, identify and (when asked) gossipsub, behind a
 * connection gater that admits only `allowedPeers` minus the banned. No discovery, DHT, relay,
 * autonat or UPnP: peers are known from the genesis and dialled explicitly. libp2p's and gossipsub's
 * metrics go to the node's registry (libp2p-metrics.ts). It is not started. Two library hot paths
 * are trimmed first (ed25519-keys.ts, yamux-window.ts).
 */
export async function buildLibp2p(
  options: P2PNodeOptions,
  topics: TopicSpec[],
  gater: ConnectionGater,
  metrics: MetricsRegistry
): Promise<NodeLibp2p> {
  cacheEd25519Verification(options.privateKey)
  sendYamuxWindowUpdatesAtHalf()
  const gossip = {
    ...gossipsubOptions(topics),
    metricsRegister: gossipsubMetricsRegister(metrics.registry),
    metricsTopicStrToLabel: gossipsubTopicLabels(topics.map((t) => t.name))
  }
  return createLibp2p({
    privateKey: withCachedSigning(options.privateKey),
    start: false,
    addresses: { listen: options.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: gater,
    connectionManager: {
      maxConnections: options.maxConnections ?? networkDefaults.maxConnections,
      inboundConnectionThreshold: options.inboundConnectionsPerSecondPerHost ?? networkDefaults.inboundConnectionsPerSecondPerHost
    },
    connectionMonitor: { pingInterval: networkDefaults.connectionPingMs },
    peerDiscovery: [],
    metrics: await libp2pMetrics(metrics.registry),
    services: {
      identify: identify({ agentVersion: 'bbnp/0.1.0' }),
      ...(options.gossip === false ? {} : { pubsub: gossipsub(gossip) })
    }
  })
}

/** The node's gossipsub, when it gossips. */
export function gossipsubOf(libp2p: NodeLibp2p): GossipSub | undefined {
  return libp2p.services.pubsub as GossipSub | undefined
}

/**
 * Two timers of the pinned libraries outlive `stop()`: gossipsub 14.1.2 replaces its status on
 * stop without clearing the next heartbeat (up to one interval), and libp2p 2.10's address
 * manager debounces a peer-store update by 1 s when its listeners close. Neither does harm, but
 * each holds the process open after a shutdown; clear them. Reached defensively, since these
 * are internals: if a later version renames them, this does nothing.
 */
interface LibraryInternals {
  pubsub: { status?: GossipStatus } | undefined
  libp2p: { components?: { addressManager?: { _updatePeerStoreAddresses?: { stop?: () => void } } } }
}

type GossipStatus = { heartbeatTimeout?: ReturnType<typeof setTimeout> }

/** Gossipsub's status while it runs; read before `stop()`, which replaces it. */
export function gossipStatusOf(pubsub: GossipSub | undefined): GossipStatus | undefined {
  return (pubsub as unknown as LibraryInternals['pubsub'])?.status
}

export function releaseLibraryTimers(libp2p: unknown, gossipStatus: GossipStatus | undefined): void {
  clearTimeout(gossipStatus?.heartbeatTimeout)
  ;(libp2p as LibraryInternals['libp2p']).components?.addressManager?._updatePeerStoreAddresses?.stop?.()
}

/** libp2p reports listen failures as one message holding every address's error and stack; keep one line. */
export function listenFailure(e: unknown): string {
  const lines = errorMessage(e).split('\n')
  const perAddress = lines.filter((l) => /^\s+\/\S+: /.test(l)).map((l) => l.trim())
  return perAddress.length > 0 ? perAddress.join('; ') : lines[0]
}
