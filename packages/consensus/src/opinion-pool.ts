/**
 * The signed opinion vectors this replica holds, by height and observer (PROTOCOL 4.4): a primary
 * puts a quorum of one height into its block, and the block's reputation vector is combined from
 * them. Vectors are only decoded on arrival; their signatures are checked in a batch once every
 * node's vector of one height is in, or when a block is about to use them (PROTOCOL 4.3).
 */
import type { BbnpError } from '@bbnp/core'
import type { Block } from './block.ts'
import type { ReplicaContext } from './context.ts'
import type { ChainHead } from './validate.ts'

interface Held {
  encoded: Uint8Array
  /** Its signature was checked (or it is this replica's own). */
  verified: boolean
}

/** How many heights of opinions are kept behind the working height. */
const OPINION_HEIGHTS_KEPT = 16

export class OpinionPool {
  private readonly ctx: ReplicaContext
  private readonly byHeight = new Map<number, Map<number, Held>>()

  constructor(ctx: ReplicaContext) {
    this.ctx = ctx
  }

  /**
   * A signed opinion vector from gossip, or this replica's own (`own`: the runtime just signed it),
   * kept if it may still be used. Only the runtime's word makes a vector this replica's own: one
   * from the network that names this replica as its observer is checked like any other (it may
   * be forged).
   */
  add(encoded: Uint8Array, head: ChainHead, own = false): void {
    const { config, out } = this.ctx
    let opened: { height: number; node: number }
    try {
      opened = config.rules.peekOpinion(encoded)
    } catch (e) {
      const code = (e as BbnpError).code
      return out.reject(null, 'opinion', code === 'OVERSIZED' || code === 'BAD_OPINION' ? code : 'MALFORMED')
    }
    if (opened.height <= head.opinionHeight || opened.height > head.height + 1) return
    let byNode = this.byHeight.get(opened.height)
    if (!byNode) {
      byNode = new Map()
      this.byHeight.set(opened.height, byNode)
    }
    if (byNode.has(opened.node) && !(own && opened.node === config.me)) return
    own = own && opened.node === config.me
    if (own) config.rules.trustOpinion(encoded)
    byNode.set(opened.node, { encoded, verified: own })
    // Once every node's vector of a height is in, check them together now, while idle, rather
    // than inside the next pre-prepare: one multi-set (PROTOCOL 4.3). Checking at a quorum would
    // leave the later ones to a check each. A height whose vectors do not all come is checked
    // when a block is about to use it (select here, the rules' check in validateBlock).
    if (byNode.size >= this.ctx.m) this.verify(byNode)
  }

  /** Forget the opinions of heights long behind `height`. */
  prune(height: number): void {
    for (const h of [...this.byHeight.keys()]) if (h + OPINION_HEIGHTS_KEPT < height) this.byHeight.delete(h)
  }

  /**
   * PROTOCOL 4.4: the reputation part of a block at `height`: the newest height with a quorum of
   * valid signed opinion vectors updates the reputations; without one the parent's vector stays.
   */
  select(head: ChainHead, height: number): Pick<Block, 'reputation' | 'opinions'> {
    const { config, quorum, out } = this.ctx
    const heights = [...this.byHeight.keys()].filter((h) => h > head.opinionHeight && h < height).sort((a, b) => b - a)
    for (const h of heights) {
      const byNode = this.byHeight.get(h) as Map<number, Held>
      if (byNode.size < quorum) continue
      this.verify(byNode)
      const chosen = [...byNode.entries()].sort((a, b) => a[0] - b[0]).map(([, o]) => o.encoded)
      if (chosen.length < quorum) continue
      try {
        return { reputation: { vector: config.rules.combineOpinions(chosen, head.reputation), opinionHeight: h }, opinions: chosen }
      } catch (e) {
        out.log('warn', 'cannot combine opinions', { height: h, error: (e as Error).message })
      }
    }
    return { reputation: { vector: head.reputation, opinionHeight: head.opinionHeight }, opinions: [] }
  }

  /** Batch-verify the unverified vectors of one height; drop and report the bad ones. */
  private verify(byNode: Map<number, Held>): void {
    const todo = [...byNode.entries()].filter(([, o]) => !o.verified)
    if (todo.length === 0) return
    const ok = this.ctx.config.rules.verifyOpinions(todo.map(([, o]) => o.encoded))
    todo.forEach(([node, o], i) => {
      if (ok[i]) o.verified = true
      else {
        byNode.delete(node)
        this.ctx.out.reject(node, 'opinion', 'BAD_SIGNATURE')
      }
    })
  }
}
