import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { toHex } from '@bbnp/core'
import { checkCertificate, hashEncodedBlock } from '../src/index.ts'
import { Sim } from './harness.ts'

function assertSameChains(sim: Sim, height: number, nodes = sim.replicas.map((_, i) => i + 1)): void {
  const ref = sim.committed.get(nodes[0]) ?? []
  assert.ok(ref.length >= height, `node ${nodes[0]} committed ${ref.length} < ${height} blocks`)
  for (const j of nodes) {
    const c = sim.committed.get(j) ?? []
    assert.ok(c.length >= height, `node ${j} committed ${c.length} < ${height} blocks`)
    for (let h = 0; h < height; h++) assert.equal(toHex(c[h].digest), toHex(ref[h].digest), `node ${j} differs at height ${h + 1}`)
  }
}

describe('PBFT replica: normal operation', () => {
  for (const m of [4, 7]) {
    it(`M = ${m}: one height commits the gateway's sum on every node with a valid certificate`, () => {
      const sim = new Sim(m)
      sim.start()
      sim.advance(60) // election wait
      sim.handOff(sim.aggregate(10, 4242n))
      assertSameChains(sim, 1)
      const c = (sim.committed.get(1) ?? [])[0]
      assert.equal(c.block.height, 1)
      assert.equal(c.block.slot, 10)
      assert.equal(c.block.aggregate.sum, 4242n)
      assert.equal(toHex(c.digest), toHex(hashEncodedBlock(c.encoded)))
      for (let j = 1; j <= m; j++) {
        const mine = (sim.committed.get(j) ?? [])[0]
        assert.equal(checkCertificate(mine.cert, 1, mine.digest, sim.keys, sim.replica(j).quorum), null, `certificate of node ${j}`)
      }
      assert.deepEqual(sim.rejects, [])
      assert.equal(new Set(sim.replicas.map((r) => r.height)).size, 1)
      assert.equal(sim.replica(1).height, 2)
    })
  }

  it('several heights in a row link by hash and carry the previous certificate', () => {
    const sim = new Sim(4)
    sim.start()
    for (let slot = 1; slot <= 5; slot++) {
      sim.advance(1000)
      sim.handOff(sim.aggregate(slot, BigInt(slot * 100)))
    }
    assertSameChains(sim, 5)
    const chain = sim.committed.get(2) ?? []
    for (let h = 1; h < 5; h++) {
      assert.equal(toHex(chain[h].block.prevHash), toHex(chain[h - 1].digest))
      const prevCert = chain[h].block.prevCert
      assert.ok(prevCert)
      assert.equal(checkCertificate(prevCert, h, chain[h - 1].digest, sim.keys, 3), null)
    }
    assert.deepEqual(
      chain.map((c) => c.block.aggregate.sum),
      [100n, 200n, 300n, 400n, 500n]
    )
  })

  it('every height yields observations, even when heights commit faster than the grace period', () => {
    const sim = new Sim(4)
    sim.start()
    for (let slot = 1; slot <= 6; slot++) {
      sim.advance(40) // grace is 100 ms: the next commit comes before the last grace ends
      sim.handOff(sim.aggregate(slot))
    }
    sim.advance(500)
    for (let j = 1; j <= 4; j++) {
      const heights = (sim.observations.get(j) ?? []).map((o) => o.height).sort((a, b) => a - b)
      assert.deepEqual(heights, [1, 2, 3, 4, 5, 6], `node ${j}`)
      for (const o of sim.observations.get(j) ?? []) {
        assert.equal(o.items.filter((x) => x.outcome !== 'valid').length, 0, 'all valid on a healthy network')
        assert.ok(o.items.length >= 6, 'prepare and commit of each of the 3 others')
      }
    }
  })
})
