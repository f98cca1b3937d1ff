import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DOMAIN, SeededRng } from '@bbnp/core'
import { randomScalar, secretKeyFromScalar, sign, vrfMessage } from '@bbnp/crypto'
import type { PrePrepareMessage } from '../src/index.ts'
import { Sim, signOpinion } from './harness.ts'

describe('replica: batched checks and adaptive timing', () => {
  it('a forged draw is found by the batched check and its sender left out of the order', () => {
    const sim = new Sim(4, { seed: 'forged-draw' })
    const wrong = secretKeyFromScalar(randomScalar(new SeededRng('wrong')))
    // cn-3's real draws never arrive; a forgery in its name does.
    sim.filters = [(d) => (d.message.kind === 'draw' && d.from === 3 ? false : undefined)]
    sim.start()
    const seed = sim.replica(1).head.hash
    sim.deliver(1, { kind: 'draw', height: 1, seed, node: 3, signature: sign(wrong, DOMAIN.election, vrfMessage(1, seed)) })
    sim.advance(60)
    const order = [0, 1, 2, 3].map((v) => sim.replica(1).primaryOfView(v))
    assert.ok(!order.includes(3), `cn-3 is not a candidate (${order})`)
    assert.ok(sim.rejects.some((r) => r.at === 1 && r.node === 3 && r.kind === 'draw' && r.reason === 'BAD_SIGNATURE'))
    assert.ok(sim.replica(1).cache.batches + sim.replica(1).cache.checks > 0)
  })

  it('a forged opinion vector is left out of the block; the block is still valid', () => {
    const sim = new Sim(4, { seed: 'forged-opinion' })
    sim.start()
    sim.advance(60)
    sim.handOff(sim.aggregate(1))
    const wrong = secretKeyFromScalar(randomScalar(new SeededRng('wrong-opinion')))
    for (let to = 1; to <= 4; to++) {
      for (const node of [1, 2, 4]) sim.opinion(to, signOpinion(sim.signers[node - 1], 1, node))
      sim.opinion(to, signOpinion(wrong, 1, 3)) // claims to be cn-3's
    }
    sim.advance(60)
    sim.handOff(sim.aggregate(2))
    for (let j = 1; j <= 4; j++) assert.equal((sim.committed.get(j) ?? []).length, 2, `node ${j} committed height 2`)
    const block = (sim.committed.get(1) ?? [])[1].block
    assert.equal(block.opinions.length, 3, 'the three genuine vectors')
    assert.equal(block.reputation.opinionHeight, 1)
    assert.ok(sim.rejects.some((r) => r.kind === 'opinion' && r.node === 3 && r.reason === 'BAD_SIGNATURE'))
  })

  it('a forged vector naming a replica as its own observer is checked like any other, never trusted', () => {
    const sim = new Sim(4, { seed: 'forged-own' })
    sim.start()
    sim.advance(60)
    sim.handOff(sim.aggregate(1))
    const wrong = secretKeyFromScalar(randomScalar(new SeededRng('someone-else')))
    // Every replica gets a vector that claims to be its own observer's, signed by someone else.
    for (let to = 1; to <= 4; to++) {
      sim.opinion(to, signOpinion(wrong, 1, to))
      for (const node of [1, 2, 3, 4]) if (node !== to) sim.opinion(to, signOpinion(sim.signers[node - 1], 1, node))
    }
    sim.advance(60)
    sim.handOff(sim.aggregate(2))
    for (let j = 1; j <= 4; j++) {
      assert.equal((sim.committed.get(j) ?? []).length, 2, `node ${j} committed height 2`)
      assert.ok(
        sim.rejects.some((r) => r.at === j && r.kind === 'opinion' && r.node === j && r.reason === 'BAD_SIGNATURE'),
        `node ${j} refused the forgery`
      )
    }
    assert.equal((sim.committed.get(1) ?? [])[1].block.opinions.length, 3, 'the three genuine vectors')
  })

  it('the view timeout grows with the time heights take to commit', () => {
    const sim = new Sim(4, { seed: 'slow' })
    sim.start()
    // Slow heights: each proposal is held back 600 ms before it is delivered.
    let held: { to: number; message: PrePrepareMessage }[] = []
    sim.filters = [
      (d) => {
        if (d.message.kind !== 'preprepare') return undefined
        held.push({ to: d.to, message: d.message })
        return false
      }
    ]
    for (let slot = 1; slot <= 4; slot++) {
      sim.advance(60)
      sim.handOff(sim.aggregate(slot))
      sim.advance(600)
      const batch = held
      held = []
      for (const h of batch) sim.deliver(h.to, h.message)
    }
    sim.filters = []
    for (let j = 1; j <= 4; j++) assert.equal((sim.committed.get(j) ?? []).length, 4, `node ${j}`)
    // The next height's view timer: base 1000 ms, but heights took about 660 ms: 4 x that.
    const before = sim.rejects.length
    sim.handOff(sim.aggregate(5))
    const timer = sim.timers.filter((t) => t.event.type === 'timeout' && t.event.timer.kind === 'view' && t.event.timer.height === 5)
    assert.ok(timer.length > 0)
    const delay = Math.min(...timer.map((t) => t.at)) - sim.now
    assert.ok(delay > 1500, `view timeout ${delay} ms after slow heights`)
    assert.equal(sim.rejects.length, before)
  })

  it('a replica that stays behind asks again after a second', () => {
    const sim = new Sim(4, { seed: 'behind' })
    sim.start()
    // Far-future messages from cn-2 make cn-1 ask to catch up; a second burst a second later asks again.
    const future = (n: number) => ({
      kind: 'prepare' as const,
      height: 50,
      view: 0,
      node: 2,
      digest: new Uint8Array(32).fill(n),
      signature: new Uint8Array(96)
    })
    sim.deliver(1, future(1))
    sim.deliver(1, future(2))
    assert.equal((sim.behind.get(1) ?? []).length, 1)
    sim.advance(1100)
    sim.deliver(1, future(3))
    assert.equal((sim.behind.get(1) ?? []).length, 2)
  })
})

describe('replica: certificates it can vouch for', () => {
  it('recognises a certificate made of commit votes it verified, and not a tampered one', () => {
    const sim = new Sim(4, { seed: 'known-cert' })
    sim.start()
    sim.advance(60)
    sim.handOff(sim.aggregate(1))
    const certs = [1, 2, 3, 4].map((j) => (sim.committed.get(j) ?? [])[0].cert)
    // Every replica's own certificate, and (when its signers are ones it holds) the others'.
    for (let j = 1; j <= 4; j++) assert.ok(sim.replica(j).knownCertificate(certs[j - 1]), `replica ${j} vouches for its own certificate`)
    const tampered = { ...certs[0], signature: Uint8Array.from(certs[1].signature) }
    if (Buffer.compare(tampered.signature, certs[0].signature) !== 0) assert.equal(sim.replica(1).knownCertificate(tampered), false)
    assert.equal(sim.replica(1).knownCertificate({ ...certs[0], height: 2 }), false, 'another height')
    assert.equal(sim.replica(1).knownCertificate({ ...certs[0], view: 1 }), false, 'another view')
  })
})

describe('replica: noticing that a height was decided elsewhere', () => {
  it('a proposal for the next height makes a replica still working on this one ask to catch up', () => {
    const sim = new Sim(4, { seed: 'decided-elsewhere' })
    sim.start()
    sim.advance(60)
    // Node 4 misses everything of height 1; the others decide it and node 1's height-2 proposal reaches node 4.
    sim.down.add(4)
    sim.handOff(sim.aggregate(1), [1, 2, 3])
    sim.advance(3000) // a view change, if node 4 was the primary
    sim.down.delete(4)
    assert.equal(sim.replica(4).height, 1)
    assert.equal(sim.replica(1).height, 2)
    const before = (sim.behind.get(4) ?? []).length
    sim.down.add(4)
    sim.handOff(sim.aggregate(2), [1, 2, 3])
    sim.advance(3000)
    sim.down.delete(4)
    const pp = sim.broadcasts.find((d) => (d.message.kind === 'preprepare' || d.message.kind === 'newview') && d.message.height === 2)
    assert.ok(pp, 'height 2 was proposed')
    sim.deliver(4, pp.message)
    assert.ok((sim.behind.get(4) ?? []).length > before, 'node 4 asked to catch up')
  })
})

describe('replica: draws lost before the mesh formed', () => {
  it('are re-sent while some draw is missing, so every replica ends with the same candidates', () => {
    const sim = new Sim(4, { seed: 'lost-draws' })
    // cn-4 never draws (down); cn-3's first draw is lost on its way to cn-1.
    sim.down.add(4)
    let dropped = false
    sim.filters = [
      (d) => {
        if (d.message.kind === 'draw' && d.from === 3 && d.to === 1 && !dropped) {
          dropped = true
          return false
        }
        return undefined
      }
    ]
    sim.start()
    sim.advance(2000)
    assert.ok(dropped)
    const orders = [1, 2, 3].map((j) => [0, 1, 2].map((v) => sim.replica(j).primaryOfView(v)).join())
    assert.equal(new Set(orders).size, 1, `same order everywhere: ${orders.join(' | ')}`)
    assert.ok(orders[0].includes('3'), 'cn-3 is a candidate at cn-1 too')
  })
})

describe('replica: Theta lost on gossip', () => {
  it('each replica asks the gateway directly, and the height commits', () => {
    const sim = new Sim(4, { seed: 'theta-fetch' })
    sim.thetaByGossip = false
    sim.start()
    sim.handOff(sim.aggregate(1))
    sim.advance(3000)
    assert.deepEqual([...new Set(sim.thetaFetches)].sort(), [1, 2, 3, 4])
    for (let j = 1; j <= 4; j++) assert.equal(sim.committed.get(j)?.[0]?.block.slot, 1, `cn-${j} committed slot 1`)
  })

  it('without the direct request nothing commits: no replica can name a primary (the stall it prevents)', () => {
    const sim = new Sim(4, { seed: 'theta-fetch' })
    sim.thetaByGossip = false
    sim.thetaByRequest = false
    sim.start()
    sim.handOff(sim.aggregate(1))
    sim.advance(10_000)
    for (let j = 1; j <= 4; j++) assert.equal(sim.committed.get(j)?.length, 0)
    assert.ok(sim.replica(1).view >= 2, `views keep changing (view ${sim.replica(1).view})`)
  })

  it('a replica that has Theta does not ask for it', () => {
    const sim = new Sim(4, { seed: 'theta-fetch' })
    sim.start()
    sim.handOff(sim.aggregate(1))
    sim.advance(3000)
    assert.deepEqual(sim.thetaFetches, [])
    assert.equal(sim.committed.get(1)?.length, 1)
  })
})

describe('replica: a draw one peer missed while its sender holds every draw', () => {
  it('goes out again with the view change, so the orders of the height agree from then on', () => {
    const sim = new Sim(4, { seed: 'lost-draws' })
    let dropped = false
    sim.filters = [
      (d) => {
        // cn-3's draw never reaches cn-1 by the first publication; cn-3 itself soon holds every draw.
        if (d.message.kind === 'draw' && d.from === 3 && d.to === 1 && !dropped) {
          dropped = true
          return false
        }
        // the height does not commit, so its election can be compared after the view change
        if (d.message.kind === 'preprepare' || d.message.kind === 'prepare' || d.message.kind === 'newview') return false
        return undefined
      }
    ]
    sim.start()
    sim.handOff(sim.aggregate(1))
    sim.advance(4000)
    assert.ok(dropped)
    assert.ok(sim.replica(1).view >= 1, 'a view change happened')
    assert.equal(sim.replica(1).height, 1)
    const orders = [1, 2, 3, 4].map((j) => [0, 1, 2, 3].map((v) => sim.replica(j).primaryOfView(v)).join())
    assert.equal(new Set(orders).size, 1, `same order everywhere: ${orders.join(' | ')}`)
  })
})

describe('replica: draws asked for directly (PROTOCOL 4.1)', () => {
  /** cn-2's draw reaches nobody by gossip: cn-1, cn-3 and cn-4 lack it; cn-2 soon holds every draw and Theta, and stops re-sending. */
  const lostDraw = (drawsByRequest: boolean) => {
    const sim = new Sim(4, { seed: 'draw-fetch' })
    sim.drawsByRequest = drawsByRequest
    sim.filters.push((d) => !(d.message.kind === 'draw' && d.from === 2))
    sim.start()
    sim.advance(20_000)
    const resent = (from: number, after: number) =>
      sim.broadcasts.filter((d) => d.message.kind === 'draw' && d.from === from).length - after
    return { sim, resent }
  }

  it('a replica missing a draw asks its node, gets it, and stops re-sending its own', () => {
    const { sim, resent } = lostDraw(true)
    assert.deepEqual([...new Set(sim.drawFetches.map((f) => `${f.from}->${f.to}`))].sort(), ['1->2', '3->2', '4->2'])
    for (let j = 1; j <= 4; j++) assert.equal(sim.replica(j).primary !== null, true, `cn-${j} settled its election`)
    const before = sim.broadcasts.filter((d) => d.message.kind === 'draw' && d.from === 1).length
    sim.advance(60_000)
    assert.equal(resent(1, before), 0, 'no draw re-sent once every draw is held')
  })

  it('without the direct request the replicas that miss it re-send their draw for the whole height (what it prevents)', () => {
    const { sim, resent } = lostDraw(false)
    const before = sim.broadcasts.filter((d) => d.message.kind === 'draw' && d.from === 1).length
    sim.advance(60_000)
    assert.ok(resent(1, before) >= 10, `cn-1 re-sent its draw ${resent(1, before)} times in a minute`)
  })
})
