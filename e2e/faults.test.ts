/**
 * Issue 5 e2e: PBFT keeps the chain safe and live with up to f faulty peers, on real processes.
 * Crashed replicas catch up and sign again; a dead primary is replaced by a view change and loses
 * reputation; liars fall below the threshold and are no longer elected; an equivocating primary
 * cannot fork the chain; outages of the gateway or a meter are recorded as incomplete slots.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { gini } from '@bbnp/reputation'
import { assertOneChain } from './chains.ts'
import { type ApiBlock, readingsTable, TestNetwork, waitFor } from './harness.ts'
import { networks } from './scope.ts'

const nets = networks()

function assertSums(blocks: ApiBlock[], table: { sumWithout: (slot: number, missing: string[]) => bigint }): void {
  for (const b of blocks) {
    if (b.status === 'complete' || b.status === 'recovered')
      assert.equal(b.sum, table.sumWithout(b.slot, b.missing).toString(), `slot ${b.slot}`)
    else assert.equal(b.sum, null, `slot ${b.slot} (${b.status}) carries no sum`)
  }
}

describe('crash faults', () => {
  it('kill -9 a replica: the chain goes on; restarted, it catches up to the identical chain and signs again', { timeout: 240_000 }, () =>
    nets.test(async () => {
      const net = await TestNetwork.create({ name: 'kill-replica', meters: 6, consensus: 4 })
      nets.add(net)
      const table = readingsTable(6, 0, net.slotNow() + 900)
      const readings = net.writeFile('readings.csv', table.text)
      net.startAll({ readings })
      const all = net.consensusIds()
      await net.waitHeight(3, all, 90_000)
      await net.stop('cn-3', 'SIGKILL')
      const atKill = await net.height('cn-1')
      const live = ['cn-1', 'cn-2', 'cn-4']
      await net.waitHeight(atKill + 4, live, 60_000)
      net.start('consensus', 'cn-3')
      const target = (await net.height('cn-1')) + 3
      await net.waitHeight(target, all, 90_000)
      const chain = await assertOneChain(net, all, target)
      assertSums(chain, table)
      // It signs again: cn-3 appears among the signers of a certificate made after its restart.
      await waitFor(
        'cn-3 in a new certificate',
        async () => {
          const h = await net.height('cn-1')
          const recent = await net.blocks('cn-1', target, h)
          return recent.some((b) => b.certificate.signers.includes('cn-3'))
        },
        60_000
      )
      assert.ok((await net.metric('cn-3', 'bbnp_blocks_synced_total')) > 0, 'cn-3 fetched the blocks it missed')
    })
  )

  it(
    'kill -9 the primary mid-height: a view change commits that slot under a new primary, and its reputation falls',
    { timeout: 240_000 },
    () =>
      nets.test(async () => {
        const net = await TestNetwork.create({ name: 'kill-primary', meters: 6, consensus: 4 })
        nets.add(net)
        const table = readingsTable(6, 0, net.slotNow() + 900, 5)
        const readings = net.writeFile('readings.csv', table.text)
        net.startAll({ readings })
        const all = net.consensusIds()
        await net.waitHeight(4, all, 90_000)
        // Wait until a height has just begun and its primary is named, then kill that primary. If its
        // pre-prepare was already out, the other three commit its block without a view change (and
        // under load a late draw can still change who leads view 0): start it again, let it catch
        // up, and try the next height (at most three times).
        let primary = ''
        let parent = 0
        let live: string[] = []
        let before = 0
        let prev: ApiBlock | undefined
        let next: ApiBlock | undefined
        for (let attempt = 1; attempt <= 3; attempt++) {
          ;({ primary, height: parent } = await waitFor(
            'a primary at the working height',
            async () => {
              const s = await net.api('cn-1', '/status')
              return s.primary && s.workingHeight === s.height + 1 ? { primary: s.primary as string, height: s.height as number } : false
            },
            30_000,
            20
          ))
          before = (await net.api('cn-1', '/reputation')).reputations.find((r: { id: string }) => r.id === primary).reputation
          await net.stop(primary, 'SIGKILL')
          live = all.filter((id) => id !== primary)
          await net.waitHeight(parent + 1, live, 60_000)
          ;[prev, next] = await net.blocks(live[0], parent, parent + 1)
          // A view change happened (so the killed peer was the primary and its block was not out): done.
          if (next.certificate.view >= 1 || attempt === 3) break
          net.start('consensus', primary)
          await net.waitHeight(parent + 2, all, 60_000)
        }
        assert.ok(prev && next)
        assert.equal(next.slot, prev.slot + 1, 'the slot that was pending when the primary died is the next block')
        assert.notEqual(next.primary, primary)
        assert.ok(next.certificate.view >= 1, 'committed after a view change')
        assert.ok((await net.metric(live[0], 'bbnp_view_changes_total')) >= 1)
        await net.waitHeight(parent + 6, live, 60_000)
        const chain = await assertOneChain(net, live, parent + 6)
        assertSums(chain, table)
        const after = await waitFor(
          `${primary}'s reputation to fall`,
          async () => {
            const r = (await net.api(live[0], '/reputation')).reputations.find((x: { id: string }) => x.id === primary).reputation
            return r < before ? r : false
          },
          60_000
        )
        assert.ok(after < before, `${primary}: ${before} -> ${after}`)
      })
  )
})

describe('Byzantine faults', () => {
  it(
    'M = 7 with f = 2 peers sending wrong signatures, 220 heights of short slots: correct sums; the liars fall and never lead again; every honest peer leads, none more than twice its fair share',
    { timeout: 420_000 },
    (t) =>
      nets.test(async () => {
        // 500 ms slots: 220 heights in about two minutes, which seven peers keep up with on two loaded cores.
        const net = await TestNetwork.create({ name: 'liars', meters: 6, consensus: 7, periodMs: 500 })
        nets.add(net)
        const table = readingsTable(6, 0, net.slotNow() + 2000, 9)
        const readings = net.writeFile('readings.csv', table.text)
        const liars = ['cn-2', 'cn-6']
        net.startAll({ readings, consensusArgs: Object.fromEntries(liars.map((id) => [id, ['--misbehave', 'wrong-signatures']])) })
        const honest = net.consensusIds().filter((id) => !liars.includes(id))
        // Bounded: both below the threshold within 10 heights of the first block.
        const fellAt = await waitFor(
          'both liars below the threshold',
          async () => {
            const rep = await net.api('cn-1', '/reputation')
            const below = liars.every((id) => !rep.reputations.find((r: { id: string }) => r.id === id).preselected)
            return below ? (rep.height as number) : false
          },
          120_000
        )
        assert.ok(fellAt <= 10, `fell below the threshold by height ${fellAt}`)
        const target = fellAt + 220
        await net.waitHeight(target, honest, 300_000)
        const chain = await assertOneChain(net, honest, target)
        assertSums(chain, table)
        const after = chain.slice(fellAt)
        for (const b of after) assert.ok(!liars.includes(b.primary), `height ${b.height} was proposed by a liar (${b.primary})`)
        // Fairness among the honest peers (issue 9): every one leads, none more than twice 1/5.
        const led = honest.map((id) => after.filter((b) => b.primary === id).length)
        const shares = led.map((x) => x / after.length)
        const figures = `heights ${fellAt + 1}..${target}: led ${honest.map((id, i) => `${id} ${led[i]}`).join(', ')}; shares ${shares.map((x) => x.toFixed(3)).join(' ')}; Gini ${gini(led).toFixed(3)}`
        t.diagnostic(figures)
        for (let i = 0; i < honest.length; i++) {
          assert.ok(led[i] > 0, `${honest[i]} never led (${figures})`)
          assert.ok(shares[i] <= 2 / honest.length, `${honest[i]} led more than twice its fair share (${figures})`)
        }
        let found = 0
        for (const id of honest) found += await net.metric(id, 'bbnp_consensus_rejected_total', { reason: 'BAD_SIGNATURE' })
        assert.ok(found > 0, 'the bad signatures were found')
        const rep = await net.api('cn-1', '/reputation')
        for (const id of liars) assert.ok(rep.reputations.find((r: { id: string }) => r.id === id).reputation < rep.threshold)
      })
  )

  it('an equivocating primary: no two honest peers ever store different blocks at one height', { timeout: 240_000 }, () =>
    nets.test(async () => {
      // cn-1 must be elected to equivocate. Under the fair rule every pre-selected peer leads about
      // one height in four (docs/reputation.md); every process is started and connected before the
      // genesis so that cn-1 misses nothing early and is pre-selected from the first height.
      const net = await TestNetwork.create({ name: 'equivocate', meters: 6, consensus: 4, genesisInMs: 15_000 })
      nets.add(net)
      const table = readingsTable(6, 0, Math.max(0, net.slotNow()) + 900, 13)
      const readings = net.writeFile('readings.csv', table.text)
      net.startAll({ readings, consensusArgs: { 'cn-1': ['--misbehave', 'equivocate'] } })
      const honest = ['cn-2', 'cn-3', 'cn-4']
      const all = net.consensusIds()
      for (const id of all)
        await waitFor(
          `${id} connected to the other peers`,
          async () => (await net.api(id, '/status')).peers.filter((p: string) => p.startsWith('cn-')).length >= all.length - 1,
          60_000
        )
      // Wait until cn-1 has been the primary of a height and equivocated, and a few heights more.
      await waitFor(
        'cn-1 to equivocate',
        async () => {
          if ((await net.metric('cn-2', 'bbnp_consensus_rejected_total', { reason: 'EQUIVOCATION' })) > 0) return true
          const rep = await net.api('cn-2', '/reputation')
          if (rep.height > 30 && !rep.reputations[0].preselected)
            throw new Error(`cn-1 fell out of the pre-selection before it was elected: ${JSON.stringify(rep)}`)
          return false
        },
        150_000,
        300
      )
      const h = (await net.height('cn-2')) + 3
      await net.waitHeight(h, honest, 90_000)
      const chain = await assertOneChain(net, honest, h)
      assertSums(chain, table)
    })
  )
})

describe('data-side outages', () => {
  it(
    'the gateway stops for a few slots and a meter process stops: a missed range, then slots recovered without the missing meters, never a wrong sum, no slot unaccounted for',
    { timeout: 240_000 },
    () =>
      nets.test(async () => {
        const net = await TestNetwork.create({ name: 'outages', meters: 6, consensus: 4 })
        nets.add(net)
        const table = readingsTable(6, 0, net.slotNow() + 900, 17)
        const readings = net.writeFile('readings.csv', table.text)
        for (const id of net.consensusIds()) net.start('consensus', id)
        net.start('gateway', 'gateway')
        net.start('meter', 'meter-1..meter-4', ['--readings', readings], 'meters-a')
        net.start('meter', 'meter-5..meter-6', ['--readings', readings], 'meters-b')
        const all = net.consensusIds()
        await waitFor(
          'complete blocks',
          async () => (await net.blocks('cn-1', 1, Math.max(1, await net.height('cn-1')))).some((b) => b.status === 'complete'),
          90_000
        )
        // The gateway goes away for a few slots.
        const gwDown = net.slotNow()
        assert.equal(await net.stop('gateway', 'SIGTERM'), 0)
        await waitFor('3 slots to pass', () => net.slotNow() >= gwDown + 3, 10_000, 100)
        net.start('gateway', 'gateway')
        // A meter process goes away.
        await waitFor('the gateway to be back', async () => (await net.api('gateway', '/status')).role === 'gateway', 30_000)
        const meterDown = net.slotNow()
        await net.stop('meters-b', 'SIGKILL')
        await waitFor(
          'a slot with meter-5 and meter-6 missing',
          async () => {
            const h = await net.height('cn-1')
            const blocks = await net.blocks('cn-1', 1, h)
            // 4 of 6 meters still report (minReporters is 3): the slot is recovered over them (PROTOCOL 3.5).
            return blocks.some((b) => b.slot > meterDown + 1 && b.status === 'recovered' && b.missing.join() === 'meter-5,meter-6')
          },
          60_000
        )
        const h = await net.height('cn-1')
        await net.waitHeight(h, all, 30_000)
        const chain = await assertOneChain(net, all, h)
        assertSums(chain, table)
        // The slots the gateway missed are on the chain as one missed range, with no reports.
        const missed = chain.filter((b) => b.status === 'missed')
        assert.equal(missed.length, 1, 'one missed range for the one outage')
        // Slots gwDown+1 and gwDown+2 passed wholly while the gateway was down; whether gwDown
        // and the slot it came back in are missed too depends on when their reports were due.
        assert.ok(
          missed[0].fromSlot <= gwDown + 1 && missed[0].slot >= gwDown + 2,
          `the range ${missed[0].fromSlot}..${missed[0].slot} covers the outage from slot ${gwDown}`
        )
        assert.equal(missed[0].count, 0)
        // Every slot from the first block to the last is accounted for: each block begins where the
        // previous one ended.
        for (let i = 1; i < chain.length; i++) assert.equal(chain[i].fromSlot, chain[i - 1].slot + 1, `block ${chain[i].height} follows on`)
      })
  )
})
