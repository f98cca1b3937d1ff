import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  DEFAULT_REPUTATION_PARAMS,
  emptyTally,
  evidence,
  expectation,
  fuse,
  interactionFrequency,
  localOpinion,
  type Opinion,
  opinionFromEvidence,
  type ReputationParams,
  recommendedOpinion,
  type Tally
} from '../src/index.ts'

const P = DEFAULT_REPUTATION_PARAMS

function tally(t: Partial<Tally>): Tally {
  return { ...emptyTally(), ...t }
}

function close(actual: number, expected: number, what: string, eps = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= eps, `${what}: ${actual} != ${expected}`)
}

function closeOpinion(a: Opinion, e: Opinion, eps = 1e-12): void {
  close(a.b, e.b, 'b', eps)
  close(a.d, e.d, 'd', eps)
  close(a.u, e.u, 'u', eps)
}

describe('alpha, beta, s (IV-D-3 a)', () => {
  it('recent window only: shares of 2 fast, 1 slow, 1 wrong', () => {
    const e = evidence({ recent: tally({ fast: 2, slow: 1, wrong: 1 }), past: emptyTally() }, P)
    // alpha = 0.4 * 0.7 * (0.6*0.5 + 0.4*0.25) = 0.112; beta = 0.6 * 0.7 * (0.6*0.25) = 0.063
    close(e.alpha, 0.112, 'alpha')
    close(e.beta, 0.063, 'beta')
    close(e.s, 1, 's') // every expected message arrived (a wrong signature arrived too)
    assert.equal(e.n, 4)
    // b = 0.112/0.175, d = 0.063/0.175, u = 0
    closeOpinion(opinionFromEvidence(e), { b: 0.64, d: 0.36, u: 0 })
  })

  it('both windows, weighted by rho/chi', () => {
    const c = { recent: tally({ fast: 1, missing: 1 }), past: tally({ fast: 3, wrong: 1 }) }
    const e = evidence(c, P)
    // recent shares fast .5 missing .5; past shares fast .75 wrong .25
    const alpha = 0.4 * (0.7 * (0.6 * 0.5) + 0.3 * (0.6 * 0.75)) // 0.138
    const beta = 0.6 * (0.7 * (0.4 * 0.5) + 0.3 * (0.6 * 0.25)) // 0.111
    close(e.alpha, alpha, 'alpha')
    close(e.beta, beta, 'beta')
    close(e.alpha, 0.138, 'alpha by hand')
    close(e.beta, 0.111, 'beta by hand')
    close(e.s, 0.7 * 0.5 + 0.3 * 1, 's') // 0.65
    assert.equal(e.n, 6)
    const o = localOpinion(c, P)
    close(o.b, (0.65 * 0.138) / 0.249, 'b')
    close(o.d, (0.65 * 0.111) / 0.249, 'd')
    close(o.u, 0.35, 'u')
    close(o.b + o.d + o.u, 1, 'sum')
  })

  it('a past smaller than the recent window weighs chi * n_past / n_recent (the counts reading), never more than chi', () => {
    // one early miss just left the recent window: the past holds 1 record, the recent window 4
    const c = { recent: tally({ fast: 4 }), past: tally({ missing: 1 }) }
    const e = evidence(c, P)
    const wPast = 0.3 * (1 / 4)
    close(e.alpha, 0.4 * 0.7 * 0.6, 'alpha')
    close(e.beta, 0.6 * wPast * 0.4, 'beta')
    close(e.s, 0.7 / (0.7 + wPast), 's')
    // without the ramp the lone miss would stand for the whole past: alpha/(alpha+beta) = 0.7
    assert.ok(e.alpha / (e.alpha + e.beta) > 0.9)
    // a past as large as the recent window (or larger) weighs chi, as before
    const full = evidence({ recent: tally({ fast: 4 }), past: tally({ missing: 4 }) }, P)
    close(full.beta, 0.6 * 0.3 * 0.4, 'beta, full past')
    const larger = evidence({ recent: tally({ fast: 4 }), past: tally({ missing: 40 }) }, P)
    close(larger.beta, 0.6 * 0.3 * 0.4, 'beta, larger past')
    // a recent window without records leaves the past its full weight
    close(evidence({ recent: emptyTally(), past: tally({ fast: 1, missing: 1 }) }, P).s, 0.5, 's, past only')
  })

  it('an empty past does not cap s at rho', () => {
    const e = evidence({ recent: tally({ fast: 5 }), past: emptyTally() }, P)
    close(e.s, 1, 's')
  })

  it('no evidence yet: the vacuous opinion, not NaN', () => {
    const c = { recent: emptyTally(), past: emptyTally() }
    assert.deepEqual(evidence(c, P), { alpha: 0, beta: 0, s: 0, n: 0 })
    assert.deepEqual(localOpinion(c, P), { b: 0, d: 0, u: 1 })
  })

  it('a peer never heard from (only missing): uncertainty, with its count', () => {
    const c = { recent: tally({ missing: 8 }), past: tally({ missing: 4 }) }
    const e = evidence(c, P)
    assert.equal(e.s, 0)
    assert.equal(e.n, 12)
    assert.deepEqual(localOpinion(c, P), { b: 0, d: 0, u: 1 })
  })

  it('all weight on one side: no NaN, and the weightless side is ignored', () => {
    const onlyPositive: ReputationParams = { ...P, positive: 1, negative: 0 }
    const failing = { recent: tally({ wrong: 3 }), past: emptyTally() }
    assert.deepEqual(localOpinion(failing, onlyPositive), { b: 0, d: 0, u: 1 })
    const onlyNegative: ReputationParams = { ...P, positive: 0, negative: 1 }
    const mixed = { recent: tally({ fast: 3, wrong: 1 }), past: emptyTally() }
    closeOpinion(localOpinion(mixed, onlyNegative), { b: 0, d: 1, u: 0 })
    const onlyPast: ReputationParams = { ...P, recent: 0, past: 1 }
    assert.deepEqual(localOpinion({ recent: tally({ fast: 2 }), past: emptyTally() }, onlyPast), { b: 0, d: 0, u: 1 })
    const onlySlow: ReputationParams = { ...P, fast: 0, slow: 1 }
    closeOpinion(localOpinion({ recent: tally({ fast: 1, slow: 1, missing: 2 }), past: emptyTally() }, onlySlow), {
      // alpha = 0.4*0.7*0.25 = 0.07, beta = 0.6*0.7*0.4*0.5 = 0.084, s = 0.5
      b: (0.5 * 0.07) / 0.154,
      d: (0.5 * 0.084) / 0.154,
      u: 0.5
    })
  })
})

describe('synthesis: the consensus operator (IV-D-3 c)', () => {
  it('matches hand-computed values', () => {
    // k = 0.2 + 0.4 - 0.08 = 0.52
    closeOpinion(fuse({ b: 0.6, d: 0.2, u: 0.2 }, { b: 0.3, d: 0.3, u: 0.4 }), { b: 0.3 / 0.52, d: 0.14 / 0.52, u: 0.08 / 0.52 })
  })
  it('is symmetric and keeps b + d + u = 1', () => {
    const a = { b: 0.1, d: 0.7, u: 0.2 }
    const b = { b: 0.5, d: 0.1, u: 0.4 }
    const ab = fuse(a, b)
    closeOpinion(ab, fuse(b, a))
    close(ab.b + ab.d + ab.u, 1, 'sum')
  })
  it('the vacuous opinion is its identity', () => {
    const a = { b: 0.25, d: 0.5, u: 0.25 }
    closeOpinion(fuse(a, { b: 0, d: 0, u: 1 }), a)
    closeOpinion(fuse({ b: 0, d: 0, u: 1 }, a), a)
  })
  it('two dogmatic opinions: the mean, not 0/0', () => {
    assert.deepEqual(fuse({ b: 1, d: 0, u: 0 }, { b: 0.5, d: 0.5, u: 0 }), { b: 0.75, d: 0.25, u: 0 })
  })
  it('expectation: T = b + Gamma * u', () => {
    close(expectation({ b: 0.5, d: 0.2, u: 0.3 }, 0.4), 0.62, 'T')
  })
})

describe('recommended opinion and interaction frequency (IV-D-3 b)', () => {
  it('IF is N over the mean N of the nodes interacted with', () => {
    const ns = [4, 2, 0, 6] // mean over the three non-zero: 4
    close(interactionFrequency(6, ns), 1.5, 'IF')
    close(interactionFrequency(2, ns), 0.5, 'IF')
    assert.equal(interactionFrequency(0, ns), 0)
    assert.equal(interactionFrequency(0, [0, 0]), 0)
  })
  it('is the tau = Gamma * IF weighted mean', () => {
    const items = [
      { opinion: { b: 0.8, d: 0.1, u: 0.1 }, reputation: 0.5, frequency: 1 },
      { opinion: { b: 0.2, d: 0.6, u: 0.2 }, reputation: 0.25, frequency: 2 }
    ]
    closeOpinion(recommendedOpinion(items), { b: 0.5, d: 0.35, u: 0.15 })
    closeOpinion(recommendedOpinion(items, 0), items[1].opinion)
  })
  it('all recommenders at reputation zero: IF alone weighs', () => {
    const items = [
      { opinion: { b: 0.8, d: 0.1, u: 0.1 }, reputation: 0, frequency: 1 },
      { opinion: { b: 0.2, d: 0.6, u: 0.2 }, reputation: 0, frequency: 2 }
    ]
    closeOpinion(recommendedOpinion(items), { b: 1.2 / 3, d: 1.3 / 3, u: 0.5 / 3 })
  })
  it('no recommender, or none that interacted: vacuous', () => {
    assert.deepEqual(recommendedOpinion([]), { b: 0, d: 0, u: 1 })
    assert.deepEqual(recommendedOpinion([{ opinion: { b: 1, d: 0, u: 0 }, reputation: 1, frequency: 0 }]), { b: 0, d: 0, u: 1 })
    assert.deepEqual(recommendedOpinion([{ opinion: { b: 1, d: 0, u: 0 }, reputation: 1, frequency: 1 }], 0), { b: 0, d: 0, u: 1 })
  })
})
