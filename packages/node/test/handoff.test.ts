/**
 * The gateway's hand-off (gateway-handoff.ts) over a real gateway store: nothing closed is lost
 * across a restart, nothing is dropped without a warning and a count.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { createLogger, MetricsRegistry } from '@bbnp/core'
import { GatewayStore } from '@bbnp/chain'
import type { SignedAggregate } from '@bbnp/consensus'
import { AggregateHandoff } from '../src/gateway-handoff.ts'
import type { HandoffAck } from '../src/protocols.ts'

const dir = mkdtempSync(join(tmpdir(), 'bbnp-handoff-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const GENESIS = new Uint8Array(32).fill(7)
let n = 0

function aggregate(slot: number, fromSlot = slot): SignedAggregate {
  return {
    slot,
    fromSlot,
    status: fromSlot === slot ? 'complete' : 'missed',
    sum: fromSlot === slot ? BigInt(slot * 10) : 0n,
    count: fromSlot === slot ? 3 : 0,
    missing: new Uint8Array(0),
    reason: '',
    endorsement: fromSlot === slot ? { signers: new Uint8Array([7]), signature: new Uint8Array(96) } : null,
    faulty: new Uint8Array(0),
    signature: new Uint8Array(96).fill(slot % 256)
  }
}

interface Peer {
  headSlot: number
  blocks: Set<number>
  received: number[]
  up: boolean
}

function world(peers: Record<string, Peer>, now: { t: number }) {
  const lines: { level: string; msg: string }[] = []
  const metrics = new MetricsRegistry()
  const logger = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l)) })
  const modules = {
    send: async (peer: string, a: SignedAggregate): Promise<HandoffAck> => {
      const p = peers[peer]
      if (!p.up) throw new Error('no connection')
      p.received.push(a.slot)
      return { headSlot: p.headSlot, held: p.blocks.has(a.slot) }
    },
    peers: () => Object.keys(peers).filter((id) => peers[id].up),
    nameOf: (p: string) => p,
    logger,
    metrics,
    now: () => now.t
  }
  return { modules, lines, metrics }
}

async function openStore(): Promise<{ store: GatewayStore; path: string }> {
  const path = join(dir, `store-${n++}`)
  return { store: await GatewayStore.open(path, { genesisHash: GENESIS }), path }
}

describe('the gateway hand-off', () => {
  it('keeps a closed slot on disk until a block holds it, also across a restart', async () => {
    const { store, path } = await openStore()
    const now = { t: 0 }
    const peers = { a: { headSlot: -1, blocks: new Set<number>(), received: [], up: false } as Peer }
    const w = world(peers, now)
    const h = new AggregateHandoff({ store, resendMs: 3000 }, w.modules)
    await h.add(aggregate(5))
    await h.add(aggregate(6))
    await h.flush()
    assert.deepEqual(h.pendingSlots(), [5, 6], 'nobody reachable: both wait')
    assert.equal(store.lastClosedSlot(), 6)
    await store.close()

    // The gateway restarts: a new hand-off over the same directory finds both.
    const again = await GatewayStore.open(path, { genesisHash: GENESIS })
    assert.equal(again.lastClosedSlot(), 6)
    const h2 = new AggregateHandoff({ store: again, resendMs: 3000 }, w.modules)
    assert.equal(await h2.load(), 2)
    peers.a.up = true
    await h2.flush()
    assert.deepEqual(peers.a.received, [5, 6], 'handed off again, in slot order')
    assert.deepEqual(h2.pendingSlots(), [5, 6], 'not yet in a block: still kept')

    // Blocks now hold both: once sent again (after the resend interval) the answers settle them,
    // and they leave the store.
    peers.a.blocks = new Set([5, 6])
    peers.a.headSlot = 6
    now.t = 3000
    await h2.flush()
    assert.deepEqual(h2.pendingSlots(), [])
    assert.deepEqual(await again.pending(), [])
    assert.equal((await w.metrics.render()).includes('bbnp_slots_given_up_total'), true)
    await again.close()
  })

  it('does not send a delivered aggregate again until the resend interval or a reconnect', async () => {
    const { store } = await openStore()
    const now = { t: 0 }
    const peers = { a: { headSlot: -1, blocks: new Set<number>(), received: [], up: true } as Peer }
    const w = world(peers, now)
    const h = new AggregateHandoff({ store, resendMs: 3000 }, w.modules)
    await h.add(aggregate(1))
    await h.flush()
    await h.flush()
    assert.deepEqual(peers.a.received, [1], 'delivered once')
    now.t = 3000
    await h.flush()
    assert.deepEqual(peers.a.received, [1, 1], 'again after the resend interval')
    h.onConnect('a')
    await h.flush()
    assert.deepEqual(peers.a.received, [1, 1, 1], 'again after a reconnect (the peer may have lost it)')
    await store.close()
  })

  it('gives up a slot the chain moved past without it: warned and counted, never silently', async () => {
    const { store } = await openStore()
    const now = { t: 0 }
    const peers = { a: { headSlot: 9, blocks: new Set<number>([9]), received: [], up: true } as Peer }
    const w = world(peers, now)
    const h = new AggregateHandoff({ store, resendMs: 3000 }, w.modules)
    await h.add(aggregate(8))
    await h.flush()
    assert.deepEqual(h.pendingSlots(), [])
    const warn = w.lines.find((l) => l.level === 'warn')
    assert.ok(warn && /given up/.test(warn.msg), 'a warning')
    assert.match(await w.metrics.render(), /bbnp_slots_given_up_total\{reason="passed"\} 1/)
    assert.deepEqual(await store.pending(), [])
    await store.close()
  })

  it('keeps a missed range like any other aggregate', async () => {
    const { store, path } = await openStore()
    const now = { t: 0 }
    const peers = { a: { headSlot: -1, blocks: new Set<number>(), received: [], up: false } as Peer }
    const h = new AggregateHandoff({ store, resendMs: 3000 }, world(peers, now).modules)
    await h.add(aggregate(400, 11))
    await store.close()
    const again = await GatewayStore.open(path, { genesisHash: GENESIS })
    const [kept] = await again.pending()
    assert.equal(kept.fromSlot, 11)
    assert.equal(kept.slot, 400)
    assert.equal(kept.status, 'missed')
    await again.close()
  })
})
