/**
 * Loading a network configuration directory (what `bbnp setup` wrote): the validated genesis,
 * with the reputation model's parameters checked by the model itself.
 */
import { join } from 'node:path'
import { DEFAULT_REPUTATION_PARAMS, parseReputationParams, type ReputationParams } from '@bbnp/reputation'
import { type Genesis, readGenesisFile, validateGenesis } from './genesis.ts'

/** The reputation model parameters a new genesis gets: the paper's recommended weights and the fair election rule (docs/reputation.md). */
export function defaultReputationParams(): Record<string, number | string> {
  return { ...DEFAULT_REPUTATION_PARAMS }
}

export function reputationParams(genesis: Genesis): ReputationParams {
  return parseReputationParams(genesis.reputation)
}

export function loadGenesis(configDir: string): Genesis {
  return validateGenesis(readGenesisFile(join(configDir, 'genesis.json')), (p) => {
    parseReputationParams(p)
  })
}
