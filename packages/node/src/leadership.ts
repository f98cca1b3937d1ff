/**
 * Fairness on a live network (issue 9): who led the recent blocks. The primaries of the last
 * `window` blocks, kept from the store at start and from every block stored after, give each
 * peer's number of blocks led, the top peer's share and the Gini coefficient of leadership
 * (@bbnp/reputation's leadershipStats), for /reputation, /metrics and `bbnp devnet`.
 */
import { consensusId, type MetricsRegistry } from '@bbnp/core'
import type { BlockStore } from '@bbnp/chain'
import { leadershipStats } from '@bbnp/reputation'

/** Blocks the fairness figures look back over. */
export const LEADERSHIP_WINDOW = 100

export interface LeadershipView {
  window: number
  /** Blocks counted (fewer than `window` on a young chain). */
  blocks: number
  fromHeight: number
  toHeight: number
  led: { id: string; blocks: number }[]
  topShare: number
  gini: number
}

export class LeadershipWindow {
  private readonly nodes: number
  private readonly window: number
  private readonly primaries: { height: number; primary: number }[] = []
  private readonly mLed
  private readonly mTop
  private readonly mGini

  constructor(nodes: number, metrics: MetricsRegistry, window = LEADERSHIP_WINDOW) {
    this.nodes = nodes
    this.window = window
    this.mLed = metrics.gauge('bbnp_leadership_blocks', `Blocks led by each consensus peer among the last ${window}`, {
      labels: { peer: Array.from({ length: nodes }, (_, i) => consensusId(i + 1)) },
      collect: () => this.publish()
    })
    this.mTop = metrics.gauge('bbnp_leadership_top_share_ratio', `The most frequent leader's share of the last ${window} blocks (0..1)`)
    this.mGini = metrics.gauge('bbnp_leadership_gini', `Gini coefficient of leadership over the last ${window} blocks (0: even)`)
  }

  /** Fill from the store's newest blocks. */
  async load(store: BlockStore): Promise<void> {
    const head = store.head().height
    for (let from = Math.max(1, head - this.window + 1); from <= head; from += 64) {
      for (const b of await store.getRange(from, Math.min(head, from + 63))) this.add(b.height, b.block.primary)
    }
  }

  add(height: number, primary: number): void {
    const last = this.primaries.at(-1)
    if (last && height <= last.height) return
    this.primaries.push({ height, primary })
    if (this.primaries.length > this.window) this.primaries.shift()
  }

  view(): LeadershipView {
    const s = leadershipStats(
      this.primaries.map((p) => p.primary),
      this.nodes
    )
    return {
      window: this.window,
      blocks: s.rounds,
      fromHeight: this.primaries[0]?.height ?? 0,
      toHeight: this.primaries.at(-1)?.height ?? 0,
      led: s.led.map((blocks, i) => ({ id: consensusId(i + 1), blocks })),
      topShare: s.topShare,
      gini: s.gini
    }
  }

  private publish(): void {
    const v = this.view()
    for (const { id, blocks } of v.led) this.mLed.set(blocks, { peer: id })
    this.mTop.set(v.topShare)
    this.mGini.set(v.gini)
  }
}
