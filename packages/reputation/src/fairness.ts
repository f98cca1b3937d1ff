/**
 * Fairness figures of leadership (docs/reputation.md): how many heights each node led, the share
 * of the most frequent leader, and the Gini coefficient of the counts. Pure, for the simulator,
 * the HTTP API (/reputation, /metrics) and the devnet's leader histogram alike.
 */
import { BbnpError } from '@bbnp/core'
import type { ReputationErrorCode } from './params.ts'

/** Gini coefficient of non-negative counts: 0 when all are equal (or all zero), (n-1)/n when one holds everything. */
export function gini(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  let total = 0
  let weighted = 0
  for (let i = 0; i < n; i++) {
    total += s[i]
    weighted += (i + 1) * s[i]
  }
  return total === 0 ? 0 : (2 * weighted) / (n * total) - (n + 1) / n
}

/**
 * Gini among a subset: `counts` indexed by node - 1, `nodes` the 1-based indices to compare (e.g.
 * the pre-selected, or the honest peers). Nodes outside the subset do not count either way.
 */
export function giniAmong(counts: readonly number[], nodes: Iterable<number>): number {
  const xs: number[] = []
  for (const j of nodes) {
    if (!Number.isSafeInteger(j) || j < 1 || j > counts.length) throw new RangeError(`node ${j} is not an index of ${counts.length} counts`)
    xs.push(counts[j - 1])
  }
  return gini(xs)
}

export interface LeadershipStats {
  /** Heights (or views) led by each node, index 0 being node 1. */
  led: number[]
  /** How many were counted. */
  rounds: number
  /** The most frequent leader's share of them (0 when there are none). */
  topShare: number
  /** Gini of `led` over all the nodes (0: even; (n-1)/n: one node led everything). */
  gini: number
}

/** Leadership figures from the primaries of successive heights (node indices 1..nodes). */
export function leadershipStats(primaries: readonly number[], nodes: number): LeadershipStats {
  if (!Number.isSafeInteger(nodes) || nodes < 1) throw new BbnpError<ReputationErrorCode>('BAD_REPUTATIONS', 'need at least one node')
  const led = new Array<number>(nodes).fill(0)
  for (const p of primaries) {
    if (!Number.isSafeInteger(p) || p < 1 || p > nodes)
      throw new BbnpError<ReputationErrorCode>('BAD_REPUTATIONS', `primary ${p} is not a node index in [1, ${nodes}]`)
    led[p - 1]++
  }
  const rounds = primaries.length
  return { led, rounds, topShare: rounds === 0 ? 0 : Math.max(...led) / rounds, gini: gini(led) }
}
