import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { BbnpError } from '@bbnp/core'
import type { P2PNode, ProtocolSpec } from '../src/index.ts'
import { identity, metricValue, startNode, stopAll, type TestNode, text, waitFor } from './helpers.ts'

const REQS = 'bbnp_reqresp_requests_total'
const decode = (frames: Uint8Array[]) => frames.map((f) => new TextDecoder().decode(f))

function spec(id: string, over: Partial<ProtocolSpec> = {}): ProtocolSpec {
  return { id, maxRequestBytes: 64, maxResponseBytes: 64, maxResponseFrames: 8, timeoutMs: 2000, ...over }
}

/** Never answers; ends only when its deadline (or the node's stop) aborts it. */
function stall(_req: Uint8Array, _from: string, signal: AbortSignal): Promise<Uint8Array[]> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))
}

// Server-side specs (with handlers) and the client's view of the same protocols. The client's
// bounds are looser where a test needs the server or the client to be the one that refuses.
const serverSpecs: ProtocolSpec[] = [
  spec('/t/echo/1', {
    handler: async (req, from) => [text(`hello ${from.slice(-4)}`), req, text('bye')]
  }),
  spec('/t/stream/1', {
    async *handler(req) {
      for (let i = 0; i < 5; i++) yield text(`${new TextDecoder().decode(req)}-${i}`)
    }
  }),
  spec('/t/many/1', { handler: async () => [1, 2, 3, 4, 5].map((i) => text(String(i))) }),
  spec('/t/small/1', { maxRequestBytes: 8, handler: async () => [text('ok')] }),
  spec('/t/slow/1', { handler: stall }),
  spec('/t/slow-server/1', { timeoutMs: 100, handler: stall }),
  spec('/t/limited/1', { rateLimit: { messagesPerSecond: 0.001, burstMessages: 2 }, handler: async () => [text('ok')] }),
  spec('/t/big/1', { handler: async () => [new Uint8Array(40)] }),
  spec('/t/midway/1', {
    async *handler() {
      yield text('part 1')
      yield text('part 2')
      throw new Error('disk gone')
    }
  }),
  spec('/t/decode/1', {
    handler: async () => {
      throw new BbnpError('MALFORMED', 'cannot decode request')
    }
  })
]
const clientSpecs: ProtocolSpec[] = [
  ...serverSpecs
    .filter((s) => !['/t/small/1', '/t/many/1', '/t/big/1', '/t/slow-server/1'].includes(s.id))
    .map((s) => spec(s.id, { timeoutMs: s.timeoutMs })),
  spec('/t/small/1', { maxRequestBytes: 1024 }),
  spec('/t/many/1', { maxResponseFrames: 3 }),
  spec('/t/slow-server/1', { timeoutMs: 5000 }),
  spec('/t/big/1', { maxResponseBytes: 16 }),
  spec('/t/missing/1')
]

describe('request/response', { timeout: 30_000 }, () => {
  const nodes: P2PNode[] = []
  let S: TestNode
  let C: TestNode
  let serverId: string
  const count = async (n: TestNode, protocol: string, side: string, result: string) =>
    metricValue(await n.metrics.render(), REQS, { protocol, side, result })

  before(async () => {
    const s = await identity()
    const c = await identity()
    serverId = s.id
    S = await startNode(nodes, s, { allowedPeers: new Set([c.id]), protocols: serverSpecs, ban: { maxRejects: 100 } })
    C = await startNode(nodes, c, { allowedPeers: new Set([s.id]), protocols: clientSpecs, listen: [] })
    await C.node.connect(s.id, S.node.multiaddrs()[0])
  })
  after(() => stopAll(nodes))

  it('round trip with several response frames', async () => {
    const frames = await C.node.request(serverId, '/t/echo/1', text('ping'))
    assert.deepEqual(decode(frames), [`hello ${C.node.peerId.slice(-4)}`, 'ping', 'bye'])
    assert.equal(await count(C, '/t/echo/1', 'client', 'ok'), 1)
    assert.equal(await count(S, '/t/echo/1', 'server', 'ok'), 1)
  })

  it('a handler may stream its frames', async () => {
    const frames = await C.node.request(serverId, '/t/stream/1', text('s'))
    assert.deepEqual(decode(frames), ['s-0', 's-1', 's-2', 's-3', 's-4'])
  })

  it('a client refuses more frames, or larger frames, than its bounds', async () => {
    await assert.rejects(C.node.request(serverId, '/t/many/1', text('m')), { code: 'PROTOCOL' })
    await assert.rejects(C.node.request(serverId, '/t/big/1', text('b')), { code: 'OVERSIZED' })
  })

  it('an oversized request is refused: locally before sending, and by the server if sent', async () => {
    await assert.rejects(C.node.request(serverId, '/t/echo/1', new Uint8Array(65)), { code: 'OVERSIZED' })
    await assert.rejects(C.node.request(serverId, '/t/small/1', new Uint8Array(100)), {
      code: 'REFUSED',
      meta: { protocol: '/t/small/1', peer: serverId, reason: 'OVERSIZED' }
    })
    assert.equal(await count(S, '/t/small/1', 'server', 'oversized'), 1)
    assert.deepEqual(decode(await C.node.request(serverId, '/t/small/1', text('fits'))), ['ok'])
  })

  it('a handler slower than the deadline gives TIMEOUT on the client without hanging', async () => {
    const t0 = performance.now()
    await assert.rejects(C.node.request(serverId, '/t/slow/1', text('x'), { timeoutMs: 150 }), { code: 'TIMEOUT' })
    const ms = performance.now() - t0
    assert.ok(ms >= 140 && ms < 1000, `took ${ms} ms`)
    assert.equal(await count(C, '/t/slow/1', 'client', 'timeout'), 1)
  })

  it("the server's own deadline ends a slow handler and the client hears of it at once", async () => {
    const t0 = performance.now()
    await assert.rejects(C.node.request(serverId, '/t/slow-server/1', text('x')), {
      code: 'TIMEOUT',
      meta: { protocol: '/t/slow-server/1', peer: serverId, remote: true }
    })
    assert.ok(performance.now() - t0 < 1000)
    assert.equal(await count(S, '/t/slow-server/1', 'server', 'timeout'), 1)
  })

  it('a handler that fails halfway gives an error, never a shorter response', async () => {
    await assert.rejects(C.node.request(serverId, '/t/midway/1', text('x')), {
      code: 'REFUSED',
      meta: { protocol: '/t/midway/1', peer: serverId, reason: 'SERVER_ERROR' }
    })
    assert.equal(await count(S, '/t/midway/1', 'server', 'server_error'), 1)
  })

  it('the caller can abort a request', async () => {
    const ac = new AbortController()
    const pending = C.node.request(serverId, '/t/slow/1', text('x'), { signal: ac.signal })
    ac.abort()
    await assert.rejects(pending, { code: 'ABORTED' })
  })

  it('a protocol the peer does not serve, or an unknown one, fails with a typed error', async () => {
    await assert.rejects(C.node.request(serverId, '/t/missing/1', text('x')), { code: 'PROTOCOL' })
    await assert.rejects(C.node.request(serverId, '/t/never-declared/1', text('x')), { code: 'PROTOCOL' })
    const stranger = await identity()
    await assert.rejects(C.node.request(stranger.id, '/t/echo/1', text('x')), { code: 'NO_CONNECTION' })
  })

  it('requests beyond the rate limit are refused and counted', async () => {
    const results = []
    for (let i = 0; i < 4; i++) {
      results.push(
        await C.node.request(serverId, '/t/limited/1', text('x')).then(
          () => 'ok',
          (e: BbnpError) => `${e.code} ${e.meta.reason}`
        )
      )
    }
    assert.deepEqual(results, ['ok', 'ok', 'REFUSED RATE_LIMITED', 'REFUSED RATE_LIMITED'])
    assert.equal(await count(S, '/t/limited/1', 'server', 'rate_limited'), 2)
  })

  it('malformed requests count towards a ban', async () => {
    const s = await identity()
    const c = await identity()
    const strict = await startNode(nodes, s, { allowedPeers: new Set([c.id]), protocols: serverSpecs, ban: { maxRejects: 2 } })
    const client = await startNode(nodes, c, { allowedPeers: new Set([s.id]), protocols: clientSpecs, listen: [] })
    await client.node.connect(s.id, strict.node.multiaddrs()[0])
    const malformed = { code: 'REFUSED', meta: { protocol: '/t/decode/1', peer: s.id, reason: 'MALFORMED' } }
    await assert.rejects(client.node.request(s.id, '/t/decode/1', text('?')), malformed)
    await assert.rejects(client.node.request(s.id, '/t/decode/1', text('?')), malformed)
    await waitFor('ban', () => strict.node.isBanned(c.id))
    await waitFor('hung up', () => client.node.connectedPeers().length === 0)
    assert.equal(metricValue(await strict.metrics.render(), 'bbnp_peer_bans_total', {}), 1)
    await assert.rejects(client.node.request(s.id, '/t/echo/1', text('x')), { code: 'NO_CONNECTION' })
  })
})
