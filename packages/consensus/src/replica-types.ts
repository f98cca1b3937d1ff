/**
 * The replica's contract with its runtime (PROTOCOL 4): the configuration it is built with, the
 * events it is fed, the effects it returns, and the records it asks to persist.
 */
import type { PublicKey, SecretKey } from '@bbnp/crypto'
import type { Block, CommitCertificate, SignedAggregate } from './block.ts'
import type { ConsensusMessage, DrawMessage } from './messages.ts'
import type { ConsensusRules } from './rules.ts'
import { BLOCK_ERRORS } from './validate.ts'

export type SignedPhase = 'preprepare' | 'prepare' | 'commit' | 'viewchange' | 'newview'

/** The last message this replica signed, persisted before it is sent. */
export interface SignedRecord {
  height: number
  view: number
  phase: SignedPhase
  /** The block digest signed for (height, view); null for a view change. */
  digest: Uint8Array | null
}

export interface ReplicaTiming {
  /** View timer of view 0; view v waits base * 2^v, capped. */
  viewTimeoutMs: number
  maxViewTimeoutMs: number
  /** How long the primary waits for missing draws before it trusts the order it has. */
  electionWaitMs: number
  /** How long after a commit late votes still count before observations are final. */
  graceMs: number
  genesisTimeMs: number
  periodMs: number
}

export interface ReplicaConfig {
  me: number
  keys: PublicKey[]
  gatewayKey: PublicKey
  meters: number
  /** Fewest present meters a sum may be over (genesis, PROTOCOL 3.5.3). */
  minReporters: number
  signer: SecretKey
  maxBlockBytes: number
  timing: ReplicaTiming
  rules: ConsensusRules
}

/**
 * A timer the replica asks for; the runtime hands it back unchanged in a `timeout` event.
 *   view      the view timer of (height, view) (PROTOCOL 4.5)
 *   election  the end of the election wait of a height (PROTOCOL 4.1)
 *   retry     the next re-send of this replica's draw; `attempt` counts the re-sends (backoff)
 *   grace     the end of the grace period of a decided height: its observations become final
 */
export type ReplicaTimer =
  | { kind: 'view'; height: number; view: number }
  | { kind: 'election'; height: number }
  | { kind: 'retry'; height: number; attempt: number }
  | { kind: 'grace'; height: number }

export type TimerKind = ReplicaTimer['kind']

export type ReplicaEvent =
  | { type: 'start'; now: number }
  | { type: 'aggregate'; aggregate: SignedAggregate; now: number }
  | { type: 'message'; message: ConsensusMessage; now: number }
  /** A signed opinion vector; `own` when the runtime signed it itself (trusted without a check). */
  | { type: 'opinion'; encoded: Uint8Array; own?: boolean; now: number }
  | { type: 'timeout'; timer: ReplicaTimer; now: number }
  | { type: 'synced'; block: Block; cert: CommitCertificate; now: number }

/** The phases a node owes; `partial` is its partial sum of a slot's recovery (PROTOCOL 3.5.5), judged by the gateway. */
export type ObservationPhase = 'preprepare' | 'prepare' | 'commit' | 'draw' | 'partial'
export type ObservationOutcome = 'valid' | 'wrong' | 'missing'

/** One interaction this replica observed from another node (the reputation model's evidence). */
export interface Observation {
  node: number
  phase: ObservationPhase
  outcome: ObservationOutcome
  /** For valid messages: delay after the moment the message became due. */
  delayMs: number
}

export interface CommitInfo {
  block: Block
  encoded: Uint8Array
  digest: Uint8Array
  cert: CommitCertificate
  /** When this replica first held the aggregate of the block's slot (its hand-off), if it did. */
  aggregateAt: number | null
}

/** What a refused input was (the `kind` label of bbnp_consensus_rejected_total). */
export const REJECT_KINDS = [
  'draw',
  'theta',
  'opinion',
  'aggregate',
  'preprepare',
  'prepare',
  'commit',
  'viewchange',
  'newview',
  'synced'
] as const
export type RejectKind = (typeof REJECT_KINDS)[number]

/** Why an input was refused (the `reason` label): a block's or aggregate's error, or one of these. */
export const REJECT_REASONS = [
  ...BLOCK_ERRORS,
  'MALFORMED',
  'MALFORMED_BLOCK',
  'OVERSIZED',
  'BAD_SIGNATURE',
  'BAD_OPINION',
  'WRONG_SEED',
  'EQUIVOCATION',
  'DOUBLE_VOTE',
  'BAD_VIEW_CHANGE',
  'TOO_FEW_VIEW_CHANGES',
  'NOT_HIGHEST_PREPARED'
] as const
export type RejectReason = (typeof REJECT_REASONS)[number]

export type ReplicaEffect =
  | { type: 'persist'; record: SignedRecord }
  | { type: 'broadcast'; message: ConsensusMessage; encoded: Uint8Array }
  | { type: 'commit'; commit: CommitInfo }
  | { type: 'timer'; timer: ReplicaTimer; delayMs: number }
  | { type: 'observations'; height: number; items: Observation[] }
  | { type: 'reject'; node: number | null; kind: RejectKind; reason: RejectReason }
  | { type: 'behind'; height: number }
  /** No Theta yet although the draw went out: ask the gateway directly with this draw (PROTOCOL 4.1). */
  | { type: 'fetch-theta'; draw: DrawMessage }
  /** Draws of `nodes` still missing after re-sends: ask each of them directly with this replica's draw (PROTOCOL 4.1). */
  | { type: 'fetch-draws'; draw: DrawMessage; nodes: number[] }
  | { type: 'log'; level: LogLevel; msg: string; ctx?: Record<string, unknown> }

export type LogLevel = 'debug' | 'info' | 'warn'

/** Batch verification work and progress, for the benchmark and metrics. */
export interface ReplicaStats {
  batchChecks: number
  signaturesInBatches: number
  fallbackChecks: number
  commits: number
  viewChanges: number
}
