/**
 * One network of the consensus bench: M real `bbnp start --role consensus` processes on loopback,
 * started through the shared supervisor, and this process as their gateway with its real key: a
 * libp2p node that answers the election draws with Theta (`ThetaResponder`) and hands pre-signed
 * aggregates to every peer over /bbnp/aggregate/1. Slot 0 lies an hour in the past (1 s slots),
 * so every slot handed off is already due and accepted at once. Logs go to DIR/logs; on a
 * failure, every peer's /status and /metrics go beside them (failure-snapshot.txt).
 */
import { createWriteStream, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { consensusId, createLogger, makeDirectory, MetricsRegistry } from '@bbnp/core'
import { encodeAggregate, maxBlockBytes } from '@bbnp/consensus'
import { type SecretKey } from '@bbnp/crypto'
import { createP2PNode, type P2PNode } from '@bbnp/network'
import {
  API_PORT_OFFSET,
  createNetwork,
  defaultReputationParams,
  type Genesis,
  loadAddressBook,
  loadGenesis,
  loadKey,
  gatewayTopics,
  thetaProtocol,
  type WireProtocols,
  wireProtocols,
  protocolLimits,
  ThetaResponder,
  writeNetwork
} from '@bbnp/node'
import { BBNP_BIN } from '../bin-path.ts'
import { type SupervisedChild, type Supervisor, tailOf } from '../supervisor.ts'
import { sleep } from './measure.ts'
import { benchAggregate, METERS } from './bench-aggregate.ts'

export const PERIOD_MS = 1000
/** Slot 0 this long ago: 3,600 slots that are all due, far more than a run hands off. */
const LOOKBACK_MS = 60 * 60 * 1000
export const POLL_MS = 15
/** A peer this long behind a quorum on one height is reported as a laggard instead of waited for. */
export const STALL_MS = 8000
/** SIGTERM, then SIGKILL a peer still running after this long. */
const STOP_GRACE_MS = 5000

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

interface StatusView {
  height: number
  peers: string[]
}

export interface BlockView {
  height: number
  slot: number
  primary: string
  view: number
  aggregateReceivedAtMs: number | null
  committedAtMs: number | null
}

export class BenchNetwork {
  readonly m: number
  readonly dir: string
  readonly netDir: string
  readonly logsDir: string
  readonly basePort: number
  readonly procs: SupervisedChild[] = []
  genesis!: Genesis
  p2p: P2PNode | null = null
  theta!: ThetaResponder
  wire!: WireProtocols
  private endorsers: { node: number; key: SecretKey }[] = []
  private gatewayKey!: NonNullable<ReturnType<typeof loadKey>['blsKey']>
  private peerIds: string[] = []
  private gatewayLog: ReturnType<typeof createWriteStream> | null = null
  private readonly supervisor: Supervisor
  handoffFailures = 0

  constructor(m: number, dir: string, basePort: number, supervisor: Supervisor) {
    this.m = m
    this.supervisor = supervisor
    this.dir = dir
    this.netDir = join(dir, 'net')
    this.logsDir = join(dir, 'logs')
    this.basePort = basePort
  }

  apiPort(j: number): number {
    return this.basePort + j + API_PORT_OFFSET
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
    const addresses = loadAddressBook({ configDir: this.netDir }, this.genesis)
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
    const gatewayGossip = gatewayTopics({
      id: electionId,
      theta: this.theta,
      publish: (topic, data) => void p2p.publish(topic, data).catch(() => {})
    })
    const p2p = await createP2PNode(
      {
        privateKey: key.libp2pKey,
        listen: [addresses.listen(this.genesis.gateway.id)],
        allowedPeers: new Set(this.peerIds),
        persistentPeers: this.genesis.consensus.map((c) => ({ peerId: c.peerId.toString(), addr: addresses.address(c.id) })),
        gossip: { topics: gatewayGossip },
        protocols: [thetaProtocol({ descriptor: this.wire.theta, id: electionId, theta: this.theta })]
      },
      { logger, metrics: new MetricsRegistry() }
    )
    this.p2p = p2p
    await p2p.start()
  }

  startPeers(): void {
    for (let j = 1; j <= this.m; j++) {
      const id = consensusId(j)
      // Log level info unless BBNP_LOG_LEVEL asks for another (debug shows every refused input).
      // The supervisor's BBNP_PARENT_PID: a peer stops by itself within a second if this process dies unannounced (kill -9).
      const proc = this.supervisor.spawn(id, BBNP_BIN, ['start', '--role', 'consensus', '--config', this.netDir, '--id', id], {
        output: { file: join(this.logsDir, `${id}.log`), append: true },
        env: { BBNP_LOG_LEVEL: process.env.BBNP_LOG_LEVEL || 'info' }
      })
      this.procs.push(proc)
    }
  }

  /** Throws with the peer's last log lines if any peer process has exited. */
  checkAlive(): void {
    for (const p of this.procs) {
      if (p.exit !== null)
        throw new Error(
          `${p.name} exited (code ${p.exit.code ?? p.exit.signal}); last lines of ${p.logPath}:\n${tailOf(p.logPath, 8, '(no log)')}`
        )
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
      await this.waitUntil(`${consensusId(j)} to connect to every peer`, timeoutMs, async () => {
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
    return encodeAggregate(benchAggregate(slot, this.m, this.endorsers, this.gatewayKey))
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
      if (quorumAt !== null && Date.now() - quorumAt > STALL_MS) return { views, laggards: missing.map(consensusId) }
      if (Date.now() > deadline) {
        const why = lastError ? ` (last error: ${(lastError as Error).message})` : ''
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${missing.map(consensusId).join(', ')} to store height ${height}${why}`
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
      parts.push(`== ${consensusId(j)} /status\n${status}\n== ${consensusId(j)} /metrics\n${metrics}`)
    }
    writeFileSync(join(this.logsDir, 'failure-snapshot.txt'), `${parts.join('\n')}\n`)
  }

  async stop(): Promise<void> {
    const p2p = this.p2p
    this.p2p = null
    await Promise.all([...this.procs.map((p) => this.supervisor.stop(p, STOP_GRACE_MS)), p2p?.stop().catch(() => {})])
    await new Promise<void>((resolve) => (this.gatewayLog ? this.gatewayLog.end(resolve) : resolve()))
  }
}
