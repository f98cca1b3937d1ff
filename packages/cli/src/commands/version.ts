/**
 * `bbnp version`: the project's version, the git commit it runs from (when it runs from a git
 * checkout) and the Node.js version; the same as every process's `bbnp_build_info` metric.
 */
import { buildInfo } from '@bbnp/node'
import { parseFlags } from '../args.ts'

export const VERSION_USAGE = `usage: bbnp version [--json]

Prints the version, the git commit (when run from a git checkout) and the Node.js version.

  --json   the same as one JSON object: {"version", "commit" (null when unknown), "node"}`

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' } })
  if (values.help) {
    process.stdout.write(`${VERSION_USAGE}\n`)
    return 0
  }
  const b = buildInfo()
  process.stdout.write(values.json ? `${JSON.stringify(b)}\n` : `bbnp ${b.version} (commit ${b.commit ?? 'unknown'}, Node.js ${b.node})\n`)
  return 0
}
