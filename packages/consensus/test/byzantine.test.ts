import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DOMAIN, toHex } from '@bbnp/core'
import { verify, vrfMessage } from '@bbnp/crypto'
import {
  checkCertificate,
  decodeBlock,
  type DrawMessage,
  encodeBlock,
  hashEncodedBlock,
  type PrePrepareMessage,
  prePreparePayload,
  voteDomain,
  votePayload,
  withMisbehaviour
} from '../src/index.ts'
import { Sim } from './harness.ts'

describe('misbehaviour as a wrapper around the honest replica', () => {
  it('without a mode of the replica (silent and late are the runtime’s) the replica itself is returned', () => {
    const sim = new Sim(4, { seed: 'wrapper-none' })
    const r = sim.replica(1)
    assert.equal(withMisbehaviour(r, [], sim.signers[0]), r)
    assert.equal(withMisbehaviour(r, ['silent', 'late'], sim.signers[0]), r)
    assert.notEqual(withMisbehaviour(r, ['silent', 'wrong-signatures'], sim.signers[0]), r)
  })

  it('wrong-signatures: every prepare and commit it sends is signed over the view moved by 1,000,000, nothing else', () => {
    const sim = new Sim(4, { seed: 'wrapper-wrong', misbehave: { 4: ['wrong-signatures'] } })
    sim.start()
    sim.advance(60)
    sim.handOff(sim.aggregate(1))
    const sent = sim.broadcasts.filter((d) => d.from === 4 && d.to === 1).map((d) => d.message)
    const votes = sent.filter((m) => m.kind === 'prepare' || m.kind === 'commit')
    assert.deepEqual(
      votes.map((m) => m.kind),
      ['prepare', 'commit']
    )
    for (const v of votes) {
      if (v.kind !== 'prepare' && v.kind !== 'commit') continue
      const key = sim.keys[3]
      assert.equal(verify(key, voteDomain(v.kind), votePayload(v.height, v.view, v.digest), v.signature), false)
      assert.equal(verify(key, voteDomain(v.kind), votePayload(v.height, v.view + 1_000_000, v.digest), v.signature), true)
    }
    const draw = sent.find((m): m is DrawMessage => m.kind === 'draw')
    assert.ok(draw, 'its draw went out')
    assert.ok(verify(sim.keys[3], DOMAIN.election, vrfMessage(draw.height, draw.seed), draw.signature), 'signed as an honest draw')
    // Only what leaves is rewritten: the wrapped replica's own certificate is valid.
    const head = sim.replica(4).head
    assert.equal(head.height, 1)
    assert.ok(head.cert)
    assert.equal(checkCertificate(head.cert, 1, head.hash, sim.keys, 3), null)
  })

  it('equivocate: as primary, a second signed pre-prepare for the twin block follows the first', () => {
    const probe = new Sim(4, { seed: 'wrapper-eq' })
    probe.start()
    probe.advance(60)
    const p = probe.replica(1).primary as number
    const sim = new Sim(4, { seed: 'wrapper-eq', misbehave: { [p]: ['equivocate'] } })
    const to = p === 1 ? 2 : 1
    // Every pre-prepare reaching one replica, in order (then dropped: only what was sent matters here).
    const seen: PrePrepareMessage[] = []
    sim.filters = [
      (d) => {
        if (d.message.kind !== 'preprepare') return undefined
        if (d.to === to) seen.push(d.message)
        return false
      }
    ]
    sim.start()
    sim.advance(60)
    sim.handOff(sim.aggregate(2), [p])
    assert.equal(seen.length, 2)
    const [first, second] = seen
    assert.equal(first.view, 0)
    assert.equal(second.view, 0)
    const a = decodeBlock(first.block, 1 << 20)
    const b = decodeBlock(second.block, 1 << 20)
    assert.equal(b.timestampMs, a.timestampMs + 1)
    assert.equal(toHex(encodeBlock({ ...a, timestampMs: a.timestampMs + 1 })), toHex(second.block))
    for (const m of seen)
      assert.ok(verify(sim.keys[p - 1], DOMAIN.preprepare, prePreparePayload(1, 0, hashEncodedBlock(m.block)), m.signature))
  })
})
