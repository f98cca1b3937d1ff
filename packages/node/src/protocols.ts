/**
 * Every request/response protocol of the network (PROTOCOL 6), declared once: its name, bounds
 * and payloads. The side that serves a protocol adds a handler to its descriptor; every side that
 * calls it passes the same descriptor to `P2PNode.request`.
 *
 *   /bbnp/report/1     meter -> gateway: a batch of reports; a receipt back
 *   /bbnp/aggregate/1  gateway -> consensus peer: a signed aggregate; the peer's chain position back
 *   /bbnp/theta/1      consensus peer -> gateway: its own draw; Theta back (docs/protocol-notes.md)
 *   /bbnp/blocks/1     consensus peer -> consensus peer: block sync (@bbnp/chain)
 *   /bbnp/status/1     anyone -> consensus peer: head height, hash and slot (@bbnp/chain)
 */
import { decodeCanonical, encodeCanonical, type ProtocolDescriptor, readBool, readObject, readUint } from '@bbnp/core'
import { REPORT_BYTES } from '@bbnp/aggregation'
import { blocksProtocol, STATUS_PROTOCOL } from '@bbnp/chain'

/** At most this many reports travel in one request. */
export const MAX_REPORTS_PER_REQUEST = 1024
/** An encoded DRAW or THETA is about 150 bytes. */
const MAX_THETA_FRAME_BYTES = 1024

/** The sizes a network's protocols are bounded by, from its genesis. */
export interface ProtocolLimits {
  meters: number
  maxBlockBytes: number
}

export interface WireProtocols {
  report: ProtocolDescriptor
  aggregate: ProtocolDescriptor
  theta: ProtocolDescriptor
  blocks: ProtocolDescriptor
  status: ProtocolDescriptor
}

export function wireProtocols(l: ProtocolLimits): WireProtocols {
  return {
    report: {
      id: '/bbnp/report/1',
      maxRequestBytes: MAX_REPORTS_PER_REQUEST * REPORT_BYTES,
      maxResponseBytes: 1024,
      maxResponseFrames: 1,
      timeoutMs: 5000
    },
    // An encoded aggregate: fixed fields, a signature, and a bitmap of up to N missing meters.
    aggregate: {
      id: '/bbnp/aggregate/1',
      maxRequestBytes: 512 + Math.ceil(l.meters / 8),
      maxResponseBytes: 64,
      maxResponseFrames: 1,
      timeoutMs: 5000
    },
    theta: {
      id: '/bbnp/theta/1',
      maxRequestBytes: MAX_THETA_FRAME_BYTES,
      maxResponseBytes: MAX_THETA_FRAME_BYTES,
      maxResponseFrames: 1,
      timeoutMs: 3000
    },
    blocks: blocksProtocol(l.maxBlockBytes),
    status: STATUS_PROTOCOL
  }
}

/** The gateway's answer to a batch of reports: how many it accepted, rejections by code. */
export interface ReportReceipt {
  accepted: number
  rejected: Record<string, number>
}

export function encodeReceipt(r: ReportReceipt): Uint8Array {
  return encodeCanonical({ accepted: r.accepted, rejected: r.rejected })
}

export function decodeReceipt(bytes: Uint8Array): ReportReceipt {
  const o = readObject(decodeCanonical(bytes, { maxBytes: 1024 }), 'receipt', ['accepted', 'rejected'])
  const rejected: Record<string, number> = {}
  for (const [k, v] of Object.entries(readObject(o.rejected, 'receipt.rejected'))) rejected[k] = readUint(v, `receipt.rejected.${k}`)
  return { accepted: readUint(o.accepted, 'receipt.accepted'), rejected }
}

/**
 * A consensus peer's answer to a hand-off: where its chain is (the newest slot a block covers,
 * -1 when empty) and whether a block already holds the aggregate's slot. The gateway keeps an
 * aggregate until some peer says a block holds it (docs/protocol.md, "Every slot on the chain").
 */
export interface HandoffAck {
  headSlot: number
  held: boolean
}

/** On the wire the head travels as the first slot after it (0 for an empty chain): an unsigned integer. */
export function encodeHandoffAck(a: HandoffAck): Uint8Array {
  return encodeCanonical({ next: a.headSlot + 1, held: a.held })
}

export function decodeHandoffAck(bytes: Uint8Array): HandoffAck {
  const o = readObject(decodeCanonical(bytes, { maxBytes: 64 }), 'hand-off answer', ['next', 'held'])
  return { headSlot: readUint(o.next, 'hand-off answer next') - 1, held: readBool(o.held, 'hand-off answer held') }
}
