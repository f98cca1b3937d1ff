/**
 * Dangling pairwise masks (PROTOCOL 3.5.4): the gateway's question to a present meter and the
 * meter's answer.
 *
 * The candidate graph is public but each pair's choice in slot t is secret to the pair, so the
 * gateway cannot tell which of a present meter's missing candidates were its partners: it asks
 * meter i about all of them, and the meter answers with the sum over its active partners among
 * them, r_i = sum_{j in missing, j partner of i in t} AUI_ij(t).
 *
 *   request  (gateway -> meter):  u32 i | u64 t | u16 count | u32 j x count
 *   answer   (meter -> gateway):  u32 i | u64 t | u16 count | u32 j x count | r_i | MAC
 *
 * The j are the missing candidates, ascending and distinct; r_i is 32 bytes big-endian, < r; MAC is
 * HMAC(k_mac_i(t), u32(0) || "bbnp/v1/reveal" || 0x00 || everything before the MAC). The answer
 * repeats the question, so its tag binds r_i to the set it is the sum over. Its tag input starts
 * with four zero bytes where a report's starts with its meter index (never 0), so no answer is a
 * report's tag input and no report an answer's, although both use k_mac (PROTOCOL 3.5.4 says
 * "returned under its k_mac").
 */
import { concatBytes, DOMAIN, utf8 } from '@bbnp/core'
import { R } from '@bbnp/crypto'
import { isCanonicalScalar, readScalar32, writeScalar32 } from './accumulator.ts'
import { aggregationError } from './errors.ts'
import { checkSlot, readU32, writeU32, writeU64 } from './kdf.ts'
import { reportSlot } from './report.ts'

/** The most missing candidates one question may name (u16 on the wire). */
export const MAX_REVEAL_MISSING = 0xffff

export interface RevealQuery {
  meterIndex: number
  slot: number
  /** meter i's missing candidates, ascending */
  missing: number[]
}

export interface RevealAnswer extends RevealQuery {
  /** r_i in [0, r) */
  value: bigint
  tag: Uint8Array
}

export const revealRequestBytes = (count: number): number => 14 + 4 * count
export const revealAnswerBytes = (count: number): number => 14 + 4 * count + 64

/** Throws REVEAL_REQUEST unless `missing` is a non-empty ascending list of distinct indices in 1..2^32-1. */
export function checkMissingList(missing: readonly number[]): void {
  if (missing.length === 0 || missing.length > MAX_REVEAL_MISSING)
    throw aggregationError('REVEAL_REQUEST', `a reveal names 1 to ${MAX_REVEAL_MISSING} meters, got ${missing.length}`)
  let prev = 0
  for (const j of missing) {
    if (!Number.isSafeInteger(j) || j <= prev || j > 0xffffffff)
      throw aggregationError('REVEAL_REQUEST', 'the missing meters of a reveal must be ascending, distinct meter indices')
    prev = j
  }
}

function writeQuery(out: Uint8Array, q: RevealQuery): void {
  writeU32(out, 0, q.meterIndex)
  writeU64(out, 4, q.slot)
  out[12] = q.missing.length >>> 8
  out[13] = q.missing.length & 0xff
  q.missing.forEach((j, k) => writeU32(out, 14 + 4 * k, j))
}

/** Parse the common prefix; undefined when malformed (length, slot range, order of the list). */
function readQuery(b: Uint8Array, trailer: number): RevealQuery | undefined {
  if (b.length < 14 + trailer) return undefined
  const count = (b[12] << 8) | b[13]
  if (count === 0 || b.length !== 14 + 4 * count + trailer) return undefined
  if (readU32(b, 4) >= 0x200000) return undefined
  const meterIndex = readU32(b, 0)
  const missing: number[] = []
  let prev = 0
  for (let k = 0; k < count; k++) {
    const j = readU32(b, 14 + 4 * k)
    if (j <= prev) return undefined
    missing.push(j)
    prev = j
  }
  return { meterIndex, slot: reportSlot(b), missing }
}

export function encodeRevealRequest(q: RevealQuery): Uint8Array {
  checkSlot(q.slot)
  checkMissingList(q.missing)
  const out = new Uint8Array(revealRequestBytes(q.missing.length))
  writeQuery(out, q)
  return out
}

/** Decode a question; `maxMissing` is the caller's bound (a meter's candidate count). */
export function decodeRevealRequest(bytes: Uint8Array, maxMissing = MAX_REVEAL_MISSING): RevealQuery {
  if (bytes.length > revealRequestBytes(maxMissing)) throw aggregationError('OVERSIZED', `reveal request of ${bytes.length} bytes`)
  const q = readQuery(bytes, 0)
  if (!q) throw aggregationError('MALFORMED', 'undecodable reveal request')
  return q
}

/** What precedes an answer's bytes in its tag input: u32(0) || "bbnp/v1/reveal" || 0. */
export const REVEAL_TAG_PREFIX: Uint8Array = concatBytes(new Uint8Array(4), utf8(DOMAIN.reveal), new Uint8Array([0]))

/** The tag input of an answer whose bytes before the MAC are `body`. */
export function revealTagInput(body: Uint8Array): Uint8Array {
  return concatBytes(REVEAL_TAG_PREFIX, body)
}

/** The answer's bytes with a zero tag: the caller computes the tag over `revealTagInput(body)`. */
export function revealAnswerBody(q: RevealQuery, value: bigint): Uint8Array {
  if (value < 0n || value >= R) throw aggregationError('MALFORMED', 'a reveal value must be in [0, r)')
  const out = new Uint8Array(revealAnswerBytes(q.missing.length))
  writeQuery(out, q)
  writeScalar32(out, out.length - 64, value)
  return out
}

/** Why `bytes` is not a decodable answer, or undefined when it is; checks no tag and allocates nothing. */
export function revealFormatError(bytes: Uint8Array, maxMissing: number): 'OVERSIZED' | 'MALFORMED' | undefined {
  if (bytes.length > revealAnswerBytes(maxMissing)) return 'OVERSIZED'
  if (bytes.length < 14 + 64) return 'MALFORMED'
  const count = (bytes[12] << 8) | bytes[13]
  if (count === 0 || bytes.length !== revealAnswerBytes(count) || readU32(bytes, 4) >= 0x200000) return 'MALFORMED'
  for (let k = 0, prev = 0; k < count; k++) {
    const j = readU32(bytes, 14 + 4 * k)
    if (j <= prev) return 'MALFORMED'
    prev = j
  }
  if (!isCanonicalScalar(bytes, bytes.length - 64)) return 'MALFORMED'
  return undefined
}

export function decodeRevealAnswer(bytes: Uint8Array, maxMissing = MAX_REVEAL_MISSING): RevealAnswer {
  const err = revealFormatError(bytes, maxMissing)
  if (err) throw aggregationError(err, err === 'OVERSIZED' ? `reveal answer of ${bytes.length} bytes` : 'undecodable reveal answer')
  const q = readQuery(bytes, 64) as RevealQuery
  return { ...q, value: readScalar32(bytes, bytes.length - 64), tag: bytes.slice(bytes.length - 32) }
}
