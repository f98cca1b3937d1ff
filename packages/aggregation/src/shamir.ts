/**
 * Shamir sharing over Z_r and the recovery of B = sum_{i in A} b_i(t) from the consensus peers'
 * partial sums (PROTOCOL 3.5.1, 3.5.5).
 *
 * Meter i shares b_i(t) with a degree-f polynomial p_i, p_i(0) = b_i(t), and peer u holds
 * y_iu = p_i(u). Sums of shares are shares of the sum: z_u = sum_{i in A} y_iu = P(u) for
 * P = sum_{i in A} p_i, also of degree f, with P(0) = B. Any f + 1 correct values give B by
 * Lagrange interpolation at 0; f shares say nothing about b_i(t) (the privacy tests check it).
 *
 * Robust recovery: up to f peers may send a wrong value (or none). B is accepted only when one
 * polynomial of degree <= f agrees with at least a = max(2f + 1, ceil((n + f + 1) / 2)) of the
 * n values received. Two different such polynomials would share at least 2a - n >= f + 1 points,
 * impossible for distinct polynomials of degree f, so the accepted one is unique; with M = 3f + 1
 * peers a = 2f + 1 whatever n is (the brief's rule), and the second term only matters for
 * M = 3f + 2 or 3f + 3 with every value present. Whenever at least a of the values are correct
 * (at most f wrong ones among M = 3f + 1 with at least 2f + 1 received, for instance), the true P
 * qualifies. It is found by the Berlekamp-Welch decoder with e = n - a <= (n - f - 1) / 2 errors,
 * the radius within which its answer is unique. Peers whose values disagree with P are named, so the caller can count and
 * report them like a wrong signature, with their signed values and 2f + 1 agreeing ones as the
 * proof that every replica checks by the same algebra (@bbnp/consensus fault-proof.ts, PROTOCOL 3.5.5).
 */
import { evaluatePolynomial, interpolate, invertMod, type Point, R } from '@bbnp/crypto'
import { aggregationError } from './errors.ts'
import { faultTolerance } from './params.ts'

// The field arithmetic is @bbnp/crypto's (polynomial.ts), shared with the replicas' check of a
// fault proof (@bbnp/consensus); re-exported here, where the sharing's users look for it.
export { evaluatePolynomial, invertMod, type Point }

const mod = (x: bigint): bigint => {
  const m = x % R
  return m < 0n ? m + R : m
}

/** Shares p(1), ..., p(m) of p(0) = coefficients[0] (PROTOCOL 3.5.1). */
export function shamirShares(coefficients: readonly bigint[], m: number): bigint[] {
  return Array.from({ length: m }, (_, k) => evaluatePolynomial(coefficients, BigInt(k + 1)))
}

/** The value at 0 of the polynomial of degree < points.length through `points` (distinct x). */
export function lagrangeAtZero(points: readonly Point[]): bigint {
  const xs = new Set(points.map((p) => p.x))
  if (xs.size !== points.length) throw aggregationError('PARAMS', 'two points at the same x')
  return interpolate(points)(0n)
}

/** Solve the n x (cols + 1) augmented system mod r; one solution (free variables 0) or undefined. */
function solve(rows: bigint[][], cols: number): bigint[] | undefined {
  const a = rows.map((r) => r.map(mod))
  const pivotCol: number[] = []
  let row = 0
  for (let col = 0; col < cols && row < a.length; col++) {
    let p = row
    while (p < a.length && a[p][col] === 0n) p++
    if (p === a.length) continue
    ;[a[row], a[p]] = [a[p], a[row]]
    const inv = invertMod(a[row][col])
    for (let c = col; c <= cols; c++) a[row][c] = (a[row][c] * inv) % R
    for (let r2 = 0; r2 < a.length; r2++) {
      if (r2 === row || a[r2][col] === 0n) continue
      const factor = a[r2][col]
      for (let c = col; c <= cols; c++) a[r2][c] = mod(a[r2][c] - factor * a[row][c])
    }
    pivotCol.push(col)
    row++
  }
  for (let r2 = row; r2 < a.length; r2++) if (a[r2][cols] !== 0n) return undefined
  const x = new Array<bigint>(cols).fill(0n)
  pivotCol.forEach((col, r2) => {
    x[col] = a[r2][cols]
  })
  return x
}

/** Exact division of polynomials mod r (increasing degree); undefined when there is a remainder. */
function dividePolynomials(num: readonly bigint[], den: readonly bigint[]): bigint[] | undefined {
  let d = den.length - 1
  while (d >= 0 && den[d] === 0n) d--
  if (d < 0) return undefined
  const rem = num.map(mod)
  const q = new Array<bigint>(Math.max(0, rem.length - d)).fill(0n)
  const inv = invertMod(den[d])
  for (let k = rem.length - 1; k >= d; k--) {
    const c = (rem[k] * inv) % R
    q[k - d] = c
    if (c === 0n) continue
    for (let l = 0; l <= d; l++) rem[k - d + l] = mod(rem[k - d + l] - c * den[l])
  }
  return rem.every((c) => c === 0n) ? q : undefined
}

/**
 * Berlekamp-Welch: the polynomial P of degree <= f with P(x_k) != y_k for at most e points, if
 * there is one (requires f + 2e < n). Unknowns: E monic of degree e and Q of degree f + e with
 * Q(x_k) = y_k E(x_k) for every k; then P = Q / E.
 */
function berlekampWelch(points: readonly Point[], f: number, e: number): bigint[] | undefined {
  const qLen = f + e + 1
  const cols = qLen + e
  const rows = points.map(({ x, y }) => {
    const xb = BigInt(x)
    const row: bigint[] = []
    let p = 1n
    const powers: bigint[] = []
    for (let k = 0; k <= qLen; k++) {
      powers.push(p)
      p = (p * xb) % R
    }
    for (let k = 0; k < qLen; k++) row.push(powers[k])
    for (let k = 0; k < e; k++) row.push(mod(-y * powers[k]))
    row.push((y * powers[e]) % R)
    return row
  })
  const sol = solve(rows, cols)
  if (!sol) return undefined
  const q = sol.slice(0, qLen)
  const errorLocator = [...sol.slice(qLen), 1n]
  const p = dividePolynomials(q, errorLocator)
  if (!p) return undefined
  for (let k = f + 1; k < p.length; k++) if (p[k] !== 0n) return undefined
  return p.slice(0, f + 1)
}

export interface PartialValue {
  /** the consensus peer u in 1..M */
  peer: number
  /** z_u in [0, r) */
  value: bigint
}

export type SelfMaskRecovery =
  | {
      ok: true
      /** B = P(0) */
      value: bigint
      /** peers whose value lies on P, ascending */
      agreeing: number[]
      /** peers whose value does not (wrong values: count and report them), ascending */
      inconsistent: number[]
    }
  | { ok: false; reason: 'too-few-values' | 'no-agreement'; received: number[]; needed: number }

/** The agreement a recovery from n values needs among M peers (see the file comment). */
export function agreementNeeded(n: number, consensusCount: number): number {
  const f = faultTolerance(consensusCount)
  return Math.max(2 * f + 1, Math.ceil((n + f + 1) / 2))
}

/**
 * B from the peers' partial sums, robust to up to f wrong or missing values (PROTOCOL 3.5.5).
 * Values from peers outside 1..M, repeated peers or values outside [0, r) are a programming error
 * of the caller (PARAMS): decode and check each peer's message first.
 */
export function recoverSelfMaskSum(values: readonly PartialValue[], consensusCount: number): SelfMaskRecovery {
  const f = faultTolerance(consensusCount)
  const seen = new Set<number>()
  for (const v of values) {
    if (!Number.isSafeInteger(v.peer) || v.peer < 1 || v.peer > consensusCount || seen.has(v.peer))
      throw aggregationError('PARAMS', `partial value from peer ${v.peer}: outside 1..${consensusCount} or repeated`)
    if (typeof v.value !== 'bigint' || v.value < 0n || v.value >= R)
      throw aggregationError('PARAMS', `partial value of peer ${v.peer} not in [0, r)`)
    seen.add(v.peer)
  }
  const points = [...values].sort((a, b) => a.peer - b.peer).map((v) => ({ x: v.peer, y: v.value }))
  const received = points.map((p) => p.x)
  const n = points.length
  const needed = agreementNeeded(n, consensusCount)
  if (n < needed) return { ok: false, reason: 'too-few-values', received, needed }
  const p = berlekampWelch(points, f, n - needed)
  if (!p) return { ok: false, reason: 'no-agreement', received, needed }
  const agreeing: number[] = []
  const inconsistent: number[] = []
  for (const pt of points) (evaluatePolynomial(p, BigInt(pt.x)) === pt.y ? agreeing : inconsistent).push(pt.x)
  if (agreeing.length < needed) return { ok: false, reason: 'no-agreement', received, needed }
  return { ok: true, value: mod(p[0]), agreeing, inconsistent }
}
