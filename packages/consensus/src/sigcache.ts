/**
 * A bounded set of signatures this peer has already verified, so that a draw or an opinion
 * checked when it arrived on its own topic is not checked again inside a pre-prepare.
 * Keys bind the public key index, the domain, the message and the signature.
 */
import { concatBytes, toHex, utf8 } from '@bbnp/core'
import { sha256, type PublicKey, verify } from '@bbnp/crypto'

export class SignatureCache {
  private readonly seen = new Set<string>()
  private readonly order: string[] = []
  private readonly capacity: number
  hits = 0
  checks = 0

  constructor(capacity = 4096) {
    this.capacity = capacity
  }

  private key(signer: string, domain: string, msg: Uint8Array, sig: Uint8Array): string {
    return toHex(sha256(concatBytes(utf8(signer), new Uint8Array([0]), utf8(domain), new Uint8Array([0]), msg, sig)))
  }

  /** Verify through the cache: a hit costs one SHA-256, a miss one BLS verification. */
  verify(signer: string, pk: PublicKey, domain: string, msg: Uint8Array, sig: Uint8Array): boolean {
    const k = this.key(signer, domain, msg, sig)
    if (this.seen.has(k)) {
      this.hits++
      return true
    }
    this.checks++
    if (!verify(pk, domain, msg, sig)) return false
    this.seen.add(k)
    this.order.push(k)
    if (this.order.length > this.capacity) this.seen.delete(this.order.shift() as string)
    return true
  }
}
