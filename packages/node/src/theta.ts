/**
 * The gateway's part in the election (PROTOCOL 4.1): answer the first valid draw of each
 * (height, seed) with Theta = BLS_sign(s_g, "bbnp/v1/threshold" || h || seed). A draw seen again
 * means someone still lacks Theta (gossip does not retransmit), so it is published again, at
 * most twice a second; BLS signatures are deterministic, so it is the same Theta every time.
 * A consensus peer that still lacks Theta asks over `/bbnp/theta/1` (`answer`).
 */
import { DOMAIN, toHex } from '@bbnp/core'
import type { DrawMessage } from '@bbnp/consensus'
import { type PublicKey, type SecretKey, sign, vrfMessage, vrfVerify } from '@bbnp/crypto'

export class ThetaResponder {
  private readonly answered = new Map<number, Map<string, { signature: Uint8Array; sentAt: number }>>()
  private highest = 0
  private readonly key: SecretKey
  private readonly nodeKeys: readonly PublicKey[]
  private readonly now: () => number
  signed = 0
  badDraws = 0

  constructor(key: SecretKey, nodeKeys: readonly PublicKey[], now: () => number = Date.now) {
    this.key = key
    this.nodeKeys = nodeKeys
    this.now = now
  }

  /** The Theta signature to publish for this draw, or null when there is nothing to send. */
  onDraw(msg: DrawMessage): Uint8Array | null {
    const known = this.answered.get(msg.height)?.get(toHex(msg.seed))
    if (known) {
      if (this.now() - known.sentAt < 500) return null
      known.sentAt = this.now()
      return known.signature
    }
    return this.answer(msg)
  }

  /**
   * Theta for this draw, whether or not it was published already (a consensus peer asking over
   * a stream, when gossip did not bring it), or null for an invalid or out-of-range draw.
   */
  answer(msg: DrawMessage): Uint8Array | null {
    const bySeed = this.answered.get(msg.height) ?? new Map<string, { signature: Uint8Array; sentAt: number }>()
    const seedHex = toHex(msg.seed)
    const known = bySeed.get(seedHex)
    if (known) return known.signature
    // Bounded: a few seeds per height, and only around the highest height answered.
    if (bySeed.size >= 4 || msg.height + 16 < this.highest) return null
    if (
      msg.node < 1 ||
      msg.node > this.nodeKeys.length ||
      vrfVerify(this.nodeKeys[msg.node - 1], 'election', msg.height, msg.seed, msg.signature) === null
    ) {
      this.badDraws++
      return null
    }
    const signature = sign(this.key, DOMAIN.threshold, vrfMessage(msg.height, msg.seed))
    bySeed.set(seedHex, { signature, sentAt: this.now() })
    this.answered.set(msg.height, bySeed)
    this.highest = Math.max(this.highest, msg.height)
    for (const h of this.answered.keys()) if (h + 32 < this.highest) this.answered.delete(h)
    this.signed++
    return signature
  }
}
