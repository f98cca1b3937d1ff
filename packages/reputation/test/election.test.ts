import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SeededRng } from '@bbnp/core'
import { randomScalar, secretKeyFromScalar, vrfOutput, vrfProve } from '@bbnp/crypto'
import {
  checkPrimary,
  computeElection,
  preselect,
  primaryForView,
  reputationPreset,
  reputationThreshold,
  toFixedPoint,
  verifyElection
} from '../src/index.ts'

const TOP = 2n ** 64n - 1n
/** These tests pin the paper's rule (IV-D-1): highest reputation in P, Gamma >= T; fair-rule tests are in fair.test.ts. */
const PAPER = reputationPreset('paper')

describe('pre-selection by the mean reputation (IV-D-1 step 1), paper rule', () => {
  it('T is the floored mean; Gamma_j >= T', () => {
    assert.equal(reputationThreshold([3, 4]), 3)
    assert.deepEqual(preselect([3, 4], PAPER), [1, 2])
    assert.equal(reputationThreshold([0, 10, 5]), 5)
    assert.deepEqual(preselect([0, 10, 5], PAPER), [2, 3])
    assert.deepEqual(preselect([7, 7, 7], PAPER), [1, 2, 3], 'equal reputations: everyone')
    assert.deepEqual(preselect([0, 0], PAPER), [1, 2], 'all zero: everyone')
  })
})

describe('the election from draws (IV-D-1 steps 2-3, PROTOCOL 4.1), paper rule', () => {
  // node:        1    2    3    4    5
  const reps = [0.9, 0.8, 0.8, 0.7, 0.1].map(toFixedPoint) // mean 0.66: 1-4 pre-selected
  const draws = new Map<number, bigint>([
    [1, 100n],
    [2, 500n],
    [3, 600n],
    [4, 900n],
    [5, TOP] // not pre-selected: ignored
  ])

  it('P = {X >= Theta}; the highest reputation in P, ties to the lower index', () => {
    const e = computeElection(reps, draws, 500n, PAPER)
    assert.deepEqual(e.preselected, [1, 2, 3, 4])
    assert.deepEqual(e.candidates, [2, 3, 4], 'node 1 drew below Theta; 2 and 3 tie on reputation')
    assert.equal(primaryForView(e, 0), 2)
  })

  it('orders views: P by reputation, then the rest by X', () => {
    const e = computeElection(reps, draws, 600n, PAPER)
    assert.deepEqual(e.candidates, [3, 4])
    assert.deepEqual(e.order, [3, 4, 2, 1])
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((v) => primaryForView(e, v)),
      [3, 4, 2, 1, 3, 4]
    )
  })

  it('empty P: the pre-selected node with the highest X, ties to the lower index', () => {
    const e = computeElection(reps, draws, 901n, PAPER)
    assert.deepEqual(e.candidates, [])
    assert.equal(primaryForView(e, 0), 4)
    const tied = computeElection(
      reps,
      new Map([
        [1, 7n],
        [3, 7n],
        [2, 5n]
      ]),
      8n,
      PAPER
    )
    assert.deepEqual(tied.order, [1, 3, 2])
  })

  it('a pre-selected node without a draw is left out; nobody with a draw means no primary', () => {
    const e = computeElection(reps, new Map([[4, 10n]]), 0n, PAPER)
    assert.deepEqual(e.order, [4])
    const none = computeElection(reps, new Map(), 0n, PAPER)
    assert.equal(primaryForView(none, 0), undefined)
    assert.equal(checkPrimary(none, 0, 1).ok, false)
  })

  it('checkPrimary says who the rightful primary of a view is', () => {
    const e = computeElection(reps, draws, 600n, PAPER)
    assert.deepEqual(checkPrimary(e, 0, 3), { ok: true })
    assert.deepEqual(checkPrimary(e, 2, 2), { ok: true })
    const r = checkPrimary(e, 0, 4)
    assert.equal(r.ok, false)
    assert.equal(r.ok === false && r.expected, 3)
  })
})

describe('the election VRF, verified (PROTOCOL 4.1 [hardening]), paper rule', () => {
  const rng = new SeededRng('election-tests')
  const m = 5
  const keys = Array.from({ length: m }, () => secretKeyFromScalar(randomScalar(rng)))
  const gw = secretKeyFromScalar(randomScalar(rng))
  const nodeKeys = keys.map((k) => k.toPublicKey().toBytes())
  const gatewayKey = gw.toPublicKey().toBytes()
  const reps = [0.9, 0.8, 0.6, 0.7, 0.2].map(toFixedPoint) // mean 0.64: 1, 2, 4 pre-selected
  const seed = new Uint8Array(32).fill(9)
  const h = 12
  const sigs = keys.map((k, i) => ({ node: i + 1, signature: vrfProve(k, 'election', h, seed).signature }))
  const threshold = vrfProve(gw, 'threshold', h, seed).signature
  const proofs = { height: h, seed, reputations: reps, thresholdSignature: threshold, gatewayKey, nodeKeys, params: PAPER }

  it('recomputes the election from the signatures', () => {
    const e = verifyElection({ ...proofs, electionSignatures: sigs.filter((s) => [1, 2, 4].includes(s.node)) })
    assert.deepEqual(e.preselected, [1, 2, 4])
    assert.deepEqual(e.rejected, [])
    assert.deepEqual(e.absent, [])
    const expected = computeElection(
      reps,
      new Map([1, 2, 4].map((q) => [q, vrfOutput(sigs[q - 1].signature)])),
      vrfOutput(threshold),
      PAPER
    )
    assert.deepEqual(e.order, expected.order)
    assert.equal(e.theta, vrfOutput(threshold))
    assert.equal(e.order.length, 3)
  })

  it('refuses forged, misattributed, duplicated and unknown election signatures, with a reason', () => {
    const e = verifyElection({
      ...proofs,
      electionSignatures: [
        { node: 1, signature: sigs[1].signature }, // node 2's signature claimed by node 1
        { node: 2, signature: vrfProve(keys[1], 'election', h + 1, seed).signature }, // another height
        { node: 4, signature: sigs[3].signature },
        { node: 4, signature: sigs[3].signature },
        { node: 3, signature: sigs[2].signature }, // below the threshold
        { node: 9, signature: sigs[0].signature }
      ]
    })
    assert.deepEqual(
      e.rejected.map((r) => [r.node, r.code]),
      [
        [1, 'BAD_SIGNATURE'],
        [2, 'BAD_SIGNATURE'],
        [4, 'DUPLICATE'],
        [3, 'NOT_PRESELECTED'],
        [9, 'UNKNOWN_NODE']
      ]
    )
    assert.deepEqual(e.absent, [1, 2])
    assert.deepEqual(e.order, [4])
  })

  it('refuses a forged threshold: no election without Theta', () => {
    const forged = vrfProve(keys[0], 'threshold', h, seed).signature
    assert.throws(() => verifyElection({ ...proofs, thresholdSignature: forged, electionSignatures: sigs }), { code: 'BAD_THRESHOLD' })
    assert.throws(() => verifyElection({ ...proofs, thresholdSignature: sigs[0].signature, electionSignatures: sigs }), {
      code: 'BAD_THRESHOLD'
    })
    assert.throws(() => verifyElection({ ...proofs, gatewayKey: new Uint8Array(48), electionSignatures: sigs }), { code: 'BAD_THRESHOLD' })
  })

  it('a changed seed or height changes X and Theta; a changed signature changes X and is refused', () => {
    const other = new Uint8Array(32).fill(10)
    assert.notEqual(vrfProve(keys[0], 'election', h, other).output, vrfOutput(sigs[0].signature))
    assert.notEqual(vrfProve(keys[0], 'election', h + 1, seed).output, vrfOutput(sigs[0].signature))
    assert.notEqual(vrfProve(gw, 'threshold', h, other).output, vrfOutput(threshold))
    const flipped = sigs[0].signature.slice()
    flipped[50] ^= 1
    assert.notEqual(vrfOutput(flipped), vrfOutput(sigs[0].signature))
    const e = verifyElection({ ...proofs, electionSignatures: [{ node: 1, signature: flipped }] })
    assert.equal(e.rejected[0].code, 'BAD_SIGNATURE')
    assert.deepEqual(e.order, [])
    // the old signatures do not verify for a new seed
    const moved = verifyElection({
      ...proofs,
      seed: other,
      thresholdSignature: vrfProve(gw, 'threshold', h, other).signature,
      electionSignatures: sigs.slice(0, 1)
    })
    assert.equal(moved.rejected[0].code, 'BAD_SIGNATURE')
  })

  it('refuses a key list that does not match the reputations', () => {
    assert.throws(() => verifyElection({ ...proofs, nodeKeys: nodeKeys.slice(1), electionSignatures: [] }), { code: 'BAD_ELECTION' })
  })
})
