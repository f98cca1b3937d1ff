/**
 * Issue 4 e2e: nobody outside the genesis gets in, and an insider with real keys that sends
 * garbage and badly signed input on every topic and protocol gets it rejected and counted, while
 * no honest peer crashes or stores anything wrong.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TOPICS } from '@bbnp/consensus'
import { readingsTable, ROOT, TestNetwork, waitFor } from './harness.ts'
import { networks } from './scope.ts'

const nets = networks()

describe('outsiders and a hostile insider', () => {
  it('refuses outsiders, rejects and counts every bad input, and keeps exact sums', { timeout: 240_000 }, async () => {
    await nets.test(async () => {
      const net = await TestNetwork.create({ name: 'hostile', meters: 20, consensus: 4 })
      nets.add(net)
      const table = readingsTable(20, 0, net.slotNow() + 600, 11)
      const readings = net.writeFile('readings.csv', table.text)
      // cn-4 and meter-20 are played by the insider, with their real keys.
      for (const id of ['cn-1', 'cn-2', 'cn-3']) net.start('consensus', id)
      net.start('gateway', 'gateway')
      net.start('meter', 'meter-1..meter-19', ['--readings', readings], 'meters')
      const honest = ['cn-1', 'cn-2', 'cn-3']
      await waitFor(
        'the gateway and cn-1 to answer',
        async () => (await net.api('gateway', '/status')) && (await net.api('cn-1', '/status')),
        60_000
      )

      const insider = spawn(
        join(ROOT, 'node_modules/.bin/node'),
        [
          join(ROOT, 'e2e/fixtures/insider.ts'),
          '--config',
          net.configDir,
          '--as',
          'cn-4',
          '--meter',
          'meter-20',
          '--readings',
          readings,
          '--ms',
          '12000'
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe']
        }
      )
      let out = ''
      let err = ''
      insider.stdout.on('data', (d) => (out += d))
      insider.stderr.on('data', (d) => (err += d))
      const code = await new Promise<number | null>((res) => {
        const t = setTimeout(() => insider.kill('SIGKILL'), 90_000)
        insider.once('exit', (c) => {
          clearTimeout(t)
          res(c)
        })
      })
      assert.equal(code, 0, `insider fixture failed: ${err}`)
      const report = JSON.parse(out.trim().split('\n').at(-1) as string)

      // 1. Outsiders cannot connect.
      assert.match(report.outsider['cn-1'], /^refused/)
      assert.match(report.outsider.gateway, /^refused/)

      // 2. Every topic counted rejections at the honest peers, and the replica refused bad signatures.
      for (const id of honest) {
        for (const topic of Object.values(TOPICS)) {
          const rejected = await net.metric(id, 'bbnp_gossip_messages_total', { topic, result: 'reject' })
          assert.ok(rejected > 0, `${id} rejected something on ${topic}`)
        }
      }
      assert.ok(report.reacted > 0, 'the insider answered real proposals with badly signed votes')
      let badSignatures = 0
      let bans = 0
      for (const id of honest) {
        badSignatures += await net.metric(id, 'bbnp_consensus_rejected_total', { reason: 'BAD_SIGNATURE' })
        bans += await net.metric(id, 'bbnp_peer_bans_total')
      }
      assert.ok(badSignatures > 0, 'badly signed votes and draws are found and counted')
      assert.ok(bans > 0, 'the insider is disconnected and banned past the bound')
      const wrongSender = await net.metric('cn-1', 'bbnp_gossip_messages_total', { reason: 'WRONG_SENDER' })
      assert.ok(wrongSender > 0, 'a message claiming another sender is rejected')
      const malformedRequests = await net.metric('cn-1', 'bbnp_reqresp_requests_total', { side: 'server' })
      assert.ok(malformedRequests > 0, 'requests counted')
      // The insider's requests were refused, not answered.
      assert.notEqual(report.requests['blocks-garbage'], 'answered')
      assert.notEqual(report.requests['status-oversized'], 'answered')
      assert.notEqual(report.requests['handoff-not-gateway'], 'answered')

      // 3. The gateway counted every kind of bad report, and accepted the insider meter's real ones.
      for (const reason of ['DUPLICATE', 'BAD_TAG', 'UNKNOWN_METER', 'WRONG_SLOT', 'MALFORMED']) {
        assert.ok((await net.metric('gateway', 'bbnp_reports_rejected_total', { reason })) > 0, `gateway counted ${reason}`)
      }

      // 4. No honest process crashed, and the chain is right: identical, with exact sums.
      for (const [name, p] of net.procs) assert.equal(p.exitCode, null, `${name} is still running`)
      const h = await net.height('cn-1')
      assert.ok(h >= 5, `the chain grew during the attack (height ${h})`)
      await net.waitHeight(h, honest, 30_000)
      const chains = await Promise.all(honest.map((id) => net.blocks(id, 1, h)))
      let complete = 0
      for (let i = 0; i < h; i++) {
        const b = chains[0][i]
        for (const c of chains) assert.equal(c[i].hash, b.hash, `height ${i + 1} identical`)
        if (b.status === 'complete' || b.status === 'recovered') {
          complete++
          assert.equal(b.sum, table.sumWithout(b.slot, b.missing).toString(), `slot ${b.slot} sum`)
        } else assert.equal(b.sum, null)
      }
      assert.ok(complete >= 3, `${complete} blocks with a sum while attacked`)
      await net.stopAll('SIGTERM')
    })
  })
})
