/**
 * `bbnp bench`, scale part (issue 15; paper V-D's claim that batch verification makes PBFT scale):
 * M pure replicas in this one process, no sockets, the same code a consensus peer runs: the
 * replica (`Replica`), the reputation rules of the node (`reputationRules`, opinion vectors
 * checked as multi-sets), the opinion vectors each peer signs after every height
 * (`InteractionRecords`, `signOpinionVector`), and the decoding every receiver does in its gossip
 * validator (`decodeMessage`). This process plays the gateway (Theta for every height, a signed
 * and endorsed aggregate per slot, both outside the peers' figures) and the network: every
 * message a replica publishes reaches every other one, in order, on a virtual clock.
 *
 * CPU is `process.cpuUsage()` (user + system, every thread: blst verifies on its own pool)
 * around each peer's work: handling an event, decoding what it receives, signing its opinion
 * vector. Per M, after a few warm-up heights, it reports the median peer's CPU per block, the
 * whole network's, the messages published and delivered per block, and the signature work a peer
 * does; "one by one" is the same work with every signature it checked verified alone, estimated
 * from a single verification timed in the same run.
 */
import { DOMAIN, SeededRng } from '@bbnp/core'
import {
  decodeMessage,
  encodeAggregate,
  decodeAggregate,
  drawOf,
  maxBlockBytes,
  type Observation,
  Replica,
  type ReplicaEffect,
  type ReplicaEvent,
  type SignedAggregate
} from '@bbnp/consensus'
import { decodePublicKey, randomScalar, type SecretKey, secretKeyFromScalar, sign, verify, vrfMessage } from '@bbnp/crypto'
import { reputationRules } from '@bbnp/node'
import {
  DEFAULT_REPUTATION_PARAMS,
  encodeSignedOpinionVector,
  initialReputations,
  InteractionRecords,
  signOpinionVector
} from '@bbnp/reputation'
import { median, round, tick } from './measure.ts'
import { benchAggregate, METERS } from './bench-aggregate.ts'

export const DEFAULT_SCALE_SIZES = [4, 7, 10, 31, 100] as const
export const MAX_SCALE = 128
const PERIOD_MS = 1000

export interface ScaleRow {
  m: number
  f: number
  quorum: number
  /** Heights measured (after the warm-up). */
  heights: number
  /** CPU per block of the median peer, and of the busiest one, ms. */
  cpuMsPerBlockPerPeer: number
  cpuMsPerBlockMaxPeer: number
  /** CPU per block of all M peers together, ms. */
  cpuMsPerBlockAllPeers: number
  /** Messages published per block by all peers (draws, pre-prepare, prepares, commits, opinion vectors), and deliveries (each to M - 1 peers). */
  messagesPublishedPerBlock: number
  messagesDeliveredPerBlock: number
  /** Bytes published per block by all peers (encodings, before gossip framing). */
  bytesPublishedPerBlock: number
  /** Per block and peer: signatures this peer checked (outside its cache), and the verification calls that took (aggregate, single, fallback). */
  signaturesCheckedPerBlockPerPeer: number
  verificationCallsPerBlockPerPeer: number
  /** The same peer with every checked signature verified alone: as built + (signatures - calls) x one verification, ms. */
  oneByOneMsPerBlockPerPeer: number
  /** Views above 0 seen (there should be none: every peer is honest and on time). */
  viewChanges: number
}

export interface ScaleBench {
  rows: ScaleRow[]
  /** One BLS verification (a vote), timed in this run, ms. */
  singleVerifyMs: number
  /** log-log slope of CPU per block and peer against M, as built and one by one, from the smallest to the largest M. */
  growth: { perPeer: number; oneByOnePerPeer: number; allPeers: number; deliveries: number }
  notes: string[]
  seconds: number
}

const cpuNow = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

interface Peer {
  replica: Replica
  records: InteractionRecords
  signer: SecretKey
  cpuMs: number
}

/** One network of M replicas and the gateway's side, on a virtual clock. */
class ScaleNetwork {
  readonly m: number
  readonly peers: Peer[] = []
  private readonly gatewaySk: SecretKey
  private readonly queue: { to: number; event: ReplicaEvent }[] = []
  private readonly timers: { at: number; to: number; event: ReplicaEvent; seq: number }[] = []
  private readonly thetaSent = new Set<string>()
  private seq = 0
  now = 3_600_000
  published = 0
  delivered = 0
  bytes = 0
  decided = 0

  constructor(m: number) {
    this.m = m
    const rng = new SeededRng(`bench-scale-${m}`)
    const sks: SecretKey[] = []
    for (let j = 0; j < m; j++) sks.push(secretKeyFromScalar(randomScalar(rng)))
    const keys = sks.map((sk) => decodePublicKey(sk.toPublicKey().toBytes()))
    this.gatewaySk = secretKeyFromScalar(randomScalar(rng))
    const gatewayKey = decodePublicKey(this.gatewaySk.toPublicKey().toBytes())
    const params = DEFAULT_REPUTATION_PARAMS
    const head = {
      height: 0,
      hash: new Uint8Array(32).fill(7),
      slot: -1,
      reputation: initialReputations(m, params),
      opinionHeight: 0,
      cert: null
    }
    for (let j = 1; j <= m; j++) {
      const replica = new Replica(
        {
          me: j,
          keys,
          gatewayKey,
          meters: METERS,
          minReporters: METERS,
          signer: sks[j - 1],
          maxBlockBytes: maxBlockBytes(m, METERS),
          timing: {
            viewTimeoutMs: 60_000,
            maxViewTimeoutMs: 600_000,
            electionWaitMs: 250,
            graceMs: 2 * params.t0Ms,
            genesisTimeMs: 0,
            periodMs: PERIOD_MS
          },
          rules: reputationRules(keys, params)
        },
        { ...head },
        null
      )
      this.peers.push({ replica, records: new InteractionRecords({ self: j, nodes: m, params }), signer: sks[j - 1], cpuMs: 0 })
    }
  }

  /** The gateway's aggregate of `slot`, signed and endorsed by 2f + 1 peers (the gateway's work, not a peer's). */
  aggregate(slot: number): SignedAggregate {
    const quorum = 2 * Math.floor((this.m - 1) / 3) + 1
    const endorsers = this.peers.slice(0, quorum).map((p, k) => ({ node: k + 1, key: p.signer }))
    return benchAggregate(slot, this.m, endorsers, this.gatewaySk)
  }

  start(): void {
    for (let j = 1; j <= this.m; j++) this.queue.push({ to: j, event: { type: 'start', now: this.now } })
    this.run()
  }

  /** The hand-off: each peer decodes the aggregate (its request handler does) and takes it. */
  handOff(a: SignedAggregate): void {
    const encoded = encodeAggregate(a)
    for (let j = 1; j <= this.m; j++) {
      const t0 = cpuNow()
      const aggregate = decodeAggregate(encoded, maxBlockBytes(this.m, METERS))
      this.peers[j - 1].cpuMs += cpuNow() - t0
      this.queue.push({ to: j, event: { type: 'aggregate', aggregate, now: this.now } })
    }
    this.run()
  }

  /** Advance the clock by `ms`, firing the timers due on the way. */
  advance(ms: number): void {
    const until = this.now + ms
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq)
      const t = this.timers[0]
      if (!t || t.at > until) break
      this.timers.shift()
      this.now = Math.max(this.now, t.at)
      this.queue.push({ to: t.to, event: { ...t.event, now: this.now } as ReplicaEvent })
      this.run()
    }
    this.now = until
  }

  private run(): void {
    while (this.queue.length > 0) {
      const { to, event } = this.queue.shift() as { to: number; event: ReplicaEvent }
      const peer = this.peers[to - 1]
      const t0 = cpuNow()
      const effects = peer.replica.handle(event)
      peer.cpuMs += cpuNow() - t0
      this.execute(to, effects)
    }
  }

  private execute(j: number, effects: ReplicaEffect[]): void {
    const limits = { maxBlockBytes: maxBlockBytes(this.m, METERS), nodes: this.m }
    for (const e of effects) {
      if (e.type === 'broadcast') {
        this.published++
        this.bytes += e.encoded.length
        // The gateway answers a draw, alone or carried in a COMMIT (PROTOCOL 4.1).
        const draw = drawOf(e.message)
        if (draw) this.theta(draw.height, draw.seed)
        for (let to = 1; to <= this.m; to++) {
          if (to === j) continue
          // Each receiver decodes what it receives in its gossip validator.
          const t0 = cpuNow()
          const message = decodeMessage(e.encoded, limits)
          this.peers[to - 1].cpuMs += cpuNow() - t0
          this.delivered++
          this.queue.push({ to, event: { type: 'message', message, now: this.now } })
        }
      } else if (e.type === 'timer') {
        this.timers.push({ at: this.now + e.delayMs, to: j, seq: this.seq++, event: { type: 'timeout', timer: e.timer, now: 0 } })
      } else if (e.type === 'observations') {
        this.opinion(j, e.height, e.items)
      } else if (e.type === 'commit' && j === 1) {
        this.decided++
      }
    }
  }

  /** The peer's opinion publisher: record, sign, publish to every peer and hand to its own replica. */
  private opinion(j: number, height: number, items: readonly Observation[]): void {
    const peer = this.peers[j - 1]
    const t0 = cpuNow()
    for (const o of items) {
      if (o.outcome === 'valid') peer.records.recordValid(o.node, height, o.delayMs)
      else if (o.outcome === 'wrong') peer.records.recordWrongSignature(o.node, height)
      else peer.records.recordMissing(o.node, height)
    }
    const encoded = encodeSignedOpinionVector(signOpinionVector(peer.signer, peer.records.opinionVector(height, DEFAULT_REPUTATION_PARAMS)))
    peer.cpuMs += cpuNow() - t0
    this.published++
    this.bytes += encoded.length
    for (let to = 1; to <= this.m; to++) {
      if (to !== j) this.delivered++
      this.queue.push({ to, event: { type: 'opinion', encoded, own: to === j, now: this.now } })
    }
  }

  /** The gateway answers the first draw of each height with Theta, to every peer. */
  private theta(height: number, seed: Uint8Array): void {
    const key = `${height}:${Buffer.from(seed).toString('hex')}`
    if (this.thetaSent.has(key)) return
    this.thetaSent.add(key)
    const signature = sign(this.gatewaySk, DOMAIN.threshold, vrfMessage(height, seed))
    for (let to = 1; to <= this.m; to++)
      this.queue.push({ to, event: { type: 'message', message: { kind: 'theta', height, seed, signature }, now: this.now } })
  }
}

/** Signature work of a peer so far: signatures checked and the calls that took. */
function signatureWork(r: Replica): { signatures: number; calls: number } {
  const s = r.stats
  const c = r.cache
  return { signatures: s.signaturesInBatches + c.inBatches + c.checks, calls: s.batchChecks + c.batches + c.checks + s.fallbackChecks }
}

function timeSingleVerify(): number {
  const rng = new SeededRng('bench-scale-single')
  const sk = secretKeyFromScalar(randomScalar(rng))
  const pk = decodePublicKey(sk.toPublicKey().toBytes())
  const msg = new Uint8Array(48).fill(3)
  const sig = sign(sk, DOMAIN.prepare, msg)
  const runs = 50
  verify(pk, DOMAIN.prepare, msg, sig)
  const t0 = cpuNow()
  for (let i = 0; i < runs; i++) verify(pk, DOMAIN.prepare, msg, sig)
  return (cpuNow() - t0) / runs
}

async function measureScale(m: number, warmup: number, heights: number, singleVerifyMs: number): Promise<ScaleRow> {
  const net = new ScaleNetwork(m)
  net.start()
  let slot = 1
  const height = async () => {
    const before = net.decided
    net.handOff(net.aggregate(slot++))
    net.advance(PERIOD_MS)
    if (net.decided !== before + 1) throw new Error(`M = ${m}: height ${before + 1} was not decided within one period`)
    await tick()
  }
  for (let h = 0; h < warmup; h++) await height()
  const cpu0 = net.peers.map((p) => p.cpuMs)
  const work0 = net.peers.map((p) => signatureWork(p.replica))
  const [pub0, del0, bytes0] = [net.published, net.delivered, net.bytes]
  for (let h = 0; h < heights; h++) await height()
  const perPeer = net.peers.map((p, i) => (p.cpuMs - cpu0[i]) / heights)
  const work = net.peers.map((p, i) => {
    const w = signatureWork(p.replica)
    return { signatures: (w.signatures - work0[i].signatures) / heights, calls: (w.calls - work0[i].calls) / heights }
  })
  const sigs = median(work.map((w) => w.signatures))
  const calls = median(work.map((w) => w.calls))
  const cpu = median(perPeer)
  const f = Math.floor((m - 1) / 3)
  return {
    m,
    f,
    quorum: 2 * f + 1,
    heights,
    cpuMsPerBlockPerPeer: round(cpu, 2),
    cpuMsPerBlockMaxPeer: round(Math.max(...perPeer), 2),
    cpuMsPerBlockAllPeers: round(
      perPeer.reduce((a, b) => a + b, 0),
      1
    ),
    messagesPublishedPerBlock: round((net.published - pub0) / heights, 1),
    messagesDeliveredPerBlock: round((net.delivered - del0) / heights, 1),
    bytesPublishedPerBlock: Math.round((net.bytes - bytes0) / heights),
    signaturesCheckedPerBlockPerPeer: round(sigs, 1),
    verificationCallsPerBlockPerPeer: round(calls, 2),
    oneByOneMsPerBlockPerPeer: round(cpu + Math.max(0, sigs - calls) * singleVerifyMs, 2),
    viewChanges: net.peers.reduce((a, p) => a + p.replica.stats.viewChanges, 0)
  }
}

const slope = (rows: ScaleRow[], y: (r: ScaleRow) => number) => {
  if (rows.length < 2) return Number.NaN
  const a = rows[0]
  const b = rows[rows.length - 1]
  return round(Math.log(y(b) / y(a)) / Math.log(b.m / a.m), 2)
}

export async function benchScale(
  opts: { sizes?: readonly number[]; quick?: boolean; log?: (line: string) => void } = {}
): Promise<ScaleBench> {
  const started = performance.now()
  const log = opts.log ?? (() => {})
  const sizes = [...(opts.sizes ?? DEFAULT_SCALE_SIZES)].sort((a, b) => a - b)
  const singleVerifyMs = round(timeSingleVerify(), 3)
  const rows: ScaleRow[] = []
  for (const m of sizes) {
    // Fewer heights for large M: each costs M peers' work in this one process.
    // Fewer warm-up heights too: at M >= 31 one height already runs every path M times.
    const heights = opts.quick ? Math.max(2, Math.round(40 / m)) : Math.max(4, Math.round(200 / m))
    const warmup = m >= 31 ? 1 : 3
    log(`scale M=${m}: ${heights} heights after ${warmup} warm-up`)
    const row = await measureScale(m, warmup, heights, singleVerifyMs)
    log(`scale M=${m}: ${row.cpuMsPerBlockPerPeer} ms per block and peer, ${row.messagesDeliveredPerBlock} deliveries per block`)
    rows.push(row)
  }
  return {
    rows,
    singleVerifyMs,
    growth: {
      perPeer: slope(rows, (r) => r.cpuMsPerBlockPerPeer),
      oneByOnePerPeer: slope(rows, (r) => r.oneByOneMsPerBlockPerPeer),
      allPeers: slope(rows, (r) => r.cpuMsPerBlockAllPeers),
      deliveries: slope(rows, (r) => r.messagesDeliveredPerBlock)
    },
    notes: [
      'M replicas in one process, the code a consensus peer runs (replica, reputation rules, opinion vectors, message decoding), no sockets: what the network adds per message is in the consensus part and docs/performance.md',
      'growth: the slope of log(figure) against log(M) from the smallest to the largest M; 1 is linear (O(M)), 2 quadratic',
      '"one by one" adds, for every signature checked inside an aggregate or multi-set check, one more single verification timed in this run'
    ],
    seconds: round((performance.now() - started) / 1000, 1)
  }
}
