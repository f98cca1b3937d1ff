/**
 * The proof behind an aggregate's faulty peers (PROTOCOL 3.5.5, fault-proof.ts): a replica counts
 * a consensus peer's partial sum as wrong only when the aggregate carries that peer's signed value
 * off the one polynomial of degree f through 2f+1 signed values that agree. The gateway's word
 * alone, a forged signature, a value that is in fact right, or too few agreeing values are refused
 * (BAD_FAULT_PROOF), at the hand-off and in a block.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BbnpError, DOMAIN, SeededRng } from '@bbnp/core'
import { evaluatePolynomial, modR, randomScalar, sign } from '@bbnp/crypto'
import {
  aggregatePayload,
  checkAggregate,
  checkFaultProof,
  decodeAggregate,
  decodeBlock,
  encodeAggregate,
  encodeBlock,
  hashEncodedBlock,
  maxFaultProofBytes,
  partialPayload,
  type PrePrepareMessage,
  prePreparePayload,
  presentBitmap,
  reporterSetHash,
  type SignedAggregate,
  SignatureCache,
  type SignedPartial
} from '../src/index.ts'
import { Sim } from './harness.ts'

const SLOT = 7

/** The true P of a slot (degree f) and each peer's honest, signed value P(u). */
function committee(sim: Sim, seed = 'fault-proof') {
  const rng = new SeededRng(seed)
  const f = Math.floor((sim.m - 1) / 3)
  const P = Array.from({ length: f + 1 }, () => randomScalar(rng))
  const setHash = reporterSetHash(presentBitmap({ missing: new Uint8Array(0) }, sim.meters))
  const signed = (node: number, value: bigint, by = node): SignedPartial => ({
    node,
    value,
    signature: sign(sim.signers[by - 1], DOMAIN.partial, partialPayload(SLOT, setHash, value))
  })
  const honest = (node: number) => signed(node, evaluatePolynomial(P, BigInt(node)))
  const liar = (node: number) => signed(node, modR(evaluatePolynomial(P, BigInt(node)) + 1n))
  return { f, setHash, signed, honest, liar }
}

function context(sim: Sim) {
  return {
    gatewayKey: sim.gatewayKey,
    meters: sim.meters,
    minReporters: 3,
    keys: sim.keys,
    quorum: 2 * Math.floor((sim.m - 1) / 3) + 1,
    cache: new SignatureCache()
  }
}

const byNode = (ps: SignedPartial[]) => [...ps].sort((a, b) => a.node - b.node)

describe('fault proofs (a peer named faulty must be proven so)', () => {
  it('M = 4, 7, 10: 2f+1 signed values that agree and the liars\u2019 own signed values prove the liars; the encoding round-trips', () => {
    for (const [m, liars] of [
      [4, [3]],
      [7, [2, 6]],
      [10, [5]]
    ] as const) {
      const sim = new Sim(m)
      const c = committee(sim, `valid-${m}`)
      const agreeing = Array.from({ length: m }, (_, k) => k + 1)
        .filter((u) => !(liars as readonly number[]).includes(u))
        .slice(0, 2 * c.f + 1)
      const proof = byNode([...agreeing.map(c.honest), ...liars.map(c.liar)])
      const a = sim.aggregate(SLOT, 10n, { faulty: [...liars], faultProof: proof })
      assert.equal(checkAggregate(a, context(sim)), null, `M = ${m}`)
      const bytes = encodeAggregate(a)
      const back = decodeAggregate(bytes, 1 << 16)
      assert.deepEqual(back.faultProof, proof)
      assert.deepEqual(encodeAggregate(back), bytes, 'one encoding')
      assert.ok(bytes.length - encodeAggregate(sim.aggregate(SLOT, 10n)).length <= maxFaultProofBytes(m), 'within the bound')
    }
  })

  it('refuses a peer named with no proof, and a proof with nobody named', () => {
    const sim = new Sim(4)
    const c = committee(sim)
    assert.equal(checkAggregate(sim.aggregate(SLOT, 10n, { faulty: [2] }), context(sim)), 'BAD_FAULT_PROOF')
    assert.equal(checkFaultProof([2], null, SLOT, c.setHash, sim.keys, 3, new SignatureCache()), 'NO_PROOF')
    const proof = [1, 2, 3].map(c.honest)
    assert.equal(checkFaultProof([], proof, SLOT, c.setHash, sim.keys, 3, new SignatureCache()), 'NOT_PROVEN')
    // ...and a proof that leaves a named peer out.
    assert.equal(checkFaultProof([4], proof, SLOT, c.setHash, sim.keys, 3, new SignatureCache()), 'NOT_PROVEN')
  })

  it('refuses a forged signature: the gateway cannot sign a wrong value for a peer', () => {
    const sim = new Sim(4)
    const c = committee(sim)
    const wrongValue = modR(evaluatePolynomial([1n], 4n) + 99n)
    // cn-4's "value", signed by cn-1 (any key but cn-4's), and signed with the gateway's key.
    for (const forged of [
      c.signed(4, wrongValue, 1),
      { node: 4, value: wrongValue, signature: sign(sim.gatewaySk, DOMAIN.partial, partialPayload(SLOT, c.setHash, wrongValue)) }
    ]) {
      const proof = [c.honest(1), c.honest(2), c.honest(3), forged]
      assert.equal(checkFaultProof([4], proof, SLOT, c.setHash, sim.keys, 3, new SignatureCache()), 'BAD_SIGNATURE')
      assert.equal(checkAggregate(sim.aggregate(SLOT, 10n, { faulty: [4], faultProof: proof }), context(sim)), 'BAD_FAULT_PROOF')
    }
    // A real signature of cn-4, but over another slot, or under the endorsement's tag.
    const otherSlot = {
      node: 4,
      value: wrongValue,
      signature: sign(sim.signers[3], DOMAIN.partial, partialPayload(SLOT + 1, c.setHash, wrongValue))
    }
    const otherTag = {
      node: 4,
      value: wrongValue,
      signature: sign(sim.signers[3], DOMAIN.endorse, partialPayload(SLOT, c.setHash, wrongValue))
    }
    for (const forged of [otherSlot, otherTag])
      assert.equal(
        checkFaultProof([4], [c.honest(1), c.honest(2), c.honest(3), forged], SLOT, c.setHash, sim.keys, 3, new SignatureCache()),
        'BAD_SIGNATURE'
      )
  })

  it('refuses a proof whose named value lies on the polynomial: an honest peer framed with its own signed value', () => {
    const sim = new Sim(4)
    const c = committee(sim)
    const proof = [1, 2, 3, 4].map(c.honest)
    assert.equal(checkFaultProof([4], proof, SLOT, c.setHash, sim.keys, 3, new SignatureCache()), 'ON_POLYNOMIAL')
    assert.equal(checkAggregate(sim.aggregate(SLOT, 10n, { faulty: [4], faultProof: proof }), context(sim)), 'BAD_FAULT_PROOF')
  })

  it('refuses too few agreeing values, values that do not agree, and a bitmap that is not exactly the set proven', () => {
    const sim = new Sim(7) // f = 2: 5 agreeing values needed
    const c = committee(sim)
    const check = (named: number[], proof: SignedPartial[]) =>
      checkFaultProof(named, byNode(proof), SLOT, c.setHash, sim.keys, 5, new SignatureCache())
    // 2f values agree (one fewer than needed): a degree-2 polynomial through any 3 of them always exists.
    assert.equal(check([7], [...[1, 2, 3, 4].map(c.honest), c.liar(7)]), 'TOO_FEW_AGREEING')
    assert.equal(
      checkAggregate(
        sim.aggregate(SLOT, 10n, { faulty: [7], faultProof: byNode([...[1, 2, 3, 4].map(c.honest), c.liar(7)]) }),
        context(sim)
      ),
      'BAD_FAULT_PROOF'
    )
    // Five "agreeing" values, one of them off: they do not lie on one polynomial of degree f.
    assert.equal(check([7], [...[1, 2, 3, 4].map(c.honest), c.liar(5), c.liar(7)]), 'NO_AGREEMENT')
    // Two liars, only one named: the bitmap must name exactly the values off the polynomial.
    assert.equal(check([7], [...[1, 2, 3, 4, 5].map(c.honest), c.liar(6), c.liar(7)]), 'NO_AGREEMENT')
    assert.equal(check([6, 7], [...[1, 2, 3, 4, 5].map(c.honest), c.liar(6), c.liar(7)]), null)
    // A named peer whose value lies on it (cn-5), beside a real liar.
    assert.equal(check([5, 7], [...[1, 2, 3, 4, 6].map(c.honest), c.honest(5), c.liar(7)]), 'ON_POLYNOMIAL')
  })

  it('decodes defensively: no proof without a faulty peer, none empty, entries sorted and z below r', () => {
    const sim = new Sim(4)
    const c = committee(sim)
    const good = sim.aggregate(SLOT, 10n, { faulty: [4], faultProof: [c.honest(1), c.honest(2), c.honest(3), c.liar(4)] })
    const malformed = (a: SignedAggregate, mutate?: (bytes: Uint8Array) => Uint8Array) =>
      assert.throws(
        () => decodeAggregate(mutate ? mutate(encodeAggregate(a)) : encodeAggregate(a), 1 << 16),
        (e: unknown) => e instanceof BbnpError && e.code === 'MALFORMED'
      )
    malformed({ ...good, faulty: new Uint8Array(0) })
    malformed({ ...good, faulty: new Uint8Array(1) })
    malformed({ ...good, faultProof: [...good.faultProof!].reverse() })
    malformed({ ...good, faultProof: [good.faultProof![0], good.faultProof![0]] })
    // z = r - 1 is fine; patch its 32 bytes to all-ones (>= r) in the encoding.
    const top = { ...good, faultProof: [{ ...good.faultProof![0], value: modR(-1n) }, ...good.faultProof!.slice(1)] }
    const topBytes = encodeAggregate(top)
    assert.equal(decodeAggregate(topBytes, 1 << 16).faultProof![0].value, modR(-1n))
    malformed(top, (b) => {
      const z = Buffer.from(b).indexOf(Buffer.from('73eda753', 'hex'))
      const out = b.slice()
      out.fill(0xff, z, z + 32)
      return out
    })
    // Without faults the encoding has no `proof` key at all: the same bytes as before proofs existed.
    const plain = sim.aggregate(SLOT, 10n)
    assert.equal(Buffer.from(encodeAggregate(plain)).indexOf(Buffer.from('proof')), -1)
    assert.equal(aggregatePayload(plain).length, aggregatePayload({ ...plain, faultProof: [] }).length)
  })
})

describe('a replica and an aggregate that names a consensus peer', () => {
  it('refuses one without a proof at its hand-off: no block is built on it, and no consensus node is blamed', () => {
    const sim = new Sim(4)
    sim.start()
    sim.advance(60)
    const primary = sim.replica(1).primary!
    const framed = primary === 4 ? 3 : 4
    sim.handOff(sim.aggregate(SLOT, 10n, { faulty: [framed] }))
    for (let j = 1; j <= 4; j++) {
      assert.ok(
        sim.rejects.some((r) => r.at === j && r.kind === 'aggregate' && r.reason === 'BAD_FAULT_PROOF'),
        `cn-${j} refused it`
      )
      assert.equal((sim.committed.get(j) ?? []).length, 0, 'no block on it')
    }
    assert.ok(!sim.rejects.some((r) => r.node !== null), 'no consensus node is blamed for it')
  })

  it('refuses a block whose aggregate names a peer without a proof, blaming the primary that proposed it', () => {
    const sim = new Sim(4)
    sim.start()
    sim.advance(60)
    const primary = sim.replica(1).primary!
    // Capture the primary's proposal of a valid aggregate, then put an unproven one in its place.
    let captured: PrePrepareMessage | undefined
    sim.filters = [
      (d) => {
        if (d.from !== primary) return undefined
        if (d.message.kind === 'preprepare') captured = d.message
        return d.message.kind === 'preprepare' || d.message.kind === 'prepare' ? false : undefined
      }
    ]
    sim.handOff(sim.aggregate(SLOT, 10n), [primary])
    sim.filters = []
    assert.ok(captured)
    const framed = primary === 4 ? 3 : 4
    const block = { ...decodeBlock(captured.block, 1 << 20), aggregate: sim.aggregate(SLOT, 10n, { faulty: [framed] }) }
    const encoded = encodeBlock(block)
    const victim = primary === 1 ? 2 : 1
    sim.deliver(victim, {
      kind: 'preprepare',
      height: block.height,
      view: 0,
      node: primary,
      block: encoded,
      signature: sign(sim.signers[primary - 1], DOMAIN.preprepare, prePreparePayload(block.height, 0, hashEncodedBlock(encoded)))
    })
    assert.ok(sim.rejects.some((r) => r.at === victim && r.node === primary && r.reason === 'BAD_FAULT_PROOF'))
    assert.equal((sim.committed.get(victim) ?? []).length, 0)
  })

  it('commits one with a valid proof, and each replica counts the proven liar\u2019s partial as wrong', () => {
    const sim = new Sim(4)
    sim.start()
    sim.advance(60)
    const c = committee(sim)
    const proof = [c.honest(1), c.honest(2), c.liar(3), c.honest(4)]
    sim.handOff(sim.aggregate(SLOT, 10n, { faulty: [3], faultProof: proof }))
    for (let j = 1; j <= 4; j++) assert.equal((sim.committed.get(j) ?? []).length, 1, `cn-${j} committed`)
    assert.ok(!sim.rejects.some((r) => r.reason === 'BAD_FAULT_PROOF'))
    sim.advance(200) // grace: observations become final
    for (const j of [1, 2, 4]) {
      const items = (sim.observations.get(j) ?? [])[0].items.filter((o) => o.phase === 'partial')
      assert.deepEqual(items, [{ node: 3, phase: 'partial', outcome: 'wrong', delayMs: 0 }], `cn-${j}: cn-3's partial, and only it`)
    }
  })
})
