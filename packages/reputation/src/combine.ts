/**
 * The primary's combination of the signed local-opinion vectors into the next reputation vector
 * (paper IV-D-3: recommended opinions, synthesis, matrix (1) and equation (2); PROTOCOL 4.4),
 * and the replica's check of a block's vector.
 *
 * Determinism: the inputs are fixed-point integers; the arithmetic is IEEE-754 doubles (only
 * + - * /, no Math.pow or transcendental functions) in one fixed order (by node index); the
 * outputs are rounded to fixed point. Every peer therefore gets bit-identical vectors.
 *
 * Decisions where the paper is silent or ambiguous:
 * - Observers are the nodes whose vector is present; a node is never its own observer. A node
 *   no observer has evidence of keeps its reputation (vacuous opinions leave T^f_ij = Gamma_j).
 * - Fewer than MIN_OBSERVERS vectors: the whole vector is carried over unchanged. One lone
 *   observer has no recommenders, and must not be able to rewrite everyone's reputation alone.
 * - Equation (2)'s denominator: the paper sums Gamma over all M nodes, j included, while its
 *   numerator has T_jj = 0. Read literally that is not a weighted mean: it deflates every node by
 *   Gamma_j / sum Gamma, punishes the best nodes most, and depends on M (even unanimous perfect
 *   opinions give (sum - Gamma_j)/sum < 1). We sum over the observers of j (i != j), which makes
 *   equation (2) the Gamma-weighted mean of T^(f)_ij it is described as. `literalDenominator`
 *   exists only so the simulator can show the difference.
 * - All observer reputations zero: equal weights (the limit of equal, vanishing reputations), so
 *   a network whose reputations all reached zero can still recover.
 */
import { BbnpError, DOMAIN } from '@bbnp/core'
import { decodePublicKey, type PublicKey, verifyMultiple } from '@bbnp/crypto'
import { expectation, fuse, interactionFrequency, type Opinion, recommendedOpinion } from './model.ts'
import {
  entryOpinion,
  type OpinionVector,
  opinionVectorBytes,
  type SignedOpinionVector,
  validateOpinionVector,
  verifyOpinionVector
} from './opinions.ts'
import { fromFixedPoint, type ReputationErrorCode, toFixedPoint, validateReputations } from './params.ts'

export const MIN_OBSERVERS = 2

export interface CombineOptions {
  /** The paper's literal equation (2) denominator (sum over all nodes, j included). Simulation only. */
  literalDenominator?: boolean
}

function badOpinion(msg: string): never {
  throw new BbnpError<ReputationErrorCode>('BAD_OPINION', msg)
}

/**
 * Gamma^(k) from Gamma^(k-1) and the local-opinion vectors of one height. `previous` and the
 * result are fixed point, index 0 being node 1. Throws BAD_OPINION / BAD_REPUTATIONS on
 * malformed input (vectors of different heights, duplicate observers, wrong length).
 */
export function combineOpinions(previous: readonly number[], vectors: readonly OpinionVector[], options: CombineOptions = {}): number[] {
  validateReputations(previous)
  const m = previous.length
  const byObserver: (OpinionVector | undefined)[] = new Array(m + 1)
  for (const v of vectors) {
    validateOpinionVector(v, m)
    if (v.height !== vectors[0].height) badOpinion(`vectors of heights ${vectors[0].height} and ${v.height} mixed`)
    if (byObserver[v.observer]) badOpinion(`two vectors from observer ${v.observer}`)
    byObserver[v.observer] = v
  }
  const observers: number[] = []
  for (let i = 1; i <= m; i++) if (byObserver[i]) observers.push(i)
  if (observers.length < MIN_OBSERVERS) return previous.slice()

  const gamma = previous.map(fromFixedPoint)
  const g = (i: number) => gamma[i - 1]
  // opinion[i][j] and IF[i][j] for each observer i (matrix rows; undefined on the diagonal).
  const opinion: Opinion[][] = []
  const frequency: number[][] = []
  for (const i of observers) {
    const v = byObserver[i]!
    const ns = v.opinions.map((e) => e.n)
    opinion[i] = []
    frequency[i] = []
    for (const e of v.opinions) {
      opinion[i][e.peer] = entryOpinion(e)
      frequency[i][e.peer] = interactionFrequency(e.n, ns)
    }
  }

  const out: number[] = []
  for (let j = 1; j <= m; j++) {
    const obs = observers.filter((i) => i !== j)
    if (obs.length === 0) {
      out.push(previous[j - 1])
      continue
    }
    // Recommenders of j: every observer t != j (t != i is applied per i below).
    const recs = obs.map((t) => ({ opinion: opinion[t][j], reputation: g(t), frequency: frequency[t][j] }))
    let wSum = 0
    for (const i of obs) wSum += g(i)
    const equal = !(wSum > 0)
    let num = 0
    let den = 0
    for (let k = 0; k < obs.length; k++) {
      const i = obs[k]
      const rec = recommendedOpinion(recs, k)
      // T^(f,k)_ij = b^f + Gamma_j^(k-1) u^f (IV-D-3 c)
      const tf = expectation(fuse(opinion[i][j], rec), g(j))
      const w = equal ? 1 : g(i)
      num += w * tf
      den += w
    }
    // equation (2); see the module comment for the denominator
    if (options.literalDenominator && !equal) den += g(j)
    out.push(toFixedPoint(num / den))
  }
  return out
}

export type ReputationCheckCode =
  'BAD_REPUTATIONS' | 'BAD_OPINION' | 'WRONG_HEIGHT' | 'DUPLICATE_OBSERVER' | 'BAD_SIGNATURE' | 'TOO_FEW_VECTORS' | 'MISMATCH'

export type ReputationCheck =
  { ok: true; reputations: number[] } | { ok: false; code: ReputationCheckCode; reason: string; observer?: number; node?: number }

export interface ReputationUpdateInput {
  /** The height the opinions are about; every vector must carry it. */
  height: number
  /** Gamma^(k-1), fixed point. */
  previous: readonly number[]
  /** The vector claimed in the block. */
  claimed: readonly number[]
  /** The signed vectors the block carries. */
  vectors: readonly SignedOpinionVector[]
  /** Verification keys of the consensus nodes (G_j^{c_j}, PROTOCOL 1.3), index 0 being node 1. */
  nodeKeys: readonly (PublicKey | Uint8Array)[]
  /** Fewest vectors the block must carry (consensus policy; 0 allows a carried-over vector). */
  minVectors?: number
}

/**
 * What a replica runs on a block (PROTOCOL 4.4): every vector well formed, of the right height,
 * from a distinct observer, signed by that observer; then the combination recomputed and
 * compared entry by entry with the claimed vector. Never throws on bad input; says why.
 */
export function checkReputationUpdate(input: ReputationUpdateInput): ReputationCheck {
  const m = input.nodeKeys.length
  try {
    validateReputations(input.previous, m)
    validateReputations(input.claimed, m)
  } catch (e) {
    return { ok: false, code: 'BAD_REPUTATIONS', reason: (e as Error).message }
  }
  if (input.vectors.length < (input.minVectors ?? 0)) {
    return { ok: false, code: 'TOO_FEW_VECTORS', reason: `${input.vectors.length} opinion vectors, at least ${input.minVectors} required` }
  }
  const seen = new Set<number>()
  for (const sv of input.vectors) {
    const v = sv.vector
    try {
      validateOpinionVector(v, m)
    } catch (e) {
      return { ok: false, code: 'BAD_OPINION', reason: (e as Error).message, observer: v.observer }
    }
    if (v.height !== input.height) {
      return {
        ok: false,
        code: 'WRONG_HEIGHT',
        reason: `vector of observer ${v.observer} is for height ${v.height}, not ${input.height}`,
        observer: v.observer
      }
    }
    if (seen.has(v.observer))
      return { ok: false, code: 'DUPLICATE_OBSERVER', reason: `two vectors from observer ${v.observer}`, observer: v.observer }
    seen.add(v.observer)
  }
  const bad = firstBadSignature(input.vectors, input.nodeKeys)
  if (bad !== undefined)
    return { ok: false, code: 'BAD_SIGNATURE', reason: `opinion vector of observer ${bad} is not signed by it`, observer: bad }
  const reputations = combineOpinions(
    input.previous,
    input.vectors.map((sv) => sv.vector)
  )
  for (let j = 0; j < m; j++) {
    if (reputations[j] !== input.claimed[j]) {
      return {
        ok: false,
        code: 'MISMATCH',
        reason: `reputation of node ${j + 1}: block says ${input.claimed[j]}, recomputed ${reputations[j]}`,
        node: j + 1
      }
    }
  }
  return { ok: true, reputations }
}

/** One random-coefficient batch check; if it fails, one by one to name the culprit. */
function firstBadSignature(vectors: readonly SignedOpinionVector[], keys: readonly (PublicKey | Uint8Array)[]): number | undefined {
  if (vectors.length === 0) return undefined
  const pks: PublicKey[] = []
  try {
    for (const sv of vectors) {
      const k = keys[sv.vector.observer - 1]
      pks.push(k instanceof Uint8Array ? decodePublicKey(k) : k)
    }
  } catch {
    return vectors[pks.length].vector.observer
  }
  const sets = vectors.map((sv, k) => ({
    publicKey: pks[k],
    domain: DOMAIN.opinion,
    message: opinionVectorBytes(sv.vector),
    signature: sv.signature
  }))
  if (verifyMultiple(sets)) return undefined
  for (let k = 0; k < vectors.length; k++) if (!verifyOpinionVector(pks[k], vectors[k])) return vectors[k].vector.observer
  return undefined
}
