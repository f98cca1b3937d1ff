/**
 * The partner graph (PROTOCOL 2.2 [hardening]).
 *
 * The genesis fixes a public, symmetric candidate relation: meter i's candidates are the K meters
 * nearest to it on the ring of indices 1..N (i±1 .. i±K/2, wrapping), or all other meters when
 * N - 1 <= K. In slot t the partners of i are its two ring neighbours, always, plus each other
 * candidate j whose pair PRF falls under a threshold. The paper instead draws partners from all
 * N - 1 meters (IV-B 2a), which costs O(N) work per report and leaves a meter partnerless with
 * probability about e^{-e}; the ring neighbours make "never without a partner" hold for N >= 3.
 *
 * Threshold (team decision): PROTOCOL writes the test as PRF <= e/K but also calls e the expected
 * number of extra partners. With two of the K candidates always taken, e/K would give e(K-2)/K
 * extra partners on average, so we use p = min(1, e / c), c the number of non-neighbour
 * candidates (K - 2, or N - 3 when every other meter is a candidate), which makes e the expected
 * count. c is the same for every meter, so p is too, and the decision for a pair is the same seen
 * from either side. The PRF value is compared as an integer: the first 8 bytes of the HMAC as a
 * uint64 against floor(p * 2^64), so every implementation agrees bit for bit (no float rounding).
 */
import { aggregationError } from './errors.ts'

export interface AggregationParams {
  /** K: size of the candidate set on the ring (even, >= 2). */
  candidates: number
  /** e: expected number of partners per slot beyond the two ring neighbours. */
  extraPartners: number
}

export const DEFAULT_AGGREGATION_PARAMS: Readonly<AggregationParams> = Object.freeze({ candidates: 8, extraPartners: 2 })

/** Indices are u32 on the wire (report format); the TA refuses fewer than 3 meters (PROTOCOL 2.2). */
export const MAX_METERS = 0xffffffff

export function resolveParams(p: Partial<AggregationParams> = {}): AggregationParams {
  const candidates = p.candidates ?? DEFAULT_AGGREGATION_PARAMS.candidates
  const extraPartners = p.extraPartners ?? DEFAULT_AGGREGATION_PARAMS.extraPartners
  if (!Number.isSafeInteger(candidates) || candidates < 2 || candidates % 2 !== 0) {
    throw aggregationError('PARAMS', `candidates (K) must be an even integer >= 2, got ${candidates}`)
  }
  if (typeof extraPartners !== 'number' || !Number.isFinite(extraPartners) || extraPartners < 0) {
    throw aggregationError('PARAMS', `extraPartners (e) must be a finite number >= 0, got ${extraPartners}`)
  }
  return { candidates, extraPartners }
}

export function checkMeterCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 3 || n > MAX_METERS)
    throw aggregationError('PARAMS', `meter count must be an integer in [3, 2^32 - 1], got ${n}`)
}

export function checkMeterIndex(i: number, n: number): void {
  if (!Number.isSafeInteger(i) || i < 1 || i > n) throw aggregationError('PARAMS', `meter index must be in [1, ${n}], got ${i}`)
}

function wrap(x: number, n: number): number {
  return ((((x - 1) % n) + n) % n) + 1
}

/** The two ring neighbours of meter i, always partners (distinct for N >= 3). */
export function ringNeighbours(i: number, n: number): [number, number] {
  return [wrap(i - 1, n), wrap(i + 1, n)]
}

/**
 * Meter i's candidates in ring order: i-1, i+1, i-2, i+2, ... (K of them, or all N - 1 others).
 * The relation is symmetric: j is a candidate of i exactly when i is a candidate of j.
 */
export function candidateIndices(i: number, n: number, candidates: number): number[] {
  checkMeterCount(n)
  checkMeterIndex(i, n)
  const want = Math.min(candidates, n - 1)
  const out: number[] = []
  const seen = new Set<number>([i])
  for (let d = 1; out.length < want; d++) {
    for (const j of [wrap(i - d, n), wrap(i + d, n)]) {
      if (!seen.has(j) && out.length < want) {
        seen.add(j)
        out.push(j)
      }
    }
  }
  return out
}

/** The extra-partner test as an integer threshold on a uint64 read as (hi, lo) 32-bit halves. */
export interface PartnerThreshold {
  /** p = min(1, e / c) */
  probability: number
  /** c: candidates that are not ring neighbours (the same for every meter). */
  nonNeighbourCandidates: number
  always: boolean
  hi: number
  lo: number
}

export function partnerThreshold(n: number, params: AggregationParams): PartnerThreshold {
  const c = Math.min(params.candidates, n - 1) - 2
  const p = c <= 0 ? 0 : Math.min(1, params.extraPartners / c)
  if (p >= 1) return { probability: 1, nonNeighbourCandidates: c, always: true, hi: 0, lo: 0 }
  // p * 2^64 is exact in float64 (a power-of-two scaling), so the floor is exact too.
  const t = BigInt(Math.floor(p * 2 ** 64))
  return { probability: p, nonNeighbourCandidates: c, always: false, hi: Number(t >> 32n), lo: Number(t & 0xffffffffn) }
}

/** Is the uint64 in the first 8 bytes of `prf` <= floor(p * 2^64)? */
export function belowThreshold(prf: Uint8Array, t: PartnerThreshold): boolean {
  if (t.always) return true
  const hi = ((prf[0] << 24) | (prf[1] << 16) | (prf[2] << 8) | prf[3]) >>> 0
  if (hi !== t.hi) return hi < t.hi
  const lo = ((prf[4] << 24) | (prf[5] << 16) | (prf[6] << 8) | prf[7]) >>> 0
  return lo <= t.lo
}
