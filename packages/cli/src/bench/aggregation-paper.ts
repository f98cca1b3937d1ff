/** What the aggregation figures are set beside: the paper's costs (tables IV and V) and the targets. */

/** Table IV of the paper (MIRACL/JPBC on a 3.0 GHz Pentium IV), in milliseconds. */
export const PAPER_COSTS_MS = { add: 0.004, exp: 1.7, hash: 0.0036, hmac: 0.0075 } as const

/** Table V, "Our" row: the user's cost per report. */
export function paperMeterMs(): number {
  const c = PAPER_COSTS_MS
  return 3 * c.add + c.exp + c.hash + c.hmac
}

/** Table V, "Our" row: the aggregator's cost for n reports. */
export function paperGatewayMs(n: number): number {
  const c = PAPER_COSTS_MS
  return 2 * (n + 1) * c.add + n * c.hmac
}

/** The targets (reported, never asserted). */
export const TARGETS = {
  meterReportMicros: 100,
  /** verify + aggregate 10,000 reports with 1 % missing, recovery included */
  gatewayMsAt10k: 50,
  /** one consensus peer's partial sum at N = 10,000, 1 % missing, pads precomputed */
  committeePartialMsAt10k: 20
} as const

export const MISSING_RATES = [0, 0.01, 0.05] as const
