import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { bls12_381 } from '@noble/curves/bls12-381.js'
import { SeededRng, utf8 } from '@bbnp/core'
import {
  aggregateSignatures,
  batchVerifySameMessage,
  decodeG1,
  decodePublicKey,
  decodeSignature,
  dhSharedSecret,
  fastAggregateVerify,
  g1Multiply,
  modR,
  provePossession,
  publicKeyFromScalar,
  R,
  randomScalar,
  scalarToSigned,
  secretKeyFromScalar,
  sign,
  signedToScalar,
  verify,
  verifyGroups,
  verifyMultiple,
  verifyPossession,
  vrfOutput,
  vrfProve,
  vrfVerify
} from '../src/index.ts'

const rng = new SeededRng('bls-tests')
const keys = Array.from({ length: 5 }, () => {
  const s = randomScalar(rng)
  const sk = secretKeyFromScalar(s)
  return { s, sk, pk: decodePublicKey(publicKeyFromScalar(s)) }
})
const msg = utf8('block digest')

/** A compressed G1 encoding whose x has no point on y^2 = x^3 + 4. */
function offCurveBytes(): Uint8Array {
  const Fp = bls12_381.fields.Fp
  for (let x = 1n; ; x++) {
    const rhs = Fp.add(Fp.pow(x, 3n), 4n)
    let hasRoot = true
    try {
      Fp.sqrt(rhs)
    } catch {
      hasRoot = false
    }
    if (!hasRoot) {
      const b = new Uint8Array(48)
      b.set(Buffer.from(x.toString(16).padStart(96, '0'), 'hex'))
      b[0] |= 0x80
      return b
    }
  }
}

/** (0, 2) is on the curve but not in the prime-order subgroup. */
function nonSubgroupBytes(): Uint8Array {
  const b = new Uint8Array(48)
  b[0] = 0x80
  return b
}

describe('BLS signatures', () => {
  it('sign and verify round trip, bound to the domain tag and message', () => {
    const sig = sign(keys[0].sk, 'bbnp/v1/prepare', msg)
    assert.equal(sig.length, 96)
    assert.ok(verify(keys[0].pk, 'bbnp/v1/prepare', msg, sig))
    assert.equal(verify(keys[0].pk, 'bbnp/v1/commit', msg, sig), false, 'another domain tag')
    assert.equal(verify(keys[0].pk, 'bbnp/v1/prepare', utf8('other'), sig), false, 'another message')
    assert.equal(verify(keys[1].pk, 'bbnp/v1/prepare', msg, sig), false, 'another key')
  })

  it('refuses a bad signature without throwing', () => {
    const sig = sign(keys[0].sk, 'bbnp/v1/prepare', msg)
    const flipped = Uint8Array.from(sig)
    flipped[50] ^= 0x01
    assert.equal(verify(keys[0].pk, 'bbnp/v1/prepare', msg, flipped), false)
    assert.equal(verify(keys[0].pk, 'bbnp/v1/prepare', msg, new Uint8Array(96)), false)
    assert.equal(verify(keys[0].pk, 'bbnp/v1/prepare', msg, sig.subarray(0, 95)), false)
    assert.throws(() => decodeSignature(new Uint8Array(95)), { code: 'BAD_SIGNATURE' })
  })

  it('aggregates and fast-aggregate-verifies one message', () => {
    const sigs = keys.map((k) => sign(k.sk, 'bbnp/v1/commit', msg))
    const agg = aggregateSignatures(sigs)
    assert.ok(
      fastAggregateVerify(
        keys.map((k) => k.pk),
        'bbnp/v1/commit',
        msg,
        agg
      )
    )
    assert.equal(
      fastAggregateVerify(
        keys.slice(1).map((k) => k.pk),
        'bbnp/v1/commit',
        msg,
        agg
      ),
      false,
      'a key missing'
    )
  })

  it('batch verification finds the one bad signature and keeps the good ones', () => {
    const items = keys.map((k) => ({ publicKey: k.pk, signature: sign(k.sk, 'bbnp/v1/prepare', msg) }))
    const good = batchVerifySameMessage(items, 'bbnp/v1/prepare', msg)
    assert.deepEqual(good, { ok: true, bad: [], checks: 1 })
    items[2] = { publicKey: keys[2].pk, signature: sign(keys[2].sk, 'bbnp/v1/prepare', utf8('something else')) }
    items[4] = { publicKey: keys[4].pk, signature: new Uint8Array(96).fill(7) }
    const mixed = batchVerifySameMessage(items, 'bbnp/v1/prepare', msg)
    assert.equal(mixed.ok, false)
    assert.deepEqual(mixed.bad, [2, 4])
    assert.equal(mixed.checks, 1 + items.length)
  })

  it('verifies mixed-message sets with random coefficients', () => {
    const sets = keys.map((k, i) => ({
      publicKey: k.pk,
      domain: 'bbnp/v1/opinion',
      message: utf8(`m${i}`),
      signature: sign(k.sk, 'bbnp/v1/opinion', utf8(`m${i}`))
    }))
    assert.ok(verifyMultiple(sets))
    sets[3] = { ...sets[3], message: utf8('tampered') }
    assert.equal(verifyMultiple(sets), false)
  })

  it('verifies groups of one-message signatures together, and fails when one signature of a group is bad', () => {
    const group = (domain: string, text: string, from: number, to: number) => ({
      publicKeys: keys.slice(from, to).map((k) => k.pk),
      domain,
      message: utf8(text),
      signatures: keys.slice(from, to).map((k) => sign(k.sk, domain, utf8(text)))
    })
    const groups = [
      group('bbnp/v1/threshold', 'theta', 0, 1),
      group('bbnp/v1/election', 'draws', 0, 4),
      group('bbnp/v1/prepare', 'late', 2, 5)
    ]
    assert.ok(verifyGroups(groups))
    assert.ok(verifyGroups([]))
    const forged = groups.map((g, i) =>
      i === 1 ? { ...g, signatures: [...g.signatures.slice(0, 3), sign(keys[3].sk, g.domain, utf8('else'))] } : g
    )
    assert.equal(verifyGroups(forged), false)
    const malformed = groups.map((g, i) => (i === 2 ? { ...g, signatures: [new Uint8Array(96).fill(7), ...g.signatures.slice(1)] } : g))
    assert.equal(verifyGroups(malformed), false, 'a malformed signature is a failure, not a throw')
    // A Theta moved into another group does not verify there.
    const swapped = [{ ...groups[0], domain: 'bbnp/v1/election' }, groups[1]]
    assert.equal(verifyGroups(swapped), false)
  })

  it('a signature decoded twice is the same validated point; a bad one is refused every time', () => {
    const s = sign(keys[0].sk, 'bbnp/v1/prepare', msg)
    assert.equal(decodeSignature(s), decodeSignature(new Uint8Array(s)))
    for (let i = 0; i < 2; i++) assert.throws(() => decodeSignature(new Uint8Array(96).fill(7)))
    assert.ok(verify(keys[0].pk, 'bbnp/v1/prepare', msg, s))
    assert.equal(verify(keys[1].pk, 'bbnp/v1/prepare', msg, s), false)
  })

  it('proof of possession verifies for its own key only', () => {
    const pop = provePossession(keys[0].sk)
    assert.ok(verifyPossession(keys[0].pk, pop))
    assert.equal(verifyPossession(keys[1].pk, pop), false)
  })

  it('signing with alpha*c verifies against G^c (PROTOCOL 1.3)', () => {
    const alpha = randomScalar(rng)
    const c = randomScalar(rng)
    const G = publicKeyFromScalar(alpha)
    const vk = g1Multiply(G, c)
    const sk = secretKeyFromScalar(modR(alpha * c))
    assert.deepEqual(vk, publicKeyFromScalar(modR(alpha * c)))
    assert.ok(verify(decodePublicKey(vk), 'bbnp/v1/prepare', msg, sign(sk, 'bbnp/v1/prepare', msg)))
  })
})

describe('G1 points and Diffie-Hellman', () => {
  it('both sides derive the same secret', () => {
    const a = randomScalar(rng)
    const b = randomScalar(rng)
    assert.deepEqual(dhSharedSecret(a, publicKeyFromScalar(b)), dhSharedSecret(b, publicKeyFromScalar(a)))
  })

  it('refuses an off-curve point', () => {
    const bad = offCurveBytes()
    assert.throws(() => decodeG1(bad), { code: 'BAD_POINT' })
    assert.throws(() => decodePublicKey(bad), { code: 'BAD_POINT' })
    assert.throws(() => dhSharedSecret(5n, bad), { code: 'BAD_POINT' })
  })

  it('refuses a point outside the prime-order subgroup, the identity and a wrong length', () => {
    assert.throws(() => decodeG1(nonSubgroupBytes()), { code: 'BAD_POINT' })
    assert.throws(() => decodePublicKey(nonSubgroupBytes()), { code: 'BAD_POINT' })
    const identity = new Uint8Array(48)
    identity[0] = 0xc0
    assert.throws(() => decodeG1(identity), { code: 'BAD_POINT' })
    assert.throws(() => decodePublicKey(identity), { code: 'BAD_POINT' })
    assert.throws(() => decodeG1(new Uint8Array(47)), { code: 'BAD_POINT' })
  })
})

describe('scalars', () => {
  it('signed values wrap around r and come back', () => {
    for (const v of [0n, 1n, -1n, 123456789n, -987654321n]) assert.equal(scalarToSigned(signedToScalar(v)), v)
    assert.equal(signedToScalar(-1n), R - 1n)
  })
  it('random scalars are in range and non-zero', () => {
    for (let i = 0; i < 100; i++) {
      const s = randomScalar(rng)
      assert.ok(s > 0n && s < R)
    }
  })
})

describe('election VRF', () => {
  const seed = new Uint8Array(32).fill(9)
  it('the draw is deterministic and checkable by anyone', () => {
    const p1 = vrfProve(keys[0].sk, 'election', 7, seed)
    const p2 = vrfProve(keys[0].sk, 'election', 7, seed)
    assert.equal(p1.output, p2.output)
    assert.equal(vrfVerify(keys[0].pk, 'election', 7, seed, p1.signature), p1.output)
  })
  it('a changed seed, height or signature changes X', () => {
    const p = vrfProve(keys[0].sk, 'election', 7, seed)
    assert.notEqual(vrfProve(keys[0].sk, 'election', 8, seed).output, p.output)
    assert.notEqual(vrfProve(keys[0].sk, 'election', 7, new Uint8Array(32).fill(1)).output, p.output)
    const other = Uint8Array.from(p.signature)
    other[10] ^= 1
    assert.notEqual(vrfOutput(other), p.output)
  })
  it('refuses a forged draw', () => {
    const p = vrfProve(keys[0].sk, 'election', 7, seed)
    assert.equal(vrfVerify(keys[1].pk, 'election', 7, seed, p.signature), null, 'claimed by another key')
    assert.equal(vrfVerify(keys[0].pk, 'threshold', 7, seed, p.signature), null, 'used as a threshold')
    assert.equal(vrfVerify(keys[0].pk, 'election', 7, seed, new Uint8Array(96)), null, 'garbage')
  })
})
