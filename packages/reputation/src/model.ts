/**
 * The subjective-logic formulas of the paper's section IV-D-3 (table II), as pure functions on
 * doubles. Every degenerate case has a defined value (never NaN):
 *
 * - no evidence (no records, or every record weighted zero): the vacuous opinion (0, 0, 1);
 * - a peer never heard from (only "missing" records): s = 0, so again (0, 0, 1): silence is
 *   uncertainty, not distrust, under u = 1 - s (partial silence still counts as untimely);
 * - two dogmatic opinions (u = 0 on both sides) in the synthesis: Josang's limit, the mean;
 * - a weighted mean whose weights are all zero: see `recommendedOpinion`.
 */
import type { ReputationParams } from './params.ts'
import { type Tally, tallyTotal, type WindowCounts } from './tally.ts'

/** (b, d, u): trust, distrust, uncertainty; b + d + u = 1 (paper III-B). */
export interface Opinion {
  b: number
  d: number
  u: number
}

export const VACUOUS: Readonly<Opinion> = Object.freeze({ b: 0, d: 0, u: 1 })

export interface Evidence {
  /** alpha_ij: weighted positive evidence. */
  alpha: number
  /** beta_ij: weighted negative evidence. */
  beta: number
  /** s_ij: communication quality, the (window-weighted) share of expected messages received. */
  s: number
  /**
   * N_ij, the number of interactions recorded, sent for IF. The paper writes N = alpha + beta,
   * which counts evidence only when alpha and beta are raw counts; ours are per-window shares
   * (see `evidence`), so the count itself is sent.
   */
  n: number
}

function shares(t: Tally): { fast: number; slow: number; wrong: number; missing: number; received: number } | null {
  const total = tallyTotal(t)
  if (total === 0) return null
  return {
    fast: t.fast / total,
    slow: t.slow / total,
    wrong: t.wrong / total,
    missing: t.missing / total,
    received: (t.fast + t.slow + t.wrong) / total
  }
}

/**
 * alpha_ij and beta_ij (IV-D-3 a):
 *   alpha = iota * [rho*(delta*a11 + eps*a12) + chi*(delta*a21 + eps*a22)]
 *   beta  = varsigma * [rho*(vartheta*b11 + mu*b12) + chi*(vartheta*b21 + mu*b22)]
 * The a's and b's are each window's shares (count / interactions in that window), not raw
 * counts: the recent window is bounded and the past grows without end, so with raw counts the
 * past would outweigh rho > chi after a few windows and a node could coast on old behaviour.
 *
 * s_ij (PROTOCOL 5: the share of j's expected messages that i received; a wrong signature was
 * received, a missing or late one was not) is the weighted mean of the windows' shares, over the
 * windows that hold records (so an empty past does not cap s at rho). A late message counts as
 * not received (it is "missing or late").
 *
 * A past that holds fewer records than the recent window weighs chi * n_past / n_recent instead
 * of chi: what the paper's counts would give it, and never more than chi. With full weight, the
 * first heights to leave the recent window would stand for the whole past alone: a peer that
 * missed only height 1 would see its past at 100% missing when height 1 leaves the window, and
 * fall from 0.99 to about 0.75 for a few heights (docs/reputation.md, "The fair rule"). The
 * weight is continuous with the empty past (0) and reaches chi once the past is as large as the
 * recent window, so stationary behaviour and every Fig. 9 end value are unchanged.
 */
export function evidence(c: WindowCounts, p: ReputationParams): Evidence {
  const r = shares(c.recent)
  const q = shares(c.past)
  const nRecent = tallyTotal(c.recent)
  const nPast = tallyTotal(c.past)
  const pastWeight = nRecent > 0 ? p.past * Math.min(1, nPast / nRecent) : p.past
  let alpha = 0
  let beta = 0
  let sNum = 0
  let sDen = 0
  if (r) {
    alpha += p.recent * (p.fast * r.fast + p.slow * r.slow)
    beta += p.recent * (p.wrong * r.wrong + p.untimely * r.missing)
    sNum += p.recent * r.received
    sDen += p.recent
  }
  if (q) {
    alpha += pastWeight * (p.fast * q.fast + p.slow * q.slow)
    beta += pastWeight * (p.wrong * q.wrong + p.untimely * q.missing)
    sNum += pastWeight * q.received
    sDen += pastWeight
  }
  return {
    alpha: p.positive * alpha,
    beta: p.negative * beta,
    s: sDen > 0 ? sNum / sDen : 0,
    n: nRecent + nPast
  }
}

/**
 * b = s*alpha/(alpha+beta), d = s*beta/(alpha+beta), u = 1 - s (IV-D-3 a). When alpha + beta = 0
 * (no records, or all weight on the side that has no records) the evidence cannot be split into
 * trust and distrust, so the opinion is vacuous (u = 1), not 0/0.
 */
export function opinionFromEvidence(e: Evidence): Opinion {
  const w = e.alpha + e.beta
  if (!(w > 0) || !(e.s > 0)) return { ...VACUOUS }
  const s = Math.min(e.s, 1)
  return { b: (s * e.alpha) / w, d: (s * e.beta) / w, u: 1 - s }
}

export function localOpinion(c: WindowCounts, p: ReputationParams): Opinion {
  return opinionFromEvidence(evidence(c, p))
}

/**
 * The expectation E = b + a*u (III-B), with the previous reputation as the base rate a: the
 * local opinion T_ij = b_ij + Gamma_j^(k-1) u_ij, and T^(f,k)_ij = b^f + Gamma_j^(k-1) u^f.
 */
export function expectation(o: Opinion, base: number): number {
  return o.b + base * o.u
}

/**
 * The synthesis (IV-D-3 c): Josang's consensus operator of the local opinion A and the
 * recommended opinion B, with k = uA + uB - uA*uB:
 *   b^f = (bA*uB + bB*uA)/k, d^f = (dA*uB + dB*uA)/k, u^f = uA*uB/k.
 * The paper prints d^f with the term d^r*u_ij run into the denominator's u_ij*u^r and u^f as
 * u_ij*u_ij; both are typesetting slips: the operator is symmetric in A and B, as above.
 * k = 0 only when both are dogmatic (uA = uB = 0): Josang's limit with equal weight, the mean.
 */
export function fuse(a: Opinion, b: Opinion): Opinion {
  const k = a.u + b.u - a.u * b.u
  if (k > 0) return { b: (a.b * b.u + b.b * a.u) / k, d: (a.d * b.u + b.d * a.u) / k, u: (a.u * b.u) / k }
  return { b: (a.b + b.b) / 2, d: (a.d + b.d) / 2, u: 0 }
}

/**
 * Interaction frequency IF_tj = N_tj / mean_{s in S} N_ts (IV-D-3 b), S the nodes t has any
 * record of. No interactions at all (N_tj = 0 or S empty) gives IF = 0: t has nothing to
 * recommend about j.
 */
export function interactionFrequency(nTj: number, nOfT: readonly number[]): number {
  if (!(nTj > 0)) return 0
  let sum = 0
  let count = 0
  for (const n of nOfT) {
    if (n > 0) {
      sum += n
      count++
    }
  }
  return count === 0 ? 0 : (nTj * count) / sum
}

/**
 * The recommended opinion (IV-D-3 b): the tau-weighted mean of the recommenders' opinions,
 * tau_tj = Gamma_t * IF_tj. Each recommender's triple is its own (b_tj uses s_tj; the paper's
 * s_ij there is a typo: i does not know the quality of t's link to j). If every recommender's
 * reputation is zero, the IFs alone weigh (nobody is more credible than anyone else); if the
 * weights still sum to zero (no recommender, or none with any interaction with j), the vacuous
 * opinion, by which the synthesis leaves the local opinion unchanged. `skip` leaves out one
 * item (the observer i itself, when the list holds every observer of j).
 */
export function recommendedOpinion(items: readonly { opinion: Opinion; reputation: number; frequency: number }[], skip = -1): Opinion {
  let repSum = 0
  for (let k = 0; k < items.length; k++) if (k !== skip) repSum += items[k].reputation
  const byReputation = repSum > 0
  let wSum = 0
  let b = 0
  let d = 0
  let u = 0
  for (let k = 0; k < items.length; k++) {
    if (k === skip) continue
    const it = items[k]
    const w = byReputation ? it.reputation * it.frequency : it.frequency
    wSum += w
    b += w * it.opinion.b
    d += w * it.opinion.d
    u += w * it.opinion.u
  }
  if (!(wSum > 0)) return { ...VACUOUS }
  return { b: b / wSum, d: d / wSum, u: u / wSum }
}
