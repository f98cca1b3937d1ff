/**
 * Reputation-model parameters (paper IV-D-3, PROTOCOL section 5) and the fixed-point scale of
 * every reputation value that is signed, hashed or stored in a block.
 *
 * The weights are the paper's four pairs: iota/varsigma (positive/negative influence),
 * delta/epsilon (fast/slow response), vartheta/mu (wrong/untimely signature) and rho/chi
 * (recent/past interaction). The paper asks varsigma > iota, delta > epsilon, vartheta > mu and
 * rho > chi; we only require each pair to lie in [0,1] and sum to 1, because the paper's own
 * experiments (tables VI and VII) and our degenerate-case tests step outside those inequalities.
 */
import { BbnpError } from '@bbnp/core'

/**
 * On-chain values are integers scaled by 10^9: canonical CBOR refuses floats, and integers make
 * every peer's recomputation bit-identical. 10^9 keeps M * SCALE far below 2^53 for any M we run.
 */
export const REPUTATION_SCALE = 1_000_000_000

export type ReputationErrorCode = 'BAD_PARAMS' | 'BAD_OPINION' | 'BAD_REPUTATIONS' | 'BAD_THRESHOLD' | 'BAD_ELECTION'

export interface ReputationParams {
  /** iota: weight of positive interactions. */
  readonly positive: number
  /** varsigma: weight of negative interactions. */
  readonly negative: number
  /** delta: weight of a fast valid response (delay <= t0). */
  readonly fast: number
  /** epsilon: weight of a slow valid response. */
  readonly slow: number
  /** vartheta: weight of a wrong signature. */
  readonly wrong: number
  /** mu: weight of a missing or late message. */
  readonly untimely: number
  /** rho: weight of the recent window. */
  readonly recent: number
  /** chi: weight of the past. */
  readonly past: number
  /**
   * T_recent, in heights: an interaction is recent when it happened within the last
   * `recentHeights` heights. Default 96: the paper's example T_recent is one day, and one day is
   * 96 slots of the production period (15 minutes, one block per slot).
   */
  readonly recentHeights: number
  /** t0 in milliseconds: a valid message that arrives within t0 of its trigger is "fast". */
  readonly t0Ms: number
  /**
   * The initial reputation T_j of every consensus node, in [0,1]. Default 0.5: the base rate of
   * subjective logic for a binary frame, i.e. "no evidence either way". (The paper's Fig. 9
   * starts at 0.53; the simulator uses that.) With equal initial values T = mean = T_j, so every
   * node is pre-selected in the first round, as in the paper.
   */
  readonly initialReputation: number
}

/** The paper's recommended weights (VI-C): P/N 0.4/0.6, F/S 0.6/0.4, W/U 0.6/0.4, R/P 0.7/0.3. */
export const DEFAULT_REPUTATION_PARAMS: ReputationParams = Object.freeze({
  positive: 0.4,
  negative: 0.6,
  fast: 0.6,
  slow: 0.4,
  wrong: 0.6,
  untimely: 0.4,
  recent: 0.7,
  past: 0.3,
  recentHeights: 96,
  t0Ms: 500,
  initialReputation: 0.5
})

const PAIRS = [
  ['positive', 'negative'],
  ['fast', 'slow'],
  ['wrong', 'untimely'],
  ['recent', 'past']
] as const

const KEYS = Object.keys(DEFAULT_REPUTATION_PARAMS) as (keyof ReputationParams)[]

function bad(msg: string): never {
  throw new BbnpError<ReputationErrorCode>('BAD_PARAMS', `reputation parameters: ${msg}`)
}

/** Throws BAD_PARAMS unless every pair lies in [0,1] and sums to 1 (within 1e-9). */
export function validateReputationParams(p: ReputationParams): ReputationParams {
  for (const k of KEYS) if (typeof p[k] !== 'number' || !Number.isFinite(p[k])) bad(`${k} must be a finite number`)
  for (const [a, b] of PAIRS) {
    if (p[a] < 0 || p[a] > 1 || p[b] < 0 || p[b] > 1) bad(`${a}/${b} must lie in [0,1]`)
    if (Math.abs(p[a] + p[b] - 1) > 1e-9) bad(`${a} + ${b} must be 1, got ${p[a] + p[b]}`)
  }
  if (!Number.isSafeInteger(p.recentHeights) || p.recentHeights < 1) bad('recentHeights must be a whole number >= 1')
  if (p.t0Ms < 0) bad('t0Ms must be >= 0')
  if (p.initialReputation < 0 || p.initialReputation > 1) bad('initialReputation must lie in [0,1]')
  return p
}

/**
 * Parameters from a genesis file: any subset of the fields, the rest from the defaults, then
 * validated. Unknown fields are refused so a typo cannot silently fall back to a default.
 */
export function parseReputationParams(input: unknown): ReputationParams {
  if (input === undefined || input === null) return DEFAULT_REPUTATION_PARAMS
  if (typeof input !== 'object' || Array.isArray(input)) bad('expected an object')
  for (const k of Object.keys(input)) if (!KEYS.includes(k as keyof ReputationParams)) bad(`unknown field ${k}`)
  return validateReputationParams(Object.freeze({ ...DEFAULT_REPUTATION_PARAMS, ...(input as Partial<ReputationParams>) }))
}

/** A value in [0,1] as a fixed-point integer (round half up, clamped). */
export function toFixedPoint(x: number): number {
  if (Number.isNaN(x)) throw new BbnpError<ReputationErrorCode>('BAD_REPUTATIONS', 'NaN reputation value')
  const v = Math.round(x * REPUTATION_SCALE)
  return Math.max(0, Math.min(v, REPUTATION_SCALE))
}

export function fromFixedPoint(v: number): number {
  return v / REPUTATION_SCALE
}

/** The genesis reputation vector: M equal entries (index 0 is node 1). */
export function initialReputations(nodes: number, params: ReputationParams = DEFAULT_REPUTATION_PARAMS): number[] {
  if (!Number.isSafeInteger(nodes) || nodes < 1)
    throw new BbnpError<ReputationErrorCode>('BAD_REPUTATIONS', 'need at least one consensus node')
  return new Array<number>(nodes).fill(toFixedPoint(params.initialReputation))
}

/** Throws BAD_REPUTATIONS unless `v` is M integers in [0, REPUTATION_SCALE]. */
export function validateReputations(v: readonly number[], nodes?: number): void {
  if (!Array.isArray(v) || v.length === 0) throw new BbnpError<ReputationErrorCode>('BAD_REPUTATIONS', 'empty reputation vector')
  if (nodes !== undefined && v.length !== nodes) {
    throw new BbnpError<ReputationErrorCode>('BAD_REPUTATIONS', `reputation vector has ${v.length} entries, expected ${nodes}`)
  }
  for (const x of v) {
    if (!Number.isSafeInteger(x) || x < 0 || x > REPUTATION_SCALE) {
      throw new BbnpError<ReputationErrorCode>('BAD_REPUTATIONS', `reputation ${x} is not an integer in [0, ${REPUTATION_SCALE}]`)
    }
  }
}
