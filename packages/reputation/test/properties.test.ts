import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { concatBytes, readU64be, SeededRng, u32be } from '@bbnp/core'
import { sha256 } from '@bbnp/crypto'
import {
  combineOpinions,
  computeElection,
  DEFAULT_REPUTATION_PARAMS,
  FIG9_EXPERIMENTS,
  InteractionRecords,
  localOpinion,
  type Opinion,
  type OpinionVector,
  REPUTATION_SCALE,
  type ReputationParams,
  reputationPreset,
  simulateReputation,
  toFixedPoint,
  toOpinionEntry
} from '../src/index.ts'

const S = REPUTATION_SCALE

function randomOpinion(rng: SeededRng): Opinion {
  const a = rng.float()
  const b = rng.float() * (1 - a)
  const roll = rng.int(4)
  if (roll === 0) return { b: 0, d: 0, u: 1 }
  if (roll === 1) return { b: a, d: 1 - a, u: 0 }
  return { b: a, d: b, u: 1 - a - b }
}

function randomVectors(rng: SeededRng, m: number, opinionOf: (i: number, j: number) => Opinion): OpinionVector[] {
  const out: OpinionVector[] = []
  for (let i = 1; i <= m; i++) {
    if (rng.int(4) === 0) continue // some nodes send no vector
    const opinions = []
    for (let j = 1; j <= m; j++) if (j !== i) opinions.push(toOpinionEntry(j, opinionOf(i, j), rng.int(3) === 0 ? 0 : rng.int(50)))
    out.push({ height: 1, observer: i, opinions })
  }
  return out
}

function randomPair(rng: SeededRng): [number, number] {
  const a = rng.int(11) / 10
  return [a, 1 - a]
}

function randomParams(rng: SeededRng): ReputationParams {
  const [positive, negative] = randomPair(rng)
  const [fast, slow] = randomPair(rng)
  const [wrong, untimely] = randomPair(rng)
  const [recent, past] = randomPair(rng)
  return { ...DEFAULT_REPUTATION_PARAMS, positive, negative, fast, slow, wrong, untimely, recent, past, recentHeights: 1 + rng.int(6) }
}

describe('properties of the model', () => {
  it('reputations stay integers in [0, SCALE] (500 random rounds, both denominators)', () => {
    const rng = new SeededRng('prop-range')
    for (let trial = 0; trial < 500; trial++) {
      const m = 2 + rng.int(7)
      const prev = Array.from({ length: m }, () => (rng.int(5) === 0 ? 0 : rng.int(S + 1)))
      const vectors = randomVectors(rng, m, () => randomOpinion(rng))
      for (const literalDenominator of [false, true]) {
        for (const x of combineOpinions(prev, vectors, { literalDenominator }))
          assert.ok(Number.isSafeInteger(x) && x >= 0 && x <= S, `${x}`)
      }
    }
  })

  it('a node everyone distrusts (b = 0 everywhere) never rises, whatever the others', () => {
    const rng = new SeededRng('prop-never-rises')
    for (let trial = 0; trial < 300; trial++) {
      const m = 3 + rng.int(6)
      const j = 1 + rng.int(m)
      let prev = Array.from({ length: m }, () => rng.int(S + 1))
      for (let round = 0; round < 3; round++) {
        const vectors = randomVectors(rng, m, (_, peer) => {
          if (peer !== j) return randomOpinion(rng)
          const d = rng.float()
          return { b: 0, d, u: 1 - d }
        })
        const next = combineOpinions(prev, vectors)
        assert.ok(next[j - 1] <= prev[j - 1], `node ${j} rose from ${prev[j - 1]} to ${next[j - 1]}`)
        prev = next
      }
    }
  })

  it('a node that only fails never rises, through the records, under random weights', () => {
    const rng = new SeededRng('prop-only-fails')
    for (let trial = 0; trial < 20; trial++) {
      const m = 5
      const params = randomParams(rng)
      const records = Array.from({ length: m }, (_, k) => new InteractionRecords({ self: k + 1, nodes: m, params }))
      let reps = Array.from({ length: m }, () => rng.int(S + 1))
      for (let h = 1; h <= 12; h++) {
        for (const r of records) {
          for (let j = 1; j <= m; j++) {
            if (j === r.self) continue
            for (let k = 0; k < 3; k++) {
              const roll = rng.int(4)
              if (j === m) r.record(j, h, roll < 2 ? 'wrong' : 'missing')
              else if (roll === 0) r.recordValid(j, h, rng.int(1000))
              else r.record(j, h, (['slow', 'wrong', 'missing'] as const)[roll - 1])
            }
          }
        }
        const next = combineOpinions(
          reps,
          records.map((r) => r.opinionVector(h, params))
        )
        assert.ok(next[m - 1] <= reps[m - 1], `trial ${trial} height ${h}: ${reps[m - 1]} -> ${next[m - 1]}`)
        reps = next
      }
    }
  })

  it('more negative weight: a partly failing node falls lower and faster (Fig. 9 experiments 1-4)', () => {
    const runs = FIG9_EXPERIMENTS.slice(0, 4).map((e) => simulateReputation(e.weights, { rounds: 8 }).intermediate)
    for (let round = 1; round <= 8; round++) {
      for (let k = 1; k < runs.length; k++) assert.ok(runs[k][round] < runs[k - 1][round], `round ${round}: E${k + 1} not below E${k}`)
    }
    // and in the local opinion itself, for random mixed evidence
    const rng = new SeededRng('prop-negative-weight')
    for (let trial = 0; trial < 200; trial++) {
      const t = () => ({ fast: rng.int(5), slow: rng.int(5), wrong: rng.int(5), missing: rng.int(5) })
      const c = { recent: t(), past: t() }
      const bs = [0.5, 0.6, 0.7, 0.8, 0.9].map(
        (negative) => localOpinion(c, { ...DEFAULT_REPUTATION_PARAMS, negative, positive: 1 - negative }).b
      )
      for (let k = 1; k < bs.length; k++) assert.ok(bs[k] <= bs[k - 1])
    }
  })
})

describe("properties of the selection, paper's rule", () => {
  const PAPER = reputationPreset('paper')
  it('the highest-reputation node is not always the primary, yet wins more often than lower ones', () => {
    const rng = new SeededRng('prop-selection')
    const m = 20
    const reps = Array.from({ length: m }, () => rng.int(S + 1))
    const byRank = reps.map((_, k) => k + 1).sort((a, b) => reps[b - 1] - reps[a - 1] || a - b)
    const wins = new Map<number, number>()
    const n = 3000
    let lowest = 0
    for (let h = 0; h < n; h++) {
      const draws = new Map<number, bigint>()
      for (let q = 1; q <= m; q++) draws.set(q, readU64be(sha256(concatBytes(u32be(h), u32be(q)))))
      const e = computeElection(reps, draws, readU64be(sha256(concatBytes(u32be(h), u32be(0)))), PAPER)
      const p = e.order[0]
      wins.set(p, (wins.get(p) ?? 0) + 1)
      lowest = e.preselected.length
    }
    const w = (rank: number) => wins.get(byRank[rank - 1]) ?? 0
    assert.ok(w(1) < n, 'the top node is not always chosen')
    // P(rank k) = 1/(k(k+1)) + 1/(Q(Q+1)) under uniform draws: 0.5 for the top node, 1/6 for the second
    assert.ok(Math.abs(w(1) / n - 0.5) < 0.04, `top share ${w(1) / n}`)
    assert.ok(Math.abs(w(2) / n - 1 / 6) < 0.03, `second share ${w(2) / n}`)
    assert.ok(w(1) > w(2) && w(2) > w(5) && w(5) > w(lowest), 'higher reputation, chosen more often')
    assert.ok(w(lowest) > 0, 'the lowest pre-selected node still wins sometimes')
    for (let r = lowest + 1; r <= m; r++) assert.equal(w(r), 0, 'below the threshold: never')
  })

  it('a tie in reputation is broken by the lower index, deterministically', () => {
    const reps = [toFixedPoint(0.5), toFixedPoint(0.5)]
    const e = computeElection(
      reps,
      new Map([
        [1, 5n],
        [2, 9n]
      ]),
      0n,
      PAPER
    )
    assert.equal(e.order[0], 1)
  })
})
