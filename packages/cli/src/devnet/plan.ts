/**
 * What a `bbnp devnet` run will do, settled before anything starts: its flags as a Plan, the
 * checks that turn a bad readings file or a port in use into one usage line instead of a child
 * dying later, and DIR made ready for a fresh network.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'
import { makeDirectory, UsageError } from '@bbnp/core'
import { API_PORT_OFFSET } from '@bbnp/node'
import { intFlag, parseFlags } from '../args.ts'
import { firstTakenPort, type PortUse } from '../ports.ts'

export const HOST = '127.0.0.1'

const MAX_CONSENSUS = 64

export interface Plan {
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

export interface DevnetDirs {
  netDir: string
  logsDir: string
}

/** The plan the flags describe, or null for --help. */
export function parsePlan(argv: string[]): Plan | null {
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
  const basePort = intFlag(values['base-port'], '--base-port', 7100, 1, 65535 - API_PORT_OFFSET - consensus)
  const meterProcs = intFlag(values['meter-procs'], '--meter-procs', Math.min(2, meters), 1, meters)
  if (values.dir === '') throw new UsageError('USAGE', '--dir must not be empty')
  if (values.readings === '') throw new UsageError('USAGE', '--readings must not be empty')
  const readings = values.readings === undefined ? null : resolve(values.readings)
  if (readings !== null && !(existsSync(readings) && statSync(readings).isFile()))
    throw new UsageError('USAGE', `--readings ${readings} is not a file`)
  return { meters, consensus, periodMs, rounds, dir: resolve(values.dir ?? 'devnet'), basePort, meterProcs, readings, dropRate }
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
    { port: plan.basePort + API_PORT_OFFSET, what: "the gateway's API" }
  ]
  for (let j = 1; j <= plan.consensus; j++) {
    uses.push({ port: plan.basePort + j, what: `cn-${j}` })
    uses.push({ port: plan.basePort + j + API_PORT_OFFSET, what: `cn-${j}'s API` })
  }
  return uses
}

/** A bad readings file or a port in use is a usage error now, not a process dying later. */
export async function checkPlan(plan: Plan): Promise<void> {
  if (plan.readings !== null) {
    // Loaded only now, so that --help and a bad flag answer at once.
    const { loadReadings } = await import('@bbnp/aggregation')
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
}

/** A path as the user would type it: relative to the current directory when inside it. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel === '' ? '.' : rel.startsWith('..') || rel.startsWith(sep) ? path : rel
}

/** Make DIR ready for a fresh network, refusing a directory that holds a non-devnet network. */
export function prepareDir(plan: Plan): DevnetDirs {
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
