/** The `bbnp` executable of this checkout, which the devnet, the benchmark and the e2e tests start. */
import { projectPath } from '@bbnp/core'

export const BBNP_BIN = projectPath('bin', 'bbnp')
