/**
 * Privacy (paper V-A; PROTOCOL 3.5.7), as statistics over many slots, each with a control that
 * must fail, so that the test can fail:
 *
 * - A gateway that declares a meter missing while holding its report, then gets every partner's
 *   reveal answer and the committee's B over the set it declared, can remove k_mask and every AUI
 *   from that meter's ciphertext; what is left, m_k + b_k(t), must still look uniform in Z_r,
 *   since b_k(t) is never released. Control: the same residue once b_k(t) is released is the
 *   reading itself.
 * - f consensus peers see f shares of each self-mask: those must be uniform whatever the secret,
 *   jointly. Control: f + 1 shares give the secret by interpolation.
 *
 * Chi-square over 16 equal buckets of Z_r (or 4 x 4 for pairs of values), significance 0.001.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SeededRng } from '@bbnp/core'
import { modR, R, randomScalar } from '@bbnp/crypto'
import {
  decodeReport,
  decodeRevealAnswer,
  faultTolerance,
  lagrangeAtZero,
  ReferenceMeter,
  recoverSelfMaskSum,
  shamirShares
} from '../src/index.ts'
import { buildNetwork } from './helpers.ts'

/** Chi-square critical value for 15 degrees of freedom at p = 0.001. */
const CRITICAL_15_DF = 37.697

/** Chi-square of values in Z_r over 16 equal buckets. */
function chiSquare(values: bigint[]): number {
  return chiSquareOf(values.map((v) => Number((v * 16n) / R)))
}

/** Chi-square of pairs in Z_r^2 over 4 x 4 equal buckets. */
function chiSquarePairs(pairs: [bigint, bigint][]): number {
  return chiSquareOf(pairs.map(([a, b]) => Number((a * 4n) / R) * 4 + Number((b * 4n) / R)))
}

function chiSquareOf(buckets: number[]): number {
  const counts = new Array<number>(16).fill(0)
  for (const b of buckets) counts[b]++
  const expected = buckets.length / 16
  return counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0)
}

describe('a gateway that declares a meter missing while holding its report learns nothing of its reading', () => {
  const N = 10
  const HIDDEN = 4
  const SLOTS = 1600
  // A reading that never changes: if anything but a fresh uniform mask covered it, the residue
  // would repeat.
  const READING = 1500n

  let cached: { residue: bigint[]; selfMasks: bigint[] } | undefined
  function observe() {
    if (cached) return cached
    const net = buildNetwork(N, 'privacy-lying-gateway')
    const hiddenRef = new ReferenceMeter(net.meterKeyOptions(HIDDEN), net.modules)
    const residue: bigint[] = []
    const selfMasks: bigint[] = []
    for (let slot = 0; slot < SLOTS; slot++) {
      const agg = net.gateway.openSlot(slot)
      const held = net.meters[HIDDEN - 1].report(slot, READING)
      for (const m of net.meters) if (m.index !== HIDDEN) assert.ok(agg.accept(m.report(slot, BigInt(m.index))).ok)
      const step = agg.close()
      assert.ok(step.stage === 'reveal')
      let revealed = 0n
      for (const q of step.queries) {
        const answer = net.meters[q.meterIndex - 1].reveal(slot, q.missing)
        assert.ok(agg.acceptReveal(answer).ok)
        // Every meter is asked about {HIDDEN} alone: its answer is AUI_j,HIDDEN if the pair is active.
        assert.deepEqual(q.missing, [HIDDEN])
        revealed += decodeRevealAnswer(answer).value
      }
      const final = agg.endRevealRound()
      assert.ok(final.stage === 'endorse')
      const partials = net.committee.map((c) => ({ peer: c.peer, value: c.partial(slot, final.present, agg.sharesFor(c.peer)) }))
      const rec = recoverSelfMaskSum(partials, net.m)
      assert.ok(rec.ok)
      const res = agg.decode(rec.value)
      // The lie worked: the slot decodes, over the set the gateway declared.
      assert.ok(res.status === 'complete' && res.sum === 55n - BigInt(HIDDEN))
      // Everything the gateway holds about the hidden meter: C_k - k_mask_k + sum_j r_j, where
      // sum_j r_j = sum_j AUI_jk = -sum_j AUI_kj. That is m_k + b_k(t).
      const c = decodeReport(held, net.m).ciphertext
      residue.push(modR(c - net.gateway.meterMask(HIDDEN, slot) + revealed))
      selfMasks.push(hiddenRef.selfMask(slot))
    }
    cached = { residue, selfMasks }
    return cached
  }

  it(`the residue m_k + b_k(t) is uniform over ${SLOTS} slots`, () => {
    const { residue } = observe()
    const chi = chiSquare(residue)
    assert.ok(chi < CRITICAL_15_DF, `chi-square ${chi.toFixed(2)} >= ${CRITICAL_15_DF}`)
    assert.equal(new Set(residue).size, SLOTS, 'no two slots alike')
  })

  it('and so is its difference between consecutive slots (a static mask would cancel there)', () => {
    const { residue } = observe()
    const diffs = residue.slice(1).map((x, k) => modR(x - residue[k]))
    const chi = chiSquare(diffs)
    assert.ok(chi < CRITICAL_15_DF, `chi-square ${chi.toFixed(2)} >= ${CRITICAL_15_DF}`)
  })

  it('control: the same residue with b_k(t) released is the reading, and the statistic flags it', () => {
    const { residue, selfMasks } = observe()
    const exposed = residue.map((x, k) => modR(x - selfMasks[k]))
    assert.ok(exposed.every((x) => x === READING))
    assert.ok(chiSquare(exposed) > CRITICAL_15_DF)
    // A static self-mask (the old scheme's s_i, known to the gateway through s_g): a constant shift of the same.
    const s = randomScalar(new SeededRng('static'))
    assert.ok(chiSquare(exposed.map((x) => modR(x + s))) > CRITICAL_15_DF)
  })
})

describe('f consensus peers learn nothing of a self-mask', () => {
  const rng = new SeededRng('privacy-shares')
  const TRIALS = 1600

  for (const m of [4, 7]) {
    const f = faultTolerance(m)
    it(`M = ${m}: f = ${f} shares of a known secret are uniform, each and jointly; f + 1 give the secret (control)`, () => {
      const secret = 1500n // known to the adversary: the worst case
      const views: bigint[][] = []
      const recovered: bigint[] = []
      for (let t = 0; t < TRIALS; t++) {
        const coefficients = [secret, ...Array.from({ length: f }, () => randomScalar(rng))]
        const shares = shamirShares(coefficients, m)
        views.push(shares.slice(0, f))
        recovered.push(lagrangeAtZero(shares.slice(0, f + 1).map((y, k) => ({ x: k + 1, y }))))
      }
      for (let u = 0; u < f; u++) {
        const chi = chiSquare(views.map((v) => v[u]))
        assert.ok(chi < CRITICAL_15_DF, `share ${u + 1}: chi-square ${chi.toFixed(2)}`)
      }
      if (f >= 2) {
        const chi = chiSquarePairs(views.map((v) => [v[0], v[1]]))
        assert.ok(chi < CRITICAL_15_DF, `pairs: chi-square ${chi.toFixed(2)}`)
      }
      // The adversary's best linear guess from f shares (interpolation as if of degree f - 1) is uniform.
      const guess = views.map((v) => lagrangeAtZero(v.map((y, k) => ({ x: k + 1, y }))))
      assert.ok(chiSquare(guess) < CRITICAL_15_DF)
      // Control: one more share and the same interpolation gives the secret every time.
      assert.ok(recovered.every((x) => x === secret))
      assert.ok(chiSquare(recovered) > CRITICAL_15_DF)
    })
  }

  it("through the real meters: f peers' unpadded shares of b_i(t) are uniform; f + 1 peers recover b_i(t) (control)", () => {
    const net = buildNetwork(10, 'privacy-committee', { consensus: 7 })
    const f = 2
    const meter = net.meters[6]
    const ref = new ReferenceMeter(net.meterKeyOptions(7), net.modules)
    const guesses: bigint[] = []
    const pairs: [bigint, bigint][] = []
    for (let slot = 0; slot < 1200; slot++) {
      const d = decodeReport(meter.report(slot, 7n), 7)
      // Peers u = 1..f+1 remove their pads (they hold Q_iu).
      const y = [1, 2, 3].map((u) => modR(d.shares[u - 1] - ref.pad(slot, u)))
      pairs.push([y[0], y[1]])
      guesses.push(lagrangeAtZero(y.slice(0, f).map((v, k) => ({ x: k + 1, y: v }))))
      assert.equal(lagrangeAtZero(y.map((v, k) => ({ x: k + 1, y: v }))), ref.selfMask(slot), 'control: f + 1 shares give b_i(t)')
    }
    assert.ok(chiSquarePairs(pairs) < CRITICAL_15_DF)
    assert.ok(chiSquare(guesses) < CRITICAL_15_DF)
  })
})
