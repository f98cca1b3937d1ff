/**
 * e2e harness: a network of real `bin/bbnp` processes on loopback. It runs `bbnp setup` into a
 * temp directory, starts each role as its own process (logs in <dir>/logs), waits on the HTTP
 * API with deadlines (never a fixed sleep), and kills every process it started when the test ends,
 * also when it fails or the test runner is interrupted.
 */
import { type ChildProcess, spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { BBNP_BIN, freePortRange, type SupervisedChild, Supervisor } from '@bbnp/cli'
import { sumMetric } from '@bbnp/core'
import { API_PORT_OFFSET } from '@bbnp/node'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const ROOT = resolve(import.meta.dirname, '..')
export const BBNP = BBNP_BIN

/** Every process of every network of this test file: all killed when the file's process exits or is interrupted. */
const supervisor = new Supervisor()
supervisor.exitOnSignals(0)

/** A block as the consensus peers' HTTP API shows it (README "HTTP API"). */
export interface ApiBlock {
  height: number
  hash: string
  prevHash: string
  slot: number
  fromSlot: number
  status: 'complete' | 'recovered' | 'incomplete' | 'missed'
  reason: string | null
  endorsedBy: string[]
  faultyPeers: string[]
  sum: string | null
  count: number
  missing: string[]
  primary: string
  view: number
  reputation: number[]
  reputationFromHeight: number
  certificate: { view: number; signers: string[]; signature: string }
  aggregateReceivedAtMs: number | null
  committedAtMs: number | null
  latencyMs: number | null
}

export interface Proc {
  name: string
  args: string[]
  child: ChildProcess
  exited: Promise<number | null>
  exitCode: number | null
}

export interface NetworkOptions {
  meters: number
  consensus: number
  periodMs?: number
  seed?: string
  name: string
  /** Per-entity listen hosts (gateway, cn-j), for networks across namespaces. */
  hosts?: Record<string, string>
  /**
   * A hosts manifest (entity -> HOST, HOST:PORT or multiaddr) for `bbnp setup --hosts`, run as an
   * operator would; every entity not given a port gets the harness's (gateway base, cn-j base + j).
   */
  hostsManifest?: Record<string, string>
  /**
   * Put the genesis this far in the future (default: the current slot), so that every process
   * is up and connected before the first height and no peer starts with missed messages.
   */
  genesisInMs?: number
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs: number,
  intervalMs = 150
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown = null
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== null && v !== false) return v as T
    } catch (e) {
      lastError = e
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`
      )
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

export class TestNetwork {
  readonly dir: string
  readonly basePort: number
  readonly meters: number
  readonly consensus: number
  readonly periodMs: number
  readonly procs = new Map<string, Proc>()
  /** Where each process's API answers (127.0.0.1 unless it runs in a namespace). */
  readonly apiHosts = new Map<string, string>()
  /** Command prefix per process name (e.g. ip netns exec NS). */
  readonly prefixes = new Map<string, string[]>()
  /** The supervisor's record of each process in `procs`. */
  private readonly supervised = new Map<string, SupervisedChild>()
  /** The config directory a process reads, per process name (a host's own copy; default `configDir`). */
  readonly configDirs = new Map<string, string>()
  genesis: { genesisTimeMs: number; periodMs: number; hash: string; consensus: { id: string; peerId: string }[] }

  private constructor(dir: string, basePort: number, opts: NetworkOptions) {
    this.dir = dir
    this.basePort = basePort
    this.meters = opts.meters
    this.consensus = opts.consensus
    this.periodMs = opts.periodMs ?? 1000
    this.genesis = { genesisTimeMs: 0, periodMs: this.periodMs, hash: '', consensus: [] }
  }

  static async create(opts: NetworkOptions): Promise<TestNetwork> {
    const dir = mkdtempSync(join(tmpdir(), `bbnp-e2e-${opts.name}-`))
    const base = await freePortRange(opts.consensus + 1)
    const net = new TestNetwork(dir, base, opts)
    const period = net.periodMs
    const genesisTimeMs = opts.genesisInMs
      ? Math.ceil((Date.now() + opts.genesisInMs) / period) * period
      : Math.floor(Date.now() / period) * period
    if (opts.hosts) {
      const { createNetwork, defaultReputationParams, writeNetwork } = await import('@bbnp/node')
      const network = await createNetwork({
        meters: opts.meters,
        consensus: opts.consensus,
        periodMs: period,
        host: '127.0.0.1',
        hosts: opts.hosts,
        basePort: base,
        seed: opts.seed ?? opts.name,
        devnet: true,
        genesisTimeMs,
        reputation: defaultReputationParams()
      })
      writeNetwork(join(dir, 'net'), network, { force: false })
      mkdirSync(join(dir, 'logs'), { recursive: true })
      net.genesis = JSON.parse(readFileSync(join(dir, 'net', 'genesis.json'), 'utf8'))
      return net
    }
    const manifest = opts.hostsManifest ? ['--hosts', net.writeFile('hosts.json', JSON.stringify(opts.hostsManifest))] : []
    const r = spawnSync(
      BBNP,
      [
        'setup',
        ...manifest,
        '--out',
        join(dir, 'net'),
        '--meters',
        String(opts.meters),
        '--consensus',
        String(opts.consensus),
        '--period-ms',
        String(period),
        '--base-port',
        String(base),
        '--seed',
        opts.seed ?? opts.name,
        '--devnet',
        '--genesis-time-ms',
        String(genesisTimeMs)
      ],
      { encoding: 'utf8' }
    )
    if (r.status !== 0) throw new Error(`bbnp setup failed: ${r.stderr}`)
    mkdirSync(join(dir, 'logs'), { recursive: true })
    net.genesis = JSON.parse(readFileSync(join(dir, 'net', 'genesis.json'), 'utf8'))
    return net
  }

  get configDir(): string {
    return join(this.dir, 'net')
  }

  /**
   * A host's own copy of the network, as an operator installs it (docs/deployment.md): the
   * genesis, the address book and only the key files of the entities it runs. Processes named
   * `name` read it from then on; returns its path.
   */
  installHost(name: string, ids: string[]): string {
    const dir = join(this.dir, 'hosts', name, 'net')
    mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 })
    for (const f of ['genesis.json', 'addresses.json']) copyFileSync(join(this.configDir, f), join(dir, f))
    for (const id of ids) {
      copyFileSync(join(this.configDir, 'keys', `${id}.json`), join(dir, 'keys', `${id}.json`))
      chmodSync(join(dir, 'keys', `${id}.json`), 0o600)
    }
    this.configDirs.set(name, dir)
    return dir
  }

  apiPort(id: string): number {
    if (id === 'gateway') return this.basePort + API_PORT_OFFSET
    return this.basePort + Number(id.slice(3)) + API_PORT_OFFSET
  }

  slotNow(): number {
    return Math.floor((Date.now() - this.genesis.genesisTimeMs) / this.periodMs)
  }

  /** Start `bbnp start --role ... --id id` as its own process; `name` keys it (defaults to id). */
  start(role: 'consensus' | 'gateway' | 'meter', id: string, extra: string[] = [], name = id): Proc {
    const host = this.apiHosts.get(name)
    const args = [
      'start',
      '--role',
      role,
      '--config',
      this.configDirs.get(name) ?? this.configDir,
      '--id',
      id,
      '--log-level',
      'debug',
      ...(host ? ['--api-host', host] : []),
      ...extra
    ]
    return this.spawnNamed(name, args)
  }

  /** Start `bbnp ...args` as `name` (behind its prefix, if any), its output appended to <dir>/logs/<name>.log. */
  spawnNamed(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    if (this.supervised.get(name)?.exit === null) throw new Error(`${name} is already running`)
    const log = createWriteStream(join(this.dir, 'logs', `${name}.log`), { flags: 'a' })
    const prefix = this.prefixes.get(name) ?? []
    const [cmd, ...pre] = [...prefix, BBNP]
    const c = supervisor.spawn(name, cmd, [...pre, ...args], { output: { stream: log }, env })
    const proc: Proc = {
      name,
      args,
      child: c.child,
      exited: c.exited.then((exit) => exit.code),
      get exitCode() {
        return c.exit === null ? null : (c.exit.code ?? (c.exit.signal ? 128 : null))
      }
    }
    this.supervised.set(name, c)
    this.procs.set(name, proc)
    return proc
  }

  /** Start the whole network: M consensus peers, the gateway, and meters split over `meterProcs` processes. */
  startAll(opts: { meterProcs?: number; readings?: string; consensusArgs?: Record<string, string[]> } = {}): void {
    for (let j = 1; j <= this.consensus; j++) this.start('consensus', `cn-${j}`, opts.consensusArgs?.[`cn-${j}`] ?? [])
    this.start('gateway', 'gateway')
    this.startMeters(opts.meterProcs ?? 1, opts.readings)
  }

  startMeters(procs: number, readings?: string): void {
    const per = Math.ceil(this.meters / procs)
    for (let p = 0; p < procs; p++) {
      const from = p * per + 1
      const to = Math.min(this.meters, (p + 1) * per)
      if (from > to) continue
      this.start('meter', `meter-${from}..meter-${to}`, readings ? ['--readings', readings] : [], `meters-${p + 1}`)
    }
  }

  /** Send `signal` to `name` (SIGKILL 10 s later if it still runs); its exit code once it has exited. */
  async stop(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const c = this.supervised.get(name)
    if (!c || c.exit !== null) return this.procs.get(name)?.exitCode ?? null
    return (await supervisor.stop(c, 10_000, signal)).code
  }

  async stopAll(signal: NodeJS.Signals = 'SIGTERM'): Promise<Record<string, number | null>> {
    const codes: Record<string, number | null> = {}
    await Promise.all([...this.procs.keys()].map(async (n) => (codes[n] = await this.stop(n, signal))))
    return codes
  }

  /** Kill everything and remove the directory (keep it, with logs, when the test failed or BBNP_E2E_KEEP=1). */
  async destroy(keep = false): Promise<void> {
    await this.stopAll('SIGKILL')
    if (process.env.BBNP_E2E_KEEP === '1') keep = true
    if (!keep) rmSync(this.dir, { recursive: true, force: true })
    else process.stderr.write(`e2e: kept ${this.dir} (logs in ${join(this.dir, 'logs')})\n`)
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON from our own API; the tests' assertions check its shape
  async api<T = any>(id: string, path: string, timeoutMs = 3000): Promise<T> {
    const host = this.apiHosts.get(id) ?? '127.0.0.1'
    const res = await fetch(`http://${host}:${this.apiPort(id)}${path}`, { signal: AbortSignal.timeout(timeoutMs) })
    const text = await res.text()
    if (!res.ok) throw new Error(`${id} ${path}: HTTP ${res.status} ${text}`)
    return (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : (text as T)
  }

  async metric(id: string, name: string, labels: Record<string, string> = {}): Promise<number> {
    return sumMetric(await this.api(id, '/metrics'), name, labels)
  }

  async height(id: string): Promise<number> {
    return (await this.api(id, '/status')).height
  }

  /** Wait until every listed consensus peer has stored at least `h` blocks. */
  async waitHeight(h: number, ids: string[], timeoutMs: number): Promise<void> {
    await waitFor(
      `${ids.join(', ')} to reach height ${h}`,
      async () => {
        for (const id of ids) if ((await this.height(id)) < h) return false
        return true
      },
      timeoutMs
    )
  }

  consensusIds(): string[] {
    return Array.from({ length: this.consensus }, (_, i) => `cn-${i + 1}`)
  }

  async blocks(id: string, from: number, to: number): Promise<ApiBlock[]> {
    const out: ApiBlock[] = []
    for (let f = from; f <= to; f += 64) out.push(...(await this.api(id, `/blocks?from=${f}&to=${Math.min(to, f + 63)}`)).blocks)
    return out
  }

  writeFile(name: string, text: string): string {
    const p = join(this.dir, name)
    writeFileSync(p, text)
    return p
  }

  log(name: string): string {
    try {
      return readFileSync(join(this.dir, 'logs', `${name}.log`), 'utf8')
    } catch {
      return ''
    }
  }
}

/** A `meter,slot,wh` table with a distinct, partly negative reading for every meter and slot. */
export function readingsTable(
  meters: number,
  fromSlot: number,
  toSlot: number,
  seed = 7
): {
  text: string
  sum: (slot: number) => bigint
  reading: (meter: number, slot: number) => bigint
  sumWithout: (slot: number, missing: string[]) => bigint
} {
  // A deterministic spread of values: mostly consumption, some export (negative).
  const value = (i: number, s: number) => ((i * 7919 + s * 104729 + seed * 31) % 2000) - 300
  const lines = ['meter,slot,wh']
  const sums = new Map<number, bigint>()
  for (let s = fromSlot; s <= toSlot; s++) {
    let sum = 0n
    for (let i = 1; i <= meters; i++) {
      lines.push(`meter-${i},${s},${value(i, s)}`)
      sum += BigInt(value(i, s))
    }
    sums.set(s, sum)
  }
  const reading = (meter: number, slot: number) => BigInt(value(meter, slot))
  return {
    text: `${lines.join('\n')}\n`,
    sum: (slot) => sums.get(slot) ?? 0n,
    reading,
    // The sum over the meters a block does not list as missing (PROTOCOL 3.5: a recovered slot).
    sumWithout: (slot, missing) => {
      const gone = new Set(missing.map((id) => Number(id.slice('meter-'.length))))
      let sum = 0n
      for (let i = 1; i <= meters; i++) if (!gone.has(i)) sum += reading(i, slot)
      return sum
    }
  }
}
