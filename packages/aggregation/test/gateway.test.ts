/**
 * The gateway's checks (PROTOCOL 3.1): every rejection code produced by the bad input it names,
 * counted, and without effect on the slot: the accepted count and the final sum are those of the
 * honest reports alone. Missing meters give an incomplete slot and never a sum (3.5).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BbnpError } from '@bbnp/core'
import { modR, publicKeyFromScalar, R } from '@bbnp/crypto'
import {
  decodeReport,
  encodeReport,
  GatewayCrypto,
  MeterCrypto,
  REJECT_CODES,
  REPORT_BYTES,
  type RejectCode,
  referenceSlotKeys,
  referenceTag,
  type SlotAggregator
} from '../src/index.ts'
import { buildNetwork } from './helpers.ts'

const N = 6
const SLOT = 1000
const net = buildNetwork(N, 'gateway')
const readings = [120n, -45n, 0n, 9999n, 3n, -7n]
const expectedSum = readings.reduce((a, b) => a + b, 0n)
const honest = (slot = SLOT) => net.meters.map((m) => m.report(slot, readings[m.index - 1]))

function zeroCounters(): Record<RejectCode, number> {
  return Object.fromEntries(REJECT_CODES.map((c) => [c, 0])) as Record<RejectCode, number>
}

/**
 * Feed `bad` before, between and (unless `after` is false) after the honest reports; check the
 * code, the counters, the count and the sum.
 */
function assertRejected(bad: Uint8Array[], code: RejectCode, after = true) {
  const agg = net.gateway.openSlot(SLOT)
  const reports = honest()
  const feed = (b: Uint8Array) => {
    const countBefore = agg.count
    const res = agg.accept(b)
    assert.equal(res.ok, false)
    assert.equal(!res.ok && res.code, code)
    assert.equal(agg.count, countBefore, 'a rejected report must not count')
  }
  for (const b of bad) feed(b)
  for (let k = 0; k < 3; k++) assert.ok(agg.accept(reports[k]).ok)
  for (const b of bad) feed(b)
  for (let k = 3; k < N; k++) assert.ok(agg.accept(reports[k]).ok)
  if (after) for (const b of bad) feed(b)
  const counters = zeroCounters()
  counters[code] = bad.length * (after ? 3 : 2)
  assert.deepEqual(agg.rejections(), counters)
  const res = agg.finish()
  assert.ok(
    res.status === 'complete' && res.sum === expectedSum && res.count === N,
    `sum changed: ${JSON.stringify(res, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`
  )
  return agg
}

function mutate(b: Uint8Array, f: (c: Uint8Array) => void): Uint8Array {
  const c = b.slice()
  f(c)
  return c
}

describe('gateway accepts honest reports', () => {
  it('in any order, and decodes the exact sum', () => {
    const agg = net.gateway.openSlot(SLOT)
    for (const r of honest().reverse()) assert.deepEqual(agg.accept(r).ok, true)
    assert.deepEqual(agg.rejections(), zeroCounters())
    assert.deepEqual(agg.finish(), { status: 'complete', slot: SLOT, sum: expectedSum, count: N })
  })

  it('with keys prepared before the slot, and keys are single use', () => {
    const keys = net.gateway.prepareSlot(SLOT)
    const agg = net.gateway.openSlot(keys)
    for (const r of honest()) agg.accept(r)
    assert.equal(agg.finish().status, 'complete')
    assert.throws(
      () => net.gateway.openSlot(keys),
      (e: unknown) => e instanceof BbnpError && e.code === 'SLOT_CLOSED'
    )
  })
})

describe('gateway rejections (each counted, none changes the slot)', () => {
  it('OVERSIZED: longer than 76 bytes', () => {
    const r = honest()[0]
    const longer = new Uint8Array(REPORT_BYTES + 1)
    longer.set(r)
    assertRejected([longer, new Uint8Array(1 << 20)], 'OVERSIZED')
  })

  it('MALFORMED: too short, empty, ciphertext >= r, slot beyond 2^53', () => {
    const r = honest()[1]
    // The ciphertext field holding r itself (r - 1 ends in 0x00): not a canonical element of Z_r.
    const cIsR = encodeReport({ meterIndex: 2, slot: SLOT, ciphertext: R - 1n, tag: r.subarray(44) })
    cIsR[43] += 1
    const cAllOnes = mutate(r, (c) => c.fill(0xff, 12, 44))
    const hugeSlot = mutate(r, (c) => c.fill(0xff, 4, 12))
    assertRejected([r.subarray(0, 75), new Uint8Array(0), cIsR, cAllOnes, hugeSlot], 'MALFORMED')
  })

  it('UNKNOWN_METER: index 0 or beyond N', () => {
    const r = honest()[2]
    assertRejected(
      [mutate(r, (c) => c.fill(0, 0, 4)), mutate(r, (c) => (c[3] = N + 1)), mutate(r, (c) => c.fill(0xff, 0, 4))],
      'UNKNOWN_METER'
    )
  })

  it('WRONG_SLOT: a valid, correctly tagged report of another slot', () => {
    assertRejected([honest(SLOT + 1)[0], honest(SLOT - 1)[4], honest(0)[5]], 'WRONG_SLOT')
  })

  it('DUPLICATE: a replay, and a second valid report of the same meter with another reading', () => {
    const agg = net.gateway.openSlot(SLOT)
    const reports = honest()
    for (const r of reports) assert.ok(agg.accept(r).ok)
    const again = net.meters[3].report(SLOT, 1_000_000n)
    for (const b of [reports[0], reports[5], again]) {
      const res = agg.accept(b)
      assert.ok(!res.ok && res.code === 'DUPLICATE')
    }
    assert.equal(agg.rejections().DUPLICATE, 3)
    assert.equal(agg.count, N)
    const res = agg.finish()
    assert.ok(res.status === 'complete' && res.sum === expectedSum, 'the first report stays, the second is not added')
  })

  it("BAD_TAG: flipped tag bit, altered ciphertext, another meter's index, another meter's tag", () => {
    // Forgeries for meters 4-6, fed before their honest reports arrive (afterwards they would be
    // DUPLICATE, which is checked first; see the order test below).
    const [, , , r4, r5, r6] = honest()
    const flippedTag = mutate(r4, (c) => (c[REPORT_BYTES - 1] ^= 1))
    const alteredC = mutate(r4, (c) => (c[43] ^= 1))
    const otherIndex = mutate(r4, (c) => (c[3] = 5))
    const stolenTag = mutate(r6, (c) => c.set(r5.subarray(44), 44))
    const zeroTag = mutate(r5, (c) => c.fill(0, 44))
    assertRejected([flippedTag, alteredC, otherIndex, stolenTag, zeroTag], 'BAD_TAG', false)
  })

  it("a forged report sent ahead of a meter's real one does not block it", () => {
    const agg = net.gateway.openSlot(SLOT)
    const reports = honest()
    const forged = mutate(reports[2], (c) => (c[20] ^= 0x40))
    assert.deepEqual(agg.accept(forged), { ok: false, code: 'BAD_TAG', meterIndex: 3 })
    assert.deepEqual(agg.accept(forged), { ok: false, code: 'BAD_TAG', meterIndex: 3 })
    assert.deepEqual(agg.accept(reports[2]), { ok: true, meterIndex: 3 })
    for (const r of reports) if (r !== reports[2]) agg.accept(r)
    assert.equal(agg.rejections().BAD_TAG, 2)
    const res = agg.finish()
    assert.ok(res.status === 'complete' && res.sum === expectedSum)
  })

  it('checks run in the documented order (size, decoding, meter, slot, duplicate, tag)', () => {
    const agg: SlotAggregator = net.gateway.openSlot(SLOT)
    const r = honest()[0]
    assert.ok(agg.accept(r).ok)
    // A duplicate of meter 1 from another slot with a bad tag is WRONG_SLOT, not DUPLICATE or BAD_TAG.
    const otherSlotBadTag = mutate(honest(SLOT + 1)[0], (c) => (c[50] ^= 1))
    assert.equal((agg.accept(otherSlotBadTag) as { code: string }).code, 'WRONG_SLOT')
    // An accepted meter's report with a bad tag is DUPLICATE (no MAC work spent on it).
    assert.equal((agg.accept(mutate(r, (c) => (c[50] ^= 1))) as { code: string }).code, 'DUPLICATE')
    // Unknown meter with an out-of-range ciphertext is MALFORMED.
    assert.equal((agg.accept(mutate(r, (c) => c.fill(0xff, 0, 44))) as { code: string }).code, 'MALFORMED')
  })
})

describe('missing meters (PROTOCOL 3.5)', () => {
  it('an incomplete slot lists the missing meter IDs and carries no sum', () => {
    const agg = net.gateway.openSlot(SLOT)
    const reports = honest()
    for (const k of [0, 2, 3, 5]) agg.accept(reports[k])
    // A forgery for a missing meter does not fill its place.
    agg.accept(mutate(reports[1], (c) => (c[60] ^= 1)))
    const res = agg.finish()
    assert.deepEqual(res, { status: 'incomplete', slot: SLOT, missing: ['meter-2', 'meter-5'], count: 4 })
    assert.ok(!('sum' in res))
  })

  it('a slot with no reports at all is incomplete with every meter missing', () => {
    const res = net.gateway.openSlot(SLOT + 7).finish()
    assert.ok(res.status === 'incomplete' && res.missing.length === N && res.count === 0)
  })

  it('finish() is final: same result again, and no report is accepted afterwards', () => {
    const agg = net.gateway.openSlot(SLOT)
    const reports = honest()
    for (const r of reports.slice(1)) agg.accept(r)
    const first = agg.finish()
    assert.throws(
      () => agg.accept(reports[0]),
      (e: unknown) => e instanceof BbnpError && e.code === 'SLOT_CLOSED'
    )
    assert.equal(agg.finish(), first)
    assert.equal(first.status, 'incomplete')
  })
})

describe('inconsistent keys or a cheating meter never yield a sum', () => {
  it('a TA whose gateway secret is not -sum(s_i): tags verify, the sum is refused as inconsistent', () => {
    const s = net.secrets
    const otherSecret = modR(s.gateway.secret + (1n << 200n) + 12345n)
    const otherPublic = publicKeyFromScalar(otherSecret)
    const meters = net.meters.map((m) => new MeterCrypto({ ...net.meterOptions(m.index), gatewayPublicKey: otherPublic }))
    const gw = new GatewayCrypto({ secret: otherSecret, meterPublicKeys: s.meters.map((m) => m.publicKey) })
    const agg = gw.openSlot(SLOT)
    for (const m of meters) assert.ok(agg.accept(m.report(SLOT, readings[m.index - 1])).ok)
    const res = agg.finish()
    assert.equal(res.status, 'inconsistent')
    assert.ok(!('sum' in res))
  })

  it('a meter that tags an out-of-range value under its valid key makes the slot inconsistent', () => {
    const s = net.secrets
    const reports = honest()
    // Meter 2 bypasses MeterCrypto: its honest ciphertext plus 2^100, tagged with its real k_mac.
    const d = decodeReport(reports[1])
    const kig = net.modules.sharedSecret!(s.meters[1].secret, s.gateway.publicKey)
    const ciphertext = modR(d.ciphertext + (1n << 100n))
    reports[1] = encodeReport({ ...d, ciphertext, tag: referenceTag(referenceSlotKeys(kig, 2, SLOT).mac, 2, SLOT, ciphertext) })
    const agg = net.gateway.openSlot(SLOT)
    for (const r of reports) assert.ok(agg.accept(r).ok)
    assert.equal(agg.finish().status, 'inconsistent')
  })
})

describe('report codec', () => {
  it('round-trips and is exactly 76 bytes', () => {
    const r = honest()[3]
    const d = decodeReport(r)
    assert.equal(d.meterIndex, 4)
    assert.equal(d.slot, SLOT)
    assert.ok(d.ciphertext >= 0n && d.ciphertext < R)
    assert.deepEqual(encodeReport(d), r)
  })
  it('decodeReport throws OVERSIZED and MALFORMED', () => {
    assert.throws(
      () => decodeReport(new Uint8Array(77)),
      (e: unknown) => e instanceof BbnpError && e.code === 'OVERSIZED'
    )
    assert.throws(
      () => decodeReport(new Uint8Array(75)),
      (e: unknown) => e instanceof BbnpError && e.code === 'MALFORMED'
    )
    assert.throws(
      () => decodeReport(new Uint8Array(76).fill(0xff)),
      (e: unknown) => e instanceof BbnpError && e.code === 'MALFORMED'
    )
  })
})
