/**
 * Error codes of the aggregation package. Rejections of a report by the gateway are not thrown:
 * `SlotAggregator.accept` returns one of `REJECT_CODES` (PROTOCOL 3.1), so that a flood of
 * garbage costs no exception. The codes below are thrown for programming or configuration
 * mistakes.
 *
 * A malformed readings file is a `CONFIG` error and an unreadable one an `IO` error: the command
 * line turns both into one line on stderr and exit code 2 (DESIGN, "bad config stops the process
 * at start with one clear line").
 */
import { BbnpError } from '@bbnp/core'

/** Why the gateway refused a report, in the order the checks run (PROTOCOL 3.1). */
export const REJECT_CODES = ['OVERSIZED', 'MALFORMED', 'UNKNOWN_METER', 'WRONG_SLOT', 'DUPLICATE', 'BAD_TAG'] as const
export type RejectCode = (typeof REJECT_CODES)[number]

export type AggregationErrorCode =
  | 'MALFORMED' // undecodable report bytes (decodeReport)
  | 'OVERSIZED' // report longer than REPORT_BYTES (decodeReport)
  | 'PARAMS' // bad partner-graph parameters, meter index or meter count
  | 'BAD_SLOT' // a slot that is not a non-negative safe integer
  | 'READING_RANGE' // |reading| >= 2^48 Wh
  | 'MISSING_KEY' // a candidate partner's public key was not supplied
  | 'SLOT_CLOSED' // accept() after finish(), or slot keys opened twice
  | 'CONFIG' // malformed readings file
  | 'IO' // unreadable readings file

export function aggregationError(
  code: AggregationErrorCode,
  message: string,
  meta: Record<string, unknown> = {}
): BbnpError<AggregationErrorCode> {
  return new BbnpError<AggregationErrorCode>(code, message, meta)
}
