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
  it('renders counters, gauges and histograms in the Prometheus text format', () => {
    const m = new MetricsRegistry()
    m.counter('bbnp_rejected_total', 'rejections').inc({ reason: 'BAD_TAG' }, 2)
    m.gauge('bbnp_height', 'height').set(7)
    const h = m.histogram('bbnp_commit_latency_seconds', 'latency', [0.1, 1])
    h.observe(0.05)
    h.observe(0.5)
    const text = m.render()
    assert.match(text, /bbnp_rejected_total\{reason="BAD_TAG"\} 2/)
    assert.match(text, /bbnp_height 7/)
    assert.match(text, /bbnp_commit_latency_seconds_bucket\{le="0.1"\} 1/)
    assert.match(text, /bbnp_commit_latency_seconds_bucket\{le="1"\} 2/)
    assert.match(text, /bbnp_commit_latency_seconds_count 2/)
  })
})
