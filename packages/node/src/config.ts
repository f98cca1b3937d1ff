/**
 * Loading a network configuration directory (what `bbnp setup` wrote): the validated genesis
 * and the key of one entity.
 */
import { join } from 'node:path'
import { type Genesis, readGenesisFile, validateGenesis } from './genesis.ts'

/** The reputation model parameters a new genesis gets (the paper's recommended weights). */
export function defaultReputationParams(): Record<string, number> {
  return { positive: 0.4, negative: 0.6, fast: 0.6, slow: 0.4, wrong: 0.6, untimely: 0.4, recent: 0.7, past: 0.3, recentHeights: 20, t0Ms: 200, initial: 0.5 }
}

export function loadGenesis(configDir: string): Genesis {
  return validateGenesis(readGenesisFile(join(configDir, 'genesis.json')))
}
