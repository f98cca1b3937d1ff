/**
 * The serving side of request/response against a stream that ends midway, driven directly (a
 * stand-in stream, no sockets): which endings are the peer's fault and count towards a ban.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MetricsRegistry, nullLogger } from '@bbnp/core'
import type { Connection, Stream } from '@libp2p/interface'
import { PeerGuard } from '../src/peer-guard.ts'
import { RateLimiter } from '../src/rate-limit.ts'
import { serverHandler } from '../src/reqresp.ts'
import { metricValue, text } from './helpers.ts'

const PEER = '12D3KooWPeerThatSendsHalfARequest'
const PROTOCOL = '/t/echo/1'

/** A stream whose request is cut short: 3 bytes of a frame that announces 10, then `end`. */
function halfRequest(end: 'reset' | 'aborted' | 'closed'): Stream {
  const stream = {
    status: 'open',
    source: undefined as unknown as AsyncGenerator<Uint8Array>,
    async sink(source: AsyncIterable<unknown>) {
      if (stream.status !== 'open') throw new Error('stream is gone')
      for await (const _ of source);
    },
    async close() {},
    abort() {}
  }
  stream.source = (async function* () {
    yield Uint8Array.of(10, ...text('abc'))
    if (end === 'closed') return
    stream.status = end
    throw Object.assign(new Error('stream reset'), { name: end === 'reset' ? 'StreamResetError' : 'AbortError' })
  })()
  return stream as unknown as Stream
}

async function serveHalfRequests(end: 'reset' | 'aborted' | 'closed', times: number) {
  const metrics = new MetricsRegistry()
  const requests = metrics.counter('bbnp_reqresp_requests_total', 'test', {
    labels: { protocol: [PROTOCOL], side: ['server'], result: [] }
  })
  const guard = new PeerGuard(new Set([PEER]), { maxRejects: 2, windowMs: 60_000, durationMs: 60_000 })
  const bans: string[] = []
  const inflight = new Set<AbortController>()
  const handle = serverHandler(
    { id: PROTOCOL, maxRequestBytes: 64, maxResponseBytes: 64, maxResponseFrames: 8, timeoutMs: 2000, handler: async (req) => [req] },
    {
      guard,
      limiter: new RateLimiter(),
      rateLimit: { messagesPerSecond: 100, burstMessages: 100, bytesPerSecond: 1e6, burstBytes: 1e6 },
      requests,
      logger: nullLogger,
      onBan: (p) => bans.push(p),
      inflight
    }
  )
  for (let i = 0; i < times; i++) {
    await handle({ stream: halfRequest(end), connection: { remotePeer: { toString: () => PEER } } as unknown as Connection })
    // the answer and its accounting run after the handler returns: wait for this request's end
    const deadline = Date.now() + 5000
    while (inflight.size > 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r))
    assert.equal(inflight.size, 0, 'the request ended')
  }
  const rendered = await metrics.render()
  const count = (result: string) => metricValue(rendered, 'bbnp_reqresp_requests_total', { protocol: PROTOCOL, side: 'server', result })
  return { bans, banned: guard.isBanned(PEER), count }
}

describe('serving a request that is cut short', () => {
  for (const end of ['reset', 'aborted'] as const) {
    it(`a client that ${end === 'reset' ? 'resets the stream' : 'loses its connection'} midway went away: not charged, counted as reset`, async () => {
      const r = await serveHalfRequests(end, 4)
      assert.deepEqual(r.bans, [])
      assert.equal(r.banned, false)
      assert.equal(r.count('reset'), 4)
      assert.equal(r.count('malformed'), 0)
    })
  }

  it('a client that closes its side after half a frame sent bad input: charged, banned at the limit', async () => {
    const r = await serveHalfRequests('closed', 2)
    assert.deepEqual(r.bans, [PEER])
    assert.equal(r.banned, true)
    assert.equal(r.count('malformed'), 2)
  })
})
