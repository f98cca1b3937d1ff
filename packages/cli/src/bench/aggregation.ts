/**
 * `bbnp bench`, aggregation part (DESIGN "Benchmarks"): the costs of paper section VI-A, table V,
 * for the dropout-tolerant scheme of PROTOCOL 3.5, measured on this machine, each next to the
 * paper's figure and the naive way as a ratio from the same run.
 *
 * - Meter: one report in steady state (keys dealt, nothing but hashes and a few bigint steps),
 *   with M = 4 and M = 10 shares, vs the paper's 3C_a + C_e + C_H + C_HM, and vs the same report
 *   made the naive way (the node:crypto reference implementation, one createHmac / hkdfSync per
 *   HMAC / HKDF).
 * - Gateway: verify and aggregate n = 1,000 and 10,000 reports (made beforehand) with 0 %, 1 % and
 *   5 % of the meters missing, recovery included: close, the reveal answers (computed by the
 *   benchmark's meters beforehand), the packed shares for every peer, the robust recovery of B
 *   from the peers' partial sums (computed beforehand) and the decode. Network round trips are
 *   not in it. The per-slot key precomputation is timed apart. vs the paper's 2(n+1)C_a + nC_HM,
 *   and vs the naive gateway (node:crypto per tag and key, bigint sums) with nobody missing.
 * - Committee: one consensus peer's part of a slot's recovery at N = 10,000, 1 % missing (the check
 *   of every share's tag and the partial sum), with the per-slot pads and tag keys precomputed
 *   (timed apart).
 * - Trusted setup: the TA's precomputation of every derived key for N = 10,000, M = 4, K = 8
 *   (fixed-base multiplications by blst), and the size of each key file's dealt material.
 * - Start-up: each role's crypto state from its dealt keys (decode + construction) for 10,000
 *   meters, vs the Diffie-Hellman each would otherwise do (per-key cost measured on real,
 *   validated DH, times the number of keys).
 *
 * Secrets come from a SeededRng. Every decoded sum is checked against the sum of the readings.
 * Returns plain data; printing is the caller's job. The parts: aggregation-meter.ts (calibration,
 * meter), aggregation-setup.ts (trusted setup, start-up), aggregation-gateway.ts (gateway, committee).
 */
import { SeededRng } from '@bbnp/core'
import { benchGateway } from './aggregation-gateway.ts'
import { benchMeters, calibrate } from './aggregation-meter.ts'
import { benchStartup, benchTrustedSetup } from './aggregation-setup.ts'
import { round } from './measure.ts'

export { MISSING_RATES, PAPER_COSTS_MS, paperGatewayMs, paperMeterMs, TARGETS } from './aggregation-paper.ts'

export interface AggregationBench {
  quick: boolean
  machine: {
    node: string
    cpus: number
    cpuModel: string
    /** One SHA-256 of an empty message (one compression), microseconds: the unit everything here is made of. */
    sha256BlockMicros: number
    /** One node:crypto createHmac + update + digest of 44 bytes, microseconds. */
    createHmacMicros: number
  }
  meter: Array<{
    /** M, the number of consensus peers (shares per report) */
    m: number
    f: number
    reportBytes: number
    /** Median over runs of the mean cost of one report, microseconds. */
    reportMicros: number
    reportMicrosMin: number
    runs: number
    reportsPerRun: number
    /** Mean number of partners per report in the measured runs (2 ring neighbours + extras). */
    meanPartners: number
    paperMs: number
    /** ours / paper */
    ratioToPaper: number
    targetMicros: number
    meetsTarget: boolean
    naive: { reportMicros: number; slowdown: number; identicalBytes: boolean }
    /** This meter's keys by real, validated DH instead of dealt: 1 + K + M keys. */
    dh: { keys: number; totalMs: number; perKeyMs: number }
  }>
  gateway: Array<{
    n: number
    m: number
    missingRate: number
    /** meters missing per slot (the same count every run) */
    missing: number
    /** Medians over runs. */
    precomputeMs: number
    /** checking and summing the reports alone */
    verifyAggregateMs: number
    /** close, reveal answers, packed shares for every peer, recovery of B, decode */
    recoveryMs: number
    /** verify + aggregate + recovery: what the target is about */
    totalMs: number
    totalMsMin: number
    perReportMicros: number
    /** reveal questions and rounds per slot */
    revealQuestions: number
    revealRounds: number
    runs: number
    sumCorrect: boolean
    paperMs: number
    /** ours (total) / paper */
    ratioToPaper: number
    targetMs?: number
    meetsTarget?: boolean
    naive?: { totalMs: number; perReportMicros: number; slowdown: number }
  }>
  committee: {
    n: number
    m: number
    missingRate: number
    /** the N pads of a slot, off the critical path */
    prepareMs: number
    /** z_u for the slot's set, pads prepared */
    partialMs: number
    partialMsMin: number
    runs: number
    targetMs: number
    meetsTarget: boolean
  }
  trustedSetup: {
    n: number
    m: number
    candidates: number
    /** s_i, S_i for every meter and the other keys */
    secretsMs: number
    /** dealKeys: every derived key of every entity */
    dealMs: number
    dhResults: number
    perDhMs: number
    /** encoded dealt material (bytes; hex in a JSON key file is twice this) */
    keyBytes: { meter: number; gateway: number; committee: number }
  }
  startup: {
    n: number
    m: number
    /** decode + construct N MeterCrypto (a meter process hosting N meters) */
    meterProcessMs: number
    /** decode + construct the gateway's state */
    gatewayMs: number
    /** decode + construct one consensus peer's committee state */
    committeeMs: number
    /** The same state by real, validated DH (keys x measured cost per key), estimated. */
    dhPathMs: { meterProcess: number; gateway: number; committee: number }
  }
  notes: string[]
  seconds: number
}

export interface BenchOptions {
  quick?: boolean
  /** Progress lines (the full run takes one to two minutes, a third of it the trusted setup). */
  log?: (line: string) => void
}

export async function benchAggregation(opts: BenchOptions = {}): Promise<AggregationBench> {
  const quick = opts.quick === true
  const log = opts.log ?? (() => {})
  const started = performance.now()
  const runs = quick ? 3 : 7
  const bigN = quick ? 1000 : 10000
  const sizes = quick ? [1000] : [1000, 10000]

  const machine = calibrate(quick)
  log(`calibration: sha256 block ${machine.sha256BlockMicros} us, createHmac ${machine.createHmacMicros} us`)
  // One stream of readings for the meter part and, after it, the gateway part.
  const rng = new SeededRng('bench-aggregation-readings')
  const meter = await benchMeters(quick, runs, rng, log)

  // Trusted setup and start-up at N = 10,000 (quick: 1,000), M = 4, K = 8.
  const setup = await benchTrustedSetup(bigN, 4, log)
  const startup = await benchStartup(setup.secrets, setup.encoded, meter.dhPerKeyMs, log)

  const gateway: AggregationBench['gateway'] = []
  let committee: AggregationBench['committee'] | undefined
  for (const n of sizes) {
    const part = await benchGateway(n, startup.network, { runs, bigN, rng, log })
    gateway.push(...part.rows)
    committee = part.committee ?? committee
  }
  if (!committee) throw new Error('bench: no committee figure')

  return {
    quick,
    machine,
    meter: meter.rows,
    gateway,
    committee,
    trustedSetup: setup.figures,
    startup: startup.figures,
    notes: notes(quick, meter.rows),
    seconds: round((performance.now() - started) / 1000, 1)
  }
}

function notes(quick: boolean, meter: AggregationBench['meter']): string[] {
  const notes = [
    'ratios are ours / paper (below 1 is faster than the paper); the paper measured on a 3.0 GHz Pentium IV with MIRACL/JPBC, and its scheme has no dropout recovery',
    "the paper's meter cost counts one exponentiation C_e per report; here every Diffie-Hellman result is dealt by the trusted authority (or derived once), and that one-time cost is reported apart",
    'medians over runs; timings on a shared virtual machine vary by up to 2x from minute to minute, so compare with sha256BlockMicros from the same run',
    'gateway: the reveal answers and the peers’ partial sums are computed beforehand by the benchmark’s meters and peers (network round trips excluded); every run checks the decoded sum against the sum of the present meters’ readings',
    'the naive gateway (node:crypto per tag and key, bigint sums) is run with nobody missing only; its keys are the dealt ones',
    'start-up by DH is an estimate: measured cost of one validated DH times the number of keys each role would derive'
  ]
  if (quick) notes.push('quick mode: N = 1,000 instead of 10,000 everywhere, fewer runs')
  if (meter.some((x) => !x.naive.identicalBytes)) notes.push('WARNING: the naive reference produced different bytes from MeterCrypto')
  return notes
}
