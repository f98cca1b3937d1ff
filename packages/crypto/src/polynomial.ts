/**
 * Polynomials over Z_r (PROTOCOL 3.5.1, 3.5.5). The gateway recovers B from the consensus peers'
 * partial sums with them (@bbnp/aggregation, `recoverSelfMaskSum`), and every replica checks a
 * fault proof with them (@bbnp/consensus, `checkFaultProof`): the same algebra on both sides, so
 * it lives here, the one package below both (eslint.config.js LAYERS: consensus may import only
 * core and crypto).
 */
import { modR, R } from './scalar.ts'

/** x^{-1} mod r by the extended Euclidean algorithm; x must be non-zero mod r. */
export function invertMod(x: bigint): bigint {
  let a = modR(x)
  if (a === 0n) throw new RangeError('zero has no inverse')
  let b = R
  let x0 = 1n
  let x1 = 0n
  while (b !== 0n) {
    const q = a / b
    ;[a, b] = [b, a - q * b]
    ;[x0, x1] = [x1, x0 - q * x1]
  }
  return modR(x0)
}

/** p(x) mod r for coefficients in increasing degree. */
export function evaluatePolynomial(coefficients: readonly bigint[], x: bigint): bigint {
  let v = 0n
  for (let k = coefficients.length - 1; k >= 0; k--) v = (v * x + coefficients[k]) % R
  return modR(v)
}

export interface Point {
  /** the evaluation point (a consensus peer's index u) */
  x: number
  y: bigint
}

/**
 * The polynomial of degree < points.length through `points`, as a function that evaluates it
 * anywhere: Lagrange's form, L(x) = sum_k y_k prod_{l != k} (x - x_l) / (x_k - x_l), with the
 * denominators inverted once, so each further evaluation costs multiplications only. Two points
 * at the same x are a RangeError.
 */
export function interpolate(points: readonly Point[]): (x: bigint) => bigint {
  const xs = points.map((p) => BigInt(p.x))
  const weights = points.map((p, k) => {
    let den = 1n
    for (let l = 0; l < xs.length; l++) if (l !== k) den = (den * (xs[k] - xs[l])) % R
    if (modR(den) === 0n) throw new RangeError(`two points at x = ${p.x}`)
    return (modR(p.y) * invertMod(den)) % R
  })
  return (x: bigint) => {
    let acc = 0n
    for (let k = 0; k < xs.length; k++) {
      let num = weights[k]
      for (let l = 0; l < xs.length; l++) if (l !== k) num = (num * (x - xs[l])) % R
      acc += num
    }
    return modR(acc)
  }
}
