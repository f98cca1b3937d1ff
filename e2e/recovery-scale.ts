/**
 * `npm run figures:recovery` (issue 12): dropout recovery at a utility's scale, on real processes.
 * A network of N meters (default 10,000) in two meter processes, a gateway and 4 consensus peers,
 * slots of P ms (default 10,000), each meter dropping its report with probability D (default 0.01):
 * for K blocks (default 30), the share of slots recovered (or complete) with exact sums, the number
 * with a wrong sum (must be 0), and the time from each slot's end until every peer has stored its
 * block (p50, p95, max). Start-up times of every role (spawn to its "started" line: keys loaded, network up;
 * the gateway also waits for a consensus peer's chain end) are read from their logs.
 * Flags: --meters N, --period-ms P, --drop-rate D, --blocks K, --json.
 */
import { parseArgs } from 'node:util'
import { percentile } from './chaos.ts'
import { readingsTable, TestNetwork, waitFor } from './harness.ts'

const { values } = parseArgs({
  options: {
    meters: { type: 'string' },
    'period-ms': { type: 'string' },
    'drop-rate': { type: 'string' },
    blocks: { type: 'string' },
    json: { type: 'boolean' }
  }
})
const meters = Number(values.meters ?? 10_000)
const periodMs = Number(values['period-ms'] ?? 10_000)
const dropRate = Number(values['drop-rate'] ?? 0.01)
const blocks = Number(values.blocks ?? 30)
const log = (s: string) => process.stderr.write(`${s}\n`)

/** When each process was spawned (ms since the epoch), by its name in the network. */
const spawnedAt: Record<string, number> = {}

/** Milliseconds from a process's spawn to its "started" line (keys loaded, network up), from its JSON log. */
function startupMs(net: TestNetwork, name: string, started: RegExp): number | null {
  const line = net
    .log(name)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { t: string; msg: string })
    .find((l) => started.test(l.msg))
  return line && spawnedAt[name] !== undefined ? Date.parse(line.t) - spawnedAt[name] : null
}

const setupStarted = performance.now()
const net = await TestNetwork.create({ name: 'recovery-scale', meters, consensus: 4, periodMs, genesisInMs: 3 * periodMs })
const setupMs = Math.round(performance.now() - setupStarted)
log(`setup of ${meters} meters (keys dealt): ${setupMs} ms`)
let ok = false
try {
  const first = Math.max(0, net.slotNow())
  const table = readingsTable(meters, first, first + blocks + 40, 41)
  const readings = net.writeFile('readings.csv', table.text)
  const spawn = (name: string, run: () => void) => {
    spawnedAt[name] = Date.now()
    run()
  }
  for (const id of net.consensusIds()) spawn(id, () => net.start('consensus', id))
  spawn('gateway', () => net.start('gateway', 'gateway'))
  const half = Math.ceil(meters / 2)
  const drop = ['--readings', readings, '--drop-rate', String(dropRate)]
  spawn('meters-1', () => net.start('meter', `meter-1..meter-${half}`, drop, 'meters-1'))
  spawn('meters-2', () => net.start('meter', `meter-${half + 1}..meter-${meters}`, drop, 'meters-2'))
  const ids = net.consensusIds()
  const timeout = (blocks + 20) * periodMs + 120_000
  await waitFor(
    `${blocks} blocks with data on every peer`,
    async () => {
      const heights = await Promise.all(ids.map((id) => net.height(id)))
      log(`heights ${heights.join(' ')}`)
      return Math.min(...heights) >= blocks + 1
    },
    timeout,
    periodMs
  )
  const h = Math.min(...(await Promise.all(ids.map((id) => net.height(id)))))
  const chains = await Promise.all(ids.map((id) => net.blocks(id, 1, h)))
  // The first block may record the slots before the meters were up: count from the first with reports.
  const start = chains[0].findIndex((b) => b.count > 0)
  const counted = chains[0].slice(start)
  let exact = 0
  let wrong = 0
  let incomplete = 0
  let missingMeters = 0
  for (const b of counted) {
    if (b.status === 'complete' || b.status === 'recovered') {
      if (b.sum === table.sumWithout(b.slot, b.missing).toString()) exact++
      else wrong++
      missingMeters += b.missing.length
    } else incomplete++
  }
  // From the end of slot t until the last peer stored its block.
  const lag: number[] = []
  for (let i = start; i < h; i++) {
    const slotEnd = net.genesis.genesisTimeMs + (chains[0][i].slot + 1) * periodMs
    const stored = chains.map((c) => c[i].committedAtMs)
    if (stored.every((x) => x !== null)) lag.push(Math.max(...(stored as number[])) - slotEnd)
  }
  const result = {
    meters,
    consensus: 4,
    periodMs,
    dropRate,
    blocks: counted.length,
    exact,
    wrong,
    incomplete,
    exactShare: counted.length === 0 ? 0 : exact / counted.length,
    meanMissingPerSlot: exact + wrong === 0 ? 0 : missingMeters / (exact + wrong),
    slotEndToBlockMs: { p50: percentile(lag, 50), p95: percentile(lag, 95), max: Math.max(...lag) },
    startupMs: {
      setup: setupMs,
      gateway: startupMs(net, 'gateway', /^gateway started/),
      consensus: startupMs(net, 'cn-1', /^consensus peer started/),
      meters: startupMs(net, 'meters-1', /^meters started/)
    }
  }
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`)
  else {
    log(
      `${result.blocks} slots: ${exact} exact (${(100 * result.exactShare).toFixed(1)} %), ${wrong} wrong, ${incomplete} incomplete; ` +
        `${result.meanMissingPerSlot.toFixed(1)} meters missing per recovered slot`
    )
    log(
      `slot end -> block on every peer: p50 ${result.slotEndToBlockMs.p50} ms, p95 ${result.slotEndToBlockMs.p95} ms, max ${result.slotEndToBlockMs.max} ms`
    )
    log(`start-up: ${JSON.stringify(result.startupMs)}`)
  }
  ok = wrong === 0
  if (!ok) process.exitCode = 1
} finally {
  await net.stopAll('SIGTERM')
  await net.destroy(!ok)
}
