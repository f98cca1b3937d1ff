/**
 * The devnet's roles, each its own `bin/bbnp start` process (logs in DIR/logs/<process>.log):
 * every consensus peer, the gateway and the meter processes, then the roster on stdout.
 */
import { consensusId } from '@bbnp/core'
import { join, sep } from 'node:path'
import { BBNP_BIN } from '../bin-path.ts'
import type { Supervisor } from '../supervisor.ts'
import { API_PORT_OFFSET } from '@bbnp/node'
import { type DevnetDirs, HOST, meterRanges, type Plan, shown } from './plan.ts'
import { out } from './run-control.ts'

/** Start every role and print where each listens; `chainId` seeds the meters' drops. */
export function startProcesses(plan: Plan, dirs: DevnetDirs, supervisor: Supervisor, chainId: string, readingsShown: string): void {
  const { netDir, logsDir } = dirs
  const spawn = (name: string, args: string[]) => supervisor.spawn(name, BBNP_BIN, args, { output: { file: join(logsDir, `${name}.log`) } })
  const startArgs = (role: string, id: string) => ['start', '--role', role, '--config', netDir, '--id', id]
  const row = (name: string, pid: number, where: string) => `  ${name.padEnd(9)} pid ${String(pid).padEnd(7)} ${where}`
  const listens = (p2p: number) => `p2p ${HOST}:${p2p}  api http://${HOST}:${p2p + API_PORT_OFFSET}`
  const rows: string[] = []
  for (let j = 1; j <= plan.consensus; j++) {
    const c = spawn(consensusId(j), startArgs('consensus', consensusId(j)))
    rows.push(row(c.name, c.pid, listens(plan.basePort + j)))
  }
  const gw = spawn('gateway', startArgs('gateway', 'gateway'))
  rows.push(row(gw.name, gw.pid, listens(plan.basePort)))
  meterRanges(plan.meters, plan.meterProcs).forEach((ids, p) => {
    const args = [
      ...startArgs('meter', ids),
      ...(plan.readings ? ['--readings', plan.readings] : []),
      ...(plan.dropRate > 0 ? ['--drop-rate', String(plan.dropRate)] : [])
    ]
    const c = spawn(`meters-${p + 1}`, args)
    rows.push(row(c.name, c.pid, ids))
  })

  out(
    `devnet: ${plan.consensus} consensus peers, 1 gateway, ${plan.meters} meters in ${plan.meterProcs} process${plan.meterProcs === 1 ? '' : 'es'}, ${plan.periodMs} ms slots`
  )
  for (const r of rows) out(r)
  out(`  readings  ${readingsShown}`)
  if (plan.dropRate > 0)
    out(`  drops     each meter drops a report with probability ${plan.dropRate} (seeded by the chain ${chainId}: the same on a replay)`)
  out(`  logs      ${shown(logsDir)}${sep}<process>.log`)
  out(plan.rounds === null ? 'Ctrl-C to stop' : `stopping after ${plan.rounds} block${plan.rounds === 1 ? '' : 's'} (or Ctrl-C)`)
}
