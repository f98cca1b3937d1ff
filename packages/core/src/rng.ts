/**
 * Seeded randomness for tests, simulations and reproducible devnets. `SeededRng` is a
 * deterministic stream (SHA-256 in counter mode over the seed), so the same seed always gives the
 * same keys and draws. Production key generation uses `cryptoRng` (node:crypto).
 */
import { createHash, randomBytes } from 'node:crypto'

export interface Rng {
  bytes(n: number): Uint8Array
  /** A double in [0, 1) with 53 random bits. */
  float(): number
  /** An integer in [0, n). */
  int(n: number): number
}

abstract class RngBase implements Rng {
  abstract bytes(n: number): Uint8Array

  float(): number {
    const b = this.bytes(7)
    const hi = (b[0] << 13) | (b[1] << 5) | (b[2] >>> 3) // 21 bits
    const lo = ((b[3] << 24) | (b[4] << 16) | (b[5] << 8) | b[6]) >>> 0 // 32 bits
    return (hi * 2 ** 32 + lo) / 2 ** 53
  }

  int(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError('int(n) needs a positive integer')
    return Math.floor(this.float() * n)
  }
}

export class SeededRng extends RngBase {
  private readonly seed: Buffer
  private counter = 0
  private buf = new Uint8Array(0)
  private off = 0

  constructor(seed: string | Uint8Array) {
    super()
    this.seed = createHash('sha256')
      .update(typeof seed === 'string' ? `bbnp/v1/rng/${seed}` : seed)
      .digest()
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      if (this.off >= this.buf.length) {
        const c = Buffer.alloc(8)
        c.writeBigUInt64BE(BigInt(this.counter++))
        this.buf = createHash('sha256').update(this.seed).update(c).digest()
        this.off = 0
      }
      const take = Math.min(n - filled, this.buf.length - this.off)
      out.set(this.buf.subarray(this.off, this.off + take), filled)
      filled += take
      this.off += take
    }
    return out
  }
}

class CryptoRng extends RngBase {
  bytes(n: number): Uint8Array {
    return new Uint8Array(randomBytes(n))
  }
}

export const cryptoRng: Rng = new CryptoRng()
