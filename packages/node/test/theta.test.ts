import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DOMAIN, SeededRng } from '@bbnp/core'
import { type ConsensusMessage, type DrawMessage, decodeMessage, encodeMessage, TOPICS } from '@bbnp/consensus'
import { decodePublicKey, publicKeyFromScalar, randomScalar, secretKeyFromScalar, verify, vrfMessage, vrfProve } from '@bbnp/crypto'
import { gatewayTopics, ThetaResponder, thetaProtocol, wireProtocols } from '../src/index.ts'
import { drawProtocol } from '../src/consensus-protocols.ts'

const rng = new SeededRng('theta-test')
const nodeScalars = [1, 2, 3, 4].map(() => randomScalar(rng))
const nodeSecret = nodeScalars.map((s) => secretKeyFromScalar(s))
const nodeKeys = nodeScalars.map((s) => decodePublicKey(publicKeyFromScalar(s)))
const gatewayScalar = randomScalar(rng)
const gatewaySecret = secretKeyFromScalar(gatewayScalar)
const gatewayKey = decodePublicKey(publicKeyFromScalar(gatewayScalar))
const seed = new Uint8Array(32).fill(7)
const peerOf = (node: number) => `peer-${node}`
const id = {
  limits: { maxBlockBytes: 1 << 16, nodes: 4 },
  nodeOfPeer: new Map([1, 2, 3, 4].map((n) => [peerOf(n), n])),
  gatewayPeer: 'peer-gateway'
}

function draw(node: number, height = 5, signer = nodeSecret[node - 1]): DrawMessage {
  return { kind: 'draw', height, seed, node, signature: vrfProve(signer, 'election', height, seed).signature }
}

describe('Theta over a stream (/bbnp/theta/1)', () => {
  it('answers a node with Theta for its height and seed, also after gossip already had it', async () => {
    const now = 0
    const theta = new ThetaResponder(gatewaySecret, nodeKeys, () => now)
    const gossiped = theta.onDraw(draw(1))
    assert.ok(gossiped)
    assert.equal(theta.onDraw(draw(2)), null, 'gossip re-publication is throttled')
    const spec = thetaProtocol({
      descriptor: wireProtocols({ meters: 5, consensus: 4, candidates: 4, maxBlockBytes: 1 << 16 }).theta,
      id,
      theta
    })
    assert.equal(spec.id, '/bbnp/theta/1')
    const handler = spec.handler as NonNullable<typeof spec.handler>
    const frames = (await handler(encodeMessage(draw(2)), peerOf(2), new AbortController().signal)) as Uint8Array[]
    assert.equal(frames.length, 1)
    const answer = decodeMessage(frames[0], id.limits)
    assert.equal(answer.kind, 'theta')
    if (answer.kind !== 'theta') return
    assert.equal(answer.height, 5)
    assert.deepEqual(answer.signature, gossiped, 'the same deterministic Theta')
    assert.ok(verify(gatewayKey, DOMAIN.threshold, vrfMessage(5, seed), answer.signature))
    assert.equal(theta.signed, 1, 'signed once')
  })

  it('refuses another node’s draw, a forged draw, a message that is not a draw, and garbage', async () => {
    const answered: boolean[] = []
    const theta = new ThetaResponder(gatewaySecret, nodeKeys)
    const handler = thetaProtocol({
      descriptor: wireProtocols({ meters: 5, consensus: 4, candidates: 4, maxBlockBytes: 1 << 16 }).theta,
      id,
      theta,
      onAnswer: (a) => answered.push(a)
    }).handler as NonNullable<ReturnType<typeof thetaProtocol>['handler']>
    const signal = new AbortController().signal
    await assert.rejects(async () => handler(encodeMessage(draw(3)), peerOf(2), signal), { code: 'REFUSED' })
    await assert.rejects(async () => handler(encodeMessage(draw(2, 5, nodeSecret[0])), peerOf(2), signal), { code: 'REFUSED' })
    await assert.rejects(
      async () => handler(encodeMessage({ kind: 'theta', height: 5, seed, signature: draw(1).signature }), peerOf(1), signal),
      { code: 'MALFORMED' }
    )
    await assert.rejects(async () => handler(new Uint8Array([1, 2, 3]), peerOf(1), signal), { code: 'MALFORMED' })
    assert.deepEqual(answered, [false])
    assert.equal(theta.signed, 0)
    assert.equal(theta.badDraws, 1)
  })
})

describe('draws over a stream (/bbnp/draw/1)', () => {
  const setup = (ownHeight = 5) => {
    const taken: DrawMessage[] = []
    const spec = drawProtocol({
      descriptor: wireProtocols({ meters: 5, consensus: 4, candidates: 4, maxBlockBytes: 1 << 16 }).draw,
      id,
      silent: false,
      ownDraw: (height) => (height === ownHeight ? draw(3, height) : null),
      onDraw: (d) => taken.push(d)
    })
    const handler = spec.handler as NonNullable<typeof spec.handler>
    const ask = async (req: Uint8Array, from: string) => (await handler(req, from, new AbortController().signal)) as Uint8Array[]
    return { spec, taken, ask }
  }

  it("takes in the asking node's draw and answers with its own of that height and seed", async () => {
    const { spec, taken, ask } = setup()
    assert.equal(spec.id, '/bbnp/draw/1')
    const frames = await ask(encodeMessage(draw(1)), peerOf(1))
    assert.equal(frames.length, 1)
    assert.deepEqual(decodeMessage(frames[0], id.limits), draw(3))
    assert.deepEqual(taken, [draw(1)])
  })

  it('refuses a draw of another node, a message that is not a draw, garbage, and a height it is not on', async () => {
    const { taken, ask } = setup()
    await assert.rejects(ask(encodeMessage(draw(2)), peerOf(1)), { code: 'REFUSED' })
    await assert.rejects(ask(encodeMessage(draw(1)), 'peer-stranger'), { code: 'REFUSED' })
    const theta: ConsensusMessage = { kind: 'theta', height: 5, seed, signature: new Uint8Array(96) }
    await assert.rejects(ask(encodeMessage(theta), peerOf(1)), { code: 'MALFORMED' })
    await assert.rejects(ask(new Uint8Array([1, 2, 3]), peerOf(1)), { code: 'MALFORMED' })
    assert.deepEqual(taken, [], 'nothing refused was taken in')
    await assert.rejects(ask(encodeMessage(draw(1, 6)), peerOf(1)), { code: 'REFUSED' })
    assert.equal(taken.length, 1, 'a draw of another height is still taken in (the replica keeps or drops it)')
  })
})

describe('the gateway’s topics: draws alone and carried in commits (PROTOCOL 4.1)', () => {
  it('answers the draw a COMMIT carries with Theta, and ignores a commit without one', async () => {
    const published: { topic: string; data: Uint8Array }[] = []
    const theta = new ThetaResponder(gatewaySecret, nodeKeys)
    const topics = gatewayTopics({ id, theta, publish: (topic, data) => published.push({ topic, data }) })
    assert.deepEqual(
      topics.map((t) => t.name),
      [TOPICS.election, TOPICS.commit]
    )
    const commitTopic = topics[1]
    // cn-3 commits block `seed` of height 4, carrying its draw of height 5 over it.
    const commit = (nextDraw: Uint8Array | null) =>
      encodeMessage({ kind: 'commit', height: 4, view: 0, node: 3, digest: seed, signature: draw(3).signature, nextDraw })
    const withDraw = commit(draw(3).signature)
    assert.deepEqual(await commitTopic.validate(withDraw, peerOf(3)), { action: 'accept' })
    commitTopic.onMessage(withDraw, peerOf(3))
    assert.equal(published.length, 1)
    assert.equal(published[0].topic, TOPICS.election)
    const answer = decodeMessage(published[0].data, id.limits)
    assert.equal(answer.kind, 'theta')
    if (answer.kind !== 'theta') return
    assert.equal(answer.height, 5)
    assert.deepEqual(answer.seed, seed)
    assert.ok(verify(gatewayKey, DOMAIN.threshold, vrfMessage(5, seed), answer.signature))
    assert.deepEqual(await commitTopic.validate(commit(null), peerOf(3)), { action: 'ignore', reason: 'NOT_FOR_GATEWAY' })
    assert.deepEqual(await commitTopic.validate(withDraw, peerOf(2)), { action: 'reject', reason: 'WRONG_SENDER' })
    assert.deepEqual(await commitTopic.validate(encodeMessage(draw(3)), peerOf(3)), { action: 'reject', reason: 'WRONG_TOPIC' })
    // A forged carried draw gets no Theta.
    const forged = commit(draw(3, 5, nodeSecret[0]).signature)
    assert.deepEqual(await commitTopic.validate(forged, peerOf(3)), { action: 'accept' })
    const before = published.length
    const other = new ThetaResponder(gatewaySecret, nodeKeys)
    const fresh = gatewayTopics({ id, theta: other, publish: (topic, data) => published.push({ topic, data }) })[1]
    await fresh.validate(forged, peerOf(3))
    fresh.onMessage(forged, peerOf(3))
    assert.equal(published.length, before, 'no Theta for a forged draw')
    assert.equal(other.badDraws, 1)
  })
})
