import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'
import type { P2PNode, PeerEvent } from '../src/index.ts'
import { identity, metricValue, startNode, stopAll, waitFor } from './helpers.ts'

describe('connections', { timeout: 30_000 }, () => {
  const nodes: P2PNode[] = []
  after(() => stopAll(nodes))

  it('admits only allowed peers, in both directions, before any protocol runs', async () => {
    const a = await identity()
    const b = await identity()
    const outsider = await identity()
    const A = await startNode(nodes, a, { allowedPeers: new Set([b.id]) })
    const B = await startNode(nodes, b, { allowedPeers: new Set([a.id]) })
    // the outsider would happily talk to A, but A does not admit it
    const X = await startNode(nodes, outsider, { allowedPeers: new Set([a.id]) })
    const aEvents: PeerEvent[] = []
    const xEvents: PeerEvent[] = []
    A.node.onPeer((e) => aEvents.push(e))
    X.node.onPeer((e) => xEvents.push(e))

    await assert.rejects(X.node.connect(a.id, A.node.multiaddrs()[0]), { code: 'NO_CONNECTION' }, 'outsider dials in')
    await assert.rejects(A.node.connect(outsider.id, X.node.multiaddrs()[0]), { code: 'NO_CONNECTION' }, 'we dial the outsider')
    assert.deepEqual(A.node.connectedPeers(), [])
    assert.deepEqual(X.node.connectedPeers(), [])
    assert.deepEqual(aEvents, [])
    assert.deepEqual(xEvents, [])

    // the allowed pair connects, and both see it
    await B.node.connect(a.id, A.node.multiaddrs()[0])
    await waitFor('A sees B', () => A.node.connectedPeers().includes(b.id))
    assert.deepEqual(B.node.connectedPeers(), [a.id])
    assert.deepEqual(aEvents, [{ type: 'connect', peerId: b.id }])
    assert.equal(metricValue(await A.metrics.render(), 'bbnp_peers_connected', {}), 1)
  })

  it('re-dials a persistent peer that went away, once it is back (same key, same port)', async () => {
    const a = await identity()
    const b = await identity()
    const B1 = await startNode(nodes, b, { allowedPeers: new Set([a.id]) })
    const bAddr = B1.node.multiaddrs()[0]
    const A = await startNode(nodes, a, { allowedPeers: new Set([b.id]), persistentPeers: [{ peerId: b.id, addr: bAddr }] })
    const events: string[] = []
    A.node.onPeer((e) => events.push(e.type))
    await waitFor('first connection', () => A.node.connectedPeers().includes(b.id))

    await B1.node.stop()
    await waitFor('A notices', () => !A.node.connectedPeers().includes(b.id))
    // a new process with the same identity on the same port; it does not dial A itself
    const port = bAddr.split('/')[4]
    const B2 = await startNode(nodes, b, { allowedPeers: new Set([a.id]), listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    await waitFor('A re-dials B', () => A.node.connectedPeers().includes(b.id) && B2.node.connectedPeers().includes(a.id))
    assert.deepEqual(events.slice(-2), ['disconnect', 'connect'])
  })

  it('dials a /dns4 address: the name is resolved by the system (localhost here)', async () => {
    const a = await identity()
    const b = await identity()
    const B = await startNode(nodes, b, { allowedPeers: new Set([a.id]) })
    const port = B.node.multiaddrs()[0].split('/')[4]
    const A = await startNode(nodes, a, {
      allowedPeers: new Set([b.id]),
      listen: [],
      persistentPeers: [{ peerId: b.id, addr: `/dns4/localhost/tcp/${port}` }]
    })
    await waitFor('A reaches B by name', () => A.node.connectedPeers().includes(b.id) && B.node.connectedPeers().includes(a.id))
  })

  it('a persistent peer that moved is dialled at its new address once it is given (address book reloaded)', async () => {
    const a = await identity()
    const b = await identity()
    const B1 = await startNode(nodes, b, { allowedPeers: new Set([a.id]) })
    const A = await startNode(nodes, a, {
      allowedPeers: new Set([b.id]),
      // a long backoff: only setPeerAddress can bring the peer back within the test's deadline
      redial: { initialMs: 60_000, maxMs: 60_000 },
      persistentPeers: [{ peerId: b.id, addr: B1.node.multiaddrs()[0] }]
    })
    await waitFor('first connection', () => A.node.connectedPeers().includes(b.id))
    await B1.node.stop()
    await waitFor('A notices', () => !A.node.connectedPeers().includes(b.id))
    // the same identity on another address (another port; 127.0.0.2 is loopback too), which never dials A
    const B2 = await startNode(nodes, b, { allowedPeers: new Set([a.id]), listen: ['/ip4/127.0.0.2/tcp/0'] })
    assert.equal(A.node.setPeerAddress(b.id, B2.node.multiaddrs()[0]), true)
    assert.equal(A.node.setPeerAddress(a.id, B2.node.multiaddrs()[0]), false, 'not a persistent peer of A')
    await waitFor('A dials B at its new address', () => B2.node.connectedPeers().includes(a.id), 5000)
  })

  it('a listen address in use fails start() with one clear line', async () => {
    const a = await identity()
    const b = await identity()
    const A = await startNode(nodes, a, { allowedPeers: new Set() })
    const port = A.node.multiaddrs()[0].split('/')[4]
    await assert.rejects(
      startNode(nodes, b, { allowedPeers: new Set(), listen: [`/ip4/127.0.0.1/tcp/${port}`] }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'LISTEN')
        assert.match(e.message, /EADDRINUSE/)
        assert.ok(!e.message.includes('\n'), e.message)
        return true
      }
    )
  })

  it('stop() is idempotent and leaves nothing running: a process exits by itself', async () => {
    const fixture = fileURLToPath(new URL('./stop-exit.fixture.ts', import.meta.url))
    const child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const code = await exited
    clearTimeout(timer)
    assert.equal(code, 0, out)
    const lines = out.trim().split('\n')
    assert.ok(lines.includes('stopped'), out)
    // time from the end of stop() to the process's exit, measured by the child itself
    const exitMs = Number(lines.find((l) => l.startsWith('exit-ms '))?.split(' ')[1])
    assert.ok(exitMs < 200, `exited ${exitMs} ms after stop()`)
  })
})
