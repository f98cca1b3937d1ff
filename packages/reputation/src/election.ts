/**
 * Primary selection (paper IV-D-1, hardened as PROTOCOL 4.1): pre-selection by the mean
 * reputation, VRF draws from BLS signatures over the round seed, the set P, the highest
 * reputation in P, and the ordering that view changes walk through (PROTOCOL 4.5).
 *
 * - T is the mean of the current reputation vector, by integer division (floor). Flooring can
 *   only admit a node whose reputation is within 1e-9 of the exact mean; it keeps T an integer
 *   that every peer computes identically.
 * - Pre-selected: Gamma_j >= T. Since max >= mean >= T, the group is never empty.
 * - X_q = vrfOutput(sigma_q), sigma_q = BLS_q("bbnp/v1/election" || h || seed_h); Theta the same
 *   from the gateway's signature under "bbnp/v1/threshold". Draws are 64-bit integers and are
 *   compared as such, so every peer agrees exactly.
 * - P = {q pre-selected, with a draw : X_q >= Theta}; primary = highest reputation in P, ties to
 *   the lower node index; P empty: the pre-selected node with the highest X (ties: lower index).
 * - View v (PROTOCOL 4.5, "the next member of P by reputation, then by X"): order = P by
 *   reputation desc, then the other pre-selected nodes with a draw by X desc, both with ties to
 *   the lower index; view v is led by order[v mod order.length]. A pre-selected node that
 *   published no valid draw is not in the order: it could not be checked, and a node that does
 *   not take part in the election would only stall a view.
 */
import { BbnpError } from '@bbnp/core'
import { decodePublicKey, type PublicKey, vrfVerify } from '@bbnp/crypto'
import { type ReputationErrorCode, validateReputations } from './params.ts'

export interface ElectionOutcome {
  /** T: the mean reputation, floored (fixed point). */
  threshold: number
  /** Nodes with Gamma_j >= T, ascending index. */
  preselected: number[]
  /** Theta, the gateway's draw. */
  theta: bigint
  /** X_q of every pre-selected node that has a draw. */
  draws: ReadonlyMap<number, bigint>
  /** P, by reputation desc (ties: lower index). */
  candidates: number[]
  /** Who leads each view: P as above, then the other pre-selected nodes with a draw, by X desc. */
  order: number[]
}

/** T = floor(sum Gamma_j / M) (IV-A step 3, IV-D-1). */
export function reputationThreshold(reputations: readonly number[]): number {
  validateReputations(reputations)
  let sum = 0
  for (const r of reputations) sum += r
  return Math.floor(sum / reputations.length)
}

/** The pre-selection group {j : Gamma_j >= T} (IV-D-1 step 1), ascending index. */
export function preselect(reputations: readonly number[]): number[] {
  const t = reputationThreshold(reputations)
  const out: number[] = []
  for (let j = 1; j <= reputations.length; j++) if (reputations[j - 1] >= t) out.push(j)
  return out
}

/**
 * The election from reputations and (already checked) draws: pure, no cryptography. Draws of
 * nodes that are not pre-selected are ignored.
 */
export function computeElection(reputations: readonly number[], draws: ReadonlyMap<number, bigint>, theta: bigint): ElectionOutcome {
  const threshold = reputationThreshold(reputations)
  const preselected: number[] = []
  const usable = new Map<number, bigint>()
  for (let j = 1; j <= reputations.length; j++) {
    if (reputations[j - 1] < threshold) continue
    preselected.push(j)
    const x = draws.get(j)
    if (x !== undefined) usable.set(j, x)
  }
  const inP: number[] = []
  const rest: number[] = []
  for (const [q, x] of usable) (x >= theta ? inP : rest).push(q)
  const byReputation = (a: number, b: number) => reputations[b - 1] - reputations[a - 1] || a - b
  const byDraw = (a: number, b: number) => {
    const xa = usable.get(a)!
    const xb = usable.get(b)!
    return xa > xb ? -1 : xa < xb ? 1 : a - b
  }
  inP.sort(byReputation)
  rest.sort(byDraw)
  return { threshold, preselected, theta, draws: usable, candidates: inP, order: [...inP, ...rest] }
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
  if (p.nodeKeys.length !== m) {
    throw new BbnpError<ReputationErrorCode>('BAD_ELECTION', `${p.nodeKeys.length} node keys for ${m} reputations`)
  }
  const gw = toKey(p.gatewayKey)
  const theta = gw ? vrfVerify(gw, 'threshold', p.height, p.seed, p.thresholdSignature) : null
  if (theta === null)
    throw new BbnpError<ReputationErrorCode>('BAD_THRESHOLD', `the gateway's threshold signature for height ${p.height} does not verify`)
  const pre = new Set(preselect(p.reputations))
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
  const outcome = computeElection(p.reputations, draws, theta)
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
