import { BbnpError } from '@bbnp/core'
import type { BanPolicy } from './peer-guard.ts'
import type { RateLimit } from './rate-limit.ts'
import type { P2PNodeOptions, ProtocolSpec, RedialPolicy, TopicSpec } from './types.ts'

export const networkDefaults: {
  gossipRateLimit: RateLimit
  requestRateLimit: RateLimit
  ban: BanPolicy
  redial: RedialPolicy
  maxConnections: number
  inboundConnectionsPerSecondPerHost: number
  connectTimeoutMs: number
  connectionPingMs: number
} = {
  // per publisher per topic: PBFT sends a handful of messages per block; a block is far below 1 MiB
  gossipRateLimit: { messagesPerSecond: 100, burstMessages: 200, bytesPerSecond: 4 << 20, burstBytes: 8 << 20 },
  // per peer per protocol: a meter process hosting many meters should get a larger limit on /bbnp/report/1
  requestRateLimit: { messagesPerSecond: 20, burstMessages: 50, bytesPerSecond: 4 << 20, burstBytes: 8 << 20 },
  ban: { maxRejects: 8, windowMs: 60_000, durationMs: 10 * 60_000 },
  redial: { initialMs: 250, maxMs: 10_000 },
  maxConnections: 300,
  inboundConnectionsPerSecondPerHost: 100,
  connectTimeoutMs: 10_000,
  // libp2p's connection monitor opens a stream on every connection this often to see that it is
  // alive, and aborts it if that fails: the one way a connection whose far host vanished without
  // closing it (a cut cable) is noticed. Every 10 s (libp2p's default) it was a peer's largest
  // idle cost on the network; a dead link is now noticed within 30 s plus the ping's timeout.
  connectionPingMs: 30_000
}

/** A node's options with the defaults filled in and the specs checked. */
export interface NetworkSettings {
  topics: TopicSpec[]
  protocols: ProtocolSpec[]
  gossipRateLimit: RateLimit
  requestRateLimit: RateLimit
  ban: BanPolicy
  redial: RedialPolicy
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

/** Fills in `networkDefaults` and refuses inconsistent options (CONFIG) before anything is built. */
export function resolveOptions(options: P2PNodeOptions): NetworkSettings {
  const settings: NetworkSettings = {
    topics: options.gossip === false ? [] : options.gossip.topics,
    protocols: options.protocols ?? [],
    gossipRateLimit: { ...networkDefaults.gossipRateLimit, ...options.gossipRateLimit },
    requestRateLimit: { ...networkDefaults.requestRateLimit, ...options.requestRateLimit },
    ban: { ...networkDefaults.ban, ...options.ban },
    redial: { ...networkDefaults.redial, ...options.redial }
  }
  checkSpecs(settings.topics, settings.protocols, settings.gossipRateLimit, settings.requestRateLimit)
  for (const p of options.persistentPeers ?? []) {
    if (!options.allowedPeers.has(p.peerId)) throw new BbnpError('CONFIG', `persistent peer ${p.peerId} is not in allowedPeers`)
  }
  return settings
}
