import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { type P2PNode, scoreThresholds, type Verdict } from '../src/index.ts'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { libp2pOf } from '../src/p2p-node.ts'
import { identity, metricValue, recordingTopic, startNode, stopAll, type TestNode, text, waitFor } from './helpers.ts'

const TOPIC = '/bbnp/1/test'
const GOSSIP = 'bbnp_gossip_messages_total'

/** Verdict chosen by the message's prefix: "accept:…", "ignore:…", "reject:…", "throw:…". */
function byPrefix(data: Uint8Array): Verdict {
  const s = new TextDecoder().decode(data)
  if (s.startsWith('ignore:')) return { action: 'ignore', reason: 'STALE' }
  if (s.startsWith('reject:')) return { action: 'reject', reason: 'BAD_SIGNATURE' }
  if (s.startsWith('throw:')) throw new Error('cannot decode')
  return { action: 'accept' }
}

/** A permissive publisher P and a judging receiver V, connected, with a formed mesh. */
async function publisherAndValidator(nodes: P2PNode[], vOpts: Record<string, unknown> = {}, vMaxBytes = 64) {
  const p = await identity()
  const v = await identity()
  const pTopic = recordingTopic(TOPIC, () => ({ action: 'accept' }), 4096)
  const vTopic = recordingTopic(TOPIC, byPrefix, vMaxBytes)
  const P = await startNode(nodes, p, { allowedPeers: new Set([v.id]), gossip: { topics: [pTopic.spec] } })
  const V = await startNode(nodes, v, { allowedPeers: new Set([p.id]), gossip: { topics: [vTopic.spec] }, ...vOpts })
  await P.node.connect(v.id, V.node.multiaddrs()[0])
  await waitFor('mesh P<->V', () => P.node.meshPeers(TOPIC).includes(v.id) && V.node.meshPeers(TOPIC).includes(p.id))
  return { p, v, P, V, received: vTopic.received }
}

describe('gossip', { timeout: 30_000 }, () => {
  const nodes: P2PNode[] = []
  after(() => stopAll(nodes))

  it('4 peers in a ring form a mesh; each message reaches the other 3 once, with the publisher as from', async () => {
    const ids = await Promise.all([0, 1, 2, 3].map(() => identity()))
    const all = new Set(ids.map((i) => i.id))
    const topics = ids.map(() => recordingTopic(TOPIC))
    const started: TestNode[] = []
    for (let i = 0; i < 4; i++) {
      // each node dials the previous one: A-B, B-C, C-D, and D-A below, so A and C never meet
      const prev = i > 0 ? [{ peerId: ids[i - 1].id, addr: started[i - 1].node.multiaddrs()[0] }] : []
      started.push(await startNode(nodes, ids[i], { allowedPeers: all, gossip: { topics: [topics[i].spec] }, persistentPeers: prev }))
    }
    await started[3].node.connect(ids[0].id, started[0].node.multiaddrs()[0])
    const [A, B, C, D] = started.map((s) => s.node)
    await waitFor('ring mesh', () => started.every((s) => s.node.meshPeers(TOPIC).length === 2))
    assert.ok(!C.connectedPeers().includes(A.peerId), 'A and C are not directly connected')

    const t0 = performance.now()
    assert.equal(await A.publish(TOPIC, text('m1')), 2, 'flood-published to both neighbours')
    const got = (i: number, m: string) => topics[i].received.filter((r) => r.data === m)
    await waitFor('m1 everywhere', () => [1, 2, 3].every((i) => got(i, 'm1').length > 0))
    const ms = performance.now() - t0
    // a barrier: once the second message is everywhere, any duplicate of the first has had its chance
    await D.publish(TOPIC, text('m2'))
    await waitFor('m2 everywhere', () => [0, 1, 2].every((i) => got(i, 'm2').length > 0))

    for (const i of [1, 2, 3]) assert.deepEqual(got(i, 'm1'), [{ data: 'm1', from: A.peerId }])
    for (const i of [0, 1, 2]) assert.deepEqual(got(i, 'm2'), [{ data: 'm2', from: D.peerId }])
    assert.equal(topics[0].received.length, 1, 'the publisher does not receive its own message')
    assert.equal(got(2, 'm1')[0].from, A.peerId, 'C got it relayed, yet from is A')
    assert.ok(ms < 1000, `delivery took ${ms} ms`)
    assert.ok(B.connectedPeers().length === 2)
  })

  it('publishes without error when no peer is subscribed yet', async () => {
    const lonely = await identity()
    const { node } = await startNode(nodes, lonely, { allowedPeers: new Set(), gossip: { topics: [recordingTopic(TOPIC).spec] } })
    assert.equal(await node.publish(TOPIC, text('nobody')), 0)
    await assert.rejects(node.publish('/bbnp/1/other', text('x')), { code: 'PROTOCOL' })
    await assert.rejects(node.publish(TOPIC, new Uint8Array(2000)), { code: 'OVERSIZED' })
  })

  it('maps every validation outcome to accept/ignore/reject and counts it with its reason', async () => {
    const { P, V, received } = await publisherAndValidator(nodes, { ban: { maxRejects: 100 } })
    for (const m of ['accept:1', 'ignore:1', 'reject:1', 'throw:1', `accept:${'x'.repeat(100)}`, 'accept:2']) {
      await P.node.publish(TOPIC, text(m))
    }
    let rendered = ''
    const count = (result: string, reason: string) => metricValue(rendered, GOSSIP, { topic: TOPIC, result, reason })
    await waitFor('six outcomes counted', async () => {
      rendered = await V.metrics.render()
      return (
        count('accept', 'OK') +
          count('ignore', 'STALE') +
          count('reject', 'BAD_SIGNATURE') +
          count('reject', 'MALFORMED') +
          count('reject', 'OVERSIZED') ===
        6
      )
    })
    assert.equal(count('accept', 'OK'), 2)
    assert.equal(count('ignore', 'STALE'), 1)
    assert.equal(count('reject', 'BAD_SIGNATURE'), 1)
    assert.equal(count('reject', 'MALFORMED'), 1, 'a throwing validator is a MALFORMED reject')
    assert.equal(count('reject', 'OVERSIZED'), 1, 'oversized is rejected before the validator')
    await waitFor('accepted messages delivered', () => received.length === 2)
    assert.deepEqual(received.map((r) => r.data).sort(), ['accept:1', 'accept:2'])
    assert.ok(received.every((r) => r.from === P.node.peerId))
    assert.equal(V.node.isBanned(P.node.peerId), false, '3 rejects are under the bound of 100')
  })

  it('ignores a burst beyond the token bucket as RATE_LIMITED', async () => {
    const { P, V, received } = await publisherAndValidator(nodes, { gossipRateLimit: { messagesPerSecond: 0.001, burstMessages: 3 } })
    for (let i = 0; i < 8; i++) await P.node.publish(TOPIC, text(`accept:${i}`))
    let rendered = ''
    const count = (result: string, reason: string) => metricValue(rendered, GOSSIP, { topic: TOPIC, result, reason })
    await waitFor('8 outcomes', async () => {
      rendered = await V.metrics.render()
      return count('accept', 'OK') + count('ignore', 'RATE_LIMITED') === 8
    })
    assert.equal(count('accept', 'OK'), 3)
    assert.equal(count('ignore', 'RATE_LIMITED'), 5)
    await waitFor('3 delivered', () => received.length === 3)
    assert.equal(V.node.isBanned(P.node.peerId), false, 'rate limiting is not misbehaviour')
  })

  it('disconnects and bans a peer that keeps sending rejected messages; it cannot reconnect meanwhile', async () => {
    const { p, v, P, V } = await publisherAndValidator(nodes, { ban: { maxRejects: 3, windowMs: 60_000, durationMs: 60_000 } })
    const vEvents: string[] = []
    V.node.onPeer((e) => vEvents.push(`${e.type}:${e.peerId}`))
    for (let i = 0; i < 3; i++) await P.node.publish(TOPIC, text(`reject:${i}`))
    await waitFor('ban', () => V.node.isBanned(p.id))
    await waitFor('disconnected on both sides', () => !V.node.connectedPeers().includes(p.id) && !P.node.connectedPeers().includes(v.id))
    const rendered = await V.metrics.render()
    assert.equal(metricValue(rendered, 'bbnp_peer_bans_total', {}), 1)
    assert.equal(metricValue(rendered, GOSSIP, { result: 'reject', reason: 'BAD_SIGNATURE' }), 3)

    await assert.rejects(P.node.connect(v.id, V.node.multiaddrs()[0]), { code: 'NO_CONNECTION' }, 'banned peer dials in')
    await assert.rejects(V.node.connect(p.id, P.node.multiaddrs()[0]), { code: 'NO_CONNECTION' }, 'we do not dial a banned peer')
    assert.deepEqual(V.node.connectedPeers(), [])
    assert.deepEqual(vEvents, [`disconnect:${p.id}`], 'no connect event during the ban')
  })

  it('pushes a peer below the graylist threshold after a bounded number of rejects', async () => {
    const { p, P, V } = await publisherAndValidator(nodes, { ban: { maxRejects: 1000 } })
    const rejects = async () => metricValue(await V.metrics.render(), GOSSIP, { result: 'reject', reason: 'BAD_SIGNATURE' })
    const score = () => V.node.gossipScore(p.id)
    const send = async (from: number, to: number) => {
      for (let i = from; i < to; i++) await P.node.publish(TOPIC, text(`reject:${i}`))
      await waitFor(`${to} rejects counted`, async () => (await rejects()) === to)
    }
    // gossipsub caches a score for one heartbeat (500 ms), so wait for it to reflect the rejects:
    // n rejects cost n^2 (P4), against a credit of well under 1 point here
    await send(0, 8)
    await waitFor('score reflects 8 rejects', () => score() <= -63)
    assert.ok(score() >= scoreThresholds.graylistThreshold, `8 rejects: ${score()} is not yet graylisted`)
    await send(8, 9)
    await waitFor('score reflects 9 rejects', () => score() <= -80)
    assert.ok(score() < scoreThresholds.graylistThreshold, `9 rejects: ${score()} is graylisted`)
  })
})

describe('gossip over duplicate connections', { timeout: 30_000 }, () => {
  const nodes: P2PNode[] = []
  after(() => stopAll(nodes))

  // Two peers that dial each other at once keep two connections; gossipsub keeps its outbound
  // stream on one of them. Closing that one (as libp2p's ping monitor does under load) must not
  // leave the pair connected but deaf.
  it('one of two connections closes under the gossip stream: the pair reconnects and messages flow again', async () => {
    const a = await identity()
    const b = await identity()
    const aTopic = recordingTopic(TOPIC)
    const bTopic = recordingTopic(TOPIC)
    const A = await startNode(nodes, a, { allowedPeers: new Set([b.id]), gossip: { topics: [aTopic.spec] } })
    const B = await startNode(nodes, b, {
      allowedPeers: new Set([a.id]),
      gossip: { topics: [bTopic.spec] },
      persistentPeers: [{ peerId: a.id, addr: A.node.multiaddrs()[0] }]
    })
    await waitFor('mesh A<->B', () => A.node.meshPeers(TOPIC).includes(b.id) && B.node.meshPeers(TOPIC).includes(a.id))
    const libA = libp2pOf.get(A.node) as Libp2p
    const second = await libA.dial(multiaddr(B.node.multiaddrs()[0]), { force: true })
    await waitFor('two identified connections', () => libA.getConnections(peerIdFromString(b.id)).length === 2 && second.status === 'open')

    const gossipConn = () =>
      libA
        .getConnections(peerIdFromString(b.id))
        .find((c) => c.streams.some((s) => s.protocol?.startsWith('/meshsub/') && s.direction === 'outbound'))
    const carrier = gossipConn()
    assert.ok(carrier, "A's outbound gossip stream lives on one of the connections")
    carrier.abort(new Error('ping failed (test)'))

    // Publish every 200 ms until B hears A again (each one a new message), for at most 10 s.
    const deadline = Date.now() + 10_000
    for (let n = 0; !bTopic.received.some((r) => r.from === a.id); n++) {
      assert.ok(Date.now() < deadline, 'B never heard from A again after one of their two connections closed')
      await A.node.publish(TOPIC, text(`after-${n}`)).catch(() => 0)
      await new Promise((r) => setTimeout(r, 200))
    }
    assert.ok(metricValue(await A.metrics.render(), 'bbnp_gossip_repairs_total', { reason: 'partial_close' }) >= 1)
    await waitFor('A connected to B again', () => A.node.connectedPeers().includes(b.id))
  })
})
