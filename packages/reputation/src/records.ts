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
 * Recent heights are kept per height; older ones are folded into one past tally, so the memory
 * per peer is bounded by the window.
 */
import { BbnpError } from '@bbnp/core'
import { localOpinion } from './model.ts'
import { type OpinionVector, toOpinionEntry } from './opinions.ts'
import type { ReputationErrorCode, ReputationParams } from './params.ts'
import { emptyTally, type InteractionKind, type Tally, tallyTotal, type WindowCounts } from './tally.ts'

function addInto(into: Tally, t: Tally): void {
  into.fast += t.fast
  into.slow += t.slow
  into.wrong += t.wrong
  into.missing += t.missing
}

interface PeerLog {
  /** height -> tally, for heights not yet folded into `past` */
  byHeight: Map<number, Tally>
  past: Tally
}

export interface InteractionRecordsOptions {
  /** This observer's node index (1..nodes). */
  self: number
  /** M, the number of consensus nodes. */
  nodes: number
  params: Pick<ReputationParams, 'recentHeights' | 't0Ms'>
}

function badInput(msg: string): never {
  throw new BbnpError<ReputationErrorCode>('BAD_OPINION', msg)
}

/** The record keeper of one observer. Heights only move forward. */
export class InteractionRecords {
  readonly self: number
  readonly nodes: number
  private readonly recentHeights: number
  private readonly t0Ms: number
  private readonly peers = new Map<number, PeerLog>()

  constructor(opts: InteractionRecordsOptions) {
    if (!Number.isSafeInteger(opts.nodes) || opts.nodes < 1) badInput('nodes must be >= 1')
    if (!Number.isSafeInteger(opts.self) || opts.self < 1 || opts.self > opts.nodes) badInput(`self ${opts.self} is not a node index`)
    this.self = opts.self
    this.nodes = opts.nodes
    this.recentHeights = opts.params.recentHeights
    this.t0Ms = opts.params.t0Ms
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
    let log = this.peers.get(peer)
    if (!log) {
      log = { byHeight: new Map(), past: emptyTally() }
      this.peers.set(peer, log)
    }
    let t = log.byHeight.get(height)
    if (!t) {
      t = emptyTally()
      log.byHeight.set(height, t)
    }
    t[kind] += count
  }

  /** Recent (heights > height - recentHeights) and past counts for `peer`, as of `height`. */
  counts(peer: number, height: number): WindowCounts {
    const recent = emptyTally()
    const past = emptyTally()
    const log = this.peers.get(peer)
    if (!log) return { recent, past }
    addInto(past, log.past)
    for (const [h, t] of log.byHeight) addInto(h > height - this.recentHeights ? recent : past, t)
    return { recent, past }
  }

  /** Fold every height that has left the recent window (as of `height`) into the past tally. */
  compact(height: number): void {
    for (const log of this.peers.values()) {
      for (const [h, t] of log.byHeight) {
        if (h <= height - this.recentHeights) {
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
}
