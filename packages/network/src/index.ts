/**
 * The libp2p adapter: TCP + Noise + Yamux + identify + gossipsub behind an allow-list gater.
 * Topics and protocols are data (`TopicSpec`, `ProtocolSpec`); the consensus-side checks live in
 * the validators and handlers that callers pass in, never here. Every input is size-bounded,
 * rate-limited per peer, and its outcome counted; peers that keep sending invalid input are banned.
 */
export { applyVerdict, gossipsubOptions, scoreThresholds } from './gossip.ts'
export { networkDefaults } from './options.ts'
export { createP2PNode, type P2PNode } from './p2p-node.ts'
export type { BanPolicy } from './peer-guard.ts'
export type { RateLimit } from './rate-limit.ts'
export type {
  NetworkErrorCode,
  P2PNodeModules,
  P2PNodeOptions,
  PeerEvent,
  PersistentPeer,
  ProtocolSpec,
  RedialPolicy,
  RequestOptions,
  ResponseFrames,
  NetworkVerdictReason,
  TopicSpec,
  Verdict
} from './types.ts'
export { NETWORK_VERDICT_REASONS } from './types.ts'
