/**
 * The gateway's hand-off of signed aggregates to the consensus peers (PROTOCOL 3.4), at least
 * once and until a block holds them: every closed slot is written to the gateway's store first,
 * then sent to every connected consensus peer; a peer answers with where its chain is and whether
 * a block already holds that slot (protocols.ts, HandoffAck). An aggregate leaves the store only
 * when a block holds it, or when the chain has moved past its slot without it: then it is given
 * up, with a warning and a count, never silently. So a sum the gateway finished survives a restart
 * of the gateway, of the peers, or of both.
 */
import type { Logger, MetricsRegistry } from '@bbnp/core'
import type { GatewayStore } from '@bbnp/chain'
import type { SignedAggregate } from '@bbnp/consensus'
import type { HandoffAck } from './protocols.ts'

/** Aggregates sent per peer per flush (the replica keeps the 64 lowest waiting slots). */
const MAX_PER_FLUSH = 32

interface Pending {
  aggregate: SignedAggregate
  /** peer -> when it last acknowledged this aggregate */
  deliveredTo: Map<string, number>
}

export interface HandoffOptions {
  store: GatewayStore
  /** A delivered aggregate not yet in a block is sent to that peer again after this long. */
  resendMs: number
}

export interface HandoffModules {
  send: (peer: string, aggregate: SignedAggregate) => Promise<HandoffAck>
  /** Consensus peers connected now. */
  peers: () => string[]
  nameOf: (peer: string) => string
  logger: Logger
  metrics: MetricsRegistry
  now?: () => number
}

export class AggregateHandoff {
  private readonly store: GatewayStore
  private readonly resendMs: number
  private readonly m: HandoffModules
  private readonly pending = new Map<number, Pending>()
  private readonly now: () => number
  /** The newest slot a block covers, as the peers said (-1: none known). */
  private head = -1
  private flushing: Promise<void> | null = null
  private again = false
  private readonly sent
  private readonly givenUp

  constructor(opts: HandoffOptions, modules: HandoffModules) {
    this.store = opts.store
    this.resendMs = opts.resendMs
    this.m = modules
    this.now = modules.now ?? Date.now
    this.sent = modules.metrics.counter('bbnp_handoffs_total', 'Aggregate hand-offs to consensus peers, by result', {
      labels: { result: ['ok', 'failed'] }
    })
    this.givenUp = modules.metrics.counter('bbnp_slots_given_up_total', 'Closed slots no block will hold, by reason', {
      labels: { reason: ['passed'] }
    })
  }

  /** Take up what an earlier run left in the store. */
  async load(): Promise<number> {
    for (const a of await this.store.pending()) this.pending.set(a.slot, { aggregate: a, deliveredTo: new Map() })
    return this.pending.size
  }

  /** The newest slot any peer said a block covers (-1 when none said so yet). */
  get headSlot(): number {
    return this.head
  }

  pendingSlots(): number[] {
    return [...this.pending.keys()].sort((a, b) => a - b)
  }

  /** Record a closed slot's aggregate (on disk before anything is sent), then hand it off. */
  async add(a: SignedAggregate): Promise<void> {
    await this.store.recordClosed(a)
    this.pending.set(a.slot, { aggregate: a, deliveredTo: new Map() })
    void this.flush()
  }

  /** A peer (re)connected: whatever it had in memory may be gone, so it gets everything again. */
  onConnect(peer: string): void {
    for (const p of this.pending.values()) p.deliveredTo.delete(peer)
    void this.flush()
  }

  /** Send what is due to every connected peer; one flush at a time (a call meanwhile runs once more after it). */
  flush(): Promise<void> {
    if (this.flushing) {
      this.again = true
      return this.flushing
    }
    this.flushing = (async () => {
      do {
        this.again = false
        await Promise.all(this.m.peers().map((peer) => this.flushTo(peer)))
      } while (this.again)
    })().finally(() => {
      this.flushing = null
    })
    return this.flushing
  }

  private async flushTo(peer: string): Promise<void> {
    const due = this.pendingSlots()
      .map((s) => this.pending.get(s)!)
      .filter((p) => {
        const at = p.deliveredTo.get(peer)
        // Sent again when the chain went past its slot: the answer says whether a block holds it.
        return at === undefined || this.now() - at >= this.resendMs || this.head >= p.aggregate.slot
      })
      .slice(0, MAX_PER_FLUSH)
    for (const p of due) {
      if (!this.pending.has(p.aggregate.slot)) continue
      let ack: HandoffAck
      try {
        ack = await this.m.send(peer, p.aggregate)
      } catch (e) {
        this.sent.inc({ result: 'failed' })
        this.m.logger.debug('hand-off failed', { peer: this.m.nameOf(peer), slot: p.aggregate.slot, error: (e as Error).message })
        return
      }
      this.sent.inc({ result: 'ok' })
      p.deliveredTo.set(peer, this.now())
      this.head = Math.max(this.head, ack.headSlot)
      if (ack.held) await this.settle(p, null)
      else if (ack.headSlot >= p.aggregate.slot) await this.settle(p, 'passed')
    }
  }

  private async settle(p: Pending, givenUp: 'passed' | null): Promise<void> {
    const a = p.aggregate
    if (!this.pending.delete(a.slot)) return
    if (givenUp) {
      this.givenUp.inc({ reason: givenUp })
      this.m.logger.warn('slot given up: the chain moved past it without its block', { slot: a.slot, status: a.status, chainAt: this.head })
    }
    await this.store.settle([a.slot])
  }
}
