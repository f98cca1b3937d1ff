/**
 * The gateway's checks (PROTOCOL 3.1, 3.5): every rejection code of reports and of reveal
 * answers produced by the bad input it names, counted, and without effect on the slot: the
 * reporter set and the decoded sum are those of the honest reports alone. The report and reveal
 * codecs and their size bounds, and the order of the recovery calls.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BbnpError, concatBytes } from '@bbnp/core'
import { modR, R, scalarToBytes } from '@bbnp/crypto'
import {
  decodeReport,
  decodeRevealAnswer,
  decodeRevealRequest,
  encodeReport,
  encodeRevealRequest,
  GatewayCrypto,
  REJECT_CODES,
  type RejectCode,
  REVEAL_REJECT_CODES,
  type RevealRejectCode,
  recoverSelfMaskSum,
  ReferenceMeter,
  referenceRevealTag,
  referenceSlotKeys,
  referenceTag,
  reportBytes,
  revealAnswerBytes,
  revealRequestBytes,
  shareOffset,
  shareTagOffset,
  type SlotAggregator
} from '../src/index.ts'
import { big, buildNetwork, type TestNetwork } from './helpers.ts'

const N = 6
const SLOT = 1000
const readings = [120n, -45n, 0n, 9999n, 3n, -7n]
const expectedSum = readings.reduce((a, b) => a + b, 0n)
const isCode = (code: string) => (e: unknown) => e instanceof BbnpError && e.code === code
const fresh = () => buildNetwork(N, 'gateway')
const honest = (net: TestNetwork, slot = SLOT) => net.meters.map((m) => m.report(slot, readings[m.index - 1]))

function zeroCounters(): Record<RejectCode, number> {
  return Object.fromEntries(REJECT_CODES.map((c) => [c, 0])) as Record<RejectCode, number>
}

/** Close a slot whose reports are all in (no reveal round) and decode it with the committee's B. */
function finish(net: TestNetwork, agg: SlotAggregator) {
  const step = agg.close()
  assert.equal(step.stage, 'endorse', JSON.stringify(step, big))
  if (step.stage !== 'endorse') throw new Error('unreachable')
  const partials = net.committee.map((c) => ({ peer: c.peer, value: c.partial(agg.slot, step.present, agg.sharesFor(c.peer)) }))
  const rec = recoverSelfMaskSum(partials, net.m)
  assert.ok(rec.ok)
  return agg.decode(rec.value)
}

/**
 * Feed `bad` before, between and after the honest reports (unless `after` is false), and once
 * more after the close; check the code, the counters, the count and the sum.
 */
function assertRejected(net: TestNetwork, bad: Uint8Array[], code: RejectCode, opts: { after?: boolean; afterClose?: RejectCode } = {}) {
  const after = opts.after ?? true
  const agg = net.gateway.openSlot(SLOT)
  const reports = honest(net)
  const feed = (b: Uint8Array, expected: RejectCode) => {
    const countBefore = agg.count
    const res = agg.accept(b)
    assert.equal(res.ok, false)
    assert.equal(!res.ok && res.code, expected)
    assert.equal(agg.count, countBefore, 'a rejected report must not count')
  }
  for (const b of bad) feed(b, code)
  for (let k = 0; k < 3; k++) assert.ok(agg.accept(reports[k]).ok)
  for (const b of bad) feed(b, code)
  for (let k = 3; k < N; k++) assert.ok(agg.accept(reports[k]).ok)
  if (after) for (const b of bad) feed(b, code)
  const counters = zeroCounters()
  counters[code] = bad.length * (after ? 3 : 2)
  assert.deepEqual(agg.rejections(), counters)
  const res = finish(net, agg)
  assert.ok(res.status === 'complete' && res.sum === expectedSum && res.count === N, `sum changed: ${JSON.stringify(res, big)}`)
  // After the close the same bytes are still refused, never counted, never thrown at.
  for (const b of bad) feed(b, opts.afterClose ?? code)
  return agg
}

function mutate(b: Uint8Array, f: (c: Uint8Array) => void): Uint8Array {
  const c = b.slice()
  f(c)
  return c
}

/** A report of meter i with any ciphertext, shares and share tags, under its real k_mac (a meter bypassing MeterCrypto). */
function craftedReport(net: TestNetwork, i: number, slot: number, ciphertext: bigint, shares: bigint[], shareTags: bigint[]): Uint8Array {
  const kig = net.modules.sharedSecret!(net.secrets.meters[i - 1].secret, net.secrets.gateway.publicKey)
  const body = encodeReport({ meterIndex: i, slot, ciphertext, shares, shareTags, tag: new Uint8Array(32) }).subarray(
    0,
    reportBytes(shares.length) - 32
  )
  return concatBytes(body, referenceTag(referenceSlotKeys(kig, i, slot).mac, body))
}

describe('gateway accepts honest reports', () => {
  it('in any order, and decodes the exact sum', () => {
    const net = fresh()
    const agg = net.gateway.openSlot(SLOT)
    for (const r of honest(net).reverse()) assert.equal(agg.accept(r).ok, true)
    assert.deepEqual(agg.rejections(), zeroCounters())
    const res = finish(net, agg)
    assert.ok(res.status === 'complete')
    assert.deepEqual(
      { ...res, present: undefined },
      { status: 'complete', slot: SLOT, sum: expectedSum, count: N, missing: [], present: undefined }
    )
    assert.deepEqual([...res.present], [0b111111])
  })

  it('with keys prepared before the slot, and keys are single use', () => {
    const net = fresh()
    const keys = net.gateway.prepareSlot(SLOT)
    const agg = net.gateway.openSlot(keys)
    for (const r of honest(net)) agg.accept(r)
    assert.equal(finish(net, agg).status, 'complete')
    assert.throws(() => net.gateway.openSlot(keys), isCode('SLOT_CLOSED'))
  })
})

describe('gateway rejections (each counted, none changes the slot)', () => {
  it(`OVERSIZED: longer than ${reportBytes(4)} bytes (M = 4), e.g. a report made for M = 5`, () => {
    const net = fresh()
    const r = honest(net)[0]
    const longer = new Uint8Array(reportBytes(4) + 1)
    longer.set(r)
    assertRejected(net, [longer, new Uint8Array(reportBytes(5)), new Uint8Array(1 << 20)], 'OVERSIZED')
  })

  it('MALFORMED: too short (one share fewer), empty, ciphertext >= r, a share >= r, a share tag >= r, slot beyond 2^53', () => {
    const net = fresh()
    const r = honest(net)[1]
    // A field holding r itself (r - 1 ends in 0x00, so add one to the last byte): not a canonical element of Z_r.
    const d = decodeReport(r, 4)
    const cIsR = encodeReport({ ...d, ciphertext: R - 1n })
    cIsR[43] += 1
    const shareIsR = encodeReport({ ...d, shares: [d.shares[0], d.shares[1], R - 1n, d.shares[3]] })
    shareIsR[shareOffset(3) + 31] += 1
    const tagIsR = encodeReport({ ...d, shareTags: [d.shareTags[0], R - 1n, d.shareTags[2], d.shareTags[3]] })
    tagIsR[shareTagOffset(2) + 31] += 1
    const lastShareOnes = mutate(r, (c) => c.fill(0xff, shareOffset(4), shareOffset(4) + 32))
    const lastTagOnes = mutate(r, (c) => c.fill(0xff, shareTagOffset(4), shareTagOffset(4) + 32))
    const hugeSlot = mutate(r, (c) => c.fill(0xff, 4, 12))
    assertRejected(
      net,
      [
        r.subarray(0, reportBytes(4) - 64),
        r.subarray(0, r.length - 1),
        new Uint8Array(0),
        cIsR,
        shareIsR,
        tagIsR,
        lastShareOnes,
        lastTagOnes,
        hugeSlot
      ],
      'MALFORMED'
    )
  })

  it('UNKNOWN_METER: index 0 or beyond N', () => {
    const net = fresh()
    const r = honest(net)[2]
    assertRejected(
      net,
      [mutate(r, (c) => c.fill(0, 0, 4)), mutate(r, (c) => (c[3] = N + 1)), mutate(r, (c) => c.fill(0xff, 0, 4))],
      'UNKNOWN_METER'
    )
  })

  it('WRONG_SLOT: a valid, correctly tagged report of another slot', () => {
    const net = fresh()
    assertRejected(net, [honest(net, SLOT + 1)[0], honest(net, SLOT - 1)[4], honest(net, 0)[5]], 'WRONG_SLOT')
  })

  it('DUPLICATE only for identical bytes: a replay of a counted report (also after the close)', () => {
    const net = fresh()
    const agg = net.gateway.openSlot(SLOT)
    const reports = honest(net)
    for (const r of reports) assert.ok(agg.accept(r).ok)
    for (const b of [reports[0], reports[5], reports[0].slice()])
      assert.deepEqual(agg.accept(b), { ok: false, code: 'DUPLICATE', meterIndex: b[3] })
    assert.equal(agg.count, N)
    const res = finish(net, agg)
    assert.ok(res.status === 'complete' && res.sum === expectedSum)
    assert.deepEqual(agg.accept(reports[5]), { ok: false, code: 'DUPLICATE', meterIndex: 6 })
    const counters = zeroCounters()
    counters.DUPLICATE = 4
    assert.deepEqual(agg.rejections(), counters)
  })

  it('CONFLICT: a second, different report of one meter with a valid tag (two sources of one identity); the first stays', () => {
    const net = fresh()
    const again = net.meters[3].report(SLOT, 1_000_000n)
    const agg = net.gateway.openSlot(SLOT)
    const reports = honest(net)
    for (const r of reports) assert.ok(agg.accept(r).ok)
    assert.deepEqual(agg.accept(again), { ok: false, code: 'CONFLICT', meterIndex: 4 })
    // The same conflicting bytes again are a conflict again, not a duplicate: DUPLICATE compares with the counted report.
    assert.deepEqual(agg.accept(again), { ok: false, code: 'CONFLICT', meterIndex: 4 })
    assert.deepEqual(agg.conflicts(), [4])
    const res = finish(net, agg)
    assert.ok(res.status === 'complete' && res.sum === expectedSum, 'the first report stays, the second is not added')
    assert.deepEqual(agg.accept(again), { ok: false, code: 'CONFLICT', meterIndex: 4 }, 'also after the close')
    assert.equal(agg.rejections().CONFLICT, 3)
    assert.equal(agg.rejections().DUPLICATE, 0)
  })

  it("BAD_TAG: flipped tag bit, altered ciphertext, tampered or swapped shares or share tags, another meter's index or tag", () => {
    // Forgeries for meters 4-6, fed before their honest reports arrive (afterwards they are
    // checked against the counted report first; see the order test below).
    const net = fresh()
    const [, , , r4, r5, r6] = honest(net)
    const len = reportBytes(4)
    const flippedTag = mutate(r4, (c) => (c[len - 1] ^= 1))
    const alteredC = mutate(r4, (c) => (c[43] ^= 1))
    const alteredShare = mutate(r4, (c) => (c[shareOffset(2) + 31] ^= 1))
    const alteredShareTag = mutate(r4, (c) => (c[shareTagOffset(3) + 31] ^= 1))
    const swappedShares = mutate(r5, (c) => {
      c.set(r5.subarray(shareOffset(1), shareOffset(2)), shareOffset(2))
      c.set(r5.subarray(shareOffset(2), shareOffset(3)), shareOffset(1))
    })
    const otherIndex = mutate(r4, (c) => (c[3] = 5))
    const stolenTag = mutate(r6, (c) => c.set(r5.subarray(len - 32), len - 32))
    const zeroTag = mutate(r5, (c) => c.fill(0, len - 32))
    assertRejected(net, [flippedTag, alteredC, alteredShare, alteredShareTag, swappedShares, otherIndex, stolenTag, zeroTag], 'BAD_TAG', {
      after: false
    })
  })

  it("a forged report sent ahead of a meter's real one does not block it", () => {
    const net = fresh()
    const agg = net.gateway.openSlot(SLOT)
    const reports = honest(net)
    const forged = mutate(reports[2], (c) => (c[20] ^= 0x40))
    assert.deepEqual(agg.accept(forged), { ok: false, code: 'BAD_TAG', meterIndex: 3 })
    assert.deepEqual(agg.accept(forged), { ok: false, code: 'BAD_TAG', meterIndex: 3 })
    assert.deepEqual(agg.accept(reports[2]), { ok: true, meterIndex: 3 })
    for (const r of reports) if (r !== reports[2]) agg.accept(r)
    assert.equal(agg.rejections().BAD_TAG, 2)
    const res = finish(net, agg)
    assert.ok(res.status === 'complete' && res.sum === expectedSum)
  })

  it('checks run in the documented order (size, decoding, meter, slot, duplicate, tag, conflict, late)', () => {
    const net = fresh()
    const agg: SlotAggregator = net.gateway.openSlot(SLOT)
    const r = honest(net)[0]
    assert.ok(agg.accept(r).ok)
    const code = (b: Uint8Array) => (agg.accept(b) as { code: string }).code
    // A report of meter 1 from another slot with a bad tag is WRONG_SLOT, not DUPLICATE or BAD_TAG.
    assert.equal(code(mutate(honest(net, SLOT + 1)[0], (c) => (c[50] ^= 1))), 'WRONG_SLOT')
    // A counted meter's report with a bad tag is BAD_TAG (different bytes), with a valid one CONFLICT.
    assert.equal(code(mutate(r, (c) => (c[50] ^= 1))), 'BAD_TAG')
    // Unknown meter with an out-of-range ciphertext is MALFORMED.
    assert.equal(code(mutate(r, (c) => c.fill(0xff, 0, 44))), 'MALFORMED')
  })
})

describe('after the close (PROTOCOL 3.5.8): classified, counted, never thrown, never counted in', () => {
  it('LATE for a meter not in A, DUPLICATE and CONFLICT for a counted one, BAD_TAG for a forgery', () => {
    const net = fresh()
    const agg = net.gateway.openSlot(SLOT)
    const reports = honest(net)
    for (const r of reports.slice(1)) assert.ok(agg.accept(r).ok)
    const step = agg.close()
    assert.equal(step.stage, 'reveal')
    assert.deepEqual(agg.accept(reports[0]), { ok: false, code: 'LATE', meterIndex: 1 })
    assert.deepEqual(agg.accept(mutate(reports[0], (c) => (c[60] ^= 1))), { ok: false, code: 'BAD_TAG', meterIndex: 1 })
    assert.deepEqual(agg.accept(reports[1]), { ok: false, code: 'DUPLICATE', meterIndex: 2 })
    assert.deepEqual(agg.accept(net.meters[2].report(SLOT, 77n)), { ok: false, code: 'CONFLICT', meterIndex: 3 })
    assert.equal(agg.count, N - 1)
    assert.throws(() => agg.close(), isCode('STAGE'))
    const run = completeRecovery(net, agg, step)
    assert.ok(run.status === 'complete' && run.sum === expectedSum - readings[0] && run.count === N - 1)
    assert.deepEqual(run.missing, ['meter-1'])
    assert.deepEqual([...agg.presentBitmap()], [0b111110])
    assert.deepEqual([...agg.missingBitmap()], [0b000001])
    assert.deepEqual(agg.accept(reports[0]), { ok: false, code: 'LATE', meterIndex: 1 }, 'and after the decode')
    const counters = zeroCounters()
    Object.assign(counters, { LATE: 2, BAD_TAG: 1, DUPLICATE: 1, CONFLICT: 1 })
    assert.deepEqual(agg.rejections(), counters)
  })

  it('LATE also for a meter moved to D for not answering its reveal question', () => {
    const net = fresh()
    const agg = net.gateway.openSlot(SLOT)
    const reports = honest(net)
    for (const r of reports.slice(1)) assert.ok(agg.accept(r).ok)
    const step = agg.close()
    assert.ok(step.stage === 'reveal')
    // Meter 2 (a ring neighbour of meter 1) stays silent; everyone else answers.
    for (const q of step.queries)
      if (q.meterIndex !== 2) assert.ok(agg.acceptReveal(net.meters[q.meterIndex - 1].reveal(SLOT, q.missing)).ok)
    const next = agg.endRevealRound()
    assert.equal(next.stage, 'reveal')
    assert.deepEqual(agg.accept(reports[1]), { ok: false, code: 'LATE', meterIndex: 2 })
  })
})

/** Answer every question with the real meters, then decode over the final set. */
function completeRecovery(net: TestNetwork, agg: SlotAggregator, first: ReturnType<SlotAggregator['close']>) {
  let step = first
  while (step.stage === 'reveal') {
    for (const q of step.queries) assert.ok(agg.acceptReveal(net.meters[q.meterIndex - 1].reveal(agg.slot, q.missing)).ok)
    step = agg.endRevealRound()
  }
  if (step.stage === 'done') return step.result
  const partials = net.committee.map((c) => ({ peer: c.peer, value: c.partial(agg.slot, step.present, agg.sharesFor(c.peer)) }))
  const rec = recoverSelfMaskSum(partials, net.m)
  assert.ok(rec.ok)
  return agg.decode(rec.value)
}

describe('reveal answers (PROTOCOL 3.5.4): each rejection counted, none changes the slot', () => {
  function zeroReveal(): Record<RevealRejectCode, number> {
    return Object.fromEntries(REVEAL_REJECT_CODES.map((c) => [c, 0])) as Record<RevealRejectCode, number>
  }
  /** A slot with meter 1 missing: its ring neighbours 2 and 6, and its other candidates, are asked. */
  function slotWithMissing(net: TestNetwork) {
    const agg = net.gateway.openSlot(SLOT)
    for (const r of honest(net).slice(1)) assert.ok(agg.accept(r).ok)
    const step = agg.close()
    assert.ok(step.stage === 'reveal' && step.round === 1)
    return { agg, step }
  }
  function forgedAnswer(net: TestNetwork, i: number, missing: number[], value: bigint): Uint8Array {
    const kig = net.modules.sharedSecret!(net.secrets.meters[i - 1].secret, net.secrets.gateway.publicKey)
    const count = new Uint8Array([0, missing.length])
    const head = new Uint8Array(12)
    new DataView(head.buffer).setUint32(0, i)
    new DataView(head.buffer).setBigUint64(4, BigInt(SLOT))
    const body = concatBytes(head, count, ...missing.map((j) => new Uint8Array([0, 0, 0, j])), scalarToBytes(value))
    return concatBytes(body, referenceRevealTag(referenceSlotKeys(kig, i, SLOT).mac, body))
  }

  it('every code: OVERSIZED, MALFORMED, UNKNOWN_METER, WRONG_SLOT, NOT_ASKED, DUPLICATE, BAD_TAG, CONFLICT, LATE', () => {
    const net = fresh()
    const { agg, step } = slotWithMissing(net)
    // N = 6, K = 8: every other meter is a candidate of meter 1, so all five are asked about it.
    assert.deepEqual(
      step.queries.map((q) => [q.meterIndex, q.missing]),
      [2, 3, 4, 5, 6].map((i) => [i, [1]])
    )
    const answer2 = net.meters[1].reveal(SLOT, [1])
    const code = (b: Uint8Array) => {
      const res = agg.acceptReveal(b)
      return res.ok ? 'ok' : res.code
    }
    assert.equal(code(concatBytes(answer2, new Uint8Array(revealAnswerBytes(5)))), 'OVERSIZED')
    assert.equal(code(answer2.subarray(0, answer2.length - 1)), 'MALFORMED')
    assert.equal(code(mutate(answer2, (c) => c.fill(0xff, 18, 50))), 'MALFORMED', 'r_i not below r')
    assert.equal(code(mutate(answer2, (c) => (c[13] = 0))), 'MALFORMED', 'an empty list')
    assert.equal(code(mutate(answer2, (c) => (c[3] = 9))), 'UNKNOWN_METER')
    assert.equal(code(net.meters[1].reveal(SLOT + 1, [1])), 'WRONG_SLOT')
    // (from the reference meter: the real one would count it as one of its two answers)
    assert.equal(
      code(new ReferenceMeter(net.meterKeyOptions(2), net.modules).reveal(SLOT, [1, 3])),
      'NOT_ASKED',
      'an answer about another set'
    )
    assert.equal(code(mutate(answer2, (c) => (c[49] ^= 1))), 'BAD_TAG', 'r_i altered')
    assert.equal(code(answer2), 'ok')
    assert.equal(code(answer2), 'DUPLICATE')
    assert.equal(code(forgedAnswer(net, 2, [1], 5n)), 'CONFLICT', 'a different answer under a valid tag')
    assert.deepEqual(agg.conflicts(), [2])
    for (const i of [3, 4, 5]) assert.equal(code(net.meters[i - 1].reveal(SLOT, [1])), 'ok')
    // Meter 6 stays silent: it moves to D, and its candidates are asked again about {1, 6}.
    assert.deepEqual(agg.unanswered(), [6])
    const next = agg.endRevealRound()
    assert.ok(next.stage === 'reveal' && next.round === 2)
    assert.deepEqual(
      next.queries.map((q) => [q.meterIndex, q.missing]),
      [2, 3, 4, 5].map((i) => [i, [1, 6]])
    )
    assert.equal(code(net.meters[5].reveal(SLOT, [1])), 'LATE')
    assert.equal(code(answer2), 'NOT_ASKED', "the first round's answer does not answer the second question")
    const counters = zeroReveal()
    Object.assign(counters, {
      OVERSIZED: 1,
      MALFORMED: 3,
      UNKNOWN_METER: 1,
      WRONG_SLOT: 1,
      NOT_ASKED: 2,
      BAD_TAG: 1,
      DUPLICATE: 1,
      CONFLICT: 1,
      LATE: 1
    })
    assert.deepEqual(agg.revealRejections(), counters)
    // The rest of the slot is unaffected: the sum of meters 2-5.
    const res = completeRecovery(net, agg, next)
    assert.ok(res.status === 'complete' && res.sum === readings[1] + readings[2] + readings[3] + readings[4], JSON.stringify(res, big))
    assert.deepEqual(res.missing, ['meter-1', 'meter-6'])
  })

  it('a meter whose answer is r_i plus garbage under its valid tag makes the slot inconsistent, never a wrong sum', () => {
    const net = fresh()
    const { agg, step } = slotWithMissing(net)
    for (const q of step.queries) {
      const real = decodeRevealAnswer(net.meters[q.meterIndex - 1].reveal(SLOT, q.missing))
      const b =
        q.meterIndex === 3
          ? forgedAnswer(net, 3, [1], modR(real.value + (1n << 120n)))
          : net.meters[q.meterIndex - 1].reveal(SLOT, q.missing)
      assert.ok(agg.acceptReveal(b).ok)
    }
    const res = completeRecovery(net, agg, agg.endRevealRound())
    assert.equal(res.status, 'inconsistent')
    assert.ok(!('sum' in res))
  })
})

describe('inconsistent keys or a cheating meter never yield a sum', () => {
  it('a meter that tags an out-of-range ciphertext under its valid key makes the slot inconsistent', () => {
    const net = fresh()
    const reports = honest(net)
    const d = decodeReport(reports[1], 4)
    reports[1] = craftedReport(net, 2, SLOT, modR(d.ciphertext + (1n << 100n)), d.shares, d.shareTags)
    const agg = net.gateway.openSlot(SLOT)
    for (const r of reports) assert.ok(agg.accept(r).ok)
    assert.equal(finish(net, agg).status, 'inconsistent')
  })

  it('a wrong B gives inconsistent, not a sum', () => {
    const net = fresh()
    const agg = net.gateway.openSlot(SLOT)
    for (const r of honest(net)) agg.accept(r)
    const step = agg.close()
    assert.ok(step.stage === 'endorse')
    const res = agg.decode(12345n)
    assert.equal(res.status, 'inconsistent')
    assert.throws(() => agg.decode(0n), isCode('STAGE'), 'a slot is decoded once')
  })
})

describe('recovery calls in order (STAGE otherwise)', () => {
  it('close once; reveal rounds only while revealing; decode and shares only for a final set; abandon is final', () => {
    const net = fresh()
    const agg = net.gateway.openSlot(SLOT)
    assert.throws(() => agg.endRevealRound(), isCode('STAGE'))
    assert.throws(() => agg.decode(0n), isCode('STAGE'))
    assert.throws(() => agg.sharesFor(1), isCode('STAGE'))
    assert.throws(() => agg.presentBitmap(), isCode('STAGE'))
    for (const r of honest(net).slice(0, 4)) agg.accept(r)
    const step = agg.close()
    assert.ok(step.stage === 'reveal')
    assert.throws(() => agg.decode(0n), isCode('STAGE'))
    assert.throws(() => agg.sharesFor(1), isCode('STAGE'))
    const res = agg.abandon('no endorsement certificate in time')
    assert.deepEqual(res, {
      status: 'incomplete',
      slot: SLOT,
      count: 4,
      missing: ['meter-5', 'meter-6'],
      reason: 'abandoned',
      detail: 'no endorsement certificate in time'
    })
    assert.equal(agg.abandon(), res)
    assert.equal(agg.result, res)
    assert.throws(() => agg.endRevealRound(), isCode('STAGE'))
  })
})

describe('genesis parameters', () => {
  it('M >= 4 (f >= 1: with f = 0 every share would be the self-mask) and minReporters in [2, N] (PARAMS)', () => {
    const net = fresh()
    assert.throws(() => new GatewayCrypto({ keys: net.dealt.gateway, consensusCount: 3 }), isCode('PARAMS'))
    for (const minReporters of [1, 7, 2.5])
      assert.throws(() => new GatewayCrypto({ keys: net.dealt.gateway, consensusCount: 4, minReporters }), isCode('PARAMS'))
    assert.equal(new GatewayCrypto({ keys: net.dealt.gateway, consensusCount: 4 }).minReporters, 3)
    assert.equal(new GatewayCrypto({ keys: net.dealt.gateway, consensusCount: 4, minReporters: 6 }).minReporters, 6)
    assert.throws(() => reportBytes(3), isCode('PARAMS'))
  })
})

describe('codecs and size bounds', () => {
  it('reports round-trip and are 76 + 64 M bytes', () => {
    const net = fresh()
    const r = honest(net)[3]
    const d = decodeReport(r, 4)
    assert.equal(d.meterIndex, 4)
    assert.equal(d.slot, SLOT)
    assert.equal(d.shares.length, 4)
    assert.equal(d.shareTags.length, 4)
    assert.ok([d.ciphertext, ...d.shares, ...d.shareTags].every((v) => v >= 0n && v < R))
    assert.deepEqual(encodeReport(d), r)
    assert.deepEqual([4, 7, 10, 31].map(reportBytes), [332, 524, 716, 2060])
    assert.equal(buildNetwork(10, 'sum-10', { consensus: 10 }).meters[0].report(3, 1n).length, 716)
  })

  it('decodeReport throws OVERSIZED and MALFORMED', () => {
    const size = reportBytes(4)
    assert.throws(() => decodeReport(new Uint8Array(size + 1), 4), isCode('OVERSIZED'))
    assert.throws(() => decodeReport(new Uint8Array(size - 1), 4), isCode('MALFORMED'))
    assert.throws(() => decodeReport(new Uint8Array(size).fill(0xff), 4), isCode('MALFORMED'))
    const zeros = [0n, 0n, 0n, 0n]
    for (const bad of [
      { ciphertext: R, shares: zeros, shareTags: zeros },
      { ciphertext: 0n, shares: [0n, 0n, 0n, R], shareTags: zeros },
      { ciphertext: 0n, shares: zeros, shareTags: [R, 0n, 0n, 0n] },
      { ciphertext: 0n, shares: zeros, shareTags: [0n, 0n, 0n] }
    ])
      assert.throws(() => encodeReport({ meterIndex: 1, slot: 1, ...bad, tag: new Uint8Array(32) }), isCode('MALFORMED'))
  })

  it('reveal requests round-trip; bounds and order are checked', () => {
    const q = { meterIndex: 7, slot: 2 ** 40, missing: [3, 9, 4000000000] }
    const b = encodeRevealRequest(q)
    assert.equal(b.length, revealRequestBytes(3))
    assert.deepEqual(decodeRevealRequest(b, 8), q)
    assert.throws(() => decodeRevealRequest(b, 2), isCode('OVERSIZED'))
    assert.throws(() => decodeRevealRequest(b.subarray(0, b.length - 1)), isCode('MALFORMED'))
    assert.throws(() => decodeRevealRequest(mutate(b, (c) => c.set([0, 0, 0, 10], 14))), isCode('MALFORMED'), 'not ascending')
    assert.throws(() => encodeRevealRequest({ ...q, missing: [] }), isCode('REVEAL_REQUEST'))
    assert.throws(() => encodeRevealRequest({ ...q, missing: [4, 3] }), isCode('REVEAL_REQUEST'))
  })
})
