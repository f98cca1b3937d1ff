/**
 * Issue 5 e2e: a network partition made with Linux network namespaces (ip netns, veth, a bridge;
 * the test creates and removes them). The minority side stops committing, nobody forks, and after
 * healing everyone converges and the chain goes on. Skipped, with the reason, only where the
 * kernel refuses namespaces.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { NetnsLab } from './netns.ts'
import { readingsTable, TestNetwork, waitFor } from './harness.ts'

describe('network partition', () => {
  it('the minority stops committing, nobody forks, and after healing everyone converges', { timeout: 300_000 }, async (t) => {
    const hostsNames = ['cn-1', 'cn-2', 'cn-3', 'cn-4', 'gateway', 'meters']
    const lab = NetnsLab.createOrSkip(t, hostsNames)
    if (!lab) return
    let net: TestNetwork | null = null
    let ok = false
    try {
      const hosts = Object.fromEntries(hostsNames.filter((n) => n !== 'meters').map((n) => [n, lab.dataIp(n)]))
      net = await TestNetwork.create({ name: 'partition', meters: 6, consensus: 4, hosts })
      for (const n of hostsNames) {
        net.apiHosts.set(n, lab.mgmtIp(n))
        net.prefixes.set(n, lab.prefix(n))
      }
      const table = readingsTable(6, 0, net.slotNow() + 900, 21)
      const readings = net.writeFile('readings.csv', table.text)
      for (const id of net.consensusIds()) net.start('consensus', id)
      net.start('gateway', 'gateway')
      net.start('meter', 'meter-1..meter-6', ['--readings', readings], 'meters')
      const all = net.consensusIds()
      const majority = ['cn-1', 'cn-2', 'cn-3']
      await net.waitHeight(3, all, 120_000)

      lab.partition(['cn-4'])
      const cut = await net.height('cn-4')
      const majorityAtCut = await net.height('cn-1')
      await net.waitHeight(majorityAtCut + 5, majority, 90_000)
      const minorityDuring = await net.height('cn-4')
      assert.ok(minorityDuring <= cut + 1, `the minority committed ${minorityDuring - cut} blocks while cut off`)

      lab.heal(['cn-4'])
      const healedAt = await net.height('cn-1')
      await net.waitHeight(healedAt + 3, all, 120_000)
      const h = healedAt + 3
      const chains = await Promise.all(all.map((id) => net?.blocks(id, 1, h) ?? []))
      for (let i = 0; i < h; i++)
        for (let k = 1; k < all.length; k++) assert.equal(chains[k][i].hash, chains[0][i].hash, `${all[k]} forked at height ${i + 1}`)
      for (const b of chains[0]) if (b.sum !== null) assert.equal(b.sum, table.sumWithout(b.slot, b.missing).toString())
      await waitFor(
        'cn-4 to sign again',
        async () => {
          const now = await net?.height('cn-1')
          const recent = await net?.blocks('cn-1', h, now ?? h)
          return recent?.some((b) => b.certificate.signers.includes('cn-4'))
        },
        60_000
      )
      ok = true
    } finally {
      await net?.destroy(!ok)
      lab.destroy()
    }
  })
})
