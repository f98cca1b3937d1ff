import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { listenFailure } from '../src/libp2p-factory.ts'
import { networkDefaults, resolveOptions } from '../src/options.ts'
import type { P2PNodeOptions, ProtocolSpec } from '../src/types.ts'
import { identity, recordingTopic } from './helpers.ts'

const me = await identity()
const base: P2PNodeOptions = { privateKey: me.key, listen: [], allowedPeers: new Set(['P']), gossip: false }
const protocol = (id: string, over: Partial<ProtocolSpec> = {}): ProtocolSpec => ({
  id,
  maxRequestBytes: 64,
  maxResponseBytes: 64,
  maxResponseFrames: 1,
  timeoutMs: 1000,
  ...over
})

describe('options', () => {
  it('fill in the defaults field by field', () => {
    const s = resolveOptions({ ...base, gossipRateLimit: { burstMessages: 5 }, redial: { maxMs: 1 } })
    assert.deepEqual(s.gossipRateLimit, { ...networkDefaults.gossipRateLimit, burstMessages: 5 })
    assert.deepEqual(s.requestRateLimit, networkDefaults.requestRateLimit)
    assert.deepEqual(s.ban, networkDefaults.ban)
    assert.deepEqual(s.redial, { initialMs: networkDefaults.redial.initialMs, maxMs: 1 })
    assert.deepEqual([s.topics, s.protocols], [[], []])
  })

  it('refuse inconsistent specs and persistent peers outside the allow list with CONFIG', () => {
    const t = recordingTopic('/t', undefined, 10).spec
    const bad: [string, Partial<P2PNodeOptions>, RegExp][] = [
      ['topic listed twice', { gossip: { topics: [t, t] } }, /listed twice/],
      ['a protocol named like a topic', { gossip: { topics: [t] }, protocols: [protocol('/t')] }, /listed twice/],
      [
        'maxBytes above the burst',
        { gossip: { topics: [{ ...t, maxBytes: 100 }] }, gossipRateLimit: { burstBytes: 99 } },
        /maxBytes must be in \(0, 99\]/
      ],
      ['maxBytes of 0', { gossip: { topics: [{ ...t, maxBytes: 0 }] } }, /maxBytes must be/],
      [
        'maxRequestBytes above the burst',
        { protocols: [protocol('/p', { rateLimit: { burstBytes: 63 } })] },
        /maxRequestBytes must be in \(0, 63\]/
      ],
      ['no response frames', { protocols: [protocol('/p', { maxResponseFrames: 0 })] }, /must be positive/],
      ['no timeout', { protocols: [protocol('/p', { timeoutMs: 0 })] }, /must be positive/],
      ['persistent peer not allowed', { persistentPeers: [{ peerId: 'Q', addr: '/ip4/127.0.0.1/tcp/1' }] }, /not in allowedPeers/]
    ]
    for (const [what, over, message] of bad) assert.throws(() => resolveOptions({ ...base, ...over }), { code: 'CONFIG', message }, what)
    const good = { gossip: { topics: [t] }, protocols: [protocol('/p')], persistentPeers: [{ peerId: 'P', addr: '/ip4/127.0.0.1/tcp/1' }] }
    assert.equal(resolveOptions({ ...base, ...good }).topics.length, 1)
  })
})

describe('listen failure', () => {
  it("keeps one line per address from libp2p's multi-line error, or the first line", () => {
    const multi = new Error(
      'Some configured addresses failed to listen\n  /ip4/127.0.0.1/tcp/1: listen EADDRINUSE\n    at stack (x.js:1)\n  /ip4/127.0.0.1/tcp/2: listen EACCES'
    )
    assert.equal(listenFailure(multi), '/ip4/127.0.0.1/tcp/1: listen EADDRINUSE; /ip4/127.0.0.1/tcp/2: listen EACCES')
    assert.equal(listenFailure(new Error('bad multiaddr\n    at stack (x.js:1)')), 'bad multiaddr')
  })
})
