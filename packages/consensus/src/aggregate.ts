/**
 * The gateway's signed result for a slot (PROTOCOL 3.4, 3.5), as blocks carry it.
 *
 * Every slot from the first block on is accounted for on the chain: a block holds the sum of its
 * slot (`complete`), or says that the slot has no sum and which meters were missing
 * (`incomplete`), or, for a stretch of slots during which the gateway was down and received
 * nothing, one aggregate covers the whole range `fromSlot..slot` (`missed`; docs/protocol.md).
 * Every other aggregate covers exactly one slot (`fromSlot === slot`).
 */
import { BbnpError, decodeCanonical, encodeCanonical, readBigInt, readBytes, readObject, readString, readUint } from '@bbnp/core'

/** Upper bound on meters (bitmap of missing meters). */
export const MAX_METERS = 1_000_000
const SIG_BYTES = 96

export const AGGREGATE_STATUSES = ['complete', 'incomplete', 'missed'] as const
export type AggregateStatus = (typeof AGGREGATE_STATUSES)[number]

export interface SignedAggregate {
  /** The (last) slot this aggregate covers. */
  slot: number
  /** The first slot it covers: `slot` itself, except for a `missed` range. */
  fromSlot: number
  status: AggregateStatus
  /** The sum of the readings in Wh (signed); 0 when there is no sum. */
  sum: bigint
  /** Meters whose reports were accepted (0 for a missed range). */
  count: number
  /** Bitmap of missing meters, bit (i-1) for meter-i; empty when complete or missed (then every meter). */
  missing: Uint8Array
  /** sigma_GW1 = BLS_sign(s_g, "bbnp/v1/aggregate" || payload) */
  signature: Uint8Array
}

function fail(msg: string): never {
  throw new BbnpError('MALFORMED', msg)
}

/** The bytes the gateway signs: every field but the signature. */
export function aggregatePayload(a: Omit<SignedAggregate, 'signature'>): Uint8Array {
  return encodeCanonical({ slot: a.slot, from: a.fromSlot, status: a.status, sum: a.sum, count: a.count, missing: a.missing })
}

export function aggregateToCbor(a: SignedAggregate): Record<string, unknown> {
  return { slot: a.slot, from: a.fromSlot, status: a.status, sum: a.sum, count: a.count, missing: a.missing, sig: a.signature }
}

/** Decode and check the shape (not the signature) of an aggregate; MALFORMED otherwise. */
export function aggregateFromCbor(v: unknown): SignedAggregate {
  const o = readObject(v, 'aggregate', ['slot', 'from', 'status', 'sum', 'count', 'missing', 'sig'])
  const status = readString(o.status, 'aggregate.status', 16) as AggregateStatus
  if (!AGGREGATE_STATUSES.includes(status)) fail(`aggregate.status must be one of ${AGGREGATE_STATUSES.join(', ')}`)
  const a: SignedAggregate = {
    slot: readUint(o.slot, 'aggregate.slot'),
    fromSlot: readUint(o.from, 'aggregate.from'),
    status,
    sum: readBigInt(o.sum, 'aggregate.sum'),
    count: readUint(o.count, 'aggregate.count', MAX_METERS),
    missing: readBytes(o.missing, 'aggregate.missing', undefined, Math.ceil(MAX_METERS / 8)),
    signature: readBytes(o.sig, 'aggregate.sig', SIG_BYTES)
  }
  if (status === 'missed') {
    if (a.fromSlot > a.slot) fail('a missed range ends before it begins')
    if (a.count !== 0 || a.sum !== 0n || a.missing.length !== 0) fail('a missed range carries no reports')
  } else if (a.fromSlot !== a.slot) fail(`only a missed range covers more than one slot`)
  if (status === 'complete' && a.missing.length !== 0) fail('a complete aggregate has no missing meters')
  if (status === 'incomplete' && a.sum !== 0n) fail('an incomplete aggregate carries no sum')
  return a
}

/** The sum as the API and logs show it: a decimal string, or null where there is none. */
export function aggregateSum(a: SignedAggregate): string | null {
  return a.status === 'complete' ? a.sum.toString() : null
}

export function encodeAggregate(a: SignedAggregate): Uint8Array {
  return encodeCanonical(aggregateToCbor(a))
}

export function decodeAggregate(bytes: Uint8Array, maxBytes: number): SignedAggregate {
  return aggregateFromCbor(decodeCanonical(bytes, { maxBytes }))
}
