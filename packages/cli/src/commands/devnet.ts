/**
 * `bbnp devnet`: a whole network on this machine. Runs the trusted setup into DIR/net (a fresh
 * network every run), starts every consensus peer, the gateway and the meter processes as their
 * own `bin/bbnp start` processes (logs in DIR/logs), and shows one line per block that cn-1
 * commits, until Ctrl-C or --rounds blocks. Every child is stopped before it returns; a child
 * that exits on its own is a death: the devnet names it, shows its log's tail and exits 1.
 *
 * The parts: devnet/plan.ts (flags, checks, DIR), devnet/run-control.ts (stopping, deaths),
 * devnet/processes.ts (the roles' processes), devnet/live-view.ts (the block lines),
 * devnet/summary.ts (the last line and the exit code).
 */
import { checkPlan, HOST, type Plan, parsePlan, prepareDir, shown } from '../devnet/plan.ts'
import { type BlockTally, liveView } from '../devnet/live-view.ts'
import { startProcesses } from '../devnet/processes.ts'
import { out, RunControl } from '../devnet/run-control.ts'
import { summarize } from '../devnet/summary.ts'

export { meterRanges } from '../devnet/plan.ts'
export { leaderHistogram } from '../devnet/summary.ts'

export const DEVNET_USAGE = `usage: bbnp devnet [flags]

Set up a fresh network in DIR and run every role as its own local process, showing one line per
committed block, until Ctrl-C (or --rounds blocks). Exits 0 when stopped, 1 if a process died
(or failed to shut down).

  --meters N         smart meters (default 10, at least 3)
  --consensus M      consensus peers (default 4, between 4 and 64)
  --period-ms P      slot length in milliseconds (default 1000)
  --rounds K         stop after K committed blocks (default: run until Ctrl-C)
  --dir DIR          where the network, chains and logs go (default ./devnet); replaced every run:
                     DIR/net holds genesis.json, keys/ and data/, DIR/logs/<process>.log the logs
  --base-port P      gateway on P, cn-j on P+j, their HTTP APIs on +1000 (default 7100)
  --meter-procs Q    how many meter processes share the meters (default 2)
  --readings FILE    meter readings: a UCI household CSV or a meter,slot,wh table
                     (default: configs/data/uci-household-power-2007-02.csv)
  --drop-rate P      each meter drops its report of a slot with probability P (default 0): the
                     slot's sum is then recovered over the meters present (PROTOCOL 3.5)`

/** How far in the future slot 0 starts: long enough for every process to come up. */
const DEVNET_STARTUP_MS = 6000

export async function run(argv: string[]): Promise<number> {
  const plan = parsePlan(argv)
  if (plan === null) {
    process.stdout.write(`${DEVNET_USAGE}\n`)
    return 0
  }
  await checkPlan(plan)
  const dirs = prepareDir(plan)
  const control = new RunControl()
  const tally: BlockTally = { blocks: 0, byStatus: {}, led: {} }
  const startedAt = Date.now()
  try {
    const network = await setUp(plan, dirs.netDir)
    if (control.stopReason === null) {
      startProcesses(plan, dirs, control.supervisor, network.chainId, shown(plan.readings ?? network.defaultReadings))
      await liveView(plan, dirs.logsDir, control, tally)
    }
  } finally {
    await control.shutdown()
  }
  return summarize(control, tally, plan.rounds, startedAt)
}

/** The trusted authority, in this process (`bbnp setup --devnet --force`). */
async function setUp(plan: Plan, netDir: string): Promise<{ chainId: string; defaultReadings: string }> {
  // Loaded only now, so that --help and a bad flag answer at once.
  const { createNetwork, DEFAULT_READINGS, defaultReputationParams, writeNetwork } = await import('@bbnp/node')
  const setupStarted = performance.now()
  const tty = process.stdout.isTTY === true
  const net = await createNetwork({
    meters: plan.meters,
    consensus: plan.consensus,
    periodMs: plan.periodMs,
    host: HOST,
    basePort: plan.basePort,
    devnet: true,
    // Slot 0 begins once every process has had time to start (they idle until then), so the
    // first slot is not lost to start-up.
    genesisTimeMs: Math.ceil((Date.now() + DEVNET_STARTUP_MS) / plan.periodMs) * plan.periodMs,
    reputation: defaultReputationParams(),
    onProgress: tty ? (msg) => process.stdout.write(`setup: ${msg}\r`) : undefined
  })
  writeNetwork(netDir, net, { force: true })
  out(
    `setup: ${shown(netDir)} (chain ${net.genesis.chainId}, genesis ${net.genesis.hash.slice(0, 12)}…, ${net.keys.length} keys, ${Math.round(performance.now() - setupStarted)} ms)`
  )
  return { chainId: net.genesis.chainId, defaultReadings: DEFAULT_READINGS }
}
