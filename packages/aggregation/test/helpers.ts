/**
 * Test networks: secrets from a SeededRng, every entity's keys dealt by the trusted authority's
 * `dealKeys` (blst fixed-base multiplications; the same bytes as Diffie-Hellman, checked in
 * algebra.test.ts). The expensive part (secrets and dealt keys) is cached per arguments; the
 * crypto objects are built fresh for every call, since meters and peers remember their answers
 * per slot (reveal limit, one reporter set per slot).
 */
import assert from 'node:assert/strict'
import { type Rng, SeededRng, toHex } from '@bbnp/core'
import {
  type AggregationModules,
  type AggregationParams,
  candidateIndices,
  CommitteeCrypto,
  DEFAULT_AGGREGATION_PARAMS,
  type DealtKeys,
  dealKeys,
  GatewayCrypto,
  generateNetworkSecrets,
  MeterCrypto,
  type MeterKeyOptions,
  type NetworkSecrets,
  type RecoveryStep,
  recoverSelfMaskSum,
  type SelfMaskRecovery,
  type SlotAggregator,
  type SlotResult,
  sharedSecretFromKnownKeys
} from '../src/index.ts'

export interface NetworkOptions {
  params?: Partial<AggregationParams>
  /** M, default 4 */
  consensus?: number
  minReporters?: number
}

export interface TestNetwork {
  n: number
  m: number
  params: AggregationParams
  secrets: NetworkSecrets
  dealt: DealtKeys
  /** DH by the known-keys shortcut (fixed-base blst), for the reference and the DH path */
  modules: AggregationModules
  meters: MeterCrypto[]
  gateway: GatewayCrypto
  committee: CommitteeCrypto[]
  meterKeyOptions(i: number): MeterKeyOptions
}

const cache = new Map<string, { secrets: NetworkSecrets; dealt: DealtKeys }>()

export function networkSecrets(n: number, seed: string, m = 4): NetworkSecrets {
  return keysFor(n, seed, m, DEFAULT_AGGREGATION_PARAMS).secrets
}

function keysFor(n: number, seed: string, m: number, params: AggregationParams) {
  const key = JSON.stringify([n, seed, m, params.candidates])
  let entry = cache.get(key)
  if (!entry) {
    const secrets = generateNetworkSecrets({ meters: n, consensus: m, rng: new SeededRng(`aggregation-test/${seed}/${m}`) })
    entry = { secrets, dealt: dealKeys(secrets, { params }) }
    cache.set(key, entry)
  }
  return entry
}

/** A network of n meters, its gateway and its M consensus peers, all built from dealt keys. */
export function buildNetwork(n: number, seed: string, opts: NetworkOptions = {}): TestNetwork {
  const m = opts.consensus ?? 4
  const params = { ...DEFAULT_AGGREGATION_PARAMS, ...opts.params }
  const { secrets, dealt } = keysFor(n, seed, m, params)
  const modules: AggregationModules = {
    sharedSecret: sharedSecretFromKnownKeys([
      ...secrets.meters,
      secrets.gateway,
      ...secrets.consensus.map((c) => ({ secret: c.shareSecret, publicKey: c.sharePublicKey }))
    ])
  }
  const meterKeyOptions = (i: number): MeterKeyOptions => ({
    index: i,
    meterCount: n,
    secret: secrets.meters[i - 1].secret,
    gatewayPublicKey: secrets.gateway.publicKey,
    candidatePublicKeys: new Map(candidateIndices(i, n, params.candidates).map((j) => [j, secrets.meters[j - 1].publicKey])),
    committeePublicKeys: secrets.consensus.map((c) => c.sharePublicKey),
    params
  })
  return {
    n,
    m,
    params,
    secrets,
    dealt,
    modules,
    meters: dealt.meters.map((keys) => new MeterCrypto({ keys, params, consensusCount: m })),
    gateway: new GatewayCrypto({ keys: dealt.gateway, consensusCount: m, params, minReporters: opts.minReporters }),
    committee: dealt.committee.map((keys) => new CommitteeCrypto({ keys, minReporters: opts.minReporters })),
    meterKeyOptions
  }
}

/** A signed reading in (-2^48, 2^48): mostly household-sized, sometimes negative, sometimes extreme. */
export function randomReading(rng: Rng): bigint {
  const kind = rng.int(10)
  const max = (1n << 48n) - 1n
  if (kind === 0) return max
  if (kind === 1) return -max
  if (kind === 2) return 0n
  const small = BigInt(rng.int(5000))
  return kind < 6 ? -small : small
}

export interface SlotRun {
  result: SlotResult
  agg: SlotAggregator
  /** every step returned by close() and endRevealRound(), in order */
  steps: RecoveryStep[]
  recovery?: SelfMaskRecovery
  /** the meters the slot was decoded over */
  present: number[]
}

export interface SlotScenario {
  /** meters (1-based) that do not answer their question in round 1, resp. round 2 */
  silent?: [Set<number>?, Set<number>?]
  /** peers whose partial value is replaced by garbage, and peers that send none */
  wrongPeers?: Set<number>
  absentPeers?: Set<number>
}

/**
 * One slot end to end, as the runtimes will drive it: reports of the meters whose reading is
 * defined, close, reveal rounds (answers from the real meters), the committee's partial sums
 * over the final set, robust recovery of B, decode.
 */
export function runSlot(net: TestNetwork, slot: number, readings: (bigint | undefined)[], scenario: SlotScenario = {}): SlotRun {
  const agg = net.gateway.openSlot(slot)
  for (const meter of net.meters) {
    const reading = readings[meter.index - 1]
    if (reading === undefined) continue
    const res = agg.accept(meter.report(slot, reading))
    assert.ok(res.ok, `report of ${meter.id} in slot ${slot} rejected: ${JSON.stringify(res)}`)
  }
  const steps: RecoveryStep[] = []
  let step = agg.close()
  steps.push(step)
  while (step.stage === 'reveal') {
    const silent = scenario.silent?.[step.round - 1]
    for (const q of step.queries) {
      if (silent?.has(q.meterIndex)) continue
      const res = agg.acceptReveal(net.meters[q.meterIndex - 1].reveal(slot, q.missing))
      assert.ok(res.ok, `reveal of meter-${q.meterIndex} rejected: ${JSON.stringify(res)}`)
    }
    step = agg.endRevealRound()
    steps.push(step)
  }
  if (step.stage === 'done') return { result: step.result, agg, steps, present: [] }
  const present = net.meters.filter((m) => (step.present[(m.index - 1) >> 3] & (1 << ((m.index - 1) & 7))) !== 0).map((m) => m.index)
  const partials = net.committee
    .filter((c) => !scenario.absentPeers?.has(c.peer))
    .map((c) => {
      const value = c.partial(slot, step.present, agg.sharesFor(c.peer))
      return { peer: c.peer, value: scenario.wrongPeers?.has(c.peer) ? (value + 12345n + BigInt(c.peer)) % (1n << 250n) : value }
    })
  const recovery = recoverSelfMaskSum(partials, net.m)
  if (!recovery.ok) return { result: agg.abandon('no self-mask sum'), agg, steps, recovery, present }
  return { result: agg.decode(recovery.value), agg, steps, recovery, present }
}

export const sumOf = (readings: (bigint | undefined)[], present: number[]) => present.reduce((a, i) => a + (readings[i - 1] as bigint), 0n)

/** JSON.stringify replacer for results holding bigints and bytes. */
export const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? toHex(v) : v)
