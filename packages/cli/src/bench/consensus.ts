/**
 * `bbnp bench`, consensus part (DESIGN "Benchmarks"): commit latency and throughput of M real
 * `bbnp start --role consensus` processes on loopback, driven by this process as the gateway.
 *
 * For each M: a fresh network from `createNetwork` whose slot 0 lies an hour in the past (1 s
 * slots), so every slot handed off is already due and accepted at once. This process then plays
 * the gateway with its real key: a libp2p node that answers the election draws with Theta
 * (`ThetaResponder`) and hands pre-signed aggregates to every peer over /bbnp/aggregate/1. No
 * meters run: the data side is measured by the aggregation part.
 *
 * - latency: one slot at a time, handed off at the start of each period like the gateway does
 *   (or when the previous block is stored everywhere, if that is later); latency = max over peers
 *   of committedAtMs (the peer's clock when it stored the block) - the hand-off time taken here
 *   just before sending (one machine, one clock). The height's election has settled by the time
 *   its aggregate arrives, as it has in operation.
 * - throughput: a backlog of a few slots ahead of the head, for a fixed time; blocks per second
 *   counted by when the last peer stored them.
 * - afterwards, each peer's resident memory and signature work from its /metrics.
 *
 * Every process started here is stopped (SIGTERM, then SIGKILL) on success, error and Ctrl-C by
 * the shared supervisor; logs go to a temp directory that is kept, and named, when something
 * fails, with every peer's /status and /metrics at the moment of the failure (failure-snapshot.txt).
 * The parts: consensus-network.ts (one network: its processes and the gateway's side),
 * consensus-phases.ts (warm-up, latency, throughput, metrics).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePortRange } from '../ports.ts'
import { Supervisor } from '../supervisor.ts'
import { METERS } from './bench-aggregate.ts'
import { BenchNetwork, PERIOD_MS, POLL_MS, STALL_MS } from './consensus-network.ts'
import { measureLatency, measureThroughput, type NoteStall, type Progress, readMetrics, warmUp } from './consensus-phases.ts'
import { round } from './measure.ts'

export const DEFAULT_CONSENSUS_SIZES = [4, 7, 10] as const
/** The issue's targets, reported beside the figures, never asserted. */
export const LATENCY_TARGETS_MS: Record<number, number> = { 4: 50, 10: 200 }

export interface ConsensusBenchOptions {
  sizes?: readonly number[]
  quick?: boolean
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void
  /** Keep the temp directory (network, data, logs) even when everything worked. */
  keep?: boolean
}

export interface LatencyFigures {
  warmup: number
  blocks: number
  p50Ms: number
  p99Ms: number
  minMs: number
  maxMs: number
  meanMs: number
  /** Median of (the primary's aggregateReceivedAtMs - hand-off time): the hand-off request over libp2p. */
  handoffP50Ms: number | null
  /** Median of (last peer's committedAtMs - the primary's aggregateReceivedAtMs): pre-prepare, prepare, commit, store. */
  agreementP50Ms: number | null
  /** Median of (last - first committedAtMs over the peers). */
  spreadP50Ms: number
  /** Blocks decided in a view above 0 (a view change happened). */
  viewChangeBlocks: number
  /** CPU time (user + system) each peer process used per block in this phase, median over peers, ms (Linux only). */
  cpuMsPerBlockPerPeer: number | null
  samplesMs: number[]
  targetP50Ms: number | null
  meetsTarget: boolean | null
}

export interface ConsensusSizeResult {
  m: number
  f: number
  quorum: number
  /** From spawning the processes to every peer connected to every other and to the gateway, ms. */
  startupMs: number
  /** The first block (mesh forming, draws re-sent until the election settles), ms. */
  firstBlockMs: number
  latency: LatencyFigures | null
  throughput: { seconds: number; backlog: number; blocks: number; blocksPerSecond: number; cpuMsPerBlockPerPeer: number | null } | null
  memory: { perPeerMb: number[]; medianMb: number; maxMb: number } | null
  verification: {
    /** Blocks committed by consensus, summed over peers (the divisor below). */
    peerBlocks: number
    /** Per block and per peer, from bbnp_signature_checks_total. */
    perBlock: { aggregateChecks: number; votesInBatches: number; fallbackChecks: number; singleChecks: number; cacheHits: number }
    /** votesInBatches / aggregateChecks: verification calls one by one per aggregate check made. */
    batchRatio: number
    /** 2(M-1) / (aggregate + fallback checks): all votes one by one vs what the replica does (its batches also cover draws). */
    overallRatio: number
  } | null
  /** Blocks stored by catch-up instead of consensus, view changes, refused inputs, over all peers. */
  anomalies: { synced: number; viewChanges: number; rejected: Record<string, number> } | null
  theta: { signed: number; badDraws: number }
  handoffFailures: number
  /** The machine's 1-minute load average when this size started and ended (other work on the machine shows here). */
  loadAverage: { start: number; end: number }
  /**
   * Heights that a quorum stored but some peer still lacked STALL_MS later (catch-up did not
   * fetch it); such a block is no latency sample.
   */
  stalls: { phase: string; height: number; laggards: string[] }[]
  /** Process IDs of the peers; every one has been stopped when the bench returns. */
  pids: number[]
  /** Set when this size failed; the logs were kept. */
  error?: string
  logsDir?: string
}

export interface ConsensusBench {
  quick: boolean
  sizes: ConsensusSizeResult[]
  settings: {
    periodMs: number
    pollMs: number
    stallMs: number
    latencyBlocks: number
    warmupBlocks: number
    throughputSeconds: number
    backlog: number
    meters: number
  }
  notes: string[]
  seconds: number
  /** The temp directory, when kept. */
  dir: string | null
}

/** One size M on a fresh network: every figure, or the error that ended it (its logs then kept). */
async function measureSize(
  m: number,
  root: string,
  settings: ConsensusBench['settings'],
  supervisor: Supervisor,
  log: (line: string) => void
): Promise<ConsensusSizeResult> {
  const f = Math.floor((m - 1) / 3)
  const result: ConsensusSizeResult = {
    m,
    f,
    quorum: 2 * f + 1,
    startupMs: 0,
    firstBlockMs: 0,
    latency: null,
    throughput: null,
    memory: null,
    verification: null,
    anomalies: null,
    theta: { signed: 0, badDraws: 0 },
    handoffFailures: 0,
    loadAverage: { start: round(loadavg()[0], 2), end: 0 },
    pids: [],
    stalls: []
  }
  const net = new BenchNetwork(m, join(root, `m${m}`), await freePortRange(m + 1), supervisor)
  result.logsDir = net.logsDir
  try {
    await runPhases(net, settings, result, log)
  } catch (e) {
    result.error = (e as Error).message
    await net.snapshot().catch(() => {})
    result.theta = { signed: net.theta?.signed ?? 0, badDraws: net.theta?.badDraws ?? 0 }
    result.handoffFailures = net.handoffFailures
  } finally {
    result.loadAverage.end = round(loadavg()[0], 2)
    log(`consensus M=${m}: stopping the peers`)
    await net.stop()
    const unclean = net.procs.filter((p) => p.exit?.code !== 0)
    if (unclean.length > 0 && !result.error) {
      log(`consensus M=${m}: ${unclean.map((p) => `${p.name} exited with ${p.exit?.code ?? p.exit?.signal}`).join(', ')}`)
    }
  }
  return result
}

/** Set up `net`, start its peers, and fill `result` phase by phase. */
async function runPhases(
  net: BenchNetwork,
  settings: ConsensusBench['settings'],
  result: ConsensusSizeResult,
  log: (line: string) => void
): Promise<void> {
  const m = net.m
  log(`consensus M=${m}: creating a network in ${net.dir}`)
  await net.setUp()
  // Slot 0 is an hour ago: slots 1, 2, ... are all due.
  const at: Progress = { slot: 1, height: 0 }
  const t0 = Date.now()
  net.startPeers()
  result.pids = net.procs.map((p) => p.pid)
  log(`consensus M=${m}: started ${m} peers (bin/bbnp start --role consensus), waiting for them to connect`)
  await net.waitReady(60_000 + 5000 * m)
  result.startupMs = Date.now() - t0

  const noteStall: NoteStall = (phase, h, laggards) => {
    if (laggards.length === 0) return
    result.stalls.push({ phase, height: h, laggards })
    log(`consensus M=${m}: ${laggards.join(', ')} still without height ${h} ${STALL_MS / 1000} s after a quorum stored it; going on`)
  }
  result.firstBlockMs = await warmUp(net, settings, at, noteStall)
  log(`consensus M=${m}: first block after ${result.firstBlockMs} ms; measuring latency over ${settings.latencyBlocks} blocks`)
  result.latency = await measureLatency(net, settings, at, noteStall, LATENCY_TARGETS_MS[m] ?? null)
  log(
    `consensus M=${m}: latency p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms; throughput for ${settings.throughputSeconds} s`
  )
  result.throughput = await measureThroughput(net, settings, at, noteStall)
  log(`consensus M=${m}: ${result.throughput.blocksPerSecond} blocks/s; reading metrics`)
  const metrics = await readMetrics(net)
  result.memory = metrics.memory
  result.verification = metrics.verification
  result.anomalies = metrics.anomalies
  result.theta = { signed: net.theta.signed, badDraws: net.theta.badDraws }
  result.handoffFailures = net.handoffFailures
  net.checkAlive()
}

export async function benchConsensus(opts: ConsensusBenchOptions = {}): Promise<ConsensusBench> {
  const quick = opts.quick === true
  const sizes = opts.sizes ?? DEFAULT_CONSENSUS_SIZES
  const log = opts.log ?? (() => {})
  const started = performance.now()
  const settings: ConsensusBench['settings'] = {
    periodMs: PERIOD_MS,
    pollMs: POLL_MS,
    stallMs: STALL_MS,
    latencyBlocks: quick ? 10 : 30,
    warmupBlocks: quick ? 2 : 5,
    throughputSeconds: quick ? 3 : 10,
    backlog: 3,
    meters: METERS
  }
  const root = mkdtempSync(join(tmpdir(), 'bbnp-bench-'))
  const supervisor = new Supervisor({ stopWithLauncher: true })
  // Ctrl-C or a kill while peers run: stop them before leaving.
  const removeSignalHandlers = supervisor.exitOnSignals(3000, (sig, running) =>
    process.stderr.write(`bbnp bench: ${sig}, stopping ${running} peer process(es); logs in ${root}\n`)
  )
  const results: ConsensusSizeResult[] = []
  try {
    for (const m of sizes) results.push(await measureSize(m, root, settings, supervisor, log))
  } finally {
    removeSignalHandlers()
    supervisor.killAllNow()
    supervisor.dispose()
  }
  const keep = opts.keep === true || results.some((r) => r.error !== undefined)
  if (!keep) rmSync(root, { recursive: true, force: true })
  // Name the logs only where they are kept and worth reading.
  for (const r of results) if (!keep || (r.error === undefined && opts.keep !== true)) delete r.logsDir
  return {
    quick,
    sizes: results,
    settings,
    notes: [
      `each M runs on a fresh network: M consensus processes (bin/bbnp start --role consensus, log level info or BBNP_LOG_LEVEL) and this process as the gateway (Theta and hand-offs); no meter processes, the data side is measured in the aggregation part`,
      `latency = max over peers of the peer's committedAtMs - the hand-off time taken here just before sending; one slot at a time after ${settings.warmupBlocks} warm-up blocks, each handed off at the start of its own ${PERIOD_MS} ms period (or when the previous block is stored everywhere, if later), as the gateway does; the next height's election has settled by then, as it has in operation`,
      'hand-off = the primary received the aggregate; agreement = from then to the last peer storing the block (pre-prepare, prepare, commit over gossipsub, LevelDB writes)',
      `throughput keeps ${settings.backlog} slots handed off ahead of the head for ${settings.throughputSeconds} s; each height then also waits for its election (draws, Theta)`,
      "all M peers and the bench share this machine's cores: when M x (CPU per block per peer) exceeds the cores, latency is set by CPU, not by the network; a peer per machine would not pay that; compare the load average with the core count, other work on the machine inflates every figure",
      'signature work per block and peer from bbnp_signature_checks_total; the votes that arrive after a quorum are checked as one more batch after the grace period, counted there too'
    ],
    seconds: round((performance.now() - started) / 1000, 1),
    dir: keep ? root : null
  }
}
