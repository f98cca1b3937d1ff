/**
 * The devnet's live view: cn-1's API, one line per new block, in order, until the run stops; a
 * word when cn-1 stays silent, so a stalled network does not look like a hung command.
 */
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { type BlockJson, blockLine } from './block-line.ts'
import { API_PORT_OFFSET } from '@bbnp/node'
import { HOST, type Plan, shown } from './plan.ts'
import { out, type RunControl } from './run-control.ts'

/** The live view polls cn-1 this often: it is a UI on loopback, not a test. */
const POLL_MS = 200
const REQUEST_TIMEOUT_MS = 2000

/** The blocks shown: how many, by status, and who led them. */
export interface BlockTally {
  blocks: number
  byStatus: Record<string, number>
  led: Record<string, number>
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}`)
  return (await res.json()) as T
}

/** Follow cn-1 until the run stops, counting the blocks shown into `tally`. */
export async function liveView(plan: Plan, logsDir: string, control: RunControl, tally: BlockTally): Promise<void> {
  const api = `http://${HOST}:${plan.basePort + 1 + API_PORT_OFFSET}`
  const pause = () => Promise.race([delay(POLL_MS), control.stopped])
  const quietMs = Math.max(10_000, 5 * plan.periodMs)
  await waitForApi(api, join(logsDir, 'cn-1.log'), quietMs, control, pause)
  let lastNews = Date.now()
  let next = 1
  while (control.stopReason === null) {
    let got: BlockJson[] = []
    try {
      got = (await getJson<{ blocks: BlockJson[] }>(`${api}/blocks?from=${next}&to=${next + 63}`)).blocks
    } catch {}
    for (const b of got) {
      if (control.stopReason !== null || b.height !== next) break
      out(blockLine(b, plan.meters))
      tally.blocks++
      tally.byStatus[b.status] = (tally.byStatus[b.status] ?? 0) + 1
      tally.led[b.primary] = (tally.led[b.primary] ?? 0) + 1
      next++
      lastNews = Date.now()
      if (plan.rounds !== null && tally.blocks >= plan.rounds) control.stop({ kind: 'rounds' })
    }
    if (control.stopReason === null && Date.now() - lastNews > quietMs) {
      lastNews = Date.now()
      out(`no new block for ${Math.round(quietMs / 1000)} s (${await cn1State(api)}); logs in ${shown(logsDir)}`)
    }
    await pause()
  }
}

/** Wait for cn-1's API to answer, saying so now and then. */
async function waitForApi(api: string, cn1Log: string, quietMs: number, control: RunControl, pause: () => Promise<unknown>): Promise<void> {
  out(`waiting for cn-1's API at ${api} …`)
  let lastNews = Date.now()
  while (control.stopReason === null) {
    try {
      const s = await getJson<{ peers: string[] }>(`${api}/status`)
      out(`cn-1 is up (${s.peers.length} peer${s.peers.length === 1 ? '' : 's'} connected); waiting for the first block …`)
      out(`dashboard: ${api}/ (the control centre's page; every consensus peer serves it)`)
      break
    } catch {}
    if (Date.now() - lastNews > quietMs) {
      out(`cn-1's API is still not answering (see ${shown(cn1Log)})`)
      lastNews = Date.now()
    }
    await pause()
  }
}

async function cn1State(api: string): Promise<string> {
  const s = await getJson<{ height: number; view: number; primary: string | null; peers: string[] }>(`${api}/status`).catch(() => null)
  return s
    ? `cn-1 at height ${s.height}, view ${s.view}, primary ${s.primary ?? 'none'}, peers ${s.peers.join(' ') || 'none'}`
    : "cn-1's API is not answering"
}
