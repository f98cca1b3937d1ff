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
 * Every process started here is stopped (SIGTERM, then SIGKILL) on success, error and Ctrl-C;
 * logs go to a temp directory that is kept, and named, when something fails, with every peer's
 * /status and /metrics at the moment of the failure (failure-snapshot.txt).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, createWriteStream, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLogger, DOMAIN, makeDirectory, MetricsRegistry, sumMetric } from '@bbnp/core'
import {
  bitmapFromIndices,
  encodeAggregate,
  endorsementPayload,
  makeEndorsement,
  maxBlockBytes,
  type SignedAggregate
} from '@bbnp/consensus'
import { type SecretKey, sign } from '@bbnp/crypto'
import { createP2PNode, type P2PNode } from '@bbnp/network'
import {
  createNetwork,
  defaultReputationParams,
  type Genesis,
  loadGenesis,
  loadKey,
  signAggregate,
  gatewayElectionTopic,
  thetaProtocol,
  type WireProtocols,
  wireProtocols,
  protocolLimits,
  ThetaResponder,
  writeNetwork
} from '@bbnp/node'
import { freePortRange } from './ports.ts'

export const BBNP_BIN = fileURLToPath(new URL('../../../bin/bbnp', import.meta.url))
export const DEFAULT_CONSENSUS_SIZES = [4, 7, 10] as const
/** The issue's targets, reported beside the figures, never asserted. */
export const LATENCY_TARGETS_MS: Record<number, number> = { 4: 50, 10: 200 }

const PERIOD_MS = 1000
/** Slot 0 this long ago: 3,600 slots that are all due, far more than a run hands off. */
const LOOKBACK_MS = 60 * 60 * 1000
const METERS = 3
const POLL_MS = 15
/** A peer this long behind a quorum on one height is reported as a laggard instead of waited for. */
const STALL_MS = 8000

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

const median = (xs: number[]) => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
/** Nearest-rank percentile. */
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}
const round = (x: number, digits = 1) => Number(x.toFixed(digits))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------- processes

interface PeerProc {
  id: string
  child: ChildProcess
  exited: Promise<void>
  exitCode: number | null
  signal: NodeJS.Signals | null
  logFile: string
}

/** Every child process of this bench, for cleanup on any exit path. */
const live = new Set<PeerProc>()

function alive(p: PeerProc): boolean {
  return p.child.exitCode === null && p.child.signalCode === null
}

async function stopProcs(procs: Iterable<PeerProc>, graceMs = 5000): Promise<void> {
  await Promise.all(
    [...procs].map(async (p) => {
      if (!alive(p)) return
      p.child.kill('SIGTERM')
      const timer = setTimeout(() => {
        if (alive(p)) p.child.kill('SIGKILL')
      }, graceMs)
      await p.exited
      clearTimeout(timer)
    })
  )
}

function killAllNow(): void {
  for (const p of live) if (alive(p)) p.child.kill('SIGKILL')
}

function tail(file: string, lines = 8): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** User + system CPU time of a process so far, ms, from /proc (Linux; USER_HZ is 100 there); null elsewhere. */
function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return null
  }
}

/** Median over peers of the CPU time used per block between two readings. */
function perBlockCpu(before: (number | null)[], after: (number | null)[], blocks: number): number | null {
  const d: number[] = []
  before.forEach((b, i) => {
    const a = after[i]
    if (b !== null && a !== null) d.push((a - b) / blocks)
  })
  return d.length === before.length && d.length > 0 ? round(median(d)) : null
}

// ---------------------------------------------------------------- HTTP

async function getJson<T>(port: number, path: string, timeoutMs = 3000): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) })
  if (!res.ok) throw new Error(`GET ${path} on port ${port}: HTTP ${res.status}`)
  return (await res.json()) as T
}

async function getText(port: number, path: string, timeoutMs = 3000): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) })
  if (!res.ok) throw new Error(`GET ${path} on port ${port}: HTTP ${res.status}`)
  return res.text()
}

function metricByLabel(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {}
  const re = new RegExp(`${label}="([^"]*)"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    const k = re.exec(line)?.[1] ?? '?'
    out[k] = (out[k] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return out
}

interface StatusView {
  height: number
  peers: string[]
}

interface BlockView {
  height: number
  slot: number
  primary: string
  view: number
  aggregateReceivedAtMs: number | null
  committedAtMs: number | null
}

// ---------------------------------------------------------------- one network

class BenchNetwork {
  readonly m: number
  readonly dir: string
  readonly netDir: string
  readonly logsDir: string
  readonly basePort: number
  readonly procs: PeerProc[] = []
  genesis!: Genesis
  p2p: P2PNode | null = null
  theta!: ThetaResponder
  wire!: WireProtocols
  private endorsers: { node: number; key: SecretKey }[] = []
  private gatewayKey!: NonNullable<ReturnType<typeof loadKey>['blsKey']>
  private peerIds: string[] = []
  private gatewayLog: ReturnType<typeof createWriteStream> | null = null
  handoffFailures = 0

  constructor(m: number, dir: string, basePort: number) {
    this.m = m
    this.dir = dir
    this.netDir = join(dir, 'net')
    this.logsDir = join(dir, 'logs')
    this.basePort = basePort
  }

  apiPort(j: number): number {
    return this.basePort + j + 1000
  }

  async setUp(): Promise<void> {
    makeDirectory(this.logsDir)
    const net = await createNetwork({
      meters: METERS,
      consensus: this.m,
      periodMs: PERIOD_MS,
      host: '127.0.0.1',
      basePort: this.basePort,
      devnet: true,
      genesisTimeMs: Math.floor((Date.now() - LOOKBACK_MS) / PERIOD_MS) * PERIOD_MS,
      reputation: defaultReputationParams()
    })
    writeNetwork(this.netDir, net, { force: false })
    this.genesis = loadGenesis(this.netDir)
    this.wire = wireProtocols(protocolLimits(this.genesis))
    this.endorsers = this.genesis.consensus
      .slice(0, this.genesis.quorum)
      .map((c) => ({ node: c.index, key: loadKey(this.netDir, c.id, this.genesis).blsKey! }))
    const key = loadKey(this.netDir, this.genesis.gateway.id, this.genesis)
    if (!key.blsKey) throw new Error('the gateway key cannot sign')
    this.gatewayKey = key.blsKey
    this.peerIds = this.genesis.consensus.map((c) => c.peerId.toString())
    this.theta = new ThetaResponder(
      key.blsKey,
      this.genesis.consensus.map((c) => c.verificationKey)
    )

    // The gateway's side, in this process: Theta for the election, and the aggregate hand-off.
    this.gatewayLog = createWriteStream(join(this.logsDir, 'gateway-bench.log'))
    const logStream = this.gatewayLog
    const logger = createLogger({
      level: 'info',
      bindings: { role: 'gateway', id: 'bench' },
      write: (line) => logStream.write(`${line}\n`)
    })
    const nodeOfPeer = new Map(this.genesis.consensus.map((c) => [c.peerId.toString(), c.index]))
    const electionId = {
      limits: { maxBlockBytes: maxBlockBytes(this.m, METERS), nodes: this.m },
      nodeOfPeer,
      gatewayPeer: this.genesis.gateway.peerId.toString()
    }
    const electionTopic = gatewayElectionTopic({
      id: electionId,
      theta: this.theta,
      publish: (topic, data) => void p2p.publish(topic, data).catch(() => {})
    })
    const p2p = await createP2PNode(
      {
        privateKey: key.libp2pKey,
        listen: [this.genesis.gateway.listen.toString()],
        allowedPeers: new Set(this.peerIds),
        persistentPeers: this.genesis.consensus.map((c) => ({ peerId: c.peerId.toString(), addr: c.listen.toString() })),
        gossip: { topics: [electionTopic] },
        protocols: [thetaProtocol({ descriptor: this.wire.theta, id: electionId, theta: this.theta })]
      },
      { logger, metrics: new MetricsRegistry() }
    )
    this.p2p = p2p
    await p2p.start()
  }

  startPeers(): void {
    for (let j = 1; j <= this.m; j++) {
      const id = `cn-${j}`
      const logFile = join(this.logsDir, `${id}.log`)
      const fd = openSync(logFile, 'a')
      // Log level info unless BBNP_LOG_LEVEL asks for another (debug shows every refused input).
      // BBNP_PARENT_PID: a peer stops by itself within a second if this process dies unannounced (kill -9).
      const child = spawn(BBNP_BIN, ['start', '--role', 'consensus', '--config', this.netDir, '--id', id], {
        stdio: ['ignore', fd, fd],
        env: { ...process.env, BBNP_LOG_LEVEL: process.env.BBNP_LOG_LEVEL || 'info', BBNP_PARENT_PID: String(process.pid) }
      })
      closeSync(fd)
      const proc: PeerProc = { id, child, exitCode: null, signal: null, logFile, exited: Promise.resolve() }
      proc.exited = new Promise<void>((resolve) => {
        child.once('exit', (code, signal) => {
          proc.exitCode = code
          proc.signal = signal
          live.delete(proc)
          resolve()
        })
        child.once('error', () => resolve())
      })
      live.add(proc)
      this.procs.push(proc)
    }
  }

  /** Throws with the peer's last log lines if any peer process has exited. */
  checkAlive(): void {
    for (const p of this.procs) {
      if (!alive(p))
        throw new Error(`${p.id} exited (code ${p.child.exitCode ?? p.child.signalCode}); last lines of ${p.logFile}:\n${tail(p.logFile)}`)
    }
  }

  async waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
    const deadline = Date.now() + timeoutMs
    let lastError: unknown = null
    for (;;) {
      this.checkAlive()
      try {
        const v = await probe()
        if (v !== null) return v
      } catch (e) {
        lastError = e
      }
      if (Date.now() > deadline)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`
        )
      await sleep(POLL_MS)
    }
  }

  /** Every peer answers its API and is connected to all the others and to the gateway. */
  async waitReady(timeoutMs: number): Promise<void> {
    for (let j = 1; j <= this.m; j++) {
      await this.waitUntil(`cn-${j} to connect to every peer`, timeoutMs, async () => {
        const s = await getJson<StatusView>(this.apiPort(j), '/status', 1000)
        return s.peers.length >= this.m ? true : null
      })
    }
    await this.waitUntil('the gateway to connect to every peer', timeoutMs, async () =>
      (this.p2p?.connectedPeers().length ?? 0) >= this.m ? true : null
    )
  }

  signedAggregate(slot: number): Uint8Array {
    // The bench plays the gateway; 2f+1 consensus keys (it made the network) endorse the full set (PROTOCOL 3.5.5).
    const present = bitmapFromIndices(
      Array.from({ length: METERS }, (_, i) => i + 1),
      METERS
    )
    const endorsement = makeEndorsement(
      this.endorsers.map((e) => ({ node: e.node, signature: sign(e.key, DOMAIN.endorse, endorsementPayload(slot, present)) })),
      this.m
    )
    const body: Omit<SignedAggregate, 'signature'> = {
      slot,
      fromSlot: slot,
      status: 'complete',
      sum: BigInt(slot) * 1000n + 7n,
      count: METERS,
      missing: new Uint8Array(0),
      reason: '',
      endorsement,
      faulty: new Uint8Array(0)
    }
    return encodeAggregate({ ...body, signature: signAggregate(this.gatewayKey, body) })
  }

  /** Hand an encoded aggregate to every peer at once; resolves when all answered. */
  async handOff(encoded: Uint8Array): Promise<void> {
    const p2p = this.p2p
    if (!p2p) throw new Error('the gateway is not running')
    await Promise.all(
      this.peerIds.map((peer) =>
        p2p.request(peer, this.wire.aggregate, encoded, { timeoutMs: 5000 }).catch(() => {
          this.handoffFailures++
        })
      )
    )
  }

  /** Wait until every peer has stored `height`; returns each peer's view of that block. */
  /**
   * Wait until every peer has stored `height`, and return each peer's view of the block (index
   * j-1 for cn-j). One request per poll interval, round-robin over the peers still missing it:
   * the timings come from the peers' own clocks, so polling late costs no accuracy. A peer still
   * without the block `STALL_MS` after a quorum stored it is reported as a laggard (null) rather
   * than waited for: catch-up should have fetched it by then, and the bench goes on.
   */
  async waitStored(height: number, timeoutMs: number): Promise<{ views: (BlockView | null)[]; laggards: string[] }> {
    const views: (BlockView | null)[] = new Array(this.m).fill(null)
    const quorum = 2 * Math.floor((this.m - 1) / 3) + 1
    const deadline = Date.now() + timeoutMs
    let quorumAt: number | null = null
    let turn = 0
    let lastError: unknown = null
    for (;;) {
      this.checkAlive()
      const missing = views.flatMap((v, i) => (v === null ? [i + 1] : []))
      if (missing.length === 0) return { views, laggards: [] }
      if (quorumAt === null && this.m - missing.length >= quorum) quorumAt = Date.now()
      if (quorumAt !== null && Date.now() - quorumAt > STALL_MS) return { views, laggards: missing.map((j) => `cn-${j}`) }
      if (Date.now() > deadline) {
        const why = lastError ? ` (last error: ${(lastError as Error).message})` : ''
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${missing.map((j) => `cn-${j}`).join(', ')} to store height ${height}${why}`
        )
      }
      const j = missing[turn++ % missing.length]
      try {
        const { blocks } = await getJson<{ blocks: BlockView[] }>(this.apiPort(j), `/blocks?from=${height}&to=${height}`, 2000)
        if (blocks.length > 0) {
          views[j - 1] = blocks[0]
          continue
        }
      } catch (e) {
        lastError = e
      }
      await sleep(POLL_MS)
    }
  }

  cpu(): (number | null)[] {
    return this.procs.map((p) => processCpuMs(p.child.pid))
  }

  async height(j: number): Promise<number> {
    return (await getJson<StatusView>(this.apiPort(j), '/status', 2000)).height
  }

  async blocks(j: number, from: number, to: number): Promise<BlockView[]> {
    const out: BlockView[] = []
    for (let f = from; f <= to; f += 64)
      out.push(...(await getJson<{ blocks: BlockView[] }>(this.apiPort(j), `/blocks?from=${f}&to=${Math.min(to, f + 63)}`, 5000)).blocks)
    return out
  }

  async metrics(j: number): Promise<string> {
    return getText(this.apiPort(j), '/metrics')
  }

  /** On a failure: every peer's /status and /metrics, beside the logs, for the post-mortem. */
  async snapshot(): Promise<void> {
    const parts: string[] = []
    for (let j = 1; j <= this.m; j++) {
      const status = await getText(this.apiPort(j), '/status', 2000).catch((e: Error) => `(no answer: ${e.message})`)
      const metrics = await getText(this.apiPort(j), '/metrics', 2000).catch((e: Error) => `(no answer: ${e.message})`)
      parts.push(`== cn-${j} /status\n${status}\n== cn-${j} /metrics\n${metrics}`)
    }
    writeFileSync(join(this.logsDir, 'failure-snapshot.txt'), `${parts.join('\n')}\n`)
  }

  async stop(): Promise<void> {
    const p2p = this.p2p
    this.p2p = null
    await Promise.all([stopProcs(this.procs), p2p?.stop().catch(() => {})])
    await new Promise<void>((resolve) => (this.gatewayLog ? this.gatewayLog.end(resolve) : resolve()))
  }
}

// ---------------------------------------------------------------- the phases

async function measureSize(
  m: number,
  root: string,
  settings: ConsensusBench['settings'],
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
  const dir = join(root, `m${m}`)
  const net = new BenchNetwork(m, dir, await freePortRange(m + 1))
  result.logsDir = net.logsDir
  try {
    log(`consensus M=${m}: creating a network in ${dir}`)
    await net.setUp()
    // Slot 0 is an hour ago: slots 1, 2, ... are all due.
    let slot = 1
    let height = 0
    const t0 = Date.now()
    net.startPeers()
    result.pids = net.procs.map((p) => p.child.pid ?? -1)
    log(`consensus M=${m}: started ${m} peers (bin/bbnp start --role consensus), waiting for them to connect`)
    await net.waitReady(60_000 + 5000 * m)
    result.startupMs = Date.now() - t0

    // Warm-up: the first block waits for the gossip mesh and the draws' re-sends.
    const tFirst = Date.now()
    const noteStall = (phase: string, h: number, laggards: string[]) => {
      if (laggards.length === 0) return
      result.stalls.push({ phase, height: h, laggards })
      log(`consensus M=${m}: ${laggards.join(', ')} still without height ${h} ${STALL_MS / 1000} s after a quorum stored it; going on`)
    }
    for (let k = 0; k < settings.warmupBlocks; k++) {
      height++
      await net.handOff(net.signedAggregate(slot++))
      noteStall('warm-up', height, (await net.waitStored(height, k === 0 ? 60_000 : 30_000)).laggards)
      if (k === 0) result.firstBlockMs = Date.now() - tFirst
    }
    log(`consensus M=${m}: first block after ${result.firstBlockMs} ms; measuring latency over ${settings.latencyBlocks} blocks`)

    // Latency: one slot at a time, each handed off at the start of its own period (as the
    // gateway does), or as soon as the previous block is stored everywhere if that takes longer.
    const samples: number[] = []
    const handoff: number[] = []
    const agreement: number[] = []
    const spread: number[] = []
    let viewChangeBlocks = 0
    const cpuBefore = net.cpu()
    let nextAt = Date.now()
    for (let k = 0; k < settings.latencyBlocks; k++) {
      height++
      const encoded = net.signedAggregate(slot++)
      if (nextAt > Date.now()) await sleep(nextAt - Date.now())
      const sentAt = Date.now()
      nextAt = sentAt + PERIOD_MS
      await net.handOff(encoded)
      const { views, laggards } = await net.waitStored(height, 30_000)
      if (laggards.length > 0) {
        // Not a latency sample: the block never reached every peer.
        noteStall('latency', height, laggards)
        continue
      }
      const all = views as BlockView[]
      const commits = all.map((v) => v.committedAtMs ?? Number.NaN)
      const last = Math.max(...commits)
      samples.push(last - sentAt)
      spread.push(last - Math.min(...commits))
      // views[j-1] is cn-j's; the primary always held the aggregate before it proposed.
      const recv = all[Number(all[0].primary.slice('cn-'.length)) - 1]?.aggregateReceivedAtMs ?? null
      if (recv !== null) {
        handoff.push(recv - sentAt)
        agreement.push(last - recv)
      }
      if (all[0].view > 0) viewChangeBlocks++
    }
    const latencyCpu = perBlockCpu(cpuBefore, net.cpu(), settings.latencyBlocks)
    const target = LATENCY_TARGETS_MS[m] ?? null
    const p50 = percentile(samples, 50)
    result.latency = {
      warmup: settings.warmupBlocks,
      blocks: samples.length,
      p50Ms: p50,
      p99Ms: percentile(samples, 99),
      minMs: Math.min(...samples),
      maxMs: Math.max(...samples),
      meanMs: round(samples.reduce((a, b) => a + b, 0) / samples.length),
      handoffP50Ms: handoff.length > 0 ? round(median(handoff)) : null,
      agreementP50Ms: agreement.length > 0 ? round(median(agreement)) : null,
      spreadP50Ms: round(median(spread)),
      viewChangeBlocks,
      cpuMsPerBlockPerPeer: latencyCpu,
      samplesMs: samples,
      targetP50Ms: target,
      meetsTarget: target === null ? null : p50 <= target
    }
    log(`consensus M=${m}: latency p50 ${p50} ms, p99 ${result.latency.p99Ms} ms; throughput for ${settings.throughputSeconds} s`)

    // Throughput: keep `backlog` slots handed off ahead of the head.
    const firstTp = height + 1
    let sent = height
    const tpCpuBefore = net.cpu()
    const tStart = Date.now()
    const tEnd = tStart + settings.throughputSeconds * 1000
    // The head: the highest height seen, one peer asked per poll (round-robin).
    const heights = new Array<number>(m).fill(height)
    let ask = 0
    while (Date.now() < tEnd) {
      net.checkAlive()
      const j = (ask++ % m) + 1
      heights[j - 1] = await net.height(j).catch(() => heights[j - 1])
      const head = Math.max(...heights)
      while (sent < head + settings.backlog && Date.now() < tEnd) {
        sent++
        await net.handOff(net.signedAggregate(slot++))
      }
      await sleep(POLL_MS)
    }
    const tpCpuAfter = net.cpu()
    noteStall('throughput', sent, (await net.waitStored(sent, 60_000)).laggards)
    // When the last peer stored each height (a laggard's missing blocks do not count).
    const stored = new Map<number, number>()
    for (let j = 1; j <= m; j++) {
      for (const b of await net.blocks(j, firstTp, sent))
        stored.set(b.height, Math.max(stored.get(b.height) ?? 0, b.committedAtMs ?? Number.POSITIVE_INFINITY))
    }
    const inWindow = [...stored.values()].filter((t) => t >= tStart && t <= tEnd).length
    result.throughput = {
      seconds: settings.throughputSeconds,
      backlog: settings.backlog,
      blocks: inWindow,
      blocksPerSecond: round(inWindow / settings.throughputSeconds, 2),
      cpuMsPerBlockPerPeer: perBlockCpu(tpCpuBefore, tpCpuAfter, Math.max(1, inWindow))
    }
    log(`consensus M=${m}: ${result.throughput.blocksPerSecond} blocks/s; reading metrics`)

    // Memory and signature work, from every peer's /metrics.
    const texts = await Promise.all(Array.from({ length: m }, (_, i) => net.metrics(i + 1)))
    const rss = texts.map((t) => round(sumMetric(t, 'bbnp_resident_memory_bytes') / (1024 * 1024)))
    result.memory = { perPeerMb: rss, medianMb: round(median(rss)), maxMb: Math.max(...rss) }
    const sum = (name: string, labels: Record<string, string> = {}) => texts.reduce((a, t) => a + sumMetric(t, name, labels), 0)
    const peerBlocks = sum('bbnp_blocks_committed_total')
    const per = (kind: string) => round(sum('bbnp_signature_checks_total', { kind }) / Math.max(1, peerBlocks), 2)
    const perBlock = {
      aggregateChecks: per('batch'),
      votesInBatches: per('in_batches'),
      fallbackChecks: per('fallback'),
      singleChecks: per('single'),
      cacheHits: per('cached')
    }
    result.verification = {
      peerBlocks,
      perBlock,
      batchRatio: round(perBlock.votesInBatches / Math.max(perBlock.aggregateChecks, 1e-9), 2),
      overallRatio: round((2 * (m - 1)) / Math.max(perBlock.aggregateChecks + perBlock.fallbackChecks, 1e-9), 2)
    }
    const rejected: Record<string, number> = {}
    for (const t of texts)
      for (const [k, v] of Object.entries(metricByLabel(t, 'bbnp_consensus_rejected_total', 'reason'))) rejected[k] = (rejected[k] ?? 0) + v
    result.anomalies = { synced: sum('bbnp_blocks_synced_total'), viewChanges: sum('bbnp_view_changes_total'), rejected }
    result.theta = { signed: net.theta.signed, badDraws: net.theta.badDraws }
    result.handoffFailures = net.handoffFailures
    net.checkAlive()
  } catch (e) {
    result.error = (e as Error).message
    await net.snapshot().catch(() => {})
    result.theta = { signed: net.theta?.signed ?? 0, badDraws: net.theta?.badDraws ?? 0 }
    result.handoffFailures = net.handoffFailures
  } finally {
    result.loadAverage.end = round(loadavg()[0], 2)
    log(`consensus M=${m}: stopping the peers`)
    await net.stop()
    const unclean = net.procs.filter((p) => p.exitCode !== 0)
    if (unclean.length > 0 && !result.error) {
      log(`consensus M=${m}: ${unclean.map((p) => `${p.id} exited with ${p.exitCode ?? p.signal}`).join(', ')}`)
    }
  }
  return result
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
  // Ctrl-C or a kill while peers run: stop them before leaving.
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`bbnp bench: ${sig}, stopping ${live.size} peer process(es); logs in ${root}\n`)
    void stopProcs([...live], 3000).finally(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  process.once('exit', killAllNow)
  const results: ConsensusSizeResult[] = []
  try {
    for (const m of sizes) results.push(await measureSize(m, root, settings, log))
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.off('exit', killAllNow)
    killAllNow()
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
    seconds: round((performance.now() - started) / 1000),
    dir: keep ? root : null
  }
}
