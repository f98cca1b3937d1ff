import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  expectedRankHistogram,
  FIG9_EXPERIMENTS,
  gini,
  giniAmong,
  leadershipStats,
  simulateReputation,
  simulateSelection
} from '../src/index.ts'
import { code } from './helpers.ts'

const byId = (id: number) => FIG9_EXPERIMENTS[id - 1].weights

function close(a: number, e: number, eps: number, what: string): void {
  assert.ok(Math.abs(a - e) <= eps, `${what}: ${a} vs ${e}`)
}

describe('Fig. 9 simulator', () => {
  it('carries the weights of tables VI and VII', () => {
    assert.deepEqual(
      FIG9_EXPERIMENTS.map((e) => [e.weights.positive, e.weights.recent]),
      [
        [0.4, 0.7],
        [0.3, 0.7],
        [0.2, 0.7],
        [0.1, 0.7],
        [0.4, 0.6],
        [0.4, 0.8],
        [0.4, 0.9]
      ]
    )
  })

  it('paper preset: the fixed points the formulas predict', () => {
    for (const e of FIG9_EXPERIMENTS) {
      const s = simulateReputation(e.weights)
      for (const t of ['friendly', 'intermediate', 'malicious'] as const) assert.equal(s[t][0], 0.53)
      // friendly: b = 1, u = 0, so T^f = 1 from the first round
      assert.equal(s.friendly[1], 1)
      // intermediate: alpha/(alpha+beta) = iota * 1/2 / (iota/2 + varsigma/2) = iota
      close(s.intermediate[20], e.weights.positive, 1e-9, `E${e.id} intermediate`)
      // malicious: b = 0, d = u = 1/2, so T^f = Gamma * u^f = Gamma * (1/4)/(3/4)
      close(s.malicious[1], 0.53 / 3, 1e-9, `E${e.id} malicious round 1`)
      assert.equal(s.malicious[20], 0)
    }
  })

  it('paper preset: recent/past weights cancel out for stationary behaviour (E5-E7 = E1)', () => {
    const e1 = simulateReputation(byId(1))
    for (const id of [5, 6, 7]) assert.deepEqual(simulateReputation(byId(id)), e1)
  })

  it('turncoat preset: a heavier recent weight sinks a node that turned bad (the paper’s E5-E7 ordering)', () => {
    const end = (id: number) => simulateReputation(byId(id), { goodHistory: 0.5 }).malicious[20]
    assert.ok(end(5) > end(1) && end(1) > end(6) && end(6) > end(7), 'R/P 0.6 > 0.7 > 0.8 > 0.9')
    assert.ok(end(1) > end(2) && end(2) > end(3) && end(3) > end(4), 'P/N 0.4 > 0.3 > 0.2 > 0.1')
  })

  it("literal preset: equation (2)'s literal denominator caps a unanimous node at (M-1)/M", () => {
    close(simulateReputation(byId(1), { literalDenominator: true }).friendly[1], 8 / 9, 1e-9, 'friendly, M = 9')
  })

  it('lossy preset: 10% loss makes the friendly node tend to iota*delta*0.9 / (iota*delta*0.9 + varsigma*mu*0.1)', () => {
    close(simulateReputation(byId(1), { lossEvery: 10 }).friendly[20], 0.216 / 0.24, 0.01, 'friendly')
  })
})

describe('table VIII simulator', () => {
  it('is deterministic for a seed and changes with it; both rules count every selection', () => {
    const a = simulateSelection({ nodes: 40, selections: 30, experiments: 2, seed: 's1', draws: 'hash' })
    assert.deepEqual(simulateSelection({ nodes: 40, selections: 30, experiments: 2, seed: 's1', draws: 'hash' }), a)
    const b = simulateSelection({ nodes: 40, selections: 30, experiments: 2, seed: 's2', draws: 'hash' })
    assert.notDeepEqual(b[0].paper.ranks, a[0].paper.ranks)
    for (const r of a) {
      for (const rule of [r.paper, r.fair]) {
        assert.equal(
          rule.histogram.reduce((x, y) => x + y, 0),
          30
        )
        assert.equal(
          rule.wins.reduce((x, y) => x + y, 0),
          30
        )
      }
      assert.equal(r.paper.preselected, r.preselected)
      assert.ok(r.fair.preselected >= r.paper.preselected, 'the tolerance only adds nodes')
      assert.equal(r.paper.belowMean, 0, "the paper's rule never elects a node below T")
      close(
        r.expected.reduce((x, y) => x + y, 0),
        30,
        1e-9,
        'expected histogram'
      )
    }
  })

  it('runs on real VRF signatures, deterministically', () => {
    const o = { nodes: 8, selections: 4, experiments: 1, seed: 'vrf', draws: 'vrf' as const }
    const a = simulateSelection(o)
    assert.deepEqual(simulateSelection(o), a)
    assert.equal(a[0].paper.ranks.length, 4)
    assert.ok(a[0].paper.ranks.every((r) => r >= 1 && r <= a[0].paper.preselected))
    assert.ok(a[0].fair.ranks.every((r) => r >= 1 && r <= a[0].fair.preselected))
  })

  it('100 nodes, 2,000 selections: the fair rule spreads the lead, the paper rule does not', () => {
    const [r] = simulateSelection({ nodes: 100, selections: 2000, experiments: 1, seed: 'spread', draws: 'hash' })
    // paper: the top node wins about half of the heights (1/(k(k+1)) for rank k)
    assert.ok(Math.abs(r.paper.topShare - 0.5) < 0.05, `paper top share ${r.paper.topShare}`)
    assert.ok(r.paper.giniPreselected > 0.8, `paper Gini ${r.paper.giniPreselected}`)
    // fair: about Gamma_q / sum Gamma over ~60 pre-selected nodes in [0.45, 1]: 1/44 for the top one
    assert.ok(r.fair.topShare < 0.05, `fair top share ${r.fair.topShare}`)
    assert.ok(r.fair.giniPreselected < 0.3, `fair Gini ${r.fair.giniPreselected}`)
    assert.ok(r.fair.distinct === r.fair.preselected, 'every pre-selected node leads at some height')
  })

  it('the expected histogram follows P(k) = 1/(k(k+1)) + 1/(Q(Q+1))', () => {
    const e = expectedRankHistogram(50, 50)
    close(e[0], 50 * (1 - 1 / 4 + 3 / (50 * 51)), 1e-9, 'ranks 1-3')
    close(e[1], 50 * (1 / 4 - 1 / 11 + 7 / (50 * 51)), 1e-9, 'ranks 4-10')
    close(e[4], 50 * (1 / 31 - 1 / 51 + 20 / (50 * 51)), 1e-9, 'ranks 31-50')
  })

  it('gini', () => {
    assert.equal(gini([0, 0, 0]), 0)
    assert.equal(gini([2, 2, 2]), 0)
    close(gini([0, 0, 9]), 2 / 3, 1e-12, 'one winner of three')
    close(gini([1, 3]), 0.25, 1e-12, 'two')
  })

  it('gini among a subset, and leadership figures from a list of primaries', () => {
    close(giniAmong([5, 0, 5, 1], [1, 3]), 0, 1e-12, 'two equal nodes of four')
    close(giniAmong([5, 0, 5, 1], [1, 2]), 0.5, 1e-12, 'one of two led everything')
    assert.throws(() => giniAmong([1, 2], [3]), RangeError)
    const s = leadershipStats([1, 2, 2, 3, 2, 2], 4)
    assert.deepEqual(s.led, [1, 4, 1, 0])
    assert.equal(s.rounds, 6)
    close(s.topShare, 4 / 6, 1e-12, 'top share')
    close(s.gini, gini([1, 4, 1, 0]), 1e-12, 'gini')
    assert.deepEqual(leadershipStats([], 3), { led: [0, 0, 0], rounds: 0, topShare: 0, gini: 0 })
    assert.equal(
      code(() => leadershipStats([0], 3)),
      'BAD_REPUTATIONS'
    )
    assert.equal(
      code(() => leadershipStats([4], 3)),
      'BAD_REPUTATIONS'
    )
  })
})
