/**
 * Slot timing (PROTOCOL 2): t = floor((unix_ms - genesis_ms) / period_ms). `every` calls a
 * function once per slot at a fixed offset into it, re-computing each deadline from the genesis
 * so timers never drift, and never fires the same slot twice.
 */
export interface SlotTiming {
  genesisTimeMs: number
  periodMs: number
}

export class SlotClock {
  private readonly timing: SlotTiming
  private readonly now: () => number
  private readonly timers = new Set<NodeJS.Timeout>()
  private stopped = false

  constructor(timing: SlotTiming, now: () => number = Date.now) {
    this.timing = timing
    this.now = now
  }

  slotAt(ms: number): number {
    return Math.floor((ms - this.timing.genesisTimeMs) / this.timing.periodMs)
  }

  currentSlot(): number {
    return this.slotAt(this.now())
  }

  startOf(slot: number): number {
    return this.timing.genesisTimeMs + slot * this.timing.periodMs
  }

  /**
   * Run `fn(slot)` at startOf(slot) + offsetMs for every slot from the next due one on. A slot
   * whose moment has passed while `fn` ran is skipped, not run late in a burst.
   */
  every(offsetMs: number, fn: (slot: number) => void | Promise<void>): void {
    let next = this.slotAt(this.now() - offsetMs) + 1
    const schedule = () => {
      if (this.stopped) return
      const delay = Math.max(0, this.startOf(next) + offsetMs - this.now())
      const t = setTimeout(async () => {
        this.timers.delete(t)
        if (this.stopped) return
        const slot = next
        next = Math.max(next + 1, this.slotAt(this.now() - offsetMs) + 1)
        try {
          await fn(slot)
        } finally {
          schedule()
        }
      }, delay)
      this.timers.add(t)
    }
    schedule()
  }

  stop(): void {
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }
}
