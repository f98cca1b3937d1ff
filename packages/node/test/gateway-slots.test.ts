/**
 * The gateway's slot bookkeeping (gateway-slots.ts) with real dealt keys and real reports, time
 * given by hand: no slot is passed over, whether a close timer fired late or a later slot closed
 * early, and a closed slot counts no report.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SeededRng } from '@bbnp/core'
import { dealKeys, GatewayCrypto, generateNetworkSecrets, MeterCrypto, reportBytes } from '@bbnp/aggregation'
import { GatewaySlots } from '../src/gateway-slots.ts'

const N = 4
const M = 4
const PERIOD = 1000
const SKEW = 200
const dealt = dealKeys(generateNetworkSecrets({ meters: N, consensus: M, rng: new SeededRng('gateway-slots-test') }))
const meters = dealt.meters.map((k) => new MeterCrypto({ keys: k, consensusCount: M }))

function slots(lastClosed = -1, periodMs = PERIOD): GatewaySlots {
  return new GatewaySlots({
    crypto: new GatewayCrypto({ keys: dealt.gateway, consensusCount: M, minReporters: 2 }),
    meters: N,
    reportBytes: reportBytes(M),
    genesisTimeMs: 0,
    periodMs,
    skewMs: SKEW,
    lastClosed
  })
}

/** The reports of the given meters for slot t, sent as t ends. */
function send(s: GatewaySlots, slot: number, who: number[], at = (slot + 1) * PERIOD) {
  const body = new Uint8Array(who.length * reportBytes(M))
  who.forEach((i, k) => body.set(meters[i].report(slot, BigInt(100 + i)), k * reportBytes(M)))
  return s.accept(body, at, 'meters')
}

describe('GatewaySlots', () => {
  it('closes every slot a late timer passed over, oldest first, with the reports each got', () => {
    const s = slots()
    s.startAt(5)
    assert.equal(send(s, 5, [0, 1, 2]).accepted, 3)
    assert.equal(send(s, 7, [0, 1]).accepted, 2)
    // The timers for slots 5 and 6 never fired: the one for 7 closes all three.
    const closed = s.closeDue(7)
    assert.deepEqual(
      closed.map((c) => [c.slot, c.agg.count]),
      [
        [5, 3],
        [6, 0],
        [7, 2]
      ]
    )
    assert.deepEqual(s.closeDue(7), [], 'nothing closes twice')
    assert.equal(s.lastClosed, 7)
  })

  it('a slot closed early (every meter in) leaves the slot before it open to its reports', () => {
    // A period under twice the skew: slot 11's window [3400, 3800] opens while slot 10's [3100, 3500] is open.
    const s = slots(-1, 300)
    s.startAt(10)
    assert.deepEqual(send(s, 11, [0, 1, 2, 3], 3450).full, [11])
    assert.ok(s.close(11))
    assert.equal(s.isClosed(11), true)
    assert.equal(s.isClosed(10), false)
    assert.equal(send(s, 10, [0, 1], 3480).accepted, 2, 'slot 10 still counts reports')
    assert.deepEqual(
      s.closeDue(11).map((c) => [c.slot, c.agg.count]),
      [[10, 2]]
    )
  })

  it('counts no report for a closed slot, and none before the slot this run starts at', () => {
    const s = slots()
    s.startAt(20)
    assert.deepEqual(send(s, 19, [0], 20 * PERIOD + 10).rejected, { LATE: 1 }, 'before this run: closed')
    send(s, 20, [0, 1])
    s.closeDue(20)
    const again = send(s, 20, [2], 21 * PERIOD + 10)
    assert.equal(again.accepted, 0)
    assert.deepEqual(again.rejected, { LATE: 1 })
    assert.deepEqual(send(s, 20, [0], 21 * PERIOD + 10).rejected, { DUPLICATE: 1 })
  })

  it('slots of an earlier run stay closed; a missed range is skipped as a whole', () => {
    const s = slots(30)
    assert.deepEqual(s.closeDue(30), [])
    s.skipTo(40)
    assert.equal(s.lastClosed, 40)
    assert.deepEqual(
      s.closeDue(42).map((c) => c.slot),
      [41, 42]
    )
  })
})
