/**
 * The dashboard's server side over a real HTTP server: every file the page names is served from
 * this package or node_modules (nothing from elsewhere), /dashboard.json carries the genesis
 * figures, and /gateway proxies the gateway's /status or answers 502 with a code. Then the page's
 * arithmetic and wording (dashboard-model.js), which the browser runs as it is.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { nullLogger } from '@bbnp/core'
import {
  DASHBOARD_FILES,
  type DashboardInfo,
  dashboardRoutes,
  fetchGatewayStatus,
  gatewayApiAddress,
  READINGS_ATTRIBUTION
} from '../src/dashboard/dashboard-routes.ts'
import * as model from '../src/dashboard/dashboard-model.js'
import type { Genesis } from '../src/genesis.ts'
import { type ApiServer, type Route, startApi } from '../src/http-api.ts'

const genesis = {
  chainId: 'dash-test',
  hash: new Uint8Array(32).fill(7),
  genesisTimeMs: 1_700_000_000_000,
  periodMs: 900_000,
  meters: new Array(50),
  consensus: ['cn-1', 'cn-2', 'cn-3', 'cn-4'].map((id) => ({ id })),
  f: 1,
  quorum: 3
} as unknown as Genesis

/** A stand-in gateway API: answers /status as told, counting requests. */
class FakeGateway {
  server: Server
  requests = 0
  answer: { status: number; body: string; delayMs?: number } = { status: 200, body: '{}' }
  port = 0
  constructor() {
    this.server = createServer((req, res) => {
      this.requests++
      const { status, body, delayMs } = this.answer
      setTimeout(() => {
        if (res.destroyed) return
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(body)
      }, delayMs ?? 0)
    })
  }
  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()))
    this.port = (this.server.address() as { port: number }).port
  }
  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((r) => this.server.close(() => r()))
  }
}

let api: ApiServer
let gw: FakeGateway
let table: Record<string, Route>

before(async () => {
  gw = new FakeGateway()
  await gw.listen()
  table = {
    ...dashboardRoutes({ genesis, routes: () => table, gateway: () => ({ host: '127.0.0.1', port: gw.port }), gatewayTimeoutMs: 300 }),
    '/status': () => ({ status: 200, body: {} })
  }
  api = await startApi({ host: '127.0.0.1', port: 0, routes: table, logger: nullLogger })
})
after(async () => {
  await api?.close()
  await gw?.close()
})

const url = (path: string) => `http://127.0.0.1:${api.port}${path}`

describe("the dashboard's routes", () => {
  it('serves the page, its script, model and styles, and uPlot from node_modules, each with its content type', async () => {
    const types: Record<string, RegExp> = {
      '/': /^text\/html/,
      '/dashboard.js': /^text\/javascript/,
      '/dashboard-model.js': /^text\/javascript/,
      '/dashboard.css': /^text\/css/,
      '/vendor/uplot.js': /^text\/javascript/,
      '/vendor/uplot.css': /^text\/css/
    }
    assert.deepEqual(Object.keys(DASHBOARD_FILES).sort(), Object.keys(types).sort())
    for (const [path, type] of Object.entries(types)) {
      const res = await fetch(url(path))
      assert.equal(res.status, 200, path)
      assert.match(res.headers.get('content-type') ?? '', type, path)
      const body = await res.text()
      assert.ok(body.length > 100, `${path} has content`)
      assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(body), path)
    }
    assert.match(await (await fetch(url('/vendor/uplot.js'))).text(), /uPlot/)
    const head = await fetch(url('/'), { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(await head.text(), '')
  })

  it('the page names only files this peer serves: no CDN, no other host', async () => {
    const html = await (await fetch(url('/'))).text()
    const refs = [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1])
    for (const ref of refs) if (!ref.startsWith('data:')) assert.match(ref, /^\/([^/]|$)/, `${ref} is a path on this peer`)
    // What the page loads (scripts, styles) is served by the dashboard's own routes.
    const loads = [...html.matchAll(/<(?:script|link)\b[^>]*\s(?:src|href)="(\/[^"]*)"/g)].map((m) => m[1])
    assert.deepEqual(loads.sort(), ['/dashboard-model.js', '/dashboard.css', '/dashboard.js', '/vendor/uplot.css', '/vendor/uplot.js'])
    for (const ref of loads) assert.ok(ref in table, `${ref} has a route`)
    assert.doesNotMatch(html, /https?:\/\//, 'no absolute URL at all')
    // The module imports the model by a relative path that the peer serves too.
    const js = await (await fetch(url('/dashboard.js'))).text()
    for (const m of js.matchAll(/from '(\.\/[^']+)'/g)) assert.ok(`/${m[1].slice(2)}` in table, `${m[1]} is served`)
  })

  it('/dashboard.json: the genesis figures the page needs, the readings attribution, and whether /readyz exists', async () => {
    const info = (await (await fetch(url('/dashboard.json'))).json()) as DashboardInfo
    assert.equal(info.chainId, 'dash-test')
    assert.equal(info.genesisHash, '07'.repeat(32))
    assert.equal(info.periodMs, 900_000)
    assert.equal(info.genesisTimeMs, 1_700_000_000_000)
    assert.equal(info.meters, 50)
    assert.deepEqual(info.consensus, ['cn-1', 'cn-2', 'cn-3', 'cn-4'])
    assert.equal(info.quorum, 3)
    assert.equal(info.readyz, false)
    assert.equal(info.readings.attribution, READINGS_ATTRIBUTION)
    assert.match(READINGS_ATTRIBUTION, /Hébrail & Bérard, CC BY 4\.0/)
    table['/readyz'] = () => ({ status: 200, body: { ready: true, reasons: [] } })
    try {
      assert.equal(((await (await fetch(url('/dashboard.json'))).json()) as DashboardInfo).readyz, true)
    } finally {
      delete table['/readyz']
    }
  })

  it("/gateway passes the gateway's status through, and concurrent dashboards share one request", async () => {
    const status = { role: 'gateway', slot: 12, received: 500, rejected: { BAD_TAG: 2 } }
    gw.answer = { status: 200, body: JSON.stringify(status), delayMs: 50 }
    await new Promise((r) => setTimeout(r, 600)) // past the shared answer's lifetime
    const before = gw.requests
    const answers = await Promise.all([1, 2, 3].map(() => fetch(url('/gateway'))))
    for (const res of answers) {
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), status)
    }
    assert.equal(gw.requests - before, 1)
  })

  it('/gateway: 502 with a code when the gateway answers an error, not JSON, too late, or not at all', async () => {
    const at = { host: '127.0.0.1', port: gw.port }
    gw.answer = { status: 500, body: '{}' }
    let r = await fetchGatewayStatus(at, 300)
    assert.equal(r.status, 502)
    assert.equal((r.body as { code: string }).code, 'GATEWAY_BAD_ANSWER')
    gw.answer = { status: 200, body: 'not json' }
    r = await fetchGatewayStatus(at, 300)
    assert.equal((r.body as { code: string }).code, 'GATEWAY_BAD_ANSWER')
    gw.answer = { status: 200, body: '{}', delayMs: 2000 }
    const t0 = Date.now()
    r = await fetchGatewayStatus(at, 300)
    assert.equal(r.status, 502)
    assert.equal((r.body as { code: string }).code, 'GATEWAY_TIMEOUT')
    assert.ok(Date.now() - t0 < 1500, 'the timeout is short')
    // A port nobody listens on (the fake gateway's, once closed).
    const closed = new FakeGateway()
    await closed.listen()
    await closed.close()
    r = await fetchGatewayStatus({ host: '127.0.0.1', port: closed.port }, 300)
    assert.equal(r.status, 502)
    assert.equal((r.body as { code: string }).code, 'GATEWAY_UNREACHABLE')
    assert.match((r.body as { error: string }).error, /not reachable/)
  })

  it("the gateway's API address: its host in the address book (loopback for a wildcard, a name as it is) and p2p port + 1000", () => {
    assert.deepEqual(gatewayApiAddress(multiaddr('/ip4/127.0.0.1/tcp/7100')), { host: '127.0.0.1', port: 8100 })
    assert.deepEqual(gatewayApiAddress(multiaddr('/ip4/0.0.0.0/tcp/9000')), { host: '127.0.0.1', port: 10_000 })
    assert.deepEqual(gatewayApiAddress(multiaddr('/ip6/::/tcp/9000')), { host: '::1', port: 10_000 })
    assert.deepEqual(gatewayApiAddress(multiaddr('/dns4/gw.grid.example/tcp/7100')), { host: 'gw.grid.example', port: 8100 })
  })
})

describe("the page's arithmetic (dashboard-model.js)", () => {
  it('average power: W = Wh * 3,600,000 / periodMs', () => {
    assert.equal(model.averagePowerW(250, 900_000), 1000) // 250 Wh in 15 minutes: 1 kW
    assert.equal(model.averagePowerW(1, 1000), 3600) // 1 Wh in a second: 3.6 kW
    assert.equal(model.formatPower(1000), '1.00 kW')
    assert.equal(model.formatPower(5_480_000), '5.48 MW')
    assert.equal(model.formatPower(-250), '-250 W')
    assert.equal(model.formatPower(null), '—')
  })

  it('digit groups on exact decimal strings, however long', () => {
    assert.equal(model.groupDigits('1234567'), '1,234,567')
    assert.equal(model.groupDigits('-1000'), '-1,000')
    assert.equal(model.groupDigits('999'), '999')
    assert.equal(model.groupDigits('123456789012345678901234567890'), '123,456,789,012,345,678,901,234,567,890')
    assert.equal(model.groupDigits('n/a'), 'n/a')
  })

  it('statuses: the known ones have their colours, any other string gets a stable colour of its own', () => {
    assert.equal(model.statusColour('complete'), model.STATUS_COLOURS.complete)
    assert.equal(model.statusColour('recovered'), model.STATUS_COLOURS.recovered)
    const odd = model.statusColour('partially-recovered')
    assert.match(odd, /^#[0-9a-f]{6}$/)
    assert.equal(model.statusColour('partially-recovered'), odd)
    assert.ok(!Object.values(model.STATUS_COLOURS).includes(odd))
    assert.match(model.statusColour('__proto__'), /^#[0-9a-f]{6}$/)
    assert.match(model.statusColour('constructor'), /^#[0-9a-f]{6}$/)
  })

  it('a counter from Prometheus text, summed over its label sets', () => {
    const text = [
      '# HELP bbnp_view_changes_total View changes',
      '# TYPE bbnp_view_changes_total counter',
      'bbnp_view_changes_total 3',
      'bbnp_view_changes_total_other 100',
      'bbnp_rejections_total{reason="BAD_TAG"} 2',
      'bbnp_rejections_total{reason="LATE"} 5'
    ].join('\n')
    assert.equal(model.metricValue(text, 'bbnp_view_changes_total'), 3)
    assert.equal(model.metricValue(text, 'bbnp_rejections_total'), 7)
    assert.equal(model.metricValue(text, 'bbnp_absent_total'), null)
  })

  it('the kept window: merged by height, newest last, at most `window` blocks', () => {
    const b = (height: number) => ({ height, slot: height, status: 'complete', sum: String(height), count: 1 })
    const kept = [b(1), b(2), b(3)]
    assert.deepEqual(
      model.mergeBlocks(kept, [b(3), b(4), b(5)], 4).map((x) => x.height),
      [2, 3, 4, 5]
    )
    const cols = model.loadColumns([b(1), { ...b(2), status: 'missed', sum: null, count: 0 }], 1_000_000, 1000)
    assert.deepEqual(cols, { x: [1001, 1002], wh: [1, null], meters: [1, 0], statuses: ['complete', 'missed'] })
    // What to fetch for a window of 120 ending at the head.
    assert.deepEqual(model.missingRanges(null, null, 1000, 120), [[881, 1000]])
    assert.deepEqual(model.missingRanges(937, 1000, 1000, 120), [[881, 936]], 'the first view had the newest 64: the rest is older')
    assert.deepEqual(model.missingRanges(881, 1000, 1002, 120), [[1001, 1002]], 'one poll later: the new blocks only')
    assert.deepEqual(model.missingRanges(881, 1000, 1000, 120), [])
    assert.deepEqual(model.missingRanges(1, 10, 5000, 120), [[4881, 5000]], 'far behind: the window, not the gap')
    assert.deepEqual(model.missingRanges(null, null, 0, 120), [])
    assert.deepEqual(model.missingRanges(1, 5, 5, 120), [])
    // A missed range of slots 3..7 is marked slot by slot; a longer one by its first and last RANGE_FILL + 1 slots.
    const outage = { height: 3, slot: 7, fromSlot: 3, status: 'missed', sum: null, count: 0 }
    const range = model.loadColumns([b(2), outage], 0, 1000)
    assert.deepEqual(range.x, [2, 3, 4, 5, 6, 7])
    assert.deepEqual(range.statuses, ['complete', 'missed', 'missed', 'missed', 'missed', 'missed'])
    assert.deepEqual(range.meters, [1, null, null, null, null, 0])
    const long = model.loadColumns([{ ...outage, fromSlot: 0, slot: 10_000 }], 0, 1000)
    assert.equal(long.x.length, model.RANGE_FILL + 2)
    assert.deepEqual([long.x[0], long.x[1], long.x.at(-1)], [0, 10_000 - model.RANGE_FILL, 10_000])
    assert.equal(model.median([5, null, 1, 3]), 3)
    assert.equal(model.median([null]), null)
  })

  it('readiness from /readyz when the peer has it, otherwise from /status (consensus peers only)', () => {
    const ids = ['cn-1', 'cn-2', 'cn-3', 'cn-4']
    assert.deepEqual(model.readiness({ syncing: false, peers: ['cn-2', 'cn-3'] }, null, 3, ids), {
      ready: true,
      source: '/status',
      reasons: []
    })
    const few = model.readiness({ syncing: true, peers: ['cn-2', 'gateway', 'meter-1'] }, null, 3, ids)
    assert.equal(few.ready, false)
    assert.deepEqual(few.reasons, ['catching up (syncing)', 'connected to 1 of the 2 consensus peers a quorum needs'])
    const readyz = model.readiness({ syncing: false, peers: [] }, { status: 503, body: { ready: false, reasons: ['no quorum'] } }, 3, ids)
    assert.deepEqual(readyz, { ready: false, source: '/readyz', reasons: ['no quorum'] })
    // What a peer's /readyz says: reasons with a code and a message, of which the page shows the message.
    const coded = model.readiness(
      { syncing: false, peers: [] },
      { status: 503, body: { ready: false, code: 'NOT_READY', reasons: [{ code: 'STALLED', message: 'no block stored for 9 s' }] } },
      3,
      ids
    )
    assert.deepEqual(coded.reasons, ['no block stored for 9 s'])
  })

  it('health: unreachable, not ready, stalled, changing view or healthy', () => {
    const ready = { ready: true, source: '/status' as const, reasons: [] }
    const status = { height: 10, view: 0, viewChanging: false }
    const h = (o: Partial<Parameters<typeof model.health>[0]>) =>
      model.health({ reachable: true, ready, status, headAgeMs: 500, periodMs: 1000, ...o }).word
    assert.equal(h({}), 'Healthy')
    assert.equal(h({ reachable: false }), 'Unreachable')
    assert.equal(h({ ready: { ready: false, source: '/status', reasons: ['x'] } }), 'Not ready')
    assert.equal(h({ headAgeMs: 11_000 }), 'Stalled')
    assert.equal(h({ headAgeMs: 11_000, periodMs: 900_000 }), 'Healthy', 'a 15-minute slot is not a stall after 11 s')
    assert.equal(h({ status: { ...status, viewChanging: true, view: 2 } }), 'Changing view')
    assert.equal(h({ status: { ...status, height: 0 } }), 'Starting')
  })
})
