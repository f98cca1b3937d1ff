/**
 * The gateway's slot closer (gateway-closer.ts): aggregates are handed off in slot order, whatever
 * order their slots closed or their recoveries ended in. A slot handed off before an earlier one
 * would let the chain pass the earlier one by (the primary builds on the lowest slot it holds).
 * Real slots and real keys; the recovery is a stand-in whose end each test sets.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MetricsRegistry, nullLogger, SeededRng } from '@bbnp/core'
import { dealKeys, GatewayCrypto, generateNetworkSecrets, reportBytes, type SlotAggregator } from '@bbnp/aggregation'
import { secretKeyFromScalar } from '@bbnp/crypto'
import type { SignedAggregate } from '@bbnp/consensus'
import { SlotCloser } from '../src/gateway-closer.ts'
import type { AggregateHandoff } from '../src/gateway-handoff.ts'
import type { GatewayRecovery, RecoveryOutcome } from '../src/gateway-recovery.ts'
import { GatewaySlots } from '../src/gateway-slots.ts'

const N = 4
const M = 4
const dealt = dealKeys(generateNetworkSecrets({ meters: N, consensus: M, rng: new SeededRng('gateway-closer-test') }))

function setup() {
  // A period under twice the skew: slot t+1's window opens while slot t's is still open.
  const slots = new GatewaySlots({
    crypto: new GatewayCrypto({ keys: dealt.gateway, consensusCount: M, minReporters: 2 }),
    meters: N,
    reportBytes: reportBytes(M),
    genesisTimeMs: 0,
    periodMs: 300,
    skewMs: 200,
    lastClosed: -1
  })
  const finishes = new Map<number, (o: RecoveryOutcome) => void>()
  const recovery = {
    run: (agg: SlotAggregator) => new Promise<RecoveryOutcome>((resolve) => finishes.set(agg.slot, resolve))
  } as unknown as GatewayRecovery
  const handedOff: number[] = []
  const handoff = {
    add: async (a: SignedAggregate) => {
      handedOff.push(a.slot)
    },
    pendingSlots: () => []
  } as unknown as AggregateHandoff
  const failures: unknown[] = []
  const closer = new SlotCloser({
    signer: secretKeyFromScalar(12345n),
    meters: N,
    nodes: M,
    slots,
    recovery,
    handoff,
    logger: nullLogger,
    metrics: new MetricsRegistry(),
    fail: (e) => failures.push(e)
  })
  /** End slot t's recovery with a sum, and let the hand-offs that follow run. */
  const finish = async (slot: number) => {
    const resolve = finishes.get(slot)
    assert.ok(resolve, `slot ${slot} is recovering`)
    resolve({
      result: { status: 'complete', slot, sum: BigInt(slot), count: N, missing: [], present: new Uint8Array([15]) },
      reason: '',
      endorsement: null,
      faulty: [],
      faultProof: []
    })
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  }
  return { slots, closer, finish, handedOff, failures }
}

describe('SlotCloser', () => {
  it('hands a slot off as soon as its recovery ends when no earlier slot is open', async () => {
    const { slots, closer, finish, handedOff, failures } = setup()
    slots.startAt(5)
    closer.closeDue(5)
    assert.deepEqual(handedOff, [])
    await finish(5)
    assert.deepEqual(handedOff, [5])
    assert.equal(closer.last?.slot, 5)
    assert.deepEqual(failures, [])
  })

  it('a slot closed early (every meter in) waits for the open slot before it', async () => {
    const { slots, closer, finish, handedOff, failures } = setup()
    slots.startAt(10)
    closer.close(11)
    await finish(11)
    assert.deepEqual(handedOff, [], 'slot 10 still takes reports: 11 is held back')
    closer.closeDue(10)
    assert.deepEqual(handedOff, [], 'slot 10 is recovering: 11 is still held back')
    await finish(10)
    assert.deepEqual(handedOff, [10, 11])
    assert.equal(closer.last?.slot, 11, 'the status names the newest slot closed')
    assert.deepEqual(failures, [])
  })

  it('recoveries that end out of order are handed off in slot order', async () => {
    const { slots, closer, finish, handedOff, failures } = setup()
    slots.startAt(20)
    closer.closeDue(22)
    await finish(22)
    await finish(21)
    assert.deepEqual(handedOff, [])
    await finish(20)
    assert.deepEqual(handedOff, [20, 21, 22])
    assert.deepEqual(failures, [])
  })
})
