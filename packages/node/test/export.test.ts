/**
 * The export rows and `GET /export` over a real block store and a real HTTP server: the route
 * sends, chunked, exactly the bytes of the offline export; bad parameters are 400; and the
 * streaming itself: a client that stops reading holds the source back (it is read no further
 * than the socket buffers), a client that leaves closes it, and a source that fails half-way cuts
 * the transfer instead of ending it as if complete.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { BbnpError, nullLogger } from '@bbnp/core'
import { BlockStore, StoreError } from '@bbnp/chain'
import { buildChain, M, METERS, slotOf, storeOptions, tempDir, testChain } from '../../chain/test/helpers.ts'
import { csvField, exportChunks, exportNetwork, exportRange, formatRow, type ExportRow } from '../src/export.ts'
import { exportRoutes } from '../src/export-routes.ts'
import type { Genesis } from '../src/genesis.ts'
import { type ApiServer, type Route, startApi } from '../src/http-api.ts'

const HEIGHT = 150
const genesis = {
  genesisTimeMs: Date.UTC(2026, 0, 1),
  periodMs: 60_000,
  meters: new Array(METERS),
  consensus: new Array(M)
} as unknown as Genesis
let store: BlockStore
let api: ApiServer
let remove: () => Promise<void>
const failures: unknown[] = []

/** What the synthetic streaming routes did. */
const endless = { produced: 0, closed: false }

const streamingRoutes: Record<string, Route> = {
  '/endless': () => ({
    status: 200,
    body: null,
    stream: (async function* () {
      try {
        // 64 KiB a chunk, up to 320 MiB: far more than the buffers along the way hold.
        for (let i = 0; i < 5000; i++) {
          endless.produced++
          yield `${String(i).padStart(8, '0')}${'x'.repeat(65_528)}`
        }
      } finally {
        endless.closed = true
      }
    })()
  }),
  '/fails-midway': () => ({
    status: 200,
    body: null,
    stream: (async function* () {
      yield 'a first chunk\n'
      throw new BbnpError('STORE_IO', 'the disk went away')
    })()
  }),
  '/fails-first': () => ({
    status: 200,
    body: null,
    stream: {
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.reject(new BbnpError('STORE_IO', 'the disk went away before anything was sent'))
      })
    }
  })
}

/** A store that finds damage on its first read. */
const damaged = {
  dir: '/nowhere/chain',
  head: () => ({ height: 10, hash: new Uint8Array(32), slot: 40 }),
  getRange: () => Promise.reject(new StoreError('STORE_CORRUPT', 'block store /nowhere/chain is damaged: block 1 cannot be read'))
} as unknown as BlockStore

before(async () => {
  const t = testChain('export-test')
  const dir = await tempDir('bbnp-export-')
  remove = dir.remove
  store = await BlockStore.open(dir.path, storeOptions(t))
  for (const c of buildChain(t, HEIGHT)) await store.commit(c.block, c.cert)
  api = await startApi({
    host: '127.0.0.1',
    port: 0,
    routes: {
      ...exportRoutes({ genesis, store }),
      ...streamingRoutes,
      '/damaged/export': exportRoutes({ genesis, store: damaged })['/export']
    },
    logger: nullLogger,
    onFailure: (e) => failures.push(e)
  })
})
after(async () => {
  await api?.close()
  await store?.close()
  await remove?.()
})

const url = (path: string) => `http://127.0.0.1:${api.port}${path}`

async function offline(range: Parameters<typeof exportRange>, format: 'csv' | 'jsonl'): Promise<string> {
  let text = ''
  for await (const chunk of exportChunks(store, exportRange(...range), format, exportNetwork(genesis))) text += chunk
  return text
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('export rows', () => {
  it('CSV fields are quoted when they hold a comma, a quote, a line break or a space', () => {
    assert.equal(csvField('complete'), 'complete')
    assert.equal(csvField(-42), '-42')
    assert.equal(csvField(null), '')
    assert.equal(csvField('meter-1 meter-9'), '"meter-1 meter-9"')
    assert.equal(csvField('a,b'), '"a,b"')
    assert.equal(csvField('say "hi"'), '"say ""hi"""')
    assert.equal(csvField('two\nlines'), '"two\nlines"')
  })

  it('a row in each format', () => {
    const row: ExportRow = {
      slot: 9,
      fromSlot: 5,
      time: '2026-01-01T00:09:00.000Z',
      status: 'missed',
      sum: null,
      count: 0,
      missing: [],
      height: 4,
      hash: 'ab',
      primary: 'cn-2',
      signers: ['cn-1', 'cn-2', 'cn-4']
    }
    assert.equal(formatRow(row, 'csv'), '9,5,2026-01-01T00:09:00.000Z,missed,,0,,4,ab,cn-2,"cn-1 cn-2 cn-4"\n')
    assert.equal(
      formatRow({ ...row, status: 'incomplete', missing: ['meter-3', 'meter-4'] }, 'jsonl'),
      '{"slot":9,"fromSlot":5,"time":"2026-01-01T00:09:00.000Z","status":"incomplete","sum":null,"count":0,"missing":["meter-3","meter-4"],"height":4,"hash":"ab","primary":"cn-2","signers":["cn-1","cn-2","cn-4"]}\n'
    )
  })
})

describe('GET /export', () => {
  it('the whole chain as CSV, chunked: the same bytes as the offline export', async () => {
    const res = await fetch(url('/export?format=csv'))
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('transfer-encoding'), 'chunked')
    assert.equal(res.headers.get('content-length'), null)
    assert.match(res.headers.get('content-type') ?? '', /^text\/csv/)
    const text = await res.text()
    assert.equal(text.split('\n').length, HEIGHT + 2, 'header, one line per block, and the final line break')
    assert.equal(text, await offline(['height', undefined, undefined, store.head()], 'csv'))
  })

  it('JSON lines by slot and by height', async () => {
    // Slots of the test chain: 3h + 10.
    const bySlot = await fetch(url(`/export?format=jsonl&fromSlot=${slotOf(20)}&toSlot=${slotOf(100) + 1}`))
    assert.match(bySlot.headers.get('content-type') ?? '', /^application\/x-ndjson/)
    const rows = (await bySlot.text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { height: number; slot: number })
    assert.deepEqual(
      rows.map((r) => r.height),
      Array.from({ length: 81 }, (_, i) => 20 + i)
    )
    assert.deepEqual(
      rows.map((r) => r.slot),
      rows.map((r) => slotOf(r.height))
    )
    const byHeight = await (await fetch(url('/export?format=jsonl&fromHeight=140'))).text()
    assert.equal(byHeight, await offline(['height', 140, undefined, store.head()], 'jsonl'))
    assert.equal(byHeight.trimEnd().split('\n').length, 11)
  })

  it('HEAD: the headers, no body', async () => {
    const res = await fetch(url('/export?format=csv'), { method: 'HEAD' })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/csv/)
    assert.equal(await res.text(), '')
  })

  it('bad parameters: 400 with a JSON error', async () => {
    const cases: [string, RegExp][] = [
      ['/export', /format must be csv or jsonl/],
      ['/export?format=xml', /format must be csv or jsonl/],
      ['/export?format=csv&fromSlot=1&toHeight=3', /not both/],
      ['/export?format=csv&fromHeight=9&toHeight=3', /toHeight must not be below fromHeight/],
      ['/export?format=csv&fromHeight=-1', /fromHeight must be a non-negative integer/],
      ['/export?format=csv&from=3', /unknown parameter from/]
    ]
    for (const [path, message] of cases) {
      const res = await fetch(url(path))
      assert.equal(res.status, 400, path)
      const body = (await res.json()) as { error: string; code: string }
      assert.equal(body.code, 'BAD_REQUEST')
      assert.match(body.error, message)
    }
  })
})

describe('streamed responses', () => {
  it('a store that fails on the first page: a 500 with the reason, in CSV too (the header waits for the first rows)', async () => {
    failures.length = 0
    for (const format of ['csv', 'jsonl']) {
      const res = await fetch(url(`/damaged/export?format=${format}`))
      assert.equal(res.status, 500)
      assert.deepEqual(await res.json(), { error: 'block store /nowhere/chain is damaged: block 1 cannot be read', code: 'STORE_CORRUPT' })
    }
    assert.equal(failures.length, 2, 'the peer is told (a damaged store stops it)')
  })

  it('a client that stops reading holds the source back; one that leaves closes it', async () => {
    endless.produced = 0
    endless.closed = false
    const controller = new AbortController()
    const res = await fetch(url('/endless'), { signal: controller.signal })
    const reader = res.body!.getReader()
    const first = await reader.read()
    assert.ok(first.value && first.value.length > 0)
    // The client reads no more: the source must stop once the buffers between are full.
    let seen = -1
    await waitFor('the source to stop while nobody reads', () => {
      const still = endless.produced === seen
      seen = endless.produced
      return still && seen > 1
    })
    assert.ok(endless.produced < 2000, `read ${endless.produced} chunks of 64 KiB for a client that took one`)
    assert.equal(endless.closed, false)
    controller.abort()
    await reader.cancel().catch(() => {})
    await waitFor('the source to be closed after the client left', () => endless.closed)
    assert.ok(endless.produced < 2000)
    // The server goes on serving.
    assert.equal((await fetch(url('/export?format=csv&toHeight=1'))).status, 200)
  })

  it('a source that fails half-way cuts the transfer, and the failure is reported', async () => {
    failures.length = 0
    // Headers and the first chunk may or may not have left before the cut: either way the client fails.
    await assert.rejects(async () => (await fetch(url('/fails-midway'))).text(), 'the client sees an incomplete transfer')
    assert.equal(failures.length, 1)
    assert.equal((failures[0] as BbnpError).code, 'STORE_IO')
  })

  it('a source that fails before its first chunk is a 500 with a JSON error', async () => {
    const res = await fetch(url('/fails-first'))
    assert.equal(res.status, 500)
    assert.deepEqual(await res.json(), { error: 'the disk went away before anything was sent', code: 'STORE_IO' })
  })
})
