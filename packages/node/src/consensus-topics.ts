/**
 * A consensus peer's gossip topics (PROTOCOL 4.2): one per phase, plus the reputation topic
 * (PROTOCOL 4.4). The validators check what can be checked without keys (decoding within
 * bounds, the topic, that the named node is the authenticated publisher, freshness) and answer
 * accept / ignore / reject; signatures are checked later by the replica, in batches (4.3).
 */
import { type ConsensusMessage, TOPICS } from '@bbnp/consensus'
import type { TopicSpec } from '@bbnp/network'
import { decodeSignedOpinionVector } from '@bbnp/reputation'
import { checkConsensusGossip, type GossipIdentity, type TopicVerdict } from './gossip-checks.ts'

export interface ConsensusTopicsOptions {
  identity: GossipIdentity
  /** Consensus nodes (M). */
  nodes: number
}

export interface ConsensusTopicsModules {
  /** The height the replica works on, and the opinion height of its head (for freshness). */
  position: () => { height: number; opinionHeight: number }
  onMessage: (message: ConsensusMessage) => void
  onOpinion: (encoded: Uint8Array) => void
}

/** Every topic a consensus peer subscribes to. */
export function consensusTopics(o: ConsensusTopicsOptions, m: ConsensusTopicsModules): TopicSpec[] {
  const decoded = new WeakMap<Uint8Array, ConsensusMessage>()
  const phase = (name: string): TopicSpec => ({
    name,
    maxBytes: 4 * o.identity.limits.maxBlockBytes + 64 * 1024,
    validate(data, from): TopicVerdict {
      const check = checkConsensusGossip(data, from, name, o.identity)
      if (!check.message) return check.verdict
      if (check.message.height + 1 < m.position().height) return { action: 'ignore', reason: 'STALE' }
      decoded.set(data, check.message)
      return check.verdict
    },
    onMessage(data) {
      const msg = decoded.get(data)
      if (msg) m.onMessage(msg)
    }
  })
  const reputation: TopicSpec = {
    name: TOPICS.reputation,
    maxBytes: 1024 + o.nodes * 128,
    validate(data, from): TopicVerdict {
      let observer: number
      let height: number
      try {
        const sv = decodeSignedOpinionVector(data, { nodes: o.nodes })
        observer = sv.vector.observer
        height = sv.vector.height
      } catch {
        return { action: 'reject', reason: 'MALFORMED' }
      }
      if (o.identity.nodeOfPeer.get(from) !== observer) return { action: 'reject', reason: 'WRONG_SENDER' }
      if (height <= m.position().opinionHeight) return { action: 'ignore', reason: 'STALE' }
      return { action: 'accept' }
    },
    onMessage: (data) => m.onOpinion(data)
  }
  return [
    ...Object.values(TOPICS)
      .filter((t) => t !== TOPICS.reputation)
      .map(phase),
    reputation
  ]
}
