/**
 * Privacy sanity (paper V-A; PROTOCOL 2.2-2.4): a party holding every gateway key can remove
 * k_mask from a ciphertext, but what is left, m_i + sum AUI_ij + s_i, must still look uniform in
 * Z_r, and so must the difference of one meter's values across two slots (which would cancel
 * s_i and expose m_i(t1) - m_i(t2) if the masks were static). Chi-square over 16 equal buckets of
 * Z_r at significance 0.001. The control runs the same statistic with the AUIs left out, where
 * the readings' fixed difference leaks, and must flag it: proof that the test can fail.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { modR, R } from '@bbnp/crypto'
import { decodeReport } from '../src/index.ts'
import { buildNetwork } from './helpers.ts'

const BUCKETS = 16
/** Chi-square critical value for 15 degrees of freedom at p = 0.001. */
const CRITICAL_15_DF = 37.697

function chiSquare(values: bigint[]): number {
  const counts = new Array<number>(BUCKETS).fill(0)
  for (const v of values) counts[Number((v * BigInt(BUCKETS)) / R)]++
  const expected = values.length / BUCKETS
  return counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0)
}

interface Observed {
  /** C_i(t) - k_mask_i(t): what the gateway's keys reveal */
  unmasked: bigint
  /** the same with the AUIs also removed (the control: m_i(t) + s_i) */
  withoutAui: bigint
}

function observe(n: number, meterIndex: number, slots: number, reading: (slot: number) => bigint): Observed[] {
  const net = buildNetwork(n, `privacy-${n}`)
  const meter = net.meters[meterIndex - 1]
  const out: Observed[] = []
  for (let slot = 0; slot < slots; slot++) {
    const c = decodeReport(meter.report(slot, reading(slot))).ciphertext
    const unmasked = modR(c - net.gateway.meterMask(meterIndex, slot))
    out.push({ unmasked, withoutAui: modR(unmasked - meter.auxiliarySum(slot)) })
  }
  return out
}

describe('a ciphertext with the gateway mask removed is indistinguishable from uniform', () => {
  // Readings with a fixed known difference between consecutive slot pairs: 1500 Wh, then 1000 Wh.
  const reading = (slot: number) => (slot % 2 === 0 ? 1500n : 1000n)
  const SLOTS = 6400

  for (const [n, meterIndex] of [
    [10, 4],
    [3, 2]
  ] as const) {
    let cached: Observed[] | undefined
    const observed = () => (cached ??= observe(n, meterIndex, SLOTS, reading))
    const diffs = (pick: (o: Observed) => bigint) => {
      const obs = observed()
      const d: bigint[] = []
      for (let k = 0; k + 1 < obs.length; k += 2) d.push(modR(pick(obs[k]) - pick(obs[k + 1])))
      return d
    }

    it(`single ciphertexts (N = ${n}, meter ${meterIndex}, ${SLOTS} slots)`, () => {
      const chi = chiSquare(observed().map((o) => o.unmasked))
      assert.ok(chi < CRITICAL_15_DF, `chi-square ${chi.toFixed(2)} >= ${CRITICAL_15_DF}`)
    })

    it(`differences across two slots (N = ${n}, meter ${meterIndex}, ${SLOTS / 2} pairs)`, () => {
      const d = diffs((o) => o.unmasked)
      const chi = chiSquare(d)
      assert.ok(chi < CRITICAL_15_DF, `chi-square ${chi.toFixed(2)} >= ${CRITICAL_15_DF}`)
      assert.ok(!d.every((x) => x === 500n))
    })

    it(`control: without the AUIs the same statistic flags the leak (N = ${n})`, () => {
      const d = diffs((o) => o.withoutAui)
      // m(t1) - m(t2) = 500 Wh in every pair: the "masked" difference is the reading difference.
      assert.ok(d.every((x) => x === 500n))
      assert.ok(chiSquare(d) > CRITICAL_15_DF)
      assert.ok(chiSquare(observed().map((o) => o.withoutAui)) > CRITICAL_15_DF)
    })
  }

  it('control: the statistic also flags a mask that covers only part of Z_r', () => {
    // Values uniform in [0, r/2) instead of [0, r): half the buckets stay empty.
    const vals = observe(10, 4, 3200, () => 0n).map((o) => o.unmasked % (R / 2n))
    assert.ok(chiSquare(vals) > CRITICAL_15_DF)
  })
})
