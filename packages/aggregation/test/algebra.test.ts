/**
 * The paper's algebra (IV-B, IV-C; PROTOCOL 2-3): the gateway's sum is exactly the sum of the
 * readings, the AUIs cancel, the partner relation is symmetric and never empty, and the extra
 * partners average e. Plus known answers against the node:crypto reference implementation.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BbnpError, SeededRng, toHex, utf8 } from '@bbnp/core'
import { dhSharedSecret, HmacKey, R } from '@bbnp/crypto'
import { WordAccumulator } from '../src/accumulator.ts'
import { Expander } from '../src/kdf.ts'
import {
  candidateIndices,
  decodeReport,
  MeterCrypto,
  partnerThreshold,
  REPORT_BYTES,
  ReferenceMeter,
  referenceSlotKeys,
  ringNeighbours,
  resolveParams,
  sharedSecretFromKnownKeys
} from '../src/index.ts'
import { buildNetwork, networkSecrets, randomReading, type TestNetwork } from './helpers.ts'

function runSlot(net: TestNetwork, slot: number, readings: bigint[]) {
  const agg = net.gateway.openSlot(slot)
  for (const m of net.meters) {
    const res = agg.accept(m.report(slot, readings[m.index - 1]))
    assert.ok(res.ok, `report of ${m.id} in slot ${slot} rejected`)
  }
  return agg.finish()
}

function partnerSets(net: TestNetwork, slot: number): Map<number, number[]> {
  return new Map(net.meters.map((m) => [m.index, m.partners(slot)]))
}

describe('the gateway recovers the exact sum of the readings', () => {
  const cases: { n: number; slots: number }[] = [
    { n: 3, slots: 60 },
    { n: 4, slots: 60 },
    { n: 9, slots: 40 },
    { n: 10, slots: 40 },
    { n: 50, slots: 25 },
    { n: 200, slots: 10 },
    { n: 1000, slots: 2 }
  ]
  for (const { n, slots } of cases) {
    it(`N = ${n} meters over ${slots} slots, negative and extreme readings included`, () => {
      const net = buildNetwork(n, `sum-${n}`)
      const rng = new SeededRng(`readings-${n}`)
      let negativeSums = 0
      for (let s = 0; s < slots; s++) {
        const slot = s * 7919 + 3 // spread slots out; includes values past 2^16
        const readings = net.meters.map(() => randomReading(rng))
        const expected = readings.reduce((a, b) => a + b, 0n)
        if (expected < 0n) negativeSums++
        const res = runSlot(net, slot, readings)
        assert.equal(res.status, 'complete')
        assert.ok(
          res.status === 'complete' && res.sum === expected,
          `slot ${slot}: sum ${res.status === 'complete' ? res.sum : '-'} != ${expected}`
        )
        assert.equal(res.count, n)
      }
      if (slots >= 10) assert.ok(negativeSums > 0, 'the test should cover negative sums')
    })
  }

  it('all readings at the extremes of the range', () => {
    const net = buildNetwork(9, 'sum-9')
    const max = (1n << 48n) - 1n
    for (const sign of [1n, -1n]) {
      const res = runSlot(
        net,
        11,
        net.meters.map(() => sign * max)
      )
      assert.ok(res.status === 'complete' && res.sum === sign * max * 9n)
    }
  })

  it('works with the real (validated, noble) Diffie-Hellman, and the shortcut gives the same bytes', () => {
    const net = buildNetwork(5, 'real-dh', { realDh: true })
    const readings = [5n, -17n, 0n, 123456n, -99n]
    const res = runSlot(net, 42, readings)
    assert.ok(res.status === 'complete' && res.sum === 123345n)
    const s = net.secrets
    const shortcut = sharedSecretFromKnownKeys([...s.meters, s.gateway])
    for (const [a, b] of [
      [0, 1],
      [3, 4],
      [2, 0]
    ]) {
      assert.equal(
        toHex(shortcut(s.meters[a].secret, s.meters[b].publicKey)),
        toHex(dhSharedSecret(s.meters[a].secret, s.meters[b].publicKey))
      )
    }
    assert.equal(toHex(shortcut(s.gateway.secret, s.meters[2].publicKey)), toHex(dhSharedSecret(s.gateway.secret, s.meters[2].publicKey)))
    // And the reports themselves are identical either way.
    const fast = buildNetwork(5, 'real-dh')
    assert.equal(toHex(fast.meters[2].report(42, 0n)), toHex(net.meters[2].report(42, 0n)))
  })
})

describe('auxiliary masks (AUI_ij = -AUI_ji)', () => {
  for (const n of [3, 4, 10, 50, 200]) {
    it(`cancel to zero over all meters in every slot (N = ${n})`, () => {
      const net = buildNetwork(n, `sum-${n}`)
      for (let slot = 0; slot < (n >= 200 ? 10 : 30); slot++) {
        let total = 0n
        let nonZero = 0
        for (const m of net.meters) {
          const a = m.auxiliarySum(slot)
          if (a !== 0n) nonZero++
          total += a
        }
        assert.equal(total % R, 0n, `slot ${slot}`)
        // Not vacuous: the individual sums are masks, not zeros.
        assert.equal(nonZero, n)
      }
    })
  }
})

describe('partner graph (PROTOCOL 2.2)', () => {
  it('candidates are symmetric, distinct, exclude self, and number min(K, N-1)', () => {
    for (let n = 3; n <= 30; n++) {
      for (const k of [2, 4, 8, 12]) {
        const sets = new Map<number, number[]>()
        for (let i = 1; i <= n; i++) sets.set(i, candidateIndices(i, n, k))
        for (let i = 1; i <= n; i++) {
          const c = sets.get(i)!
          assert.equal(c.length, Math.min(k, n - 1), `n=${n} k=${k} i=${i}`)
          assert.equal(new Set(c).size, c.length)
          assert.ok(!c.includes(i))
          for (const j of c) assert.ok(sets.get(j)!.includes(i), `n=${n} k=${k}: ${j} in C(${i}) but not ${i} in C(${j})`)
          for (const nb of ringNeighbours(i, n)) assert.ok(c.includes(nb))
        }
      }
    }
    assert.deepEqual(candidateIndices(1, 100, 8), [100, 2, 99, 3, 98, 4, 97, 5])
  })

  for (const n of [3, 4, 9, 50, 200]) {
    it(`partners are symmetric, include both ring neighbours, and are never empty (N = ${n})`, () => {
      const net = buildNetwork(n, `sum-${n}`)
      for (let slot = 0; slot < 40; slot++) {
        const sets = partnerSets(net, slot)
        for (const m of net.meters) {
          const p = sets.get(m.index)!
          assert.ok(p.length >= 2, `${m.id} has ${p.length} partners in slot ${slot}`)
          for (const nb of ringNeighbours(m.index, n)) assert.ok(p.includes(nb))
          for (const j of p) {
            assert.ok(m.candidates.includes(j))
            assert.ok(sets.get(j)!.includes(m.index), `slot ${slot}: ${j} partner of ${m.index} but not the reverse`)
          }
        }
      }
    })
  }

  const expectations: { n: number; params: { candidates: number; extraPartners: number }; slots: number; expected: number }[] = [
    { n: 200, params: { candidates: 8, extraPartners: 2 }, slots: 150, expected: 2 },
    { n: 200, params: { candidates: 12, extraPartners: 3 }, slots: 100, expected: 3 },
    { n: 7, params: { candidates: 8, extraPartners: 2 }, slots: 1500, expected: 2 }, // c = N - 3 = 4
    { n: 5, params: { candidates: 8, extraPartners: 4 }, slots: 200, expected: 2 }, // e > c: every candidate
    { n: 50, params: { candidates: 8, extraPartners: 0 }, slots: 100, expected: 0 }
  ]
  for (const { n, params, slots, expected } of expectations) {
    it(`extra partners average ${expected} (N = ${n}, K = ${params.candidates}, e = ${params.extraPartners})`, () => {
      const net = buildNetwork(n, `partners-${n}`, { params })
      let extras = 0
      let samples = 0
      for (let slot = 0; slot < slots; slot++) {
        for (const m of net.meters) {
          extras += m.partners(slot).length - 2
          samples++
        }
      }
      const mean = extras / samples
      const t = partnerThreshold(n, resolveParams(params))
      // Standard error of the mean: each pair is one Bernoulli(p) draw shared by two meters.
      const pairs = (samples * t.nonNeighbourCandidates) / 2
      const se = pairs === 0 ? 0 : (2 * Math.sqrt(t.probability * (1 - t.probability) * pairs)) / samples
      assert.ok(Math.abs(mean - expected) <= 5 * se + 1e-9, `mean ${mean} vs ${expected} (se ${se})`)
      if (expected > 0 && expected < t.nonNeighbourCandidates) assert.ok(se > 0 && se < 0.05, 'enough samples to be meaningful')
    })
  }
})

describe('known answers against the node:crypto reference implementation', () => {
  it('reports are byte-identical to ReferenceMeter for many slots and readings', () => {
    for (const [n, params] of [
      [4, {}],
      [50, {}],
      [50, { candidates: 12, extraPartners: 5 }]
    ] as const) {
      const net = buildNetwork(n, `ref-${n}-${params.candidates ?? 8}`, { params })
      const rng = new SeededRng(`ref-${n}`)
      for (const i of [1, 2, Math.ceil(n / 2), n]) {
        const ref = new ReferenceMeter(net.meterOptions(i), net.modules)
        for (let s = 0; s < 25; s++) {
          const slot = s === 24 ? Number.MAX_SAFE_INTEGER : s * 1000003
          const reading = randomReading(rng)
          assert.equal(toHex(net.meters[i - 1].report(slot, reading)), toHex(ref.report(slot, reading)), `meter ${i} slot ${slot}`)
          assert.deepEqual(net.meters[i - 1].partners(slot), ref.partners(slot))
        }
      }
    }
  })

  it("the gateway's k_mask equals the reference HKDF output", () => {
    const net = buildNetwork(10, 'sum-10')
    const s = net.secrets
    for (const i of [1, 7, 10]) {
      const kig = net.modules.sharedSecret!(s.gateway.secret, s.meters[i - 1].publicKey)
      for (const slot of [0, 1, 2 ** 40 + 5]) assert.equal(net.gateway.meterMask(i, slot), referenceSlotKeys(kig, i, slot).mask)
    }
  })

  it('Expander matches HmacKey.expand (RFC 5869) for every length up to 64', () => {
    const prk = new HmacKey(utf8('a pseudo-random key of some length'))
    for (const infoLen of [0, 12, 22, 23, 32, 40]) {
      const info = Uint8Array.from({ length: infoLen }, (_, k) => (k * 37 + 1) & 255)
      const exp = new Expander(info)
      for (let len = 1; len <= 64; len++) {
        const out = new Uint8Array(len + 3)
        exp.expand(prk, out, 3, len)
        assert.equal(toHex(out.subarray(3)), toHex(prk.expand(info, len)), `info ${infoLen} len ${len}`)
      }
    }
  })

  it('WordAccumulator sums exactly past the float64 limit of its lanes', () => {
    const rng = new SeededRng('acc')
    const acc = new WordAccumulator(12)
    let expected = 0n
    const ones = new Uint8Array(48).fill(0xff)
    const onesValue = (1n << 384n) - 1n
    for (let k = 0; k < (1 << 21) + 5; k++) acc.add(ones, 0, 1)
    expected += onesValue * BigInt((1 << 21) + 5)
    for (let k = 0; k < 200; k++) {
      const b = rng.bytes(48)
      const sign = rng.int(2) === 0 ? 1 : -1
      acc.add(b, 0, sign)
      expected += BigInt(sign) * BigInt(`0x${toHex(b)}`)
    }
    assert.equal(acc.value(), expected)
  })
})

describe('meter input checks', () => {
  const net = buildNetwork(10, 'sum-10')
  const m = net.meters[0]
  it('refuses readings with |m| >= 2^48 (READING_RANGE) and accepts the largest valid ones', () => {
    for (const bad of [1n << 48n, -(1n << 48n), 1n << 200n]) {
      assert.throws(
        () => m.report(1, bad),
        (e: unknown) => e instanceof BbnpError && e.code === 'READING_RANGE'
      )
    }
    assert.equal(m.report(1, (1n << 48n) - 1n).length, REPORT_BYTES)
    assert.equal(m.report(1, -((1n << 48n) - 1n)).length, REPORT_BYTES)
  })
  it('refuses slots that are not non-negative safe integers (BAD_SLOT)', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN]) {
      assert.throws(
        () => m.report(bad, 1n),
        (e: unknown) => e instanceof BbnpError && e.code === 'BAD_SLOT'
      )
    }
    assert.equal(decodeReport(m.report(Number.MAX_SAFE_INTEGER, 1n)).slot, Number.MAX_SAFE_INTEGER)
  })
  it('needs the public key of every candidate (MISSING_KEY) and sane parameters (PARAMS)', () => {
    const opts = net.meterOptions(3)
    const keys = new Map(opts.candidatePublicKeys)
    keys.delete(opts.index + 1)
    assert.throws(
      () => new MeterCrypto({ ...opts, candidatePublicKeys: keys }, net.modules),
      (e: unknown) => e instanceof BbnpError && e.code === 'MISSING_KEY'
    )
    for (const params of [{ candidates: 7 }, { candidates: 0 }, { extraPartners: -1 }, { extraPartners: Number.NaN }]) {
      assert.throws(
        () => new MeterCrypto({ ...opts, params }, net.modules),
        (e: unknown) => e instanceof BbnpError && e.code === 'PARAMS'
      )
    }
    assert.throws(
      () => new MeterCrypto({ ...opts, index: 11 }, net.modules),
      (e: unknown) => e instanceof BbnpError && e.code === 'PARAMS'
    )
    assert.throws(
      () => new MeterCrypto({ ...opts, secret: 0n }, net.modules),
      (e: unknown) => e instanceof BbnpError && e.code === 'PARAMS'
    )
  })
  it('a different meter secret or gateway key gives a different report', () => {
    const s = networkSecrets(10, 'sum-10')
    const other = new MeterCrypto({ ...net.meterOptions(1), secret: s.meters[1].secret }, net.modules)
    assert.notEqual(toHex(other.report(5, 1n)), toHex(m.report(5, 1n)))
  })
})
