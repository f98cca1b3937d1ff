import type { Logger, MetricsRegistry, ProtocolDescriptor } from '@bbnp/core'
import type { PrivateKey } from '@libp2p/interface'
import type { BanPolicy } from './peer-guard.ts'
import type { RateLimit } from './rate-limit.ts'

/**
 * What a topic validator answers. `ignore` drops the message without blame (stale, duplicate,
 * not for us now); `reject` drops it and blames the peer that delivered it (invalid: its gossip
 * score drops and it moves towards a ban). `reason` is a short fixed code, used as a metric label.
 */
export type Verdict<R extends string = string> = { action: 'accept' } | { action: 'ignore' | 'reject'; reason: R }

/** The reasons the network layer itself gives, before or instead of a topic's validator. */
export const NETWORK_VERDICT_REASONS = [
  'BANNED',
  'UNSIGNED',
  'OVERSIZED',
  'UNKNOWN_PUBLISHER',
  'OWN_MESSAGE',
  'RATE_LIMITED',
  'VALIDATION_TIMEOUT',
  'MALFORMED',
  'BAD_VERDICT'
] as const
export type NetworkVerdictReason = (typeof NETWORK_VERDICT_REASONS)[number]

/** A gossip topic, as data. Every node that uses a topic (to publish or to receive) lists it. */
export interface TopicSpec {
  name: string
  /** Messages larger than this are rejected (OVERSIZED) before the validator runs. */
  maxBytes: number
  /**
   * Decides accept / ignore / reject. `from` is the authenticated publisher (gossipsub strict
   * signing), not the peer that relayed the message. A throw is a reject with reason MALFORMED.
   */
  validate(data: Uint8Array, from: string): Verdict | Promise<Verdict>
  /** Receives accepted messages only, once each. */
  onMessage(data: Uint8Array, from: string): void
  /** Overrides the node's gossip rate limit for this topic (per publisher). */
  rateLimit?: Partial<RateLimit>
}

export type ResponseFrames = Promise<Uint8Array[]> | AsyncIterable<Uint8Array>

/**
 * A request/response protocol, as data: one length-prefixed request frame per stream, then zero
 * or more length-prefixed response frames and an end (or error) marker, then the stream closes
 * (wire format in reqresp.ts). The bounds apply to both sides: a server refuses larger requests,
 * a client refuses larger or more responses.
 */
export interface ProtocolSpec extends ProtocolDescriptor {
  /**
   * Serves the protocol. A spec without a handler is client-only: it gives `request()` its
   * bounds without making this node serve the protocol (a meter asks the gateway, never answers).
   * A thrown `BbnpError`'s code (e.g. NOT_FOUND) reaches the client as the REFUSED error's
   * `meta.reason`; MALFORMED and OVERSIZED also count against the requesting peer (towards a ban).
   * `signal` aborts when the deadline passes or the stream goes away.
   */
  handler?: (request: Uint8Array, from: string, signal: AbortSignal) => ResponseFrames
  /** Overrides the node's request rate limit for this protocol (per requesting peer). */
  rateLimit?: Partial<RateLimit>
}

export interface PersistentPeer {
  peerId: string
  /** A multiaddr, with or without the trailing /p2p/<peerId>. */
  addr: string
}

export interface RedialPolicy {
  initialMs: number
  maxMs: number
}

export interface P2PNodeOptions {
  /** The node's libp2p identity (Ed25519), from @libp2p/crypto/keys. */
  privateKey: PrivateKey
  /** Multiaddrs to listen on; empty for a node that only dials (a meter). Port 0 picks a free port. */
  listen: string[]
  /** Peer IDs admitted by the connection gater, inbound and outbound. Read live, never copied. */
  allowedPeers: ReadonlySet<string>
  /** Dialled at start and re-dialled with backoff whenever their connection drops, until stop(). */
  persistentPeers?: PersistentPeer[]
  gossip: false | { topics: TopicSpec[] }
  protocols?: ProtocolSpec[]
  /** Per (publisher, topic). Defaults: `networkDefaults.gossipRateLimit`. */
  gossipRateLimit?: Partial<RateLimit>
  /** Per (requesting peer, protocol). Defaults: `networkDefaults.requestRateLimit`. */
  requestRateLimit?: Partial<RateLimit>
  ban?: Partial<BanPolicy>
  redial?: Partial<RedialPolicy>
  /** libp2p connection limit. */
  maxConnections?: number
  /** New inbound connections per second accepted from one IP (libp2p's default of 5 is too low for a devnet on one host). */
  inboundConnectionsPerSecondPerHost?: number
}

export interface P2PNodeModules {
  logger: Logger
  metrics: MetricsRegistry
}

export interface RequestOptions {
  /** Overrides the protocol's `timeoutMs` for this request (dial, write and read together). */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface PeerEvent {
  type: 'connect' | 'disconnect'
  peerId: string
}

/** Codes of the errors this package throws (as `BbnpError`). */
export type NetworkErrorCode =
  | 'TIMEOUT' // the deadline passed
  | 'ABORTED' // the caller's signal aborted
  | 'OVERSIZED' // a frame or message exceeds its bound
  | 'PROTOCOL' // unknown topic or protocol, the peer does not serve it, or it broke the framing
  | 'NO_CONNECTION' // the peer could not be reached (unknown address, refused, denied by a gater)
  | 'REFUSED' // the peer reset the stream (rate limit, oversized request, its own deadline or failure)
  | 'NOT_STARTED' // the node is not running
  | 'LISTEN' // start() could not listen (address in use, bad multiaddr)
  | 'CONFIG' // inconsistent options
