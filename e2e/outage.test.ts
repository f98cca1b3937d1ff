/**
 * Nothing lost across an outage (issue 10): the gateway closes slots while no consensus peer is
 * up (without the committee they cannot be recovered: PROTOCOL 3.5 makes them incomplete, with the
 * reason, after the gateway has tried for a while), every process is then stopped cleanly for
 * longer than 256 slots (the old backfill window), and started again. Every slot the gateway
 * closed reaches the chain as it closed it, the outage is one missed range, and every slot from
 * the first block to the last is accounted for, the sums exact.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { assertOneChain } from './chains.ts'
import { readingsTable, TestNetwork, waitFor } from './harness.ts'
import { networks } from './scope.ts'

const nets = networks()

describe('an outage of every process', () => {
  it(
    'closed but uncommitted slots survive a full stop; an outage of 260 slots is one missed range; no slot unaccounted for',
    { timeout: 360_000 },
    async () => {
      await nets.test(async () => {
        // 250 ms slots: four peers keep up on two loaded cores; the outage is then 65 s.
        const periodMs = 250
        const net = await TestNetwork.create({ name: 'outage', meters: 4, consensus: 4, periodMs, genesisInMs: 3000 })
        nets.add(net)
        const table = readingsTable(4, 0, net.slotNow() + 2000, 23)
        const readings = net.writeFile('readings.csv', table.text)
        net.startAll({ readings })
        const all = net.consensusIds()
        await net.waitHeight(5, all, 90_000)

        // The consensus peers stop; the gateway goes on closing slots it cannot hand off.
        for (const id of all) assert.equal(await net.stop(id), 0, `${id} stops cleanly`)
        const pending = await waitFor(
          'the gateway to hold closed slots no block has',
          async () => {
            const s = await net.api('gateway', '/status')
            return s.pendingSlots.length >= 3 ? (s.pendingSlots as number[]) : false
          },
          30_000
        )
        // Then everything stops, for longer than 256 slots.
        for (const name of ['gateway', 'meters-1']) assert.equal(await net.stop(name), 0, `${name} stops cleanly`)
        const downAt = net.slotNow()
        await waitFor('260 slots of outage', () => net.slotNow() >= downAt + 260, 90_000, 250)

        net.startAll({ readings })
        const last = Math.max(...pending)
        await waitFor(
          'blocks past the outage',
          async () => {
            const h = await net.height('cn-1')
            const [head] = await net.blocks('cn-1', h, h)
            return head && head.slot > downAt + 270
          },
          120_000
        )
        const h = await net.height('cn-1')
        await net.waitHeight(h, all, 60_000)
        const chain = await assertOneChain(net, all, h)

        // Every slot the gateway had closed is on the chain as it closed it. With the committee
        // stopped, its recovery could not finish (PROTOCOL 3.5.5): such a slot closes incomplete,
        // with its reason (no-endorsement, or too-few-reporters where reports came too late on a
        // loaded machine), once the gateway has tried for its retry time; one decoded before the
        // peers stopped keeps its exact sum.
        const closed = new Map(
          net
            .log('gateway')
            .split('\n')
            .filter((l) => l.includes('"msg":"slot closed"'))
            .map((l) => JSON.parse(l) as { slot: number; status: string; sum: string | null })
            .map((c) => [c.slot, c])
        )
        for (const slot of pending) {
          const b = chain.find((x) => x.fromSlot <= slot && slot <= x.slot)
          assert.ok(b, `slot ${slot} is on the chain`)
          const c = closed.get(slot)
          assert.ok(c, `the gateway logged slot ${slot} as closed`)
          assert.equal(b.status, c.status, `slot ${slot} kept its status`)
          assert.equal(b.sum, c.sum, `slot ${slot} kept its sum`)
          if (b.status === 'complete') assert.equal(b.sum, table.sum(slot).toString(), `slot ${slot}'s sum`)
          else assert.ok(b.reason, `slot ${slot} says why it has no sum`)
        }
        // The outage is one missed range of at least 256 slots, after the last closed slot.
        const missed = chain.filter((b) => b.status === 'missed')
        assert.equal(missed.length, 1, `one missed range, got ${missed.map((b) => `${b.fromSlot}..${b.slot}`).join(' ')}`)
        assert.ok(missed[0].fromSlot > last, 'the range begins after the slots the gateway closed')
        assert.ok(missed[0].slot - missed[0].fromSlot + 1 >= 256, `the range covers the outage (${missed[0].fromSlot}..${missed[0].slot})`)
        // Every slot from the first block to the last is accounted for, and the sums are exact.
        for (let i = 1; i < chain.length; i++) assert.equal(chain[i].fromSlot, chain[i - 1].slot + 1, `block ${chain[i].height} follows on`)
        for (const b of chain) if (b.sum !== null) assert.equal(b.sum, table.sumWithout(b.slot, b.missing).toString(), `slot ${b.slot}`)
      })
    }
  )
})
