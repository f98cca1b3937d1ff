/**
 * The checks every consensus gossip message gets before it is accepted (PROTOCOL 4.2): it
 * decodes within bounds, it travels on its own topic, and the node it names is the publisher
 * gossipsub authenticated (StrictSign), or the gateway for Theta. Signatures are checked later,
 * by the replica, in batches. Shared by the consensus peers, the gateway and the benchmark's
 * gateway driver.
 */
import {
  type ConsensusMessage,
  type DecodeLimits,
  type DrawMessage,
  decodeMessage,
  drawOf,
  encodeMessage,
  TOPICS,
  topicOf
} from '@bbnp/consensus'
import { BbnpError, type ProtocolDescriptor } from '@bbnp/core'
import type { ProtocolSpec, TopicSpec, Verdict } from '@bbnp/network'
import type { ThetaResponder } from './theta.ts'

export interface GossipIdentity {
  limits: DecodeLimits
  /** consensus node index by peer ID */
  nodeOfPeer: ReadonlyMap<string, number>
  gatewayPeer: string
}

/** Why a consensus topic's validator refuses or ignores a message (the `reason` label of bbnp_gossip_messages_total). */
export const TOPIC_REJECT_REASONS = ['MALFORMED', 'WRONG_TOPIC', 'WRONG_SENDER', 'STALE', 'NOT_FOR_GATEWAY'] as const
export type TopicVerdict = Verdict<(typeof TOPIC_REJECT_REASONS)[number]>

export type GossipCheck = { verdict: TopicVerdict; message?: undefined } | { verdict: { action: 'accept' }; message: ConsensusMessage }

export function checkConsensusGossip(data: Uint8Array, from: string, topic: string, id: GossipIdentity): GossipCheck {
  let message: ConsensusMessage
  try {
    message = decodeMessage(data, id.limits)
  } catch {
    return { verdict: { action: 'reject', reason: 'MALFORMED' } }
  }
  if (topicOf(message) !== topic) return { verdict: { action: 'reject', reason: 'WRONG_TOPIC' } }
  const sender = message.kind === 'theta' ? from === id.gatewayPeer : id.nodeOfPeer.get(from) === message.node
  if (!sender) return { verdict: { action: 'reject', reason: 'WRONG_SENDER' } }
  return { verdict: { action: 'accept' }, message }
}

/**
 * The gateway's topics (PROTOCOL 4.1): it takes in the consensus nodes' draws, on the election
 * topic and carried in their COMMITs, and answers each (height, seed) with Theta through
 * `theta`; Theta from others, and commits without a draw, are ignored.
 */
export function gatewayTopics(opts: {
  id: GossipIdentity
  theta: ThetaResponder
  publish: (topic: string, data: Uint8Array) => void
  onDraw?: (draw: DrawMessage, answered: boolean) => void
}): TopicSpec[] {
  const drawn = new WeakMap<Uint8Array, DrawMessage>()
  const topic = (name: string): TopicSpec => ({
    name,
    maxBytes: 1024,
    validate(data, from): TopicVerdict {
      const check = checkConsensusGossip(data, from, name, opts.id)
      if (!check.message) return check.verdict
      const draw = drawOf(check.message)
      if (!draw) return { action: 'ignore', reason: 'NOT_FOR_GATEWAY' }
      drawn.set(data, draw)
      return check.verdict
    },
    onMessage(data) {
      const draw = drawn.get(data)
      if (!draw) return
      const signature = opts.theta.onDraw(draw)
      opts.onDraw?.(draw, signature !== null)
      if (signature) opts.publish(TOPICS.election, encodeMessage({ kind: 'theta', height: draw.height, seed: draw.seed, signature }))
    }
  })
  // Each topic carries only its own kinds (checkConsensusGossip): draws alone on the election
  // topic, draws carried in COMMITs on the commit topic.
  return [topic(TOPICS.election), topic(TOPICS.commit)]
}

/**
 * The request of `/bbnp/theta/1` and `/bbnp/draw/1`: the asking node's own draw, the same message
 * as on gossip, sent by that node's peer. Its signature is checked where it is used.
 */
export function decodeOwnDraw(req: Uint8Array, from: string, id: GossipIdentity): DrawMessage {
  let draw: ConsensusMessage
  try {
    draw = decodeMessage(req, id.limits)
  } catch {
    throw new BbnpError('MALFORMED', 'not a consensus message')
  }
  if (draw.kind !== 'draw') throw new BbnpError('MALFORMED', 'the request carries a draw')
  if (id.nodeOfPeer.get(from) !== draw.node) throw new BbnpError('REFUSED', 'a node asks with its own draw only')
  return draw
}

/**
 * The gateway's side of `/bbnp/theta/1`: a consensus peer that still lacks Theta sends its own
 * draw (the same message as on gossip) and gets Theta for that (height, seed) back. Only the
 * drawing node itself may ask, and only with a valid draw.
 */
export function thetaProtocol(opts: {
  descriptor: ProtocolDescriptor
  id: GossipIdentity
  theta: ThetaResponder
  onAnswer?: (answered: boolean) => void
}): ProtocolSpec {
  return {
    ...opts.descriptor,
    rateLimit: { messagesPerSecond: 20, burstMessages: 40 },
    handler: async (req, from) => {
      const draw = decodeOwnDraw(req, from, opts.id)
      const signature = opts.theta.answer(draw)
      opts.onAnswer?.(signature !== null)
      if (!signature) throw new BbnpError('REFUSED', 'invalid or out-of-range draw')
      return [encodeMessage({ kind: 'theta', height: draw.height, seed: draw.seed, signature })]
    }
  }
}
