/**
 * The devnet's child processes: each `bin/bbnp start …` runs with its stdout and stderr going
 * straight to its own log file (the child writes it, so a log survives whatever happens to the
 * launcher). The supervisor knows which children still run, reports a child that exits on its
 * own, and stops them all: SIGTERM, then SIGKILL after a grace period. A synchronous SIGKILL of
 * whatever is left runs when the launcher process exits, so no child outlives it by accident.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'

export interface Child {
  name: string
  pid: number
  logPath: string
  child: ChildProcess
  /** Set when the process has exited: its code, or the signal that ended it. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null
  /** Whether the supervisor asked it to stop (an exit after that is not a death). */
  stopRequested: boolean
  /** Whether it had to be killed with SIGKILL after the grace period. */
  killed: boolean
  exited: Promise<void>
}

export function describeExit(exit: Child['exit']): string {
  if (!exit) return 'still running'
  if (exit.signal) return `killed by ${exit.signal}`
  return `exit code ${exit.code}`
}

export class Supervisor {
  readonly children: Child[] = []
  private readonly onUnexpectedExit: (c: Child) => void
  private readonly killLeftovers = () => this.killAllNow()

  constructor(onUnexpectedExit: (c: Child) => void) {
    this.onUnexpectedExit = onUnexpectedExit
    process.on('exit', this.killLeftovers)
  }

  /** Start `command args…` as `name`, truncating its log file. */
  spawn(name: string, command: string, args: string[], logPath: string): Child {
    const fd = openSync(logPath, 'w')
    let child: ChildProcess
    try {
      // BBNP_PARENT_PID: a child exits by itself if this devnet dies without stopping it.
      child = spawn(command, args, { stdio: ['ignore', fd, fd], env: { ...process.env, BBNP_PARENT_PID: String(process.pid) } })
    } finally {
      closeSync(fd)
    }
    if (child.pid === undefined) throw new Error(`cannot start ${name} (${command})`)
    let resolveExited: () => void = () => {}
    const c: Child = {
      name,
      pid: child.pid,
      logPath,
      child,
      exit: null,
      stopRequested: false,
      killed: false,
      exited: new Promise<void>((r) => {
        resolveExited = r
      })
    }
    child.once('exit', (code, signal) => {
      c.exit = { code, signal }
      resolveExited()
      if (!c.stopRequested) this.onUnexpectedExit(c)
    })
    // A spawn failure after the pid was assigned still ends in 'exit'; keep 'error' from throwing.
    child.on('error', () => {})
    this.children.push(c)
    return c
  }

  running(): Child[] {
    return this.children.filter((c) => c.exit === null)
  }

  /** SIGTERM every running child, SIGKILL those still running after `graceMs`, and wait for all. */
  async stopAll(graceMs: number): Promise<void> {
    const left = this.running()
    for (const c of left) {
      c.stopRequested = true
      c.child.kill('SIGTERM')
    }
    const timer = setTimeout(() => this.killAllNow(), graceMs)
    await Promise.all(left.map((c) => c.exited))
    clearTimeout(timer)
  }

  /** SIGKILL whatever still runs (the second Ctrl-C, the grace period's end, the launcher's exit). */
  killAllNow(): void {
    for (const c of this.running()) {
      c.stopRequested = true
      c.killed = true
      try {
        c.child.kill('SIGKILL')
      } catch {}
    }
  }

  dispose(): void {
    process.off('exit', this.killLeftovers)
  }
}

/** The last `lines` lines of a log file ('' when it cannot be read). */
export function tailOf(path: string, lines: number): string {
  try {
    const text = readFileSync(path, 'utf8').trimEnd()
    return text.split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}
