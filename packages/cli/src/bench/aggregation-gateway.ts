/**
 * The aggregation bench's gateway and committee parts: verify and aggregate n reports (made
 * beforehand) with a share of the meters missing, recovery included: close, the reveal answers
 * (computed by the benchmark's meters beforehand), the packed shares for every peer, the robust
 * recovery of B from the peers' partial sums (computed beforehand) and the decode; network round
 * trips are not in it, the per-slot key precomputation is timed apart. Beside it, one consensus
 * peer's part of a slot's recovery, and the naive gateway with nobody missing. Every decoded sum
 * is checked against the sum of the readings.
 */
import { timingSafeEqual } from 'node:crypto'
import { bytesToBigInt, SeededRng } from '@bbnp/core'
import {
  CommitteeCrypto,
  dealKeys,
  GatewayCrypto,
  generateNetworkSecrets,
  MeterCrypto,
  type NetworkSecrets,
  type PartialValue,
  recoverSelfMaskSum,
  referenceSlotKeys,
  referenceTag,
  reportBytes,
  type SharedSecretFn,
  sharedSecretFromKnownKeys
} from '@bbnp/aggregation'
import { modR, scalarToSigned } from '@bbnp/crypto'
import type { AggregationBench } from './aggregation.ts'
import { readingsFor } from './aggregation-meter.ts'
import { MISSING_RATES, paperGatewayMs, TARGETS } from './aggregation-paper.ts'
import type { CryptoNetwork } from './aggregation-setup.ts'
import { median, round, tick } from './measure.ts'

type GatewayRow = AggregationBench['gateway'][number]
type CommitteeRow = AggregationBench['committee']

/** A measured slot's reports, what they sum to, and the B its recovery found. */
interface MeasuredSlot {
  slot: number
  reports: Uint8Array[]
  expected: bigint
  selfMaskSum: bigint
}

/** A slot with everything the gateway will be handed computed beforehand (a dry run). */
interface SlotInput {
  slot: number
  reports: Uint8Array[]
  expected: bigint
  answers: Uint8Array[][]
  partials: PartialValue[]
}

export interface GatewayContext {
  runs: number
  /** The largest N: its network and its 1 % row give the committee figure. */
  bigN: number
  rng: SeededRng
  log: (line: string) => void
}

/**
 * Every gateway row for `n` meters: on `bigNetwork` when `n` is the largest N, else on a network of
 * its own; and the committee figure, which only the largest N with 1 % missing gives.
 */
export async function benchGateway(
  n: number,
  bigNetwork: CryptoNetwork,
  ctx: GatewayContext
): Promise<{ rows: GatewayRow[]; committee: CommitteeRow | undefined }> {
  // The largest size uses the network of the trusted-setup and start-up figures; a smaller one gets its own.
  const net = n === ctx.bigN ? bigNetwork : smallNetwork(n, bigNetwork.secrets.consensus.length)
  const rows: GatewayRow[] = []
  let committee: CommitteeRow | undefined
  for (const rate of MISSING_RATES) {
    const r = await benchRate(net, n, rate, ctx)
    rows.push(r.row)
    committee = r.committee ?? committee
  }
  return { rows, committee }
}

function smallNetwork(n: number, m: number): CryptoNetwork {
  const secrets = generateNetworkSecrets({ meters: n, consensus: m, rng: new SeededRng(`bench-aggregation-${n}`) })
  const d = dealKeys(secrets)
  return {
    secrets,
    meters: d.meters.map((k) => new MeterCrypto({ keys: k })),
    gw: new GatewayCrypto({ keys: d.gateway, consensusCount: m }),
    peers: d.committee.map((k) => new CommitteeCrypto({ keys: k }))
  }
}

/** One row: `runs` measured slots after a warm-up one, with `rate` of the meters missing. */
async function benchRate(
  net: CryptoNetwork,
  n: number,
  rate: number,
  ctx: GatewayContext
): Promise<{ row: GatewayRow; committee: CommitteeRow | undefined }> {
  const { runs, log } = ctx
  const missingCount = Math.round(n * rate)
  const times = { pre: [] as number[], verify: [] as number[], recovery: [] as number[], total: [] as number[] }
  // One consensus peer's part, at the largest N with 1 % missing.
  const peerTimes = n === ctx.bigN && rate === 0.01 ? { prepare: [] as number[], partial: [] as number[] } : null
  let sumCorrect = true
  let questions = 0
  let rounds = 0
  let last: MeasuredSlot | undefined
  for (let r = 0; r < runs + 1; r++) {
    const slot = 7000 + 100 * Math.round(rate * 100) + r + n
    const input = await prepareSlot(net, slot, missingCount, ctx.rng, r > 0 ? peerTimes : null)
    const run = measureSlot(net, input)
    if (!run.correct) sumCorrect = false
    if (run.selfMaskSum !== null) last = { slot, reports: input.reports, expected: input.expected, selfMaskSum: run.selfMaskSum }
    if (r === 0) continue // warm-up
    questions = input.answers.reduce((acc, batch) => acc + batch.length, 0)
    rounds = input.answers.length
    times.pre.push(run.preMs)
    times.verify.push(run.verifyMs)
    times.recovery.push(run.recoveryMs)
    times.total.push(run.totalMs)
  }
  const totalMs = median(times.total)
  const present = n - missingCount
  const paperMs = paperGatewayMs(present)
  const row: GatewayRow = {
    n,
    m: net.secrets.consensus.length,
    missingRate: rate,
    missing: missingCount,
    precomputeMs: round(median(times.pre), 2),
    verifyAggregateMs: round(median(times.verify), 2),
    recoveryMs: round(median(times.recovery), 2),
    totalMs: round(totalMs, 2),
    totalMsMin: round(Math.min(...times.total), 2),
    perReportMicros: round((totalMs * 1000) / present, 2),
    revealQuestions: questions,
    revealRounds: rounds,
    runs,
    sumCorrect,
    paperMs: round(paperMs, 3),
    ratioToPaper: round(totalMs / paperMs, 3)
  }
  if (n === 10000 && rate === 0.01) {
    row.targetMs = TARGETS.gatewayMsAt10k
    row.meetsTarget = totalMs <= TARGETS.gatewayMsAt10k
  }
  if (rate === 0 && last) {
    await tick()
    const naive = naiveGateway(net.secrets, last)
    if (!naive.sumCorrect) sumCorrect = false
    row.sumCorrect = sumCorrect
    row.naive = { totalMs: round(naive.ms, 1), perReportMicros: round((naive.ms * 1000) / n, 1), slowdown: round(naive.ms / totalMs, 1) }
  }
  log(
    `gateway n=${n}, ${rate * 100} % missing: verify+aggregate ${row.verifyAggregateMs} ms, recovery ${row.recoveryMs} ms (${questions} questions, ${rounds} rounds), sum ${sumCorrect ? 'correct' : 'WRONG'}`
  )
  await tick()
  return {
    row,
    committee: peerTimes && peerTimes.partial.length > 0 ? committeeRow(n, net.secrets.consensus.length, rate, peerTimes) : undefined
  }
}

function committeeRow(n: number, m: number, rate: number, t: { prepare: number[]; partial: number[] }): CommitteeRow {
  const partialMs = median(t.partial)
  return {
    n,
    m,
    missingRate: rate,
    prepareMs: round(median(t.prepare), 2),
    partialMs: round(partialMs, 2),
    partialMsMin: round(Math.min(...t.partial), 2),
    runs: t.partial.length,
    targetMs: TARGETS.committeePartialMsAt10k,
    meetsTarget: partialMs <= TARGETS.committeePartialMsAt10k
  }
}

/**
 * The reports of one slot with `missingCount` meters missing, and a dry run for the questions,
 * the meters' answers and the peers' partial sums, all beforehand. Peer 1's pads and partial sum
 * are timed into `peerTimes` when given.
 */
async function prepareSlot(
  net: CryptoNetwork,
  slot: number,
  missingCount: number,
  rng: SeededRng,
  peerTimes: { prepare: number[]; partial: number[] } | null
): Promise<SlotInput> {
  const { meters: ms, gw, peers } = net
  const n = ms.length
  const missing = pickMissing(rng, n, missingCount)
  const slotReadings = readingsFor(rng, n)
  let expected = 0n
  const reports: Uint8Array[] = []
  for (const meter of ms) {
    if (missing.has(meter.index)) continue
    reports.push(meter.report(slot, slotReadings[meter.index - 1]))
    expected += slotReadings[meter.index - 1]
  }
  const dry = gw.openSlot(slot)
  for (const rep of reports) dry.accept(rep)
  const answers: Uint8Array[][] = []
  let step = dry.close()
  while (step.stage === 'reveal') {
    const batch = step.queries.map((q) => ms[q.meterIndex - 1].reveal(slot, q.missing))
    for (const b of batch) dry.acceptReveal(b)
    answers.push(batch)
    step = dry.endRevealRound()
  }
  if (step.stage !== 'endorse') throw new Error(`bench: slot ${slot} did not reach a final set`)
  const partials: PartialValue[] = []
  for (const c of peers) {
    const p0 = performance.now()
    const pads = c.prepareSlot(slot)
    const p1 = performance.now()
    partials.push({ peer: c.peer, value: c.partial(pads, step.present, dry.sharesFor(c.peer)) })
    const p2 = performance.now()
    if (c.peer === 1 && peerTimes) {
      peerTimes.prepare.push(p1 - p0)
      peerTimes.partial.push(p2 - p1)
    }
  }
  await tick()
  return { slot, reports, expected, answers, partials }
}

/** The measured run: what the gateway itself does for the slot, in ms per stage. */
function measureSlot(
  net: CryptoNetwork,
  input: SlotInput
): { preMs: number; verifyMs: number; recoveryMs: number; totalMs: number; correct: boolean; selfMaskSum: bigint | null } {
  const { gw, peers } = net
  const { slot, reports, answers, partials } = input
  const a = performance.now()
  const keys = gw.prepareSlot(slot)
  const b = performance.now()
  const agg = gw.openSlot(keys)
  for (const rep of reports) agg.accept(rep)
  const c = performance.now()
  let live = agg.close()
  for (const batch of answers) {
    if (live.stage !== 'reveal') break
    for (const ans of batch) agg.acceptReveal(ans)
    live = agg.endRevealRound()
  }
  if (live.stage !== 'endorse') throw new Error(`bench: slot ${slot} did not reach a final set`)
  for (const p of peers) agg.sharesFor(p.peer)
  const rec = recoverSelfMaskSum(partials, net.secrets.consensus.length)
  const res = rec.ok ? agg.decode(rec.value) : agg.abandon('no B')
  const d = performance.now()
  return {
    preMs: b - a,
    verifyMs: c - b,
    recoveryMs: d - c,
    totalMs: d - b,
    correct: res.status === 'complete' && res.sum === input.expected,
    selfMaskSum: rec.ok ? rec.value : null
  }
}

/** `count` distinct meters of 1..n, from a seeded stream. */
function pickMissing(rng: SeededRng, n: number, count: number): Set<number> {
  const out = new Set<number>()
  while (out.size < count) out.add(1 + rng.int(n))
  return out
}

function shortcutFor(secrets: NetworkSecrets): SharedSecretFn {
  return sharedSecretFromKnownKeys([
    ...secrets.meters,
    secrets.gateway,
    ...secrets.consensus.map((c) => ({ secret: c.shareSecret, publicKey: c.sharePublicKey }))
  ])
}

/**
 * The naive gateway with nobody missing, on the reports of a measured slot: hkdfSync for every
 * k_mask and k_mac, createHmac per tag, one bigint per ciphertext; B as recovered in that slot.
 */
function naiveGateway(secrets: NetworkSecrets, slot: MeasuredSlot): { ms: number; sumCorrect: boolean } {
  const shortcut = shortcutFor(secrets)
  const kgi = secrets.meters.map((x) => shortcut(secrets.gateway.secret, x.publicKey))
  const len = reportBytes(secrets.consensus.length)
  const t0 = performance.now()
  let sum = 0n
  let maskSum = 0n
  let allValid = true
  for (const rep of slot.reports) {
    const i = rep[0] * 2 ** 24 + rep[1] * 2 ** 16 + rep[2] * 2 ** 8 + rep[3]
    const keys = referenceSlotKeys(kgi[i - 1], i, slot.slot)
    if (!timingSafeEqual(referenceTag(keys.mac, rep.subarray(0, len - 32)), rep.subarray(len - 32))) allValid = false
    sum += bytesToBigInt(rep.subarray(12, 44))
    maskSum += keys.mask
  }
  const value = modR(sum - maskSum - slot.selfMaskSum)
  const ms = performance.now() - t0
  return { ms, sumCorrect: allValid && scalarToSigned(value) === slot.expected }
}
