import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  BbnpError,
  bigIntToBytes,
  bytesToBigInt,
  createLogger,
  decodeCanonical,
  encodeCanonical,
  fromHex,
  type Gauge,
  MetricsRegistry,
  readArray,
  readBytes,
  readObject,
  readUint,
  SeededRng,
  toHex,
  u64be,
  readU64be
} from '../src/index.ts'

describe('canonical encoding', () => {
  it('gives one byte string for the same data, whatever the key order', () => {
    const a = encodeCanonical({ height: 3, prev: new Uint8Array([1, 2]), id: 'cn-1', sum: -5n })
    const b = encodeCanonical({ sum: -5n, id: 'cn-1', prev: new Uint8Array([1, 2]), height: 3 })
    assert.deepEqual(a, b)
  })
  it('round-trips integers beyond 2^53 and negative ones', () => {
    const v = decodeCanonical(encodeCanonical({ big: 2n ** 60n, neg: -(2n ** 60n), small: -3 }), { maxBytes: 100 }) as Record<
      string,
      unknown
    >
    assert.equal(v.big, 2n ** 60n)
    assert.equal(v.neg, -(2n ** 60n))
    assert.equal(v.small, -3)
  })
  it('refuses floats when encoding', () => {
    assert.throws(() => encodeCanonical({ x: 0.5 }), { code: 'MALFORMED' })
  })
  it('refuses oversized, truncated, non-minimal, duplicate-key and indefinite input', () => {
    const ok = encodeCanonical({ a: 1 })
    assert.throws(() => decodeCanonical(ok, { maxBytes: 2 }), { code: 'OVERSIZED' })
    assert.throws(() => decodeCanonical(ok.subarray(0, ok.length - 1), { maxBytes: 100 }), { code: 'MALFORMED' })
    assert.throws(() => decodeCanonical(fromHex('1801'), { maxBytes: 100 }), { code: 'MALFORMED' }, 'non-minimal 1')
    assert.throws(() => decodeCanonical(fromHex('a2616101616102'), { maxBytes: 100 }), { code: 'MALFORMED' }, 'duplicate key')
    assert.throws(() => decodeCanonical(fromHex('9fff'), { maxBytes: 100 }), { code: 'MALFORMED' }, 'indefinite array')
    assert.throws(() => decodeCanonical(fromHex('c11a514b67b0'), { maxBytes: 100 }), { code: 'MALFORMED' }, 'tag')
  })
  it('field readers check shapes', () => {
    const o = readObject({ a: 1, b: new Uint8Array(3) }, 'x', ['a', 'b'])
    assert.equal(readUint(o.a, 'a'), 1)
    assert.throws(() => readObject({ c: 1 }, 'x', ['a']), { code: 'MALFORMED' })
    assert.throws(() => readUint(-1, 'a'), { code: 'MALFORMED' })
    assert.throws(() => readUint(5, 'a', 4), { code: 'MALFORMED' })
    assert.throws(() => readBytes(o.b, 'b', 4), { code: 'MALFORMED' })
    assert.throws(() => readArray([1, 2, 3], 'arr', 2, (x) => x), { code: 'MALFORMED' })
    assert.throws(
      () => readObject([1], 'x'),
      (e: unknown) => e instanceof BbnpError && e.code === 'MALFORMED'
    )
  })
})

describe('bytes', () => {
  it('hex, big integers and u64 round trip', () => {
    assert.equal(toHex(fromHex('00ff10')), '00ff10')
    assert.equal(bytesToBigInt(bigIntToBytes(123456789012345678901234567890n, 32)), 123456789012345678901234567890n)
    assert.equal(readU64be(u64be(2n ** 63n + 5n)), 2n ** 63n + 5n)
    assert.throws(() => fromHex('abc'))
    assert.throws(() => bigIntToBytes(256n, 1))
  })
})

describe('seeded randomness', () => {
  it('is reproducible per seed and differs between seeds', () => {
    assert.deepEqual(new SeededRng('a').bytes(40), new SeededRng('a').bytes(40))
    assert.notDeepEqual(new SeededRng('a').bytes(40), new SeededRng('b').bytes(40))
  })
  it('floats are in [0,1) and roughly uniform', () => {
    const r = new SeededRng('u')
    const bins = new Array(10).fill(0)
    for (let i = 0; i < 10000; i++) {
      const f = r.float()
      assert.ok(f >= 0 && f < 1)
      bins[Math.floor(f * 10)]++
    }
    for (const b of bins) assert.ok(b > 850 && b < 1150, `bin count ${b}`)
  })
})

describe('logger and metrics', () => {
  it('writes one JSON line per message at or above the level', () => {
    const lines: string[] = []
    const log = createLogger({ level: 'info', write: (l) => lines.push(l), now: () => 0 }).child({ id: 'cn-1' })
    log.debug('hidden')
    log.info('block committed', { height: 3, sum: 10n, raw: new Uint8Array(4) })
    assert.equal(lines.length, 1)
    assert.deepEqual(JSON.parse(lines[0]), {
      t: '1970-01-01T00:00:00.000Z',
      level: 'info',
      msg: 'block committed',
      id: 'cn-1',
      height: 3,
      sum: '10',
      raw: '<4 bytes>'
    })
  })
  it('renders counters, gauges and histograms in the Prometheus text format', async () => {
    const m = new MetricsRegistry()
    m.counter('bbnp_rejected_total', 'rejections', { labels: ['reason'] }).inc({ reason: 'BAD_TAG' }, 2)
    m.gauge('bbnp_height', 'height').set(7)
    const h = m.histogram('bbnp_commit_latency_seconds', 'latency', [0.1, 1])
    h.observe(0.05)
    h.observe(0.5)
    const text = await m.render()
    assert.match(text, /^# HELP bbnp_rejected_total rejections\n# TYPE bbnp_rejected_total counter\n/)
    assert.match(text, /bbnp_rejected_total\{reason="BAD_TAG"\} 2/)
    assert.match(text, /bbnp_height 7/)
    assert.match(text, /bbnp_commit_latency_seconds_bucket\{le="0.1"\} 1/)
    assert.match(text, /bbnp_commit_latency_seconds_bucket\{le="1"\} 2/)
    assert.match(text, /bbnp_commit_latency_seconds_count 2/)
    assert.match(m.contentType, /^text\/plain; version=0\.0\.4/)
  })

  it('exports every declared label set at 0 from the start, and an unlabelled counter too', async () => {
    const m = new MetricsRegistry()
    m.counter('bbnp_slots_total', 'slots', { labels: { status: ['complete', 'missed'] } })
    m.counter('bbnp_msgs_total', 'msgs', {
      labels: { topic: ['a', 'b'], result: ['accept', 'reject'], reason: [] },
      initial: [{ topic: 'a', result: 'accept', reason: 'OK' }]
    })
    m.counter('bbnp_bans_total', 'bans')
    const text = await m.render()
    assert.match(text, /^bbnp_slots_total\{status="complete"\} 0$/m)
    assert.match(text, /^bbnp_slots_total\{status="missed"\} 0$/m)
    assert.match(text, /^bbnp_bans_total 0$/m)
    // a label with no known values: only the listed initial sets
    assert.deepEqual(
      text.split('\n').filter((l) => l.startsWith('bbnp_msgs_total')),
      ['bbnp_msgs_total{topic="a",result="accept",reason="OK"} 0']
    )
  })

  it('a mirrored counter resets to its declared series; a name asked twice is the same metric', async () => {
    const m = new MetricsRegistry()
    const c = m.counter('bbnp_checks_total', 'checks', { labels: { kind: ['batch', 'single'] } })
    c.inc({ kind: 'batch' }, 5)
    c.inc({ kind: 'other' as 'batch' }, 1)
    c.reset()
    c.inc({ kind: 'batch' }, 7)
    assert.equal(await c.get({ kind: 'batch' }), 7)
    assert.equal(await c.get({ kind: 'single' }), 0)
    assert.doesNotMatch(await m.render(), /kind="other"/)
    assert.equal(m.counter('bbnp_checks_total', 'again', { labels: ['kind'] }), c)
    assert.throws(() => m.gauge('bbnp_checks_total', 'a gauge now'), /different types/)
  })

  it("keeps registries apart, runs a gauge's collect on each scrape, and refuses an undeclared label", async () => {
    const a = new MetricsRegistry()
    const b = new MetricsRegistry()
    a.counter('bbnp_x_total', 'x').inc()
    b.counter('bbnp_x_total', 'x').inc(undefined, 3)
    assert.match(await a.render(), /^bbnp_x_total 1$/m)
    assert.match(await b.render(), /^bbnp_x_total 3$/m)
    let scrapes = 0
    const g: Gauge<'peer'> = a.gauge('bbnp_scrapes', 'scrapes', { labels: ['peer'], collect: () => g.set(++scrapes, { peer: 'cn-1' }) })
    await a.render()
    assert.match(await a.render(), /^bbnp_scrapes\{peer="cn-1"\} 2$/m)
    const unlabelled = a.counter('bbnp_y_total', 'y')
    assert.throws(() => unlabelled.inc({ reason: 'X' } as never), /not included in initial labelset/)
  })

  it('adds the process and Node.js metrics when asked (CPU, memory, event-loop lag, GC)', async () => {
    const plain = await new MetricsRegistry().render()
    assert.equal(plain, '\n')
    const text = await new MetricsRegistry({ defaultMetrics: true }).render()
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_gc_duration_seconds'
    ])
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name)
  })
})
