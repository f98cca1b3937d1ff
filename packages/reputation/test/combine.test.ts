import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SeededRng } from '@bbnp/core'
import { randomScalar, secretKeyFromScalar } from '@bbnp/crypto'
import {
  checkReputationUpdate,
  combineOpinions,
  type Opinion,
  type OpinionVector,
  REPUTATION_SCALE,
  signOpinionVector,
  toFixedPoint,
  toOpinionEntry
} from '../src/index.ts'
import { code } from './helpers.ts'

const S = REPUTATION_SCALE

/** A vector from `observer` (M = m) with the given opinions and evidence counts; others (0.5, 0.25, 0.25), n = 4. */
function vec(m: number, observer: number, ops: Record<number, [Opinion, number]>, height = 1): OpinionVector {
  const opinions = []
  for (let j = 1; j <= m; j++) {
    if (j === observer) continue
    const [o, n] = ops[j] ?? [{ b: 0.5, d: 0.25, u: 0.25 }, 4]
    opinions.push(toOpinionEntry(j, o, n))
  }
  return { height, observer, opinions }
}

// M = 4, Gamma^(k-1) = (0.9, 0.6, 0.3, 0.5); three observers of node 4. Observer 3 has evidence
// counts (2, 2, 8), so IF_34 = 8 / 4 = 2; the others have n = 4 everywhere, IF = 1.
const prev = [0.9, 0.6, 0.3, 0.5].map(toFixedPoint)
const vectors = [
  vec(4, 1, { 4: [{ b: 0.6, d: 0.2, u: 0.2 }, 4] }),
  vec(4, 2, { 4: [{ b: 0.3, d: 0.3, u: 0.4 }, 4] }),
  vec(4, 3, { 1: [{ b: 0.5, d: 0.25, u: 0.25 }, 2], 2: [{ b: 0.5, d: 0.25, u: 0.25 }, 2], 4: [{ b: 0, d: 0.5, u: 0.5 }, 8] })
]

/** Node 4 by hand: recommended opinions, synthesis, T^f, equation (2). */
function handGamma4(literal: boolean): number {
  // i = 1: recommenders 2 (tau = 0.6 * 1) and 3 (tau = 0.3 * 2): rec = (0.15, 0.4, 0.45)
  // k = 0.2 + 0.45 - 0.09 = 0.56; b^f = (0.6*0.45 + 0.15*0.2)/0.56; u^f = 0.09/0.56
  const t1 = (0.6 * 0.45 + 0.15 * 0.2) / 0.56 + (0.5 * 0.09) / 0.56
  // i = 2: recommenders 1 (tau 0.9) and 3 (tau 0.6): rec = (0.36, 0.32, 0.32); k = 0.592
  const t2 = (0.3 * 0.32 + 0.36 * 0.4) / 0.592 + (0.5 * 0.128) / 0.592
  // i = 3: recommenders 1 (tau 0.9) and 2 (tau 0.6): rec = (0.48, 0.24, 0.28); k = 0.64
  const t3 = (0 * 0.28 + 0.48 * 0.5) / 0.64 + (0.5 * 0.14) / 0.64
  return (0.9 * t1 + 0.6 * t2 + 0.3 * t3) / (literal ? 1.8 + 0.5 : 1.8)
}

describe('combination of opinion vectors (IV-D-3, equation (2))', () => {
  it('matches a hand computation', () => {
    const out = combineOpinions(prev, vectors)
    assert.ok(Math.abs(out[3] - toFixedPoint(handGamma4(false))) <= 1, `${out[3]} vs ${handGamma4(false)}`)
    assert.ok(Math.abs(out[3] / S - 0.559936) < 1e-6)
  })

  it("the paper's literal denominator deflates by Gamma_j / sum", () => {
    const out = combineOpinions(prev, vectors, { literalDenominator: true })
    assert.ok(Math.abs(out[3] - toFixedPoint(handGamma4(true))) <= 1)
    assert.ok(out[3] < combineOpinions(prev, vectors)[3])
  })

  it('a node observed once: its local opinion with the prior, T = b + Gamma u', () => {
    // M = 3, observers 1 and 2: node 1 is observed by 2 only, with no recommender
    const v = [vec(3, 1, {}), vec(3, 2, { 1: [{ b: 0.2, d: 0.3, u: 0.5 }, 4] })]
    const out = combineOpinions([0.8, 0.5, 0.5].map(toFixedPoint), v)
    assert.equal(out[0], toFixedPoint(0.2 + 0.8 * 0.5))
  })

  it('carries the vector over with no vector or a single one', () => {
    const p = [0.1, 0.7, 0.4].map(toFixedPoint)
    assert.deepEqual(combineOpinions(p, []), p)
    assert.deepEqual(combineOpinions(p, [vec(3, 2, { 1: [{ b: 1, d: 0, u: 0 }, 4] })]), p)
  })

  it('a node no observer has evidence of keeps its reputation (the vacuous opinion is neutral)', () => {
    const p = [0.1, 0.7, 0.4].map(toFixedPoint)
    const none: [Opinion, number] = [{ b: 0, d: 0, u: 1 }, 0]
    const out = combineOpinions(p, [vec(3, 1, { 3: none }), vec(3, 2, { 3: none })])
    assert.equal(out[2], p[2])
    assert.notEqual(out[0], p[0], 'node 1 is observed by 2')
  })

  it('every reputation zero: equal weights, finite results, and good nodes can recover', () => {
    const p = [0, 0, 0]
    const good: Opinion = { b: 0.9, d: 0, u: 0.1 }
    const v = [
      vec(3, 1, { 2: [good, 4], 3: [good, 4] }),
      vec(3, 2, { 1: [good, 4], 3: [good, 4] }),
      vec(3, 3, { 1: [good, 4], 2: [good, 4] })
    ]
    const out = combineOpinions(p, v)
    for (const x of out) assert.ok(Number.isSafeInteger(x) && x > 0 && x <= S)
  })

  it('is deterministic and independent of the order the vectors arrive in', () => {
    const a = combineOpinions(prev, vectors)
    const b = combineOpinions(prev, [vectors[2], vectors[0], vectors[1]])
    assert.deepEqual(a, b)
    assert.deepEqual(a, combineOpinions(prev, vectors))
  })

  it('refuses mixed heights, duplicate observers and bad vectors', () => {
    assert.equal(
      code(() => combineOpinions(prev, [vectors[0], { ...vectors[1], height: 2 }])),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => combineOpinions(prev, [vectors[0], vectors[0]])),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => combineOpinions(prev, [vec(3, 1, {})])),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => combineOpinions([S + 1, 0], [])),
      'BAD_REPUTATIONS'
    )
    assert.equal(
      code(() => combineOpinions([0.5, 0.5], [])),
      'BAD_REPUTATIONS'
    )
    assert.equal(
      code(() => combineOpinions([], [])),
      'BAD_REPUTATIONS'
    )
  })
})

describe('replica check of a block’s reputation vector', () => {
  const rng = new SeededRng('combine-tests')
  const keys = Array.from({ length: 4 }, () => secretKeyFromScalar(randomScalar(rng)))
  const nodeKeys = keys.map((k) => k.toPublicKey().toBytes())
  const signed = vectors.map((v) => signOpinionVector(keys[v.observer - 1], v))
  const claimed = combineOpinions(prev, vectors)

  it('accepts the rightful vector', () => {
    const r = checkReputationUpdate({ height: 1, previous: prev, claimed, vectors: signed, nodeKeys })
    assert.deepEqual(r, { ok: true, reputations: claimed })
  })

  it('accepts a carried-over vector with no opinions, unless the policy asks for some', () => {
    assert.equal(checkReputationUpdate({ height: 1, previous: prev, claimed: prev, vectors: [], nodeKeys }).ok, true)
    const r = checkReputationUpdate({ height: 1, previous: prev, claimed: prev, vectors: [], nodeKeys, minVectors: 3 })
    assert.equal(r.ok === false && r.code, 'TOO_FEW_VECTORS')
  })

  it('rejects a vector that does not follow from the opinions', () => {
    const bad = claimed.slice()
    bad[1] += 1
    const r = checkReputationUpdate({ height: 1, previous: prev, claimed: bad, vectors: signed, nodeKeys })
    assert.equal(r.ok === false && r.code, 'MISMATCH')
    assert.equal(r.ok === false && r.node, 2)
    const dropped = checkReputationUpdate({ height: 1, previous: prev, claimed, vectors: signed.slice(1), nodeKeys })
    assert.equal(dropped.ok === false && dropped.code, 'MISMATCH', 'an opinion left out changes the result')
  })

  it('rejects a forged, replayed or duplicated opinion vector', () => {
    const forged = [signed[0], signOpinionVector(keys[0], vectors[1]), signed[2]]
    const f = checkReputationUpdate({ height: 1, previous: prev, claimed, vectors: forged, nodeKeys })
    assert.equal(f.ok === false && f.code, 'BAD_SIGNATURE')
    assert.equal(f.ok === false && f.observer, 2)
    const h = checkReputationUpdate({ height: 2, previous: prev, claimed, vectors: signed, nodeKeys })
    assert.equal(h.ok === false && h.code, 'WRONG_HEIGHT')
    const d = checkReputationUpdate({ height: 1, previous: prev, claimed, vectors: [...signed, signed[0]], nodeKeys })
    assert.equal(d.ok === false && d.code, 'DUPLICATE_OBSERVER')
    const l = checkReputationUpdate({ height: 1, previous: prev, claimed: claimed.slice(1), vectors: signed, nodeKeys })
    assert.equal(l.ok === false && l.code, 'BAD_REPUTATIONS')
  })
})
