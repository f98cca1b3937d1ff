/**
 * `bbnp start`: run one role until Ctrl-C (SIGINT) or SIGTERM, then shut down cleanly. SIGHUP
 * reads the address book again (`systemctl reload`).
 */
import { createNode, type NodeHandle, resolveOptions, SETTINGS, type Settings, startUsage } from '@bbnp/node'
import { type FlagSpec, parseFlags } from '../args.ts'

export const START_USAGE = startUsage()

/** After a stop is asked for, the process exits by this deadline whatever it is doing. */
const STOP_DEADLINE_MS = 10_000

export async function run(argv: string[]): Promise<number> {
  const spec: FlagSpec = { help: { type: 'boolean', short: 'h' } }
  for (const x of SETTINGS) spec[x.flag] = { type: 'string' }
  const { values } = parseFlags(argv, spec)
  if (values.help) {
    process.stdout.write(`${START_USAGE}\n`)
    return 0
  }
  const flags: Settings = {}
  for (const x of SETTINGS) flags[x.key] = values[x.flag] as string | undefined
  const options = resolveOptions(flags, process.env)
  // Signals are handled from the very start, and always end the process: the first one closes
  // the node (or abandons its start-up), a second one, or a close that hangs, exits at once.
  let resolveStop: (code: number) => void = () => {}
  const stop = new Promise<number>((resolve) => {
    resolveStop = resolve
  })
  let stopping = false
  const startUp = new AbortController()
  const beginStop = (why: string) => {
    if (stopping) return
    stopping = true
    process.stderr.write(`bbnp: ${why}, shutting down\n`)
    resolveStop(0)
    startUp.abort()
    setTimeout(() => {
      process.stderr.write(`bbnp: did not stop within ${STOP_DEADLINE_MS / 1000} s, exiting\n`)
      process.exit(1)
    }, STOP_DEADLINE_MS).unref()
  }
  const onSignal = (sig: NodeJS.Signals) => {
    if (!stopping) return beginStop(sig)
    process.stderr.write(`bbnp: ${sig} again, exiting now\n`)
    process.exit(sig === 'SIGINT' ? 130 : 143)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // SIGHUP (systemctl reload): read the address book again. One that comes during start-up is
  // served once the node runs (it may have read the book before the change).
  let node: NodeHandle | null = null
  let reloadPending = false
  process.on('SIGHUP', () => {
    if (node === null) reloadPending = true
    else node.reload()
  })
  // A process started by `bbnp devnet` exits by itself if the devnet dies without stopping it.
  const parent = Number(process.env.BBNP_PARENT_PID ?? 0)
  const watch =
    parent > 0
      ? setInterval(() => {
          try {
            process.kill(parent, 0)
          } catch {
            beginStop(`parent process ${parent} is gone`)
          }
        }, 1000)
      : null
  watch?.unref()
  // A signal during start-up cuts its waits short (for peers, for catch-up); the node then comes
  // up idle and is closed at once, all bounded by the deadline above.
  const starting = createNode(options, { signal: startUp.signal })
  const first = await Promise.race([starting, stop.then(() => null)])
  node = first ?? (await starting.catch(() => null))
  if (first !== null && reloadPending) node?.reload()
  const code = first === null ? 0 : await Promise.race([stop, node!.done])
  if (watch) clearInterval(watch)
  await node?.close()
  // Everything is closed and flushed: exit now rather than wait for a library's stray timer.
  process.exit(code)
}
