/**
 * The paper's own experiments, run through the production code paths (records, fixed-point
 * opinion vectors, combination, election):
 *
 * - Fig. 9 / tables VI and VII (section VI-C): friendly, intermediate and malicious nodes under
 *   seven weight settings; each node type's mean reputation per round.
 * - Table VIII (section VI-D): 100 consensus nodes, three experiments of 50 primary selections,
 *   the reputation rank of each primary, plus fairness figures of our own, for the paper's rule
 *   and the fair rule side by side on the same reputations and draws.
 * - A running network (`simulateNetwork`): honest peers and liars height after height, to see
 *   who leads once the reputations have settled (docs/reputation.md, "The fair rule").
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
import { concatBytes, readU64be, SeededRng, u32be, utf8 } from '@bbnp/core'
import { randomScalar, secretKeyFromScalar, sha256, vrfProve } from '@bbnp/crypto'
import { combineOpinions } from './combine.ts'
import { computeElection, preselect, reputationThreshold } from './election.ts'
import { giniAmong, type LeadershipStats, leadershipStats } from './fairness.ts'
import type { OpinionVector } from './opinions.ts'
import {
  DEFAULT_REPUTATION_PARAMS,
  type ElectionRule,
  fromFixedPoint,
  initialReputations,
  REPUTATION_SCALE,
  type ReputationParams,
  reputationPreset,
  toFixedPoint
} from './params.ts'
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
  // The paper's experiment, so the paper's preset (records never fade; 20 rounds would not reach a history anyway).
  const params: ReputationParams = { ...reputationPreset('paper'), ...weights, recentHeights: o.recentHeights }
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

/** The two rules the selection simulator runs side by side, each with its preset's tolerance. */
export const SELECTION_RULES: readonly ElectionRule[] = ['paper', 'fair']

/** One rule's selections in one experiment. */
export interface SelectionRuleResult {
  rule: ElectionRule
  /** Size of this rule's pre-selection group (Gamma_j >= T - tolerance; reputations are fixed within an experiment). */
  preselected: number
  /** Primaries per rank bin (RANK_BINS). */
  histogram: number[]
  /** Reputation rank (1 = highest) of each selection's primary. */
  ranks: number[]
  /** Selections won by each node, index 0 being node 1. */
  wins: number[]
  /** Share of the selections won by the most frequent primary. */
  topShare: number
  /** Share of the selections won by the highest-reputation node. */
  topRankShare: number
  /** Gini coefficient of `wins` over all nodes (0: perfectly even, 1: one node wins all). */
  gini: number
  /** Gini coefficient of `wins` among this rule's pre-selected nodes (the ones that may lead). */
  giniPreselected: number
  /** Share of the selections led by a node below the mean T (only the tolerance admits them). */
  belowMean: number
  /** Selections in which P was empty. */
  emptyP: number
  /** Nodes that led at least once. */
  distinct: number
}

export interface SelectionExperimentResult {
  /** T, the mean reputation (fixed point). */
  threshold: number
  /** Nodes with Gamma_j >= T: the paper's pre-selection group Q. */
  preselected: number
  /** Expected histogram of the paper's rule under uniform draws (see expectedRankHistogram). */
  expected: number[]
  /** The paper's rule (highest reputation in P) and the fair rule (lottery in P), on the same reputations and draws. */
  paper: SelectionRuleResult
  fair: SelectionRuleResult
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

/** Seeded SHA-256 stand-ins for the VRF outputs (X_q, and Theta as node 0): uniform 64-bit integers, fast. */
function hashDraw(seed: Uint8Array, q: number): bigint {
  return readU64be(sha256(concatBytes(seed, u32be(q))))
}

/**
 * Table VIII: per experiment, reputations drawn uniformly in [0,1] (seeded; the paper does not
 * say how its 100 reputations were distributed, and only their order and the size of the
 * pre-selection group matter), fixed for its selections; each selection is one height with a
 * fresh seed_h, the pre-selected nodes' VRF draws and the gateway's Theta. Both rules see the same
 * reputations and draws (every node pre-selected by either rule draws).
 */
export function simulateSelection(options: Partial<SelectionSimOptions> = {}): SelectionExperimentResult[] {
  const o = { ...DEFAULT_SELECTION_SIM, ...options }
  const results: SelectionExperimentResult[] = []
  const params = { paper: reputationPreset('paper'), fair: reputationPreset('fair') }
  for (let e = 1; e <= o.experiments; e++) {
    const rng = new SeededRng(`${o.seed}/selection/${e}`)
    const reps = Array.from({ length: o.nodes }, () => rng.int(REPUTATION_SCALE + 1))
    const keys = o.draws === 'vrf' ? Array.from({ length: o.nodes + 1 }, () => secretKeyFromScalar(randomScalar(rng))) : []
    const rank = ranksOf(reps)
    const threshold = reputationThreshold(reps)
    const pre = { paper: preselect(reps, params.paper), fair: preselect(reps, params.fair) }
    const drawing = [...new Set([...pre.paper, ...pre.fair])].sort((a, b) => a - b)
    const tally = Object.fromEntries(
      SELECTION_RULES.map((rule) => [rule, { wins: new Array<number>(o.nodes).fill(0), ranks: [] as number[], emptyP: 0, below: 0 }])
    ) as Record<ElectionRule, { wins: number[]; ranks: number[]; emptyP: number; below: number }>
    for (let h = 1; h <= o.selections; h++) {
      const seed = sha256(utf8(`${o.seed}/selection/${e}/seed/${h}`))
      const draws = new Map<number, bigint>()
      let theta: bigint
      if (o.draws === 'vrf') {
        for (const q of drawing) draws.set(q, vrfProve(keys[q - 1], 'election', h, seed).output)
        theta = vrfProve(keys[o.nodes], 'threshold', h, seed).output
      } else {
        for (const q of drawing) draws.set(q, hashDraw(seed, q))
        theta = hashDraw(seed, 0)
      }
      for (const rule of SELECTION_RULES) {
        const el = computeElection(reps, draws, theta, params[rule])
        const t = tally[rule]
        if (el.candidates.length === 0) t.emptyP++
        const primary = el.order[0]
        t.wins[primary - 1]++
        t.ranks.push(rank[primary - 1])
        if (reps[primary - 1] < threshold) t.below++
      }
    }
    const top = rank.indexOf(1)
    const summary = (rule: ElectionRule): SelectionRuleResult => {
      const t = tally[rule]
      const stats = leadershipStats(
        t.wins.flatMap((w, k) => new Array<number>(w).fill(k + 1)),
        o.nodes
      )
      return {
        rule,
        preselected: pre[rule].length,
        histogram: RANK_BINS.map(([lo, hi]) => t.ranks.filter((r) => r >= lo && r <= hi).length),
        ranks: t.ranks,
        wins: t.wins,
        topShare: stats.topShare,
        topRankShare: t.wins[top] / o.selections,
        gini: stats.gini,
        giniPreselected: giniAmong(t.wins, pre[rule]),
        belowMean: t.below / o.selections,
        emptyP: t.emptyP,
        distinct: t.wins.filter((x) => x > 0).length
      }
    }
    results.push({
      threshold,
      preselected: pre.paper.length,
      expected: expectedRankHistogram(pre.paper.length, o.selections),
      paper: summary('paper'),
      fair: summary('fair')
    })
  }
  return results
}

// ---------------------------------------------------------------------------------------------
// A running network, heights after heights (the setting of issue 9's target)

export interface NetworkSimOptions {
  /** Honest consensus peers: nodes 1..honest. */
  honest: number
  /** Peers that sign their prepare and commit wrongly at every height (valid draw and pre-prepare): the next ones. */
  liars: number
  heights: number
  /** Each honest message is lost (recorded as missing) with this probability, independently per observer. */
  missRate: number
  /** Node 1 misses all of height 1 (it was still starting): the "one early miss" of the running network. */
  earlyMiss: boolean
  seed: string
  /** Rule, tolerance, windows: a full parameter set. */
  params: ReputationParams
}

export const DEFAULT_NETWORK_SIM: Omit<NetworkSimOptions, 'params'> = Object.freeze({
  honest: 5,
  liars: 2,
  heights: 200,
  missRate: 0.005,
  earlyMiss: true,
  seed: 'bbnp'
})

export interface NetworkSimResult {
  /** The primary (view 0) of each height, index 0 being height 1. */
  primaries: number[]
  /** The reputation vector each height's election used (block h-1's), index 0 being height 1. */
  reputations: number[][]
  /** Whether each node was pre-selected at each height ([height - 1][node - 1]). */
  preselected: boolean[][]
  stats: LeadershipStats
  /** Gini of leadership among the honest peers. */
  honestGini: number
  /** Each honest peer's share of the heights. */
  honestShares: number[]
  /** Per liar: the first height from which it was never pre-selected again (undefined: still pre-selected at the end). */
  liarsOutFrom: (number | undefined)[]
  /** Heights led by a liar after it fell out of pre-selection. */
  liarLeadsAfterFall: number
}

/**
 * Heights of a network through the production code: every peer keeps InteractionRecords of the
 * others' prepares, commits and the primary's pre-prepare, signs an opinion vector, the vectors
 * are combined by equation (2), and the election uses the vector of the previous block. The lag
 * is the runtime's (PROTOCOL 4.4): block h carries the combination of the opinions of height
 * h - 1, so the election of height h uses opinions up to h - 2. Draws are seeded SHA-256 stand-ins
 * for the VRF (same distribution). Liars publish honest opinion vectors; their only fault is their
 * votes, as in the e2e test with `--misbehave wrong-signatures`.
 */
export function simulateNetwork(options: Partial<NetworkSimOptions> = {}): NetworkSimResult {
  const o: NetworkSimOptions = { ...DEFAULT_NETWORK_SIM, params: DEFAULT_REPUTATION_PARAMS, ...options }
  const p = o.params
  const m = o.honest + o.liars
  const isLiar = (j: number) => j > o.honest
  const rng = new SeededRng(`${o.seed}/network`)
  const records = Array.from({ length: m }, (_, k) => new InteractionRecords({ self: k + 1, nodes: m, params: p }))
  const fast = p.t0Ms / 5
  let head = initialReputations(m, p) // block h-1's vector
  const opinions: OpinionVector[][] = [] // opinions of height h, combined into block h+1, which elects height h+2
  const primaries: number[] = []
  const reputations: number[][] = []
  const preselected: boolean[][] = []
  for (let h = 1; h <= o.heights; h++) {
    if (h >= 3) head = combineOpinions(head, opinions[h - 2])
    const seed = sha256(utf8(`${o.seed}/network/seed/${h}`))
    const draws = new Map<number, bigint>()
    for (let q = 1; q <= m; q++) draws.set(q, hashDraw(seed, q))
    const el = computeElection(head, draws, hashDraw(seed, 0), p)
    const absent = (j: number) => o.earlyMiss && h === 1 && j === 1
    // An absent primary fails its view; the next in the order leads (PROTOCOL 4.5).
    const failed = el.order.slice(
      0,
      el.order.findIndex((q) => !absent(q))
    )
    const primary = el.order[failed.length]
    primaries.push(primary)
    reputations.push(head)
    const pre = new Set(el.preselected)
    preselected.push(Array.from({ length: m }, (_, k) => pre.has(k + 1)))
    for (const rec of records) {
      if (absent(rec.self)) continue
      for (let j = 1; j <= m; j++) {
        if (j === rec.self) continue
        for (let k = 0; k < 2; k++) {
          if (isLiar(j)) rec.recordWrongSignature(j, h)
          else if (absent(j) || rng.float() < o.missRate) rec.recordMissing(j, h)
          else rec.recordValid(j, h, fast)
        }
        if (j === primary) rec.recordValid(j, h, fast)
        if (failed.includes(j)) rec.recordMissing(j, h)
      }
    }
    opinions[h] = records.filter((r) => !absent(r.self)).map((r) => r.opinionVector(h, p))
  }
  const stats = leadershipStats(primaries, m)
  const honest = Array.from({ length: o.honest }, (_, k) => k + 1)
  const liarsOutFrom = Array.from({ length: o.liars }, (_, k) => {
    const j = o.honest + k + 1
    let from: number | undefined
    for (let h = o.heights; h >= 1; h--) {
      if (preselected[h - 1][j - 1]) break
      from = h
    }
    return from
  })
  let liarLeadsAfterFall = 0
  primaries.forEach((q, k) => {
    const from = isLiar(q) ? liarsOutFrom[q - o.honest - 1] : undefined
    if (from !== undefined && k + 1 >= from) liarLeadsAfterFall++
  })
  return {
    primaries,
    reputations,
    preselected,
    stats,
    honestGini: giniAmong(stats.led, honest),
    honestShares: honest.map((j) => stats.led[j - 1] / o.heights),
    liarsOutFrom,
    liarLeadsAfterFall
  }
}
