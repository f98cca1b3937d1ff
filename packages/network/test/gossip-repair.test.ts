import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { MetricsRegistry, nullLogger } from '@bbnp/core'
import type { ConnectionInfo } from '../src/connections.ts'
import { GossipRepair } from '../src/gossip-repair.ts'

const REPAIRS = 'bbnp_gossip_repairs_total'

/**
 * A repair over a fake network: `subscribers` is what gossipsub knows, `connected` the peers
 * identify completed with, `connections` libp2p's connections per peer. Timers and the clock are
 * mocked; `advance` moves them in steps of 100 ms (one large tick would run every interval it
 * spans at the final time).
 */
function setup(t: TestContext, opts: { gossip?: boolean; topics?: string[]; heartbeats?: EventTarget } = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] })
  const subscribers = new Map<string, string[]>()
  const connected = new Set<string>()
  const connections = new Map<string, ConnectionInfo[]>()
  const hungUp: string[] = []
  const metrics = new MetricsRegistry()
  const repair = new GossipRepair({
    pubsub:
      opts.gossip === false
        ? undefined
        : {
            getSubscribers: (topic: string) => subscribers.get(topic) ?? [],
            ...(opts.heartbeats
              ? {
                  addEventListener: (type: 'gossipsub:heartbeat', f: () => void) => opts.heartbeats?.addEventListener(type, f),
                  removeEventListener: (type: 'gossipsub:heartbeat', f: () => void) => opts.heartbeats?.removeEventListener(type, f)
                }
              : {})
          },
    topics: opts.topics ?? ['/t/a', '/t/b'],
    persistentPeers: ['P', 'Q'],
    isConnected: (id) => connected.has(id),
    connections: (id) => connections.get(id) ?? [],
    hangUp: (id) => {
      hungUp.push(id)
      connected.delete(id)
      connections.delete(id)
    },
    metrics,
    logger: nullLogger
  })
  const repairs = (reason: string) => metrics.counter(REPAIRS, '', { labels: ['reason'] }).get({ reason })
  const advance = (ms: number) => {
    for (let left = ms; left > 0; left -= 100) t.mock.timers.tick(Math.min(100, left))
  }
  return { repair, subscribers, connected, connections, hungUp, repairs, advance }
}

describe('gossip watchdog', () => {
  it('hangs up a persistent peer connected but unknown to gossipsub for 5 s', async (t) => {
    const { repair, subscribers, connected, hungUp, repairs, advance } = setup(t)
    connected.add('P').add('Q').add('R') // R is not a persistent peer
    subscribers.set('/t/b', ['Q'])
    repair.start()
    advance(5000)
    assert.deepEqual(hungUp, [], 'first seen at 1 s: the grace period runs until 6 s')
    advance(1000)
    assert.deepEqual(hungUp, ['P'], 'Q is subscribed to one of the topics, R is not ours to keep')
    assert.equal(await repairs('unsubscribed'), 1)
    advance(10_000)
    assert.deepEqual(hungUp, ['P'], 'not connected any more: nothing to repair')
    repair.stop()
  })

  it('starts the grace period again when the peer subscribes in between', (t) => {
    const { repair, subscribers, connected, hungUp, advance } = setup(t)
    connected.add('P')
    repair.start()
    advance(4000)
    subscribers.set('/t/a', ['P'])
    advance(1000)
    subscribers.clear()
    advance(5000)
    assert.deepEqual(hungUp, [], 'unknown again since 6 s')
    advance(1000)
    assert.deepEqual(hungUp, ['P'])
    repair.stop()
  })

  it('does nothing before start, after stop, without gossip or without topics', (t) => {
    const idle = setup(t)
    idle.connected.add('P')
    idle.repair.checkSubscriptions()
    idle.advance(10_000)
    idle.repair.start()
    idle.advance(3000)
    idle.repair.stop()
    idle.advance(10_000)
    idle.repair.checkSubscriptions()
    assert.deepEqual(idle.hungUp, [])
    for (const opts of [{ gossip: false }, { topics: [] }]) {
      t.mock.timers.reset()
      const { repair, connected, hungUp, advance } = setup(t, opts)
      connected.add('P')
      repair.start()
      advance(10_000)
      repair.stop()
      assert.deepEqual(hungUp, [], JSON.stringify(opts))
    }
  })
})

describe('gossip watchdog on gossipsub heartbeats', () => {
  it('runs after each heartbeat and keeps no timer of its own; stops listening on stop', (t) => {
    const heartbeats = new EventTarget()
    const { repair, connected, hungUp, advance } = setup(t, { heartbeats })
    const beat = () => heartbeats.dispatchEvent(new Event('gossipsub:heartbeat'))
    connected.add('P')
    repair.start()
    advance(10_000)
    assert.deepEqual(hungUp, [], 'no heartbeat, no check')
    beat() // first seen now
    advance(5000)
    beat()
    assert.deepEqual(hungUp, ['P'], 'hung up at the first heartbeat after the grace period')
    connected.add('P')
    repair.stop()
    beat()
    advance(6000)
    beat()
    assert.deepEqual(hungUp, ['P'], 'not after stop')
  })
})

describe('partial-close repair', () => {
  it('hangs up a peer whose other connection is still open 300 ms after one closed', async (t) => {
    const { repair, connections, hungUp, repairs, advance } = setup(t)
    repair.start()
    connections.set('P', [{ id: 'c2', status: 'open' }])
    repair.connectionClosed('c1', 'P')
    advance(299)
    assert.deepEqual(hungUp, [])
    advance(1)
    assert.deepEqual(hungUp, ['P'])
    assert.equal(await repairs('partial_close'), 1)
    repair.stop()
  })

  it('leaves a peer alone when its connections close one after another (it went away)', (t) => {
    const { repair, connections, hungUp, advance } = setup(t)
    repair.start()
    connections.set('P', [
      { id: 'c1', status: 'closing' },
      { id: 'c2', status: 'open' }
    ])
    repair.connectionClosed('c1', 'P')
    connections.set('P', [{ id: 'c2', status: 'closing' }])
    advance(300)
    repair.connectionClosed('c2', 'P')
    connections.set('P', [{ id: 'c3', status: 'open' }])
    repair.connectionClosed('c3', 'P') // the closed connection itself never counts as another one
    advance(1000)
    assert.deepEqual(hungUp, [])
    repair.stop()
  })

  it('does nothing without gossip, before start, or when stopped within the grace period', (t) => {
    const noGossip = setup(t, { gossip: false })
    noGossip.repair.start()
    noGossip.connections.set('P', [{ id: 'c2', status: 'open' }])
    noGossip.repair.connectionClosed('c1', 'P')
    noGossip.advance(1000)
    assert.deepEqual(noGossip.hungUp, [])
    noGossip.repair.stop()
    t.mock.timers.reset()

    const { repair, connections, hungUp, advance } = setup(t)
    connections.set('P', [{ id: 'c2', status: 'open' }])
    repair.connectionClosed('c1', 'P')
    advance(1000)
    repair.start()
    repair.connectionClosed('c1', 'P')
    repair.stop()
    advance(1000)
    assert.deepEqual(hungUp, [])
  })
})
