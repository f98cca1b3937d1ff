/**
 * The request/response protocols a consensus peer serves (PROTOCOL 6.4): the gateway's aggregate
 * handoff, the recovery committee's endorsement and partial rounds (PROTOCOL 3.5.5), and blocks
 * and status for catch-up; and the one it asks: Theta from the gateway when gossip did not bring it.
 */
import { BbnpError, type Logger, type MetricsRegistry } from '@bbnp/core'
import { type BlockStore, decodeBlocksRequest, encodeStatus, serveBlocks, statusOf } from '@bbnp/chain'
import {
  type ConsensusMessage,
  decodeAggregate,
  decodeMessage,
  type DrawMessage,
  encodeMessage,
  type SignedAggregate
} from '@bbnp/consensus'
import type { P2PNode, ProtocolSpec } from '@bbnp/network'
import { decodeEndorseRequest, decodePartialRequest, encodeHandoffAck, type WireProtocols } from './protocols.ts'
import type { RecoveryCommittee } from './recovery-committee.ts'

export interface ConsensusProtocolDeps {
  wire: WireProtocols
  gatewayPeer: string
  meters: number
  nodes: number
  store: BlockStore
  committee: RecoveryCommittee
  /** A 'silent' peer (devnet misbehaviour) answers the gateway nothing. */
  silent: boolean
  metrics: MetricsRegistry
  /** An aggregate that no stored block holds yet. */
  onAggregate: (aggregate: SignedAggregate, now: number) => void
}

export function consensusProtocols(d: ConsensusProtocolDeps): ProtocolSpec[] {
  const mHandoffs = d.metrics.counter('bbnp_aggregates_received_total', 'Signed aggregates received from the gateway')
  const fromGateway = (from: string, what: string) => {
    if (from !== d.gatewayPeer || d.silent) throw new BbnpError('REFUSED', `only the gateway ${what}`)
  }
  return [
    {
      ...d.wire.aggregate,
      rateLimit: { messagesPerSecond: 200, burstMessages: 400 },
      handler: async (req, from) => {
        if (from !== d.gatewayPeer) throw new BbnpError('REFUSED', 'only the gateway hands off aggregates')
        const aggregate = decodeAggregate(req, d.wire.aggregate.maxRequestBytes)
        mHandoffs.inc()
        const { store } = d
        const held = aggregate.slot <= store.head().slot && (await store.heightsBySlot(aggregate.slot, aggregate.slot, 1)).length > 0
        if (!held) d.onAggregate(aggregate, Date.now())
        return [encodeHandoffAck({ headSlot: store.head().slot, held })]
      }
    },
    {
      ...d.wire.endorse,
      // One request per slot (and per retry) of up to 64 bytes per meter: the byte bucket holds
      // eight of them whatever N is, so a large network is not refused at start (6.1).
      rateLimit: {
        bytesPerSecond: Math.max(4 << 20, 4 * d.wire.endorse.maxRequestBytes),
        burstBytes: Math.max(8 << 20, 8 * d.wire.endorse.maxRequestBytes)
      },
      handler: async (req, from) => {
        fromGateway(from, 'asks for endorsements')
        return [await d.committee.endorse(decodeEndorseRequest(req, d.meters))]
      }
    },
    {
      ...d.wire.partial,
      handler: async (req, from) => {
        fromGateway(from, 'asks for partial sums')
        return [await d.committee.partial(decodePartialRequest(req, d.nodes))]
      }
    },
    { ...d.wire.blocks, handler: (req) => serveBlocks(d.store, decodeBlocksRequest(req)) },
    { ...d.wire.status, handler: async () => [encodeStatus(statusOf(d.store))] }
  ]
}

export interface ThetaFetchDeps {
  wire: WireProtocols
  gatewayPeer: string
  limits: { maxBlockBytes: number; nodes: number }
  p2p: () => P2PNode | undefined
  logger: Logger
  metrics: MetricsRegistry
  /** Handles the fetched Theta as if it had been gossiped. */
  onTheta: (message: ConsensusMessage) => Promise<void>
}

/** PROTOCOL 4.1: Theta from the gateway over a stream, when gossip did not bring it. */
export function thetaFetcher(d: ThetaFetchDeps): (draw: DrawMessage) => Promise<void> {
  const mFetches = d.metrics.counter(
    'bbnp_theta_requests_total',
    'Theta asked from the gateway over /bbnp/theta/1 because gossip had not brought it, by result',
    { labels: { result: ['ok', 'failed'] } }
  )
  return async (draw) => {
    const p2p = d.p2p()
    if (!p2p) return
    try {
      const [frame] = await p2p.request(d.gatewayPeer, d.wire.theta, encodeMessage(draw), { timeoutMs: 2000 })
      const message = decodeMessage(frame, d.limits)
      if (message.kind !== 'theta' || message.height !== draw.height)
        throw new BbnpError('MALFORMED', 'the answer is not Theta for this height')
      mFetches.inc({ result: 'ok' })
      d.logger.info('Theta fetched from the gateway (not received by gossip)', { height: draw.height })
      await d.onTheta(message)
    } catch (e) {
      mFetches.inc({ result: 'failed' })
      d.logger.debug('Theta request failed', { height: draw.height, error: (e as Error).message })
    }
  }
}
