import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encodeCanonical, SeededRng } from '@bbnp/core'
import { decodePublicKey, randomScalar, secretKeyFromScalar } from '@bbnp/crypto'
import {
  decodeSignedOpinionVector,
  encodeSignedOpinionVector,
  type OpinionVector,
  REPUTATION_SCALE,
  signOpinionVector,
  toOpinionEntry,
  validateOpinionVector,
  verifyOpinionVector
} from '../src/index.ts'
import { code } from './helpers.ts'

const rng = new SeededRng('opinion-tests')
const keys = Array.from({ length: 3 }, () => secretKeyFromScalar(randomScalar(rng)))
const pks = keys.map((k) => decodePublicKey(k.toPublicKey().toBytes()))

const vector: OpinionVector = {
  height: 7,
  observer: 2,
  opinions: [toOpinionEntry(1, { b: 0.6, d: 0.3, u: 0.1 }, 12), toOpinionEntry(3, { b: 0, d: 0, u: 1 }, 0)]
}

describe('fixed-point opinions', () => {
  it('keep b + d + u = SCALE exactly, even when b and d both round up', () => {
    const half = 0.4999999995 // b*SCALE and d*SCALE are both x.5
    const e = toOpinionEntry(1, { b: half, d: half, u: 1e-9 }, 1)
    assert.equal(e.b + e.d + e.u, REPUTATION_SCALE)
    assert.ok(e.u >= 0)
    const f = toOpinionEntry(1, { b: 0.1 + 0.2, d: 0.3, u: 0.4 }, 1)
    assert.equal(f.b + f.d + f.u, REPUTATION_SCALE)
  })
})

describe('signed opinion vectors', () => {
  it('sign, verify, encode and decode', () => {
    const sv = signOpinionVector(keys[1], vector)
    assert.ok(verifyOpinionVector(pks[1], sv))
    const back = decodeSignedOpinionVector(encodeSignedOpinionVector(sv), { nodes: 3 })
    assert.deepEqual(back, sv)
    assert.ok(verifyOpinionVector(pks[1], back))
  })

  it('refuse a changed vector, another key, or a garbage signature', () => {
    const sv = signOpinionVector(keys[1], vector)
    const changed = {
      ...sv,
      vector: {
        ...vector,
        opinions: [{ ...vector.opinions[0], b: vector.opinions[0].b - 1, u: vector.opinions[0].u + 1 }, vector.opinions[1]]
      }
    }
    assert.equal(verifyOpinionVector(pks[1], changed), false)
    assert.equal(verifyOpinionVector(pks[1], { ...sv, vector: { ...vector, height: 8 } }), false, 'replayed at another height')
    assert.equal(verifyOpinionVector(pks[0], sv), false)
    assert.equal(verifyOpinionVector(pks[1], { ...sv, signature: new Uint8Array(96) }), false)
  })

  it('refuse malformed vectors on decode', () => {
    const sig = new Uint8Array(96)
    const enc = (o: unknown[][], i = 2, h = 7) => encodeCanonical({ v: { h, i, o }, s: sig })
    const good = vector.opinions.map((e) => [e.peer, e.b, e.d, e.u, e.n])
    assert.equal(decodeSignedOpinionVector(enc(good), { nodes: 3 }).vector.observer, 2)
    assert.equal(
      code(() => decodeSignedOpinionVector(enc([good[0]]), { nodes: 3 })),
      'BAD_OPINION',
      'incomplete'
    )
    assert.equal(
      code(() => decodeSignedOpinionVector(enc([good[1], good[0]]), { nodes: 3 })),
      'BAD_OPINION',
      'out of order'
    )
    assert.equal(
      code(() => decodeSignedOpinionVector(enc([[2, 0, 0, REPUTATION_SCALE, 0], good[1]]), { nodes: 3 })),
      'BAD_OPINION',
      'about itself'
    )
    assert.equal(
      code(() => decodeSignedOpinionVector(enc([[1, 5, 5, 5, 0], good[1]]), { nodes: 3 })),
      'BAD_OPINION',
      'b + d + u != SCALE'
    )
    assert.equal(
      code(() => decodeSignedOpinionVector(enc([[1, -1, 1, REPUTATION_SCALE, 0], good[1]]), { nodes: 3 })),
      'MALFORMED',
      'negative'
    )
    assert.equal(
      code(() => decodeSignedOpinionVector(enc(good, 4), { nodes: 3 })),
      'BAD_OPINION',
      'unknown observer'
    )
    assert.equal(
      code(() => decodeSignedOpinionVector(encodeCanonical({ v: { h: 7, i: 2, o: good }, s: new Uint8Array(10) }), { nodes: 3 })),
      'MALFORMED',
      'short signature'
    )
    assert.equal(
      code(() => decodeSignedOpinionVector(encodeCanonical({ v: { h: 7, i: 2, o: good, x: 1 }, s: sig }), { nodes: 3 })),
      'MALFORMED',
      'extra field'
    )
    assert.equal(
      code(() => decodeSignedOpinionVector(new Uint8Array(10_000), { nodes: 3 })),
      'OVERSIZED'
    )
    assert.equal(
      code(() => validateOpinionVector({ ...vector, opinions: [{ ...vector.opinions[0], n: 1.5 }, vector.opinions[1]] }, 3)),
      'BAD_OPINION'
    )
  })
})
