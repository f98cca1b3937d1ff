/**
 * `npm run figures`: the fault-tolerance figures the README quotes, measured on real processes:
 *   - the largest number of perturbations a seeded soak survived (safety and liveness checked),
 *   - the time from a primary's death to the next stored block (p50, p99),
 *   - catch-up speed in blocks per second.
 * Flags: --seed S, --soak-ms MS (default 120000), --failovers N (default 10), --catchup N
 * (blocks to fall behind, default 200), --json.
 */
import { parseArgs } from 'node:util'
import { assertNothingLost, type ChainRecord, catchUp, observe, percentile, primaryFailover, soak } from './chaos.ts'
import { readingsTable, TestNetwork, waitFor } from './harness.ts'

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    'soak-ms': { type: 'string' },
    failovers: { type: 'string' },
    catchup: { type: 'string' },
    json: { type: 'boolean' }
  }
})
const seed = values.seed ?? String(Date.now() % 100_000)
const soakMs = Number(values['soak-ms'] ?? 120_000)
const failovers = Number(values.failovers ?? 10)
const catchupBlocks = Number(values.catchup ?? 200)
const log = (s: string) => process.stderr.write(`${s}\n`)

async function withNetwork<T>(name: string, periodMs: number, fn: (net: TestNetwork) => Promise<T>): Promise<T> {
  const net = await TestNetwork.create({ name, meters: 4, consensus: 4, periodMs })
  let ok = false
  try {
    const readings = net.writeFile('readings.csv', readingsTable(4, 0, net.slotNow() + 100_000, 31).text)
    net.startAll({ readings })
    await net.waitHeight(3, net.consensusIds(), 90_000)
    const out = await fn(net)
    ok = true
    return out
  } finally {
    await net.destroy(!ok)
  }
}

log(`figures: seed ${seed}`)
const soakResult = await withNetwork('fig-soak', 1000, async (net) => {
  const rec: ChainRecord = { seen: new Map() }
  const r = await soak(net, { seed, durationMs: soakMs, rec, log })
  const after = (await waitFor('cn-1 to answer after the soak', () => net.height('cn-1'), 60_000)) + 3
  await net.waitHeight(after, net.consensusIds(), 120_000)
  await observe(net, net.consensusIds(), rec)
  await assertNothingLost(net, net.consensusIds(), rec)
  return r
})
const failover = await withNetwork('fig-failover', 1000, (net) => primaryFailover(net, { rounds: failovers, log }))
// Fast slots, so falling far behind takes little time.
const catchup = await withNetwork('fig-catchup', 100, (net) => catchUp(net, { victim: 'cn-4', blocks: catchupBlocks }))

const figures = {
  command: `npm run figures -- --seed ${seed} --soak-ms ${soakMs} --failovers ${failovers} --catchup ${catchupBlocks}`,
  date: new Date().toISOString(),
  soak: {
    seed,
    durationMs: soakResult.durationMs,
    perturbationsSurvived: soakResult.perturbations,
    byKind: soakResult.byKind,
    heights: [soakResult.heightBefore, soakResult.heightAfter]
  },
  primaryDeathToNextCommitMs: {
    samples: failover.samplesMs.length,
    p50: percentile(failover.samplesMs, 50),
    p99: percentile(failover.samplesMs, 99)
  },
  catchUp: { blocks: catchup.blocks, ms: catchup.ms, blocksPerSecond: Math.round(catchup.blocksPerSecond) }
}
if (values.json) process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`)
else {
  process.stdout.write(`fault figures (M = 4 consensus peers, 1 gateway, 4 meters, real processes on loopback)
  soak (seed ${seed}, ${Math.round(figures.soak.durationMs / 1000)} s): survived ${figures.soak.perturbationsSurvived} perturbations ${JSON.stringify(figures.soak.byKind)}, one chain, height ${figures.soak.heights[0]} -> ${figures.soak.heights[1]}
  primary death to next commit: p50 ${figures.primaryDeathToNextCommitMs.p50} ms, p99 ${figures.primaryDeathToNextCommitMs.p99} ms (${failover.samplesMs.length} kills, 1 s slots)
  catch-up: ${catchup.blocks} blocks in ${catchup.ms} ms = ${figures.catchUp.blocksPerSecond} blocks/s
  command: ${figures.command}
`)
}
process.exit(0)
