/** The `bbnp` executable of this checkout, which the devnet, the benchmark and the e2e tests start. */
import { fileURLToPath } from 'node:url'

export const BBNP_BIN = fileURLToPath(new URL('../../../bin/bbnp', import.meta.url))
