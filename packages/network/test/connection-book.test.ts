import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MetricsRegistry, nullLogger, type Logger } from '@bbnp/core'
import { ConnectionBook, type ConnectionInfo, withPeerId } from '../src/connections.ts'
import type { PeerEvent } from '../src/types.ts'

const conn = (id: string, status: ConnectionInfo['status'] = 'open'): ConnectionInfo => ({ id, status })

/** A book whose dial answers from `dials` (a connection, or an error to throw), recording what it sees. */
function book(dials: (ConnectionInfo | Error)[] = [], logger: Logger = nullLogger) {
  const metrics = new MetricsRegistry()
  const gauge = metrics.gauge('bbnp_peers_connected', 'test')
  const hooks: string[] = []
  const dialled: string[] = []
  const events: PeerEvent[] = []
  const b = new ConnectionBook(
    {
      dial: async (addr) => {
        dialled.push(addr)
        const next = dials.shift()
        if (next === undefined || next instanceof Error) throw next ?? new Error('no route')
        return next
      },
      peersConnected: gauge,
      logger
    },
    {
      identified: (p) => hooks.push(`identified ${p}`),
      connectionClosed: (c, p) => hooks.push(`closed ${c} ${p}`),
      disconnected: (p) => hooks.push(`disconnected ${p}`)
    }
  )
  b.onPeer((e) => events.push(e))
  return { b, gauge, hooks, dialled, events }
}

describe('connection book', () => {
  it('a peer connects with its first identified connection and disconnects with its last', async () => {
    const { b, gauge, hooks, events } = book()
    b.identifyCompleted(conn('c1'), 'P')
    b.identifyCompleted(conn('c2'), 'P')
    b.identifyCompleted(conn('c2'), 'P') // identify again on the same connection (a push)
    assert.deepEqual(b.peers(), ['P'])
    assert.equal(await gauge.get(), 1)
    assert.deepEqual(events, [{ type: 'connect', peerId: 'P' }])

    b.connectionClosed('c1')
    assert.equal(b.isConnected('P'), true, 'one connection is left')
    b.connectionClosed('c1') // closed twice: counted once
    b.connectionClosed('unknown')
    assert.equal(b.isConnected('P'), true)
    b.connectionClosed('c2')
    assert.equal(b.isConnected('P'), false)
    assert.equal(await gauge.get(), 0)
    assert.deepEqual(events, [
      { type: 'connect', peerId: 'P' },
      { type: 'disconnect', peerId: 'P' }
    ])
    assert.deepEqual(hooks, ['identified P', 'identified P', 'closed c1 P', 'closed c2 P', 'disconnected P'])
  })

  it('ignores identify on a connection that is no longer open', () => {
    const { b, events } = book()
    b.identifyCompleted(conn('c1', 'closing'), 'P')
    assert.deepEqual(b.peers(), [])
    assert.deepEqual(events, [])
  })

  it('connect() resolves once identify ran on the dialled connection, adding /p2p/<peerId> when missing', async () => {
    const { b, dialled } = book([conn('c1')])
    const pending = b.connect('P', '/ip4/127.0.0.1/tcp/1', AbortSignal.timeout(5000))
    await new Promise((r) => setImmediate(r))
    b.identifyCompleted(conn('c1'), 'P')
    await pending
    assert.deepEqual(dialled, ['/ip4/127.0.0.1/tcp/1/p2p/P'])
    assert.equal(withPeerId('/ip4/1.2.3.4/tcp/1/p2p/Q', 'P'), '/ip4/1.2.3.4/tcp/1/p2p/Q')
  })

  it('connect() resolves at once on a connection already identified (libp2p reused it)', async () => {
    const { b } = book([conn('c1')])
    b.identifyCompleted(conn('c1'), 'P')
    await b.connect('P', '/ip4/127.0.0.1/tcp/1', AbortSignal.timeout(5000))
  })

  it('connect() fails with NO_CONNECTION when the dial fails, the connection closes, or the wait is cut short', async () => {
    const { b } = book([new Error('refused'), conn('c1', 'closed'), conn('c2'), conn('c3'), conn('c4')])
    const signal = AbortSignal.timeout(5000)
    await assert.rejects(b.connect('P', '/a', signal), { code: 'NO_CONNECTION', message: /cannot connect to P: refused/ })
    await assert.rejects(b.connect('P', '/a', signal), { code: 'NO_CONNECTION', message: /closed the connection/ })

    const closed = b.connect('P', '/a', signal)
    await new Promise((r) => setImmediate(r))
    b.connectionClosed('c2')
    await assert.rejects(closed, { code: 'NO_CONNECTION', message: /did not accept/ })

    const ac = new AbortController()
    const aborted = b.connect('P', '/a', ac.signal)
    await new Promise((r) => setImmediate(r))
    ac.abort()
    await assert.rejects(aborted, { code: 'NO_CONNECTION' })

    const stopping = b.connect('P', '/a', signal)
    await new Promise((r) => setImmediate(r))
    b.abortWaiters()
    await assert.rejects(stopping, { code: 'NO_CONNECTION' })
    assert.deepEqual(b.peers(), [])
  })

  it('a throwing listener is logged and the others still hear the event; unsubscribing works', () => {
    const warnings: string[] = []
    const logger = { ...nullLogger, warn: (msg: string) => warnings.push(msg) }
    const { b, events } = book([], logger)
    const off = b.onPeer(() => {
      throw new Error('listener bug')
    })
    b.identifyCompleted(conn('c1'), 'P')
    off()
    b.connectionClosed('c1')
    assert.deepEqual(warnings, ['peer event listener threw'])
    assert.equal(events.length, 2)
  })

  it('clear() forgets every peer without events and zeroes the gauge', async () => {
    const { b, gauge, events } = book()
    b.identifyCompleted(conn('c1'), 'P')
    b.identifyCompleted(conn('c2'), 'Q')
    assert.equal(await gauge.get(), 2)
    b.clear()
    assert.deepEqual(b.peers(), [])
    assert.equal(await gauge.get(), 0)
    b.connectionClosed('c1')
    assert.equal(events.length, 2, 'only the two connects')
  })
})
