/**
 * Interpolation over Z_r and the robust recovery of B (PROTOCOL 3.5.1, 3.5.5): exact recovery
 * with up to f wrong values when enough agree, refusal when they do not, the wrong peers named;
 * and the decoder's answer checked against a brute force over every subset of f + 1 points.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BbnpError, SeededRng } from '@bbnp/core'
import { R, randomScalar } from '@bbnp/crypto'
import {
  agreementNeeded,
  evaluatePolynomial,
  faultTolerance,
  invertMod,
  lagrangeAtZero,
  type PartialValue,
  recoverSelfMaskSum,
  shamirShares
} from '../src/index.ts'

const rng = new SeededRng('shamir')
const isCode = (code: string) => (e: unknown) => e instanceof BbnpError && e.code === code
const randomPoly = (degree: number) => Array.from({ length: degree + 1 }, () => randomScalar(rng))

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs]
  for (let k = a.length - 1; k > 0; k--) {
    const j = rng.int(k + 1)
    ;[a[k], a[j]] = [a[j], a[k]]
  }
  return a
}

function subsets<T>(xs: T[], size: number): T[][] {
  if (size === 0) return [[]]
  if (xs.length < size) return []
  const [first, ...rest] = xs
  return [...subsets(rest, size - 1).map((s) => [first, ...s]), ...subsets(rest, size)]
}

/** Every polynomial of degree <= f (as its value at 0) agreeing with at least `needed` of the values. */
function bruteForce(values: PartialValue[], f: number, needed: number): bigint[] {
  const found = new Set<bigint>()
  for (const s of subsets(values, f + 1)) {
    const pts = s.map((v) => ({ x: v.peer, y: v.value }))
    // The polynomial through these f + 1 points, evaluated at every x by Lagrange at x.
    const at = (x: number) => lagrangeAtZero(pts.map((p) => ({ x: p.x - x, y: p.y })))
    if (values.filter((v) => at(v.peer) === v.value).length >= needed) found.add(at(0))
  }
  return [...found]
}

describe('field arithmetic and interpolation', () => {
  it('inverses mod r', () => {
    for (const x of [1n, 2n, R - 1n, randomScalar(rng), randomScalar(rng)]) assert.equal((x * invertMod(x)) % R, 1n)
    assert.throws(() => invertMod(0n), RangeError)
    assert.throws(() => invertMod(R), RangeError)
  })

  it('any f + 1 shares give the secret back; f + 1 points at repeated x are refused', () => {
    for (const m of [4, 7, 10, 31]) {
      const f = faultTolerance(m)
      for (let trial = 0; trial < 5; trial++) {
        const poly = randomPoly(f)
        const shares = shamirShares(poly, m)
        const pick = shuffle(shares.map((y, k) => ({ x: k + 1, y }))).slice(0, f + 1)
        assert.equal(lagrangeAtZero(pick), poly[0])
        assert.equal(evaluatePolynomial(poly, 0n), poly[0])
      }
    }
    assert.throws(
      () =>
        lagrangeAtZero([
          { x: 2, y: 1n },
          { x: 2, y: 5n }
        ]),
      isCode('PARAMS')
    )
  })
})

describe('robust recovery of B: exact with up to f wrong values, the wrong peers named', () => {
  for (const m of [4, 5, 6, 7, 10, 13]) {
    const f = faultTolerance(m)
    it(`M = ${m} (f = ${f}): every pattern of up to f wrong values and absent peers that leaves enough agreement`, () => {
      let recovered = 0
      for (let trial = 0; trial < 40; trial++) {
        const poly = randomPoly(f)
        const shares = shamirShares(poly, m)
        const order = shuffle(Array.from({ length: m }, (_, k) => k + 1))
        const absent = rng.int(f + 1)
        const present = order.slice(absent)
        const n = present.length
        const needed = agreementNeeded(n, m)
        const maxWrong = Math.min(f, n - needed)
        const wrong = new Set(shuffle(present).slice(0, rng.int(maxWrong + 1)))
        const values = present.map((u) => ({ peer: u, value: wrong.has(u) ? randomScalar(rng) : shares[u - 1] }))
        const res = recoverSelfMaskSum(values, m)
        assert.ok(res.ok, res.ok ? '' : `trial ${trial}: ${JSON.stringify(res)}`)
        assert.equal(res.value, poly[0])
        assert.deepEqual(
          res.inconsistent,
          [...wrong].sort((a, b) => a - b)
        )
        assert.deepEqual(
          res.agreeing,
          present.filter((u) => !wrong.has(u)).sort((a, b) => a - b)
        )
        recovered++
      }
      assert.equal(recovered, 40)
    })
  }
})

describe('robust recovery of B: refusal', () => {
  it('f + 1 wrong values among M = 3f + 1: no B (no polynomial agrees with 2f + 1)', () => {
    for (const m of [4, 7, 10]) {
      const f = faultTolerance(m)
      const shares = shamirShares(randomPoly(f), m)
      const values = shares.map((y, k) => ({ peer: k + 1, value: k < f + 1 ? randomScalar(rng) : y }))
      const res = recoverSelfMaskSum(values, m)
      assert.deepEqual(res, { ok: false, reason: 'no-agreement', received: values.map((v) => v.peer), needed: 2 * f + 1 })
    }
  })

  it('fewer than 2f + 1 values: no B, even if they are all correct', () => {
    const shares = shamirShares(randomPoly(2), 7)
    const res = recoverSelfMaskSum(
      shares.slice(0, 4).map((y, k) => ({ peer: k + 1, value: y })),
      7
    )
    assert.ok(!res.ok && res.reason === 'too-few-values' && res.needed === 5)
  })

  it('M = 6, f = 1: two lines through three values each are ambiguous, so neither is accepted (agreement 4 needed)', () => {
    const p = randomPoly(1)
    const q = randomPoly(1)
    const values = [1, 2, 3, 4, 5, 6].map((u) => ({ peer: u, value: evaluatePolynomial(u <= 3 ? p : q, BigInt(u)) }))
    assert.equal(agreementNeeded(6, 6), 4)
    assert.equal(bruteForce(values, 1, 3).length, 2, 'two polynomials agree with 2f + 1 = 3 values each')
    assert.deepEqual(recoverSelfMaskSum(values, 6), { ok: false, reason: 'no-agreement', received: [1, 2, 3, 4, 5, 6], needed: 4 })
  })

  it('agrees with a brute force over every subset of f + 1 values, on random and adversarial inputs (M = 4 to 7)', () => {
    let accepted = 0
    let refused = 0
    for (const m of [4, 5, 6, 7]) {
      const f = faultTolerance(m)
      for (let trial = 0; trial < 60; trial++) {
        const p = randomPoly(f)
        const q = randomPoly(f)
        const n = m - rng.int(2)
        // Values from P, from a second polynomial Q, or random, in random proportions.
        const values = shuffle(Array.from({ length: m }, (_, k) => k + 1))
          .slice(0, n)
          .map((u) => {
            const kind = rng.int(6)
            const value = kind < 3 ? evaluatePolynomial(p, BigInt(u)) : kind < 5 ? evaluatePolynomial(q, BigInt(u)) : randomScalar(rng)
            return { peer: u, value }
          })
        const needed = agreementNeeded(n, m)
        const expected = bruteForce(values, f, needed)
        assert.ok(expected.length <= 1, 'at most one polynomial reaches the agreement threshold')
        const res = recoverSelfMaskSum(values, m)
        if (expected.length === 1) assert.ok(res.ok && res.value === expected[0], `M=${m} trial ${trial}`)
        else assert.equal(res.ok, false, `M=${m} trial ${trial}: accepted ${res.ok && res.value}`)
        if (res.ok) accepted++
        else refused++
      }
    }
    assert.ok(accepted >= 40 && refused >= 40, `both outcomes covered: ${accepted} accepted, ${refused} refused`)
  })

  it('malformed input is a programming error (PARAMS): repeated or unknown peers, values outside [0, r)', () => {
    for (const values of [
      [
        { peer: 1, value: 1n },
        { peer: 1, value: 2n }
      ],
      [{ peer: 0, value: 1n }],
      [{ peer: 5, value: 1n }],
      [{ peer: 2, value: R }],
      [{ peer: 2, value: -1n }]
    ]) {
      assert.throws(() => recoverSelfMaskSum(values, 4), isCode('PARAMS'))
    }
  })
})
