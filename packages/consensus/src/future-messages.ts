/**
 * Messages for heights this replica has not reached yet, kept (bounded) until it gets there, and
 * the signs in them that it is behind and should catch up.
 */
import type { ConsensusMessage } from './messages.ts'

/** Messages further ahead than this are not kept: the replica is behind. */
const MAX_FUTURE_HEIGHTS = 3
const MAX_BUFFERED_PER_HEIGHT = 1024

export class FutureMessages {
  private readonly byHeight = new Map<number, ConsensusMessage[]>()
  private readonly senders = new Map<number, Set<number>>()

  /** Keep `msg`, of a height after `current`; true if it shows this replica is behind. */
  add(msg: ConsensusMessage, current: number, f: number): boolean {
    if (msg.height > current + MAX_FUTURE_HEIGHTS) return true
    // A proposal for the next height carries the commit certificate of this one: this height is
    // decided elsewhere (maybe by peers whose view change we would otherwise wait for in vain).
    let behind = (msg.kind === 'preprepare' || msg.kind === 'newview') && msg.height === current + 1
    const list = this.byHeight.get(msg.height) ?? []
    if (list.length >= MAX_BUFFERED_PER_HEIGHT) return behind
    list.push(msg)
    this.byHeight.set(msg.height, list)
    // A draw carried in a COMMIT of the current height is for the next one by design: its
    // sender is not ahead.
    if (msg.kind !== 'theta' && !(msg.kind === 'draw' && msg.carried)) {
      const senders = this.senders.get(msg.height) ?? new Set<number>()
      senders.add(msg.node)
      this.senders.set(msg.height, senders)
      // f+1 distinct nodes already work on a later height: at least one honest node got there.
      if (senders.size > f) behind = true
    }
    return behind
  }

  /** The messages kept for `height`, now that the replica works on it. */
  take(height: number): ConsensusMessage[] {
    const list = this.byHeight.get(height) ?? []
    this.byHeight.delete(height)
    this.senders.delete(height)
    return list
  }
}
