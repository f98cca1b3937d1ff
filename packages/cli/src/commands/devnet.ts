/**
 * `bbnp devnet`: a whole network on this machine. Runs the trusted setup into DIR/net (a fresh
 * network every run), starts every consensus peer, the gateway and the meter processes as their
 * own `bin/bbnp start` processes (logs in DIR/logs), and shows one line per block that cn-1
 * commits, until Ctrl-C or --rounds blocks. Every child is stopped before it returns; a child
 * that exits on its own is a death: the devnet names it, shows its log's tail and exits 1.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { makeDirectory, UsageError } from '@bbnp/core'
import { intFlag, parseFlags } from '../args.ts'
import { type BlockJson, blockLine } from '../devnet/block-line.ts'
import { firstTakenPort, type PortUse } from '../ports.ts'
import { type Child, describeExit, Supervisor, tailOf } from '../devnet/supervisor.ts'

export const DEVNET_USAGE = `usage: bbnp devnet [flags]

Set up a fresh network in DIR and run every role as its own local process, showing one line per
committed block, until Ctrl-C (or --rounds blocks). Exits 0 when stopped, 1 if a process died
(or failed to shut down).

  --meters N         smart meters (default 10, at least 3)
  --consensus M      consensus peers (default 4, between 4 and 64)
  --period-ms P      slot length in milliseconds (default 1000)
  --rounds K         stop after K committed blocks (default: run until Ctrl-C)
  --dir DIR          where the network, chains and logs go (default ./devnet); replaced every run:
                     DIR/net holds genesis.json, keys/ and data/, DIR/logs/<process>.log the logs
  --base-port P      gateway on P, cn-j on P+j, their HTTP APIs on +1000 (default 7100)
  --meter-procs Q    how many meter processes share the meters (default 2)
  --readings FILE    meter readings: a UCI household CSV or a meter,slot,wh table
                     (default: configs/data/uci-household-power-2007-02.csv)
  --drop-rate P      each meter drops its report of a slot with probability P (default 0): the
                     slot's sum is then recovered over the meters present (PROTOCOL 3.5)`

const ROOT = resolve(import.meta.dirname, '../../../..')
const BBNP = join(ROOT, 'bin', 'bbnp')
const HOST = '127.0.0.1'
const API_OFFSET = 1000
const MAX_CONSENSUS = 64
/** The live view polls cn-1 this often: it is a UI on loopback, not a test. */
const POLL_MS = 200
/** How far in the future slot 0 starts: long enough for every process to come up. */
const DEVNET_STARTUP_MS = 6000
const REQUEST_TIMEOUT_MS = 2000
/** SIGTERM, then SIGKILL whatever still runs after this long. */
const STOP_GRACE_MS = 5000
/** Lines of a dead process's log to show. */
const TAIL_LINES = 15

interface Plan {
  meters: number
  consensus: number
  periodMs: number
  rounds: number | null
  dir: string
  basePort: number
  meterProcs: number
  readings: string | null
  /** Each meter drops its report of a slot with this probability (0: none). */
  dropRate: number
}

type StopReason = { kind: 'signal'; signal: NodeJS.Signals } | { kind: 'rounds' } | { kind: 'died'; child: Child }

function parsePlan(argv: string[]): Plan | null {
  const { values } = parseFlags(argv, {
    meters: { type: 'string' },
    consensus: { type: 'string' },
    'period-ms': { type: 'string' },
    rounds: { type: 'string' },
    dir: { type: 'string' },
    'base-port': { type: 'string' },
    'meter-procs': { type: 'string' },
    readings: { type: 'string' },
    'drop-rate': { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help) return null
  const dropRate = values['drop-rate'] === undefined ? 0 : Number(values['drop-rate'])
  if (values['drop-rate'] !== undefined && !(/^[0-9.]+$/.test(values['drop-rate']) && dropRate >= 0 && dropRate <= 1))
    throw new UsageError('USAGE', `--drop-rate must be a probability in [0, 1], got "${values['drop-rate']}"`)
  const meters = intFlag(values.meters, '--meters', 10, 3, 1_000_000)
  const consensus = intFlag(values.consensus, '--consensus', 4, 4, MAX_CONSENSUS)
  const periodMs = intFlag(values['period-ms'], '--period-ms', 1000, 100, 7 * 24 * 3600 * 1000)
  const rounds = values.rounds === undefined ? null : intFlag(values.rounds, '--rounds', 0, 1)
  // The highest port is cn-M's API: base + M + 1000.
  const basePort = intFlag(values['base-port'], '--base-port', 7100, 1, 65535 - API_OFFSET - consensus)
  const meterProcs = intFlag(values['meter-procs'], '--meter-procs', Math.min(2, meters), 1, meters)
  if (values.dir === '') throw new UsageError('USAGE', '--dir must not be empty')
  if (values.readings === '') throw new UsageError('USAGE', '--readings must not be empty')
  const readings = values.readings === undefined ? null : resolve(values.readings)
  if (readings !== null && !(existsSync(readings) && statSync(readings).isFile()))
    throw new UsageError('USAGE', `--readings ${readings} is not a file`)
  return { meters, consensus, periodMs, rounds, dir: resolve(values.dir ?? 'devnet'), basePort, meterProcs, readings, dropRate }
}

/** Who led the blocks shown, as a histogram (issue 9: fairness seen on a live network). */
export function leaderHistogram(led: Record<string, number>, blocks: number): string {
  const ids = Object.keys(led).sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)))
  const width = Math.max(...ids.map((id) => id.length))
  const rows = ids.map((id) => `  ${id.padEnd(width)} ${'#'.repeat(Math.round((40 * led[id]) / blocks)).padEnd(40)} ${led[id]}`)
  return ['leaders of these blocks:', ...rows].join('\n')
}

/** Meter processes as ID ranges, as even as can be: 10 meters in 3 processes are 4, 3 and 3. */
export function meterRanges(meters: number, procs: number): string[] {
  const out: string[] = []
  let from = 1
  for (let p = 0; p < procs; p++) {
    const size = Math.floor(meters / procs) + (p < meters % procs ? 1 : 0)
    const to = from + size - 1
    out.push(from === to ? `meter-${from}` : `meter-${from}..meter-${to}`)
    from = to + 1
  }
  return out
}

function portUses(plan: Plan): PortUse[] {
  const uses: PortUse[] = [
    { port: plan.basePort, what: 'the gateway' },
    { port: plan.basePort + API_OFFSET, what: "the gateway's API" }
  ]
  for (let j = 1; j <= plan.consensus; j++) {
    uses.push({ port: plan.basePort + j, what: `cn-${j}` })
    uses.push({ port: plan.basePort + j + API_OFFSET, what: `cn-${j}'s API` })
  }
  return uses
}

/** A path as the user would type it: relative to the current directory when inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel === '' ? '.' : rel.startsWith('..') || rel.startsWith(sep) ? path : rel
}

/** Make DIR ready for a fresh network, refusing a directory that holds a non-devnet network. */
function prepareDir(plan: Plan): { netDir: string; logsDir: string } {
  const netDir = join(plan.dir, 'net')
  const logsDir = join(plan.dir, 'logs')
  if (existsSync(plan.dir) && !statSync(plan.dir).isDirectory()) throw new UsageError('USAGE', `--dir ${plan.dir} is not a directory`)
  const genesisPath = join(netDir, 'genesis.json')
  if (existsSync(genesisPath)) {
    let devnet = false
    try {
      devnet = JSON.parse(readFileSync(genesisPath, 'utf8')).devnet === true
    } catch {}
    if (!devnet)
      throw new UsageError(
        'CONFIG',
        `${netDir} holds a network that is not a devnet; bbnp devnet replaces its network on every run, so pick another --dir`
      )
  }
  try {
    rmSync(join(netDir, 'data'), { recursive: true, force: true })
    makeDirectory(netDir)
    makeDirectory(logsDir)
    // Logs of processes an earlier, larger devnet ran would be mistaken for this run's.
    for (const f of readdirSync(logsDir)) if (/^(cn-\d+|gateway|meters-\d+)\.log$/.test(f)) rmSync(join(logsDir, f), { force: true })
  } catch (e) {
    throw new UsageError('IO', `cannot prepare ${plan.dir}: ${(e as Error).message}`)
  }
  return { netDir, logsDir }
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}`)
  return (await res.json()) as T
}

const out = (line: string) => process.stdout.write(`${line}\n`)
const err = (line: string) => process.stderr.write(`${line}\n`)

export async function run(argv: string[]): Promise<number> {
  const plan = parsePlan(argv)
  if (plan === null) {
    process.stdout.write(`${DEVNET_USAGE}\n`)
    return 0
  }
  // Loaded only now, so that --help and a bad flag answer at once.
  const { loadReadings } = await import('@bbnp/aggregation')
  const { createNetwork, DEFAULT_READINGS, defaultReputationParams, writeNetwork } = await import('@bbnp/node')
  if (plan.readings !== null) {
    // A bad readings file is a usage error now, not a meter process dying later.
    try {
      await loadReadings(plan.readings, { periodMs: plan.periodMs })
    } catch (e) {
      throw new UsageError('USAGE', `--readings: ${(e as Error).message}`)
    }
  }
  const taken = await firstTakenPort(HOST, portUses(plan))
  if (taken) {
    const why = taken.reason === 'EADDRINUSE' ? 'is already in use' : `cannot be used (${taken.reason})`
    throw new UsageError('CONFIG', `port ${taken.port} on ${HOST} (for ${taken.what}) ${why}; pick another --base-port`)
  }
  const { netDir, logsDir } = prepareDir(plan)

  // From here on a signal stops the devnet (the first one gently, a second one with SIGKILL).
  let stopReason: StopReason | null = null
  let resolveStopped: (r: StopReason) => void = () => {}
  const stopped = new Promise<StopReason>((r) => {
    resolveStopped = r
  })
  const stop = (r: StopReason) => {
    if (stopReason !== null) return
    stopReason = r
    resolveStopped(r)
  }
  const died: Child[] = []
  const reported = new Set<Child>()
  const supervisor = new Supervisor((c) => {
    const verdict = () => {
      // A child ended by the terminal's Ctrl-C (it shares our process group) exits 0 on its own;
      // that is the user stopping the devnet, not a death.
      if (stopReason?.kind === 'signal') return
      died.push(c)
      stop({ kind: 'died', child: c })
    }
    if (c.exit?.code === 0 || c.exit?.signal === 'SIGINT') setTimeout(verdict, 500)
    else verdict()
  })
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopReason === null) {
      if (process.stdout.isTTY) process.stdout.write('\n') // past the terminal's "^C"
      stop({ kind: 'signal', signal })
    } else if (supervisor.running().length > 0) {
      out(`${signal} again: killing ${supervisor.running().length} processes`)
      supervisor.killAllNow()
    }
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const s of signals) process.on(s, onSignal)
  // A reader that went away (`bbnp devnet | head`) stops the devnet like a signal would.
  const onOutputError = () => stop({ kind: 'signal', signal: 'SIGPIPE' })
  process.stdout.on('error', onOutputError)

  let blocks = 0
  const byStatus: Record<string, number> = {}
  const led: Record<string, number> = {}
  const startedAt = Date.now()
  try {
    // ---- setup: the trusted authority, in this process (`bbnp setup --devnet --force`).
    const setupStarted = performance.now()
    const tty = process.stdout.isTTY === true
    const net = await createNetwork({
      meters: plan.meters,
      consensus: plan.consensus,
      periodMs: plan.periodMs,
      host: HOST,
      basePort: plan.basePort,
      devnet: true,
      // Slot 0 begins once every process has had time to start (they idle until then), so the
      // first slot is not lost to start-up.
      genesisTimeMs: Math.ceil((Date.now() + DEVNET_STARTUP_MS) / plan.periodMs) * plan.periodMs,
      reputation: defaultReputationParams(),
      onProgress: tty ? (msg) => process.stdout.write(`setup: ${msg}\r`) : undefined
    })
    writeNetwork(netDir, net, { force: true })
    out(
      `setup: ${shown(netDir)} (chain ${net.genesis.chainId}, genesis ${net.genesis.hash.slice(0, 12)}…, ${net.keys.length} keys, ${Math.round(performance.now() - setupStarted)} ms)`
    )
    if (stopReason !== null) return summarize()

    // ---- start every role as its own process.
    const startArgs = (role: string, id: string) => ['start', '--role', role, '--config', netDir, '--id', id]
    const rows: string[] = []
    for (let j = 1; j <= plan.consensus; j++) {
      const c = supervisor.spawn(`cn-${j}`, BBNP, startArgs('consensus', `cn-${j}`), join(logsDir, `cn-${j}.log`))
      rows.push(
        `  ${c.name.padEnd(9)} pid ${String(c.pid).padEnd(7)} p2p ${HOST}:${plan.basePort + j}  api http://${HOST}:${plan.basePort + j + API_OFFSET}`
      )
    }
    const gw = supervisor.spawn('gateway', BBNP, startArgs('gateway', 'gateway'), join(logsDir, 'gateway.log'))
    rows.push(
      `  ${gw.name.padEnd(9)} pid ${String(gw.pid).padEnd(7)} p2p ${HOST}:${plan.basePort}  api http://${HOST}:${plan.basePort + API_OFFSET}`
    )
    meterRanges(plan.meters, plan.meterProcs).forEach((ids, p) => {
      const args = [
        ...startArgs('meter', ids),
        ...(plan.readings ? ['--readings', plan.readings] : []),
        ...(plan.dropRate > 0 ? ['--drop-rate', String(plan.dropRate)] : [])
      ]
      const c = supervisor.spawn(`meters-${p + 1}`, BBNP, args, join(logsDir, `meters-${p + 1}.log`))
      rows.push(`  ${c.name.padEnd(9)} pid ${String(c.pid).padEnd(7)} ${ids}`)
    })

    out(
      `devnet: ${plan.consensus} consensus peers, 1 gateway, ${plan.meters} meters in ${plan.meterProcs} process${plan.meterProcs === 1 ? '' : 'es'}, ${plan.periodMs} ms slots`
    )
    for (const r of rows) out(r)
    out(`  readings  ${shown(plan.readings ?? DEFAULT_READINGS)}`)
    if (plan.dropRate > 0)
      out(
        `  drops     each meter drops a report with probability ${plan.dropRate} (seeded by the chain ${net.genesis.chainId}: the same on a replay)`
      )
    out(`  logs      ${shown(logsDir)}${sep}<process>.log`)
    out(plan.rounds === null ? 'Ctrl-C to stop' : `stopping after ${plan.rounds} block${plan.rounds === 1 ? '' : 's'} (or Ctrl-C)`)

    // ---- the live view: cn-1's API, one line per new block, in order.
    const api = `http://${HOST}:${plan.basePort + 1 + API_OFFSET}`
    const pause = () => Promise.race([delay(POLL_MS), stopped])
    out(`waiting for cn-1's API at ${api} …`)
    let lastNews = Date.now()
    const quietMs = Math.max(10_000, 5 * plan.periodMs)
    while (stopReason === null) {
      try {
        const s = await getJson<{ peers: string[] }>(`${api}/status`)
        out(`cn-1 is up (${s.peers.length} peer${s.peers.length === 1 ? '' : 's'} connected); waiting for the first block …`)
        out(`dashboard: ${api}/ (the control centre's page; every consensus peer serves it)`)
        break
      } catch {}
      if (Date.now() - lastNews > quietMs) {
        out(`cn-1's API is still not answering (see ${shown(join(logsDir, 'cn-1.log'))})`)
        lastNews = Date.now()
      }
      await pause()
    }
    lastNews = Date.now()
    let next = 1
    while (stopReason === null) {
      let got: BlockJson[] = []
      try {
        got = (await getJson<{ blocks: BlockJson[] }>(`${api}/blocks?from=${next}&to=${next + 63}`)).blocks
      } catch {}
      for (const b of got) {
        if (stopReason !== null || b.height !== next) break
        out(blockLine(b, plan.meters))
        blocks++
        byStatus[b.status] = (byStatus[b.status] ?? 0) + 1
        led[b.primary] = (led[b.primary] ?? 0) + 1
        next++
        lastNews = Date.now()
        if (plan.rounds !== null && blocks >= plan.rounds) stop({ kind: 'rounds' })
      }
      if (stopReason === null && Date.now() - lastNews > quietMs) {
        lastNews = Date.now()
        const s = await getJson<{ height: number; view: number; primary: string | null; peers: string[] }>(`${api}/status`).catch(
          () => null
        )
        const state = s
          ? `cn-1 at height ${s.height}, view ${s.view}, primary ${s.primary ?? 'none'}, peers ${s.peers.join(' ') || 'none'}`
          : "cn-1's API is not answering"
        out(`no new block for ${Math.round(quietMs / 1000)} s (${state}); logs in ${shown(logsDir)}`)
      }
      await pause()
    }
  } finally {
    // Whatever happened (a stop, a death, an exception), no child outlives this command; a signal
    // while they stop kills them at once (onSignal).
    reportDeaths()
    const running = supervisor.running().length
    if (running > 0) {
      out(`stopping ${running} process${running === 1 ? '' : 'es'} …`)
      await supervisor.stopAll(STOP_GRACE_MS)
    }
    for (const s of signals) process.off(s, onSignal)
    supervisor.dispose()
    // (onOutputError stays: the summary may still meet the closed pipe.)
  }
  return summarize()

  /** Name each child that died (once), with the end of its log, on stderr. */
  function reportDeaths(): void {
    for (const c of died) {
      if (reported.has(c)) continue
      reported.add(c)
      err(`${c.name} (pid ${c.pid}) died: ${describeExit(c.exit)}; last lines of ${shown(c.logPath)}:`)
      const tail = tailOf(c.logPath, TAIL_LINES)
      err(tail === '' ? '  (empty log)' : tail.replace(/^/gm, '  | '))
    }
  }

  function summarize(): number {
    const rounds = (plan as Plan).rounds
    const reason = stopReason as StopReason | null
    reportDeaths()
    // After our SIGTERM: a non-zero exit is a failed shutdown (an error); needing SIGKILL is only
    // slow (something kept that process alive past the grace period), worth a word, not a failure.
    const failed = supervisor.children.filter(
      (c) => !died.includes(c) && !c.killed && c.exit !== null && c.exit.code !== null && c.exit.code !== 0
    )
    const slow = supervisor.children.filter((c) => !died.includes(c) && c.killed)
    const why =
      reason === null
        ? 'stopped'
        : reason.kind === 'signal'
          ? `stopped by ${reason.signal}`
          : reason.kind === 'rounds'
            ? `stopped after ${rounds} round${rounds === 1 ? '' : 's'}`
            : `stopped because ${reason.child.name} died`
    const secs = ((Date.now() - startedAt) / 1000).toFixed(1)
    const notes = [
      ...died.map((c) => `${c.name} died (${describeExit(c.exit)})`),
      ...failed.map((c) => `${c.name} failed to shut down (${describeExit(c.exit)})`),
      ...slow.map((c) => `${c.name} needed SIGKILL after ${STOP_GRACE_MS / 1000} s`)
    ]
    const procs = notes.length > 0 ? notes.join(', ') : `all ${supervisor.children.length} processes stopped cleanly`
    const statuses = Object.entries(byStatus)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')
    out(`${why} (${secs} s): ${blocks} block${blocks === 1 ? '' : 's'}${blocks > 0 ? ` (${statuses})` : ''}; ${procs}`)
    if (blocks > 0) out(leaderHistogram(led, blocks))
    return died.length > 0 || failed.length > 0 ? 1 : 0
  }
}
