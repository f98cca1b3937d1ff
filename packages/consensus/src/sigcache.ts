/**
 * A bounded set of signatures this peer has already verified, so that a draw or an opinion
 * checked once is not checked again inside a pre-prepare. Keys bind the signer, the domain, the
 * message and the signature. It also counts the BLS work done, for the metrics and the benchmark.
 */
import { concatBytes, consensusId, toHex, utf8 } from '@bbnp/core'
import { batchVerifySameMessage, type PublicKey, sha256, verify, verifyGroups } from '@bbnp/crypto'

/** The name a consensus node's signatures are cached under: its genesis identity, cn-<index>. */
export function signerId(node: number): string {
  return consensusId(node)
}

/** The name the gateway's signatures are cached under. */
export const GATEWAY_SIGNER = 'gateway'

/** Signatures over one message, each under the name it is cached by (one signature alone is a group of one). */
export interface CachedGroup {
  domain: string
  message: Uint8Array
  items: { signer: string; publicKey: PublicKey; signature: Uint8Array }[]
}

export class SignatureCache {
  private readonly seen = new Set<string>()
  private readonly order: string[] = []
  private readonly capacity: number
  /** Signatures found in the cache. */
  hits = 0
  /** Single verifications made. */
  checks = 0
  /** Aggregate checks made for same-message batches, and the signatures they covered. */
  batches = 0
  inBatches = 0

  constructor(capacity = 4096) {
    this.capacity = capacity
  }

  private key(signer: string, domain: string, msg: Uint8Array, sig: Uint8Array): string {
    return toHex(sha256(concatBytes(utf8(signer), new Uint8Array([0]), utf8(domain), new Uint8Array([0]), msg, sig)))
  }

  private remember(k: string): void {
    if (this.seen.has(k)) return
    this.seen.add(k)
    this.order.push(k)
    if (this.order.length > this.capacity) this.seen.delete(this.order.shift() as string)
  }

  has(signer: string, domain: string, msg: Uint8Array, sig: Uint8Array): boolean {
    return this.seen.has(this.key(signer, domain, msg, sig))
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
    this.remember(k)
    return true
  }

  /**
   * Many signatures over one message (PROTOCOL 4.3): those not cached are checked as one
   * aggregate, one by one only if that fails. Returns the indices of the bad ones.
   */
  verifySameMessage(items: { signer: string; publicKey: PublicKey; signature: Uint8Array }[], domain: string, msg: Uint8Array): number[] {
    const keys = items.map((it) => this.key(it.signer, domain, msg, it.signature))
    const todo = items.map((_, i) => i).filter((i) => !this.seen.has(keys[i]))
    this.hits += items.length - todo.length
    if (todo.length === 0) return []
    const res = batchVerifySameMessage(
      todo.map((i) => ({ publicKey: items[i].publicKey, signature: items[i].signature })),
      domain,
      msg
    )
    if (todo.length === 1) this.checks++
    else {
      this.batches++
      this.inBatches += todo.length
      this.checks += res.checks - 1
    }
    const bad = new Set(res.bad.map((j) => todo[j]))
    for (const i of todo) if (!bad.has(i)) this.remember(keys[i])
    return [...bad].sort((a, b) => a - b)
  }

  /**
   * Signatures that arrive together (a pre-prepare with the Theta and draws it carries; an
   * aggregate with its endorsement and fault proof; a height's late votes) checked before the
   * checks that use them, as one multi-set (PROTOCOL 4.3, `verifyGroups`): when two or more groups
   * are not cached yet and they all hold, they are remembered, and those checks, in their usual
   * order and with their usual error codes, find them here. When they do not all hold, nothing is
   * remembered and those checks find the bad one as before: this only ever saves work.
   */
  preverify(groups: CachedGroup[]): void {
    const todo = groups
      .map((g) => {
        const keys = g.items.map((it) => this.key(it.signer, g.domain, g.message, it.signature))
        const open = g.items.map((_, i) => i).filter((i) => !this.seen.has(keys[i]))
        return { g, items: open.map((i) => g.items[i]), keys: open.map((i) => keys[i]) }
      })
      .filter((t) => t.items.length > 0)
    if (todo.length < 2) return
    const ok = verifyGroups(
      todo.map((t) => ({
        publicKeys: t.items.map((it) => it.publicKey),
        domain: t.g.domain,
        message: t.g.message,
        signatures: t.items.map((it) => it.signature)
      }))
    )
    this.batches++
    this.inBatches += todo.reduce((n, t) => n + t.items.length, 0)
    if (ok) for (const t of todo) for (const k of t.keys) this.remember(k)
  }

  /** Record signatures verified elsewhere (e.g. by a multi-set check). */
  rememberVerified(signer: string, domain: string, msg: Uint8Array, sig: Uint8Array): void {
    this.remember(this.key(signer, domain, msg, sig))
  }
}
