import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DOMAIN, encodeCanonical } from '@bbnp/core'
import { sign, vrfMessage } from '@bbnp/crypto'
import { carriedDraw, decodeMessage, encodeMessage, type VoteMessage } from '../src/index.ts'
import { Sim } from './harness.ts'

const limits = { maxBlockBytes: 1 << 16, nodes: 4 }
const digest = new Uint8Array(32).fill(9)
const sig = new Uint8Array(96).fill(3)

describe('COMMIT with the next height’s draw: the wire (PROTOCOL 4.1, 6.2)', () => {
  it('a commit round-trips with its draw or with null; the draw is of height + 1 over the commit’s digest', () => {
    const commit: VoteMessage = {
      kind: 'commit',
      height: 7,
      view: 1,
      node: 2,
      digest,
      signature: sig,
      nextDraw: new Uint8Array(96).fill(5)
    }
    const back = decodeMessage(encodeMessage(commit), limits)
    assert.deepEqual(back, commit)
    assert.deepEqual(carriedDraw(back), {
      kind: 'draw',
      height: 8,
      seed: digest,
      node: 2,
      signature: commit.nextDraw,
      carried: true
    })
    const none = decodeMessage(encodeMessage({ ...commit, nextDraw: null }), limits) as VoteMessage
    assert.equal(none.nextDraw, null)
    assert.equal(carriedDraw(none), null)
    const prepare = decodeMessage(encodeMessage({ ...commit, kind: 'prepare' }), limits) as VoteMessage
    assert.equal(prepare.nextDraw, undefined, 'a prepare carries no draw')
    assert.equal(carriedDraw(prepare), null)
  })

  it('refuses a commit without the draw field, a draw of the wrong size, and a prepare with a draw', () => {
    const base = { h: 7, v: 1, node: 2, d: digest, sig }
    const cbor = (o: Record<string, unknown>) =>
      encodeMessage({ kind: 'commit', height: 7, view: 1, node: 2, digest, signature: sig, ...o })
    assert.throws(() => decodeMessage(cbor({ nextDraw: new Uint8Array(95) }), limits), { code: 'MALFORMED' })
    // Hand-made maps, as a faulty or hostile peer would send them.
    assert.throws(() => decodeMessage(encodeCanonical({ k: 'commit', ...base }), limits), { code: 'MALFORMED' })
    assert.throws(() => decodeMessage(encodeCanonical({ k: 'prepare', ...base, draw: sig }), limits), { code: 'MALFORMED' })
  })
})

describe('COMMIT with the next height’s draw: the replica (PROTOCOL 4.1)', () => {
  it('after the first height no draw travels alone, every height still elects and commits, and nobody thinks it is behind', () => {
    const sim = new Sim(4, { seed: 'carried-draws' })
    sim.start()
    sim.advance(60)
    for (let slot = 1; slot <= 4; slot++) {
      sim.handOff(sim.aggregate(slot))
      sim.advance(60)
    }
    for (let j = 1; j <= 4; j++) assert.equal(sim.committed.get(j)?.length, 4, `cn-${j} committed 4 blocks`)
    const alone = sim.broadcasts.filter((d) => d.message.kind === 'draw')
    assert.deepEqual([...new Set(alone.map((d) => d.message.height))], [1], 'draws of their own only at height 1')
    const commits = sim.broadcasts.filter((d) => d.message.kind === 'commit').map((d) => d.message as VoteMessage)
    assert.ok(commits.length > 0 && commits.every((c) => c.nextDraw instanceof Uint8Array), 'every commit carries a draw')
    for (const { block } of sim.committed.get(1) ?? [])
      assert.deepEqual(
        block.election.draws.map((d) => d.node),
        [1, 2, 3, 4],
        `block ${block.height} ranks every node's draw`
      )
    for (let j = 1; j <= 4; j++) assert.equal(sim.behind.get(j)?.length ?? 0, 0, `cn-${j} never asked to catch up`)
    assert.deepEqual(sim.thetaFetches, [], 'Theta came by gossip every time')
    assert.deepEqual(sim.drawFetches, [], 'no draw was asked for')
  })

  it('a draw carried by a commit for a block that was not decided is no fault; the same draw alone is', () => {
    const sim = new Sim(4, { seed: 'carried-undecided' })
    sim.start()
    sim.advance(60)
    // cn-2 commits (in a later view) to a block that is never decided: its draw over that block
    // reaches cn-1 while cn-1 is still at height 1.
    const other = new Uint8Array(32).fill(0xee)
    const nextDraw = sign(sim.signers[1], DOMAIN.election, vrfMessage(2, other))
    const commitSig = sign(sim.signers[1], DOMAIN.commit, new Uint8Array(48))
    sim.deliver(1, { kind: 'commit', height: 1, view: 3, node: 2, digest: other, signature: commitSig, nextDraw })
    sim.handOff(sim.aggregate(1))
    sim.advance(60)
    assert.equal(sim.replica(1).height, 2, 'height 1 decided on another block')
    assert.ok(!sim.rejects.some((r) => r.at === 1 && r.reason === 'WRONG_SEED'), 'the carried draw is dropped quietly')
    assert.ok(sim.replica(1).primary !== null, 'height 2 elects from the draws over the decided block')
    sim.deliver(1, { kind: 'draw', height: 2, seed: other, node: 2, signature: nextDraw })
    assert.ok(sim.rejects.some((r) => r.at === 1 && r.node === 2 && r.kind === 'draw' && r.reason === 'WRONG_SEED'))
  })

  it('draws carried in commits do not count as nodes working on the next height', () => {
    const sim = new Sim(4, { seed: 'carried-behind' })
    sim.start()
    sim.advance(60)
    const seed = new Uint8Array(32).fill(0xab)
    // Two commits of height 1 (a later view, so they decide nothing) carry draws of height 2 ...
    for (const node of [2, 3]) {
      const nextDraw = sign(sim.signers[node - 1], DOMAIN.election, vrfMessage(2, seed))
      sim.deliver(1, { kind: 'commit', height: 1, view: 3, node, digest: seed, signature: nextDraw, nextDraw })
    }
    // ... and one node's own message of height 2 arrives: one node ahead is not f + 1.
    sim.deliver(1, { kind: 'draw', height: 2, seed, node: 4, signature: sign(sim.signers[3], DOMAIN.election, vrfMessage(2, seed)) })
    assert.equal(sim.replica(1).height, 1)
    assert.equal(sim.behind.get(1)?.length ?? 0, 0, 'cn-1 does not think it is behind')
  })
})
