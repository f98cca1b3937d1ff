/**
 * The gateway's signed result for a slot (PROTOCOL 3.4, 3.5), as blocks carry it.
 *
 * Every slot from the first block on is accounted for on the chain: a block holds the sum of its
 * slot, of every meter (`complete`) or of the meters present, with the missing ones named
 * (`recovered`, PROTOCOL 3.5); or says that the slot has no sum (`incomplete`, with the missing
 * meters and a reason); or, for a stretch of slots during which the gateway was down and received
 * nothing, one aggregate covers the whole range `fromSlot..slot` (`missed`; docs/protocol.md, "Every slot on the chain").
 * Every other aggregate covers exactly one slot (`fromSlot === slot`).
 *
 * A sum is only as good as the one reporter set behind it: a complete or recovered aggregate
 * carries the endorsement certificate of 2f+1 consensus peers over (slot, the set of present
 * meters) (PROTOCOL 3.5.5), which every replica verifies, and the consensus peers whose partial
 * sums the gateway found inconsistent (`faulty`), which every replica counts against them, but
 * only with the proof the aggregate then carries: those peers' signed partial sums beside 2f+1
 * signed ones that agree (fault-proof.ts).
 */
import { BbnpError, decodeCanonical, encodeCanonical, readBigInt, readBytes, readObject, readString, readUint } from '@bbnp/core'
import { sha256 } from '@bbnp/crypto'
import { faultProofFromCbor, faultProofToCbor, type SignedPartial } from './fault-proof.ts'

/** Upper bound on meters (bitmap of missing meters). */
/**
 * The aggregate's encoding version: bump it with any change to its keys or their meaning. Stores
 * that keep aggregates (the block store through BLOCK_FORMAT, the gateway's store) follow it.
 */
export const AGGREGATE_FORMAT = 1

export const MAX_METERS = 1_000_000
const SIG_BYTES = 96

export const AGGREGATE_STATUSES = ['complete', 'recovered', 'incomplete', 'missed'] as const
export type AggregateStatus = (typeof AGGREGATE_STATUSES)[number]

/** Why a slot has no sum (an incomplete aggregate's `reason`). */
export const INCOMPLETE_REASONS = ['too-few-reporters', 'reveal-rounds', 'no-endorsement', 'no-partials', 'inconsistent'] as const
export type IncompleteReason = (typeof INCOMPLETE_REASONS)[number]

/** 2f+1 consensus peers' signatures over ENDORSE(slot, present set), aggregated (PROTOCOL 3.5.5). */
export interface Endorsement {
  /** Signer bitmap over the consensus nodes, bit (j-1) for cn-j. */
  signers: Uint8Array
  signature: Uint8Array
}

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
  /** Why there is no sum: an incomplete aggregate's reason, '' otherwise. */
  reason: IncompleteReason | ''
  /** The endorsement certificate of the reporter set (complete and recovered), null otherwise. */
  endorsement: Endorsement | null
  /** Bitmap of the consensus nodes whose partial sum was inconsistent (PROTOCOL 3.5.5); empty when none. */
  faulty: Uint8Array
  /**
   * The proof of `faulty` (fault-proof.ts): signed partials of at least 2f+1 agreeing peers and of
   * every peer named, sorted by node. Present exactly when `faulty` names someone (CBOR key
   * `proof`, absent otherwise, so an aggregate without faults encodes as before).
   */
  faultProof?: SignedPartial[]
  /** sigma_GW1 = BLS_sign(s_g, "bbnp/v1/aggregate" || payload) */
  signature: Uint8Array
}

function fail(msg: string): never {
  throw new BbnpError('MALFORMED', msg)
}

function body(a: Omit<SignedAggregate, 'signature'>): Record<string, unknown> {
  const proof = a.faultProof && a.faultProof.length > 0 ? { proof: faultProofToCbor(a.faultProof) } : {}
  return {
    slot: a.slot,
    from: a.fromSlot,
    status: a.status,
    sum: a.sum,
    count: a.count,
    missing: a.missing,
    reason: a.reason,
    endorsement: a.endorsement ? { signers: a.endorsement.signers, sig: a.endorsement.signature } : null,
    faulty: a.faulty,
    ...proof
  }
}

/** The bytes the gateway signs: every field but its signature (the set, its endorsement, the faulty peers and their proof included). */
export function aggregatePayload(a: Omit<SignedAggregate, 'signature'>): Uint8Array {
  return encodeCanonical(body(a))
}

export function aggregateToCbor(a: SignedAggregate): Record<string, unknown> {
  return { ...body(a), sig: a.signature }
}

/** Decode and check the shape (not the signature) of an aggregate; MALFORMED otherwise. */
export function aggregateFromCbor(v: unknown): SignedAggregate {
  const o = readObject(v, 'aggregate', [
    'slot',
    'from',
    'status',
    'sum',
    'count',
    'missing',
    'reason',
    'endorsement',
    'faulty',
    'proof',
    'sig'
  ])
  for (const k of ['slot', 'from', 'status', 'sum', 'count', 'missing', 'reason', 'endorsement', 'faulty', 'sig'])
    if (!(k in o)) fail(`aggregate.${k} missing`)
  const status = readString(o.status, 'aggregate.status', 16) as AggregateStatus
  if (!AGGREGATE_STATUSES.includes(status)) fail(`aggregate.status must be one of ${AGGREGATE_STATUSES.join(', ')}`)
  const reason = readString(o.reason, 'aggregate.reason', 32) as IncompleteReason | ''
  if (reason !== '' && !INCOMPLETE_REASONS.includes(reason)) fail(`aggregate.reason must be one of ${INCOMPLETE_REASONS.join(', ')}`)
  let endorsement: Endorsement | null = null
  if (o.endorsement !== null) {
    const e = readObject(o.endorsement, 'aggregate.endorsement', ['signers', 'sig'])
    endorsement = {
      signers: readBytes(e.signers, 'aggregate.endorsement.signers', undefined, 1024 / 8),
      signature: readBytes(e.sig, 'aggregate.endorsement.sig', SIG_BYTES)
    }
  }
  const a: SignedAggregate = {
    slot: readUint(o.slot, 'aggregate.slot'),
    fromSlot: readUint(o.from, 'aggregate.from'),
    status,
    sum: readBigInt(o.sum, 'aggregate.sum'),
    count: readUint(o.count, 'aggregate.count', MAX_METERS),
    missing: readBytes(o.missing, 'aggregate.missing', undefined, Math.ceil(MAX_METERS / 8)),
    reason,
    endorsement,
    faulty: readBytes(o.faulty, 'aggregate.faulty', undefined, 1024 / 8),
    signature: readBytes(o.sig, 'aggregate.sig', SIG_BYTES)
  }
  if ('proof' in o) {
    // Only beside a peer named, and never empty: one encoding per aggregate. Whether it proves
    // anything is the replica's check (validate.ts), not the decoder's.
    if (!a.faulty.some((byte) => byte !== 0)) fail('a fault proof without a faulty peer')
    a.faultProof = faultProofFromCbor(o.proof)
    if (a.faultProof.length === 0) fail('an empty fault proof')
  }
  if (status === 'missed') {
    if (a.fromSlot > a.slot) fail('a missed range ends before it begins')
    if (a.count !== 0 || a.sum !== 0n || a.missing.length !== 0) fail('a missed range carries no reports')
  } else if (a.fromSlot !== a.slot) fail(`only a missed range covers more than one slot`)
  const hasSum = status === 'complete' || status === 'recovered'
  if (status === 'complete' && a.missing.length !== 0) fail('a complete aggregate has no missing meters')
  if (status === 'recovered' && a.missing.length === 0) fail('a recovered aggregate names its missing meters')
  if (!hasSum && a.sum !== 0n) fail(`a ${status} aggregate carries no sum`)
  if (hasSum !== (a.endorsement !== null)) fail('an aggregate has an endorsement exactly when it has a sum')
  if ((status === 'incomplete') !== (reason !== '')) fail('an incomplete aggregate, and only it, gives a reason')
  return a
}

/** ENDORSE(slot, A): what a consensus peer signs for a reporter set, A the bitmap of present meters (PROTOCOL 3.5.5). */
export function endorsementPayload(slot: number, present: Uint8Array): Uint8Array {
  return endorsementPayloadOf(slot, reporterSetHash(present))
}

/** The hash that names a reporter set (the bitmap of its meters). */
export function reporterSetHash(present: Uint8Array): Uint8Array {
  return sha256(present)
}

/** ENDORSE(slot, A) from the hash of A. */
export function endorsementPayloadOf(slot: number, setHash: Uint8Array): Uint8Array {
  return encodeCanonical({ slot, set: setHash })
}

/** The present meters of an aggregate: every meter but the missing ones. */
export function presentBitmap(a: Pick<SignedAggregate, 'missing'>, meters: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(meters / 8))
  for (let i = 0; i < meters; i++) if (!((a.missing[i >> 3] ?? 0) & (1 << (i & 7)))) out[i >> 3] |= 1 << (i & 7)
  return out
}

/** Whether the aggregate holds a sum (complete or recovered). */
export function hasSum(a: Pick<SignedAggregate, 'status'>): boolean {
  return a.status === 'complete' || a.status === 'recovered'
}

/** The sum as the API and logs show it: a decimal string, or null where there is none. */
export function aggregateSum(a: SignedAggregate): string | null {
  return hasSum(a) ? a.sum.toString() : null
}

export function encodeAggregate(a: SignedAggregate): Uint8Array {
  return encodeCanonical(aggregateToCbor(a))
}

export function decodeAggregate(bytes: Uint8Array, maxBytes: number): SignedAggregate {
  return aggregateFromCbor(decodeCanonical(bytes, { maxBytes }))
}
