/**
 * Token buckets for input hardening: every gossip message and every inbound request costs one
 * message token and its size in byte tokens from the bucket of (peer, topic) or (peer, protocol).
 * Buckets refill continuously; a burst larger than the bucket is refused until it refills.
 */
export interface RateLimit {
  messagesPerSecond: number
  burstMessages: number
  bytesPerSecond: number
  burstBytes: number
}

class TokenBucket {
  private tokens: number
  private last: number
  private readonly rate: number
  private readonly capacity: number

  constructor(rate: number, capacity: number, now: number) {
    this.rate = rate
    this.capacity = capacity
    this.tokens = capacity
    this.last = now
  }

  refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate)
      this.last = now
    }
  }

  has(n: number): boolean {
    return this.tokens >= n
  }

  take(n: number): void {
    this.tokens -= n
  }
}

interface Buckets {
  messages: TokenBucket
  bytes: TokenBucket
}

/**
 * One pair of buckets per key. Keys are `peer|topic` or `peer|protocol`; peers are admitted by
 * the connection gater (or are authenticated publishers checked against the same allow list),
 * so the map is bounded by the allow list times the number of topics and protocols.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Buckets>()
  private readonly now: () => number

  constructor(now: () => number = Date.now) {
    this.now = now
  }

  /** Takes one message and `bytes` byte tokens if both are available; takes nothing otherwise. */
  allow(key: string, bytes: number, limit: RateLimit): boolean {
    const b = this.refilled(key, limit)
    if (!b.messages.has(1) || !b.bytes.has(bytes)) return false
    b.messages.take(1)
    b.bytes.take(bytes)
    return true
  }

  /**
   * Takes byte tokens only: for a request whose stream already paid its message token at open
   * and whose size is known only once its (bounded) frame has been read.
   */
  allowBytes(key: string, bytes: number, limit: RateLimit): boolean {
    const b = this.refilled(key, limit)
    if (!b.bytes.has(bytes)) return false
    b.bytes.take(bytes)
    return true
  }

  private refilled(key: string, limit: RateLimit): Buckets {
    const now = this.now()
    let b = this.buckets.get(key)
    if (b === undefined) {
      b = {
        messages: new TokenBucket(limit.messagesPerSecond, limit.burstMessages, now),
        bytes: new TokenBucket(limit.bytesPerSecond, limit.burstBytes, now)
      }
      this.buckets.set(key, b)
    }
    b.messages.refill(now)
    b.bytes.refill(now)
    return b
  }

  clear(): void {
    this.buckets.clear()
  }
}
