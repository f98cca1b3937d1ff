/**
 * The state of one height, made of its parts: the election, the vote book, the view change log
 * and the evidence each own theirs; what is left here is the height's progress.
 */
import type { Block } from './block.ts'
import type { Election } from './election.ts'
import type { Evidence } from './observations.ts'
import type { ViewChangeLog } from './view-change.ts'
import type { VoteBook } from './vote-book.ts'

/** A block proposed for one view of the height. */
export interface Proposal {
  view: number
  block: Block
  encoded: Uint8Array
  digest: Uint8Array
  /** The node that proposed it in this view (pre-prepare or new-view sender). */
  proposer: number
  at: number
  /** When this replica first held the block's aggregate (the moment a proposal became due). */
  aggregateAt: number | null
}

export interface HeightState {
  readonly height: number
  readonly startedAt: number
  /** The hash of block height - 1: the seed of the election, and the parent of the block. */
  readonly seed: Uint8Array
  view: number
  /** Sent VIEW-CHANGE for `view`, waiting for its NEW-VIEW. */
  viewChanging: boolean
  readonly election: Election
  readonly votes: VoteBook
  readonly viewChanges: ViewChangeLog
  readonly evidence: Evidence
  /** Accepted proposals by view. */
  readonly proposals: Map<number, Proposal>
  /** When work (an aggregate or a proposal) first appeared at this height. */
  workSince: number | null
  decided: boolean
  /** The view whose block was decided. */
  decidedView: number
  decidedAt: number
  /** When this replica last asked the runtime to catch up (null: never at this height). */
  behindSignalledAt: number | null
}
