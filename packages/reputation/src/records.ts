/**
 * Interaction records (paper IV-D-3 a, table II; PROTOCOL section 5): what observer i saw of
 * each other consensus node j, per height, in the four categories of table II:
 *
 *   fast    valid message, delay <= t0       (alpha_11 recent, alpha_21 past)
 *   slow    valid message, delay >  t0       (alpha_12, alpha_22)
 *   wrong   message with a wrong signature   (beta_11, beta_21)
 *   missing message missing or late          (beta_12, beta_22)
 *
 * "Recent" is measured in heights: within the last `recentHeights` heights of the current one.
 * The past is everything older, up to `historyHeights` heights ago; older records no longer count
 * at all (docs/reputation.md, "The fair rule": a record that never fades keeps an honest peer that
 * missed once below one that never did, for ever). `historyHeights` = 0 is the paper: never forget.
 *
 * Memory stays bounded by the window: with a history, heights are kept one tally each until they
 * fall out of it; without one (the paper), heights that leave the recent window are folded into
 * one past tally.
 *
 * Persistence (`encode` / `InteractionRecords.decode`) lets a restarted peer continue its opinions
 * instead of starting again from no evidence: canonical CBOR
 *   {v: 1, i: self, m: nodes, r: recentHeights, hh: historyHeights,
 *    p: [[peer, [fast, slow, wrong, missing] (past), [[height, fast, slow, wrong, missing], ...]], ...]}
 * with peers and heights ascending, and empty tallies and peers left out, so one state has one
 * encoding.
 */
import { BbnpError, decodeCanonical, encodeCanonical, readArray, readObject, readUint } from '@bbnp/core'
import { localOpinion } from './model.ts'
import { type OpinionVector, toOpinionEntry } from './opinions.ts'
import { MAX_HISTORY_HEIGHTS, type ReputationErrorCode, type ReputationParams } from './params.ts'
import { emptyTally, type InteractionKind, type Tally, tallyTotal, type WindowCounts } from './tally.ts'

function addInto(into: Tally, t: Tally): void {
  into.fast += t.fast
  into.slow += t.slow
  into.wrong += t.wrong
  into.missing += t.missing
}

interface PeerLog {
  /** height -> tally, for heights not yet folded into `past` nor expired */
  byHeight: Map<number, Tally>
  /** Heights folded out of the recent window; only without a history (historyHeights = 0). */
  past: Tally
}

export interface InteractionRecordsOptions {
  /** This observer's node index (1..nodes). */
  self: number
  /** M, the number of consensus nodes. */
  nodes: number
  params: Pick<ReputationParams, 'recentHeights' | 't0Ms' | 'historyHeights'>
}

export interface DecodeRecordsOptions extends InteractionRecordsOptions {
  /** Refuse larger input before parsing it; default: the largest encoding these options allow. */
  maxBytes?: number
}

/** Format version of the encoding. */
const RECORDS_VERSION = 1
/** Largest count a decoded tally may hold (2^40): far above any real count, far below 2^53 after sums. */
const MAX_COUNT = 2 ** 40
/** CBOR bytes of one [height, f, s, w, m] row at most (5 integers of 9 bytes, 1 header). */
const ROW_BYTES = 46

function badInput(msg: string): never {
  throw new BbnpError<ReputationErrorCode>('BAD_OPINION', msg)
}

function badRecords(msg: string): never {
  throw new BbnpError<ReputationErrorCode>('BAD_RECORDS', `interaction records: ${msg}`)
}

function isEmpty(t: Tally): boolean {
  return t.fast === 0 && t.slow === 0 && t.wrong === 0 && t.missing === 0
}

/** The record keeper of one observer. Heights only move forward. */
export class InteractionRecords {
  readonly self: number
  readonly nodes: number
  private readonly recentHeights: number
  private readonly historyHeights: number
  private readonly t0Ms: number
  private readonly peers = new Map<number, PeerLog>()

  constructor(opts: InteractionRecordsOptions) {
    if (!Number.isSafeInteger(opts.nodes) || opts.nodes < 1) badInput('nodes must be >= 1')
    if (!Number.isSafeInteger(opts.self) || opts.self < 1 || opts.self > opts.nodes) badInput(`self ${opts.self} is not a node index`)
    const { recentHeights, historyHeights, t0Ms } = opts.params
    if (!Number.isSafeInteger(recentHeights) || recentHeights < 1) badInput('recentHeights must be a whole number >= 1')
    if (!Number.isSafeInteger(historyHeights) || historyHeights < 0 || historyHeights > MAX_HISTORY_HEIGHTS)
      badInput(`historyHeights must be a whole number in [0, ${MAX_HISTORY_HEIGHTS}]`)
    if (historyHeights !== 0 && historyHeights < recentHeights) badInput('historyHeights must be 0 or at least recentHeights')
    this.self = opts.self
    this.nodes = opts.nodes
    this.recentHeights = recentHeights
    this.historyHeights = historyHeights
    this.t0Ms = t0Ms
  }

  /** A valid message from `peer` at `height`, `delayMs` after its trigger: fast if <= t0. */
  recordValid(peer: number, height: number, delayMs: number): InteractionKind {
    if (!Number.isFinite(delayMs) || delayMs < 0) badInput(`delay ${delayMs} is not a duration`)
    const kind: InteractionKind = delayMs <= this.t0Ms ? 'fast' : 'slow'
    this.record(peer, height, kind)
    return kind
  }

  recordWrongSignature(peer: number, height: number): void {
    this.record(peer, height, 'wrong')
  }

  /** An expected message that never came, or came after its deadline. */
  recordMissing(peer: number, height: number): void {
    this.record(peer, height, 'missing')
  }

  record(peer: number, height: number, kind: InteractionKind, count = 1): void {
    if (!Number.isSafeInteger(peer) || peer < 1 || peer > this.nodes) badInput(`peer ${peer} is not a node index`)
    if (peer === this.self) badInput('a node does not observe itself')
    if (!Number.isSafeInteger(height) || height < 0) badInput(`height ${height} is not a height`)
    if (!Number.isSafeInteger(count) || count < 0) badInput(`count ${count} is not a count`)
    this.tallyAt(peer, height)[kind] += count
  }

  private logOf(peer: number): PeerLog {
    let log = this.peers.get(peer)
    if (!log) {
      log = { byHeight: new Map(), past: emptyTally() }
      this.peers.set(peer, log)
    }
    return log
  }

  private tallyAt(peer: number, height: number): Tally {
    const log = this.logOf(peer)
    let t = log.byHeight.get(height)
    if (!t) {
      t = emptyTally()
      log.byHeight.set(height, t)
    }
    return t
  }

  /** Is a record of height `h` still counted as of `height`? */
  private remembered(h: number, height: number): boolean {
    return this.historyHeights === 0 || h > height - this.historyHeights
  }

  /**
   * Recent (heights > height - recentHeights) and past counts for `peer`, as of `height`. With a
   * history, the past holds only heights > height - historyHeights.
   */
  counts(peer: number, height: number): WindowCounts {
    const recent = emptyTally()
    const past = emptyTally()
    const log = this.peers.get(peer)
    if (!log) return { recent, past }
    addInto(past, log.past)
    for (const [h, t] of log.byHeight) {
      if (h > height - this.recentHeights) addInto(recent, t)
      else if (this.remembered(h, height)) addInto(past, t)
    }
    return { recent, past }
  }

  /**
   * As of `height`: drop every height that has left the history, or, without a history (the
   * paper), fold every height that has left the recent window into the past tally. Neither
   * changes `counts` at `height` or any later height.
   */
  compact(height: number): void {
    for (const log of this.peers.values()) {
      for (const [h, t] of log.byHeight) {
        if (this.historyHeights > 0) {
          if (h <= height - this.historyHeights) log.byHeight.delete(h)
        } else if (h <= height - this.recentHeights) {
          addInto(log.past, t)
          log.byHeight.delete(h)
        }
      }
    }
  }

  /**
   * This observer's local opinions of every other node after `height` (PROTOCOL 4.4), in
   * fixed point and in node-index order: what it signs and publishes on the reputation topic.
   */
  opinionVector(height: number, params: ReputationParams): OpinionVector {
    this.compact(height)
    const opinions = []
    for (let j = 1; j <= this.nodes; j++) {
      if (j === this.self) continue
      const c = this.counts(j, height)
      opinions.push(toOpinionEntry(j, localOpinion(c, params), tallyTotal(c.recent) + tallyTotal(c.past)))
    }
    return { height, observer: this.self, opinions }
  }

  /** The highest height holding a record, or undefined when there is none. */
  latestHeight(): number | undefined {
    let top: number | undefined
    for (const log of this.peers.values()) for (const h of log.byHeight.keys()) if (top === undefined || h > top) top = h
    return top
  }

  /**
   * The canonical encoding (module comment), to store beside the chain. It first compacts as of
   * the highest recorded height, which changes no count at that height or later (heights only
   * move forward), and bounds the encoding by the window.
   */
  encode(): Uint8Array {
    const top = this.latestHeight()
    if (top !== undefined) this.compact(top)
    const peers: unknown[] = []
    for (let j = 1; j <= this.nodes; j++) {
      const log = this.peers.get(j)
      if (!log) continue
      const rows = [...log.byHeight.entries()]
        .filter(([, t]) => !isEmpty(t))
        .sort((a, b) => a[0] - b[0])
        .map(([h, t]) => [h, t.fast, t.slow, t.wrong, t.missing])
      if (rows.length === 0 && isEmpty(log.past)) continue
      peers.push([j, [log.past.fast, log.past.slow, log.past.wrong, log.past.missing], rows])
    }
    return encodeCanonical({ v: RECORDS_VERSION, i: this.self, m: this.nodes, r: this.recentHeights, hh: this.historyHeights, p: peers })
  }

  /** The most heights one peer's entry can hold after `encode`'s compaction. */
  private static window(params: InteractionRecordsOptions['params']): number {
    return params.historyHeights > 0 ? params.historyHeights : params.recentHeights
  }

  /** The largest encoding the options allow (the default size bound of `decode`). */
  static maxEncodedBytes(opts: InteractionRecordsOptions): number {
    return 128 + Math.max(0, opts.nodes - 1) * (2 * ROW_BYTES + 16 + InteractionRecords.window(opts.params) * ROW_BYTES)
  }

  /**
   * Records from `encode`'s bytes, for the observer and parameters in `opts` (a restarted peer's
   * own configuration). Defensive: the size is bounded before parsing, every field is checked,
   * and a store of another observer, network size or window is refused. Throws BbnpError:
   * OVERSIZED or MALFORMED (not canonical CBOR of the expected shape), BAD_RECORDS (well formed
   * but not records these options can hold), BAD_OPINION (bad options).
   */
  static decode(bytes: Uint8Array, opts: DecodeRecordsOptions): InteractionRecords {
    const records = new InteractionRecords(opts)
    const window = InteractionRecords.window(opts.params)
    const top = readObject(decodeCanonical(bytes, { maxBytes: opts.maxBytes ?? InteractionRecords.maxEncodedBytes(opts) }), 'records', [
      'v',
      'i',
      'm',
      'r',
      'hh',
      'p'
    ])
    if (readUint(top.v, 'version') !== RECORDS_VERSION) badRecords(`unknown version ${String(top.v)}`)
    if (readUint(top.i, 'observer') !== opts.self) badRecords(`stored for observer ${String(top.i)}, not ${opts.self}`)
    if (readUint(top.m, 'nodes') !== opts.nodes) badRecords(`stored for ${String(top.m)} nodes, not ${opts.nodes}`)
    if (readUint(top.r, 'recentHeights') !== opts.params.recentHeights || readUint(top.hh, 'historyHeights') !== opts.params.historyHeights)
      badRecords(
        `stored with recentHeights ${String(top.r)} and historyHeights ${String(top.hh)}, not ${opts.params.recentHeights} and ${opts.params.historyHeights}`
      )
    const tally = (v: unknown, what: string, from: number): Tally => {
      const row = readArray(v, what, 5, (x, k) => readUint(x, `${what}[${k}]`, MAX_COUNT))
      if (row.length !== from + 4) badRecords(`${what}: expected ${from + 4} integers`)
      return { fast: row[from], slow: row[from + 1], wrong: row[from + 2], missing: row[from + 3] }
    }
    let lastPeer = 0
    let latest = -1
    readArray(top.p, 'peers', Math.max(0, opts.nodes - 1), (entry, k) => {
      const e = readArray(entry, `peer entry ${k}`, 3, (x) => x)
      if (e.length !== 3) badRecords(`peer entry ${k}: expected [peer, past, heights]`)
      const peer = readUint(e[0], `peer entry ${k}: peer`, opts.nodes)
      if (peer < 1 || peer === opts.self) badRecords(`peer entry ${k}: ${peer} is not another node's index`)
      if (peer <= lastPeer) badRecords(`peer entry ${k}: peers not strictly ascending`)
      lastPeer = peer
      const past = tally(e[1], `peer ${peer} past`, 0)
      if (opts.params.historyHeights > 0 && !isEmpty(past)) badRecords(`peer ${peer}: a folded past tally, but records expire`)
      const log = records.logOf(peer)
      addInto(log.past, past)
      let lastHeight = -1
      readArray(e[2], `peer ${peer} heights`, window, (row, r) => {
        const h = readUint(Array.isArray(row) ? row[0] : undefined, `peer ${peer} row ${r}: height`)
        const t = tally(row, `peer ${peer} row ${r}`, 1)
        if (h <= lastHeight) badRecords(`peer ${peer}: heights not strictly ascending`)
        if (isEmpty(t)) badRecords(`peer ${peer}: empty tally at height ${h}`)
        lastHeight = h
        if (h > latest) latest = h
        log.byHeight.set(h, t)
      })
      if (log.byHeight.size === 0 && isEmpty(past)) badRecords(`peer ${peer}: an entry without records`)
    })
    // What `encode` writes is compacted as of its highest height; anything else was not written by it.
    for (const log of records.peers.values())
      for (const h of log.byHeight.keys()) if (h <= latest - window) badRecords(`height ${h} lies outside the window of height ${latest}`)
    return records
  }
}
