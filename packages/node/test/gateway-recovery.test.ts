/**
 * The gateway's recovery of a slot (gateway-recovery.ts) against a real committee of consensus
 * peers (recovery-committee.ts, real block stores, real dealt keys), over an in-memory network:
 * a peer that returns a wrong partial sum is named with a proof every replica accepts, and a
 * partial without a valid signature is no answer, so it never names its sender (PROTOCOL 3.5.5).
 * A peer checks every share's tag before it endorses: a gateway that alters a share gets a
 * refusal, never a signed partial it could prove wrong, and a meter whose shares the peers refuse
 * is taken out of the reporter set, never counted against a peer.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  BbnpError,
  bytesToBigInt,
  concatBytes,
  DOMAIN,
  meterIndex,
  MetricsRegistry,
  nullLogger,
  type ProtocolDescriptor,
  SeededRng
} from '@bbnp/core'
import {
  bitmapIndices,
  CommitteeCrypto,
  dealKeys,
  decodeRevealRequest,
  GatewayCrypto,
  generateNetworkSecrets,
  MeterCrypto,
  type MeterKeys,
  SHARE_ENTRY_BYTES,
  type SlotAggregator
} from '@bbnp/aggregation'
import { BlockStore } from '@bbnp/chain'
import {
  bitmapFromIndices,
  checkAggregate,
  checkFaultProof,
  decodeAggregate,
  encodeAggregate,
  maxBlockBytes,
  partialPayload,
  presentBitmap,
  reporterSetHash,
  type SignedAggregate,
  SignatureCache
} from '@bbnp/consensus'
import { decodePublicKey, modR, publicKeyFromScalar, scalarToBytes, secretKeyFromScalar, sign } from '@bbnp/crypto'
import { signAggregate } from '../src/gateway-closer.ts'
import { GatewayRecovery, type RecoveryOutcome } from '../src/gateway-recovery.ts'
import {
  decodeEndorseRequest,
  type EndorseRequest,
  decodePartialRequest,
  decodePartialResponse,
  encodeEndorseResponse,
  encodePartialResponse,
  splitRevealItems,
  wireProtocols
} from '../src/protocols.ts'
import { RecoveryCommittee } from '../src/recovery-committee.ts'

const N = 12
const MIN_REPORTERS = 6
const SLOT = 30
const dir = mkdtempSync(join(tmpdir(), 'bbnp-gateway-recovery-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let runs = 0

/** What a peer does with its honest answer to PARTIAL: `wrong` lies (and signs the lie), the others spoil the signature. */
type PartialFault = 'wrong' | 'zero-signature' | 'signed-by-another' | 'wrong-signed-by-another'

function network(m: number, seed: string) {
  const secrets = generateNetworkSecrets({ meters: N, consensus: m, rng: new SeededRng(seed) })
  const dealt = dealKeys(secrets)
  const signers = secrets.consensus.map((c) => secretKeyFromScalar(c.signingScalar))
  const keys = secrets.consensus.map((c) => decodePublicKey(c.verificationKey))
  const gatewaySk = secretKeyFromScalar(secrets.gateway.secret)
  const gatewayKey = decodePublicKey(publicKeyFromScalar(secrets.gateway.secret))
  const quorum = 2 * Math.floor((m - 1) / 3) + 1
  return { m, dealt, signers, keys, gatewaySk, gatewayKey, quorum }
}
type Network = ReturnType<typeof network>

interface Interference {
  /** What a lying gateway sends peer u instead of the true request. */
  tamper?: (peer: number, req: EndorseRequest) => EndorseRequest
  /** Meters whose key for these peers is wrong (another meter's): their shares to them, pads and tags, are garbage under a valid report tag. */
  broken?: Record<number, number[]>
  /** Peers whose endorsement comes back signed wrongly: zeroed, or by another peer's key over the same payload. */
  spoilEndorsement?: Record<number, 'zero-signature' | 'signed-by-another'>
  /** Called with the outcome before the stores close. */
  inspect?: (outcome: RecoveryOutcome, committees: Map<string, RecoveryCommittee>, stores: BlockStore[]) => Promise<void>
}

/** A meter whose key Q_iu is wrong for the given peers. */
function brokenKeys(k: MeterKeys, other: MeterKeys, peers: number[]): MeterKeys {
  return { ...k, committeeKeys: k.committeeKeys.map((q, u) => (peers.includes(u + 1) ? other.committeeKeys[u] : q)) }
}

/** Run one slot's recovery with every meter reporting 100 + i Wh but those in `silent`, and the given faulty peers. */
async function recover(net: Network, faults: Record<number, PartialFault>, silent: number[] = [], x: Interference = {}) {
  const wire = wireProtocols({ meters: N, consensus: net.m, candidates: 8, maxBlockBytes: maxBlockBytes(net.m, N) })
  const meters = net.dealt.meters.map((k, i) => {
    const wrongFor = x.broken?.[i + 1]
    const keys = wrongFor ? brokenKeys(k, net.dealt.meters[i === 0 ? 1 : 0], wrongFor) : k
    return new MeterCrypto({ keys, consensusCount: net.m })
  })
  const gateway = new GatewayCrypto({ keys: net.dealt.gateway, consensusCount: net.m, minReporters: MIN_REPORTERS })
  const agg: SlotAggregator = gateway.openSlot(SLOT)
  for (const meter of meters) if (!silent.includes(meter.index)) agg.accept(meter.report(SLOT, BigInt(100 + meter.index)))
  const stores: BlockStore[] = []
  const committees = new Map<string, RecoveryCommittee>()
  for (let u = 1; u <= net.m; u++) {
    const store = await BlockStore.open(join(dir, `run-${runs}-cn-${u}`), {
      genesisHash: new Uint8Array(32).fill(1),
      keys: net.keys,
      quorum: net.quorum,
      maxBlockBytes: maxBlockBytes(net.m, N)
    })
    stores.push(store)
    committees.set(
      `peer-${u}`,
      new RecoveryCommittee(
        { keys: net.keys, quorum: net.quorum, minReporters: MIN_REPORTERS, slotAt: () => SLOT + 1, wrongPartials: faults[u] === 'wrong' },
        {
          crypto: new CommitteeCrypto({ keys: net.dealt.committee[u - 1], minReporters: MIN_REPORTERS }),
          store,
          signer: net.signers[u - 1],
          logger: nullLogger,
          metrics: new MetricsRegistry()
        }
      )
    )
  }
  runs++
  let endorsedSet: Uint8Array = new Uint8Array(0)
  /** A consensus peer's answer to PARTIAL, spoiled as `faults` says. */
  const partial = async (u: number, body: Uint8Array): Promise<Uint8Array> => {
    const honest = decodePartialResponse(await committees.get(`peer-${u}`)!.partial(decodePartialRequest(body, net.m)))
    // The same message, signed with another peer's key: a valid BLS signature, not this peer's.
    const byAnother = (value: bigint) =>
      sign(net.signers[u % net.m], DOMAIN.partial, partialPayload(SLOT, reporterSetHash(endorsedSet), value))
    switch (faults[u]) {
      case 'zero-signature':
        return encodePartialResponse({ value: honest.value, signature: new Uint8Array(96) })
      case 'signed-by-another':
        return encodePartialResponse({ value: honest.value, signature: byAnother(honest.value) })
      case 'wrong-signed-by-another':
        return encodePartialResponse({ value: modR(honest.value + 1n), signature: byAnother(modR(honest.value + 1n)) })
      default:
        return encodePartialResponse(honest)
    }
  }
  const request = async (peerId: string, protocol: string | ProtocolDescriptor, body: Uint8Array): Promise<Uint8Array[]> => {
    const id = typeof protocol === 'string' ? protocol : protocol.id
    if (id === wire.reveal.id) {
      // One meter process hosts every meter: answer each question as the meter would.
      return [
        concatBytes(
          ...splitRevealItems(body, false)
            .map((item) => decodeRevealRequest(item))
            .map((q) => meters[q.meterIndex - 1].reveal(q.slot, q.missing))
        )
      ]
    }
    const u = Number(peerId.slice('peer-'.length))
    if (id === wire.endorse.id) {
      const sent = decodeEndorseRequest(body, N)
      const req = x.tamper ? x.tamper(u, sent) : sent
      endorsedSet = req.present
      const spoil = x.spoilEndorsement?.[u]
      if (spoil === 'zero-signature') return [encodeEndorseResponse({ signature: new Uint8Array(96) })]
      // Another peer's honest endorsement: a valid signature over the same payload, not u's.
      if (spoil === 'signed-by-another') return [await committees.get(`peer-${(u % net.m) + 1}`)!.endorse(req)]
      return [await committees.get(peerId)!.endorse(req)]
    }
    if (id === wire.partial.id) return [await partial(u, body)]
    throw new Error(`unexpected protocol ${id}`)
  }
  const metrics = new MetricsRegistry()
  const recovery = new GatewayRecovery(
    { wire, keys: net.keys, quorum: net.quorum, revealTimeoutMs: 1000, committeeTimeoutMs: 1000, retryMs: 0, retryPauseMs: 0 },
    {
      p2p: { request, connectedPeers: () => [] },
      hostOf: () => 'meters',
      peers: Array.from({ length: net.m }, (_, k) => ({ index: k + 1, peerId: `peer-${k + 1}` })),
      logger: nullLogger,
      metrics
    }
  )
  try {
    const outcome = await recovery.run(agg)
    await x.inspect?.(outcome, committees, stores)
    return {
      outcome,
      metrics,
      expected: BigInt(meters.filter((mt) => !silent.includes(mt.index)).reduce((s, mt) => s + 100 + mt.index, 0))
    }
  } finally {
    for (const s of stores) await s.close()
  }
}

/** The aggregate the gateway signs for an outcome (as gateway-closer.ts does). */
function aggregateOf(net: Network, o: RecoveryOutcome): SignedAggregate {
  assert.equal(o.result.status, 'complete')
  const status = o.result.missing.length === 0 ? 'complete' : 'recovered'
  const body = {
    slot: SLOT,
    fromSlot: SLOT,
    status,
    sum: o.result.status === 'complete' ? o.result.sum : 0n,
    count: o.result.count,
    missing: status === 'complete' ? new Uint8Array(0) : bitmapFromIndices(o.result.missing.map(meterIndex), N),
    reason: '',
    endorsement: o.endorsement,
    faulty: o.faulty.length === 0 ? new Uint8Array(0) : bitmapFromIndices(o.faulty, net.m),
    ...(o.faulty.length === 0 ? {} : { faultProof: o.faultProof })
  } as const
  return { ...body, signature: signAggregate(net.gatewaySk, body) }
}

function replicaCheck(net: Network, a: SignedAggregate) {
  return checkAggregate(a, {
    gatewayKey: net.gatewayKey,
    meters: N,
    minReporters: MIN_REPORTERS,
    keys: net.keys,
    quorum: net.quorum,
    cache: new SignatureCache()
  })
}

const tally = (metrics: MetricsRegistry) => metrics.render()

describe("the gateway's recovery and the partial sums' signatures", () => {
  it('M = 4 and 7: a peer returning a wrong partial is named, with a proof every replica accepts; the sum stays exact', async () => {
    for (const [m, liars, silent] of [
      [4, [3], []],
      [4, [2], [5]],
      [7, [1, 5], [9]]
    ] as const) {
      const net = network(m, `liars-${m}`)
      const { outcome, metrics, expected } = await recover(net, Object.fromEntries(liars.map((u) => [u, 'wrong'])), [...silent])
      assert.equal(outcome.result.status, 'complete', `M = ${m}, meters silent: ${silent.join(', ')}: a sum`)
      assert.equal(outcome.result.status === 'complete' && outcome.result.sum, expected, 'the exact sum of the meters present')
      assert.deepEqual(outcome.faulty, [...liars], 'the liars, and only they, are named')
      const agreeing = outcome.faultProof.filter((p) => !(liars as readonly number[]).includes(p.node))
      assert.equal(agreeing.length, net.quorum, '2f+1 agreeing values, no more')
      assert.deepEqual(
        outcome.faultProof.map((p) => p.node),
        [...outcome.faultProof.map((p) => p.node)].sort((a, b) => a - b)
      )
      const a = aggregateOf(net, outcome)
      assert.equal(replicaCheck(net, a), null, 'a replica accepts the names with their proof')
      assert.equal(
        replicaCheck(net, { ...a, faultProof: undefined, signature: signAggregate(net.gatewaySk, { ...a, faultProof: undefined }) }),
        'BAD_FAULT_PROOF'
      )
      const setHash = reporterSetHash(presentBitmap(a, N))
      assert.equal(checkFaultProof(outcome.faulty, outcome.faultProof, SLOT, setHash, net.keys, net.quorum, new SignatureCache()), null)
      // As a consensus peer receives it: within the hand-off bound, decoded, checked.
      const bound = wireProtocolsFor(m).aggregate.maxRequestBytes
      assert.equal(replicaCheck(net, decodeAggregate(encodeAggregate(a), bound)), null)
      for (const u of liars) assert.match(await tally(metrics), new RegExp(`bbnp_partials_inconsistent_total\\{peer="cn-${u}"\\} 1`))
    }
  })

  it('a partial without a valid signature is no answer: it never names its sender, wrong or not', async () => {
    const net = network(4, 'unsigned')
    // cn-2's honest value with a zeroed signature, cn-4's wrong value signed with another key: both
    // dropped; with two values left of four the slot has no sum, and nobody is named.
    let r = await recover(net, { 2: 'zero-signature', 4: 'wrong-signed-by-another' })
    assert.equal(r.outcome.result.status, 'incomplete')
    assert.equal(r.outcome.reason, 'no-partials')
    assert.deepEqual(r.outcome.faulty, [])
    assert.deepEqual(r.outcome.faultProof, [])
    // One bad signature among four: the three others recover the sum, nobody is named.
    for (const fault of ['zero-signature', 'signed-by-another', 'wrong-signed-by-another'] as const) {
      r = await recover(net, { 3: fault })
      assert.equal(r.outcome.result.status, 'complete', fault)
      assert.equal(r.outcome.result.status === 'complete' && r.outcome.result.sum, r.expected)
      assert.deepEqual(r.outcome.faulty, [], `${fault}: cn-3 is not named`)
      assert.deepEqual(r.outcome.faultProof, [])
      assert.match(await tally(r.metrics), /bbnp_partials_bad_signature_total\{peer="cn-3"\} 1/)
      assert.doesNotMatch(await tally(r.metrics), /^bbnp_partials_inconsistent_total\{.*\} [1-9]/m, 'every peer at 0')
    }
    // M = 7: a liar with a good signature is named even beside a peer whose signature is bad.
    const net7 = network(7, 'unsigned-7')
    r = await recover(net7, { 2: 'wrong-signed-by-another', 6: 'wrong' })
    assert.deepEqual(r.outcome.faulty, [6])
    assert.ok(!r.outcome.faultProof.some((p) => p.node === 2), 'the unsigned value is not in the proof')
    assert.equal(replicaCheck(net7, aggregateOf(net7, r.outcome)), null)
  })
})

describe("the endorsements' signatures, checked as one aggregate", () => {
  it('a wrongly signed endorsement is left out and the others still endorse; too few good ones, no sum', async () => {
    const net = network(4, 'endorse-sigs')
    // One bad among four, either way: the aggregate check fails, the one-by-one checks find it.
    for (const spoil of ['zero-signature', 'signed-by-another'] as const) {
      const r = await recover(net, {}, [], { spoilEndorsement: { 3: spoil } })
      assert.equal(r.outcome.result.status, 'complete', spoil)
      assert.equal(r.outcome.result.status === 'complete' && r.outcome.result.sum, r.expected)
      assert.ok(r.outcome.endorsement, spoil)
      assert.deepEqual(bitmapIndices(r.outcome.endorsement.signers, net.m), [1, 2, 4], `${spoil}: cn-3 does not sign`)
      assert.equal(replicaCheck(net, aggregateOf(net, r.outcome)), null, 'every replica accepts the certificate')
    }
    // Two bad among four leave two good ones, under the quorum of three: no endorsement, no sum.
    const r = await recover(net, {}, [], { spoilEndorsement: { 1: 'zero-signature', 4: 'signed-by-another' } })
    assert.equal(r.outcome.result.status, 'incomplete')
    assert.equal(r.outcome.reason, 'no-endorsement')
  })
})

describe('the share tags: a peer endorses only shares it has checked', () => {
  const addToShare = (req: EndorseRequest, k: number, d: bigint): EndorseRequest => {
    const shares = req.shares.slice()
    const off = k * SHARE_ENTRY_BYTES
    shares.set(scalarToBytes(modR(bytesToBigInt(shares.subarray(off, off + 32)) + d)), off)
    return { ...req, shares }
  }
  const refused = (reason: string) => (e: unknown) => e instanceof BbnpError && e.code === 'REFUSED' && e.meta.reason === reason

  it("a gateway that alters one of a peer's shares gets a refusal, never a signed partial: no fault proof against an honest peer", async () => {
    for (const m of [4, 7]) {
      const net = network(m, `tamper-${m}`)
      const { outcome, metrics, expected } = await recover(net, {}, [], {
        // cn-2's share from meter-5 plus one, its tag kept: before, cn-2 signed z_2 + 1 and the
        // gateway held a valid proof against it (docs/protocol.md 3.5.7).
        tamper: (u, req) => (u === 2 ? addToShare(req, 4, 1n) : req),
        inspect: async (o, committees, stores) => {
          assert.equal(await stores[1].getEndorsement(SLOT), null, 'cn-2 stored no endorsement')
          for (let u = 1; u <= m; u++) if (u !== 2) assert.ok(await stores[u - 1].getEndorsement(SLOT), `cn-${u} endorsed`)
          // Even with the certificate the others made, cn-2 has nothing to sign.
          assert.ok(o.endorsement)
          await assert.rejects(committees.get('peer-2')!.partial({ slot: SLOT, ...o.endorsement }), refused('NOT_ENDORSED'))
        }
      })
      assert.equal(outcome.result.status, 'complete')
      assert.equal(outcome.result.status === 'complete' && outcome.result.sum, expected, 'the exact sum, from the other peers')
      assert.deepEqual(outcome.faulty, [], 'cn-2 is not named')
      assert.deepEqual(outcome.faultProof, [])
      assert.equal(outcome.endorsement!.signers[0] & 0b10, 0, 'cn-2 did not endorse')
      assert.match(await tally(metrics), /bbnp_endorse_bad_shares_total\{peer="cn-2"\} 1/)
      assert.doesNotMatch(await tally(metrics), /^bbnp_meters_excluded_total [1-9]/m, 'meter-5 stays in A: 2f+1 peers endorsed it')
      assert.doesNotMatch(await tally(metrics), /^bbnp_partials_inconsistent_total\{.*\} [1-9]/m)
    }
  })

  it("a meter whose shares every peer refuses leaves the reporter set; the slot's sum is exact without it and nobody is named", async () => {
    const net = network(4, 'broken-meter')
    const { outcome, metrics, expected } = await recover(net, {}, [], { broken: { 5: [1, 2, 3, 4] } })
    assert.equal(outcome.result.status, 'complete')
    assert.deepEqual(outcome.result.missing, ['meter-5'], 'meter-5 is listed as missing')
    assert.equal(outcome.result.status === 'complete' && outcome.result.sum, expected - 105n, 'the sum of the others')
    assert.deepEqual(outcome.faulty, [])
    assert.match(await tally(metrics), /bbnp_meters_excluded_total 1/)
    for (let u = 1; u <= 4; u++) assert.match(await tally(metrics), new RegExp(`bbnp_endorse_bad_shares_total\\{peer="cn-${u}"\\} 1`))
    // The signed aggregate for it holds for a replica.
    const a = aggregateOf(net, outcome)
    assert.equal(replicaCheck(net, a), null)
    assert.deepEqual(presentBitmap(a, N), bitmapFromIndices([1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12], N))
  })

  it('a meter whose shares only f peers refuse stays in A: the other 2f+1 endorse and recover the sum, the refusing peers are not named', async () => {
    for (const [m, refusing] of [
      [4, [3]],
      [7, [1, 6]]
    ] as const) {
      const net = network(m, `half-broken-${m}`)
      const { outcome, metrics, expected } = await recover(net, {}, [], { broken: { 7: [...refusing] } })
      assert.equal(outcome.result.status === 'complete' && outcome.result.sum, expected, 'every meter in the sum')
      assert.deepEqual(outcome.result.missing, [])
      assert.deepEqual(outcome.faulty, [], 'the refusing peers are not named')
      for (const u of refusing) assert.match(await tally(metrics), new RegExp(`bbnp_endorse_bad_shares_total\\{peer="cn-${u}"\\} 1`))
      assert.doesNotMatch(await tally(metrics), /^bbnp_meters_excluded_total [1-9]/m)
    }
  })

  it('known limit: shares refused by more than f but fewer than 2f + 1 peers cost the slot (no-endorsement), and still name nobody', async () => {
    // M = 4: cn-1 and cn-2 endorse A, cn-3 and cn-4 refuse meter-6; without meter-6 only cn-3 and
    // cn-4 may endorse (the others endorsed A already): no set can have 2f + 1 endorsements.
    const net = network(4, 'split')
    const { outcome, metrics } = await recover(net, {}, [], { broken: { 6: [3, 4] } })
    assert.equal(outcome.result.status, 'incomplete')
    assert.equal(outcome.reason, 'no-endorsement')
    assert.deepEqual(outcome.faulty, [])
    assert.match(await tally(metrics), /bbnp_meters_excluded_total 1/, 'meter-6 was taken out, in vain')
  })
})

function wireProtocolsFor(m: number) {
  return wireProtocols({ meters: N, consensus: m, candidates: 8, maxBlockBytes: maxBlockBytes(m, N) })
}
