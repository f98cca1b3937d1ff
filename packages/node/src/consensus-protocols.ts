/**
 * The request/response protocols a consensus peer serves (PROTOCOL 6.4): the gateway's aggregate
 * handoff, the recovery committee's endorsement and partial rounds (PROTOCOL 3.5.5), and blocks
 * and status for catch-up, and its own draw (PROTOCOL 4.1); and the ones it asks: Theta from the
 * gateway, and other nodes' draws, when gossip did not bring them.
 */
import { BbnpError, bytesEqual, type Logger, type MetricsRegistry, type ProtocolDescriptor } from '@bbnp/core'
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
import { decodeOwnDraw, type GossipIdentity } from './gossip-checks.ts'
import { decodeEndorseRequest, decodePartialRequest, encodeHandoffAck, type WireProtocols } from './protocols.ts'
import type { RecoveryCommittee } from './recovery-committee.ts'

export interface ConsensusProtocolDeps extends GossipIdentity {
  wire: WireProtocols
  meters: number
  nodes: number
  store: BlockStore
  committee: RecoveryCommittee
  /** A 'silent' peer (devnet misbehaviour) answers the gateway nothing. */
  silent: boolean
  metrics: MetricsRegistry
  /** An aggregate that no stored block holds yet. */
  onAggregate: (aggregate: SignedAggregate, now: number) => void
  /** This peer's own draw of a height, while it works on that height. */
  ownDraw: (height: number) => DrawMessage | null
  /** Another node's draw, taken in as if it had been gossiped. */
  onDraw: (draw: DrawMessage) => void
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
    drawProtocol({ descriptor: d.wire.draw, id: d, silent: d.silent, ownDraw: d.ownDraw, onDraw: d.onDraw }),
    { ...d.wire.blocks, handler: (req) => serveBlocks(d.store, decodeBlocksRequest(req)) },
    { ...d.wire.status, handler: async () => [encodeStatus(statusOf(d.store))] }
  ]
}

/**
 * `/bbnp/draw/1` (PROTOCOL 4.1): a node that missed this peer's draw asks with its own draw; this
 * peer takes that draw in, as if gossiped, and answers with its own draw of the same height and
 * seed. Only the drawing node itself may ask.
 */
export function drawProtocol(d: {
  descriptor: ProtocolDescriptor
  id: GossipIdentity
  silent: boolean
  ownDraw: (height: number) => DrawMessage | null
  onDraw: (draw: DrawMessage) => void
}): ProtocolSpec {
  return {
    ...d.descriptor,
    rateLimit: { messagesPerSecond: 20, burstMessages: 40 },
    handler: async (req, from) => {
      if (d.silent) throw new BbnpError('REFUSED', 'this peer answers nothing (silent)')
      const theirs = decodeOwnDraw(req, from, d.id)
      d.onDraw(theirs)
      const own = d.ownDraw(theirs.height)
      if (!own || !bytesEqual(own.seed, theirs.seed)) throw new BbnpError('REFUSED', 'no draw of this height and seed here')
      return [encodeMessage(own)]
    }
  }
}

export interface ElectionFetchDeps {
  wire: WireProtocols
  gatewayPeer: string
  /** Peer ID of each consensus node, by index. */
  peerOfNode: ReadonlyMap<number, string>
  limits: { maxBlockBytes: number; nodes: number }
  p2p: () => P2PNode | undefined
  logger: Logger
  metrics: MetricsRegistry
  /** Handles a fetched message as if it had been gossiped. */
  onMessage: (message: ConsensusMessage) => Promise<void>
}

/**
 * PROTOCOL 4.1: what the election lacks after its re-sends, asked over a stream with this peer's
 * own draw: Theta from the gateway (`theta`), and the draw of each node named (`draws`, from that
 * node itself). An answer is checked to be what was asked before it is handed on; its signature
 * is checked by the replica, like gossip's.
 */
export function electionFetchers(d: ElectionFetchDeps) {
  const counter = (name: string, help: string) => d.metrics.counter(name, help, { labels: { result: ['ok', 'failed'] } })
  const mTheta = counter(
    'bbnp_theta_requests_total',
    'Theta asked from the gateway over /bbnp/theta/1 because gossip had not brought it, by result'
  )
  const mDraws = counter(
    'bbnp_draw_requests_total',
    "Other nodes' draws asked over /bbnp/draw/1 because gossip had not brought them, by result"
  )
  const ask = async (peer: string, wire: ProtocolDescriptor, draw: DrawMessage, wanted: (m: ConsensusMessage) => boolean) => {
    const p2p = d.p2p()
    if (!p2p) return null
    const [frame] = await p2p.request(peer, wire, encodeMessage(draw), { timeoutMs: 2000 })
    const message = decodeMessage(frame, d.limits)
    if (message.height !== draw.height || !wanted(message)) throw new BbnpError('MALFORMED', 'the answer is not what was asked')
    return message
  }
  const fetch = async (what: string, counted: typeof mTheta, ctx: Record<string, unknown>, got: Promise<ConsensusMessage | null>) => {
    try {
      const message = await got
      if (!message) return
      counted.inc({ result: 'ok' })
      d.logger.info(`${what} fetched (not received by gossip)`, ctx)
      await d.onMessage(message)
    } catch (e) {
      counted.inc({ result: 'failed' })
      d.logger.debug(`${what} request failed`, { ...ctx, error: (e as Error).message })
    }
  }
  return {
    theta: (draw: DrawMessage) =>
      fetch(
        'Theta',
        mTheta,
        { height: draw.height },
        ask(d.gatewayPeer, d.wire.theta, draw, (m) => m.kind === 'theta')
      ),
    draws: (draw: DrawMessage, nodes: number[]) =>
      Promise.all(
        nodes.map((node) => {
          const peer = d.peerOfNode.get(node)
          if (peer === undefined) return
          return fetch(
            'draw',
            mDraws,
            { height: draw.height, node },
            ask(peer, d.wire.draw, draw, (m) => m.kind === 'draw' && m.node === node)
          )
        })
      )
  }
}
