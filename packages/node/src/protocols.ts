/**
 * Request/response protocols of the data side (PROTOCOL 6): meter -> gateway reports and the
 * gateway's hand-off of the signed aggregate to the consensus peers; and a consensus peer's
 * request for the election threshold Theta, when gossip did not bring it (docs/protocol-notes.md).
 * Block sync and status are in @bbnp/chain.
 */
import { decodeCanonical, encodeCanonical, readObject, readUint } from '@bbnp/core'

export const REPORT_PROTOCOL = '/bbnp/report/1'
export const AGGREGATE_PROTOCOL = '/bbnp/aggregate/1'
/** Request: an encoded DRAW of the requesting node; response: the encoded THETA for its (height, seed). */
export const THETA_PROTOCOL = '/bbnp/theta/1'
/** An encoded DRAW or THETA is about 150 bytes. */
export const MAX_THETA_FRAME_BYTES = 1024

/** At most this many 76-byte reports travel in one request. */
export const MAX_REPORTS_PER_REQUEST = 1024

/** An encoded aggregate: fixed fields, a signature, and a bitmap of up to N missing meters. */
export function aggregateRequestBytes(meters: number): number {
  return 512 + Math.ceil(meters / 8)
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
