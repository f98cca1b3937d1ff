/**
 * Issue 13, items 2 and 5, with real processes: every role's /readyz follows the network through
 * its life (the gateway with no consensus peer, a consensus peer alone and stalled, the whole
 * network ready, a meter process that lost its gateway), and every route of every role, and its
 * errors, answer as docs/openapi.json says, checked by a JSON Schema validator (test/contract.ts).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { freePortRange } from '@bbnp/cli'
import { answer, type Answer, ApiContract, type Role } from '../packages/node/test/contract.ts'
import { readingsTable, TestNetwork, waitFor } from './harness.ts'
import { networks } from './scope.ts'

const nets = networks()
const contract = new ApiContract()

/** Example requests for each route that answer 200 on a running network. */
const EXAMPLES: Record<string, string[]> = {
  '/blocks/:height': ['/blocks/1', '/blocks/2'],
  '/blocks': ['/blocks', '/blocks?from=1&to=2'],
  '/aggregates': ['/aggregates', '/aggregates?from=0&to=1000000'],
  '/export': ['/export?format=jsonl', '/export?format=csv&fromHeight=1']
}

/** The reasons' codes of a /readyz answer. */
const codes = (a: Answer): string[] => (JSON.parse(a.text) as { reasons: { code: string }[] }).reasons.map((r) => r.code)

describe('the API contract and readiness on a real network', () => {
  it('every role: /readyz through the network’s life; every route and error as documented', { timeout: 300_000 }, async () => {
    await nets.test(async () => {
      const net = nets.add(await TestNetwork.create({ name: 'contract', meters: 4, consensus: 4 }))
      const readings = net.writeFile('readings.csv', readingsTable(4, 0, net.slotNow() + 900, 9).text)
      const meterPort = await freePortRange(1)
      const base: Record<string, string> = { meters: `http://127.0.0.1:${meterPort}` }
      for (const id of ['gateway', ...net.consensusIds()]) base[id] = `http://127.0.0.1:${net.apiPort(id)}`
      /** GET (or `method`) a path of a process and hold the answer against the contract. */
      const conforms = async (who: string, route: string | null, path: string, method = 'GET') => {
        const a = await answer(`${base[who]}${path}`, method)
        assert.deepEqual(contract.check(route, a), [], `${who}: ${method} ${path} answered ${a.status} ${a.text.slice(0, 300)}`)
        return a
      }
      /** Wait for /readyz to answer `status` with (at least) the reasons `has`; every answer on the way conforms. */
      const readyz = (who: string, status: number, has: string[] = []) =>
        waitFor(
          `${who} /readyz ${status}${has.length ? ` (${has.join(', ')})` : ''}`,
          async () => {
            const a = await answer(`${base[who]}/readyz`)
            assert.deepEqual(contract.check('/readyz', a), [], `${who} /readyz: ${a.text}`)
            return a.status === status && has.every((c) => codes(a).includes(c)) && a
          },
          60_000,
          250
        )

      // The gateway and a meter process, no consensus peer yet: the gateway is live, not ready.
      net.start('gateway', 'gateway')
      net.start('meter', 'meter-1..meter-4', ['--readings', readings, '--api-port', String(meterPort)], 'meters')
      await waitFor('the gateway to serve', async () => (await answer(`${base.gateway}/livez`)).status === 200, 60_000)
      await conforms('gateway', '/livez', '/livez')
      const lonely = await readyz('gateway', 503, ['NO_CONSENSUS_PEER'])
      assert.equal(JSON.parse(lonely.text).code, 'NOT_READY')
      await readyz('meters', 200)

      // One consensus peer alone: too few peers for a quorum, and once the gateway's aggregates
      // have waited five periods with no block, stalled. The gateway reaches it: ready.
      net.start('consensus', 'cn-1')
      await readyz('cn-1', 503, ['TOO_FEW_PEERS', 'STALLED'])
      await readyz('gateway', 200)

      // The rest of the network: the chain grows and every peer is ready.
      for (const id of net.consensusIds().slice(1)) net.start('consensus', id)
      await net.waitHeight(3, net.consensusIds(), 120_000)
      for (const id of net.consensusIds()) await readyz(id, 200)

      // Every documented route of every role, as it answers now.
      const roles: [Role, string][] = [
        ['consensus', 'cn-1'],
        ['gateway', 'gateway'],
        ['meter', 'meters']
      ]
      for (const [role, who] of roles) {
        for (const route of contract.routesOf(role))
          for (const path of EXAMPLES[route] ?? [route]) {
            const a = await conforms(who, route, path)
            assert.equal(a.status, 200, `${who} ${path}`)
          }
        // Errors every role has: an unknown path, a method other than GET.
        assert.equal((await conforms(who, null, '/no-such-route')).status, 404)
        const post = await conforms(who, '/status', '/status', 'POST')
        assert.equal(post.status, 405)
        assert.equal(post.allow, 'GET, HEAD')
      }
      const status = JSON.parse((await conforms('cn-2', '/status', '/status')).text)
      assert.equal(status.role, 'consensus')
      // The consensus peers' own errors.
      for (const [route, path, code] of [
        ['/blocks/:height', '/blocks/%ZZ', 400],
        ['/blocks/:height', '/blocks/999999', 404],
        ['/blocks', '/blocks?from=9&to=3', 400],
        ['/aggregates', '/aggregates?from=x', 400],
        ['/export', '/export?format=xml', 400]
      ] as const)
        assert.equal((await conforms('cn-1', route, path)).status, code, path)
      const proxied = JSON.parse((await conforms('cn-1', '/gateway', '/gateway')).text)
      assert.equal(proxied.role, 'gateway')

      // The gateway goes away: the meter process is not ready; the peers' proxy says why, and the
      // peers stay ready (with no work waiting, nothing is stalled).
      await net.stop('gateway')
      await readyz('meters', 503, ['NO_GATEWAY'])
      // The proxy keeps an answer for half a second, so its last 200 may still be served.
      const gone = await waitFor(
        'cn-1 /gateway to answer 502',
        async () => {
          const a = await conforms('cn-1', '/gateway', '/gateway')
          return a.status === 502 && a
        },
        10_000,
        100
      )
      assert.equal(JSON.parse(gone.text).code, 'GATEWAY_UNREACHABLE')
      await readyz('cn-1', 200)
    })
  })
})
