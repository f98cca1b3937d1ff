import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encodeCanonical, SeededRng } from '@bbnp/core'
import {
  DEFAULT_REPUTATION_PARAMS,
  InteractionRecords,
  initialReputations,
  MAX_HISTORY_HEIGHTS,
  PAPER_PRESET,
  parseReputationParams,
  REPUTATION_SCALE,
  reputationPreset,
  toFixedPoint,
  validateReputationParams
} from '../src/index.ts'
import { code } from './helpers.ts'

const P = DEFAULT_REPUTATION_PARAMS

describe('parameters', () => {
  it("default to the paper's recommended weights", () => {
    assert.deepEqual(
      [P.positive, P.negative, P.fast, P.slow, P.wrong, P.untimely, P.recent, P.past],
      [0.4, 0.6, 0.6, 0.4, 0.6, 0.4, 0.7, 0.3]
    )
    assert.equal(validateReputationParams(P), P)
    assert.equal(REPUTATION_SCALE, 1_000_000_000)
  })
  it('fill a partial genesis object from the defaults', () => {
    const p = parseReputationParams({ positive: 0.1, negative: 0.9, recentHeights: 10 })
    assert.equal(p.positive, 0.1)
    assert.equal(p.recentHeights, 10)
    assert.equal(p.recent, 0.7)
    assert.equal(parseReputationParams(undefined), P)
  })
  it('refuse pairs that do not sum to 1, values outside [0,1], unknown fields', () => {
    assert.equal(
      code(() => parseReputationParams({ positive: 0.5 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ recent: 1.2, past: -0.2 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ recentHeights: 0 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ recentHeights: 2.5 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ initialReputation: 2 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ postive: 0.4 })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams({ positive: Number.NaN })),
      'BAD_PARAMS'
    )
    assert.equal(
      code(() => parseReputationParams([])),
      'BAD_PARAMS'
    )
    assert.equal(parseReputationParams({ positive: 1, negative: 0 }).positive, 1)
  })
  it('presets: fair is the default, paper is the paper (tolerance 0, records never fade, highest reputation in P)', () => {
    assert.equal(P, reputationPreset('fair'))
    assert.deepEqual([P.election, P.preselectTolerance, P.historyHeights], ['fair', 0.05, 4 * P.recentHeights])
    const paper = reputationPreset('paper')
    assert.equal(paper, PAPER_PRESET)
    assert.deepEqual([paper.election, paper.preselectTolerance, paper.historyHeights], ['paper', 0, 0])
    const weights = (p: typeof P) => [
      p.positive,
      p.negative,
      p.fast,
      p.slow,
      p.wrong,
      p.untimely,
      p.recent,
      p.past,
      p.recentHeights,
      p.t0Ms
    ]
    assert.deepEqual(weights(paper), weights(P), 'the presets share the model weights')
    assert.equal(validateReputationParams(paper), paper)
    assert.equal(
      code(() => reputationPreset('other' as 'fair')),
      'BAD_PARAMS'
    )
  })

  it('a genesis may name a preset as the base, and fields beside it override it', () => {
    assert.deepEqual(parseReputationParams({ preset: 'paper' }), reputationPreset('paper'))
    assert.deepEqual(parseReputationParams({ preset: 'fair' }), P)
    const mixed = parseReputationParams({ preset: 'paper', preselectTolerance: 0.05 })
    assert.deepEqual([mixed.election, mixed.preselectTolerance, mixed.historyHeights], ['paper', 0.05, 0])
    const p = parseReputationParams({ election: 'paper', historyHeights: 0 })
    assert.deepEqual([p.election, p.preselectTolerance, p.historyHeights], ['paper', 0.05, 0])
    // what `bbnp setup` writes (every field, as JSON) reads back as it was
    assert.deepEqual(parseReputationParams(JSON.parse(JSON.stringify(P))), P)
    assert.deepEqual(parseReputationParams(JSON.parse(JSON.stringify(PAPER_PRESET))), PAPER_PRESET)
  })

  it('refuse a bad rule, tolerance, history or preset', () => {
    for (const bad of [
      { election: 'random' },
      { election: 1 },
      { preselectTolerance: -0.01 },
      { preselectTolerance: 1.5 },
      { preselectTolerance: '0.05' },
      { historyHeights: -1 },
      { historyHeights: 2.5 },
      { historyHeights: 95 }, // shorter than recentHeights (96) would cut T_recent
      { historyHeights: MAX_HISTORY_HEIGHTS + 1 },
      { recentHeights: 400 }, // now longer than the fair history of 384
      { preset: 'lottery' },
      { preset: 'paper', election: 'x' }
    ]) {
      assert.equal(
        code(() => parseReputationParams(bad)),
        'BAD_PARAMS',
        JSON.stringify(bad)
      )
    }
    assert.equal(parseReputationParams({ historyHeights: 96 }).historyHeights, 96)
    assert.equal(parseReputationParams({ recentHeights: 400, historyHeights: 0 }).historyHeights, 0)
    assert.equal(parseReputationParams({ preselectTolerance: 1 }).preselectTolerance, 1)
  })

  it('fixed point rounds half up and clamps', () => {
    assert.equal(toFixedPoint(0.53), 530_000_000)
    assert.equal(toFixedPoint(1 / 3), 333_333_333)
    assert.equal(toFixedPoint(2 / 3), 666_666_667)
    assert.equal(toFixedPoint(1.0000001), REPUTATION_SCALE)
    assert.equal(toFixedPoint(-1e-12), 0)
    assert.equal(
      code(() => toFixedPoint(Number.NaN)),
      'BAD_REPUTATIONS'
    )
    assert.deepEqual(initialReputations(3), [500_000_000, 500_000_000, 500_000_000])
  })
})

describe('interaction records', () => {
  const params = { ...P, recentHeights: 3, t0Ms: 200 }

  it('classify a valid message by its delay against t0', () => {
    const r = new InteractionRecords({ self: 1, nodes: 3, params })
    assert.equal(r.recordValid(2, 1, 0), 'fast')
    assert.equal(r.recordValid(2, 1, 200), 'fast')
    assert.equal(r.recordValid(2, 1, 200.5), 'slow')
    r.recordWrongSignature(2, 1)
    r.recordMissing(2, 1)
    assert.deepEqual(r.counts(2, 1).recent, { fast: 2, slow: 1, wrong: 1, missing: 1 })
    assert.deepEqual(r.counts(3, 1), {
      recent: { fast: 0, slow: 0, wrong: 0, missing: 0 },
      past: { fast: 0, slow: 0, wrong: 0, missing: 0 }
    })
  })

  it('split recent (the last recentHeights heights) from past, before and after compaction', () => {
    const r = new InteractionRecords({ self: 2, nodes: 3, params })
    for (let h = 1; h <= 5; h++) r.recordValid(1, h, 10 * h)
    r.recordMissing(1, 1)
    const before = r.counts(1, 5)
    assert.deepEqual(before.recent, { fast: 3, slow: 0, wrong: 0, missing: 0 }) // heights 3, 4, 5
    assert.deepEqual(before.past, { fast: 2, slow: 0, wrong: 0, missing: 1 }) // heights 1, 2
    r.compact(5)
    assert.deepEqual(r.counts(1, 5), before)
    assert.deepEqual(r.counts(1, 7).recent, { fast: 1, slow: 0, wrong: 0, missing: 0 }) // only height 5 is recent at 7
  })

  it('refuse self-observation, unknown peers, bad heights and delays', () => {
    const r = new InteractionRecords({ self: 1, nodes: 3, params })
    assert.equal(
      code(() => r.recordMissing(1, 1)),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => r.recordMissing(4, 1)),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => r.recordMissing(0, 1)),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => r.recordMissing(2, -1)),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => r.recordValid(2, 1, Number.NaN)),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => new InteractionRecords({ self: 4, nodes: 3, params })),
      'BAD_OPINION'
    )
  })

  it('produce a complete fixed-point opinion vector in node order', () => {
    const r = new InteractionRecords({ self: 2, nodes: 4, params })
    r.recordValid(1, 1, 10)
    r.recordValid(1, 1, 10)
    r.recordWrongSignature(1, 1)
    r.recordMissing(3, 1)
    const v = r.opinionVector(1, params)
    assert.equal(v.height, 1)
    assert.equal(v.observer, 2)
    assert.deepEqual(
      v.opinions.map((e) => e.peer),
      [1, 3, 4]
    )
    for (const e of v.opinions) assert.equal(e.b + e.d + e.u, REPUTATION_SCALE)
    // node 1: alpha = 0.4*0.7*0.6*(2/3) = 0.112, beta = 0.6*0.7*0.6*(1/3) = 0.084, s = 1
    assert.equal(v.opinions[0].b, toFixedPoint(0.112 / 0.196))
    assert.equal(v.opinions[0].n, 3)
    assert.deepEqual(v.opinions[1], { peer: 3, b: 0, d: 0, u: REPUTATION_SCALE, n: 1 }) // never heard from
    assert.deepEqual(v.opinions[2], { peer: 4, b: 0, d: 0, u: REPUTATION_SCALE, n: 0 }) // no evidence
  })
})

describe('interaction records that fade (historyHeights)', () => {
  const params = { ...P, recentHeights: 3, historyHeights: 5, t0Ms: 200 }

  it('count the past only back to historyHeights; older records count for nothing', () => {
    const r = new InteractionRecords({ self: 1, nodes: 2, params })
    r.recordMissing(2, 1)
    for (let h = 1; h <= 5; h++) r.recordValid(2, h, 10)
    assert.deepEqual(r.counts(2, 5), {
      recent: { fast: 3, slow: 0, wrong: 0, missing: 0 },
      past: { fast: 2, slow: 0, wrong: 0, missing: 1 }
    })
    r.recordValid(2, 6, 10)
    // at 6, height 1 (and its miss) has left the history of 5 heights: 2..6
    assert.deepEqual(r.counts(2, 6), {
      recent: { fast: 3, slow: 0, wrong: 0, missing: 0 },
      past: { fast: 2, slow: 0, wrong: 0, missing: 0 }
    })
    r.compact(6)
    assert.equal(r.latestHeight(), 6)
    assert.deepEqual(r.counts(2, 6).past, { fast: 2, slow: 0, wrong: 0, missing: 0 })
    assert.deepEqual(r.counts(2, 20), {
      recent: { fast: 0, slow: 0, wrong: 0, missing: 0 },
      past: { fast: 0, slow: 0, wrong: 0, missing: 0 }
    })
  })

  it('give the same opinion of a peer that missed once, after the horizon, as of one that never did', () => {
    const r = new InteractionRecords({ self: 1, nodes: 3, params })
    r.recordMissing(2, 1)
    for (let h = 1; h <= 7; h++) for (const j of [2, 3]) r.recordValid(j, h, 10)
    const before = r.opinionVector(5, params).opinions
    assert.ok(before[0].b < before[1].b, 'the miss still counts at 5')
    const after = r.opinionVector(6, params).opinions
    assert.deepEqual({ ...after[0], peer: 0 }, { ...after[1], peer: 0 })
    // never forgetting, the same records keep the difference
    const paper = { ...params, historyHeights: 0 }
    const q = new InteractionRecords({ self: 1, nodes: 3, params: paper })
    q.recordMissing(2, 1)
    for (let h = 1; h <= 40; h++) for (const j of [2, 3]) q.recordValid(j, h, 10)
    const o = q.opinionVector(40, paper).opinions
    assert.ok(o[0].b < o[1].b)
  })

  it('refuse a history shorter than the recent window', () => {
    assert.equal(
      code(() => new InteractionRecords({ self: 1, nodes: 2, params: { ...params, historyHeights: 2 } })),
      'BAD_OPINION'
    )
    assert.equal(
      code(() => new InteractionRecords({ self: 1, nodes: 2, params: { ...params, recentHeights: 0 } })),
      'BAD_OPINION'
    )
  })
})

describe('interaction records persist (encode / decode)', () => {
  /** Random records over `heights` heights, the way a peer collects them. */
  function filled(seed: string, opts: { self: number; nodes: number; params: typeof P }, heights: number): InteractionRecords {
    const rng = new SeededRng(seed)
    const r = new InteractionRecords(opts)
    for (let h = 1; h <= heights; h++) {
      for (let j = 1; j <= opts.nodes; j++) {
        if (j === opts.self || rng.int(7) === 0) continue
        for (let k = 0; k < 2; k++) {
          const roll = rng.int(20)
          if (roll === 0) r.recordMissing(j, h)
          else if (roll === 1) r.recordWrongSignature(j, h)
          else r.recordValid(j, h, rng.int(2 * opts.params.t0Ms))
        }
      }
    }
    return r
  }

  for (const [name, params] of [
    ['fair (records fade)', { ...P, recentHeights: 8, historyHeights: 20 }],
    ['paper (a folded past)', { ...PAPER_PRESET, recentHeights: 8 }]
  ] as const) {
    it(`round trip, ${name}: same bytes, same opinions now and later`, () => {
      const opts = { self: 2, nodes: 5, params }
      const a = filled('persist', opts, 50)
      const bytes = a.encode()
      const b = InteractionRecords.decode(bytes, opts)
      assert.deepEqual(b.encode(), bytes, 'canonical: one state, one encoding')
      assert.deepEqual(b.opinionVector(50, params), a.opinionVector(50, params))
      // a restarted peer that keeps recording ends where one that never stopped does
      for (const r of [a, b]) for (let h = 51; h <= 60; h++) for (const j of [1, 3, 4, 5]) r.recordValid(j, h, 1)
      assert.deepEqual(b.opinionVector(60, params), a.opinionVector(60, params))
      assert.deepEqual(b.encode(), a.encode())
      // and differs from one that starts again from no evidence
      const fresh = new InteractionRecords(opts)
      for (let h = 51; h <= 60; h++) for (const j of [1, 3, 4, 5]) fresh.recordValid(j, h, 1)
      assert.notDeepEqual(fresh.opinionVector(60, params), a.opinionVector(60, params))
    })
  }

  it('empty records, and records of nothing but zero counts, encode alike', () => {
    const opts = { self: 1, nodes: 3, params: P }
    const empty = new InteractionRecords(opts)
    const zeros = new InteractionRecords(opts)
    zeros.record(2, 5, 'fast', 0)
    assert.deepEqual(zeros.encode(), empty.encode())
    assert.deepEqual(InteractionRecords.decode(empty.encode(), opts).encode(), empty.encode())
    assert.equal(empty.latestHeight(), undefined)
  })

  it('encoding bounds the size by the window: old heights are dropped or folded first', () => {
    const params = { ...P, recentHeights: 4, historyHeights: 10 }
    const opts = { self: 1, nodes: 3, params }
    const r = filled('bound', opts, 500)
    const bytes = r.encode()
    assert.ok(bytes.length <= InteractionRecords.maxEncodedBytes(opts), `${bytes.length}`)
    assert.ok(bytes.length < 2 * 10 * 30, `only the last 10 heights of 2 peers: ${bytes.length} bytes`)
  })

  describe('decoding refuses what encode cannot have written, with a BbnpError', () => {
    const params = { ...P, recentHeights: 4, historyHeights: 10 }
    const opts = { self: 2, nodes: 4, params }
    const good = filled('defensive', opts, 30)
    const bytes = good.encode()
    const body = (over: Record<string, unknown>) => encodeCanonical({ v: 1, i: 2, m: 4, r: 4, hh: 10, p: [], ...over })
    const row = (h: number) => [h, 1, 0, 0, 0]

    it('another observer, network size or window', () => {
      assert.equal(
        code(() => InteractionRecords.decode(bytes, { ...opts, self: 3 })),
        'BAD_RECORDS'
      )
      assert.equal(
        code(() => InteractionRecords.decode(bytes, { ...opts, nodes: 5 })),
        'BAD_RECORDS'
      )
      assert.equal(
        code(() => InteractionRecords.decode(bytes, { ...opts, params: { ...params, historyHeights: 12 } })),
        'BAD_RECORDS'
      )
      assert.equal(
        code(() => InteractionRecords.decode(bytes, { ...opts, params: { ...params, recentHeights: 5 } })),
        'BAD_RECORDS'
      )
      assert.equal(
        code(() => InteractionRecords.decode(body({ v: 2 }), opts)),
        'BAD_RECORDS'
      )
    })

    it('malformed or oversized bytes', () => {
      assert.equal(
        code(() => InteractionRecords.decode(bytes.subarray(0, bytes.length - 1), opts)),
        'MALFORMED'
      )
      assert.equal(
        code(() => InteractionRecords.decode(new Uint8Array(0), opts)),
        'MALFORMED'
      )
      assert.equal(
        code(() => InteractionRecords.decode(bytes, { ...opts, maxBytes: bytes.length - 1 })),
        'OVERSIZED'
      )
      assert.equal(
        code(() => InteractionRecords.decode(new Uint8Array(InteractionRecords.maxEncodedBytes(opts) + 1), opts)),
        'OVERSIZED'
      )
      assert.equal(
        code(() => InteractionRecords.decode(body({ x: 1 }), opts)),
        'MALFORMED'
      )
      assert.equal(
        code(() => InteractionRecords.decode(encodeCanonical([1, 2, 3]), opts)),
        'MALFORMED'
      )
    })

    it('bad entries: self, unknown or repeated peers, unsorted or empty rows, counts out of range, old heights', () => {
      const cases: [string, unknown[]][] = [
        ['self', [[2, [0, 0, 0, 0], [row(1)]]]],
        ['peer 0', [[0, [0, 0, 0, 0], [row(1)]]]],
        ['peer 5', [[5, [0, 0, 0, 0], [row(1)]]]],
        [
          'unsorted peers',
          [
            [3, [0, 0, 0, 0], [row(1)]],
            [1, [0, 0, 0, 0], [row(1)]]
          ]
        ],
        [
          'repeated peer',
          [
            [1, [0, 0, 0, 0], [row(1)]],
            [1, [0, 0, 0, 0], [row(2)]]
          ]
        ],
        ['unsorted heights', [[1, [0, 0, 0, 0], [row(2), row(1)]]]],
        ['repeated height', [[1, [0, 0, 0, 0], [row(2), row(2)]]]],
        ['empty row', [[1, [0, 0, 0, 0], [[3, 0, 0, 0, 0]]]]],
        ['empty entry', [[1, [0, 0, 0, 0], []]]],
        ['short row', [[1, [0, 0, 0, 0], [[3, 1, 0, 0]]]]],
        ['short past', [[1, [0, 0, 0], [row(1)]]]],
        ['past while records fade', [[1, [1, 0, 0, 0], [row(1)]]]],
        ['height outside the window', [[1, [0, 0, 0, 0], [row(1), row(11)]]]],
        ['huge count', [[1, [0, 0, 0, 0], [[1, 2 ** 41, 0, 0, 0]]]]],
        ['negative count', [[1, [0, 0, 0, 0], [[1, -1, 0, 0, 0]]]]],
        ['too many rows', [[1, [0, 0, 0, 0], Array.from({ length: 11 }, (_, k) => row(k + 1))]]],
        ['not an entry', [7]]
      ]
      for (const [what, p] of cases) {
        const c = code(() => InteractionRecords.decode(body({ p }), opts))
        assert.ok(c === 'BAD_RECORDS' || c === 'MALFORMED', `${what}: ${c}`)
      }
      // the shapes those cases spoil are accepted when right
      assert.deepEqual(InteractionRecords.decode(body({ p: [[1, [0, 0, 0, 0], [row(1), row(10)]]] }), opts).counts(1, 10).recent, {
        fast: 1,
        slow: 0,
        wrong: 0,
        missing: 0
      })
    })

    it('random corruption is always refused or decoded, never anything but a BbnpError', () => {
      const rng = new SeededRng('corrupt')
      for (let trial = 0; trial < 500; trial++) {
        const b = bytes.slice()
        for (let k = 0; k <= rng.int(3); k++) b[rng.int(b.length)] = rng.int(256)
        try {
          InteractionRecords.decode(b, opts)
        } catch (e) {
          assert.equal((e as Error).name, 'BbnpError', `${(e as Error).message}`)
        }
      }
    })
  })
})
