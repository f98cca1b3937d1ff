/**
 * What ends a `bbnp devnet` run and who stops its children: the first signal (or a reader that
 * went away) stops the run gently, a second one kills the children at once; a child that exits on
 * its own is a death that stops the run too. Every child is stopped before the command returns.
 */
import { describeExit, type SupervisedChild, Supervisor, tailOf } from '../supervisor.ts'
import { shown } from './plan.ts'

/** SIGTERM, then SIGKILL whatever still runs after this long. */
export const STOP_GRACE_MS = 5000
/** Lines of a dead process's log to show. */
const TAIL_LINES = 15
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

export const out = (line: string) => process.stdout.write(`${line}\n`)
const err = (line: string) => process.stderr.write(`${line}\n`)

export type StopReason = { kind: 'signal'; signal: NodeJS.Signals } | { kind: 'rounds' } | { kind: 'died'; child: SupervisedChild }

export class RunControl {
  readonly supervisor: Supervisor
  /** Children that exited on their own, in the order they did. */
  readonly died: SupervisedChild[] = []
  /** Resolves with the first reason to stop. */
  readonly stopped: Promise<StopReason>
  private reason: StopReason | null = null
  private resolveStopped: (r: StopReason) => void = () => {}
  private readonly reported = new Set<SupervisedChild>()
  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.reason === null) {
      if (process.stdout.isTTY) process.stdout.write('\n') // past the terminal's "^C"
      this.stop({ kind: 'signal', signal })
    } else if (this.supervisor.running().length > 0) {
      out(`${signal} again: killing ${this.supervisor.running().length} processes`)
      this.supervisor.killAllNow()
    }
  }

  /** From here on a signal stops the devnet (the first one gently, a second one with SIGKILL). */
  constructor() {
    this.stopped = new Promise<StopReason>((r) => {
      this.resolveStopped = r
    })
    this.supervisor = new Supervisor({ stopWithLauncher: true, onUnexpectedExit: (c) => this.onExit(c) })
    for (const s of SIGNALS) process.on(s, this.onSignal)
    // A reader that went away (`bbnp devnet | head`) stops the devnet like a signal would.
    // (This listener stays: the summary may still meet the closed pipe.)
    process.stdout.on('error', () => this.stop({ kind: 'signal', signal: 'SIGPIPE' }))
  }

  /** Why the run stops, or null while it goes on. */
  get stopReason(): StopReason | null {
    return this.reason
  }

  stop(r: StopReason): void {
    if (this.reason !== null) return
    this.reason = r
    this.resolveStopped(r)
  }

  /**
   * Whatever happened (a stop, a death, an exception), no child outlives the command; a signal
   * while they stop kills them at once (onSignal).
   */
  async shutdown(): Promise<void> {
    this.reportDeaths()
    const running = this.supervisor.running().length
    if (running > 0) {
      out(`stopping ${running} process${running === 1 ? '' : 'es'} …`)
      await this.supervisor.stopAll(STOP_GRACE_MS)
    }
    for (const s of SIGNALS) process.off(s, this.onSignal)
    this.supervisor.dispose()
  }

  /** Name each child that died (once), with the end of its log, on stderr. */
  reportDeaths(): void {
    for (const c of this.died) {
      if (this.reported.has(c)) continue
      this.reported.add(c)
      err(`${c.name} (pid ${c.pid}) died: ${describeExit(c.exit)}; last lines of ${shown(c.logPath ?? '')}:`)
      const tail = tailOf(c.logPath, TAIL_LINES)
      err(tail === '' ? '  (empty log)' : tail.replace(/^/gm, '  | '))
    }
  }

  private onExit(c: SupervisedChild): void {
    const verdict = () => {
      // A child ended by the terminal's Ctrl-C (it shares our process group) exits 0 on its own;
      // that is the user stopping the devnet, not a death.
      if (this.reason?.kind === 'signal') return
      this.died.push(c)
      this.stop({ kind: 'died', child: c })
    }
    if (c.exit?.code === 0 || c.exit?.signal === 'SIGINT') setTimeout(verdict, 500)
    else verdict()
  }
}
