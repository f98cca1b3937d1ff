/**
 * Issue 13 e2e: a network across hosts. Every consensus peer, the gateway and the meters run in
 * a Linux network namespace of their own, with their own address on a bridge (e2e/netns.ts), as
 * separate hosts would, each with its own copy of the network (genesis, address book, its own
 * keys only). `bbnp setup --hosts` places them; the gateway is reached by a DNS name (/dns4),
 * which every host resolves through its own hosts file. The network commits exact sums; then
 * cn-2 moves to a new IP address and the operator does what docs/deployment.md ("Moving a peer")
 * says: stop it, change the address book on the TA's machine (`bbnp addresses --addr`), copy it to
 * every host, reload every running process (SIGHUP, `systemctl reload`), start it. It rejoins the
 * same chain (identical hashes), the others dial it at its new address, and it signs again.
 *
 * The test makes and removes the namespaces, their links and their hosts files, and uses only the
 * addresses it creates (10.77.0.0/24 inside its namespaces, a free 10.78.<s>.0/24 block for the
 * management links). Skipped, with the reason, only where the kernel refuses namespaces.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { NetnsLab } from './netns.ts'
import { BBNP, readingsTable, TestNetwork, waitFor } from './harness.ts'

const HOSTS = ['cn-1', 'cn-2', 'cn-3', 'cn-4', 'gateway', 'meters']
const METERS = 6
const MOVER = 'cn-2'

/** Which entities each host runs (whose key files it gets). */
const RUNS: Record<string, string[]> = {
  ...Object.fromEntries(HOSTS.filter((h) => h.startsWith('cn-') || h === 'gateway').map((h) => [h, [h]])),
  meters: Array.from({ length: METERS }, (_, i) => `meter-${i + 1}`)
}

/** Waits for a line of a process's log (JSON lines) matching `re`, after `from` characters. */
function waitLog(net: TestNetwork, name: string, re: RegExp, from: number, timeoutMs: number): Promise<string> {
  return waitFor(`${name}'s log to show ${re}`, () => re.exec(net.log(name).slice(from))?.[0], timeoutMs)
}

describe('a network across hosts (network namespaces)', () => {
  it(
    'commits exact sums; a consensus peer moves to a new IP, the address book follows, and it rejoins the same chain',
    { timeout: 420_000 },
    async (t) => {
      const lab = NetnsLab.createOrSkip(t, HOSTS)
      if (!lab) return
      let net: TestNetwork | null = null
      let ok = false
      try {
        // The gateway by name: each host resolves it in its own hosts file (a DNS server would do the same).
        const gatewayName = `gateway.lab-${lab.id}.bbnp.test`
        lab.setNames({ [gatewayName]: lab.dataIp('gateway') })
        const manifest: Record<string, string> = { gateway: gatewayName }
        for (const h of HOSTS) if (h.startsWith('cn-')) manifest[h] = lab.dataIp(h)
        // 1. The TA's machine: bbnp setup --hosts.
        net = await TestNetwork.create({ name: 'hosts', meters: METERS, consensus: 4, hostsManifest: manifest, genesisInMs: 4000 })
        const ta = net.configDir
        // 2. Each host: its own copy (genesis.json, addresses.json, its own keys), its namespace,
        // its API on its management address.
        for (const h of HOSTS) {
          net.installHost(h, RUNS[h])
          net.prefixes.set(h, lab.prefix(h))
          net.apiHosts.set(h, lab.mgmtIp(h))
        }
        const table = readingsTable(METERS, 0, Math.max(0, net.slotNow()) + 1200, 41)
        const readings = net.writeFile('readings.csv', table.text)
        for (const id of net.consensusIds()) net.start('consensus', id)
        net.start('gateway', 'gateway')
        net.start('meter', `meter-1..meter-${METERS}`, ['--readings', readings], 'meters')
        const all = net.consensusIds()
        const others = all.filter((id) => id !== MOVER)

        // 3. Exact sums, every peer on one chain.
        const firstCheck = await waitFor(
          '3 complete blocks',
          async () => {
            const h = await net!.height('cn-1')
            const blocks = h > 0 ? await net!.blocks('cn-1', 1, h) : []
            return blocks.filter((b) => b.status === 'complete').length >= 3 ? h : false
          },
          150_000,
          300
        )
        await net.waitHeight(firstCheck, all, 60_000)
        await sameChain(net, all, firstCheck, table)
        assert.match(net.log(MOVER), new RegExp(`"network started".*/ip4/${lab.dataIp(MOVER).replaceAll('.', '\\.')}/tcp/`))
        // A host named by DNS listens on every interface: libp2p lists each (loopback, data, management).
        const gwListen = /"network started".*"addrs":(\[[^\]]*\])/.exec(net.log('gateway'))
        assert.ok(gwListen, 'the gateway logs its listen addresses')
        const gwAddrs = (JSON.parse(gwListen[1]) as string[]).map((a) => a.split('/')[2])
        for (const ip of ['127.0.0.1', lab.dataIp('gateway'), lab.mgmtIp('gateway')])
          assert.ok(gwAddrs.includes(ip), `the gateway listens on ${ip}: ${gwAddrs}`)

        // 4. cn-2 moves (docs/deployment.md, "Moving a peer"): stop it; its host gets a new address.
        assert.equal(await net.stop(MOVER), 0, `${MOVER} stops cleanly`)
        const oldIp = lab.dataIp(MOVER)
        const newIp = lab.moveHost(MOVER)
        // On the TA's machine: change its entry (a host alone keeps the port).
        const set = spawnSync(BBNP, ['addresses', '--config', ta, '--addr', `${MOVER}=${newIp}`], { encoding: 'utf8' })
        assert.equal(set.status, 0, set.stderr)
        assert.match(set.stdout, new RegExp(`${MOVER}: /ip4/${oldIp}/tcp/(\\d+) -> /ip4/${newIp}/tcp/\\1`))
        // Copy it to every host, and reload every process that runs (systemctl reload: SIGHUP).
        const marks = new Map(HOSTS.map((h) => [h, net!.log(h).length]))
        for (const h of HOSTS) copyFileSync(join(ta, 'addresses.json'), join(net.configDirs.get(h)!, 'addresses.json'))
        for (const h of HOSTS) if (h !== MOVER) net.procs.get(h)!.child.kill('SIGHUP')
        const change = new RegExp(
          `"address book reloaded".*${MOVER} /ip4/${oldIp.replaceAll('.', '\\.')}/tcp/\\d+ -> /ip4/${newIp.replaceAll('.', '\\.')}/tcp/`
        )
        for (const h of HOSTS) if (h !== MOVER) await waitLog(net, h, change, marks.get(h)!, 20_000)
        // The peers and the gateway dial it there now; the meters only dial the gateway.
        for (const h of [...others, 'gateway'])
          await waitLog(
            net,
            h,
            new RegExp(`"dialling a peer at its new address".*"peer":"${MOVER}".*"addr":"/ip4/${newIp.replaceAll('.', '\\.')}/tcp/`),
            marks.get(h)!,
            20_000
          )
        // Start it: it listens on its new address, and catches up with the same chain.
        const moverMark = net.log(MOVER).length
        net.start('consensus', MOVER)
        await waitLog(net, MOVER, new RegExp(`"network started".*/ip4/${newIp.replaceAll('.', '\\.')}/tcp/`), moverMark, 60_000)

        // 5. It rejoins: connected to every peer, at the others' height, signing new blocks.
        const movedAt = await net.height('cn-1')
        await waitFor(
          `${MOVER} connected to the others again, and they to it`,
          async () => {
            const mine = (await net!.api(MOVER, '/status')).peers as string[]
            if (!others.every((id) => mine.includes(id)) || !mine.includes('gateway')) return false
            for (const id of others) if (!((await net!.api(id, '/status')).peers as string[]).includes(MOVER)) return false
            return ((await net!.api('gateway', '/status')).peers as string[]).includes(MOVER)
          },
          90_000,
          500
        )
        const signed = await waitFor(
          `${MOVER} to sign a block again`,
          async () => {
            const h = await net!.height('cn-1')
            const recent = h > movedAt ? await net!.blocks('cn-1', movedAt + 1, h) : []
            return recent.find((b) => b.certificate.signers.includes(MOVER))?.height
          },
          120_000,
          500
        )
        const target = Math.max(signed, (await net.height('cn-1')) + 2)
        await net.waitHeight(target, all, 90_000)
        await sameChain(net, all, target, table)
        ok = true
      } finally {
        await net?.destroy(!ok)
        lab.destroy()
      }
    }
  )
})

/** Every peer holds the same blocks 1..h (hash by hash), and every sum is the readings' exact sum. */
async function sameChain(
  net: TestNetwork,
  ids: string[],
  h: number,
  table: { sum: (slot: number) => bigint; sumWithout: (slot: number, missing: string[]) => bigint }
): Promise<void> {
  const chains = await Promise.all(ids.map((id) => net.blocks(id, 1, h)))
  let complete = 0
  for (let i = 0; i < h; i++) {
    for (let k = 1; k < ids.length; k++)
      assert.equal(chains[k][i].hash, chains[0][i].hash, `${ids[k]} differs from ${ids[0]} at height ${i + 1}`)
    const b = chains[0][i]
    if (b.status === 'complete') {
      complete++
      assert.equal(b.sum, table.sum(b.slot).toString(), `slot ${b.slot}: the sum of every reading`)
    } else if (b.status === 'recovered')
      assert.equal(b.sum, table.sumWithout(b.slot, b.missing).toString(), `slot ${b.slot}: the sum of the meters present`)
    else assert.equal(b.sum, null, `slot ${b.slot}: no sum when ${b.status}`)
  }
  assert.ok(complete >= 3, `${complete} complete blocks of ${h}`)
}
