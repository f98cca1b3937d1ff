/**
 * The devnet's last words: why it stopped, the blocks shown by status, how each process ended,
 * who led the blocks, and the exit code (1 if a process died or failed to shut down).
 */
import { describeExit } from '../supervisor.ts'
import type { BlockTally } from './live-view.ts'
import { out, type RunControl, STOP_GRACE_MS } from './run-control.ts'

/** Who led the blocks shown, as a histogram (issue 9: fairness seen on a live network). */
export function leaderHistogram(led: Record<string, number>, blocks: number): string {
  const ids = Object.keys(led).sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)))
  const width = Math.max(...ids.map((id) => id.length))
  const rows = ids.map((id) => `  ${id.padEnd(width)} ${'#'.repeat(Math.round((40 * led[id]) / blocks)).padEnd(40)} ${led[id]}`)
  return ['leaders of these blocks:', ...rows].join('\n')
}

function stopText(control: RunControl, rounds: number | null): string {
  const reason = control.stopReason
  if (reason === null) return 'stopped'
  if (reason.kind === 'signal') return `stopped by ${reason.signal}`
  if (reason.kind === 'rounds') return `stopped after ${rounds} round${rounds === 1 ? '' : 's'}`
  return `stopped because ${reason.child.name} died`
}

/** Print the summary; returns the command's exit code. */
export function summarize(control: RunControl, tally: BlockTally, rounds: number | null, startedAt: number): number {
  const { died, supervisor } = control
  control.reportDeaths()
  // After our SIGTERM: a non-zero exit is a failed shutdown (an error); needing SIGKILL is only
  // slow (something kept that process alive past the grace period), worth a word, not a failure.
  const failed = supervisor.children.filter(
    (c) => !died.includes(c) && !c.killed && c.exit !== null && c.exit.code !== null && c.exit.code !== 0
  )
  const slow = supervisor.children.filter((c) => !died.includes(c) && c.killed)
  const secs = ((Date.now() - startedAt) / 1000).toFixed(1)
  const notes = [
    ...died.map((c) => `${c.name} died (${describeExit(c.exit)})`),
    ...failed.map((c) => `${c.name} failed to shut down (${describeExit(c.exit)})`),
    ...slow.map((c) => `${c.name} needed SIGKILL after ${STOP_GRACE_MS / 1000} s`)
  ]
  const procs = notes.length > 0 ? notes.join(', ') : `all ${supervisor.children.length} processes stopped cleanly`
  const { blocks, byStatus, led } = tally
  const statuses = Object.entries(byStatus)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ')
  out(`${stopText(control, rounds)} (${secs} s): ${blocks} block${blocks === 1 ? '' : 's'}${blocks > 0 ? ` (${statuses})` : ''}; ${procs}`)
  if (blocks > 0) out(leaderHistogram(led, blocks))
  return died.length > 0 || failed.length > 0 ? 1 : 0
}
