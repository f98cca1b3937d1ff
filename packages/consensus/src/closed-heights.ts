/**
 * Heights this replica decided, kept for their grace period (PROTOCOL 4.4): votes that arrive
 * after the decision still count as evidence until then, and then the height's observations
 * leave as one effect.
 */
import type { ReplicaContext } from './context.ts'
import type { HeightState } from './height.ts'
import type { VoteMessage } from './messages.ts'
import { observe } from './observations.ts'

/** A height whose grace timer never came (heights faster than the grace) is dropped this far behind. */
const MAX_CLOSED_BEHIND = 64

export class ClosedHeights {
  private readonly ctx: ReplicaContext
  private readonly byHeight = new Map<number, HeightState>()

  constructor(ctx: ReplicaContext) {
    this.ctx = ctx
  }

  /** `hs` was just decided: keep it, and arm its grace timer. */
  close(hs: HeightState): void {
    this.byHeight.set(hs.height, hs)
    for (const h of this.byHeight.keys()) if (h + MAX_CLOSED_BEHIND < hs.height) this.byHeight.delete(h)
    this.ctx.out.timer({ kind: 'grace', height: hs.height }, this.ctx.config.timing.graceMs)
  }

  /** A vote for a decided height, still within its grace period: evidence for the observations. */
  lateVote(msg: VoteMessage, now: number): void {
    const hs = this.byHeight.get(msg.height)
    if (!hs || msg.node === this.ctx.config.me) return
    hs.votes.add(msg.kind, msg.view, msg.digest, msg.node, { signature: msg.signature, verified: false, at: now })
  }

  /** The grace period of `height` is over: its observations (observations.ts). */
  finish(height: number): void {
    const hs = this.byHeight.get(height)
    if (!hs) return
    this.byHeight.delete(height)
    // Votes that came after the decision were never checked: check each (phase, digest) set's
    // rest as one aggregate now (PROTOCOL 4.3).
    hs.votes.verifyView(hs.decidedView)
    const wrong = [...hs.evidence.wrong]
    const primaries = Array.from({ length: hs.decidedView }, (_, v) => hs.election.primaryOf(v))
    const { config, m, out } = this.ctx
    out.push({ type: 'observations', height: hs.height, items: observe(hs, config.me, m, wrong, primaries) })
  }
}
