/**
 * `bbnp bench`: the figures of DESIGN "Benchmarks", measured in one run on this machine, each
 * beside the paper's figure and the naive way as a ratio where one exists:
 *   1. aggregation (bench-aggregation.ts): meter report cost, gateway verify+aggregate, one-time DH;
 *   2. verification (bench-verification.ts): batch vs one-by-one BLS checks of one height's votes;
 *   3. consensus (bench-consensus.ts): latency, throughput, memory of M real peer processes.
 * A readable report on stdout, or one JSON document with --json; progress on stderr.
 */
import { cpus, loadavg, totalmem } from 'node:os'
import { UsageError } from '@bbnp/core'
import { parseFlags } from '../args.ts'
import { type AggregationBench, benchAggregation } from '../bench-aggregation.ts'
import { type ConsensusBench, type ConsensusSizeResult, DEFAULT_CONSENSUS_SIZES, benchConsensus } from '../bench-consensus.ts'
import { benchVerification, DEFAULT_VERIFICATION_SIZES, type VerificationBench } from '../bench-verification.ts'

export const PARTS = ['aggregation', 'verification', 'consensus'] as const
export type Part = (typeof PARTS)[number]
const MAX_BENCH_CONSENSUS = 32

export const BENCH_USAGE = `usage: bbnp bench [--json] [--quick] [--only aggregation|verification|consensus] [--sizes 4,7,10]

Measures on this machine, in one run, each figure beside the paper's and the naive way's as a ratio:
  aggregation    a meter's cost per report vs the paper's 1.72 ms; the gateway's verify+aggregate
                 of n = 1,000 and 10,000 reports vs 2(n+1)C_a + nC_HM (table V); the one-time DH;
                 the same work done the naive way (node:crypto per HMAC/HKDF)
  verification   one height's prepares and commits checked one by one vs as one BLS aggregate per
                 phase (paper V-D: 4T_p(M-1)M vs 4T_pM), M = ${DEFAULT_VERIFICATION_SIZES.join(', ')}; the cost of one bad vote
  consensus      for each M: M real consensus processes (bin/bbnp start) on loopback, driven by this
                 process as the gateway: commit latency p50/p99, blocks per second, resident memory
                 per peer, signature work per block

flags:
  --only PART     run one part (default: all three)
  --sizes LIST    consensus sizes M, comma-separated, each 4..${MAX_BENCH_CONSENSUS} (default ${DEFAULT_CONSENSUS_SIZES.join(',')})
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

export function parseSizes(spec: string | undefined): number[] {
  if (spec === undefined) return [...DEFAULT_CONSENSUS_SIZES]
  const parts = spec.split(',').map((s) => s.trim())
  const sizes: number[] = []
  for (const p of parts) {
    if (!/^\d+$/.test(p)) throw new UsageError('USAGE', `--sizes must be a comma-separated list of whole numbers, got "${spec}"`)
    const m = Number(p)
    if (m < 4 || m > MAX_BENCH_CONSENSUS)
      throw new UsageError('USAGE', `--sizes: each M must be between 4 and ${MAX_BENCH_CONSENSUS}, got ${m}`)
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
  const mt = a.meter
  out.push('1. Aggregation (paper VI-A, tables IV and V; ratio = ours / paper, below 1 is faster)')
  out.push(
    `  calibration: one SHA-256 block ${a.machine.sha256BlockMicros} us, one node:crypto createHmac ${a.machine.createHmacMicros} us`
  )
  out.push(
    table([
      ['', 'ours', 'paper', 'ratio', 'naive way', 'naive / ours', 'target'],
      [
        'meter, one report',
        `${fx(mt.reportMicros, 1)} us`,
        `${mt.paperMs} ms`,
        mt.ratioToPaper.toFixed(4),
        `${fx(mt.naive.reportMicros, 1)} us`,
        times(mt.naive.slowdown),
        `<= ${mt.targetMicros} us: ${mt.meetsTarget ? 'met' : 'NOT met'}`
      ]
    ])
  )
  out.push(
    `    paper: 3C_a + C_e + C_H + C_HM; ours: median of ${mt.runs} x ${mt.reportsPerRun} reports, ${mt.meanPartners} partners each, every DH cached`
  )
  out.push('')
  out.push('  gateway, verify + aggregate one slot of n reports (paper: 2(n+1)C_a + nC_HM)')
  const rows: (string | number)[][] = [
    [
      'n',
      'precompute',
      'verify+agg',
      'per report',
      'paper',
      'ratio',
      'ratio incl. precompute',
      'naive way',
      'naive / ours',
      'sum',
      'target'
    ]
  ]
  for (const g of a.gateway) {
    rows.push([
      n0(g.n),
      `${fx(g.precomputeMs, 2)} ms`,
      `${fx(g.verifyAggregateMs, 2)} ms`,
      `${fx(g.verifyAggregatePerReportMicros, 2)} us`,
      `${fx(g.paperMs, 2)} ms`,
      g.ratioVerifyAggregate.toFixed(3),
      g.ratioTotal.toFixed(3),
      `${fx(g.naive.totalMs, 1)} ms`,
      times(g.naive.slowdown),
      g.sumCorrect ? 'correct' : 'WRONG',
      g.targetMs !== undefined ? `<= ${g.targetMs} ms: ${g.meetsTarget ? 'met' : 'NOT met'}` : ''
    ])
  }
  out.push(table(rows, '    '))
  out.push('')
  const setup = a.gateway.find((g) => g.setupMs !== null)
  out.push(
    `  one-time DH: meter ${a.dh.meterKeys} keys in ${a.dh.meterSetupMs} ms (${a.dh.meterPerKeyMs} ms each); gateway ${a.dh.gatewayPerKeyMs} ms per meter` +
      (setup ? ` (${n0(setup.n)} meters: ${fx((setup.setupMs ?? 0) / 1000, 1)} s, once per process)` : '')
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
    r.consensus ? consensusText(r.consensus, m.cores) : []
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
    process.stdout.write(`${BENCH_USAGE}\n`)
    return 0
  }
  let parts: Part[] = [...PARTS]
  if (values.only !== undefined) {
    if (!(PARTS as readonly string[]).includes(values.only))
      throw new UsageError('USAGE', `--only must be one of ${PARTS.join(', ')}, got "${values.only}"`)
    parts = [values.only as Part]
  }
  if (values.sizes !== undefined && !parts.includes('consensus'))
    throw new UsageError('USAGE', '--sizes applies to the consensus part only')
  const sizes = parseSizes(values.sizes)
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
    report.aggregation = await benchAggregation({ quick, log: progress })
  }
  if (parts.includes('verification')) {
    progress('verification')
    report.verification = await benchVerification({ quick, log: progress })
  }
  if (parts.includes('consensus')) {
    progress(`consensus, M = ${sizes.join(', ')}`)
    report.consensus = await benchConsensus({ quick, sizes, log: progress })
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
