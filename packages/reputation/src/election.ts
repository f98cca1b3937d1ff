/**
 * Primary selection (paper IV-D-1, hardened as PROTOCOL 4.1) in its three stages: pre-selection by
 * reputation, VRF draws against the gateway's Theta forming P, and a choice within P; plus the
 * ordering that view changes walk through (PROTOCOL 4.5). Two rules share the stages
 * (`ReputationParams.election`, docs/reputation.md):
 *
 * - Pre-selected: Gamma_j >= T - preselectTolerance, T = floor(mean Gamma) on the fixed-point
 *   integers (the tolerance is rounded to fixed point too, and the bar is clamped at 0). Flooring
 *   can only admit a node within 1e-9 of the bar; it keeps T an integer every peer computes
 *   identically. Since max >= mean >= bar, the group is never empty.
 * - X_q = vrfOutput(sigma_q), sigma_q = BLS_q("bbnp/v1/election" || h || seed_h); Theta the same
 *   from the gateway's signature under "bbnp/v1/threshold". Draws are 64-bit integers compared as
 *   such. P = {q pre-selected, with a draw : X_q >= Theta}.
 * - `paper`: P by reputation desc (ties: lower index).
 * - `fair`: P in lottery order (see `lotteryTicket` and `compareLottery`): a reputation-weighted
 *   draw without replacement, so node q leads with probability Gamma_q / sum of Gamma over P.
 * - Both: P empty (probability 1/(Q+1)), the pre-selected node with the highest X leads, as in the
 *   paper: uniform among the pre-selected, who are all within the tolerance of the mean or above
 *   it. A lottery there would make the whole order depend on whether P is empty, i.e. on a single
 *   node's draw: one node could then reorder two others by withholding its own, and with "highest
 *   X" it cannot (below).
 * - View v (PROTOCOL 4.5): order = P in the rule's order, then the other pre-selected nodes with
 *   a draw by X desc (ties: lower index); view v is led by order[v mod order.length]. A
 *   pre-selected node that published no valid draw is not in the order: it could not be checked,
 *   and a node that does not take part in the election would only stall a view.
 *
 * Nobody can bias the order. Each node's place depends on its own values only: whether X_q >=
 * Theta, then its lottery key (fair) or reputation (paper) inside P, its X outside P. So the order
 * of two nodes never depends on a third one's draw, and withholding a draw (the only choice a peer
 * has: X_q is a unique BLS signature) just removes the withholder. The gateway cannot choose
 * Theta either (a unique signature too); it can only withhold it and stall the height, which the
 * replica's Theta request and view changes handle.
 */
import { BbnpError, concatBytes, readU64be, u64be, utf8 } from '@bbnp/core'
import { decodePublicKey, type PublicKey, sha256, vrfVerify } from '@bbnp/crypto'
import {
  DEFAULT_REPUTATION_PARAMS,
  type ElectionRule,
  type ReputationErrorCode,
  type ReputationParams,
  toFixedPoint,
  validateReputations
} from './params.ts'

/** What the election needs from the genesis parameters; a full ReputationParams will do. */
export type ElectionParams = Pick<ReputationParams, 'election' | 'preselectTolerance'>

export interface ElectionOutcome {
  /** The choice rule within P. */
  rule: ElectionRule
  /** T: the mean reputation, floored (fixed point). */
  threshold: number
  /** The pre-selection bar: max(0, T - preselectTolerance) (fixed point). Equals T under the paper's rule. */
  cutoff: number
  /** Nodes with Gamma_j >= cutoff, ascending index. */
  preselected: number[]
  /** Theta, the gateway's draw. */
  theta: bigint
  /** X_q of every pre-selected node that has a draw. */
  draws: ReadonlyMap<number, bigint>
  /** P, in the rule's order. */
  candidates: number[]
  /** Who leads each view: P as above, then the other pre-selected nodes with a draw, by X desc. */
  order: number[]
  /** Fair rule: the lottery number U_q of every member of P. */
  tickets: ReadonlyMap<number, bigint>
}

/** T = floor(sum Gamma_j / M) (IV-A step 3, IV-D-1). */
export function reputationThreshold(reputations: readonly number[]): number {
  validateReputations(reputations)
  let sum = 0
  for (const r of reputations) sum += r
  return Math.floor(sum / reputations.length)
}

/** The bar of pre-selection: max(0, T - tolerance), all in fixed point. */
export function preselectionCutoff(
  reputations: readonly number[],
  params: Pick<ElectionParams, 'preselectTolerance'> = DEFAULT_REPUTATION_PARAMS
): number {
  return Math.max(0, reputationThreshold(reputations) - toFixedPoint(params.preselectTolerance))
}

/** The pre-selection group {j : Gamma_j >= T - tolerance} (IV-D-1 step 1), ascending index. */
export function preselect(
  reputations: readonly number[],
  params: Pick<ElectionParams, 'preselectTolerance'> = DEFAULT_REPUTATION_PARAMS
): number[] {
  const cutoff = preselectionCutoff(reputations, params)
  const out: number[] = []
  for (let j = 1; j <= reputations.length; j++) if (reputations[j - 1] >= cutoff) out.push(j)
  return out
}

// ---------------------------------------------------------------------------------------------
// The lottery of the fair rule

/** Domain tag of the lottery number (PROTOCOL section 0: every derived value carries one). */
export const LOTTERY_DOMAIN = 'bbnp/v1/lottery'

/**
 * U_q = first 8 bytes of SHA-256("bbnp/v1/lottery" || X_q || Theta), a 64-bit integer. It depends
 * on q's own draw and Theta only: nobody else's draw can move q's ticket, and since Theta is the
 * last value revealed, nobody (q included) knows the lottery's result before the gateway signs,
 * which is why the paper has a random threshold at all (IV-D-1: "to prevent the primary node from
 * being known in advance by the attacker").
 */
export function lotteryTicket(x: bigint, theta: bigint): bigint {
  return readU64be(sha256(concatBytes(utf8(LOTTERY_DOMAIN), u64be(x), u64be(theta))))
}

/** Fractional bits of the fixed-point logarithm. */
export const LOG2_FRACTION_BITS = 48
const FRAC = BigInt(LOG2_FRACTION_BITS)
const TWO = 2n << FRAC

/**
 * floor-ish log2(n) * 2^48 for an integer 1 <= n <= 2^64, by bigint arithmetic only: the integer
 * part is the bit length, the fraction comes bit by bit from repeated squaring of the mantissa
 * (m in [1,2): m^2 >= 2 means the next bit is 1). Every step truncates, so the result is at most
 * about 2^-46 below the true value, and identical on every machine: Math.log is not (ECMAScript
 * leaves its rounding to the implementation), and the order of the lottery must be agreed bit
 * for bit by every peer.
 */
export function log2Fixed(n: bigint): bigint {
  if (n < 1n || n > 1n << 64n) throw new RangeError(`log2Fixed: ${n} outside [1, 2^64]`)
  if (n === 1n << 64n) return 64n << FRAC
  const hi = Number(n >> 32n)
  const k = BigInt(hi > 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(Number(n)))
  let m = k >= FRAC ? n >> (k - FRAC) : n << (FRAC - k)
  let r = k << FRAC
  let bit = 1n << (FRAC - 1n)
  for (let i = 0; i < LOG2_FRACTION_BITS; i++) {
    m = (m * m) >> FRAC
    if (m >= TWO) {
      m >>= 1n
      r |= bit
    }
    bit >>= 1n
  }
  return r
}

/**
 * -log2(U) in fixed point, U = (ticket + 1) / 2^64 in (0, 1]: an exponential variable (times
 * 1/ln 2, which does not change any comparison). The Efraimidis-Spirakis key of q is
 * lotteryExponent(U_q) / Gamma_q; sorting by it, smallest first, draws without replacement with
 * probability proportional to Gamma: the first place goes to q with probability
 * Gamma_q / sum Gamma.
 */
export function lotteryExponent(ticket: bigint): bigint {
  return (64n << FRAC) - log2Fixed(ticket + 1n)
}

/**
 * The lottery order of two nodes: negative when `a` comes first. Keys are compared by
 * cross-multiplication (E_a * Gamma_b < E_b * Gamma_a), exact in bigints. A node at reputation 0
 * has an infinite key and comes after every positive one; among several at 0 the exponents alone
 * decide, the limit of equal vanishing weights (the same choice as equation (2) when every
 * reputation is 0, combine.ts). Ties: the lower index.
 */
export function compareLottery(
  a: { node: number; weight: number; exponent: bigint },
  b: { node: number; weight: number; exponent: bigint }
): number {
  const za = a.weight === 0
  const zb = b.weight === 0
  if (za !== zb) return za ? 1 : -1
  const l = za ? a.exponent : a.exponent * BigInt(b.weight)
  const r = za ? b.exponent : b.exponent * BigInt(a.weight)
  return l < r ? -1 : l > r ? 1 : a.node - b.node
}

function lotteryOrder(
  nodes: readonly number[],
  reputations: readonly number[],
  draws: ReadonlyMap<number, bigint>,
  theta: bigint,
  tickets: Map<number, bigint>
): number[] {
  const entries = nodes.map((node) => {
    const ticket = lotteryTicket(draws.get(node)!, theta)
    tickets.set(node, ticket)
    return { node, weight: reputations[node - 1], exponent: lotteryExponent(ticket) }
  })
  return entries.sort(compareLottery).map((e) => e.node)
}

// ---------------------------------------------------------------------------------------------

/**
 * The election from reputations and (already checked) draws: pure, no signatures. Draws of nodes
 * that are not pre-selected are ignored. `params` picks the rule (default: the fair preset); pass
 * the genesis' parsed reputation parameters, or `reputationPreset('paper')` for the paper's rule.
 */
export function computeElection(
  reputations: readonly number[],
  draws: ReadonlyMap<number, bigint>,
  theta: bigint,
  params: ElectionParams = DEFAULT_REPUTATION_PARAMS
): ElectionOutcome {
  const rule = params.election
  if (rule !== 'fair' && rule !== 'paper') throw new BbnpError<ReputationErrorCode>('BAD_PARAMS', `unknown election rule ${String(rule)}`)
  const threshold = reputationThreshold(reputations)
  const cutoff = preselectionCutoff(reputations, params)
  const preselected: number[] = []
  const usable = new Map<number, bigint>()
  // Node-index order, whatever the map's insertion order: every peer builds the same lists.
  for (let j = 1; j <= reputations.length; j++) {
    if (reputations[j - 1] < cutoff) continue
    preselected.push(j)
    const x = draws.get(j)
    if (x !== undefined) usable.set(j, x)
  }
  const inP: number[] = []
  const rest: number[] = []
  for (const [q, x] of usable) (x >= theta ? inP : rest).push(q)
  const byDraw = (a: number, b: number) => {
    const xa = usable.get(a)!
    const xb = usable.get(b)!
    return xa > xb ? -1 : xa < xb ? 1 : a - b
  }
  const tickets = new Map<number, bigint>()
  const candidates =
    rule === 'paper'
      ? inP.sort((a, b) => reputations[b - 1] - reputations[a - 1] || a - b)
      : lotteryOrder(inP, reputations, usable, theta, tickets)
  const order = [...candidates, ...rest.sort(byDraw)]
  return { rule, threshold, cutoff, preselected, theta, draws: usable, candidates, order, tickets }
}

/** The leader of `view` (0 first), or undefined when nobody has a draw. */
export function primaryForView(e: ElectionOutcome, view: number): number | undefined {
  if (!Number.isSafeInteger(view) || view < 0) throw new RangeError(`bad view ${view}`)
  return e.order.length === 0 ? undefined : e.order[view % e.order.length]
}

export type ElectionRejectCode = 'UNKNOWN_NODE' | 'NOT_PRESELECTED' | 'DUPLICATE' | 'BAD_SIGNATURE'

export interface ElectionProofs {
  height: number
  /** seed_h: the hash of block h-1. */
  seed: Uint8Array
  /** Gamma (fixed point) that this height's election uses, index 0 being node 1. */
  reputations: readonly number[]
  /** The gateway's signature under "bbnp/v1/threshold". */
  thresholdSignature: Uint8Array
  gatewayKey: PublicKey | Uint8Array
  /** The election signatures at hand (in a block, or received), in any order. */
  electionSignatures: readonly { node: number; signature: Uint8Array }[]
  /** Verification keys of the consensus nodes (G_j^{c_j}, PROTOCOL 1.3), index 0 being node 1. */
  nodeKeys: readonly (PublicKey | Uint8Array)[]
  /** The rule and tolerance from the genesis; default the fair preset. */
  params?: ElectionParams
}

export interface VerifiedElection extends ElectionOutcome {
  height: number
  /** Signatures left out, each with a reason. */
  rejected: { node: number; code: ElectionRejectCode; reason: string }[]
  /** Pre-selected nodes without a valid draw. */
  absent: number[]
}

/**
 * Verify every signature and recompute the election (PROTOCOL 4.1 step 3: "every peer
 * recomputes the choice from the signed values"). A forged or misattributed election signature
 * is excluded with a reason; a forged threshold signature makes the whole election invalid
 * (throws BAD_THRESHOLD), since P cannot be formed without Theta.
 */
export function verifyElection(p: ElectionProofs): VerifiedElection {
  const m = p.reputations.length
  const params = p.params ?? DEFAULT_REPUTATION_PARAMS
  if (p.nodeKeys.length !== m) {
    throw new BbnpError<ReputationErrorCode>('BAD_ELECTION', `${p.nodeKeys.length} node keys for ${m} reputations`)
  }
  const gw = toKey(p.gatewayKey)
  const theta = gw ? vrfVerify(gw, 'threshold', p.height, p.seed, p.thresholdSignature) : null
  if (theta === null)
    throw new BbnpError<ReputationErrorCode>('BAD_THRESHOLD', `the gateway's threshold signature for height ${p.height} does not verify`)
  const pre = new Set(preselect(p.reputations, params))
  const draws = new Map<number, bigint>()
  const rejected: VerifiedElection['rejected'] = []
  for (const { node, signature } of p.electionSignatures) {
    if (!Number.isSafeInteger(node) || node < 1 || node > m) {
      rejected.push({ node, code: 'UNKNOWN_NODE', reason: `node ${node} is not a consensus node` })
    } else if (!pre.has(node)) {
      rejected.push({ node, code: 'NOT_PRESELECTED', reason: `node ${node} is below the reputation threshold` })
    } else if (draws.has(node)) {
      rejected.push({ node, code: 'DUPLICATE', reason: `a second election signature from node ${node}` })
    } else {
      const key = toKey(p.nodeKeys[node - 1])
      const x = key ? vrfVerify(key, 'election', p.height, p.seed, signature) : null
      if (x === null)
        rejected.push({ node, code: 'BAD_SIGNATURE', reason: `election signature of node ${node} for height ${p.height} does not verify` })
      else draws.set(node, x)
    }
  }
  const outcome = computeElection(p.reputations, draws, theta, params)
  return { ...outcome, height: p.height, rejected, absent: outcome.preselected.filter((q) => !draws.has(q)) }
}

function toKey(k: PublicKey | Uint8Array): PublicKey | null {
  if (!(k instanceof Uint8Array)) return k
  try {
    return decodePublicKey(k)
  } catch {
    return null
  }
}

export type PrimaryCheck = { ok: true } | { ok: false; expected: number | undefined; reason: string }

/** Is `claimed` the rightful primary of `view` in this (verified) election? */
export function checkPrimary(e: ElectionOutcome, view: number, claimed: number): PrimaryCheck {
  const expected = primaryForView(e, view)
  if (expected === undefined) return { ok: false, expected, reason: 'no pre-selected node has a valid draw: there is no primary' }
  if (expected !== claimed)
    return { ok: false, expected, reason: `node ${claimed} is not the primary of view ${view}; node ${expected} is` }
  return { ok: true }
}
