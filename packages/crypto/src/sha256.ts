/**
 * SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) with cached key
 * midstates.
 *
 * Why not node:crypto's createHmac: on the 2-core machines this project targets, one createHmac
 * call costs 20-30 microseconds (OpenSSL 3 fetches the algorithm on every call), while one SHA-256
 * compression in JavaScript costs about 1 microsecond. The gateway checks one HMAC per report and
 * must handle 10,000 reports per slot, and a meter does about fifteen HMACs per report, so HMAC
 * with the key's inner and outer states computed once is the difference between meeting the
 * budget and missing it by a factor of ten. Correctness is pinned by RFC 4231 and RFC 5869
 * known-answer tests and by comparison with node:crypto on random inputs.
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
  0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
  0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
  0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
  0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
  0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
])

const IV = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])

// Scratch space: JavaScript runs one call at a time per thread, so module-level buffers are safe.
const W = new Uint32Array(64)
const ST = new Uint32Array(8)
const TAIL = new Uint8Array(128)

/** One compression of the 16 words in W[0..15] into state `st`. */
function compress(st: Uint32Array): void {
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]
    const w2 = W[i - 2]
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3)
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10)
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0
  }
  let a = st[0]
  let b = st[1]
  let c = st[2]
  let d = st[3]
  let e = st[4]
  let f = st[5]
  let g = st[6]
  let h = st[7]
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  st[0] = (st[0] + a) | 0
  st[1] = (st[1] + b) | 0
  st[2] = (st[2] + c) | 0
  st[3] = (st[3] + d) | 0
  st[4] = (st[4] + e) | 0
  st[5] = (st[5] + f) | 0
  st[6] = (st[6] + g) | 0
  st[7] = (st[7] + h) | 0
}

function loadBlock(src: Uint8Array, off: number): void {
  for (let j = 0; j < 16; j++, off += 4) {
    W[j] = (src[off] << 24) | (src[off + 1] << 16) | (src[off + 2] << 8) | src[off + 3]
  }
}

/**
 * Finish a hash that has already absorbed `prefixLen` bytes (a multiple of 64) into `init`,
 * absorbing `len` bytes of `msg` from `off` and the padding. Writes the digest into `out` at
 * `outOff` (32 bytes). Reads the message in place: no copy of it and no allocation.
 */
function finishFrom(
  init: Uint32Array,
  prefixLen: number,
  msg: Uint8Array,
  off: number,
  len: number,
  out: Uint8Array,
  outOff: number
): Uint8Array {
  ST.set(init)
  let i = 0
  for (; len - i >= 64; i += 64) {
    loadBlock(msg, off + i)
    compress(ST)
  }
  const rem = len - i
  TAIL.fill(0)
  for (let k = 0; k < rem; k++) TAIL[k] = msg[off + i + k]
  TAIL[rem] = 0x80
  const tailLen = rem + 9 <= 64 ? 64 : 128
  const bits = (prefixLen + len) * 8
  const hi = Math.floor(bits / 2 ** 32)
  const lo = bits >>> 0
  TAIL[tailLen - 8] = hi >>> 24
  TAIL[tailLen - 7] = hi >>> 16
  TAIL[tailLen - 6] = hi >>> 8
  TAIL[tailLen - 5] = hi
  TAIL[tailLen - 4] = lo >>> 24
  TAIL[tailLen - 3] = lo >>> 16
  TAIL[tailLen - 2] = lo >>> 8
  TAIL[tailLen - 1] = lo
  for (let o = 0; o < tailLen; o += 64) {
    loadBlock(TAIL, o)
    compress(ST)
  }
  for (let j = 0; j < 8; j++) {
    const v = ST[j]
    out[outOff + 4 * j] = v >>> 24
    out[outOff + 4 * j + 1] = v >>> 16
    out[outOff + 4 * j + 2] = v >>> 8
    out[outOff + 4 * j + 3] = v
  }
  return out
}

export function sha256(msg: Uint8Array): Uint8Array {
  return finishFrom(IV, 0, msg, 0, msg.length, new Uint8Array(32), 0)
}

/** An HMAC-SHA256 key with its inner and outer midstates computed once (two compressions). */
export class HmacKey {
  private readonly inner = new Uint32Array(8)
  private readonly outer = new Uint32Array(8)
  private readonly innerDigest = new Uint8Array(32)

  constructor(key: Uint8Array) {
    const k = key.length > 64 ? sha256(key) : key
    const pad = new Uint8Array(64)
    pad.set(k)
    for (let i = 0; i < 64; i++) pad[i] ^= 0x36
    loadBlock(pad, 0)
    this.inner.set(IV)
    compress(this.inner)
    for (let i = 0; i < 64; i++) pad[i] ^= 0x36 ^ 0x5c
    loadBlock(pad, 0)
    this.outer.set(IV)
    compress(this.outer)
  }

  /** HMAC(key, msg) into `out` (a fresh 32-byte array unless given). */
  mac(msg: Uint8Array, out: Uint8Array = new Uint8Array(32)): Uint8Array {
    finishFrom(this.inner, 64, msg, 0, msg.length, this.innerDigest, 0)
    return finishFrom(this.outer, 64, this.innerDigest, 0, 32, out, 0)
  }

  /**
   * HMAC(key, msg[off .. off + len)) into `out` at `outOff`: the tag of a slice of a larger buffer
   * (a report inside a batch, or inside the gateway's per-slot store) without a view or a copy, so
   * that checking 10,000 reports allocates nothing.
   */
  macRange(msg: Uint8Array, off: number, len: number, out: Uint8Array, outOff = 0): Uint8Array {
    if (off < 0 || len < 0 || off + len > msg.length || outOff < 0 || outOff + 32 > out.length)
      throw new RangeError('range outside the buffer')
    finishFrom(this.inner, 64, msg, off, len, this.innerDigest, 0)
    return finishFrom(this.outer, 64, this.innerDigest, 0, 32, out, outOff)
  }

  /** Constant-time check of a tag against HMAC(key, msg). */
  verify(msg: Uint8Array, tag: Uint8Array): boolean {
    return constantTimeEqual(this.mac(msg), tag)
  }

  /**
   * HKDF-Expand (RFC 5869 section 2.3) with this key as the PRK: T(1) || T(2) || ... truncated
   * to `length` bytes, T(i) = HMAC(PRK, T(i-1) || info || i).
   */
  expand(info: Uint8Array, length: number): Uint8Array {
    if (length > 255 * 32) throw new RangeError('HKDF-Expand length too large')
    const out = new Uint8Array(length)
    const buf = new Uint8Array(32 + info.length + 1)
    let prevLen = 0
    let t: Uint8Array = new Uint8Array(32)
    for (let i = 1, off = 0; off < length; i++, off += 32) {
      buf.set(t.subarray(0, prevLen), 0)
      buf.set(info, prevLen)
      buf[prevLen + info.length] = i
      t = this.mac(buf.subarray(0, prevLen + info.length + 1))
      out.set(t.subarray(0, Math.min(32, length - off)), off)
      prevLen = 32
    }
    return out
  }
}

export function hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return new HmacKey(key).mac(msg)
}

/** HKDF-Extract (RFC 5869 section 2.2): PRK = HMAC(salt, IKM); an empty salt means 32 zero bytes. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmacSha256(salt.length === 0 ? new Uint8Array(32) : salt, ikm)
}

export function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new HmacKey(hkdfExtract(salt, ikm)).expand(info, length)
}

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i]
  return diff === 0
}
