/**
 * Issue 5 e2e: crash safety and a seeded soak on real processes.
 * - kill -9 a peer at random moments over 20 restart cycles while the network runs: every
 *   restart opens a consistent store and rejoins, and no committed block is lost;
 * - random kills, restarts and pauses (SIGSTOP/SIGCONT), never more than f at a time, for a
 *   bounded time: afterwards one chain (safety) that still grows (liveness).
 * The seeds are printed; BBNP_SEED replays a run.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BlockStore } from '@bbnp/chain'
import { loadGenesis } from '@bbnp/node'
import { assertNothingLost, type ChainRecord, crashCycles, observe, soak } from './chaos.ts'
import { readingsTable, TestNetwork, waitFor } from './harness.ts'
import { networks } from './scope.ts'

const nets = networks()
const seed = process.env.BBNP_SEED ?? String(Date.now() % 100_000)

async function verifyStores(net: TestNetwork): Promise<void> {
  const g = loadGenesis(net.configDir)
  for (const id of net.consensusIds()) {
    const store = await BlockStore.open(`${net.configDir}/data/${id}/chain`, {
      genesisHash: g.hash,
      keys: g.consensus.map((c) => c.verificationKey),
      quorum: g.quorum,
      maxBlockBytes: 1 << 20
    })
    try {
      await store.verifyStore() // throws on any inconsistency
    } finally {
      await store.close()
    }
  }
}

describe('crash safety and soak', () => {
  it(`kill -9 at random moments over 20 restart cycles: consistent stores, nothing lost (seed ${seed})`, { timeout: 600_000 }, async () => {
    await nets.test(async () => {
      process.stderr.write(`crash cycles: seed ${seed} (BBNP_SEED=${seed} replays it)\n`)
      const net = await TestNetwork.create({ name: 'crash', meters: 4, consensus: 4 })
      nets.add(net)
      const readings = net.writeFile('readings.csv', readingsTable(4, 0, net.slotNow() + 3000, 23).text)
      net.startAll({ readings })
      await net.waitHeight(3, net.consensusIds(), 90_000)
      const rec: ChainRecord = { seen: new Map() }
      const result = await crashCycles(net, { seed, cycles: 20, rec })
      assert.equal(result.cycles, 20)
      const h = (await net.height('cn-1')) + 2
      await net.waitHeight(h, net.consensusIds(), 60_000)
      await observe(net, net.consensusIds(), rec)
      const top = await assertNothingLost(net, net.consensusIds(), rec)
      assert.ok(top >= h - 2)
      await net.stopAll('SIGTERM')
      await verifyStores(net)
    })
  })

  it(
    `soak: random kills, restarts and pauses, at most f at a time; one chain that still grows (seed ${seed})`,
    { timeout: 600_000 },
    async () => {
      await nets.test(async () => {
        process.stderr.write(`soak: seed ${seed} (BBNP_SEED=${seed} replays it)\n`)
        const net = await TestNetwork.create({ name: 'soak', meters: 4, consensus: 4 })
        nets.add(net)
        const readings = net.writeFile('readings.csv', readingsTable(4, 0, net.slotNow() + 3000, 29).text)
        net.startAll({ readings })
        const ids = net.consensusIds()
        await net.waitHeight(3, ids, 90_000)
        const rec: ChainRecord = { seen: new Map() }
        const result = await soak(net, { seed, durationMs: Number(process.env.BBNP_SOAK_MS ?? 45_000), rec })
        process.stderr.write(`soak: survived ${result.perturbations} perturbations ${JSON.stringify(result.byKind)}\n`)
        assert.ok(result.perturbations >= 5, 'the soak perturbed the network')
        // Liveness: heights still grow once the perturbations stop; safety: one chain, nothing lost.
        // (The last perturbed peer may still be restarting: wait for its API.)
        const after = (await waitFor('cn-1 to answer after the soak', () => net.height('cn-1'), 60_000)) + 3
        await net.waitHeight(after, ids, 120_000)
        await observe(net, ids, rec)
        await assertNothingLost(net, ids, rec)
        assert.ok(after > result.heightBefore)
        await net.stopAll('SIGTERM')
        await verifyStores(net)
      })
    }
  )
})
