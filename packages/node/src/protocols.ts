/**
 * Every request/response protocol of the network (PROTOCOL 6), declared once: its name, bounds
 * and payloads. The side that serves a protocol adds a handler to its descriptor; every side that
 * calls it passes the same descriptor to `P2PNode.request`.
 *
 *   /bbnp/report/1     meter -> gateway: a batch of reports; a receipt back
 *   /bbnp/aggregate/1  gateway -> consensus peer: a signed aggregate; the peer's chain position back
 *   /bbnp/theta/1      consensus peer -> gateway: its own draw; Theta back (PROTOCOL 4.1)
 *   /bbnp/draw/1       consensus peer -> consensus peer: its own draw; the other's draw of that height back (PROTOCOL 4.1)
 *   /bbnp/reveal/1     gateway -> meter process: reveal questions of a slot's recovery; answers back (PROTOCOL 3.5.4)
 *   /bbnp/endorse/1    gateway -> consensus peer: (slot, A, the peer's padded shares of A with their tags); its ENDORSE signature,
 *                      or the meters whose share tags fail, back (3.5.5)
 *   /bbnp/partial/1    gateway -> consensus peer: (slot, endorsement certificate); its partial sum z_u, signed, back (3.5.5)
 *   /bbnp/blocks/1     consensus peer -> consensus peer: block sync (@bbnp/chain)
 *   /bbnp/status/1     anyone -> consensus peer: head height, hash and slot (@bbnp/chain)
 */
import {
  BbnpError,
  concatBytes,
  decodeCanonical,
  encodeCanonical,
  type ProtocolDescriptor,
  readBool,
  readBytes,
  readObject,
  readUint
} from '@bbnp/core'
import {
  bitmapCount,
  checkBitmap,
  MAX_REVEAL_MISSING,
  reportBytes,
  revealAnswerBytes,
  revealRequestBytes,
  SHARE_ENTRY_BYTES
} from '@bbnp/aggregation'
import { blocksProtocol, STATUS_PROTOCOL } from '@bbnp/chain'
import { maxBlockBytes, maxFaultProofBytes } from '@bbnp/consensus'
import { SIGNATURE_BYTES, scalarFromBytes, scalarToBytes } from '@bbnp/crypto'
import type { Genesis } from './genesis.ts'

/** At most this many reports travel in one request. */
export const MAX_REPORTS_PER_REQUEST = 1024
/** An encoded DRAW or THETA is about 150 bytes. */
const MAX_THETA_FRAME_BYTES = 1024

/** The sizes a network's protocols are bounded by, from its genesis. */
export interface ProtocolLimits {
  meters: number
  /** M, the consensus peers: every report carries M padded shares */
  consensus: number
  /** K, each meter's candidate partners (a reveal question names at most K of them) */
  candidates: number
  maxBlockBytes: number
}

/** The limits of a network, from its genesis. */
export function protocolLimits(genesis: Pick<Genesis, 'meters' | 'consensus' | 'candidates'>): ProtocolLimits {
  const meters = genesis.meters.length
  const consensus = genesis.consensus.length
  return { meters, consensus, candidates: genesis.candidates, maxBlockBytes: maxBlockBytes(consensus, meters) }
}

export interface WireProtocols {
  report: ProtocolDescriptor
  aggregate: ProtocolDescriptor
  theta: ProtocolDescriptor
  draw: ProtocolDescriptor
  blocks: ProtocolDescriptor
  status: ProtocolDescriptor
  reveal: ProtocolDescriptor
  endorse: ProtocolDescriptor
  partial: ProtocolDescriptor
}

export function wireProtocols(l: ProtocolLimits): WireProtocols {
  const bitmap = Math.ceil(l.meters / 8)
  const named = Math.min(l.candidates, l.meters - 1, MAX_REVEAL_MISSING)
  const once = (id: string, maxRequestBytes: number, maxResponseBytes: number, timeoutMs: number): ProtocolDescriptor => ({
    id,
    maxRequestBytes,
    maxResponseBytes,
    maxResponseFrames: 1,
    timeoutMs
  })
  return {
    report: once('/bbnp/report/1', MAX_REPORTS_PER_REQUEST * reportBytes(l.consensus), 1024, 5000),
    // An encoded aggregate: fixed fields, two signatures, a bitmap of up to N missing meters and two
    // of M peers, and the proof of its faulty peers if it names any (PROTOCOL 3.5.5).
    aggregate: once('/bbnp/aggregate/1', 1024 + bitmap + l.consensus + maxFaultProofBytes(l.consensus), 64, 5000),
    theta: once('/bbnp/theta/1', MAX_THETA_FRAME_BYTES, MAX_THETA_FRAME_BYTES, 3000),
    draw: once('/bbnp/draw/1', MAX_THETA_FRAME_BYTES, MAX_THETA_FRAME_BYTES, 3000),
    blocks: blocksProtocol(l.maxBlockBytes),
    status: STATUS_PROTOCOL,
    // Questions for every meter a process hosts, MAX_REPORTS_PER_REQUEST at most per request.
    reveal: once(
      '/bbnp/reveal/1',
      MAX_REPORTS_PER_REQUEST * revealRequestBytes(named),
      MAX_REPORTS_PER_REQUEST * revealAnswerBytes(named),
      3000
    ),
    // The set A and one padded share with its tag per meter of A; a signature or a bitmap back.
    endorse: once('/bbnp/endorse/1', endorseRequestBytes(l.meters), endorseResponseBytes(l.meters), 5000),
    partial: once('/bbnp/partial/1', 512 + l.consensus, PARTIAL_RESPONSE_BYTES, 3000)
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

/**
 * An ENDORSE request (PROTOCOL 3.5.5): the slot, the set A of present meters, and for each meter
 * of A in meter order this peer's padded share e_iu followed by its tag tau_iu, as the meter's
 * report carries them (`SHARE_ENTRY_BYTES` = 64 each; @bbnp/aggregation `SlotAggregator.sharesFor`).
 */
export interface EndorseRequest {
  slot: number
  present: Uint8Array
  shares: Uint8Array
}

/** The bound of an ENDORSE request for N meters: A's bitmap, 64 bytes per meter, and room for the CBOR around them. */
export function endorseRequestBytes(meters: number): number {
  return 256 + Math.ceil(meters / 8) + SHARE_ENTRY_BYTES * meters
}

export function encodeEndorseRequest(r: EndorseRequest): Uint8Array {
  return encodeCanonical({ slot: r.slot, present: r.present, shares: r.shares })
}

export function decodeEndorseRequest(bytes: Uint8Array, meters: number): EndorseRequest {
  const o = readObject(decodeCanonical(bytes, { maxBytes: endorseRequestBytes(meters) }), 'endorse request', ['slot', 'present', 'shares'])
  return {
    slot: readUint(o.slot, 'endorse request slot'),
    present: readBytes(o.present, 'endorse request present', Math.ceil(meters / 8)),
    shares: readBytes(o.shares, 'endorse request shares', undefined, SHARE_ENTRY_BYTES * meters)
  }
}

/**
 * A consensus peer's answer to ENDORSE (PROTOCOL 3.5.5), one of two fixed layouts:
 *
 *   0x00 | signature (96)       it endorses A: its signature under bbnp/v1/endorse over ENDORSE(t, A)
 *   0x01 | bitmap (ceil(N/8))   it refuses A: the meters of A whose share tag does not hold for it
 *
 * A refusal for any other reason is an error frame (REFUSED, 6.3): only this one must say more
 * than a code, since the gateway takes the meters it names out of A (gateway-recovery.ts).
 */
export type EndorseResponse = { signature: Uint8Array } | { badShares: Uint8Array }

export function endorseResponseBytes(meters: number): number {
  return 1 + Math.max(SIGNATURE_BYTES, Math.ceil(meters / 8))
}

export function encodeEndorseResponse(r: EndorseResponse): Uint8Array {
  return 'signature' in r ? concatBytes(new Uint8Array([0]), r.signature) : concatBytes(new Uint8Array([1]), r.badShares)
}

/** MALFORMED unless one of the two layouts, with a bitmap of N meters naming at least one; whether the signature holds is the caller's check. */
export function decodeEndorseResponse(bytes: Uint8Array, meters: number): EndorseResponse {
  if (bytes.length === 1 + SIGNATURE_BYTES && bytes[0] === 0) return { signature: bytes.slice(1) }
  if (bytes.length === 1 + Math.ceil(meters / 8) && bytes[0] === 1) {
    const badShares = bytes.slice(1)
    try {
      checkBitmap(badShares, meters, 'meters with bad share tags')
    } catch {
      throw new BbnpError('MALFORMED', 'an endorse refusal names meters beyond N')
    }
    if (bitmapCount(badShares) === 0) throw new BbnpError('MALFORMED', 'an endorse refusal names no meter')
    return { badShares }
  }
  throw new BbnpError('MALFORMED', 'an endorse answer is 0x00 and a signature, or 0x01 and a bitmap of meters')
}

/** A PARTIAL request (PROTOCOL 3.5.5): the slot and the endorsement certificate of its set. */
export interface PartialRequest {
  slot: number
  signers: Uint8Array
  signature: Uint8Array
}

export function encodePartialRequest(r: PartialRequest): Uint8Array {
  return encodeCanonical({ slot: r.slot, signers: r.signers, sig: r.signature })
}

export function decodePartialRequest(bytes: Uint8Array, consensus: number): PartialRequest {
  const o = readObject(decodeCanonical(bytes, { maxBytes: 512 + consensus }), 'partial request', ['slot', 'signers', 'sig'])
  return {
    slot: readUint(o.slot, 'partial request slot'),
    signers: readBytes(o.signers, 'partial request signers', Math.ceil(consensus / 8)),
    signature: readBytes(o.sig, 'partial request signature', 96)
  }
}

/**
 * A PARTIAL answer (PROTOCOL 3.5.5): z_u, 32 bytes big-endian below r, then the peer's signature
 * under `bbnp/v1/partial` over PARTIAL(t, A, z_u) (@bbnp/consensus `partialPayload`), 96 bytes.
 */
export const PARTIAL_RESPONSE_BYTES = 32 + SIGNATURE_BYTES

export interface PartialResponse {
  value: bigint
  signature: Uint8Array
}

export function encodePartialResponse(r: PartialResponse): Uint8Array {
  return concatBytes(scalarToBytes(r.value), r.signature)
}

/** MALFORMED unless exactly z_u (below r) and a 96-byte signature; whether the signature holds is the caller's check. */
export function decodePartialResponse(bytes: Uint8Array): PartialResponse {
  if (bytes.length !== PARTIAL_RESPONSE_BYTES) throw new BbnpError('MALFORMED', `a partial answer is ${PARTIAL_RESPONSE_BYTES} bytes`)
  let value: bigint
  try {
    value = scalarFromBytes(bytes.subarray(0, 32))
  } catch {
    throw new BbnpError('MALFORMED', 'a partial sum not below r')
  }
  return { value, signature: bytes.slice(32) }
}

/**
 * `/bbnp/reveal/1` carries many questions (or answers) at once, one after another: each names its
 * own length (`u16 n` at byte 12: 14 + 4n bytes, and 64 more for an answer, @bbnp/aggregation
 * reveal.ts). Throws MALFORMED on bytes that do not split exactly.
 */
export function splitRevealItems(bytes: Uint8Array, answers: boolean): Uint8Array[] {
  const items: Uint8Array[] = []
  for (let off = 0; off < bytes.length;) {
    if (bytes.length - off < 14) throw new BbnpError('MALFORMED', 'a reveal item is cut short')
    const n = (bytes[off + 12] << 8) | bytes[off + 13]
    const len = 14 + 4 * n + (answers ? 64 : 0)
    if (off + len > bytes.length) throw new BbnpError('MALFORMED', 'a reveal item is cut short')
    items.push(bytes.subarray(off, off + len))
    off += len
  }
  return items
}
