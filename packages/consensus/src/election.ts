/**
 * The election of one height (PROTOCOL 4.1): every node publishes its VRF draw over (h, seed =
 * hash of block h-1); the gateway answers the first draw with Theta; the order of candidates
 * ranks them by the parent's reputations, the draws and Theta, and names the primary of each view.
 *
 * Draws and Theta arrive unverified and are checked together, as one multi-set (Theta, and the
 * draws as one aggregate), when the order is next needed; the order is computed again only after
 * a draw or Theta changed. A replica re-sends its own draw, with backoff, until it holds every
 * draw and a valid Theta.
 */
import { BbnpError, bytesEqual, DOMAIN } from '@bbnp/core'
import { sign, vrfMessage, vrfOutput } from '@bbnp/crypto'
import type { Block } from './block.ts'
import type { ReplicaContext } from './context.ts'
import type { DrawMessage, ThetaMessage } from './messages.ts'
import type { Evidence } from './observations.ts'
import { GATEWAY_SIGNER, signerId } from './sigcache.ts'
import { electionGroups, openElection, rightfulPrimary } from './validate.ts'

interface Draw {
  signature: Uint8Array
  /** The VRF output X of the draw. */
  x: bigint
  verified: boolean
}

/** Node's draw of `height` over `seed` (PROTOCOL 4.1): its VRF signature. */
export function drawSignature(signer: Parameters<typeof sign>[0], height: number, seed: Uint8Array): Uint8Array {
  return sign(signer, DOMAIN.election, vrfMessage(height, seed))
}

export class Election {
  readonly height: number
  readonly seed: Uint8Array
  /** The parent's reputation vector: the election of this height ranks by it. */
  private readonly reputation: readonly number[]
  private readonly ctx: ReplicaContext
  private readonly evidence: Evidence
  private readonly draws = new Map<number, Draw>()
  /** Theta as received; `verified` once its signature was checked (the first to arrive is kept until then). */
  private theta: { signature: Uint8Array; x: bigint; verified: boolean } | null = null
  /** The election wait is over: the primary trusts the draws it has. */
  private waitOver = false
  /** The order of candidates; undefined once a draw or Theta changed. */
  private cachedOrder: number[] | undefined

  constructor(ctx: ReplicaContext, height: number, seed: Uint8Array, reputation: readonly number[], evidence: Evidence) {
    this.ctx = ctx
    this.height = height
    this.seed = seed
    this.reputation = reputation
    this.evidence = evidence
  }

  /**
   * Publish this replica's draw, and arm the election wait and the draw retry. The order ranks
   * pre-selected nodes first, so publishing it when not pre-selected only matters if every
   * pre-selected node is silent. `carried`: the draw this replica already sent in its COMMIT
   * for the block that became this height's parent, so it is not published again; the retry
   * below re-sends it if some peer or the gateway missed that commit.
   */
  start(carried?: Uint8Array): void {
    const { config, out } = this.ctx
    if (carried) this.setDraw(config.me, carried, true)
    else {
      this.setDraw(config.me, drawSignature(config.signer, this.height, this.seed), true)
      this.resendDraw()
    }
    out.timer({ kind: 'election', height: this.height }, config.timing.electionWaitMs)
    // Gossip does not retransmit: a draw published before the mesh formed (a restart) is lost,
    // and without Theta no primary can be named. Re-send the draw until the election settles.
    out.timer({ kind: 'retry', height: this.height, attempt: 0 }, this.retryDelay(0))
  }

  /** This replica's own draw of the height, or null before `start`. */
  ownDraw(): DrawMessage | null {
    const me = this.ctx.config.me
    const own = this.draws.get(me)
    return own ? { kind: 'draw', height: this.height, seed: this.seed, node: me, signature: own.signature } : null
  }

  /** Publish this replica's draw (again); returns it, or null before `start`. */
  resendDraw(): DrawMessage | null {
    const draw = this.ownDraw()
    if (draw) this.ctx.out.send(draw)
    return draw
  }

  /**
   * The draw retry: keep re-sending until this replica holds every draw and Theta, not only until
   * the wait is over: a peer that missed this draw would otherwise rank the candidates differently
   * for the whole height (a node that never draws, crashed or lying, keeps this going, with
   * backoff, until the height is decided).
   */
  retry(attempt: number): void {
    const haveTheta = this.checkTheta()
    if (haveTheta && this.draws.size === this.ctx.m) return
    const draw = this.resendDraw()
    // Theta is the one input that comes from outside the consensus peers: when gossip with the
    // gateway is broken, every replica lacks it and no primary can be named, so also ask the
    // gateway over a stream.
    if (draw && !haveTheta) this.ctx.out.push({ type: 'fetch-theta', draw })
    // A replica that holds every draw and Theta stops re-sending its own draw, so a draw this
    // one missed (published before the mesh formed) would never come again by gossip, and this
    // replica would re-send for the whole height. From the second re-send on, it asks each node
    // whose draw is missing directly, with its own draw, which that node takes in too.
    if (draw && attempt > 0 && this.draws.size < this.ctx.m) {
      const nodes: number[] = []
      for (let node = 1; node <= this.ctx.m; node++) if (!this.draws.has(node)) nodes.push(node)
      this.ctx.out.push({ type: 'fetch-draws', draw, nodes })
    }
    this.ctx.out.timer({ kind: 'retry', height: this.height, attempt: attempt + 1 }, this.retryDelay(attempt + 1))
  }

  private retryDelay(attempt: number): number {
    return Math.min(5000, Math.max(250, 4 * this.ctx.config.timing.electionWaitMs) * 2 ** Math.min(attempt, 5))
  }

  /** The election wait is over. */
  endWait(): void {
    this.waitOver = true
  }

  /**
   * Settled: Theta and every draw, or Theta and the election wait is over. Before, a partial set
   * of draws may name someone else.
   */
  get settled(): boolean {
    return this.theta !== null && (this.waitOver || this.draws.size === this.ctx.m)
  }

  /** The order of candidates for this height, from the draws known so far; null without a valid Theta. */
  order(): number[] | null {
    if (!this.theta) return null
    if (this.cachedOrder === undefined) {
      // Theta and the draws not checked yet, as one multi-set; then each check below hits the cache.
      this.ctx.cache.preverify(this.pendingGroups())
      if (!this.checkTheta() || !this.theta) return null
      this.verifyDraws()
      const draws = new Map<number, bigint>()
      for (const [n, d] of this.draws) draws.set(n, d.x)
      this.cachedOrder = this.ctx.config.rules.electionOrder(this.reputation, draws, this.theta.x)
    }
    return this.cachedOrder
  }

  primaryOf(view: number): number | null {
    const order = this.order()
    return order ? rightfulPrimary(order, view) : null
  }

  onDraw(msg: DrawMessage): void {
    if (!bytesEqual(msg.seed, this.seed)) {
      // A commit for a block that was not decided carries a draw over that block: no fault.
      if (msg.carried) return
      return this.ctx.out.reject(msg.node, 'draw', 'WRONG_SEED')
    }
    if (this.draws.has(msg.node)) return
    this.setDraw(msg.node, msg.signature, false)
  }

  /**
   * Theta from the gateway (gossip or a stream), kept unchecked until the order is needed. Theta
   * is unique for (height, seed): a different one while the first is unchecked means one of them
   * is bad, so the first is checked now.
   */
  onTheta(msg: ThetaMessage): void {
    if (this.theta?.verified || !bytesEqual(msg.seed, this.seed)) return
    if (this.theta && (bytesEqual(this.theta.signature, msg.signature) || this.checkTheta())) return
    this.theta = { signature: msg.signature, x: vrfOutput(msg.signature), verified: false }
    this.cachedOrder = undefined
  }

  /** Check a Theta not checked yet (through the cache); a bad one is refused and dropped. True when a valid Theta is held. */
  private checkTheta(): boolean {
    const { config, cache, out } = this.ctx
    const theta = this.theta
    if (!theta) return false
    if (theta.verified) return true
    if (cache.verify(GATEWAY_SIGNER, config.gatewayKey, DOMAIN.threshold, vrfMessage(this.height, this.seed), theta.signature)) {
      theta.verified = true
      return true
    }
    this.theta = null
    this.cachedOrder = undefined
    out.reject(null, 'theta', 'BAD_SIGNATURE')
    return false
  }

  /** Theta and the draws not checked yet, as the groups of one multi-set. */
  private pendingGroups() {
    const { config } = this.ctx
    const draws = [...this.draws.entries()].filter(([, d]) => !d.verified).map(([node, d]) => ({ node, signature: d.signature }))
    const groups = electionGroups(
      { theta: this.theta?.signature ?? new Uint8Array(0), draws },
      this.height,
      this.seed,
      config.keys,
      config.gatewayKey
    )
    return groups.filter((g, i) => (i === 0 ? this.theta !== null && !this.theta.verified : g.items.length > 0))
  }

  /**
   * Verify an election proof a proposer sent (Theta and the draws it ranked) and learn from it;
   * false if a signature is bad.
   */
  open(proof: Block['election']): boolean {
    const { config, cache } = this.ctx
    const opened = openElection(proof, this.height, this.seed, config.keys, config.gatewayKey, cache)
    if (!opened) return false
    if (!this.theta?.verified) {
      // Theta is unique for (height, seed): a different one held unchecked was bad.
      if (this.theta && !bytesEqual(this.theta.signature, proof.theta)) this.ctx.out.reject(null, 'theta', 'BAD_SIGNATURE')
      this.theta = { signature: proof.theta, x: opened.theta, verified: true }
    }
    // openElection verified these; a different unverified draw we held for a node is replaced.
    for (const d of proof.draws) this.setDraw(d.node, d.signature, true)
    this.cachedOrder = undefined
    return true
  }

  /** The election proof a block carries: Theta and every draw known, by node. */
  proof(): Block['election'] {
    if (!this.theta) throw new BbnpError('STATE', 'no Theta yet')
    return {
      theta: this.theta.signature,
      draws: [...this.draws.entries()].sort((a, b) => a[0] - b[0]).map(([node, d]) => ({ node, signature: d.signature }))
    }
  }

  private setDraw(node: number, signature: Uint8Array, verified: boolean): void {
    this.draws.set(node, { signature, x: vrfOutput(signature), verified })
    this.cachedOrder = undefined
  }

  /** PROTOCOL 4.3 for the election: the draws of a height all sign one message, so one aggregate check. */
  private verifyDraws(): void {
    const { config, cache } = this.ctx
    const todo = [...this.draws.entries()].filter(([, d]) => !d.verified)
    if (todo.length === 0) return
    const bad = new Set(
      cache.verifySameMessage(
        todo.map(([node, d]) => ({ signer: signerId(node), publicKey: config.keys[node - 1], signature: d.signature })),
        DOMAIN.election,
        vrfMessage(this.height, this.seed)
      )
    )
    todo.forEach(([node, d], i) => {
      if (!bad.has(i)) d.verified = true
      else {
        this.draws.delete(node)
        this.evidence.wrongFrom(node, 'draw', 'BAD_SIGNATURE')
      }
    })
  }
}
