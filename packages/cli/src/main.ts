/**
 * `bbnp`: one binary for every role. Dispatches to packages/cli/src/commands/<name>.ts, each of
 * which exports `run(argv): Promise<number>` (the exit code). A UsageError becomes one line on
 * stderr and its exit code (2); anything else is a bug and prints its stack.
 */
import { isBbnpError, UsageError } from '@bbnp/core'

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: (argv: string[]) => Promise<number> }> }> = {
  setup: {
    summary: 'the trusted authority: write genesis.json, addresses.json and one key file per entity',
    load: () => import('./commands/setup.ts')
  },
  start: { summary: 'run one role: consensus, gateway or meter', load: () => import('./commands/start.ts') },
  addresses: { summary: 'show, check or change the address book (where peers are reached)', load: () => import('./commands/addresses.ts') },
  devnet: { summary: 'set up and run a whole network as local processes', load: () => import('./commands/devnet.ts') },
  simulate: { summary: "reproduce the paper's reputation and selection experiments", load: () => import('./commands/simulate.ts') },
  bench: { summary: 'measure the crypto, aggregation and consensus costs', load: () => import('./commands/bench.ts') },
  export: { summary: "write a stopped peer's chain as CSV or JSON lines, one row per block", load: () => import('./commands/export.ts') },
  verify: { summary: "check a stopped peer's store: links, indexes and every certificate", load: () => import('./commands/verify.ts') },
  version: { summary: 'print the version, the git commit and the Node.js version', load: () => import('./commands/version.ts') }
}

export const USAGE = `usage: bbnp <command> [flags]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`)
  .join('\n')}

Run "bbnp <command> --help" for the flags of one command.`

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return name === undefined ? 2 : 0
  }
  const cmd = COMMANDS[name === '--version' ? 'version' : name]
  if (!cmd) throw new UsageError('USAGE', `unknown command "${name}" (try: ${Object.keys(COMMANDS).join(', ')})`)
  const mod = await cmd.load()
  return mod.run(rest)
}

const ENVIRONMENT_ERRORS = [
  'GENESIS',
  'KEY',
  'CONFIG',
  'ADDRESSES',
  'IO',
  'SETUP',
  'USAGE',
  'LISTEN',
  'STORE_LOCKED',
  'STORE_IO',
  'STORE_CORRUPT',
  'SCHEMA_MISMATCH',
  'GENESIS_MISMATCH'
]

export function reportFatal(e: unknown): number {
  if (e instanceof UsageError) {
    process.stderr.write(`bbnp: ${e.message}\n`)
    return e.exitCode
  }
  // Problems with the configuration or the environment (a port in use, a locked or foreign data
  // directory, an unreadable file) are one line; anything else is a bug and gets its stack.
  if (isBbnpError(e) && ENVIRONMENT_ERRORS.includes(e.code)) {
    process.stderr.write(`bbnp: ${e.message}\n`)
    return 2
  }
  process.stderr.write(`bbnp: internal error: ${(e as Error)?.stack ?? String(e)}\n`)
  return 1
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (e) => {
      // A fatal error ends the process now, whatever it still holds open (a listening socket, a
      // timer, a store): a process that reported a fatal error must not live on, deaf to signals.
      process.exit(reportFatal(e))
    }
  )
}
