/**
 * `bbnp start`: run one role until Ctrl-C (SIGINT) or SIGTERM, then shut down cleanly.
 */
import { createNode, resolveOptions, SETTINGS, type Settings } from '@bbnp/node'
import { type FlagSpec, parseFlags } from '../args.ts'

export const START_USAGE = `usage: bbnp start --role consensus|gateway|meter --config DIR --id ID [flags]

  --role R           consensus, gateway or meter
  --config DIR       the directory bbnp setup wrote (genesis.json and keys/)
  --id ID            cn-3, gateway, or for meters one ID, a list (meter-1,meter-2) or a range (meter-1..meter-500)
  --data-dir DIR     where a consensus peer keeps its chain (default DIR/data/<id>)
  --listen ADDR      libp2p listen multiaddr (default: the address in the genesis)
  --api-port P       HTTP API port (default: the p2p port + 1000; meters serve no API unless given)
  --api-host H       HTTP API address (default 127.0.0.1)
  --readings FILE    meters: a UCI household CSV or a meter,slot,wh table (default: configs/data/uci-household-power-2007-02.csv)
  --log-level L      debug, info, warn, error or silent (default info)
  --misbehave MODES  devnet tests only: silent, late, wrong-signatures, equivocate (consensus)

Every flag can also come from the environment (BBNP_ROLE, BBNP_CONFIG, BBNP_ID, BBNP_DATA_DIR,
BBNP_LISTEN, BBNP_API_PORT, BBNP_API_HOST, BBNP_READINGS, BBNP_LOG_LEVEL, BBNP_MISBEHAVE) or from
DIR/bbnp.json ({"defaults": {...}, "nodes": {"cn-1": {"apiPort": 9001}}}, every setting but config
and id); flags win over the environment, which wins over the file, which wins over the defaults.`

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
  // Signals are handled from the start: a Ctrl-C during start-up stops the node as soon as it is up.
  let resolveStop: (code: number) => void = () => {}
  const stop = new Promise<number>((resolve) => {
    resolveStop = resolve
  })
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`bbnp: ${sig}, shutting down\n`)
    resolveStop(0)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  // A process started by `bbnp devnet` exits by itself if the devnet dies without stopping it.
  const parent = Number(process.env.BBNP_PARENT_PID ?? 0)
  const watch =
    parent > 0
      ? setInterval(() => {
          try {
            process.kill(parent, 0)
          } catch {
            process.stderr.write(`bbnp: parent process ${parent} is gone, shutting down\n`)
            resolveStop(0)
          }
        }, 1000)
      : null
  watch?.unref()
  const node = await createNode(options)
  const code = await Promise.race([stop, node.done])
  if (watch) clearInterval(watch)
  await node.close()
  // Everything is closed and flushed: exit now rather than wait for a library's stray timer.
  process.exit(code)
}
