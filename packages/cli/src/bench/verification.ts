/**
 * `bbnp bench`, verification part (DESIGN "Benchmarks"; paper V-D; PROTOCOL 4.3): what one
 * replica spends checking one height's votes, with real BLS (blst) in this process.
 *
 * The paper counts two pairings per signature: a node that checks the M-1 prepares and the M-1
 * commits of the others one by one does 2(M-1) verifications, 4T_p(M-1) (4T_p(M-1)M for all M
 * nodes); checked as one aggregate per phase, e(prod sigma_i, g) = e(Bd, prod G_i^{c_i}), it does
 * 2, 4T_p (4T_pM for all nodes). Here both are timed with the production functions: `verify` per
 * vote, and `batchVerifySameMessage` per phase (which also decodes and validates every signature
 * and sums them, work the paper's count leaves out), on signatures as they arrive off the wire.
 *
 * Also timed: the fallback when one vote of a phase is bad (one failed aggregate check, then each
 * vote alone to find it, PROTOCOL 4.3), and the batches the replica really makes, which hold only
 * the 2f votes it needs beside its own before it moves on. Returns plain data.
 */
import { SeededRng } from '@bbnp/core'
import {
  batchVerifySameMessage,
  decodePublicKey,
  forgetDecodedSignatures,
  type PublicKey,
  randomScalar,
  secretKeyFromScalar,
  sha256,
  sign,
  verify
} from '@bbnp/crypto'
import { type VotePhase, voteDomain, votePayload } from '@bbnp/consensus'
import { median, round, tick } from './measure.ts'

export const DEFAULT_VERIFICATION_SIZES = [4, 7, 10, 100] as const

export interface VerificationRow {
  /** Consensus nodes M; f = floor((M-1)/3), quorum 2f+1. */
  m: number
  f: number
  quorum: number
  /** Heights timed (medians below are over these). */
  samples: number
  /** One `verify` of one vote (the paper's 2T_p, plus hash-to-curve and signature decoding), ms. */
  singleVerifyMs: number
  oneByOne: {
    /** Verifications per node per height: 2(M-1). */
    verifications: number
    /** Pairings per node per height in the paper's count: 4(M-1). */
    paperPairings: number
    /** Median time for one node to check the 2(M-1) votes of one height one at a time, ms. */
    ms: number
  }
  batch: {
    /** Aggregate checks per node per height: 2 (one per phase). */
    checks: number
    /** Pairings per node per height in the paper's count: 4. */
    paperPairings: number
    /** Median time for one node to check the same votes as one aggregate per phase, ms. */
    ms: number
  }
  /** oneByOne.ms / batch.ms, measured. */
  ratio: number
  /** The paper's ratio 4T_p(M-1)M / 4T_pM = M-1. */
  paperRatio: number
  /** The whole network per height (every node checks the others' votes): M times the per-node figures, ms. */
  allNodes: { oneByOneMs: number; batchMs: number }
  /** One phase with one bad vote among M-1: a failed aggregate check, then each vote alone. */
  fallback: {
    /** Median time to check one phase of M-1 votes with one bad one, ms. */
    ms: number
    /** Verification calls made: 1 + (M-1). */
    checks: number
    /** The bad vote was found, and only it. */
    foundBad: boolean
    /** fallback.ms / (one phase one by one), measured: the price of a bad vote over not batching at all. */
    ratioToOneByOne: number
    /** fallback.ms / (one phase batched). */
    ratioToBatch: number
  }
  /**
   * What the replica does (replica.ts verifyVotes, finishObservations): per phase it batches the
   * 2f votes that complete its quorum, and checks the M-1-2f votes that arrive after that as one
   * more aggregate when the height's grace period ends (for reputation). ms per height.
   */
  replica: { signaturesPerBatch: number; lateVotes: number; batchMs: number; lateMs: number; totalMs: number; ratio: number }
}

export interface VerificationBench {
  quick: boolean
  rows: VerificationRow[]
  notes: string[]
  seconds: number
}

export interface VerificationBenchOptions {
  quick?: boolean
  sizes?: readonly number[]
  log?: (line: string) => void
}

interface Vote {
  publicKey: PublicKey
  signature: Uint8Array
}

/** The votes one node receives from the others at one height: node 1 is "us", nodes 2..M vote. */
function heightVotes(sks: ReturnType<typeof secretKeyFromScalar>[], pks: PublicKey[], height: number, digest: Uint8Array) {
  const phase = (p: VotePhase): { domain: string; payload: Uint8Array; votes: Vote[] } => {
    const payload = votePayload(height, 0, digest)
    return {
      domain: voteDomain(p),
      payload,
      votes: sks.slice(1).map((sk, i) => ({ publicKey: pks[i + 1], signature: sign(sk, voteDomain(p), payload) }))
    }
  }
  return [phase('prepare'), phase('commit')]
}

function samplesFor(m: number, quick: boolean): number {
  if (m >= 50) return quick ? 2 : 5
  if (m >= 10) return quick ? 5 : 15
  return quick ? 7 : 25
}

export async function benchVerification(opts: VerificationBenchOptions = {}): Promise<VerificationBench> {
  const quick = opts.quick === true
  const sizes = opts.sizes ?? DEFAULT_VERIFICATION_SIZES
  const log = opts.log ?? (() => {})
  const started = performance.now()
  const rows: VerificationRow[] = []

  for (const m of sizes) {
    const rng = new SeededRng(`bench-verification-${m}`)
    const sks = Array.from({ length: m }, () => secretKeyFromScalar(randomScalar(rng)))
    // Keys come from the genesis, decoded and validated once at start, as in the replica.
    const pks = sks.map((sk) => decodePublicKey(sk.toPublicKey().toBytes()))
    const samples = samplesFor(m, quick)
    log(`verification M=${m}: signing ${2 * (m - 1)} votes per height for ${samples + 1} heights`)
    const heights = Array.from({ length: samples + 1 }, (_, k) => heightVotes(sks, pks, 1 + k, sha256(new Uint8Array([m, k]))))
    await tick()
    const times = await timeHeights(heights, m)
    if (!times.allGood) throw new Error(`verification bench M=${m}: a valid vote failed to verify`)
    const fallback = timeFallback(heights, sks[m - 1], samples)
    const row = verificationRow(m, samples, times, fallback)
    rows.push(row)
    log(
      `verification M=${m}: one by one ${row.oneByOne.ms} ms, batched ${row.batch.ms} ms (x${row.ratio}), fallback ${row.fallback.ms} ms per phase`
    )
    await tick()
  }

  return {
    quick,
    rows,
    notes: [
      'per node and per height: the M-1 prepares and M-1 commits of the other nodes; the all-nodes figures are M times these (the paper counts 4T_p(M-1)M vs 4T_pM)',
      "the batched time includes decoding and subgroup-checking each signature and summing them, which grows with M and which the paper's pairing count leaves out; so the measured ratio stays below the paper's M-1",
      'the fallback replaces one vote with a valid signature over another payload, so only the failed aggregate check finds it; then every vote of the phase is checked alone',
      "the replica batches the 2f votes that complete its quorum, and the M-1-2f later votes of each phase as a second batch after the grace period (replica.ts finishObservations), so its real saving is the 'replica' ratio, not the paper's",
      'medians over heights; a shared virtual machine varies by tens of percent between runs'
    ],
    seconds: round((performance.now() - started) / 1000, 1)
  }
}

type HeightVotes = ReturnType<typeof heightVotes>

/** Per height (the first one a warm-up), ms: one by one, batched, and as the replica batches. */
interface HeightTimes {
  single: number[]
  oneByOne: number[]
  batch: number[]
  replicaBatch: number[]
  replicaLate: number[]
  allGood: boolean
}

/** Check every height's votes (M nodes) one by one, as one aggregate per phase, and as the replica does. */
async function timeHeights(heights: HeightVotes[], m: number): Promise<HeightTimes> {
  const f = Math.floor((m - 1) / 3)
  const t: HeightTimes = { single: [], oneByOne: [], batch: [], replicaBatch: [], replicaLate: [], allGood: true }
  for (let k = 0; k < heights.length; k++) {
    const phases = heights[k]
    // Each way pays for decoding (and subgroup-checking) the signatures it checks, as a replica
    // does once per signature: the cache of decoded signatures is emptied before each.
    forgetDecodedSignatures()
    // One by one: 2(M-1) verifications.
    let t0 = performance.now()
    for (const ph of phases) for (const v of ph.votes) if (!verify(v.publicKey, ph.domain, ph.payload, v.signature)) t.allGood = false
    const one = performance.now() - t0
    // Batched: one aggregate check per phase.
    forgetDecodedSignatures()
    t0 = performance.now()
    for (const ph of phases) {
      const r = batchVerifySameMessage(ph.votes, ph.domain, ph.payload)
      if (!r.ok || r.checks !== 1) t.allGood = false
    }
    const bat = performance.now() - t0
    // What the replica does: 2f votes per phase batched (the quorum beside its own vote), the
    // rest as one more batch after the grace period.
    forgetDecodedSignatures()
    t0 = performance.now()
    for (const ph of phases) if (!batchVerifySameMessage(ph.votes.slice(0, 2 * f), ph.domain, ph.payload).ok) t.allGood = false
    const rb = performance.now() - t0
    t0 = performance.now()
    for (const ph of phases)
      if (ph.votes.length > 2 * f && !batchVerifySameMessage(ph.votes.slice(2 * f), ph.domain, ph.payload).ok) t.allGood = false
    const rl = performance.now() - t0
    if (k === 0) continue // warm-up
    t.oneByOne.push(one)
    t.single.push(one / (2 * (m - 1)))
    t.batch.push(bat)
    t.replicaBatch.push(rb)
    t.replicaLate.push(rl)
    if (k % 4 === 0) await tick()
  }
  return t
}

/**
 * One phase with the vote of the last node replaced by a valid signature (by `lastKey`) over
 * another payload: it decodes, so only the aggregate check can catch it.
 */
function timeFallback(
  heights: HeightVotes[],
  lastKey: ReturnType<typeof secretKeyFromScalar>,
  samples: number
): { ms: number[]; checks: number; foundBad: boolean } {
  const ms: number[] = []
  let foundBad = true
  let checks = 0
  for (let k = 0; k < Math.max(2, Math.ceil(samples / 2)) + 1; k++) {
    const ph = heights[k % heights.length][0]
    forgetDecodedSignatures()
    const badIndex = ph.votes.length - 1
    const votes = ph.votes.map((v, i) =>
      i === badIndex ? { publicKey: v.publicKey, signature: sign(lastKey, ph.domain, votePayload(999_999, 0, ph.payload.subarray(16))) } : v
    )
    const t = performance.now()
    const r = batchVerifySameMessage(votes, ph.domain, ph.payload)
    const took = performance.now() - t
    checks = r.checks
    if (r.ok || r.bad.length !== 1 || r.bad[0] !== badIndex) foundBad = false
    if (k > 0) ms.push(took)
  }
  return { ms, checks, foundBad }
}

function verificationRow(
  m: number,
  samples: number,
  t: HeightTimes,
  fallback: { ms: number[]; checks: number; foundBad: boolean }
): VerificationRow {
  const f = Math.floor((m - 1) / 3)
  const oneMs = median(t.oneByOne)
  const batchMs = median(t.batch)
  const fbMs = median(fallback.ms)
  const rbMs = median(t.replicaBatch)
  const rlMs = median(t.replicaLate)
  return {
    m,
    f,
    quorum: 2 * f + 1,
    samples,
    singleVerifyMs: round(median(t.single), 3),
    oneByOne: { verifications: 2 * (m - 1), paperPairings: 4 * (m - 1), ms: round(oneMs, 3) },
    batch: { checks: 2, paperPairings: 4, ms: round(batchMs, 3) },
    ratio: round(oneMs / batchMs, 2),
    paperRatio: m - 1,
    allNodes: { oneByOneMs: round(m * oneMs, 2), batchMs: round(m * batchMs, 2) },
    fallback: {
      ms: round(fbMs, 3),
      checks: fallback.checks,
      foundBad: fallback.foundBad,
      ratioToOneByOne: round(fbMs / (oneMs / 2), 2),
      ratioToBatch: round(fbMs / (batchMs / 2), 2)
    },
    replica: {
      signaturesPerBatch: 2 * f,
      lateVotes: 2 * (m - 1 - 2 * f),
      batchMs: round(rbMs, 3),
      lateMs: round(rlMs, 3),
      totalMs: round(rbMs + rlMs, 3),
      ratio: round(oneMs / (rbMs + rlMs), 2)
    }
  }
}
