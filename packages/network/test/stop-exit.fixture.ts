// Run by connection.test.ts as a child process: starts two busy nodes, stops them, and then
// must exit by itself (it never calls process.exit). It prints how long the exit took.
import { MetricsRegistry, nullLogger } from '@bbnp/core'
import { createP2PNode, type ProtocolSpec } from '../src/index.ts'
import { identity, LOOPBACK, recordingTopic, text, waitFor } from './helpers.ts'

const a = await identity()
const b = await identity()
const ghost = await identity() // a persistent peer that never answers: its re-dial timer must die with stop()
const topicA = recordingTopic('/t')
const topicB = recordingTopic('/t')
const protocols: ProtocolSpec[] = [
  { id: '/t/echo/1', maxRequestBytes: 64, maxResponseBytes: 64, maxResponseFrames: 4, timeoutMs: 30_000, handler: async (r) => [r] },
  // stays in flight across stop()
  {
    id: '/t/stall/1',
    maxRequestBytes: 64,
    maxResponseBytes: 64,
    maxResponseFrames: 4,
    timeoutMs: 30_000,
    handler: (_r, _f, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
  }
]
const modules = () => ({ logger: nullLogger, metrics: new MetricsRegistry() })
const A = await createP2PNode(
  { privateKey: a.key, listen: [LOOPBACK], allowedPeers: new Set([b.id, ghost.id]), gossip: { topics: [topicA.spec] }, protocols },
  modules()
)
await A.start()
const B = await createP2PNode(
  {
    privateKey: b.key,
    listen: [LOOPBACK],
    allowedPeers: new Set([a.id, ghost.id]),
    gossip: { topics: [topicB.spec] },
    protocols,
    persistentPeers: [
      { peerId: a.id, addr: A.multiaddrs()[0] },
      { peerId: ghost.id, addr: '/ip4/127.0.0.1/tcp/9' }
    ],
    redial: { initialMs: 20, maxMs: 60_000 }
  },
  modules()
)
await B.start()
await waitFor('mesh', () => A.meshPeers('/t').length === 1 && B.meshPeers('/t').length === 1)
await A.publish('/t', text('hello'))
await waitFor('delivery', () => topicB.received.length === 1)
await B.request(a.id, '/t/echo/1', text('echo'))
const stalled = B.request(a.id, '/t/stall/1', text('wait'), { timeoutMs: 30_000 }).catch((e) => e.code)

await Promise.all([A.stop(), B.stop(), A.stop()])
await B.stop()
console.log('stalled request ended with', await stalled)
console.log('stopped')
const t0 = performance.now()
process.on('exit', () => console.log(`exit-ms ${Math.round(performance.now() - t0)}`))
