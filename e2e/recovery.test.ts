/**
 * Dropout recovery on real processes (issue 12, PROTOCOL 3.5): 4 consensus peers, 60 meters in two
 * processes dropping 5 % of their reports. Every block's sum equals the sum of the readings of the
 * meters it does not list as missing; a consensus peer returning wrong partial sums is caught
 * (named in the block, with the proof of its own signed values) and the sums stay exact; a consensus peer down during recovery changes
 * nothing.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { assertOneChain } from './chains.ts'
import { type ApiBlock, readingsTable, TestNetwork, waitFor } from './harness.ts'

let net: TestNetwork | undefined
let failed = false
after(async () => {
  await net?.destroy(failed)
})

const METERS = 60

/** Blocks with a sum from `from` on, once `count` of them exist on cn-1. */
async function blocksWithSums(n: TestNetwork, from: number, count: number, timeoutMs: number): Promise<ApiBlock[]> {
  return waitFor(
    `${count} blocks with a sum from height ${from}`,
    async () => {
      const h = await n.height('cn-1')
      if (h < from) return false
      const blocks = (await n.blocks('cn-1', from, h)).filter((b) => b.sum !== null)
      return blocks.length >= count ? blocks : false
    },
    timeoutMs
  )
}

describe('dropout recovery', () => {
  it('5 % drops: exact sums of the meters present; a liar caught; a peer down changes nothing', { timeout: 360_000 }, async () => {
    try {
      net = await TestNetwork.create({ name: 'recovery', meters: METERS, consensus: 4, genesisInMs: 4000 })
      const table = readingsTable(METERS, 0, net.slotNow() + 900, 41)
      const readings = net.writeFile('readings.csv', table.text)
      const exact = (b: ApiBlock) =>
        assert.equal(b.sum, table.sumWithout(b.slot, b.missing).toString(), `slot ${b.slot}: the sum of the meters present`)
      for (const id of ['cn-1', 'cn-2', 'cn-4']) net.start('consensus', id)
      net.start('consensus', 'cn-3', ['--misbehave', 'wrong-partials'])
      net.start('gateway', 'gateway')
      net.start('meter', 'meter-1..meter-30', ['--readings', readings, '--drop-rate', '0.05'], 'meters-a')
      net.start('meter', 'meter-31..meter-60', ['--readings', readings, '--drop-rate', '0.05'], 'meters-b')
      const all = net.consensusIds()

      // 1. cn-3 returns wrong partial sums: the gateway names it in every block, and the sums are exact.
      const first = await blocksWithSums(net, 1, 8, 150_000)
      for (const b of first) {
        exact(b)
        assert.ok(
          b.faultyPeers.every((p) => p === 'cn-3'),
          `slot ${b.slot}: only cn-3 is named`
        )
        assert.ok(b.endorsedBy.length >= 3, 'a certificate of 2f+1 endorsements')
        if (b.status === 'recovered') assert.ok(b.missing.length > 0 && b.count === METERS - b.missing.length)
        else assert.equal(b.status, 'complete')
      }
      // (Under load cn-3 may now and then miss a slot's rounds; then it is not named there.)
      assert.ok(first.filter((b) => b.faultyPeers.includes('cn-3')).length >= 5, "cn-3's wrong partials are caught")
      assert.ok(
        first.some((b) => b.status === 'recovered'),
        `with 5 % drops among 60 meters, some slots are recovered: ${first.map((b) => b.status).join(' ')}`
      )
      assert.ok((await net.metric('gateway', 'bbnp_partials_inconsistent_total', { peer: 'cn-3' })) >= 8)
      // cn-3 signs its lies (PROTOCOL 3.5.5): every naming came with a proof the replicas accepted.
      assert.equal(await net.metric('gateway', 'bbnp_partials_bad_signature_total'), 0, 'every partial was signed')
      for (const id of ['cn-1', 'cn-2', 'cn-4'])
        assert.equal(await net.metric(id, 'bbnp_consensus_rejected_total', { reason: 'BAD_FAULT_PROOF' }), 0, `${id}: no unproven fault`)

      // 2. cn-3 comes back honest; then cn-4 goes down: three peers recover every slot alone.
      await net.stop('cn-3')
      net.start('consensus', 'cn-3')
      const honest = await waitFor(
        'a block after cn-3 came back honest',
        async () => {
          const h = await net!.height('cn-1')
          const [b] = await net!.blocks('cn-1', h, h)
          return b && b.sum !== null && b.faultyPeers.length === 0 ? h : false
        },
        90_000
      )
      await net.stop('cn-4', 'SIGKILL')
      const later = await blocksWithSums(net, honest + 2, 6, 120_000)
      for (const b of later) {
        exact(b)
        assert.deepEqual(b.faultyPeers, [], `slot ${b.slot}: nobody lied`)
        assert.ok(!b.endorsedBy.includes('cn-4'), 'cn-4 is down')
      }
      // Every slot that had a sum, on every live peer, is the same chain.
      const h = await net.height('cn-1')
      await net.waitHeight(h, ['cn-1', 'cn-2', 'cn-3'], 60_000)
      for (const b of await assertOneChain(net, ['cn-1', 'cn-2', 'cn-3'], h)) if (b.sum !== null) exact(b)
      assert.ok(all.length === 4)
    } catch (e) {
      failed = true
      throw e
    }
  })
})
