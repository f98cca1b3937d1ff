/**
 * The algebra (paper IV-B, IV-C; PROTOCOL 2 and 3.5): with every meter present the decoded sum is
 * exactly the sum of the readings, the AUIs cancel, the partner relation is symmetric and never
 * empty, and the extra partners average e; the trusted authority's dealt keys equal the keys each
 * party derives by Diffie-Hellman; every fast path agrees with the node:crypto reference
 * implementation. Missing meters: recovery.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BbnpError, SeededRng, toHex, utf8 } from '@bbnp/core'
import { dhSharedSecret, HmacKey, R } from '@bbnp/crypto'
import { WordAccumulator } from '../src/accumulator.ts'
import { Expander } from '../src/kdf.ts'
import {
  candidateIndices,
  decodeCommitteeKeys,
  decodeGatewayKeys,
  decodeMeterKeys,
  decodeReport,
  deriveCommitteeKeys,
  deriveGatewayKeys,
  deriveMeterKeys,
  encodeCommitteeKeys,
  encodeGatewayKeys,
  encodeMeterKeys,
  type MeterKeys,
  MeterCrypto,
  partnerThreshold,
  ReferenceMeter,
  referencePartial,
  referenceShareTag,
  referenceSlotKeys,
  reportBytes,
  ringNeighbours,
  resolveParams,
  SHARE_ENTRY_BYTES
} from '../src/index.ts'
import { big, buildNetwork, randomReading, runSlot, type TestNetwork } from './helpers.ts'

const isCode = (code: string) => (e: unknown) => e instanceof BbnpError && e.code === code

function partnerSets(net: TestNetwork, slot: number): Map<number, number[]> {
  return new Map(net.meters.map((m) => [m.index, m.partners(slot)]))
}

describe('the gateway recovers the exact sum of the readings (every meter present)', () => {
  const cases: { n: number; slots: number; m?: number }[] = [
    { n: 3, slots: 40 },
    { n: 4, slots: 40 },
    { n: 9, slots: 30, m: 7 },
    { n: 10, slots: 30, m: 10 },
    { n: 50, slots: 15 },
    { n: 200, slots: 6, m: 7 },
    { n: 1000, slots: 2 }
  ]
  for (const { n, slots, m } of cases) {
    it(`N = ${n} meters, M = ${m ?? 4} peers, over ${slots} slots, negative and extreme readings included`, () => {
      const net = buildNetwork(n, `sum-${n}`, { consensus: m })
      const rng = new SeededRng(`readings-${n}`)
      let negativeSums = 0
      for (let s = 0; s < slots; s++) {
        const slot = s * 7919 + 3 // spread slots out; includes values past 2^16
        const readings = net.meters.map(() => randomReading(rng))
        const expected = readings.reduce((a, b) => a + b, 0n)
        if (expected < 0n) negativeSums++
        const { result, steps } = runSlot(net, slot, readings)
        assert.equal(steps.length, 1, 'no reveal round when nobody is missing')
        assert.ok(result.status === 'complete' && result.sum === expected, `slot ${slot}: ${JSON.stringify(result, big)} != ${expected}`)
        assert.equal(result.count, n)
        assert.deepEqual(result.missing, [])
      }
      if (slots >= 10) assert.ok(negativeSums > 0, 'the test should cover negative sums')
    })
  }

  it('all readings at the extremes of the range', () => {
    const net = buildNetwork(9, 'sum-9', { consensus: 7 })
    const max = (1n << 48n) - 1n
    for (const sign of [1n, -1n]) {
      const { result } = runSlot(
        net,
        11 + Number(sign),
        net.meters.map(() => sign * max)
      )
      assert.ok(result.status === 'complete' && result.sum === sign * max * 9n)
    }
  })
})

describe('dealt keys (the trusted authority, fixed-base) equal the keys derived by Diffie-Hellman', () => {
  function sameMeterKeys(a: MeterKeys, b: MeterKeys, what: string) {
    assert.equal(toHex(encodeMeterKeys(a)), toHex(encodeMeterKeys(b)), what)
  }

  it('with the real (validated, noble) DH: every meter, the gateway and every peer (N = 5, M = 4)', () => {
    const net = buildNetwork(5, 'real-dh')
    const s = net.secrets
    for (let i = 1; i <= 5; i++) sameMeterKeys(deriveMeterKeys(net.meterKeyOptions(i)), net.dealt.meters[i - 1], `meter ${i}`)
    const meterPublicKeys = s.meters.map((m) => m.publicKey)
    const gw = deriveGatewayKeys({ secret: s.gateway.secret, meterPublicKeys })
    assert.equal(toHex(gw.meterKeys), toHex(net.dealt.gateway.meterKeys))
    for (const c of s.consensus) {
      const ck = deriveCommitteeKeys({ peer: c.index, consensusCount: 4, secret: c.shareSecret, meterPublicKeys })
      assert.equal(toHex(encodeCommitteeKeys(ck)), toHex(encodeCommitteeKeys(net.dealt.committee[c.index - 1])), `peer ${c.index}`)
    }
    // And the shortcut the tests use elsewhere gives the DH bytes.
    const shortcut = net.modules.sharedSecret!
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
    assert.equal(
      toHex(shortcut(s.meters[2].secret, s.consensus[1].sharePublicKey)),
      toHex(dhSharedSecret(s.meters[2].secret, s.consensus[1].sharePublicKey))
    )
  })

  it('for a larger network, K = 12 and M = 7, by the shortcut (N = 60)', () => {
    const net = buildNetwork(60, 'dealt-60', { consensus: 7, params: { candidates: 12, extraPartners: 3 } })
    const s = net.secrets
    for (const i of [1, 2, 30, 59, 60])
      sameMeterKeys(deriveMeterKeys(net.meterKeyOptions(i), net.modules), net.dealt.meters[i - 1], `meter ${i}`)
    const meterPublicKeys = s.meters.map((m) => m.publicKey)
    assert.equal(
      toHex(deriveGatewayKeys({ secret: s.gateway.secret, meterPublicKeys }, net.modules).meterKeys),
      toHex(net.dealt.gateway.meterKeys)
    )
    const c = s.consensus[6]
    const ck = deriveCommitteeKeys({ peer: 7, consensusCount: 7, secret: c.shareSecret, meterPublicKeys }, net.modules)
    assert.equal(toHex(ck.meterKeys), toHex(net.dealt.committee[6].meterKeys))
  })

  it('pair seeds are symmetric: P_ij held by i equals P_ji held by j', () => {
    const net = buildNetwork(50, 'sum-50')
    for (const mk of net.dealt.meters) {
      candidateIndices(mk.index, 50, 8).forEach((j, p) => {
        const q = candidateIndices(j, 50, 8).indexOf(mk.index)
        assert.equal(toHex(mk.pairSeeds[p]), toHex(net.dealt.meters[j - 1].pairSeeds[q]))
      })
    }
  })
})

describe('key encodings (for the key files)', () => {
  const net = buildNetwork(10, 'sum-10', { consensus: 10 })
  it('round-trip as bytes and as hex', () => {
    const mk = net.dealt.meters[3]
    assert.deepEqual(decodeMeterKeys(encodeMeterKeys(mk)), { ...mk })
    assert.equal(toHex(encodeMeterKeys(decodeMeterKeys(toHex(encodeMeterKeys(mk))))), toHex(encodeMeterKeys(mk)))
    assert.equal(encodeMeterKeys(mk).length, 14 + 32 * (2 + 8 + 10) + 32)
    const gk = decodeGatewayKeys(toHex(encodeGatewayKeys(net.dealt.gateway)))
    assert.equal(gk.meterCount, 10)
    assert.equal(toHex(gk.meterKeys), toHex(net.dealt.gateway.meterKeys))
    const ck = decodeCommitteeKeys(encodeCommitteeKeys(net.dealt.committee[9]))
    assert.deepEqual([ck.peer, ck.consensusCount, ck.meterCount], [10, 10, 10])
    assert.equal(toHex(ck.meterKeys), toHex(net.dealt.committee[9].meterKeys))
    // A meter built from decoded keys reports the same bytes.
    const again = new MeterCrypto({ keys: decodeMeterKeys(toHex(encodeMeterKeys(mk))), consensusCount: 10 })
    assert.equal(toHex(again.report(5, 42n)), toHex(net.meters[3].report(5, 42n)))
  })

  it('refuse anything else with BAD_KEYS: bad hex, truncation, a flipped bit, another role, another version', () => {
    const enc = encodeMeterKeys(net.dealt.meters[0])
    const flip = (b: Uint8Array, k: number) => {
      const c = b.slice()
      c[k] ^= 1
      return c
    }
    for (const bad of [
      'zz',
      '',
      enc.subarray(0, enc.length - 1),
      enc.subarray(0, 40),
      flip(enc, 20),
      flip(enc, enc.length - 1),
      flip(enc, 0),
      new Uint8Array(enc.length)
    ]) {
      assert.throws(() => decodeMeterKeys(bad), isCode('BAD_KEYS'))
    }
    assert.throws(() => decodeGatewayKeys(enc), isCode('BAD_KEYS'))
    assert.throws(() => decodeCommitteeKeys(encodeGatewayKeys(net.dealt.gateway)), isCode('BAD_KEYS'))
    assert.throws(() => decodeMeterKeys(encodeCommitteeKeys(net.dealt.committee[0])), isCode('BAD_KEYS'))
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
  it('reports are byte-identical to ReferenceMeter (from the secrets by DH) for many slots and readings', () => {
    for (const [n, params, m] of [
      [4, {}, 4],
      [50, {}, 7],
      [50, { candidates: 12, extraPartners: 5 }, 10]
    ] as const) {
      const net = buildNetwork(n, `ref-${n}-${params.candidates ?? 8}`, { params, consensus: m })
      const rng = new SeededRng(`ref-${n}`)
      for (const i of [1, 2, Math.ceil(n / 2), n]) {
        const ref = new ReferenceMeter(net.meterKeyOptions(i), net.modules)
        for (let s = 0; s < 12; s++) {
          const slot = s === 11 ? Number.MAX_SAFE_INTEGER : s * 1000003
          const reading = randomReading(rng)
          const bytes = net.meters[i - 1].report(slot, reading)
          assert.equal(bytes.length, reportBytes(m))
          assert.equal(toHex(bytes), toHex(ref.report(slot, reading)), `meter ${i} slot ${slot}`)
          assert.deepEqual(net.meters[i - 1].partners(slot), ref.partners(slot))
          // The shares are Shamir shares of b_i(t) under the pads.
          const d = decodeReport(bytes, m)
          const y = ref.shares(slot)
          d.shares.forEach((e, k) => assert.equal(e, (y[k] + ref.pad(slot, k + 1)) % R))
          // Each under its tag for its peer: lambda_iu(t) e_iu + kappa_iu(t) from the pad's expansion.
          d.shareTags.forEach((tau, k) => assert.equal(tau, referenceShareTag(ref.committeeKeys[k], slot, d.shares[k])))
        }
      }
    }
  })

  it('reveal answers are byte-identical to the reference', () => {
    const net = buildNetwork(50, 'ref-50-8', { consensus: 7 })
    for (const i of [1, 25, 50]) {
      const ref = new ReferenceMeter(net.meterKeyOptions(i), net.modules)
      const cands = candidateIndices(i, 50, 8)
      for (let slot = 0; slot < 6; slot++) {
        const missing = cands.filter((_, k) => (k + slot) % 3 !== 0)
        assert.equal(toHex(net.meters[i - 1].reveal(slot, missing)), toHex(ref.reveal(slot, missing)), `meter ${i} slot ${slot}`)
      }
    }
  })

  it("the gateway's k_mask and the peers' partial sums equal the reference", () => {
    const net = buildNetwork(10, 'sum-10', { consensus: 10 })
    const s = net.secrets
    for (const i of [1, 7, 10]) {
      const kig = net.modules.sharedSecret!(s.gateway.secret, s.meters[i - 1].publicKey)
      for (const slot of [0, 1, 2 ** 40 + 5]) assert.equal(net.gateway.meterMask(i, slot), referenceSlotKeys(kig, i, slot).mask)
    }
    const slot = 31
    const present = [1, 2, 3, 5, 8, 9, 10]
    const run = runSlot(
      net,
      slot,
      net.meters.map((m) => (present.includes(m.index) ? BigInt(m.index) : undefined))
    )
    assert.ok(run.result.status === 'complete' && run.result.sum === 38n)
    const refs = present.map((i) => new ReferenceMeter(net.meterKeyOptions(i), net.modules))
    for (const c of net.committee) {
      const entries = run.agg.sharesFor(c.peer)
      assert.equal(entries.length, SHARE_ENTRY_BYTES * present.length)
      const share = (k: number) => BigInt(`0x${toHex(entries.subarray(SHARE_ENTRY_BYTES * k, SHARE_ENTRY_BYTES * k + 32))}`)
      const tag = (k: number) => BigInt(`0x${toHex(entries.subarray(SHARE_ENTRY_BYTES * k + 32, SHARE_ENTRY_BYTES * (k + 1)))}`)
      refs.forEach((r, k) =>
        assert.equal(tag(k), referenceShareTag(r.committeeKeys[c.peer - 1], slot, share(k)), 'each share with its tag')
      )
      const z = referencePartial(
        slot,
        refs.map((r, k) => ({ committeeKey: r.committeeKeys[c.peer - 1], share: share(k) }))
      )
      const y = refs.reduce((acc, r) => acc + r.shares(slot)[c.peer - 1], 0n) % R
      assert.equal(z, y, 'z_u is the sum of the shares y_iu over A')
    }
  })

  it('Expander matches HmacKey.expand (RFC 5869) for every length up to 200', () => {
    const prk = new HmacKey(utf8('a pseudo-random key of some length'))
    for (const infoLen of [0, 12, 22, 23, 32, 40]) {
      const info = Uint8Array.from({ length: infoLen }, (_, k) => (k * 37 + 1) & 255)
      const exp = new Expander(info)
      for (let len = 1; len <= 200; len++) {
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
    for (const bad of [1n << 48n, -(1n << 48n), 1n << 200n]) assert.throws(() => m.report(1, bad), isCode('READING_RANGE'))
    assert.equal(m.report(1, (1n << 48n) - 1n).length, reportBytes(4))
    assert.equal(m.report(1, -((1n << 48n) - 1n)).length, reportBytes(4))
  })
  it('refuses slots that are not non-negative safe integers (BAD_SLOT)', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN]) assert.throws(() => m.report(bad, 1n), isCode('BAD_SLOT'))
    assert.equal(decodeReport(m.report(Number.MAX_SAFE_INTEGER, 1n), 4).slot, Number.MAX_SAFE_INTEGER)
  })
  it('needs keys that fit the genesis (BAD_KEYS), a public key for every candidate (MISSING_KEY) and sane parameters (PARAMS)', () => {
    const keys = net.dealt.meters[2]
    assert.throws(() => new MeterCrypto({ keys: { ...keys, pairSeeds: keys.pairSeeds.slice(1) } }), isCode('BAD_KEYS'))
    assert.throws(() => new MeterCrypto({ keys, params: { candidates: 4 } }), isCode('BAD_KEYS'))
    assert.throws(() => new MeterCrypto({ keys, consensusCount: 7 }), isCode('BAD_KEYS'))
    const opts = net.meterKeyOptions(3)
    const candidateKeys = new Map(opts.candidatePublicKeys)
    candidateKeys.delete(4)
    assert.throws(() => deriveMeterKeys({ ...opts, candidatePublicKeys: candidateKeys }, net.modules), isCode('MISSING_KEY'))
    for (const params of [{ candidates: 7 }, { candidates: 0 }, { extraPartners: -1 }, { extraPartners: Number.NaN }]) {
      assert.throws(() => new MeterCrypto({ keys, params }), isCode('PARAMS'))
    }
    assert.throws(() => new MeterCrypto({ keys: { ...keys, index: 11 } }), isCode('PARAMS'))
    assert.throws(() => deriveMeterKeys({ ...opts, secret: 0n }, net.modules), isCode('PARAMS'))
  })
  it('another meter key or gateway key gives a different report', () => {
    const k = net.dealt.meters[0]
    const other = new MeterCrypto({ keys: { ...k, gatewayKey: net.dealt.meters[1].gatewayKey } })
    assert.notEqual(toHex(other.report(5, 1n)), toHex(m.report(5, 1n)))
    const otherSelf = new MeterCrypto({ keys: { ...k, selfMaskKey: net.dealt.meters[1].selfMaskKey } })
    assert.notEqual(toHex(otherSelf.report(5, 1n)), toHex(m.report(5, 1n)))
  })
  it('a retried report has the same bytes', () => {
    assert.equal(toHex(m.report(77, -5n)), toHex(net.meters[0].report(77, -5n)))
    assert.equal(toHex(new MeterCrypto({ keys: net.dealt.meters[0] }).report(77, -5n)), toHex(m.report(77, -5n)))
  })
})
