/**
 * Polynomials over Z_r (polynomial.ts), which the gateway's recovery of B and every replica's
 * check of a fault proof share (PROTOCOL 3.5.5).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SeededRng } from '@bbnp/core'
import { evaluatePolynomial, interpolate, invertMod, modR, R, randomScalar } from '../src/index.ts'

const rng = new SeededRng('polynomial-test')

describe('polynomials over Z_r', () => {
  it('inverts mod r, and refuses zero', () => {
    for (const x of [1n, 2n, R - 1n, -5n, randomScalar(rng)]) assert.equal(modR(x * invertMod(x)), 1n)
    assert.throws(() => invertMod(0n), RangeError)
    assert.throws(() => invertMod(R), RangeError)
  })

  it('evaluates by Horner: 3 + 2x + x^2 at 5 is 38, and at r - 1 (that is, -1) is 2', () => {
    assert.equal(evaluatePolynomial([3n, 2n, 1n], 5n), 38n)
    assert.equal(evaluatePolynomial([3n, 2n, 1n], R - 1n), 2n)
    assert.equal(evaluatePolynomial([], 7n), 0n)
  })

  it('interpolates the polynomial of degree f through any f + 1 of its points, and no other', () => {
    for (const f of [0, 1, 2, 10]) {
      const p = Array.from({ length: f + 1 }, () => randomScalar(rng))
      const xs = [1, 3, 4, 7, 9, 12, 15, 20, 22, 30, 31].slice(0, f + 1)
      const at = interpolate(xs.map((x) => ({ x, y: evaluatePolynomial(p, BigInt(x)) })))
      for (const x of [0n, 2n, 5n, 31n, 1000n, R - 3n]) assert.equal(at(x), evaluatePolynomial(p, x), `f = ${f}, x = ${x}`)
      // A point moved off it: the interpolation through the moved set differs from p somewhere else.
      const moved = interpolate(xs.map((x, k) => ({ x, y: evaluatePolynomial(p, BigInt(x)) + (k === 0 ? 1n : 0n) })))
      assert.notEqual(moved(0n), evaluatePolynomial(p, 0n))
    }
    // Known answer: the line through (1, 2) and (2, 4) is 2x.
    assert.equal(
      interpolate([
        { x: 1, y: 2n },
        { x: 2, y: 4n }
      ])(10n),
      20n
    )
    assert.throws(
      () =>
        interpolate([
          { x: 2, y: 1n },
          { x: 2, y: 5n }
        ]),
      RangeError
    )
  })
})
