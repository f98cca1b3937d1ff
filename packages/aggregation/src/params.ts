/**
 * Genesis parameters of dropout recovery (PROTOCOL 3.5), beside the partner graph's (partners.ts).
 *
 * - M, the number of consensus peers, comes from the genesis; they are the committee that holds
 *   the self-masks' shares, with f = floor((M - 1) / 3) (PROTOCOL 4) and threshold f + 1.
 * - minReporters: a slot with fewer accepted reports than this is `incomplete` and never decoded
 *   (PROTOCOL 3.5.3). A sum over a tiny set is close to a single reading (over one meter it is
 *   one), and a gateway that lies about who is missing chooses the set, so the consensus peers
 *   check the same bound before they give their part of B (committee.ts): that check, not the
 *   gateway's, is what holds against a dishonest gateway.
 *
 *   Default: half of the meters, rounded up, and at least 2. Utilities lose 0.5-1 % of interval
 *   reads, so an honest slot is far above it; a slot with half the meters silent is an outage whose
 *   sum would mislead anyway; and a lying gateway can at most hide half of the meters from the sum,
 *   never learn a sum over a handful of them.
 */
import { aggregationError } from './errors.ts'

/** PBFT needs 3f + 1 nodes with f >= 1 to tolerate anything (PROTOCOL 4). */
export const MIN_CONSENSUS = 4
/** Ring neighbours give every meter a partner only when N >= 3 (PROTOCOL 2.2). */
export const MIN_METERS = 3
/** Peer indices are u16 in the dealt-key encoding; PBFT over gossip is far below this anyway. */
export const MAX_CONSENSUS = 0xffff

/** f = floor((M - 1) / 3): the faults tolerated among M consensus peers; shares use threshold f + 1. */
export function faultTolerance(consensusCount: number): number {
  checkConsensusCount(consensusCount)
  return Math.floor((consensusCount - 1) / 3)
}

/** M >= 4, so that f >= 1: with f = 0 every share would be the self-mask itself. */
export function checkConsensusCount(m: number): void {
  if (!Number.isSafeInteger(m) || m < MIN_CONSENSUS || m > MAX_CONSENSUS)
    throw aggregationError('PARAMS', `consensus peer count must be an integer in [${MIN_CONSENSUS}, ${MAX_CONSENSUS}], got ${m}`)
}

/** The default minReporters for N meters: ceil(N / 2), at least 2 (see the file comment). */
export function defaultMinReporters(meterCount: number): number {
  return Math.max(2, Math.ceil(meterCount / 2))
}

/** minReporters from the genesis, or the default; an integer in [2, N]. */
export function resolveMinReporters(value: number | undefined, meterCount: number): number {
  if (value === undefined) return defaultMinReporters(meterCount)
  if (!Number.isSafeInteger(value) || value < 2 || value > meterCount)
    throw aggregationError('PARAMS', `minReporters must be an integer in [2, ${meterCount}], got ${value}`)
  return value
}
