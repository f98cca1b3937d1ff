import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DOMAIN } from '@bbnp/core'
import { sign, vrfMessage } from '@bbnp/crypto'
import { Outbox, type ReplicaContext } from '../src/context.ts'
import { FutureMessages } from '../src/future-messages.ts'
import { Evidence } from '../src/observations.ts'
import { VoteBook } from '../src/vote-book.ts'
import {
  checkCertificate,
  type ConsensusMessage,
  type ConsensusRules,
  Replica,
  SignatureCache,
  voteDomain,
  votePayload
} from '../src/index.ts'
import { GENESIS_HASH, Sim, testRules } from './harness.ts'

function context(sim: Sim, out: Outbox): ReplicaContext {
  const stats = { batchChecks: 0, signaturesInBatches: 0, fallbackChecks: 0, commits: 0, viewChanges: 0 }
  return { config: sim.replica(1).config, m: sim.m, f: 1, quorum: 3, cache: new SignatureCache(), stats, out }
}

describe('vote book', () => {
  const sim = new Sim(4, { seed: 'vote-book' })
  const d1 = new Uint8Array(32).fill(1)
  const d2 = new Uint8Array(32).fill(2)
  const prepare = (signer: number, digest: Uint8Array) => sign(sim.signers[signer - 1], voteDomain('prepare'), votePayload(1, 0, digest))

  it('one vote per node and (phase, view); a second for another block is reported as DOUBLE_VOTE', () => {
    const out = new Outbox()
    const evidence = new Evidence(out)
    const book = new VoteBook(context(sim, out), 1, evidence)
    assert.equal(book.add('prepare', 0, d1, 2, { signature: prepare(2, d1), verified: false, at: 5 }), true)
    assert.equal(book.add('prepare', 0, d1, 2, { signature: prepare(2, d1), verified: false, at: 6 }), false, 'a duplicate')
    assert.deepEqual(out.take(), [])
    assert.equal(book.add('prepare', 0, d2, 2, { signature: prepare(2, d2), verified: false, at: 7 }), false)
    assert.deepEqual(out.take(), [{ type: 'reject', node: 2, kind: 'prepare', reason: 'DOUBLE_VOTE' }])
    assert.deepEqual(evidence.wrong, [{ node: 2, phase: 'prepare', outcome: 'wrong', delayMs: 0 }])
    // The same node may vote in the other phase and in other views.
    assert.equal(book.add('commit', 0, d1, 2, { signature: new Uint8Array(96), verified: false, at: 8 }), true)
    assert.equal(book.add('prepare', 1, d2, 2, { signature: new Uint8Array(96), verified: false, at: 9 }), true)
    assert.equal(book.voteOf('prepare', 0, 2)?.at, 5)
    assert.equal(book.count('prepare', 0, d1), 1)
    assert.equal(book.count('prepare', 0, d2), 0)
  })

  it('verifies a set as one aggregate, drops and reports the bad votes, and makes a valid certificate of the rest', () => {
    const out = new Outbox()
    const ctx = context(sim, out)
    const book = new VoteBook(ctx, 1, new Evidence(out))
    book.add('prepare', 0, d1, 1, { signature: prepare(1, d1), verified: true, at: 0 })
    book.add('prepare', 0, d1, 2, { signature: prepare(2, d1), verified: false, at: 3 })
    book.add('prepare', 0, d1, 3, { signature: prepare(4, d1), verified: false, at: 4 }) // node 3's vote, signed by node 4
    book.add('prepare', 0, d1, 4, { signature: prepare(4, d1), verified: false, at: 5 })
    assert.equal(book.count('prepare', 0, d1), 4)
    assert.equal(book.verify('prepare', 0, d1), 3)
    assert.deepEqual(out.take(), [{ type: 'reject', node: 3, kind: 'prepare', reason: 'BAD_SIGNATURE' }])
    assert.equal(book.voteOf('prepare', 0, 3), undefined, 'a dropped vote is no vote')
    assert.equal(ctx.stats.batchChecks, 1)
    assert.equal(ctx.stats.signaturesInBatches, 3)
    assert.ok(ctx.stats.fallbackChecks > 0)
    const cert = book.certificate('prepare', 0, d1)
    assert.equal(checkCertificate(cert, 1, d1, sim.keys, 3, 'prepare'), null)
    assert.equal(book.verify('prepare', 0, d1), 3, 'nothing left to verify')
    assert.equal(ctx.stats.batchChecks, 1)
  })

  it('remembers whether this replica voted, per phase and view', () => {
    const out = new Outbox()
    const book = new VoteBook(context(sim, out), 1, new Evidence(out))
    assert.equal(book.hasSent('prepare', 0), false)
    book.markSent('prepare', 0)
    assert.equal(book.hasSent('prepare', 0), true)
    assert.equal(book.hasSent('commit', 0), false)
    assert.equal(book.hasSent('prepare', 1), false)
  })
})

describe('election', () => {
  it('computes the order of candidates again only after a draw or Theta changed', () => {
    const sim = new Sim(4, { seed: 'order-cache' })
    const base = testRules(sim.keys)
    let calls = 0
    const rules: ConsensusRules = {
      ...base,
      electionOrder(reputation, draws, theta) {
        calls++
        return base.electionOrder(reputation, draws, theta)
      }
    }
    const r = new Replica({ ...sim.replica(1).config, rules }, { ...sim.replica(1).head }, null)
    r.handle({ type: 'start', now: 0 })
    const deliver = (message: ConsensusMessage) => r.handle({ type: 'message', message, now: 1 })
    const draw = (node: number): ConsensusMessage => ({
      kind: 'draw',
      height: 1,
      seed: GENESIS_HASH,
      node,
      signature: sign(sim.signers[node - 1], DOMAIN.election, vrfMessage(1, GENESIS_HASH))
    })
    assert.equal(r.primaryOfView(0), null, 'no order without Theta')
    assert.equal(calls, 0)
    deliver({ kind: 'theta', height: 1, seed: GENESIS_HASH, signature: sign(sim.gatewaySk, DOMAIN.threshold, vrfMessage(1, GENESIS_HASH)) })
    const before = calls
    assert.equal(r.primaryOfView(0), 1, 'only its own draw so far')
    assert.equal(r.primaryOfView(1), 1)
    assert.equal(calls, before + 1)
    deliver(draw(2))
    deliver(draw(3))
    const order = [0, 1, 2].map((v) => r.primaryOfView(v))
    assert.deepEqual([...order].sort(), [1, 2, 3])
    const after = calls
    for (let v = 0; v < 5; v++) r.primaryOfView(v)
    assert.equal(calls, after, 'unchanged draws: no recomputation')
  })

  it('re-sends its draw with backoff, counting the attempts in the retry timer, not in the view', () => {
    const sim = new Sim(4, { seed: 'retry-attempts' })
    const r = new Replica(sim.replica(1).config, { ...sim.replica(1).head }, null)
    const retries = (effects: ReturnType<Replica['handle']>) =>
      effects.flatMap((e) => (e.type === 'timer' && e.timer.kind === 'retry' ? [{ ...e.timer, delayMs: e.delayMs }] : []))
    const first = retries(r.handle({ type: 'start', now: 0 }))
    assert.deepEqual(first, [{ kind: 'retry', height: 1, attempt: 0, delayMs: 250 }])
    const delays = [250]
    for (let attempt = 0; attempt < 7; attempt++) {
      const effects = r.handle({ type: 'timeout', timer: { kind: 'retry', height: 1, attempt }, now: 1 })
      assert.ok(
        effects.some((e) => e.type === 'broadcast' && e.message.kind === 'draw'),
        'the draw again'
      )
      assert.ok(
        effects.some((e) => e.type === 'fetch-theta'),
        'and Theta asked for directly'
      )
      const [next] = retries(effects)
      assert.equal(next.attempt, attempt + 1)
      delays.push(next.delayMs)
    }
    assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000])
    assert.equal(r.view, 0)
    // A retry of another height does nothing.
    assert.deepEqual(r.handle({ type: 'timeout', timer: { kind: 'retry', height: 2, attempt: 0 }, now: 2 }), [])
  })
})

describe('future messages', () => {
  const vote = (height: number, node: number, kind: 'prepare' | 'preprepare' = 'prepare'): ConsensusMessage =>
    kind === 'prepare'
      ? { kind, height, view: 0, node, digest: new Uint8Array(32), signature: new Uint8Array(96) }
      : { kind, height, view: 0, node, block: new Uint8Array(0), signature: new Uint8Array(96) }

  it('are kept for their height; f+1 senders, a next-height proposal or a height too far ahead say this replica is behind', () => {
    const future = new FutureMessages()
    assert.equal(future.add(vote(3, 2), 1, 1), false)
    assert.equal(future.add(vote(3, 3), 1, 1), true, 'f+1 = 2 distinct nodes at height 3')
    assert.equal(future.add(vote(2, 2, 'preprepare'), 1, 1), true, 'a proposal for the next height')
    assert.equal(future.add(vote(5, 2), 1, 1), true, 'beyond three heights ahead')
    assert.deepEqual(
      future.take(3).map((m) => m.kind === 'theta' || m.node),
      [2, 3]
    )
    assert.deepEqual(future.take(3), [], 'taken once')
    assert.equal(future.take(5).length, 0, 'too far ahead: not kept')
    assert.equal(future.take(2).length, 1)
  })
})
