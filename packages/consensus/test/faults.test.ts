import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DOMAIN, toHex } from '@bbnp/core'
import { sign } from '@bbnp/crypto'
import {
  type Block,
  type ConsensusMessage,
  decodeBlock,
  encodeBlock,
  hashEncodedBlock,
  maxBlockBytes,
  type PrePrepareMessage,
  prePreparePayload,
  Replica,
  type ReplicaEffect
} from '../src/index.ts'
import { GENESIS_HASH, Sim, signOpinion, testRules } from './harness.ts'

function digests(sim: Sim, j: number): string[] {
  return (sim.committed.get(j) ?? []).map((c) => toHex(c.digest))
}

/** Start a sim, settle the election, and return the view-0 primary. */
function settled(sim: Sim): number {
  sim.start()
  sim.advance(60)
  const p = sim.replica(1).primary
  assert.ok(p)
  for (const r of sim.replicas) assert.equal(r.primary, p, 'all replicas agree on the primary')
  return p
}

/** Capture the pre-prepare the primary publishes for the next aggregate, without delivering it. */
function capturePrePrepare(sim: Sim, primary: number, slot: number): PrePrepareMessage {
  let captured: PrePrepareMessage | undefined
  sim.filters = [
    (d) => {
      if (d.message.kind === 'preprepare' && d.from === primary) {
        captured = d.message
        return false
      }
      return d.message.kind === 'prepare' && d.from === primary ? false : undefined
    }
  ]
  sim.handOff(sim.aggregate(slot), [primary])
  sim.filters = []
  assert.ok(captured, 'primary proposed')
  return captured
}

function resign(sim: Sim, signerNode: number, block: Block, view = 0): PrePrepareMessage {
  const encoded = encodeBlock(block)
  return {
    kind: 'preprepare',
    height: block.height,
    view,
    node: signerNode,
    block: encoded,
    signature: sign(sim.signers[signerNode - 1], DOMAIN.preprepare, prePreparePayload(block.height, view, hashEncodedBlock(encoded)))
  }
}

describe('PBFT replica: faulty and malicious peers', () => {
  it('a replica sending wrong signatures: the block still commits, and the bad votes are found', () => {
    const sim = new Sim(4, { misbehave: { 4: ['wrong-signatures'] } })
    settled(sim)
    sim.handOff(sim.aggregate(3, 77n))
    for (const j of [1, 2, 3]) assert.equal((sim.committed.get(j) ?? []).length, 1, `honest node ${j} committed`)
    assert.equal(new Set([1, 2, 3].map((j) => digests(sim, j)[0])).size, 1)
    const bad = sim.rejects.filter((r) => r.reason === 'BAD_SIGNATURE')
    assert.ok(bad.length > 0, 'bad signatures reported')
    assert.ok(
      bad.every((r) => r.node === 4),
      'only node 4 is blamed'
    )
    // The batch check failed once per phase and the fallback found node 4.
    assert.ok(sim.replica(1).stats.fallbackChecks > 0)
    sim.advance(200) // grace: observations become final
    const obs = (sim.observations.get(1) ?? [])[0]
    assert.ok(obs.items.some((o) => o.node === 4 && o.outcome === 'wrong'))
    assert.ok(obs.items.filter((o) => o.node === 2).every((o) => o.outcome === 'valid'))
  })

  it('refuses a pre-prepare from a node that is not the rightful primary', () => {
    const sim = new Sim(4)
    const primary = settled(sim)
    const pp = capturePrePrepare(sim, primary, 4)
    const impostor = primary === 1 ? 2 : 1
    const victim = [1, 2, 3, 4].find((j) => j !== primary && j !== impostor) as number
    const block = { ...decodeBlock(pp.block, 1 << 20), primary: impostor }
    sim.deliver(victim, resign(sim, impostor, block))
    assert.ok(sim.rejects.some((r) => r.at === victim && r.reason === 'WRONG_PRIMARY' && r.node === impostor))
    assert.equal(sim.broadcasts.filter((d) => d.from === victim && d.message.kind === 'prepare').length, 0, 'no prepare for it')
  })

  it('refuses a block whose sum is not signed by the gateway', () => {
    const sim = new Sim(4)
    const primary = settled(sim)
    const pp = capturePrePrepare(sim, primary, 5)
    const block = decodeBlock(pp.block, 1 << 20)
    const forged = { ...block, aggregate: { ...block.aggregate, sum: block.aggregate.sum + 1000n } }
    const victim = primary === 1 ? 2 : 1
    sim.deliver(victim, resign(sim, primary, forged))
    assert.ok(sim.rejects.some((r) => r.at === victim && r.reason === 'BAD_AGGREGATE_SIGNATURE'))
    assert.equal((sim.committed.get(victim) ?? []).length, 0)
    // And an aggregate handed off with a bad signature is refused at once.
    sim.handOff(sim.aggregate(6, 1n, { badSignature: true }), [victim])
    assert.ok(sim.rejects.some((r) => r.at === victim && r.kind === 'aggregate' && r.reason === 'BAD_SIGNATURE'))
  })

  it('refuses a reputation vector that does not match the signed opinions', () => {
    const sim = new Sim(4)
    settled(sim)
    sim.handOff(sim.aggregate(1))
    assert.equal(sim.replica(1).head.height, 1)
    // Every node receives a quorum of signed opinions for height 1.
    for (let to = 1; to <= 4; to++) for (let node = 1; node <= 3; node++) sim.opinion(to, signOpinion(sim.signers[node - 1], 1, node))
    sim.advance(60)
    const primary = sim.replica(1).primary as number
    const pp = capturePrePrepare(sim, primary, 2)
    const block = decodeBlock(pp.block, 1 << 20)
    assert.equal(block.opinions.length, 3, 'the primary used the quorum of opinions')
    assert.deepEqual(block.reputation.vector, [503, 503, 503, 503])
    const victim = primary === 1 ? 2 : 1
    const tampered = { ...block, reputation: { ...block.reputation, vector: [503, 503, 503, 999] } }
    sim.deliver(victim, resign(sim, primary, tampered))
    assert.ok(sim.rejects.some((r) => r.at === victim && r.reason === 'BAD_REPUTATION'))
    const dropped = { ...block, opinions: block.opinions.slice(0, 2) }
    sim.deliver(victim === 2 ? 3 : 2, resign(sim, primary, dropped))
    assert.ok(
      sim.rejects.some((r) => r.reason === 'BAD_OPINIONS'),
      'fewer than 2f+1 opinions'
    )
  })

  it('ignores duplicate and stale messages', () => {
    const sim = new Sim(4)
    settled(sim)
    sim.handOff(sim.aggregate(1))
    const first = sim.broadcasts.find((d) => d.message.kind === 'commit' && d.to === 1) as { message: ConsensusMessage }
    const before = sim.replica(1).stats.signaturesInBatches
    const heightBefore = sim.replica(1).height
    sim.deliver(1, first.message) // stale height now
    sim.deliver(1, first.message)
    assert.equal(sim.replica(1).stats.signaturesInBatches, before)
    assert.equal(sim.replica(1).height, heightBefore)
    assert.deepEqual(
      sim.rejects.filter((r) => r.at === 1),
      []
    )
    // A duplicate aggregate for a committed slot changes nothing.
    sim.handOff(sim.aggregate(1))
    assert.equal((sim.committed.get(1) ?? []).length, 1)
  })
})

describe('PBFT replica: view change', () => {
  it('a silent primary: the replicas change view and the next primary commits the same slot', () => {
    const sim = new Sim(4)
    const primary = settled(sim)
    sim.down.add(primary)
    sim.handOff(sim.aggregate(7, 700n))
    sim.advance(1100) // view 0 times out
    const alive = [1, 2, 3, 4].filter((j) => j !== primary)
    for (const j of alive) {
      const c = sim.committed.get(j) ?? []
      assert.equal(c.length, 1, `node ${j} committed after the view change`)
      assert.equal(c[0].block.aggregate.sum, 700n)
      assert.equal(c[0].cert.view, 1)
      assert.notEqual(c[0].block.primary, primary)
    }
    assert.equal(new Set(alive.map((j) => digests(sim, j)[0])).size, 1)
    sim.advance(200)
    const obs = (sim.observations.get(alive[0]) ?? [])[0]
    assert.ok(obs.items.some((o) => o.node === primary && o.phase === 'preprepare' && o.outcome === 'missing'))
    assert.ok(obs.items.some((o) => o.node === primary && o.phase === 'commit' && o.outcome === 'missing'))
  })

  it('view change during view change: the primaries of views 0 and 1 are both silent', () => {
    const sim = new Sim(7)
    const p0 = settled(sim)
    const p1 = sim.replica(1).primaryOfView(1) as number
    const p2 = sim.replica(1).primaryOfView(2) as number
    assert.notEqual(p1, p0)
    sim.down.add(p0)
    sim.down.add(p1)
    sim.handOff(sim.aggregate(2, 22n))
    sim.advance(1050) // view 0 times out; view 1's primary never sends NEW-VIEW
    const alive = [1, 2, 3, 4, 5, 6, 7].filter((j) => !sim.down.has(j))
    for (const j of alive) assert.equal((sim.committed.get(j) ?? []).length, 0, 'nothing yet after one timeout')
    sim.advance(2100) // view 1 times out (2 s), view 2 commits
    for (const j of alive) {
      const c = sim.committed.get(j) ?? []
      assert.equal(c.length, 1, `node ${j} committed`)
      assert.equal(c[0].cert.view, 2)
      assert.equal(c[0].block.primary, p2)
    }
    assert.equal(new Set(alive.map((j) => digests(sim, j)[0])).size, 1)
  })

  it('an equivocating primary: no two honest replicas decide different blocks', () => {
    for (const seed of ['eq-a', 'eq-b', 'eq-c']) {
      const p = settled(new Sim(4, { seed }))
      // (1) Every replica sees both blocks: all detect the equivocation, change view, and agree.
      const both = new Sim(4, { seed, misbehave: { [p]: ['equivocate'] } })
      settled(both)
      both.handOff(both.aggregate(9, 9n))
      both.advance(5000)
      const honest = [1, 2, 3, 4].filter((j) => j !== p)
      assert.ok(both.rejects.some((r) => r.reason === 'EQUIVOCATION' && r.node === p))
      const decided = honest.map((j) => digests(both, j)[0])
      assert.ok(decided.every(Boolean), `all honest replicas decided (seed ${seed})`)
      assert.equal(new Set(decided).size, 1)
      // (2) Each honest replica sees only one of the two blocks (split by a seeded choice):
      // whatever gets decided is the same block everywhere; a replica left behind asks to sync.
      const split = new Sim(4, { seed, misbehave: { [p]: ['equivocate'] } })
      settled(split)
      const seen = new Map<number, string>()
      split.filters = [
        (d) => {
          if (d.message.kind !== 'preprepare' || d.from !== p) return undefined
          const h = toHex(hashEncodedBlock(d.message.block))
          const want = seen.get(d.to) ?? (d.to % 2 === 0 ? h : '')
          if (!seen.has(d.to)) {
            if (want === '') {
              seen.set(d.to, 'skip-first')
              return false
            }
            seen.set(d.to, h)
            return undefined
          }
          if (seen.get(d.to) !== 'skip-first') return false
          seen.set(d.to, h)
          return undefined
        }
      ]
      split.handOff(split.aggregate(9, 9n))
      split.advance(5000)
      const splitDecided = honest.map((j) => digests(split, j)[0]).filter(Boolean)
      assert.ok(new Set(splitDecided).size <= 1, `no fork (seed ${seed})`)
      for (const j of honest) {
        if (!digests(split, j)[0]) assert.ok((split.behind.get(j) ?? []).length > 0, `undecided node ${j} asks to sync`)
      }
    }
  })

  it('a prepared block is carried into the new view', () => {
    const sim = new Sim(4)
    const primary = settled(sim)
    // Everybody prepares, but no commit gets through: the block is prepared and not committed.
    sim.filters = [(d) => (d.message.kind === 'commit' ? false : undefined)]
    sim.handOff(sim.aggregate(3, 333n))
    const prepared = sim.replicas.filter((r) => r.height === 1)
    assert.equal(prepared.length, 4, 'nobody committed')
    const proposed = sim.broadcasts.find((d) => d.message.kind === 'preprepare')?.message as PrePrepareMessage
    sim.filters = []
    sim.down.add(primary)
    sim.advance(2000)
    const alive = [1, 2, 3, 4].filter((j) => j !== primary)
    for (const j of alive) {
      const c = sim.committed.get(j) ?? []
      assert.equal(c.length, 1, `node ${j} committed`)
      assert.equal(toHex(c[0].digest), toHex(hashEncodedBlock(proposed.block)), 'the same block, re-proposed')
      assert.equal(c[0].block.primary, primary, 'it keeps its original proposer')
      assert.equal(c[0].cert.view, 1)
    }
  })
})

describe('PBFT replica: no double signing after a restart', () => {
  function restart(
    sim: Sim,
    victim: number,
    record: ReturnType<Sim['persisted']['get']> extends (infer T)[] | undefined ? T : never
  ): { r: Replica; effects: ReplicaEffect[] } {
    const old = sim.replica(victim)
    const r = new Replica(
      { ...old.config, rules: testRules(sim.keys), maxBlockBytes: maxBlockBytes(4, 5) },
      { height: 0, hash: GENESIS_HASH, slot: -1, reputation: [500, 500, 500, 500], opinionHeight: 0, cert: null },
      record
    )
    return { r, effects: r.handle({ type: 'start', now: sim.now }) }
  }

  it('a replica restarted from its persisted record refuses to prepare a different block in the same view', () => {
    const sim = new Sim(4)
    const primary = settled(sim)
    const pp = capturePrePrepare(sim, primary, 4)
    const victim = primary === 1 ? 2 : 1
    sim.deliver(victim, pp)
    const record = (sim.persisted.get(victim) ?? []).at(-1)
    assert.ok(record && record.phase === 'prepare' && record.height === 1 && record.view === 0)
    assert.equal(toHex(record.digest as Uint8Array), toHex(hashEncodedBlock(pp.block)))
    const block = decodeBlock(pp.block, 1 << 20)
    const conflicting = resign(sim, primary, { ...block, timestampMs: block.timestampMs + 5 })

    const a = restart(sim, victim, record)
    const out = a.r.handle({ type: 'message', message: conflicting, now: sim.now })
    assert.equal(out.filter((e) => e.type === 'broadcast' && e.message.kind === 'prepare').length, 0, 'no prepare for a conflicting block')
    assert.equal(out.filter((e) => e.type === 'persist').length, 0, 'nothing signed')

    const b = restart(sim, victim, record)
    const again = b.r.handle({ type: 'message', message: pp, now: sim.now })
    const prepares = again.filter((e) => e.type === 'broadcast' && e.message.kind === 'prepare')
    assert.equal(prepares.length, 1, 'the block it had prepared may be prepared again')
  })

  it('a replica restarted after a view change stays in that view', () => {
    const sim = new Sim(4)
    const primary = settled(sim)
    sim.down.add(primary)
    const victim = primary === 1 ? 2 : 1
    sim.handOff(sim.aggregate(5), [victim])
    sim.advance(1001)
    const record = (sim.persisted.get(victim) ?? []).at(-1)
    assert.ok(record && record.phase === 'viewchange' && record.view === 1)
    const { r } = restart(sim, victim, record)
    assert.equal(r.view, 1)
    assert.equal(r.viewChanging, true)
    // A pre-prepare for view 0 is no longer signed.
    const twin = new Sim(4) // same seed, same keys: its primary's block is valid for the victim
    assert.equal(settled(twin), primary)
    const pp = capturePrePrepare(twin, primary, 5)
    const out = r.handle({ type: 'message', message: pp, now: sim.now })
    assert.equal(out.filter((e) => e.type === 'persist').length, 0)
  })
})
