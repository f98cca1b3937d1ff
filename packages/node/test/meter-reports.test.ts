/**
 * A meter process's reports and reveal answers (meter-reports.ts), with real dealt keys and a
 * stand-in for the network: reports go out in batches, and a reveal question is answered only for
 * a slot whose report this process sent (PROTOCOL 3.5.4), so a restart cannot reset a meter's limit.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MetricsRegistry, nullLogger, SeededRng } from '@bbnp/core'
import { dealKeys, encodeRevealRequest, generateNetworkSecrets, MeterCrypto, type ReadingsSource, reportBytes } from '@bbnp/aggregation'
import { maxBlockBytes } from '@bbnp/consensus'
import type { P2PNode } from '@bbnp/network'
import { MeterReporter, revealProtocol } from '../src/meter-reports.ts'
import { encodeReceipt, splitRevealItems, wireProtocols } from '../src/protocols.ts'

const N = 12
const M = 4
const dealt = dealKeys(generateNetworkSecrets({ meters: N, consensus: M, rng: new SeededRng('meter-reports-test') }))
const wire = wireProtocols({ meters: N, consensus: M, candidates: 8, maxBlockBytes: maxBlockBytes(M, N) })
const readings: ReadingsSource = { reading: (i, slot) => BigInt(i * 10 + slot), lastSlot: () => undefined }

function host(indices: number[]) {
  const meters = indices.map((i) => new MeterCrypto({ keys: dealt.meters[i - 1], consensusCount: M }))
  const sent: Uint8Array[] = []
  const p2p = {
    request: async (_peer: string, _protocol: unknown, body: Uint8Array) => {
      sent.push(body)
      return [encodeReceipt({ accepted: body.length / reportBytes(M), rejected: {} })]
    }
  } as unknown as P2PNode
  const reporter = new MeterReporter({
    meters,
    readings,
    readingsPath: 'table',
    nodes: M,
    wire,
    gatewayPeer: 'gw',
    p2p: () => p2p,
    drops: () => false,
    logger: nullLogger,
    metrics: new MetricsRegistry()
  })
  const reveal = revealProtocol({
    wire,
    gatewayPeer: 'gw',
    candidates: 8,
    meters,
    reported: (i, slot) => reporter.reported(i, slot),
    logger: nullLogger,
    metrics: new MetricsRegistry()
  })
  const ask = async (meterIndex: number, slot: number, missing: number[]) => {
    const frames = await reveal.handler!(encodeRevealRequest({ meterIndex, slot, missing }), 'gw', new AbortController().signal)
    return splitRevealItems((frames as Uint8Array[])[0], true)
  }
  return { meters, reporter, reveal, sent, ask }
}

describe('MeterReporter and the reveal protocol', () => {
  it('sends every hosted meter report of a slot, and remembers which it sent', async () => {
    const h = host([1, 2, 3])
    await h.reporter.report(7)
    assert.equal(h.sent.length, 1)
    assert.equal(h.reporter.lastSlot?.sent, 3)
    assert.equal(h.reporter.reported(2, 7), true)
    assert.equal(h.reporter.reported(2, 6), false)
    assert.equal(h.reporter.reported(4, 7), false, 'not hosted here')
  })

  it('answers reveal questions only about slots whose report this process sent', async () => {
    const h = host([1, 2, 3])
    await h.reporter.report(7)
    // meter-2's candidates include meter-4 (its ring neighbour two away).
    assert.equal((await h.ask(2, 7, [4])).length, 1, 'the slot it reported: answered')
    assert.equal((await h.ask(2, 6, [4])).length, 0, 'a slot it never reported (or reported before a restart): refused')
    await assert.rejects(
      async () => h.reveal.handler!(encodeRevealRequest({ meterIndex: 2, slot: 7, missing: [4] }), 'someone', new AbortController().signal),
      /only the gateway/
    )
  })

  it('a restarted process (a new reporter) answers nothing about the slots before it started', async () => {
    const before = host([1, 2, 3])
    await before.reporter.report(9)
    assert.equal((await before.ask(2, 9, [4])).length, 1)
    const after = host([1, 2, 3])
    assert.equal((await after.ask(2, 9, [4])).length, 0)
    assert.equal((await after.ask(2, 9, [4, 12])).length, 0, 'nor a second, wider question')
  })
})
