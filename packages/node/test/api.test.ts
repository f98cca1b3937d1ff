/**
 * The consensus peer's HTTP API over a real block store and a real HTTP server: lists come newest
 * first by default, a cut range says so with a `next` link, and malformed or unknown requests get
 * 400, 404 or 405 with a JSON error and a code.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { MetricsRegistry, nullLogger } from '@bbnp/core'
import { BlockStore } from '@bbnp/chain'
import { DEFAULT_REPUTATION_PARAMS } from '@bbnp/reputation'
import { buildChain, M, METERS, storeOptions, tempDir, testChain } from '../../chain/test/helpers.ts'
import { consensusRoutes } from '../src/consensus-routes.ts'
import type { Genesis } from '../src/genesis.ts'
import { type ApiServer, startApi } from '../src/http-api.ts'
import { LeadershipWindow } from '../src/leadership.ts'

const HEIGHT = 150
let api: ApiServer
let store: BlockStore
let remove: () => Promise<void>

before(async () => {
  const t = testChain('api-test')
  const dir = await tempDir('bbnp-api-')
  remove = dir.remove
  store = await BlockStore.open(dir.path, storeOptions(t))
  for (const c of buildChain(t, HEIGHT)) await store.commit(c.block, c.cert)
  const metrics = new MetricsRegistry()
  const leadership = new LeadershipWindow(M, metrics)
  await leadership.load(store)
  const genesis = { chainId: 'api-test', hash: t.genesisHash, meters: new Array(METERS), consensus: new Array(M) } as unknown as Genesis
  const routes = consensusRoutes({
    id: 'cn-1',
    genesis,
    params: DEFAULT_REPUTATION_PARAMS,
    store,
    replica: () => ({
      height: HEIGHT + 1,
      view: 0,
      viewChanging: false,
      primary: null,
      head: { height: HEIGHT, reputation: [1e9, 1e9, 1e9, 1e9], opinionHeight: HEIGHT - 1 }
    }),
    peers: () => ['cn-2', 'cn-3'],
    catchUp: { syncing: false, last: null },
    leadership,
    timing: () => undefined,
    metrics,
    misbehave: [],
    readiness: () => [],
    gateway: { host: '127.0.0.1', port: 1 }
  })
  api = await startApi({ host: '127.0.0.1', port: 0, routes, logger: nullLogger })
})
after(async () => {
  await api?.close()
  await store?.close()
  await remove?.()
})

async function get(path: string, method = 'GET'): Promise<{ status: number; body: Record<string, unknown> & { code?: string } }> {
  const res = await fetch(`http://127.0.0.1:${api.port}${path}`, { method })
  return { status: res.status, body: method === 'HEAD' ? {} : ((await res.json()) as Record<string, unknown>) }
}

const heights = (body: Record<string, unknown>) => (body.blocks as { height: number }[]).map((b) => b.height)

describe('the HTTP API', () => {
  it('/blocks without parameters: the newest 64, no next', async () => {
    const { status, body } = await get('/blocks')
    assert.equal(status, 200)
    assert.deepEqual(
      heights(body),
      Array.from({ length: 64 }, (_, i) => HEIGHT - 63 + i)
    )
    assert.equal(body.next, null)
  })

  it('/blocks with a range larger than 64: cut, with a next link that gets the rest', async () => {
    const first = await get('/blocks?from=1&to=100')
    assert.deepEqual(
      heights(first.body),
      Array.from({ length: 64 }, (_, i) => i + 1)
    )
    assert.equal(first.body.to, 64)
    assert.equal(first.body.next, '/blocks?from=65&to=100')
    const second = await get(first.body.next as string)
    assert.deepEqual(
      heights(second.body),
      Array.from({ length: 36 }, (_, i) => i + 65)
    )
    assert.equal(second.body.next, null)
  })

  it('/blocks?from= alone pages up to the head', async () => {
    const { body } = await get('/blocks?from=120')
    assert.deepEqual(
      heights(body),
      Array.from({ length: 31 }, (_, i) => i + 120)
    )
    assert.equal(body.next, null)
    const early = await get('/blocks?from=10')
    assert.equal(early.body.next, `/blocks?from=74&to=${HEIGHT}`)
  })

  it('/aggregates without parameters: the newest blocks; with a long range: cut with next', async () => {
    const all = await get('/aggregates')
    const slots = (all.body.aggregates as { slot: number; height: number }[]).map((a) => a.height)
    assert.equal(slots.length, 64)
    assert.equal(slots.at(-1), HEIGHT)
    const ranged = await get('/aggregates?from=0&to=100000')
    const aggs = ranged.body.aggregates as { height: number; slot: number }[]
    assert.equal(aggs.length, 64)
    assert.equal(aggs[0].height, 1)
    assert.equal(ranged.body.next, `/aggregates?from=${aggs[63].slot + 1}&to=100000`)
    const rest = await get(ranged.body.next as string)
    assert.equal((rest.body.aggregates as { height: number }[])[0].height, 65)
  })

  it('malformed, unknown and non-GET requests: 400, 404, 405 with a JSON error and a code', async () => {
    assert.deepEqual((await get('/blocks/%ZZ')).status, 400)
    assert.equal((await get('/blocks/%ZZ')).body.code, 'BAD_REQUEST')
    const bad = await get('/blocks?from=x')
    assert.equal(bad.status, 400)
    assert.equal(bad.body.code, 'BAD_REQUEST')
    const inverted = await get('/blocks?from=9&to=3')
    assert.equal(inverted.status, 400)
    const missing = await get('/nothing-here')
    assert.equal(missing.status, 404)
    assert.equal(missing.body.code, 'NOT_FOUND')
    assert.equal((await get('/blocks/99999')).status, 404)
    const post = await get('/status', 'POST')
    assert.equal(post.status, 405)
    assert.equal(post.body.code, 'METHOD_NOT_ALLOWED')
  })

  it('/reputation carries the leadership window', async () => {
    const { body } = await get('/reputation')
    const l = body.leadership as { blocks: number; led: { id: string; blocks: number }[]; topShare: number; gini: number }
    assert.equal(l.blocks, 100)
    assert.equal(
      l.led.reduce((s, x) => s + x.blocks, 0),
      100
    )
    assert.ok(l.topShare > 0 && l.topShare <= 1)
    assert.equal(body.rule, 'fair')
  })
})
