/**
 * Protocol timers, derived from the genesis period and the reputation model's t0, so a devnet
 * with 1-second slots and a utility network with 15-minute slots both behave sensibly.
 */
import type { ReplicaTiming } from '@bbnp/consensus'
import type { Genesis } from './genesis.ts'

export function replicaTiming(genesis: Genesis, t0Ms: number): ReplicaTiming {
  const p = genesis.periodMs
  return {
    // A height with work must commit within about one period before the view changes; the
    // timer doubles per failed view (PROTOCOL 4.5) up to a minute or 30 periods.
    viewTimeoutMs: Math.max(1000, p),
    maxViewTimeoutMs: Math.max(60_000, 30 * p),
    // The primary waits this long for draws that have not come (a peer that is down); with every
    // draw in, the election settles at once.
    electionWaitMs: Math.min(500, Math.max(50, Math.floor(p / 4))),
    // Late votes count for reputation until twice t0 after a commit; later ones are missing.
    graceMs: Math.max(100, 2 * t0Ms),
    genesisTimeMs: genesis.genesisTimeMs,
    periodMs: p
  }
}
