/**
 * Signatures that arrive together are checked as one multi-set before the checks that use them
 * (SignatureCache.preverify): the checks keep their order and their codes, and a bad signature
 * among them is still found and blamed as before.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DOMAIN, SeededRng, utf8 } from '@bbnp/core'
import { randomScalar, secretKeyFromScalar, sign, vrfMessage } from '@bbnp/crypto'
import {
  type ConsensusMessage,
  decodeCanonicalBlock,
  encodeBlock,
  GATEWAY_SIGNER,
  hashEncodedBlock,
  maxBlockBytes,
  prePreparePayload,
  SignatureCache
} from '../src/index.ts'
import { GENESIS_HASH, Sim } from './harness.ts'

const forger = secretKeyFromScalar(randomScalar(new SeededRng('forger')))

describe('SignatureCache.preverify', () => {
  const sim = new Sim(4, { seed: 'preverify' })
  const group = (domain: string, text: string, nodes: number[], bad?: number) => ({
    domain,
    message: utf8(text),
    items: nodes.map((n) => ({
      signer: `cn-${n}`,
      publicKey: sim.keys[n - 1],
      signature: sign(n === bad ? forger : sim.signers[n - 1], domain, utf8(text))
    }))
  })

  it('remembers every signature when all groups hold, so the checks that follow hit the cache', () => {
    const cache = new SignatureCache()
    const groups = [group(DOMAIN.threshold, 'theta', [1]), group(DOMAIN.election, 'draws', [1, 2, 3, 4])]
    cache.preverify(groups)
    assert.equal(cache.batches, 1)
    assert.equal(cache.inBatches, 5)
    for (const g of groups) for (const it of g.items) assert.ok(cache.has(it.signer, g.domain, g.message, it.signature))
    cache.preverify(groups)
    assert.equal(cache.batches, 1, 'nothing left to check')
  })

  it('remembers nothing when one signature is bad; the checks in order then find it', () => {
    const cache = new SignatureCache()
    const groups = [group(DOMAIN.threshold, 'theta', [1]), group(DOMAIN.election, 'draws', [1, 2, 3, 4], 3)]
    cache.preverify(groups)
    for (const g of groups) for (const it of g.items) assert.equal(cache.has(it.signer, g.domain, g.message, it.signature), false)
    const draws = groups[1]
    assert.deepEqual(cache.verifySameMessage(draws.items, draws.domain, draws.message), [2])
  })

  it('leaves a lone group to the usual check: a multi-set of one saves nothing', () => {
    const cache = new SignatureCache()
    cache.preverify([group(DOMAIN.election, 'draws', [1, 2, 3])])
    assert.equal(cache.batches, 0)
  })
})

describe('replica: Theta checked with the draws', () => {
  it('a forged Theta that came first is refused once the order is needed, and the real one names the primary', () => {
    const sim = new Sim(4, { seed: 'forged-theta' })
    sim.thetaByGossip = false
    sim.thetaByRequest = false
    sim.start()
    const seed = sim.replica(1).head.hash
    const theta = (sk: typeof forger): ConsensusMessage => ({
      kind: 'theta',
      height: 1,
      seed,
      signature: sign(sk, DOMAIN.threshold, vrfMessage(1, seed))
    })
    sim.deliver(1, theta(forger))
    sim.deliver(1, theta(sim.gatewaySk))
    for (const j of [2, 3, 4]) sim.deliver(j, theta(sim.gatewaySk))
    sim.advance(60)
    assert.ok(sim.rejects.some((r) => r.at === 1 && r.kind === 'theta' && r.reason === 'BAD_SIGNATURE'))
    const orders = sim.replicas.map((r) => [0, 1, 2, 3].map((v) => r.primaryOfView(v)).join(','))
    assert.equal(new Set(orders).size, 1, `one order everywhere (${orders.join(' / ')})`)
    sim.handOff(sim.aggregate(1))
    for (let j = 1; j <= 4; j++) assert.equal((sim.committed.get(j) ?? []).length, 1, `node ${j} committed`)
  })

  it('a pre-prepare carrying a forged Theta is refused (BAD_ELECTION_PROOF): no prepare for it, and the forgery is never cached', () => {
    const sim = new Sim(4, { seed: 'forged-theta-block' })
    const limit = maxBlockBytes(4, sim.meters)
    let primary = 0
    let target = 0
    // The primary's pre-prepare reaches the next node with a forged Theta in its block, re-signed by the primary.
    sim.filters = [
      (d) => {
        if (d.message.kind !== 'preprepare' || d.to !== (d.from % 4) + 1) return undefined
        primary = d.from
        target = d.to
        const decoded = decodeCanonicalBlock(d.message.block, limit)
        if (!decoded) return undefined
        const block = {
          ...decoded.block,
          election: { ...decoded.block.election, theta: sign(forger, DOMAIN.threshold, vrfMessage(1, decoded.block.prevHash)) }
        }
        const encoded = encodeBlock(block)
        const signature = sign(sim.signers[d.from - 1], DOMAIN.preprepare, prePreparePayload(1, 0, hashEncodedBlock(encoded)))
        return { ...d.message, block: encoded, signature }
      }
    ]
    sim.start()
    sim.advance(60)
    sim.handOff(sim.aggregate(1))
    assert.ok(primary > 0, 'the pre-prepare was forged')
    for (const j of [1, 2, 3, 4].filter((n) => n !== target)) assert.equal((sim.committed.get(j) ?? []).length, 1, `node ${j} committed`)
    assert.equal(
      sim.broadcasts.filter((d) => d.from === target && d.message.kind === 'prepare').length,
      0,
      `cn-${target} did not prepare the block with the forged Theta`
    )
    assert.equal((sim.committed.get(target) ?? []).length, 0)
    assert.deepEqual(sim.behind.get(target), [2], 'it asks to catch up the block the others decided')
    const forged = sign(forger, DOMAIN.threshold, vrfMessage(1, GENESIS_HASH))
    assert.equal(
      sim.replica(2).cache.has(GATEWAY_SIGNER, DOMAIN.threshold, vrfMessage(1, GENESIS_HASH), forged),
      false,
      'never cached as valid'
    )
  })
})
