/**
 * The paper's own experiments, run through the production code paths (records, fixed-point
 * opinion vectors, combination, election):
 *
 * - Fig. 9 / tables VI and VII (section VI-C): friendly, intermediate and malicious nodes under
 *   seven weight settings; each node type's mean reputation per round.
 * - Table VIII (section VI-D): 100 consensus nodes, three experiments of 50 primary selections,
 *   the reputation rank of each primary, plus fairness figures of our own.
 *
 * Node behaviour (the paper: "the friendly node always interacts successfully, the intermediate
 * node is unable to interact successfully all the time, and the malicious node interacts
 * unsuccessfully"). Every round each node owes every observer MESSAGES_PER_ROUND = 4 messages
 * (our protocol's election signature, prepare, commit and opinion vector of one height), and
 * observers see the same thing (the paper's nodes are honest observers, II-B). Per message:
 *
 *   friendly      valid and fast, always
 *   intermediate  in turn: fast valid, slow valid, wrong signature, missing: half of its
 *                 interactions succeed (half of those slowly), half fail (half of those by a
 *                 wrong signature, half by silence)
 *   malicious     in turn: wrong signature, missing: it never succeeds
 *
 * The sequences are deterministic (a per-pair message counter), so every window holds exact
 * shares and the results can be checked by hand. Presets vary one assumption each.
 */
import { readU64be, SeededRng, u32be, utf8, concatBytes } from '@bbnp/core'
import { randomScalar, secretKeyFromScalar, sha256, vrfProve } from '@bbnp/crypto'
import { combineOpinions } from './combine.ts'
import { computeElection } from './election.ts'
import { DEFAULT_REPUTATION_PARAMS, fromFixedPoint, REPUTATION_SCALE, type ReputationParams, toFixedPoint } from './params.ts'
import { InteractionRecords } from './records.ts'
import type { InteractionKind } from './tally.ts'

export type NodeType = 'friendly' | 'intermediate' | 'malicious'
export const NODE_TYPES: readonly NodeType[] = ['friendly', 'intermediate', 'malicious']

export type WeightSetting = Pick<ReputationParams, 'positive' | 'negative' | 'fast' | 'slow' | 'wrong' | 'untimely' | 'recent' | 'past'>

export interface PaperExperiment {
  id: number
  table: 'VI' | 'VII'
  weights: WeightSetting
}

function w(pn: [number, number], rp: [number, number]): WeightSetting {
  return { positive: pn[0], negative: pn[1], fast: 0.6, slow: 0.4, wrong: 0.6, untimely: 0.4, recent: rp[0], past: rp[1] }
}

/** Tables VI (experiments 1-4: P/N varies) and VII (5-7: R/P varies). */
export const FIG9_EXPERIMENTS: readonly PaperExperiment[] = [
  { id: 1, table: 'VI', weights: w([0.4, 0.6], [0.7, 0.3]) },
  { id: 2, table: 'VI', weights: w([0.3, 0.7], [0.7, 0.3]) },
  { id: 3, table: 'VI', weights: w([0.2, 0.8], [0.7, 0.3]) },
  { id: 4, table: 'VI', weights: w([0.1, 0.9], [0.7, 0.3]) },
  { id: 5, table: 'VII', weights: w([0.4, 0.6], [0.6, 0.4]) },
  { id: 6, table: 'VII', weights: w([0.4, 0.6], [0.8, 0.2]) },
  { id: 7, table: 'VII', weights: w([0.4, 0.6], [0.9, 0.1]) }
]

/** The numbers section VI-C states (start, end); the others are only drawn in Fig. 9. */
export const PAPER_FIG9: Readonly<Record<number, Partial<Record<NodeType, { start: number; end: number }>>>> = {
  1: { friendly: { start: 0.53, end: 0.89 }, intermediate: { start: 0.53, end: 0.47 }, malicious: { start: 0.53, end: 0.16 } },
  5: { malicious: { start: 0.53, end: 0.2 } },
  6: { malicious: { start: 0.53, end: 0.11 } },
  7: { malicious: { start: 0.53, end: 0.06 } }
}

export const MESSAGES_PER_ROUND = 4

/** What each node type does with its messages in every round (see the module comment). */
export const NODE_BEHAVIOUR: Readonly<Record<NodeType, string>> = {
  friendly: 'every message valid and fast',
  intermediate: 'in turn: fast valid, slow valid, wrong signature, missing (half succeed)',
  malicious: 'in turn: wrong signature, missing (never succeeds)'
}

export interface ReputationSimOptions {
  rounds: number
  /** Nodes of each type (M = 3 * nodesPerType). */
  nodesPerType: number
  /** T_recent in rounds (one height per round). */
  recentHeights: number
  /** Every node's reputation before round 1 (Fig. 9 starts at 0.53). */
  initialReputation: number
  /** 0: a perfect network; n: every n-th message of every pair is lost (recorded as missing). */
  lossEvery: number
  /** Share of the rounds malicious nodes first behave like friendly ones (0: malicious from the start). */
  goodHistory: number
  /** Equation (2) with the paper's literal denominator (see combine.ts). */
  literalDenominator: boolean
}

export const DEFAULT_REPUTATION_SIM: ReputationSimOptions = Object.freeze({
  rounds: 20,
  nodesPerType: 3,
  recentHeights: 5,
  initialReputation: 0.53,
  lossEvery: 0,
  goodHistory: 0,
  literalDenominator: false
})

export const REPUTATION_PRESETS: Readonly<Record<string, { description: string; options: Partial<ReputationSimOptions> }>> = {
  paper: { description: "the paper's setting as described in VI-C, on a perfect network", options: {} },
  lossy: { description: 'as paper, but the network loses every 10th message (s = 0.9 for everyone)', options: { lossEvery: 10 } },
  literal: {
    description: "as paper, with equation (2)'s literal denominator (sum over all M, T_jj = 0)",
    options: { literalDenominator: true }
  },
  turncoat: {
    description: 'as paper, but malicious nodes behave like friendly ones for the first half of the rounds',
    options: { goodHistory: 0.5 }
  }
}

function outcome(type: NodeType, round: number, counter: number, o: ReputationSimOptions): InteractionKind {
  if (o.lossEvery > 0 && counter % o.lossEvery === o.lossEvery - 1) return 'missing'
  if (type === 'friendly' || (type === 'malicious' && round <= o.goodHistory * o.rounds)) return 'fast'
  if (type === 'intermediate') return (['fast', 'slow', 'wrong', 'missing'] as const)[counter % 4]
  return (['wrong', 'missing'] as const)[counter % 2]
}

/**
 * One experiment: the mean reputation of each node type after each round (index 0 is the
 * start), as doubles read from the fixed-point vector.
 */
export function simulateReputation(weights: WeightSetting, options: Partial<ReputationSimOptions> = {}): Record<NodeType, number[]> {
  const o = { ...DEFAULT_REPUTATION_SIM, ...options }
  const params: ReputationParams = { ...DEFAULT_REPUTATION_PARAMS, ...weights, recentHeights: o.recentHeights }
  const m = 3 * o.nodesPerType
  const typeOf = (j: number): NodeType => NODE_TYPES[Math.floor((j - 1) / o.nodesPerType)]
  const records = Array.from({ length: m }, (_, k) => new InteractionRecords({ self: k + 1, nodes: m, params }))
  let reps = new Array<number>(m).fill(toFixedPoint(o.initialReputation))
  const series = { friendly: [] as number[], intermediate: [] as number[], malicious: [] as number[] }
  const sample = () => {
    for (const t of NODE_TYPES) {
      let sum = 0
      for (let j = 1; j <= m; j++) if (typeOf(j) === t) sum += reps[j - 1]
      series[t].push(fromFixedPoint(sum) / o.nodesPerType)
    }
  }
  sample()
  for (let h = 1; h <= o.rounds; h++) {
    for (const rec of records) {
      for (let j = 1; j <= m; j++) {
        if (j === rec.self) continue
        for (let k = 0; k < MESSAGES_PER_ROUND; k++) {
          const kind = outcome(typeOf(j), h, (h - 1) * MESSAGES_PER_ROUND + k, o)
          if (kind === 'fast') rec.recordValid(j, h, params.t0Ms / 5)
          else if (kind === 'slow') rec.recordValid(j, h, params.t0Ms * 3)
          else rec.record(j, h, kind)
        }
      }
    }
    reps = combineOpinions(
      reps,
      records.map((r) => r.opinionVector(h, params)),
      { literalDenominator: o.literalDenominator }
    )
    sample()
  }
  return series
}

// ---------------------------------------------------------------------------------------------
// Table VIII

/** Reputation-rank bins of table VIII: 1-3, 4-10, 11-20, 21-30, 31 and lower. */
export const RANK_BINS: readonly (readonly [number, number])[] = [
  [1, 3],
  [4, 10],
  [11, 20],
  [21, 30],
  [31, Number.POSITIVE_INFINITY]
]

/** Table VIII as printed (the "31 ~" column reads "5 3 3", one value per experiment). */
export const PAPER_TABLE_VIII: readonly (readonly number[])[] = [
  [23, 15, 5, 2, 5],
  [26, 12, 4, 5, 3],
  [25, 10, 9, 3, 3]
]

export interface SelectionSimOptions {
  nodes: number
  selections: number
  experiments: number
  seed: string
  /** 'vrf': real BLS signatures (PROTOCOL 4.1); 'hash': SHA-256 stand-ins, same distribution, fast. */
  draws: 'vrf' | 'hash'
}

export const DEFAULT_SELECTION_SIM: SelectionSimOptions = Object.freeze({
  nodes: 100,
  selections: 50,
  experiments: 3,
  seed: 'bbnp',
  draws: 'vrf'
})

export interface SelectionExperimentResult {
  /** Primaries per rank bin (RANK_BINS). */
  histogram: number[]
  /** Reputation rank (1 = highest) of each selection's primary. */
  ranks: number[]
  /** Selections won by each node, index 0 being node 1. */
  wins: number[]
  /** Share of the selections won by the highest-reputation node. */
  topShare: number
  /** Gini coefficient of `wins` over all nodes (0: perfectly even, 1: one node wins all). */
  gini: number
  /** Selections in which P was empty (fallback: highest X). */
  emptyP: number
  /** Size of the pre-selection group (reputations are fixed within an experiment). */
  preselected: number
  /** Expected histogram under uniform draws, from the formula (see expectedRankHistogram). */
  expected: number[]
}

/** Gini coefficient of non-negative counts (0 when all are equal or all zero). */
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
 * The expected rank histogram of `selections` primaries with Q pre-selected nodes, X_q uniform
 * and Theta with density shape*theta^(shape-1) on [0,1) (shape 1: uniform, our VRF). Given
 * Theta = t, rank k wins when X_1..X_(k-1) < t <= X_k: t^(k-1)(1 - t); integrated,
 * P(k) = shape / ((k-1+shape)(k+shape)), 1/(k(k+1)) for a uniform Theta. P is empty with
 * probability shape/(Q+shape), and then each of the Q ranks is equally likely.
 */
export function expectedRankHistogram(q: number, selections: number, shape = 1): number[] {
  const pEmpty = shape / (q + shape)
  return RANK_BINS.map(([lo, hi]) => {
    let p = 0
    for (let k = lo; k <= Math.min(hi, q); k++) p += shape / ((k - 1 + shape) * (k + shape)) + pEmpty / q
    return p * selections
  })
}

/** Rank of every node by reputation, 1 = highest, ties to the lower index (as the election). */
function ranksOf(reps: readonly number[]): number[] {
  const order = reps.map((_, k) => k + 1).sort((a, b) => reps[b - 1] - reps[a - 1] || a - b)
  const rank = new Array<number>(reps.length)
  order.forEach((j, r) => {
    rank[j - 1] = r + 1
  })
  return rank
}

/**
 * Table VIII: per experiment, reputations drawn uniformly in [0,1] (seeded; the paper does not
 * say how its 100 reputations were distributed, and only their order and the size of the
 * pre-selection group matter), fixed for its selections; each selection is one height with a
 * fresh seed_h, pre-selected nodes' VRF draws and the gateway's Theta.
 */
export function simulateSelection(options: Partial<SelectionSimOptions> = {}): SelectionExperimentResult[] {
  const o = { ...DEFAULT_SELECTION_SIM, ...options }
  const results: SelectionExperimentResult[] = []
  for (let e = 1; e <= o.experiments; e++) {
    const rng = new SeededRng(`${o.seed}/selection/${e}`)
    const reps = Array.from({ length: o.nodes }, () => rng.int(REPUTATION_SCALE + 1))
    const keys = o.draws === 'vrf' ? Array.from({ length: o.nodes + 1 }, () => secretKeyFromScalar(randomScalar(rng))) : []
    const rank = ranksOf(reps)
    const pre = computeElection(reps, new Map(), 0n).preselected
    const wins = new Array<number>(o.nodes).fill(0)
    const ranks: number[] = []
    let emptyP = 0
    for (let h = 1; h <= o.selections; h++) {
      const seed = sha256(utf8(`${o.seed}/selection/${e}/seed/${h}`))
      const draws = new Map<number, bigint>()
      let theta: bigint
      if (o.draws === 'vrf') {
        for (const q of pre) draws.set(q, vrfProve(keys[q - 1], 'election', h, seed).output)
        theta = vrfProve(keys[o.nodes], 'threshold', h, seed).output
      } else {
        for (const q of pre) draws.set(q, readU64be(sha256(concatBytes(seed, u32be(q)))))
        theta = readU64be(sha256(concatBytes(seed, u32be(0))))
      }
      const el = computeElection(reps, draws, theta)
      if (el.candidates.length === 0) emptyP++
      const primary = el.order[0]
      wins[primary - 1]++
      ranks.push(rank[primary - 1])
    }
    const histogram = RANK_BINS.map(([lo, hi]) => ranks.filter((r) => r >= lo && r <= hi).length)
    const top = rank.indexOf(1)
    results.push({
      histogram,
      ranks,
      wins,
      topShare: wins[top] / o.selections,
      gini: gini(wins),
      emptyP,
      preselected: pre.length,
      expected: expectedRankHistogram(pre.length, o.selections)
    })
  }
  return results
}
