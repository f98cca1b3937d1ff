/**
 * A consensus peer's part in recovery (recovery-committee.ts), over a real block store and real
 * dealt keys: it endorses one reporter set per slot, ever (also after a restart), only with every
 * share's tag holding, and releases its partial sum only against a certificate of 2f+1
 * endorsements of that set, signed with its consensus key over (slot, set, z_u).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { BbnpError, bytesToBigInt, DOMAIN, MetricsRegistry, nullLogger, SeededRng } from '@bbnp/core'
import {
  bitmapFromIndices,
  bitmapIndices,
  CommitteeCrypto,
  dealKeys,
  GatewayCrypto,
  generateNetworkSecrets,
  MeterCrypto,
  SHARE_ENTRY_BYTES
} from '@bbnp/aggregation'
import { BlockStore } from '@bbnp/chain'
import { endorsementPayload, makeEndorsement, partialPayload, reporterSetHash } from '@bbnp/consensus'
import { decodePublicKey, modR, scalarToBytes, secretKeyFromScalar, sign, verify } from '@bbnp/crypto'
import {
  decodeEndorseRequest,
  decodeEndorseResponse,
  decodePartialResponse,
  encodeEndorseRequest,
  encodeEndorseResponse,
  PARTIAL_RESPONSE_BYTES,
  wireProtocols
} from '../src/protocols.ts'
import { RecoveryCommittee } from '../src/recovery-committee.ts'

const N = 12
const M = 4
const QUORUM = 3
const dir = mkdtempSync(join(tmpdir(), 'bbnp-committee-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const secrets = generateNetworkSecrets({ meters: N, consensus: M, rng: new SeededRng('committee-test') })
const dealt = dealKeys(secrets)
const signers = secrets.consensus.map((c) => secretKeyFromScalar(c.signingScalar))
const keys = secrets.consensus.map((c) => decodePublicKey(c.verificationKey))
const SLOT = 40
let shares: (peer: number, present: number[]) => Uint8Array

before(() => {
  // Real reports of every meter for SLOT, so that the shares are what a gateway would forward.
  const gateway = new GatewayCrypto({ keys: dealt.gateway, consensusCount: M, minReporters: 6 })
  const agg = gateway.openSlot(SLOT)
  for (const k of dealt.meters) agg.accept(new MeterCrypto({ keys: k, consensusCount: M }).report(SLOT, 100n))
  assert.equal(agg.close().stage, 'endorse', 'every meter reported: the set is final at once')
  const all = new Map<number, Uint8Array>()
  for (let u = 1; u <= M; u++) all.set(u, agg.sharesFor(u))
  shares = (peer, present) => {
    const every = all.get(peer)!
    const out = new Uint8Array(SHARE_ENTRY_BYTES * present.length)
    present.forEach((i, k) => out.set(every.subarray(SHARE_ENTRY_BYTES * (i - 1), SHARE_ENTRY_BYTES * i), SHARE_ENTRY_BYTES * k))
    return out
  }
})

async function peer(u: number, storeDir: string, opts: { wrongPartials?: boolean } = {}) {
  const metrics = new MetricsRegistry()
  const store = await BlockStore.open(storeDir, { genesisHash: new Uint8Array(32).fill(9), keys, quorum: QUORUM, maxBlockBytes: 1 << 20 })
  const committee = new RecoveryCommittee(
    { keys, quorum: QUORUM, minReporters: 6, slotAt: () => SLOT + 1, ...opts },
    {
      crypto: new CommitteeCrypto({ keys: dealt.committee[u - 1], minReporters: 6 }),
      store,
      signer: signers[u - 1],
      logger: nullLogger,
      metrics
    }
  )
  return { store, committee, metrics }
}

/** The signature in an ENDORSE answer; fails on a refusal. */
async function endorsed(answer: Promise<Uint8Array>): Promise<Uint8Array> {
  const a = decodeEndorseResponse(await answer, N)
  assert.ok('signature' in a, 'endorsed')
  return a.signature
}

const refusal = (reason: string) => (e: unknown) => e instanceof BbnpError && e.code === 'REFUSED' && e.meta.reason === reason

function certificate(present: Uint8Array, nodes = [1, 2, 3]) {
  return makeEndorsement(
    nodes.map((node) => ({ node, signature: sign(signers[node - 1], DOMAIN.endorse, endorsementPayload(SLOT, present)) })),
    M
  )
}

describe('the recovery committee (a consensus peer)', () => {
  it('endorses one reporter set per slot, also after a restart; releases its partial only against a certificate of that set', async () => {
    const storeDir = join(dir, 'peer-1')
    const setA = Array.from({ length: 10 }, (_, i) => i + 1)
    const setB = Array.from({ length: 9 }, (_, i) => i + 1) // A minus meter-10: B's partial would reveal meter-10's self-mask
    const a = bitmapFromIndices(setA, N)
    const b = bitmapFromIndices(setB, N)
    let { store, committee } = await peer(1, storeDir)
    const sig = await endorsed(committee.endorse({ slot: SLOT, present: a, shares: shares(1, setA) }))
    assert.ok(verify(keys[0], DOMAIN.endorse, endorsementPayload(SLOT, a), sig))
    assert.deepEqual(
      await endorsed(committee.endorse({ slot: SLOT, present: a, shares: shares(1, setA) })),
      sig,
      'the same set again: the same answer'
    )
    await assert.rejects(committee.endorse({ slot: SLOT, present: b, shares: shares(1, setB) }), refusal('SET_CONFLICT'))
    // No partial for B, whatever certificate comes with it; one for A.
    await assert.rejects(committee.partial({ slot: SLOT, ...certificate(b) }), refusal('BAD_CERTIFICATE'))
    await assert.rejects(committee.partial({ slot: SLOT, ...certificate(a, [1, 2]) }), refusal('BAD_CERTIFICATE'))
    const z = await committee.partial({ slot: SLOT, ...certificate(a) })
    assert.equal(z.length, PARTIAL_RESPONSE_BYTES)
    await store.close()

    // After a restart (a new process, the same store): still no second set, the same partial for A.
    ;({ store, committee } = await peer(1, storeDir))
    await assert.rejects(committee.endorse({ slot: SLOT, present: b, shares: shares(1, setB) }), refusal('SET_CONFLICT'))
    await assert.rejects(committee.partial({ slot: SLOT, ...certificate(b) }), refusal('BAD_CERTIFICATE'))
    assert.deepEqual(await committee.partial({ slot: SLOT, ...certificate(a) }), z)
    await store.close()
  })

  it("signs its partial sum with its consensus key over (slot, the set's hash, z_u); a lying peer's lie is signed too", async () => {
    const set = Array.from({ length: 8 }, (_, i) => i + 1)
    const present = bitmapFromIndices(set, N)
    const released = new Map<number, { value: bigint; signature: Uint8Array }>()
    for (const [u, wrongPartials] of [
      [3, false],
      [4, true]
    ] as const) {
      const { store, committee } = await peer(u, join(dir, `peer-signed-${u}`), { wrongPartials })
      await committee.endorse({ slot: SLOT, present, shares: shares(u, set) })
      released.set(u, decodePartialResponse(await committee.partial({ slot: SLOT, ...certificate(present) })))
      await store.close()
    }
    const setHash = reporterSetHash(present)
    for (const [u, p] of released) {
      assert.ok(verify(keys[u - 1], DOMAIN.partial, partialPayload(SLOT, setHash, p.value), p.signature), `cn-${u}'s partial verifies`)
      assert.ok(!verify(keys[u - 1], DOMAIN.partial, partialPayload(SLOT + 1, setHash, p.value), p.signature), 'only for its slot')
      assert.ok(!verify(keys[u - 1], DOMAIN.partial, partialPayload(SLOT, setHash, modR(p.value + 1n)), p.signature), 'only for its value')
      assert.ok(!verify(keys[u - 1], DOMAIN.endorse, partialPayload(SLOT, setHash, p.value), p.signature), 'only under its own tag')
      const other = u === 3 ? 4 : 3
      assert.ok(!verify(keys[other - 1], DOMAIN.partial, partialPayload(SLOT, setHash, p.value), p.signature), 'only for its signer')
    }
    // The liar's value is its true partial plus one (the e2e test's `wrong-partials`), under its own valid signature.
    const { store, committee } = await peer(4, join(dir, 'peer-signed-4'))
    assert.equal(
      decodePartialResponse(await committee.partial({ slot: SLOT, ...certificate(present) })).value,
      modR(released.get(4)!.value - 1n)
    )
    await store.close()
  })

  it('refuses a set below minReporters, a slot not ended or long gone, and a partial it never endorsed', async () => {
    const { store, committee } = await peer(2, join(dir, 'peer-2'))
    const small = Array.from({ length: 5 }, (_, i) => i + 1)
    await assert.rejects(
      committee.endorse({ slot: SLOT, present: bitmapFromIndices(small, N), shares: shares(2, small) }),
      refusal('TOO_FEW_REPORTERS')
    )
    const all = Array.from({ length: N }, (_, i) => i + 1)
    await assert.rejects(
      committee.endorse({ slot: SLOT + 2, present: bitmapFromIndices(all, N), shares: shares(2, all) }),
      refusal('FUTURE_SLOT')
    )
    await assert.rejects(
      committee.endorse({ slot: SLOT - 100, present: bitmapFromIndices(all, N), shares: shares(2, all) }),
      refusal('OLD_SLOT')
    )
    await assert.rejects(committee.partial({ slot: SLOT, ...certificate(bitmapFromIndices(all, N)) }), refusal('NOT_ENDORSED'))
    await store.close()
  })

  it('a share whose tag does not hold: the set is refused naming its meters, counted, nothing signed or stored', async () => {
    const set = Array.from({ length: 10 }, (_, i) => i + 1)
    const present = bitmapFromIndices(set, N)
    const { store, committee, metrics } = await peer(3, join(dir, 'peer-3-tags'))
    // What a lying gateway does (docs/protocol.md 3.5.7): d added to meter-4's and meter-9's shares, their tags kept.
    const altered = shares(3, set)
    for (const k of [3, 8]) {
      const off = k * SHARE_ENTRY_BYTES
      altered.set(scalarToBytes(modR(bytesToBigInt(altered.subarray(off, off + 32)) + 5n)), off)
    }
    const answer = decodeEndorseResponse(await committee.endorse({ slot: SLOT, present, shares: altered }), N)
    assert.ok('badShares' in answer, 'a refusal, not a signature')
    assert.deepEqual(bitmapIndices(answer.badShares, N), [4, 9], 'naming exactly the meters whose shares were altered')
    const text = await metrics.render()
    assert.match(text, /bbnp_endorsements_total\{result="BAD_SHARE_TAG"\} 1/)
    assert.match(text, /bbnp_share_tags_failed_total 2/)
    assert.equal(await store.getEndorsement(SLOT), null, 'no endorsement stored')
    await assert.rejects(committee.partial({ slot: SLOT, ...certificate(present) }), refusal('NOT_ENDORSED'), 'nothing to release')
    // The refusal binds nothing: the true shares of the same set, or of a smaller set, are endorsed afterwards.
    const smaller = set.filter((i) => i !== 4 && i !== 9)
    const sig = await endorsed(committee.endorse({ slot: SLOT, present: bitmapFromIndices(smaller, N), shares: shares(3, smaller) }))
    assert.ok(verify(keys[2], DOMAIN.endorse, endorsementPayload(SLOT, bitmapFromIndices(smaller, N)), sig))
    assert.match(await metrics.render(), /bbnp_endorsements_total\{result="endorsed"\} 1/)
    await store.close()
  })

  it('ENDORSE on the wire: a full set fits the request bound; the answer is a signature or a bitmap of meters, anything else MALFORMED', () => {
    for (const meters of [N, 10_000]) {
      const wire = wireProtocols({ meters, consensus: M, candidates: 8, maxBlockBytes: 1 << 20 })
      const present = bitmapFromIndices(
        Array.from({ length: meters }, (_, i) => i + 1),
        meters
      )
      const req = { slot: 2 ** 40, present, shares: new Uint8Array(SHARE_ENTRY_BYTES * meters) }
      const body = encodeEndorseRequest(req)
      assert.ok(body.length <= wire.endorse.maxRequestBytes, `N = ${meters}: ${body.length} bytes`)
      assert.deepEqual(decodeEndorseRequest(body, meters), req)
      const signature = new Uint8Array(96).fill(7)
      const badShares = bitmapFromIndices([1, meters], meters)
      for (const answer of [{ signature }, { badShares }]) {
        const bytes = encodeEndorseResponse(answer)
        assert.ok(bytes.length <= wire.endorse.maxResponseBytes)
        assert.deepEqual(decodeEndorseResponse(bytes, meters), answer)
      }
    }
    const malformed = (e: unknown) => e instanceof BbnpError && e.code === 'MALFORMED'
    const sig = encodeEndorseResponse({ signature: new Uint8Array(96) })
    const stray = new Uint8Array(2) // N = 12: bits beyond meter 12 set
    stray[1] = 0xf0
    for (const bad of [
      sig.subarray(1),
      Uint8Array.of(1, ...sig.subarray(1)),
      Uint8Array.of(2, ...new Uint8Array(96)),
      Uint8Array.of(1, 0, 0), // names nobody
      Uint8Array.of(1, ...stray),
      Uint8Array.of(1, 1)
    ])
      assert.throws(() => decodeEndorseResponse(bad, N), malformed)
  })
})
