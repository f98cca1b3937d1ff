import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { concatBytes, readU64be, SeededRng, u32be, utf8 } from '@bbnp/core'
import { randomScalar, secretKeyFromScalar, sha256, vrfOutput, vrfProve } from '@bbnp/crypto'
import {
  compareLottery,
  computeElection,
  DEFAULT_REPUTATION_PARAMS,
  type ElectionParams,
  LOG2_FRACTION_BITS,
  log2Fixed,
  lotteryExponent,
  lotteryTicket,
  preselect,
  preselectionCutoff,
  REPUTATION_SCALE,
  reputationPreset,
  reputationThreshold,
  simulateNetwork,
  toFixedPoint,
  verifyElection
} from '../src/index.ts'

const S = REPUTATION_SCALE
const FAIR = reputationPreset('fair')
const PAPER = reputationPreset('paper')
/** The fair lottery alone: every node pre-selected. */
const LOTTERY_ONLY: ElectionParams = { election: 'fair', preselectTolerance: 1 }

/** Seeded 64-bit stand-ins for VRF outputs (uniform, like vrfOutput). */
function draw(tag: string, h: number, q: number): bigint {
  return readU64be(sha256(concatBytes(utf8(tag), u32be(h), u32be(q))))
}

function drawsFor(tag: string, h: number, nodes: readonly number[]): Map<number, bigint> {
  return new Map(nodes.map((q) => [q, draw(tag, h, q)]))
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, k) => k + 1)
}

/** Shares of view-0 leadership over `heights` seeded heights. */
function shares(reps: readonly number[], params: ElectionParams, heights: number, tag: string, theta?: bigint): number[] {
  const led = new Array<number>(reps.length).fill(0)
  for (let h = 0; h < heights; h++) {
    const e = computeElection(reps, drawsFor(tag, h, range(reps.length)), theta ?? draw(tag, h, 0), params)
    led[e.order[0] - 1]++
  }
  return led.map((x) => x / heights)
}

describe('the fair rule: integer arithmetic every peer agrees on', () => {
  it('log2Fixed is log2 in fixed point, to within 2^-40, and exact on powers of two', () => {
    const one = 2 ** LOG2_FRACTION_BITS
    for (let k = 0; k <= 64; k++) assert.equal(log2Fixed(1n << BigInt(k)), BigInt(k) << BigInt(LOG2_FRACTION_BITS))
    const rng = new SeededRng('log2')
    for (let i = 0; i < 2000; i++) {
      const n = readU64be(rng.bytes(8)) >> BigInt(rng.int(64))
      if (n === 0n) continue
      const got = Number(log2Fixed(n)) / one
      // Math.log2 of the double nearest n: within 2^-52 relative of n, i.e. about 1e-16 in log2
      assert.ok(Math.abs(got - Math.log2(Number(n))) < 2 ** -40, `log2(${n}): ${got} vs ${Math.log2(Number(n))}`)
    }
    assert.throws(() => log2Fixed(0n), RangeError)
    assert.throws(() => log2Fixed((1n << 64n) + 1n), RangeError)
  })

  it('the lottery key orders like -ln(U)/Gamma in real numbers (Efraimidis-Spirakis)', () => {
    const rng = new SeededRng('es-order')
    let compared = 0
    for (let i = 0; i < 3000; i++) {
      const a = { node: 1, weight: 1 + rng.int(S), ticket: readU64be(rng.bytes(8)) }
      const b = { node: 2, weight: 1 + rng.int(S), ticket: readU64be(rng.bytes(8)) }
      const real = (x: typeof a) => -Math.log((Number(x.ticket) + 1) / 2 ** 64) / x.weight
      const ka = real(a)
      const kb = real(b)
      if (Math.abs(ka - kb) < 1e-9 * Math.max(ka, kb)) continue // closer than doubles can tell
      const c = compareLottery(
        { node: a.node, weight: a.weight, exponent: lotteryExponent(a.ticket) },
        { node: b.node, weight: b.weight, exponent: lotteryExponent(b.ticket) }
      )
      assert.equal(c < 0, ka < kb, `ticket ${a.ticket}/${a.weight} vs ${b.ticket}/${b.weight}`)
      compared++
    }
    assert.ok(compared > 2900)
  })

  it('zero weights come last, ordered by their exponents; exact ties go to the lower index', () => {
    const e = (node: number, weight: number, exponent: bigint) => ({ node, weight, exponent })
    assert.ok(compareLottery(e(1, 0, 1n), e(2, 1, 1n << 60n)) > 0, 'reputation 0 after any positive one')
    assert.ok(compareLottery(e(1, 0, 5n), e(2, 0, 3n)) > 0, 'among zeros: the smaller exponent first')
    assert.ok(compareLottery(e(3, 2, 10n), e(4, 1, 5n)) < 0, 'equal keys 10/2 = 5/1: lower index')
    assert.ok(compareLottery(e(4, 1, 5n), e(3, 2, 10n)) > 0)
    // every reputation 0: still a lottery (equal weights), not "lowest index always"
    const led = shares([0, 0, 0, 0], LOTTERY_ONLY, 800, 'zeros')
    for (const s of led) assert.ok(s > 0.15 && s < 0.35, `${led}`)
  })
})

describe('the fair rule: pre-selection with a tolerance', () => {
  it('honest peers with near-equal records are all pre-selected (one early miss: 0.9976), the paper excludes them', () => {
    // the e2e run of docs/reputation.md: cn-1 and cn-4 at 0.9976 and 0.9988, cn-2 and cn-3 at 1
    const reps = [0.9976, 1, 1, 0.9988].map(toFixedPoint)
    assert.deepEqual(preselect(reps, FAIR), [1, 2, 3, 4])
    assert.deepEqual(preselect(reps, PAPER), [2, 3])
    assert.deepEqual(preselect(reps), [1, 2, 3, 4], 'the default is the fair preset')
    // with two liars at 0 the mean drops, and the honest ones stay in; the liars stay out
    const withLiars = [0.9976, 1, 1, 0.9988, 0.995, 0, 0.02].map(toFixedPoint)
    assert.deepEqual(preselect(withLiars, FAIR), [1, 2, 3, 4, 5])
  })

  it('the bar is T - tolerance on the fixed-point integers, inclusive, clamped at 0', () => {
    const reps = [S, S, S, S - 50_000_000] // mean floored: S - 12,500,000
    const t = reputationThreshold(reps)
    assert.equal(t, S - 12_500_000)
    assert.equal(preselectionCutoff(reps, { preselectTolerance: 0.0375 }), S - 50_000_000)
    assert.deepEqual(preselect(reps, { preselectTolerance: 0.0375 }), [1, 2, 3, 4], 'exactly on the bar: in')
    assert.deepEqual(preselect(reps, { preselectTolerance: 0.037499999 }), [1, 2, 3], 'one unit below the bar: out')
    assert.equal(preselectionCutoff([10, 20], { preselectTolerance: 1 }), 0)
    assert.deepEqual(preselect([0, S], { preselectTolerance: 1 }), [1, 2])
    assert.equal(computeElection(reps, new Map(), 0n, FAIR).cutoff, S - 12_500_000 - 50_000_000)
  })
})

describe('the fair rule: nobody can bias the draw', () => {
  const reps = [0.99, 1, 0.97, 0.995, 1, 0.98, 0.3].map(toFixedPoint) // node 7 is not pre-selected
  const nodes = range(reps.length)

  it("each ticket is a function of that node's own X and Theta, and the tickets decide P's order", () => {
    for (let h = 0; h < 200; h++) {
      const draws = drawsFor('own', h, nodes)
      const theta = draw('own', h, 0)
      const e = computeElection(reps, draws, theta, FAIR)
      assert.deepEqual([...e.tickets.keys()].sort(), [...e.candidates].sort())
      for (const [q, u] of e.tickets) assert.equal(u, lotteryTicket(draws.get(q)!, theta))
      // P's order is the sort by exponent / Gamma, whatever the other members are
      for (let k = 1; k < e.candidates.length; k++) {
        const a = e.candidates[k - 1]
        const b = e.candidates[k]
        const key = (q: number) => ({ node: q, weight: reps[q - 1], exponent: lotteryExponent(e.tickets.get(q)!) })
        assert.ok(compareLottery(key(a), key(b)) < 0)
      }
    }
  })

  it('withholding a draw only removes the withholder from the order', () => {
    for (let h = 0; h < 300; h++) {
      const draws = drawsFor('withhold', h, nodes)
      const theta = draw('withhold', h, 0)
      const full = computeElection(reps, draws, theta, FAIR).order
      for (const c of nodes) {
        const without = new Map(draws)
        without.delete(c)
        assert.deepEqual(
          computeElection(reps, without, theta, FAIR).order,
          full.filter((q) => q !== c),
          `height ${h}, node ${c} withholds`
        )
      }
    }
  })

  it("changing one node's draw never reorders two other nodes (P emptied or filled included)", () => {
    const rng = new SeededRng('other-draw')
    let emptied = 0
    for (let h = 0; h < 300; h++) {
      const draws = drawsFor('change', h, nodes)
      const theta = draw('change', h, 0)
      const before = computeElection(reps, draws, theta, FAIR)
      for (const c of nodes) {
        const changed = new Map(draws)
        // half the time a draw that puts c alone in P or takes it out of P
        changed.set(c, rng.int(2) === 0 ? readU64be(rng.bytes(8)) : before.candidates.length === 0 ? theta : 0n)
        const after = computeElection(reps, changed, theta, FAIR)
        if ((before.candidates.length === 0) !== (after.candidates.length === 0)) emptied++
        const others = (o: number[]) => o.filter((q) => q !== c)
        assert.deepEqual(others(after.order), others(before.order), `height ${h}, node ${c}'s draw changed`)
      }
    }
    assert.ok(emptied > 50, `the P-empty switch was exercised (${emptied})`)
  })

  it('a different Theta gives a different, unpredictable order (the gateway signs Theta, it cannot pick it)', () => {
    const draws = drawsFor('theta', 1, nodes)
    const seen = new Set<number>()
    for (let k = 0; k < 200; k++) seen.add(computeElection(reps, draws, draw('theta', 1000 + k, 0), FAIR).order[0])
    assert.deepEqual([...seen].sort(), [1, 2, 3, 4, 5, 6], 'every pre-selected node leads under some Theta, node 7 under none')
  })
})

describe('the fair rule: every peer recomputes the same primary', () => {
  it('independent of map insertion order and of the order signatures arrive in', () => {
    const rng = new SeededRng('insertion')
    for (let trial = 0; trial < 200; trial++) {
      const m = 3 + rng.int(10)
      const reps = Array.from({ length: m }, () => S - rng.int(S / 10))
      const entries = range(m)
        .filter(() => rng.int(5) !== 0)
        .map((q) => [q, readU64be(rng.bytes(8))] as [number, bigint])
      const theta = readU64be(rng.bytes(8)) >> 1n
      const a = computeElection(reps, new Map(entries), theta, FAIR)
      const b = computeElection(reps, new Map([...entries].reverse()), theta, FAIR)
      assert.deepEqual(b.order, a.order)
      assert.deepEqual(b.candidates, a.candidates)
    }
  })

  it('verifyElection on real VRF signatures, shuffled, gives one order; a default call is the fair rule', () => {
    const rng = new SeededRng('fair-vrf')
    const m = 6
    const keys = Array.from({ length: m }, () => secretKeyFromScalar(randomScalar(rng)))
    const gw = secretKeyFromScalar(randomScalar(rng))
    const seed = new Uint8Array(32).fill(3)
    const reps = [0.99, 1, 0.98, 1, 0.995, 0.97].map(toFixedPoint)
    const sigs = keys.map((k, i) => ({ node: i + 1, signature: vrfProve(k, 'election', 7, seed).signature }))
    const thresholdSignature = vrfProve(gw, 'threshold', 7, seed).signature
    const base = {
      height: 7,
      seed,
      reputations: reps,
      thresholdSignature,
      gatewayKey: gw.toPublicKey().toBytes(),
      nodeKeys: keys.map((k) => k.toPublicKey().toBytes())
    }
    const a = verifyElection({ ...base, electionSignatures: sigs, params: FAIR })
    const b = verifyElection({ ...base, electionSignatures: [...sigs].reverse() })
    assert.deepEqual(b.order, a.order)
    assert.equal(a.rule, 'fair')
    assert.deepEqual(a.preselected, [1, 2, 3, 4, 5, 6])
    const direct = computeElection(reps, new Map(sigs.map((s) => [s.node, vrfOutput(s.signature)])), vrfOutput(thresholdSignature))
    assert.deepEqual(direct.order, a.order)
    assert.equal(DEFAULT_REPUTATION_PARAMS.election, 'fair')
  })
})

describe('the fair rule: leadership follows reputation', () => {
  it('5 equal peers: each leads within 0.5x-1.5x of 1/5 over 200 heights, within 0.9x-1.1x over 5,000', () => {
    const reps = new Array<number>(5).fill(S)
    for (const seed of ['a', 'b', 'c', 'd']) {
      for (const s of shares(reps, FAIR, 200, `equal-${seed}`)) assert.ok(s >= 0.1 && s <= 0.3, `${seed}: ${s}`)
    }
    for (const s of shares(reps, FAIR, 5000, 'equal-long')) assert.ok(s >= 0.18 && s <= 0.22, `${s}`)
    // the paper's rule, same draws: the lowest index wins whenever it is in P
    const paper = shares(reps, PAPER, 5000, 'equal-long')
    assert.ok(paper[0] > 0.45, `paper: node 1 leads ${paper[0]}`)
  })

  it('with P = everyone, shares are Gamma_q / sum Gamma (the lottery alone)', () => {
    const weights = [1, 0.8, 0.6, 0.4, 0.2]
    const total = weights.reduce((a, b) => a + b, 0)
    const n = 20_000
    const got = shares(weights.map(toFixedPoint), LOTTERY_ONLY, n, 'proportional', 0n)
    weights.forEach((w, k) => {
      const p = w / total
      const sigma = Math.sqrt((p * (1 - p)) / n)
      assert.ok(Math.abs(got[k] - p) < 4 * sigma, `node ${k + 1}: ${got[k]} vs ${p}`)
    })
  })

  it('with the VRF threshold, a higher reputation still leads more often, and nobody leads always', () => {
    const weights = [1, 0.8, 0.6, 0.4, 0.2]
    const got = shares(weights.map(toFixedPoint), LOTTERY_ONLY, 20_000, 'monotone')
    for (let k = 1; k < got.length; k++) assert.ok(got[k] < got[k - 1], `${got}`)
    assert.ok(got[0] < 0.4 && got[4] > 0.05, `${got}`)
  })
})

describe('the fair rule on a running network (records, opinions, equation 2, election)', () => {
  it('liars (wrong prepare and commit signatures) fall out of pre-selection at height 3 and never lead after', () => {
    for (const seed of ['n1', 'n2', 'n3']) {
      const r = simulateNetwork({ honest: 5, liars: 2, heights: 120, seed, params: FAIR })
      // block 2 carries the opinions of height 1, the first the liars could be judged by
      assert.deepEqual(r.liarsOutFrom, [3, 3], seed)
      assert.equal(r.liarLeadsAfterFall, 0)
      for (let h = 3; h <= 120; h++) {
        const reps = r.reputations[h - 1]
        assert.ok(reps[5] < toFixedPoint(0.3) && reps[6] < toFixedPoint(0.3), `height ${h}: ${reps}`)
        assert.ok(r.primaries[h - 1] <= 5)
      }
    }
  })

  it("issue 9's target: 5 honest and 2 lying peers over 250 heights, honest shares 0.5x-1.5x of 1/5, Gini <= 0.2", () => {
    for (const seed of ['t1', 't2', 't3']) {
      const fair = simulateNetwork({ honest: 5, liars: 2, heights: 250, seed, params: FAIR })
      for (const s of fair.honestShares) assert.ok(s >= 0.1 && s <= 0.3, `${seed}: ${fair.honestShares}`)
      assert.ok(fair.honestGini <= 0.2, `${seed}: Gini ${fair.honestGini}`)
      // every honest peer is pre-selected once its first heights are behind it (node 1 missed height 1)
      for (let h = 20; h <= 250; h++) assert.deepEqual(fair.preselected[h - 1], [true, true, true, true, true, false, false], `height ${h}`)
      // the same network under the paper's rule: one honest peer takes the lead
      const paper = simulateNetwork({ honest: 5, liars: 2, heights: 250, seed, params: PAPER })
      assert.ok(paper.honestGini > fair.honestGini, `${seed}: paper ${paper.honestGini} vs fair ${fair.honestGini}`)
    }
  })

  it('one early miss stops mattering after historyHeights: the peer returns to exactly the perfect reputation', () => {
    const heights = FAIR.historyHeights + 20
    const fair = simulateNetwork({ honest: 4, liars: 0, heights, missRate: 0, earlyMiss: true, seed: 'forget', params: FAIR })
    const gap = (h: number) => fair.reputations[h - 1][1] - fair.reputations[h - 1][0]
    assert.ok(gap(FAIR.historyHeights + 2) > 0, 'node 1 still below until its miss leaves the history')
    // the miss at height 1 stops counting in opinions of height 1 + historyHeights, which block
    // 2 + historyHeights carries and the election of 3 + historyHeights uses
    for (let h = FAIR.historyHeights + 3; h <= heights; h++) {
      assert.equal(gap(h), 0, `height ${h}`)
      assert.equal(fair.reputations[h - 1][0], S)
    }
    // never forgetting (the paper), it stays below for as long as we look
    const paper = simulateNetwork({ honest: 4, liars: 0, heights, missRate: 0, earlyMiss: true, seed: 'forget', params: PAPER })
    assert.ok(paper.reputations[heights - 1][0] < paper.reputations[heights - 1][1])
  })
})

describe("the paper preset reproduces the paper's rule exactly", () => {
  /** The rule as it was before the fair one existed (PROTOCOL 4.1, 4.5), as an oracle. */
  function paperOracle(reps: readonly number[], draws: ReadonlyMap<number, bigint>, theta: bigint): number[] {
    let sum = 0
    for (const r of reps) sum += r
    const t = Math.floor(sum / reps.length)
    const usable = range(reps.length).filter((j) => reps[j - 1] >= t && draws.has(j))
    const inP = usable.filter((q) => draws.get(q)! >= theta).sort((a, b) => reps[b - 1] - reps[a - 1] || a - b)
    const rest = usable
      .filter((q) => draws.get(q)! < theta)
      .sort((a, b) => (draws.get(a)! > draws.get(b)! ? -1 : draws.get(a)! < draws.get(b)! ? 1 : a - b))
    return [...inP, ...rest]
  }

  it('on random reputations, draws and thresholds', () => {
    const rng = new SeededRng('paper-oracle')
    for (let trial = 0; trial < 1000; trial++) {
      const m = 1 + rng.int(12)
      const reps = Array.from({ length: m }, () => (rng.int(4) === 0 ? S : rng.int(S + 1)))
      const draws = new Map<number, bigint>()
      for (let q = 1; q <= m; q++) if (rng.int(4) !== 0) draws.set(q, rng.int(3) === 0 ? BigInt(rng.int(4)) : readU64be(rng.bytes(8)))
      const theta = rng.int(3) === 0 ? BigInt(rng.int(4)) : readU64be(rng.bytes(8))
      const e = computeElection(reps, draws, theta, PAPER)
      assert.deepEqual(e.order, paperOracle(reps, draws, theta))
      assert.equal(e.cutoff, e.threshold)
      assert.equal(e.tickets.size, 0)
    }
  })
})
