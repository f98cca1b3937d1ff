/**
 * The phases of one consensus bench size, run in order on a BenchNetwork whose peers are ready:
 * the warm-up (the first block waits for the gossip mesh and the draws' re-sends), latency (one
 * slot at a time, each handed off at the start of its own period), throughput (a backlog of slots
 * ahead of the head for a fixed time), and the figures every peer's /metrics gives afterwards.
 */
import { readFileSync } from 'node:fs'
import { sumMetric } from '@bbnp/core'
import type { ConsensusBench, ConsensusSizeResult, LatencyFigures } from './consensus.ts'
import { type BenchNetwork, type BlockView, PERIOD_MS, POLL_MS } from './consensus-network.ts'
import { median, percentile, round, sleep } from './measure.ts'

type Settings = ConsensusBench['settings']

/** Where a size's run is: the next slot to hand off, and the last height handed off. */
export interface Progress {
  slot: number
  height: number
}

/** Records a height that some peers still lacked STALL_MS after a quorum stored it. */
export type NoteStall = (phase: string, height: number, laggards: string[]) => void

/** User + system CPU time of a process so far, ms, from /proc (Linux; USER_HZ is 100 there); null elsewhere. */
function processCpuMs(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return null
  }
}

/** Each peer's CPU time so far (null where it cannot be read). */
function peersCpu(net: BenchNetwork): (number | null)[] {
  return net.procs.map((p) => processCpuMs(p.pid))
}

/** Median over peers of the CPU time used per block between two readings. */
function perBlockCpu(before: (number | null)[], after: (number | null)[], blocks: number): number | null {
  const d: number[] = []
  before.forEach((b, i) => {
    const a = after[i]
    if (b !== null && a !== null) d.push((a - b) / blocks)
  })
  return d.length === before.length && d.length > 0 ? round(median(d), 1) : null
}

/** The warm-up blocks; returns how long the first one took, ms. */
export async function warmUp(net: BenchNetwork, settings: Settings, at: Progress, noteStall: NoteStall): Promise<number> {
  const tFirst = Date.now()
  let firstBlockMs = 0
  for (let k = 0; k < settings.warmupBlocks; k++) {
    at.height++
    await net.handOff(net.signedAggregate(at.slot++))
    noteStall('warm-up', at.height, (await net.waitStored(at.height, k === 0 ? 60_000 : 30_000)).laggards)
    if (k === 0) firstBlockMs = Date.now() - tFirst
  }
  return firstBlockMs
}

/**
 * Latency: one slot at a time, each handed off at the start of its own period (as the gateway
 * does), or as soon as the previous block is stored everywhere if that takes longer.
 */
export async function measureLatency(
  net: BenchNetwork,
  settings: Settings,
  at: Progress,
  noteStall: NoteStall,
  targetP50Ms: number | null
): Promise<LatencyFigures> {
  const samples: number[] = []
  const handoff: number[] = []
  const agreement: number[] = []
  const spread: number[] = []
  let viewChangeBlocks = 0
  const cpuBefore = peersCpu(net)
  let nextAt = Date.now()
  for (let k = 0; k < settings.latencyBlocks; k++) {
    at.height++
    const encoded = net.signedAggregate(at.slot++)
    if (nextAt > Date.now()) await sleep(nextAt - Date.now())
    const sentAt = Date.now()
    nextAt = sentAt + PERIOD_MS
    await net.handOff(encoded)
    const { views, laggards } = await net.waitStored(at.height, 30_000)
    if (laggards.length > 0) {
      // Not a latency sample: the block never reached every peer.
      noteStall('latency', at.height, laggards)
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
  const latencyCpu = perBlockCpu(cpuBefore, peersCpu(net), settings.latencyBlocks)
  const p50 = percentile(samples, 50)
  return {
    warmup: settings.warmupBlocks,
    blocks: samples.length,
    p50Ms: p50,
    p99Ms: percentile(samples, 99),
    minMs: Math.min(...samples),
    maxMs: Math.max(...samples),
    meanMs: round(samples.reduce((a, b) => a + b, 0) / samples.length, 1),
    handoffP50Ms: handoff.length > 0 ? round(median(handoff), 1) : null,
    agreementP50Ms: agreement.length > 0 ? round(median(agreement), 1) : null,
    spreadP50Ms: round(median(spread), 1),
    viewChangeBlocks,
    cpuMsPerBlockPerPeer: latencyCpu,
    samplesMs: samples,
    targetP50Ms,
    meetsTarget: targetP50Ms === null ? null : p50 <= targetP50Ms
  }
}

/** Throughput: keep `backlog` slots handed off ahead of the head; blocks counted by when the last peer stored them. */
export async function measureThroughput(
  net: BenchNetwork,
  settings: Settings,
  at: Progress,
  noteStall: NoteStall
): Promise<NonNullable<ConsensusSizeResult['throughput']>> {
  const m = net.m
  const firstTp = at.height + 1
  let sent = at.height
  const tpCpuBefore = peersCpu(net)
  const tStart = Date.now()
  const tEnd = tStart + settings.throughputSeconds * 1000
  // The head: the highest height seen, one peer asked per poll (round-robin).
  const heights = new Array<number>(m).fill(at.height)
  let ask = 0
  while (Date.now() < tEnd) {
    net.checkAlive()
    const j = (ask++ % m) + 1
    heights[j - 1] = await net.height(j).catch(() => heights[j - 1])
    const head = Math.max(...heights)
    while (sent < head + settings.backlog && Date.now() < tEnd) {
      sent++
      await net.handOff(net.signedAggregate(at.slot++))
    }
    await sleep(POLL_MS)
  }
  const tpCpuAfter = peersCpu(net)
  noteStall('throughput', sent, (await net.waitStored(sent, 60_000)).laggards)
  // When the last peer stored each height (a laggard's missing blocks do not count).
  const stored = new Map<number, number>()
  for (let j = 1; j <= m; j++) {
    for (const b of await net.blocks(j, firstTp, sent))
      stored.set(b.height, Math.max(stored.get(b.height) ?? 0, b.committedAtMs ?? Number.POSITIVE_INFINITY))
  }
  const inWindow = [...stored.values()].filter((t) => t >= tStart && t <= tEnd).length
  return {
    seconds: settings.throughputSeconds,
    backlog: settings.backlog,
    blocks: inWindow,
    blocksPerSecond: round(inWindow / settings.throughputSeconds, 2),
    cpuMsPerBlockPerPeer: perBlockCpu(tpCpuBefore, tpCpuAfter, Math.max(1, inWindow))
  }
}

function metricByLabel(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {}
  const re = new RegExp(`${label}="([^"]*)"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    const k = re.exec(line)?.[1] ?? '?'
    const v = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (v !== 0) out[k] = (out[k] ?? 0) + v // label sets are exported at 0 from the start
  }
  return out
}

/** Memory and signature work, from every peer's /metrics. */
export async function readMetrics(net: BenchNetwork): Promise<Pick<ConsensusSizeResult, 'memory' | 'verification' | 'anomalies'>> {
  const m = net.m
  const texts = await Promise.all(Array.from({ length: m }, (_, i) => net.metrics(i + 1)))
  const rss = texts.map((t) => round(sumMetric(t, 'process_resident_memory_bytes') / (1024 * 1024), 1))
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
  const rejected: Record<string, number> = {}
  for (const t of texts)
    for (const [k, v] of Object.entries(metricByLabel(t, 'bbnp_consensus_rejected_total', 'reason'))) rejected[k] = (rejected[k] ?? 0) + v
  return {
    memory: { perPeerMb: rss, medianMb: round(median(rss), 1), maxMb: Math.max(...rss) },
    verification: {
      peerBlocks,
      perBlock,
      batchRatio: round(perBlock.votesInBatches / Math.max(perBlock.aggregateChecks, 1e-9), 2),
      overallRatio: round((2 * (m - 1)) / Math.max(perBlock.aggregateChecks + perBlock.fallbackChecks, 1e-9), 2)
    },
    anomalies: { synced: sum('bbnp_blocks_synced_total'), viewChanges: sum('bbnp_view_changes_total'), rejected }
  }
}
