import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  DEFAULT_REPUTATION_PARAMS,
  InteractionRecords,
  initialReputations,
  parseReputationParams,
  REPUTATION_SCALE,
  toFixedPoint,
  validateReputationParams
} from '../src/index.ts'
import { code } from './helpers.ts'

const P = DEFAULT_REPUTATION_PARAMS

describe('parameters', () => {
  it("default to the paper's recommended weights", () => {
    assert.deepEqual(
      [P.positive, P.negative, P.fast, P.slow, P.wrong, P.untimely, P.recent, P.past],
      [0.4, 0.6, 0.6, 0.4, 0.6, 0.4, 0.7, 0.3]
    )
    assert.equal(validateReputationParams(P), P)
    assert.equal(REPUTATION_SCALE, 1_000_000_000)
  })
  it('fill a partial genesis object from the defaults', () => {
    const p = parseReputationParams({ positive: 0.1, negative: 0.9, recentHeights: 10 })
    assert.equal(p.positive, 0.1)
    assert.equal(p.recentHeights, 10)
    assert.equal(p.recent, 0.7)
    assert.equal(parseReputationParams(undefined), P)
  })
  it('refuse pairs that do not sum to 1, values outside [0,1], unknown fields', () => {
    assert.equal(
      code(() => parseReputationParams({ positive: 0.5 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ recent: 1.2, past: -0.2 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ recentHeights: 0 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ recentHeights: 2.5 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ initialReputation: 2 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ postive: 0.4 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ positive: Number.NaN })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams([])),
      'BAD_PARAMS'
    )
    assert.equal(parseReputationParams({ positive: 1, negative: 0 }).positive, 1)
  })
  it('fixed point rounds half up and clamps', () => {
    assert.equal(toFixedPoint(0.53), 530_000_000)
    assert.equal(toFixedPoint(1 / 3), 333_333_333)
    assert.equal(toFixedPoint(2 / 3), 666_666_667)
    assert.equal(toFixedPoint(1.0000001), REPUTATION_SCALE)
    assert.equal(toFixedPoint(-1e-12), 0)
    assert.equal(
      code(() => toFixedPoint(Number.NaN)),
      'BAD_REPUTATIONS'
    )
    assert.deepEqual(initialReputations(3), [500_000_000, 500_000_000, 500_000_000])
  })
})

describe('interaction records', () => {
  const params = { ...P, recentHeights: 3, t0Ms: 200 }

  it('classify a valid message by its delay against t0', () => {
    const r = new InteractionRecords({ self: 1, nodes: 3, params })
    assert.equal(r.recordValid(2, 1, 0), 'fast')
    assert.equal(r.recordValid(2, 1, 200), 'fast')
    assert.equal(r.recordValid(2, 1, 200.5), 'slow')
    r.recordWrongSignature(2, 1)
    r.recordMissing(2, 1)
    assert.deepEqual(r.counts(2, 1).recent, { fast: 2, slow: 1, wrong: 1, missing: 1 })
    assert.deepEqual(r.counts(3, 1), {
      recent: { fast: 0, slow: 0, wrong: 0, missing: 0 },
      past: { fast: 0, slow: 0, wrong: 0, missing: 0 }
    })
  })

  it('split recent (the last recentHeights heights) from past, before and after compaction', () => {
    const r = new InteractionRecords({ self: 2, nodes: 3, params })
    for (let h = 1; h <= 5; h++) r.recordValid(1, h, 10 * h)
    r.recordMissing(1, 1)
    const before = r.counts(1, 5)
    assert.deepEqual(before.recent, { fast: 3, slow: 0, wrong: 0, missing: 0 }) // heights 3, 4, 5
    assert.deepEqual(before.past, { fast: 2, slow: 0, wrong: 0, missing: 1 }) // heights 1, 2
    r.compact(5)
    assert.deepEqual(r.counts(1, 5), before)
    assert.deepEqual(r.counts(1, 7).recent, { fast: 1, slow: 0, wrong: 0, missing: 0 }) // only height 5 is recent at 7
  })

  it('refuse self-observation, unknown peers, bad heights and delays', () => {
    const r = new InteractionRecords({ self: 1, nodes: 3, params })
    assert.equal(
      code(() => r.recordMissing(1, 1)),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => r.recordMissing(4, 1)),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => r.recordMissing(0, 1)),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => r.recordMissing(2, -1)),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => r.recordValid(2, 1, Number.NaN)),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => new InteractionRecords({ self: 4, nodes: 3, params })),
      'BAD_OPINION'
    )
  })

  it('produce a complete fixed-point opinion vector in node order', () => {
    const r = new InteractionRecords({ self: 2, nodes: 4, params })
    r.recordValid(1, 1, 10)
    r.recordValid(1, 1, 10)
    r.recordWrongSignature(1, 1)
    r.recordMissing(3, 1)
    const v = r.opinionVector(1, params)
    assert.equal(v.height, 1)
    assert.equal(v.observer, 2)
    assert.deepEqual(
      v.opinions.map((e) => e.peer),
      [1, 3, 4]
    )
    for (const e of v.opinions) assert.equal(e.b + e.d + e.u, REPUTATION_SCALE)
    // node 1: alpha = 0.4*0.7*0.6*(2/3) = 0.112, beta = 0.6*0.7*0.6*(1/3) = 0.084, s = 1
    assert.equal(v.opinions[0].b, toFixedPoint(0.112 / 0.196))
    assert.equal(v.opinions[0].n, 3)
    assert.deepEqual(v.opinions[1], { peer: 3, b: 0, d: 0, u: REPUTATION_SCALE, n: 1 }) // never heard from
    assert.deepEqual(v.opinions[2], { peer: 4, b: 0, d: 0, u: REPUTATION_SCALE, n: 0 }) // no evidence
  })
})
