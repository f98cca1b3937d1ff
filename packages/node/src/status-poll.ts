/**
 * The fallback check for being behind while gossip is quiet (PROTOCOL 4.6), and for a height with
 * work that stalls. A healthy peer learns of new heights from gossip; this poll asks every peer
 * for its status only when nothing was stored for two periods, and then fetches from any peer
 * ahead of it, even by one block (a view change at a height that some honest peers have already
 * decided cannot gather a quorum: they have moved on, so fetching that block is the only way).
 *
 * It polls only when there is something to do. While work waits (an aggregate handed off that no
 * stored block holds) it polls every two periods (at least 2 s), as before. On an idle network
 * (no work, nothing stored) there is nothing to decide: each poll that finds nobody ahead doubles
 * the wait, up to `maxIdleMs`, instead of asking every peer every two periods for ever (measured:
 * most of an idle peer's CPU with 1 s slots, docs/performance.md). A hand-off or a stored block
 * starts it again from two periods; a peer that missed blocks while idle also hears of them from
 * the next height's gossip (PROTOCOL 4.6).
 */
import type { PeerActivity, StallContext } from './peer-activity.ts'

export interface StatusPollOptions {
  periodMs: number
  /** The longest wait between two polls of an idle network (default max(60 s, two periods)). */
  maxIdleMs?: number
}

export interface StatusPollModules {
  activity: Pick<PeerActivity, 'lastStoredAt' | 'hasWork' | 'checkStall' | 'onProgress'>
  /** Catch up from the most advanced peer; resolves with whether a block was stored. */
  sync: (why: string) => Promise<boolean>
  stallContext: () => StallContext
  /** The clock and the timer (Date.now, setTimeout and clearTimeout unless a test gives its own). */
  now?: () => number
  setTimer?: (f: () => void, ms: number) => unknown
  clearTimer?: (timer: unknown) => void
}

export class StatusPoll {
  private readonly baseMs: number
  private readonly staleMs: number
  private readonly maxIdleMs: number
  private readonly m: StatusPollModules
  private readonly now: () => number
  private readonly setTimer: (f: () => void, ms: number) => unknown
  private readonly clearTimer: (timer: unknown) => void
  private timer: unknown
  /** When the timer fires next (ms on `now`'s clock). */
  private dueAt = 0
  private idleMs: number
  private stopped = true
  /** Polls made so far (for tests and metrics). */
  polls = 0

  constructor(options: StatusPollOptions, modules: StatusPollModules) {
    this.baseMs = Math.max(2000, 2 * options.periodMs)
    this.staleMs = 2 * options.periodMs
    this.maxIdleMs = Math.max(options.maxIdleMs ?? 60_000, this.baseMs)
    this.idleMs = this.baseMs
    this.m = modules
    this.now = modules.now ?? Date.now
    this.setTimer = modules.setTimer ?? ((f, ms) => setTimeout(f, ms))
    this.clearTimer = modules.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>))
    modules.activity.onProgress(() => this.nudge())
  }

  start(): void {
    this.stopped = false
    this.schedule(this.baseMs)
  }

  stop(): void {
    this.stopped = true
    this.clearTimer(this.timer)
    this.timer = undefined
  }

  /** Work arrived or a block was stored: back to the short interval. */
  nudge(): void {
    this.idleMs = this.baseMs
    if (!this.stopped && this.dueAt - this.now() > this.baseMs) this.schedule(this.baseMs)
  }

  /** One poll; returns the wait until the next. Public for tests. */
  async tick(): Promise<number> {
    const { activity } = this.m
    const now = this.now()
    if (activity.hasWork()) activity.checkStall(now, this.m.stallContext)
    if (now - activity.lastStoredAt < this.staleMs) return this.baseMs
    this.polls++
    const progressed = await this.m.sync('status poll').catch(() => false)
    if (progressed || activity.hasWork()) {
      this.idleMs = this.baseMs
      return this.baseMs
    }
    const wait = this.idleMs
    this.idleMs = Math.min(this.maxIdleMs, 2 * this.idleMs)
    return wait
  }

  private schedule(ms: number): void {
    this.clearTimer(this.timer)
    this.dueAt = this.now() + ms
    this.timer = this.setTimer(() => {
      this.timer = undefined
      this.dueAt = Number.POSITIVE_INFINITY
      // A poll that throws (it should not: sync's failures are caught) must not end the polling.
      void this.tick()
        .catch(() => this.baseMs)
        .then((next) => {
          if (!this.stopped && this.timer === undefined) this.schedule(next)
        })
    }, ms)
  }
}
