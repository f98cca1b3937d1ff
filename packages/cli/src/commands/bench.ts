/**
 * `bbnp bench`: the figures of DESIGN "Benchmarks", measured in one run on this machine, each
 * beside the paper's figure and the naive way as a ratio where one exists:
 *   1. aggregation (bench/aggregation.ts): meter report cost, gateway verify+aggregate with dropout
 *      recovery, a consensus peer's part, the trusted setup and start-up from dealt keys;
 *   2. verification (bench/verification.ts): batch vs one-by-one BLS checks of one height's votes;
 *   3. consensus (bench/consensus.ts): latency, throughput, memory of M real peer processes;
 *   4. scale (bench/consensus-scale.ts): M pure replicas in this process, CPU and messages per block.
 * A readable report on stdout, or one JSON document with --json; progress on stderr.
 */
import { cpus, loadavg, totalmem } from 'node:os'
import { UsageError } from '@bbnp/core'
import { parseFlags } from '../args.ts'
// Each part's module is loaded only when that part runs (or for --help): the consensus part pulls
// in the whole node runtime and libp2p, which `--only aggregation` does not need.
import type { AggregationBench } from '../bench/aggregation.ts'
import type { ConsensusBench, ConsensusSizeResult } from '../bench/consensus.ts'
import type { ScaleBench } from '../bench/consensus-scale.ts'
import { scaleText } from '../bench/scale-text.ts'
import type { VerificationBench } from '../bench/verification.ts'

export const PARTS = ['aggregation', 'verification', 'consensus', 'scale'] as const
export type Part = (typeof PARTS)[number]
const MAX_BENCH_CONSENSUS = 32

export const benchUsage = (defaults: {
  verification: readonly number[]
  consensus: readonly number[]
  scale: readonly number[]
  maxScale: number
}): string => `usage: bbnp bench [--json] [--quick] [--only aggregation|verification|consensus|scale] [--sizes 4,7,10]

Measures on this machine, in one run, each figure beside the paper's and the naive way's as a ratio:
  aggregation    a meter's cost per report (M = 4 and 10 shares) vs the paper's 1.72 ms; the
                 gateway's verify+aggregate of n = 1,000 and 10,000 reports with 0, 1 and 5 %
                 missing, dropout recovery included, vs 2(n+1)C_a + nC_HM (table V); a consensus
                 peer's part of the recovery; the trusted setup's dealt keys and each role's
                 start-up from them; the same work done the naive way (node:crypto per HMAC/HKDF)
  verification   one height's prepares and commits checked one by one vs as one BLS aggregate per
                 phase (paper V-D: 4T_p(M-1)M vs 4T_pM), M = ${defaults.verification.join(', ')}; the cost of one bad vote
  consensus      for each M: M real consensus processes (bin/bbnp start) on loopback, driven by this
                 process as the gateway: commit latency p50/p99, blocks per second, resident memory
                 per peer, signature work per block
  scale          for each M: M pure replicas in this process (no sockets, the same verification
                 code), this process as gateway and network: CPU per block and peer, messages per
                 block, and how both grow with M (batched vs one by one), M = ${defaults.scale.join(', ')}

flags:
  --only PART     run one part (default: all four)
  --sizes LIST    sizes M, comma-separated, for consensus (each 4..${MAX_BENCH_CONSENSUS}, default ${defaults.consensus.join(',')})
                  and scale (each 4..${defaults.maxScale}, default ${defaults.scale.join(',')})
  --quick         fewer runs and blocks, no n = 10,000 (about a minute for everything)
  --json          one JSON document on stdout instead of the report
  -h, --help      this text

Progress goes to stderr. The consensus part writes its processes' logs to a temp directory, names
it when something fails, and stops every process it started, also on Ctrl-C.`

const FLAGS = {
  json: { type: 'boolean' },
  quick: { type: 'boolean' },
  only: { type: 'string' },
  sizes: { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const

export function parseSizes(spec: string | undefined, defaults: readonly number[], max = MAX_BENCH_CONSENSUS): number[] {
  if (spec === undefined) return [...defaults]
  const parts = spec.split(',').map((s) => s.trim())
  const sizes: number[] = []
  for (const p of parts) {
    if (!/^\d+$/.test(p)) throw new UsageError('USAGE', `--sizes must be a comma-separated list of whole numbers, got "${spec}"`)
    const m = Number(p)
    if (m < 4 || m > max) throw new UsageError('USAGE', `--sizes: each M must be between 4 and ${max}, got ${m}`)
    if (sizes.includes(m)) throw new UsageError('USAGE', `--sizes names ${m} twice`)
    sizes.push(m)
  }
  return sizes
}

export interface BenchReport {
  command: string
  date: string
  machine: {
    cpuModel: string
    cores: number
    node: string
    platform: string
    arch: string
    memoryGiB: number
    loadAverageAtStart: number[]
  }
  quick: boolean
  parts: Part[]
  aggregation?: AggregationBench
  verification?: VerificationBench
  consensus?: ConsensusBench
  scale?: ScaleBench
  seconds: number
}

// ---------------------------------------------------------------- text report

function table(rows: (string | number)[][], indent = '  '): string {
  const cells = rows.map((r) => r.map(String))
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)))
  return cells
    .map(
      (r) =>
        indent +
        r
          .map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c])))
          .join('  ')
          .trimEnd()
    )
    .join('\n')
}

const n0 = (x: number) => x.toLocaleString('en-US')
const fx = (x: number | null | undefined, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d))
const times = (x: number) => `x${x >= 10 ? x.toFixed(0) : x.toFixed(1)}`

function aggregationText(a: AggregationBench): string[] {
  const out: string[] = []
  out.push(
    '1. Aggregation (paper VI-A, tables IV and V, with the dropout recovery of PROTOCOL 3.5; ratio = ours / paper, below 1 is faster)'
  )
  out.push(
    `  calibration: one SHA-256 block ${a.machine.sha256BlockMicros} us, one node:crypto createHmac ${a.machine.createHmacMicros} us`
  )
  out.push(
    table([
      ['meter, one report', 'bytes', 'ours', 'paper', 'ratio', 'naive way', 'naive / ours', 'target'],
      ...a.meter.map((mt) => [
        `M = ${mt.m} (f = ${mt.f})`,
        mt.reportBytes,
        `${fx(mt.reportMicros, 1)} us`,
        `${mt.paperMs} ms`,
        mt.ratioToPaper.toFixed(4),
        `${fx(mt.naive.reportMicros, 1)} us`,
        times(mt.naive.slowdown),
        `<= ${mt.targetMicros} us: ${mt.meetsTarget ? 'met' : 'NOT met'}`
      ])
    ])
  )
  const m0 = a.meter[0]
  out.push(
    `    paper: 3C_a + C_e + C_H + C_HM; ours: median of ${m0.runs} x ${m0.reportsPerRun} reports, ${m0.meanPartners} partners each, M + 1 PRF-derived scalars more than the paper's`
  )
  out.push('')
  out.push('  gateway, one slot: verify + aggregate the reports, then recovery (close, reveal answers, shares for every peer, B, decode)')
  const rows: (string | number)[][] = [
    [
      'n',
      'missing',
      'precompute',
      'verify+agg',
      'recovery',
      'total',
      'per report',
      'questions',
      'paper',
      'ratio',
      'naive way',
      'sum',
      'target'
    ]
  ]
  for (const g of a.gateway) {
    rows.push([
      n0(g.n),
      `${fx(g.missingRate * 100, 0)} % (${n0(g.missing)})`,
      `${fx(g.precomputeMs, 1)} ms`,
      `${fx(g.verifyAggregateMs, 1)} ms`,
      `${fx(g.recoveryMs, 1)} ms`,
      `${fx(g.totalMs, 1)} ms`,
      `${fx(g.perReportMicros, 2)} us`,
      `${g.revealQuestions} in ${g.revealRounds}`,
      `${fx(g.paperMs, 1)} ms`,
      g.ratioToPaper.toFixed(3),
      g.naive ? `${fx(g.naive.totalMs, 0)} ms (${times(g.naive.slowdown)})` : '',
      g.sumCorrect ? 'correct' : 'WRONG',
      g.targetMs !== undefined ? `<= ${g.targetMs} ms: ${g.meetsTarget ? 'met' : 'NOT met'}` : ''
    ])
  }
  out.push(table(rows, '    '))
  out.push(
    '    paper: 2(n+1)C_a + nC_HM for the n reports present; precompute (every k_mac and k_mask of the slot) runs before the slot ends'
  )
  const c = a.committee
  out.push('')
  out.push(
    `  consensus peer, one slot's part (N = ${n0(c.n)}, ${fx(c.missingRate * 100, 0)} % missing): partial sum ${fx(c.partialMs, 2)} ms ` +
      `(<= ${c.targetMs} ms: ${c.meetsTarget ? 'met' : 'NOT met'}), after the slot's ${n0(c.n)} pads precomputed in ${fx(c.prepareMs, 1)} ms`
  )
  const t = a.trustedSetup
  out.push(
    `  trusted setup (N = ${n0(t.n)}, M = ${t.m}, K = ${t.candidates}): secrets ${fx(t.secretsMs / 1000, 1)} s, dealing ${n0(t.dhResults)} derived keys ` +
      `${fx(t.dealMs / 1000, 1)} s (${t.perDhMs} ms each, fixed-base); dealt material ${n0(t.keyBytes.meter)} B per meter, ` +
      `${n0(t.keyBytes.gateway)} B for the gateway, ${n0(t.keyBytes.committee)} B per peer`
  )
  const u = a.startup
  out.push(
    `  start-up from dealt keys (N = ${n0(u.n)}): meter process hosting all ${n0(u.n)} meters ${fx(u.meterProcessMs / 1000, 2)} s, ` +
      `gateway ${fx(u.gatewayMs, 0)} ms, one peer ${fx(u.committeeMs, 0)} ms; by validated DH instead: ` +
      `${fx(u.dhPathMs.meterProcess / 1000, 0)} s, ${fx(u.dhPathMs.gateway / 1000, 1)} s, ${fx(u.dhPathMs.committee / 1000, 1)} s`
  )
  out.push(
    `  one meter's keys by validated DH: ${a.meter.map((mt) => `M = ${mt.m}: ${mt.dh.keys} keys in ${mt.dh.totalMs} ms`).join('; ')}`
  )
  for (const note of a.notes) out.push(`  - ${note}`)
  return out
}

function verificationText(v: VerificationBench): string[] {
  const out: string[] = []
  out.push('2. Verification (paper V-D, PROTOCOL 4.3): one node checks the M-1 prepares and M-1 commits of one height')
  out.push('   one by one: 2(M-1) verifications, 4T_p(M-1) per node (4T_p(M-1)M for all); batched: one aggregate per phase, 4T_p (4T_pM)')
  const rows: (string | number)[][] = [
    [
      'M',
      'one verify',
      'one by one',
      'batched',
      'ratio',
      'paper ratio',
      'all nodes (1-by-1 / batched)',
      'one bad vote, per phase',
      'replica as built'
    ]
  ]
  for (const r of v.rows) {
    rows.push([
      r.m,
      `${fx(r.singleVerifyMs, 2)} ms`,
      `${fx(r.oneByOne.ms, 1)} ms`,
      `${fx(r.batch.ms, 2)} ms`,
      times(r.ratio),
      times(r.paperRatio),
      `${fx(r.allNodes.oneByOneMs, 0)} / ${fx(r.allNodes.batchMs, 0)} ms`,
      `${fx(r.fallback.ms, 1)} ms (${r.fallback.checks} checks, ${times(r.fallback.ratioToOneByOne)} 1-by-1, ${times(r.fallback.ratioToBatch)} batched)${r.fallback.foundBad ? '' : ' BAD NOT FOUND'}`,
      `${fx(r.replica.totalMs, 1)} ms (${times(r.replica.ratio)})`
    ])
  }
  out.push(table(rows))
  out.push(
    '  "replica as built": per phase a batch of the 2f votes that complete the quorum, then one batch of the other M-1-2f after the grace period'
  )
  for (const note of v.notes) out.push(`  - ${note}`)
  return out
}

function target(r: ConsensusSizeResult): string {
  const l = r.latency
  if (!l || l.targetP50Ms === null) return '-'
  return `<= ${l.targetP50Ms} ms: ${l.meetsTarget ? 'met' : 'NOT met'}`
}

function consensusText(c: ConsensusBench, cores: number): string[] {
  const out: string[] = []
  const s = c.settings
  out.push('3. Consensus: M real consensus processes on loopback (bin/bbnp start --role consensus), this process as the gateway')
  out.push(
    `   no meter processes (the data side is part 1); ${s.periodMs} ms slots; latency over ${s.latencyBlocks} blocks after ${s.warmupBlocks} warm-up, ` +
      `throughput for ${s.throughputSeconds} s with ${s.backlog} slots queued; targets from the issue are reported, not asserted`
  )
  const ok = c.sizes.filter((r) => r.latency)
  if (ok.length > 0) {
    out.push(
      table([
        [
          'M',
          'p50',
          'p99',
          'min / max',
          'target (p50)',
          'hand-off',
          'agreement',
          'blocks/s',
          'CPU per block and peer',
          'memory/peer',
          'view changes',
          'load avg'
        ],
        ...ok.map((r) => {
          const l = r.latency as NonNullable<ConsensusSizeResult['latency']>
          return [
            r.m,
            `${l.p50Ms} ms`,
            `${l.p99Ms} ms`,
            `${l.minMs} / ${l.maxMs} ms`,
            target(r),
            `${fx(l.handoffP50Ms, 0)} ms`,
            `${fx(l.agreementP50Ms, 0)} ms`,
            r.throughput ? fx(r.throughput.blocksPerSecond, 1) : '-',
            `${fx(r.throughput?.cpuMsPerBlockPerPeer, 0)} / ${fx(l.cpuMsPerBlockPerPeer, 0)} ms`,
            r.memory ? `${fx(r.memory.medianMb, 0)} MB (max ${fx(r.memory.maxMb, 0)})` : '-',
            r.anomalies ? r.anomalies.viewChanges : '-',
            `${fx(r.loadAverage.start, 1)} -> ${fx(r.loadAverage.end, 1)}`
          ]
        })
      ])
    )
    out.push(`  hand-off: the primary has the aggregate (p50); agreement: from then to the last peer storing the block (p50)`)
    out.push(
      `  CPU per block and peer (user + system, median over peers): while blocks are queued / with one block per ${s.periodMs} ms slot (idle work included); ${cores} cores here`
    )
    out.push('')
    out.push('  signature work per block and peer (bbnp_signature_checks_total), batch vs one by one:')
    out.push(
      table(
        [
          [
            'M',
            'aggregate checks',
            'signatures in them',
            'ratio',
            'fallback',
            'other single checks',
            'cache hits',
            'all votes: 2(M-1) / checks made'
          ],
          ...ok
            .filter((r) => r.verification)
            .map((r) => {
              const v = r.verification as NonNullable<ConsensusSizeResult['verification']>
              return [
                r.m,
                fx(v.perBlock.aggregateChecks, 2),
                fx(v.perBlock.votesInBatches, 2),
                times(v.batchRatio),
                fx(v.perBlock.fallbackChecks, 2),
                fx(v.perBlock.singleChecks, 2),
                fx(v.perBlock.cacheHits, 2),
                `${2 * (r.m - 1)} / ${fx(v.perBlock.aggregateChecks + v.perBlock.fallbackChecks, 2)} = ${times(v.overallRatio)}`
              ]
            })
        ],
        '    '
      )
    )
    out.push(
      '    other single checks: the gateway aggregate, Theta and pre-prepares; batches also cover the draws of a height (one message); opinion vectors are checked in their own multi-set batches, outside these counters'
    )
    for (const r of ok) {
      const a = r.anomalies
      const extra: string[] = []
      if (a && a.synced > 0) extra.push(`${a.synced} blocks stored by catch-up`)
      if (a && Object.keys(a.rejected).length > 0)
        extra.push(
          `refused: ${Object.entries(a.rejected)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`
        )
      if (r.handoffFailures > 0) extra.push(`${r.handoffFailures} hand-offs failed`)
      for (const st of r.stalls)
        extra.push(
          `STALL: ${st.laggards.join(', ')} still without height ${st.height} (${st.phase}) ${s.stallMs / 1000} s after a quorum stored it`
        )
      out.push(
        `  M=${r.m}: start-up ${fx(r.startupMs / 1000, 1)} s, first block ${fx(r.firstBlockMs / 1000, 2)} s, ${r.theta.signed} Theta signed${extra.length > 0 ? `; ${extra.join('; ')}` : ''}`
      )
      if (r.latency) out.push(`    latency samples (ms): ${r.latency.samplesMs.join(' ')}`)
    }
  }
  for (const r of c.sizes.filter((x) => x.error)) {
    out.push(`  M=${r.m}: FAILED: ${r.error}`)
    if (r.logsDir) out.push(`    logs: ${r.logsDir}`)
  }
  for (const note of c.notes) out.push(`  - ${note}`)
  if (c.dir) out.push(`  files kept in ${c.dir}`)
  return out
}

export function reportText(r: BenchReport): string {
  const m = r.machine
  const out: string[] = []
  out.push(`BBNP benchmark, ${r.date}${r.quick ? ' (quick mode)' : ''}`)
  out.push(`command: ${r.command}`)
  out.push(
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform} ${m.arch}, Node ${m.node}; load average ${m.loadAverageAtStart.map((x) => x.toFixed(2)).join(' ')} at start`
  )
  if (m.loadAverageAtStart[0] > m.cores)
    out.push(`WARNING: the machine was already busy (load average above ${m.cores} cores); every figure is inflated`)
  const sections = [
    r.aggregation ? aggregationText(r.aggregation) : [],
    r.verification ? verificationText(r.verification) : [],
    r.consensus ? consensusText(r.consensus, m.cores) : [],
    r.scale ? scaleText(r.scale, table) : []
  ]
  for (const lines of sections.filter((l) => l.length > 0)) out.push('', ...lines)
  out.push('')
  out.push(`total ${fx(r.seconds, 0)} s`)
  return out.join('\n')
}

// ---------------------------------------------------------------- command

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, FLAGS)
  if (values.help) {
    const [verification, consensus, scale] = await Promise.all([
      import('../bench/verification.ts'),
      import('../bench/consensus.ts'),
      import('../bench/consensus-scale.ts')
    ])
    const defaults = {
      verification: verification.DEFAULT_VERIFICATION_SIZES,
      consensus: consensus.DEFAULT_CONSENSUS_SIZES,
      scale: scale.DEFAULT_SCALE_SIZES,
      maxScale: scale.MAX_SCALE
    }
    process.stdout.write(`${benchUsage(defaults)}\n`)
    return 0
  }
  let parts: Part[] = [...PARTS]
  if (values.only !== undefined) {
    if (!(PARTS as readonly string[]).includes(values.only))
      throw new UsageError('USAGE', `--only must be one of ${PARTS.join(', ')}, got "${values.only}"`)
    parts = [values.only as Part]
  }
  if (values.sizes !== undefined && !parts.includes('consensus') && !parts.includes('scale'))
    throw new UsageError('USAGE', '--sizes applies to the consensus and scale parts only')
  const consensusPart = parts.includes('consensus') ? await import('../bench/consensus.ts') : undefined
  const sizes = consensusPart ? parseSizes(values.sizes, consensusPart.DEFAULT_CONSENSUS_SIZES) : []
  const scalePart = parts.includes('scale') ? await import('../bench/consensus-scale.ts') : undefined
  const scaleSizes = scalePart ? parseSizes(values.sizes, scalePart.DEFAULT_SCALE_SIZES, scalePart.MAX_SCALE) : []
  const quick = values.quick === true
  const progress = (line: string) => process.stderr.write(`bench: ${line}\n`)
  const started = performance.now()
  const cpu = cpus()
  const report: BenchReport = {
    command: ['bbnp', 'bench', ...argv].join(' '),
    date: new Date().toISOString(),
    machine: {
      cpuModel: cpu[0]?.model.trim() ?? 'unknown',
      cores: cpu.length,
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
      loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2)))
    },
    quick,
    parts,
    seconds: 0
  }
  if (parts.includes('aggregation')) {
    progress('aggregation')
    const { benchAggregation } = await import('../bench/aggregation.ts')
    report.aggregation = await benchAggregation({ quick, log: progress })
  }
  if (parts.includes('verification')) {
    progress('verification')
    const { benchVerification } = await import('../bench/verification.ts')
    report.verification = await benchVerification({ quick, log: progress })
  }
  if (consensusPart) {
    progress(`consensus, M = ${sizes.join(', ')}`)
    report.consensus = await consensusPart.benchConsensus({ quick, sizes, log: progress })
  }
  if (scalePart) {
    progress(`scale, M = ${scaleSizes.join(', ')}`)
    report.scale = await scalePart.benchScale({ quick, sizes: scaleSizes, log: progress })
  }
  report.seconds = Number(((performance.now() - started) / 1000).toFixed(1))
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${reportText(report)}\n`)
  const failed = report.consensus?.sizes.filter((r) => r.error) ?? []
  if (failed.length > 0) {
    process.stderr.write(
      `bbnp bench: the consensus run failed for M = ${failed.map((r) => r.m).join(', ')}; logs in ${report.consensus?.dir}\n`
    )
    return 1
  }
  return 0
}
