import { createHash } from 'node:crypto'
import { errorMessage, type Counter, type Logger } from '@bbnp/core'
import type { GossipSub, GossipsubOpts } from '@chainsafe/libp2p-gossipsub'
import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from '@chainsafe/libp2p-gossipsub/score'
import { StrictSign, TopicValidatorResult, type Message, type PeerId, type TopicValidatorFn } from '@libp2p/interface'
import type { PeerGuard } from './peer-guard.ts'
import type { RateLimit, RateLimiter } from './rate-limit.ts'
import type { TopicSpec, Verdict } from './types.ts'

/**
 * Score thresholds. Only the graylist matters much here: below it gossipsub drops everything the
 * peer sends, including control messages.
 */
export const scoreThresholds: PeerScoreThresholds = {
  gossipThreshold: -10,
  publishThreshold: -50,
  graylistThreshold: -80,
  acceptPXThreshold: 100, // PX is off anyway
  opportunisticGraftThreshold: 2
}

/** The positive part of a peer's score (time in mesh, first deliveries) is capped at this. */
const TOPIC_SCORE_CAP = 10

/**
 * Scores decay every 5 s rather than gossipsub's 1 s: the decay runs on a timer of its own, and
 * each timer wakes an idle process (docs/performance.md). The decay factors below are per 5 s,
 * the 1 s factors raised to the fifth power, so every half-life stays what it was.
 */
const DECAY_INTERVAL_MS = 5000
const perInterval = (perSecond: number) => perSecond ** (DECAY_INTERVAL_MS / 1000)

/**
 * Topic scoring, the same for every topic:
 * - P1 (time in mesh) and P2 (first deliveries) give at most a few points, and all topics
 *   together at most TOPIC_SCORE_CAP, so good behaviour cannot buy much credit;
 * - P3/P3b (mesh delivery rate) are off: PBFT traffic is a few bursts per block, so a delivery
 *   rate threshold would punish honest peers between blocks;
 * - P4 (invalid deliveries) counts n rejects as -n^2. From the cap of +10, a peer is under the
 *   graylist (-80) after 10 rejects on one topic (9 with no credit); spread over k topics it
 *   needs about sqrt(90 k). The counter halves in about 6 minutes, so a slow trickle of rejects
 *   is still caught. The node's ban (default 8 rejects a minute) normally acts first; the
 *   graylist is the backstop for slower trickles and for signature failures that never reach
 *   our validator.
 */
const topicScore: TopicScoreParams = {
  topicWeight: 1,
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 300,
  firstMessageDeliveriesWeight: 0.5,
  firstMessageDeliveriesDecay: perInterval(0.9),
  firstMessageDeliveriesCap: 10,
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 1,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  invalidMessageDeliveriesWeight: -1,
  invalidMessageDeliveriesDecay: perInterval(0.998) // half-life ~346 s
}

export function scoreParams(topics: string[]): Partial<PeerScoreParams> {
  return {
    topics: Object.fromEntries(topics.map((t) => [t, topicScore])),
    topicScoreCap: TOPIC_SCORE_CAP,
    appSpecificScore: () => 0,
    appSpecificWeight: 1,
    // every peer of a devnet (and of these tests) shares one IP: co-location says nothing here
    IPColocationFactorWeight: 0,
    behaviourPenaltyWeight: -10,
    behaviourPenaltyThreshold: 0,
    behaviourPenaltyDecay: perInterval(0.2),
    decayInterval: DECAY_INTERVAL_MS,
    decayToZero: 0.01
  }
}

/**
 * Gossipsub settings for a permissioned mesh of 4 to 11 peers (M = 4..10 consensus peers plus the
 * gateway), all of them usually connected to each other.
 *
 * - floodPublish: a node sends its own messages straight to every subscribed peer, so in a full
 *   mesh every peer has a message after one hop (a few ms on loopback); the mesh only carries
 *   relays, which repair missing links.
 * - D = 3, Dlo = 2, Dhi = 5: with flood publishing in a (nearly) full mesh, relays are mostly
 *   redundant copies, and every copy costs decryption, framing and a hash at each receiver; three
 *   mesh links still give each message disjoint repair paths when a link is missing (measured: the
 *   lower degree cut a consensus peer's gossip work without slowing delivery). Dout = 1 (it must be
 *   < Dlo and <= D/2), Dscore = 1, Dlazy = 3 (gossip to non-mesh peers for repair).
 * - heartbeat 1 s (gossipsub's default): the mesh forms, and heals after a reconnect, within a
 *   second; each heartbeat wakes an idle peer, so not more often. The message cache keeps 10
 *   heartbeats (10 s) so IWANT repair still works across a short stall; gossip offers the last 3.
 * - strict signing: every message carries its publisher's key and signature, so `from` is
 *   authenticated; messages without them are dropped by gossipsub before our validator.
 * - no floodsub fallback, no peer exchange, only our topics, bounded RPC decoding.
 * - awaitRpcHandler / awaitRpcMessageHandler: one peer's messages are handled one at a time, so a
 *   flooding peer is slowed by its own stream (back-pressure) instead of piling up validations.
 */
export function fastMessageId(msg: { from?: Uint8Array; seqno?: Uint8Array; data?: Uint8Array; topic: string }): string {
  const h = createHash('sha256')
  h.update(msg.topic)
  h.update(new Uint8Array([0]))
  if (msg.from) h.update(msg.from)
  h.update(new Uint8Array([0]))
  if (msg.seqno) h.update(msg.seqno)
  h.update(new Uint8Array([0]))
  if (msg.data) h.update(msg.data)
  return h.digest('base64')
}

export function gossipsubOptions(topics: TopicSpec[]): Partial<GossipsubOpts> {
  const names = topics.map((t) => t.name)
  const largest = Math.max(0, ...topics.map((t) => t.maxBytes))
  return {
    globalSignaturePolicy: StrictSign,
    allowPublishToZeroTopicPeers: true,
    emitSelf: false,
    fallbackToFloodsub: false,
    floodPublish: true,
    doPX: false,
    D: 3,
    Dlo: 2,
    Dhi: 5,
    Dout: 1,
    Dscore: 1,
    Dlazy: 3,
    // gossipsub's default; each heartbeat wakes an idle peer (docs/performance.md). Publishing does
    // not wait for it: floodPublish sends to every subscribed peer at once.
    heartbeatInterval: 1000,
    mcacheLength: 10,
    mcacheGossip: 3,
    allowedTopics: names,
    // one RPC frame can carry several messages (IWANT answers), so allow a few of the largest
    maxInboundDataLength: Math.max(1 << 20, 4 * largest + 65536),
    decodeRpcLimits: {
      maxSubscriptions: 64,
      maxMessages: 256,
      maxIhaveMessageIDs: 1000,
      maxIwantMessageIDs: 1000,
      maxIdontwantMessageIDs: 1000,
      maxControlMessages: 64,
      maxPeerInfos: 0
    },
    awaitRpcHandler: true,
    awaitRpcMessageHandler: true,
    // Copies of a message relayed by several peers are recognised before their Ed25519 signature
    // is checked (measured: most of a peer's gossip CPU went to re-verifying duplicates). The id
    // covers the publisher, sequence number and data, and gossipsub records it only after the
    // first copy validated, so a forged copy cannot shadow the real one.
    fastMsgIdFn: fastMessageId,
    scoreParams: scoreParams(names),
    scoreThresholds
  }
}

export interface GossipValidationDeps {
  /** This node's peer ID. */
  selfId: string
  guard: PeerGuard
  limiter: RateLimiter
  rateLimit: RateLimit
  messages: Counter<'topic' | 'result' | 'reason'>
  logger: Logger
  /** Called when a reject pushes the delivering peer over the ban bound. */
  onBan(peerId: string): void
}

const REASON_MAX = 64
const VALIDATION_DEADLINE_MS = 5000

/**
 * The one place where a validation outcome becomes a gossipsub result: it counts the outcome in
 * `bbnp_gossip_messages_total{topic, result, reason}`, charges a reject to the peer that
 * delivered the message (the one gossipsub also penalises), and answers Accept / Ignore / Reject.
 */
export function applyVerdict(topic: string, verdict: Verdict, deliveredBy: string, deps: GossipValidationDeps): TopicValidatorResult {
  switch (verdict.action) {
    case 'accept':
      deps.messages.inc({ topic, result: 'accept', reason: 'OK' })
      return TopicValidatorResult.Accept
    case 'ignore':
      deps.messages.inc({ topic, result: 'ignore', reason: verdict.reason.slice(0, REASON_MAX) })
      return TopicValidatorResult.Ignore
    case 'reject':
      deps.messages.inc({ topic, result: 'reject', reason: verdict.reason.slice(0, REASON_MAX) })
      if (deps.guard.recordReject(deliveredBy)) deps.onBan(deliveredBy)
      return TopicValidatorResult.Reject
    default:
      // a validator returned something that is not a Verdict: treat it as a bug in the input path
      deps.messages.inc({ topic, result: 'reject', reason: 'BAD_VERDICT' })
      return TopicValidatorResult.Reject
  }
}

/**
 * Everything checked before and around the topic's own validator, cheapest first: a delivering
 * peer banned a moment ago (ignored), size (so nothing oversized is ever parsed), an
 * authenticated publisher on the allow list (which also bounds the rate-limit state) and not
 * banned, the publisher's rate on this topic, then the validator, whose throw is a MALFORMED
 * reject and never a crash, and whose silence past a deadline is an ignore.
 */
async function judge(spec: TopicSpec, msg: Message, deliveredBy: string, deps: GossipValidationDeps): Promise<Verdict<string>> {
  // banned a moment ago: its connection is being closed; what it relays reaches us by other paths
  if (deps.guard.isBanned(deliveredBy)) return { action: 'ignore', reason: 'BANNED' }
  if (msg.type !== 'signed') return { action: 'reject', reason: 'UNSIGNED' }
  if (msg.data.length > spec.maxBytes) return { action: 'reject', reason: 'OVERSIZED' }
  const from = msg.from.toString()
  // Our own message, relayed back: after a restart, gossip offers what the previous run published
  // (gossipsub leaves "from ourselves but not published here" to the application). Not the
  // relay's fault; charging it got an honest peer banned by a peer that had just restarted.
  if (from === deps.selfId) return { action: 'ignore', reason: 'OWN_MESSAGE' }
  if (!deps.guard.isAllowed(from)) return { action: 'reject', reason: 'UNKNOWN_PUBLISHER' }
  // we banned the publisher, but whoever relayed its message did not: no blame on the relay
  if (deps.guard.isBanned(from)) return { action: 'ignore', reason: 'BANNED' }
  if (!deps.limiter.allow(`${from}|${spec.name}`, msg.data.length, deps.rateLimit)) {
    return { action: 'ignore', reason: 'RATE_LIMITED' }
  }
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    // one peer's messages are validated in order, so a validator that never answers would stall
    // everything that peer sends: past the deadline the message is dropped without blame
    const late = new Promise<Verdict>((resolve) => {
      timer = setTimeout(() => resolve({ action: 'ignore', reason: 'VALIDATION_TIMEOUT' }), VALIDATION_DEADLINE_MS)
    })
    return await Promise.race([spec.validate(msg.data, from), late])
  } catch (e) {
    deps.logger.debug('gossip validator threw', { topic: spec.name, from, error: errorMessage(e) })
    return { action: 'reject', reason: 'MALFORMED' }
  } finally {
    clearTimeout(timer)
  }
}

export function topicValidator(spec: TopicSpec, deps: GossipValidationDeps): TopicValidatorFn {
  return async (peer: PeerId, msg: Message) => {
    const deliveredBy = peer.toString()
    return applyVerdict(spec.name, await judge(spec, msg, deliveredBy, deps), deliveredBy, deps)
  }
}

/**
 * Puts each topic's validator (with the topic's own rate limit over `deps.rateLimit`) on
 * gossipsub, and hands the messages it accepted to their topic's `onMessage`.
 */
export function attachTopics(pubsub: GossipSub, topicByName: ReadonlyMap<string, TopicSpec>, deps: GossipValidationDeps): void {
  for (const t of topicByName.values()) {
    pubsub.topicValidators.set(t.name, topicValidator(t, { ...deps, rateLimit: { ...deps.rateLimit, ...t.rateLimit } }))
  }
  // gossipsub emits 'message' only for messages every validator accepted, once per message
  pubsub.addEventListener('message', (evt: CustomEvent<Message>) => {
    const msg = evt.detail
    const spec = topicByName.get(msg.topic)
    if (spec === undefined || msg.type !== 'signed') return
    try {
      spec.onMessage(msg.data, msg.from.toString())
    } catch (e) {
      deps.logger.error('gossip onMessage threw', { topic: msg.topic, error: errorMessage(e) })
    }
  })
}
