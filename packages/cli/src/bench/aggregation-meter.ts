/**
 * The aggregation bench's calibration and its meter part: what one SHA-256 compression and one
 * node:crypto HMAC cost right now, and one meter's report in steady state with M = 4 and M = 10
 * shares, vs the paper and vs the same report made the naive way (ReferenceMeter).
 */
import { createHmac } from 'node:crypto'
import { cpus } from 'node:os'
import { SeededRng } from '@bbnp/core'
import {
  candidateIndices,
  DEFAULT_AGGREGATION_PARAMS,
  deriveMeterKeys,
  faultTolerance,
  generateNetworkSecrets,
  MeterCrypto,
  type MeterKeyOptions,
  type NetworkSecrets,
  ReferenceMeter,
  reportBytes
} from '@bbnp/aggregation'
import { sha256 } from '@bbnp/crypto'
import type { AggregationBench } from './aggregation.ts'
import { paperMeterMs, TARGETS } from './aggregation-paper.ts'
import { median, round, tick } from './measure.ts'

type MeterRow = AggregationBench['meter'][number]

function timeMicros(iterations: number, f: () => void): number {
  for (let k = 0; k < Math.min(1000, iterations); k++) f()
  const samples: number[] = []
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now()
    for (let k = 0; k < iterations; k++) f()
    samples.push(((performance.now() - t0) * 1000) / iterations)
  }
  return median(samples)
}

/** The machine, and what one SHA-256 compression and one node:crypto HMAC cost right now. */
export function calibrate(quick: boolean): AggregationBench['machine'] {
  const empty = new Uint8Array(0)
  const msg44 = new Uint8Array(44)
  const key32 = new Uint8Array(32).fill(7)
  const sha256BlockMicros = timeMicros(quick ? 5000 : 20000, () => sha256(empty))
  const createHmacMicros = timeMicros(quick ? 300 : 1000, () => createHmac('sha256', key32).update(msg44).digest())
  const cpu = cpus()
  return {
    node: process.version,
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    sha256BlockMicros: round(sha256BlockMicros, 3),
    createHmacMicros: round(createHmacMicros, 3)
  }
}

export function meterKeyOptions(secrets: NetworkSecrets, i: number): MeterKeyOptions {
  const n = secrets.meters.length
  return {
    index: i,
    meterCount: n,
    secret: secrets.meters[i - 1].secret,
    gatewayPublicKey: secrets.gateway.publicKey,
    candidatePublicKeys: new Map(
      candidateIndices(i, n, DEFAULT_AGGREGATION_PARAMS.candidates).map((j) => [j, secrets.meters[j - 1].publicKey])
    ),
    committeePublicKeys: secrets.consensus.map((c) => c.sharePublicKey)
  }
}

/** Household-sized readings in Wh, some negative (export), from a seeded stream. */
export function readingsFor(rng: SeededRng, n: number): bigint[] {
  return Array.from({ length: n }, () => BigInt(rng.int(3000) - 300))
}

/**
 * One report with M = 4 and M = 10 shares; `rng` is the readings' stream, which the gateway part
 * goes on drawing from. Also returns the lower of the two measured costs of one validated DH.
 */
export async function benchMeters(
  quick: boolean,
  runs: number,
  rng: SeededRng,
  log: (line: string) => void
): Promise<{ rows: MeterRow[]; dhPerKeyMs: number }> {
  const rows: MeterRow[] = []
  const reportsPerRun = quick ? 500 : 2000
  const readings = readingsFor(rng, reportsPerRun)
  let dhPerKeyMs = Number.POSITIVE_INFINITY
  for (const m of [4, 10]) {
    const secrets = generateNetworkSecrets({ meters: 1000, consensus: m, rng: new SeededRng(`bench-aggregation-meter-${m}`) })
    const options = meterKeyOptions(secrets, 500)
    // One untimed derivation first: noble builds its window tables on first use.
    if (m === 4) deriveMeterKeys(meterKeyOptions(secrets, 499))
    const d0 = performance.now()
    const realKeys = deriveMeterKeys(options)
    const dhMs = performance.now() - d0
    const dhKeys = 1 + realKeys.pairSeeds.length + m
    // The lower of the two measurements: the other one was slowed by something else on the machine.
    dhPerKeyMs = Math.min(dhPerKeyMs, dhMs / dhKeys)
    const mc = new MeterCrypto({ keys: realKeys, consensusCount: m })
    const ours = timeReports(mc, readings, runs, reportsPerRun)
    await tick()
    const naiveMeter = new ReferenceMeter(options)
    const identicalBytes = Buffer.compare(naiveMeter.report(77, 1234n), mc.report(77, 1234n)) === 0
    const naiveMicros = timeNaiveReports(naiveMeter, readings, runs, quick ? 30 : 100)
    const reportMicros = median(ours.perReport)
    rows.push({
      m,
      f: faultTolerance(m),
      reportBytes: reportBytes(m),
      reportMicros: round(reportMicros, 2),
      reportMicrosMin: round(Math.min(...ours.perReport), 2),
      runs,
      reportsPerRun,
      meanPartners: round(ours.partners / (runs * 50), 2),
      paperMs: round(paperMeterMs(), 4),
      ratioToPaper: round(reportMicros / 1000 / paperMeterMs(), 4),
      targetMicros: TARGETS.meterReportMicros,
      meetsTarget: reportMicros <= TARGETS.meterReportMicros,
      naive: { reportMicros: round(naiveMicros, 1), slowdown: round(naiveMicros / reportMicros, 1), identicalBytes },
      dh: { keys: dhKeys, totalMs: round(dhMs, 1), perKeyMs: round(dhMs / dhKeys, 3) }
    })
    log(
      `meter M=${m}: ${round(reportMicros, 1)} us per report, naive ${round(naiveMicros, 1)} us, ${identicalBytes ? 'same bytes' : 'DIFFERENT BYTES'}`
    )
    await tick()
  }
  return { rows, dhPerKeyMs }
}

/** Each run's mean cost of one report (us), after a warm-up, and the partners counted over 50 slots a run. */
function timeReports(mc: MeterCrypto, readings: bigint[], runs: number, reportsPerRun: number): { perReport: number[]; partners: number } {
  for (let k = 0; k < 500; k++) mc.report(k, readings[k % reportsPerRun])
  const perReport: number[] = []
  let partners = 0
  for (let r = 0; r < runs; r++) {
    const base = 1_000_000 * (r + 1)
    const t0 = performance.now()
    for (let k = 0; k < reportsPerRun; k++) mc.report(base + k, readings[k])
    perReport.push(((performance.now() - t0) * 1000) / reportsPerRun)
    for (let k = 0; k < 50; k++) partners += mc.partners(base + k).length
  }
  return { perReport, partners }
}

/** The median over runs of the naive meter's cost of one report, us. */
function timeNaiveReports(naiveMeter: ReferenceMeter, readings: bigint[], runs: number, naiveCount: number): number {
  for (let k = 0; k < 10; k++) naiveMeter.report(k, readings[k])
  const naivePer: number[] = []
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now()
    for (let k = 0; k < naiveCount; k++) naiveMeter.report(5_000_000 + r * naiveCount + k, readings[k])
    naivePer.push(((performance.now() - t0) * 1000) / naiveCount)
  }
  return median(naivePer)
}
