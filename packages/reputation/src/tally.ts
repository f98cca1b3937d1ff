/**
 * Interaction counts in the four categories of the paper's table II, split into the recent
 * window and the past (alpha_11/alpha_12/beta_11/beta_12 recent, alpha_21/alpha_22/beta_21/beta_22
 * past).
 */
export type InteractionKind = 'fast' | 'slow' | 'wrong' | 'missing'

export interface Tally {
  fast: number
  slow: number
  wrong: number
  missing: number
}

export interface WindowCounts {
  recent: Tally
  past: Tally
}

export function emptyTally(): Tally {
  return { fast: 0, slow: 0, wrong: 0, missing: 0 }
}

export function tallyTotal(t: Tally): number {
  return t.fast + t.slow + t.wrong + t.missing
}
