/**
 * The one process supervisor (STYLE "Declare once"): `bbnp devnet`, the consensus benchmark and
 * the e2e harness start their `bin/bbnp` children through it. A child is spawned under a name
 * with its stdout and stderr going to a log file (written by the child itself, so the log
 * survives whatever happens to the launcher) or piped into a stream; the supervisor knows which
 * children still run, reports a child that exits without being asked to, stops one or all
 * (a signal, SIGTERM by default, then SIGKILL after a grace period), and exposes each child's exit.
 * A synchronous SIGKILL of whatever is left runs when the launching process exits, so no child
 * outlives it by accident.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import type { Writable } from 'node:stream'

/** How a child ended: its exit code, or the signal that ended it. */
export interface ChildExit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface SupervisedChild {
  readonly name: string
  readonly pid: number
  readonly command: string
  readonly args: string[]
  /** The log file the child writes, or null when its output goes to a stream. */
  readonly logPath: string | null
  readonly child: ChildProcess
  /** Set when the process has exited. */
  exit: ChildExit | null
  /** Whether the supervisor was asked to stop it (an exit after that is not a death). */
  stopRequested: boolean
  /** Whether it had to be killed with SIGKILL after the grace period (or at once, by killAllNow). */
  killed: boolean
  /** Resolves with the exit once the process has exited. */
  readonly exited: Promise<ChildExit>
}

export interface SpawnOptions {
  /**
   * Where stdout and stderr go: a file the child writes itself (truncated unless `append`), or a
   * stream this process pipes both into (and ends when both have closed).
   */
  output: { file: string; append?: boolean } | { stream: Writable }
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv
}

export interface SupervisorOptions {
  /** Called when a child exits without the supervisor having been asked to stop it. */
  onUnexpectedExit?: (c: SupervisedChild) => void
  /**
   * Give every child BBNP_PARENT_PID (`bbnp start` watches it): a child then stops by itself
   * within a second if this process dies without stopping it (kill -9).
   */
  stopWithLauncher?: boolean
}

export function describeExit(exit: ChildExit | null): string {
  if (!exit) return 'still running'
  if (exit.signal) return `killed by ${exit.signal}`
  return `exit code ${exit.code}`
}

export class Supervisor {
  /** Every child started, in order, including those that have exited. */
  readonly children: SupervisedChild[] = []
  private readonly options: SupervisorOptions
  private readonly killLeftovers = () => this.killAllNow()

  constructor(options: SupervisorOptions = {}) {
    this.options = options
    process.on('exit', this.killLeftovers)
  }

  /** Start `command args…` as `name`. Throws when the process cannot be started. */
  spawn(name: string, command: string, args: string[], options: SpawnOptions): SupervisedChild {
    const env = { ...process.env, ...options.env, ...(this.options.stopWithLauncher ? { BBNP_PARENT_PID: String(process.pid) } : {}) }
    const output = options.output
    let child: ChildProcess
    if ('file' in output) {
      const fd = openSync(output.file, output.append ? 'a' : 'w')
      try {
        child = spawn(command, args, { stdio: ['ignore', fd, fd], env })
      } finally {
        closeSync(fd)
      }
    } else {
      child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
      // The stream ends once both pipes have closed: ended by the first, the other's last lines
      // would be written after its end.
      const stream = output.stream
      child.stdout?.pipe(stream, { end: false })
      child.stderr?.pipe(stream, { end: false })
      child.once('close', () => stream.end())
    }
    // A failure to start is the throw below (or, once a pid was assigned, an 'exit'); keep 'error' from throwing.
    child.on('error', () => {})
    if (child.pid === undefined) throw new Error(`cannot start ${name} (${command})`)
    let resolveExited: (exit: ChildExit) => void = () => {}
    const c: SupervisedChild = {
      name,
      pid: child.pid,
      command,
      args,
      logPath: 'file' in output ? output.file : null,
      child,
      exit: null,
      stopRequested: false,
      killed: false,
      exited: new Promise<ChildExit>((r) => {
        resolveExited = r
      })
    }
    child.once('exit', (code, signal) => {
      c.exit = { code, signal }
      resolveExited(c.exit)
      if (!c.stopRequested) this.options.onUnexpectedExit?.(c)
    })
    this.children.push(c)
    return c
  }

  running(): SupervisedChild[] {
    return this.children.filter((c) => c.exit === null)
  }

  /** Send `signal` to `c` (unless it has exited), SIGKILL it if it still runs after `graceMs`, and wait for its exit. */
  async stop(c: SupervisedChild, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<ChildExit> {
    if (c.exit !== null) return c.exit
    c.stopRequested = true
    c.child.kill(signal)
    const timer = setTimeout(() => this.kill(c), graceMs)
    const exit = await c.exited
    clearTimeout(timer)
    return exit
  }

  /** Stop every running child as `stop` does, all at once, and wait for all. */
  async stopAll(graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await Promise.all(this.running().map((c) => this.stop(c, graceMs, signal)))
  }

  /** SIGKILL whatever still runs (a second Ctrl-C, the launcher's exit). */
  killAllNow(): void {
    for (const c of this.running()) this.kill(c)
  }

  /**
   * On SIGINT or SIGTERM: `notice`, then stop every child within `graceMs` (at once with SIGKILL
   * when it is 0) and exit with code 130. Returns what removes these handlers again.
   */
  exitOnSignals(graceMs: number, notice?: (signal: NodeJS.Signals, running: number) => void): () => void {
    const onSignal = (signal: NodeJS.Signals) => {
      notice?.(signal, this.running().length)
      if (graceMs <= 0) {
        this.killAllNow()
        process.exit(130)
      }
      void this.stopAll(graceMs).finally(() => process.exit(130))
    }
    const signals = ['SIGINT', 'SIGTERM'] as const
    for (const s of signals) process.once(s, onSignal)
    return () => {
      for (const s of signals) process.off(s, onSignal)
    }
  }

  /** Stop watching for the launcher's exit (the children must have been stopped). */
  dispose(): void {
    process.off('exit', this.killLeftovers)
  }

  private kill(c: SupervisedChild): void {
    if (c.exit !== null) return
    c.stopRequested = true
    c.killed = true
    try {
      c.child.kill('SIGKILL')
    } catch {}
  }
}

/** The last `lines` lines of a log file, or `unreadable` when it cannot be read (or there is none). */
export function tailOf(path: string | null, lines: number, unreadable = ''): string {
  if (path === null) return unreadable
  try {
    const text = readFileSync(path, 'utf8').trimEnd()
    return text.split('\n').slice(-lines).join('\n')
  } catch {
    return unreadable
  }
}
