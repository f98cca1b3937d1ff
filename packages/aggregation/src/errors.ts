/**
 * Error codes of the aggregation package. Rejections of a report or a reveal answer by the
 * gateway are not thrown: `SlotAggregator.accept` and `acceptReveal` return one of the codes
 * below (PROTOCOL 3.1, 3.5), so that a flood of garbage costs no exception. The error codes are
 * thrown for programming or configuration mistakes, and by a meter that refuses a reveal request.
 *
 * A malformed readings file is a `CONFIG` error and an unreadable one an `IO` error: the command
 * line turns both into one line on stderr and exit code 2 (DESIGN, "bad config stops the process
 * at start with one clear line").
 */
import { BbnpError } from '@bbnp/core'

/**
 * Why the gateway refused a report, in the order the checks run (PROTOCOL 3.1, 3.5.8): size,
 * decoding, meter, slot; then for a meter already counted in the slot DUPLICATE (the identical
 * bytes again, no MAC spent), BAD_TAG or CONFLICT (a different report with a valid tag: two
 * sources of one identity; the first one stays); for any other meter BAD_TAG, or LATE when the
 * slot is already closed.
 */
export const REJECT_CODES = ['OVERSIZED', 'MALFORMED', 'UNKNOWN_METER', 'WRONG_SLOT', 'DUPLICATE', 'BAD_TAG', 'CONFLICT', 'LATE'] as const
export type RejectCode = (typeof REJECT_CODES)[number]

/**
 * Why the gateway refused a reveal answer (PROTOCOL 3.5.4), in check order: size, decoding,
 * meter, slot; NOT_ASKED when this round has no open question to that meter with exactly that
 * missing set; DUPLICATE for the identical answer again; BAD_TAG; CONFLICT for a second, different
 * answer with a valid tag (the first stays); LATE after the round ended.
 */
export const REVEAL_REJECT_CODES = [
  'OVERSIZED',
  'MALFORMED',
  'UNKNOWN_METER',
  'WRONG_SLOT',
  'LATE',
  'NOT_ASKED',
  'DUPLICATE',
  'BAD_TAG',
  'CONFLICT'
] as const
export type RevealRejectCode = (typeof REVEAL_REJECT_CODES)[number]

export type AggregationErrorCode =
  | 'MALFORMED' // undecodable report, request, share list or bitmap
  | 'OVERSIZED' // report longer than reportBytes(M) (decodeReport)
  | 'PARAMS' // bad partner-graph or recovery parameters, meter index, meter or peer count
  | 'BAD_SLOT' // a slot that is not a non-negative safe integer
  | 'READING_RANGE' // |reading| >= 2^48 Wh
  | 'MISSING_KEY' // a candidate partner's public key was not supplied
  | 'BAD_KEYS' // dealt key material that does not decode, or does not fit the genesis
  | 'SLOT_CLOSED' // slot keys opened twice
  | 'STAGE' // a recovery step called out of order (e.g. decode before the reporter set is final)
  | 'REVEAL_REQUEST' // a reveal request naming a non-candidate, itself, a meter twice, or nobody
  | 'REVEAL_LIMIT' // a third different reveal request for one slot (PROTOCOL 3.5.4: two rounds)
  | 'REVEAL_NOT_SUPERSET' // a second reveal request whose missing set does not contain the first's
  | 'REVEAL_STALE' // a reveal request for a slot older than the meter remembers
  | 'TOO_FEW_REPORTERS' // a committee part asked for a set below minReporters (PROTOCOL 3.5.3)
  | 'SET_CONFLICT' // a committee part asked for a second, different reporter set of one slot (3.5.5)
  | 'BAD_SHARE_TAG' // a committee part given shares whose tags do not hold; meta.meters names them (3.5.5)
  | 'CONFIG' // malformed readings file
  | 'IO' // unreadable readings file

export function aggregationError(
  code: AggregationErrorCode,
  message: string,
  meta: Record<string, unknown> = {}
): BbnpError<AggregationErrorCode> {
  return new BbnpError<AggregationErrorCode>(code, message, meta)
}
