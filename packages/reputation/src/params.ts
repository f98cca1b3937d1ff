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

export type ReputationErrorCode = 'BAD_PARAMS' | 'BAD_OPINION' | 'BAD_REPUTATIONS' | 'BAD_THRESHOLD' | 'BAD_ELECTION' | 'BAD_RECORDS'

/**
 * How the primary is chosen within P (paper IV-D-1 step 3, PROTOCOL 4.1):
 * - `paper`: the member of P with the highest reputation, as the paper specifies (empty P: the
 *   highest X). The same node leads whenever it is in P, i.e. about half of all heights.
 * - `fair`: a reputation-weighted lottery over P whose tickets come from the VRF draws and Theta
 *   (see election.ts): every candidate leads in proportion to its reputation.
 */
export type ElectionRule = 'fair' | 'paper'

export const ELECTION_RULES: readonly ElectionRule[] = ['fair', 'paper']

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
  /** The choice within P: `fair` (reputation-weighted lottery) or `paper` (highest reputation). */
  readonly election: ElectionRule
  /**
   * Pre-selection (IV-D-1 step 1) admits Gamma_j >= T - preselectTolerance, in [0,1], applied on
   * the fixed-point integers. The paper: 0. Fair: 0.05, see FAIR_PRESET.
   */
  readonly preselectTolerance: number
  /**
   * Records older than this many heights no longer count at all (the past window of table II
   * becomes the heights between recentHeights and historyHeights ago). 0: never forget, the
   * paper. Otherwise at least recentHeights (a shorter history would cut T_recent itself) and
   * at most MAX_HISTORY_HEIGHTS (each observer keeps one tally per peer and height of it).
   */
  readonly historyHeights: number
}

/** Upper bound of historyHeights: about 104 days of 15-minute slots, M x 10,000 tallies per observer. */
export const MAX_HISTORY_HEIGHTS = 10_000

/** The paper's recommended weights (VI-C): P/N 0.4/0.6, F/S 0.6/0.4, W/U 0.6/0.4, R/P 0.7/0.3. */
const PAPER_WEIGHTS = {
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
} as const

/**
 * The paper's rules exactly (IV-D-1): pre-selection by Gamma_j >= T, the highest reputation in P,
 * records that never expire (the `past` window of table II holds everything older than T_recent).
 */
export const PAPER_PRESET: ReputationParams = Object.freeze({
  ...PAPER_WEIGHTS,
  election: 'paper',
  preselectTolerance: 0,
  historyHeights: 0
})

/**
 * The fair election (docs/reputation.md, "The fair rule"): the paper's weights and stages, with
 * - preselectTolerance 0.05: honest peers on a running network sit between 0.99 and 1.0 (a few
 *   missed messages each) while a peer that signs wrongly or stays silent on most of its votes
 *   falls towards 0; with the paper's weights Gamma* = 1 - f for a peer missing a share f of its
 *   messages and about 1 - 1.5 f for wrong signatures (docs, section 1's identity), so 0.05
 *   admits peers that miss up to about 1 message in 20 more than the average, five times the
 *   spread seen between honest peers, and still excludes every liar by a wide margin;
 * - historyHeights 384 = 4 x recentHeights (four days of 15-minute slots): one day recent, three
 *   days past. Anything older stops counting, so one early miss is forgotten after 384 heights
 *   and the peer returns to exactly the reputation of one that never missed;
 * - the reputation-weighted lottery within P instead of "highest reputation in P".
 */
export const FAIR_PRESET: ReputationParams = Object.freeze({
  ...PAPER_WEIGHTS,
  election: 'fair',
  preselectTolerance: 0.05,
  historyHeights: 4 * PAPER_WEIGHTS.recentHeights
})

export type ReputationPresetName = 'fair' | 'paper'

/** The full parameter set of a preset: `fair` (the default) or `paper` (the paper's rules exactly). */
export function reputationPreset(name: ReputationPresetName): ReputationParams {
  if (name === 'fair') return FAIR_PRESET
  if (name === 'paper') return PAPER_PRESET
  bad(`unknown preset ${JSON.stringify(name)} (expected "fair" or "paper")`)
}

/** The defaults: the fair preset. A genesis asks for the paper's rules with `{"preset": "paper"}`. */
export const DEFAULT_REPUTATION_PARAMS: ReputationParams = FAIR_PRESET

const PAIRS = [
  ['positive', 'negative'],
  ['fast', 'slow'],
  ['wrong', 'untimely'],
  ['recent', 'past']
] as const

const KEYS = Object.keys(DEFAULT_REPUTATION_PARAMS) as (keyof ReputationParams)[]
const NUMERIC_KEYS = KEYS.filter((k) => k !== 'election')

function bad(msg: string): never {
  throw new BbnpError<ReputationErrorCode>('BAD_PARAMS', `reputation parameters: ${msg}`)
}

/** Throws BAD_PARAMS unless every field is valid: each pair in [0,1] summing to 1 (within 1e-9), and so on. */
export function validateReputationParams(p: ReputationParams): ReputationParams {
  for (const k of NUMERIC_KEYS) if (typeof p[k] !== 'number' || !Number.isFinite(p[k])) bad(`${k} must be a finite number`)
  for (const [a, b] of PAIRS) {
    if (p[a] < 0 || p[a] > 1 || p[b] < 0 || p[b] > 1) bad(`${a}/${b} must lie in [0,1]`)
    if (Math.abs(p[a] + p[b] - 1) > 1e-9) bad(`${a} + ${b} must be 1, got ${p[a] + p[b]}`)
  }
  if (!Number.isSafeInteger(p.recentHeights) || p.recentHeights < 1) bad('recentHeights must be a whole number >= 1')
  if (p.t0Ms < 0) bad('t0Ms must be >= 0')
  if (p.initialReputation < 0 || p.initialReputation > 1) bad('initialReputation must lie in [0,1]')
  if (!ELECTION_RULES.includes(p.election)) bad(`election must be one of ${ELECTION_RULES.map((r) => `"${r}"`).join(', ')}`)
  if (p.preselectTolerance < 0 || p.preselectTolerance > 1) bad('preselectTolerance must lie in [0,1]')
  if (!Number.isSafeInteger(p.historyHeights) || p.historyHeights < 0 || p.historyHeights > MAX_HISTORY_HEIGHTS)
    bad(`historyHeights must be a whole number in [0, ${MAX_HISTORY_HEIGHTS}]`)
  if (p.historyHeights !== 0 && p.historyHeights < p.recentHeights)
    bad(`historyHeights (${p.historyHeights}) must be 0 (never forget) or at least recentHeights (${p.recentHeights})`)
  return p
}

/**
 * Parameters from a genesis file: any subset of the fields over a base, then validated. The base
 * is the default (fair) preset, or the one named by an optional `preset` field ("fair" or
 * "paper"): `{"preset": "paper"}` asks for the paper's rules in one word, and the fields given
 * beside it override the preset's (`{"preset": "paper", "preselectTolerance": 0.05}`). Unknown
 * fields are refused so a typo cannot silently fall back to a default.
 */
export function parseReputationParams(input: unknown): ReputationParams {
  if (input === undefined || input === null) return DEFAULT_REPUTATION_PARAMS
  if (typeof input !== 'object' || Array.isArray(input)) bad('expected an object')
  const { preset, ...fields } = input as Record<string, unknown>
  for (const k of Object.keys(fields)) if (!KEYS.includes(k as keyof ReputationParams)) bad(`unknown field ${k}`)
  if (preset !== undefined && preset !== 'fair' && preset !== 'paper')
    bad(`preset must be "fair" or "paper", got ${JSON.stringify(preset)}`)
  const base = preset === undefined ? DEFAULT_REPUTATION_PARAMS : reputationPreset(preset)
  return validateReputationParams(Object.freeze({ ...base, ...(fields as Partial<ReputationParams>) }))
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
