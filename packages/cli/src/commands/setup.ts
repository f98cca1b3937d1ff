/**
 * `bbnp setup`: the trusted authority (paper IV-A). Writes DIR/genesis.json (public),
 * DIR/addresses.json (where the gateway and each consensus peer are reached; docs/deployment.md)
 * and DIR/keys/<id>.json (secret, mode 0600) for meter-1..meter-N, cn-1..cn-M and the gateway.
 */
import { resolve } from 'node:path'
import { UsageError } from '@bbnp/core'
import { checkNetworkTarget, createNetwork, parseAddrFlag, type Placement, readHostsManifest, writeNetwork } from '@bbnp/node'
import { reputationPreset } from '@bbnp/reputation'
import { intFlag, parseFlags, requireFlag } from '../args.ts'

export const SETUP_USAGE = `usage: bbnp setup --out DIR --meters N --consensus M [flags]

  --out DIR          where to write genesis.json, addresses.json and keys/ (required)
  --meters N         number of smart meters, at least 3 (required)
  --consensus M      number of consensus peers, at least 4 (required)
  --period-ms P      slot length in milliseconds (default 1000; 900000 is 15 minutes)
  --hosts FILE       a hosts manifest: a JSON object from entity to where it runs, one entry for
                     the gateway and each consensus peer, e.g. {"gateway": "10.0.0.10",
                     "cn-1": "10.0.0.11", "cn-2": "cn-2.grid.example:7102", ...}
  --addr ID=WHERE    place one entity (repeatable; over the manifest): WHERE is an IP address, a
                     DNS name, either with :PORT, or a multiaddr (/dns4/NAME/tcp/PORT)
  --host H           where every entity not placed otherwise runs (default 127.0.0.1; one host)
  --base-port P      the port of a placement without one: gateway P, cn-j P+j (default 7100)
  --seed S           derive every key from S (reproducible; for devnets and tests only)
  --genesis-time-ms T  start of slot 0, unix ms (default: now, rounded up to the next period)
  --election RULE    fair (default: reputation-weighted lottery, fading records) or paper
                     (the paper's rule exactly); docs/reputation.md
  --min-reporters K  fewest meters a slot's sum may be over (default max(2, ceil(N/2))); PROTOCOL 3.5.3
  --devnet           mark the network as a devnet (allows test-only misbehaviour modes)
  --force            replace an existing network in DIR`

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    out: { type: 'string' },
    meters: { type: 'string' },
    consensus: { type: 'string' },
    'period-ms': { type: 'string' },
    host: { type: 'string' },
    hosts: { type: 'string' },
    addr: { type: 'string', multiple: true },
    'base-port': { type: 'string' },
    seed: { type: 'string' },
    'genesis-time-ms': { type: 'string' },
    election: { type: 'string' },
    'min-reporters': { type: 'string' },
    devnet: { type: 'boolean' },
    force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help) {
    process.stdout.write(`${SETUP_USAGE}\n`)
    return 0
  }
  const out = resolve(requireFlag(values.out, '--out'))
  const meters = intFlag(requireFlag(values.meters, '--meters'), '--meters', 0, 3, 1_000_000)
  const consensus = intFlag(requireFlag(values.consensus, '--consensus'), '--consensus', 0, 4, 1000)
  const periodMs = intFlag(values['period-ms'], '--period-ms', 1000, 100, 7 * 24 * 3600 * 1000)
  const basePort = intFlag(values['base-port'], '--base-port', 7100, 1, 65535)
  const now = Date.now()
  const genesisTimeMs = intFlag(values['genesis-time-ms'], '--genesis-time-ms', Math.ceil(now / periodMs) * periodMs, 0)
  const force = values.force ?? false
  const election = values.election ?? 'fair'
  if (election !== 'fair' && election !== 'paper') throw new UsageError('USAGE', `--election must be fair or paper, not "${election}"`)
  const minReporters = values['min-reporters'] === undefined ? undefined : intFlag(values['min-reporters'], '--min-reporters', 0, 1, meters)
  const places: Record<string, Placement> = values.hosts !== undefined ? readHostsManifest(resolve(values.hosts)) : {}
  for (const a of values.addr ?? []) {
    const { id, spec } = parseAddrFlag(a)
    places[id] = { spec, source: `--addr ${a}` }
  }
  checkNetworkTarget(out, { force })
  const started = performance.now()
  const net = await createNetwork({
    meters,
    consensus,
    periodMs,
    host: values.host ?? '127.0.0.1',
    basePort,
    places,
    requireAll: values.hosts !== undefined ? `hosts manifest ${resolve(values.hosts)}` : undefined,
    seed: values.seed,
    devnet: values.devnet ?? false,
    genesisTimeMs,
    reputation: { ...reputationPreset(election) },
    minReporters,
    onProgress: (msg) => process.stderr.write(`setup: ${msg}\r`)
  })
  writeNetwork(out, net, { force })
  const ms = Math.round(performance.now() - started)
  process.stderr.write('\n')
  process.stdout.write(
    `wrote ${out}/genesis.json (chain ${net.genesis.chainId}, hash ${net.genesis.hash.slice(0, 16)}…), ${out}/addresses.json and ${net.keys.length} key files in ${out}/keys (${ms} ms)\n`
  )
  for (const [id, addr] of Object.entries(net.addresses.addresses)) process.stdout.write(`  ${id.padEnd(8)} ${addr}\n`)
  return 0
}
