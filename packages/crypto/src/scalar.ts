/**
 * Arithmetic in Z_r, r the order of BLS12-381's G1 (PROTOCOL section 0): every secret, mask,
 * auxiliary value and ciphertext lives here.
 */
import { bigIntToBytes, bytesToBigInt, concatBytes, type Rng, utf8 } from '@bbnp/core'
import { sha256 } from './sha256.ts'

export const R = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001n
export const HALF_R = R >> 1n

export function modR(x: bigint): bigint {
  const m = x % R
  return m < 0n ? m + R : m
}

/**
 * Reduce at least 48 bytes (384 bits) mod r: the statistical distance from uniform is below
 * 2^-128, which is what "reduced without bias" means here (hash 48+ bytes, reduce mod r).
 */
export function bytesToScalar(b: Uint8Array): bigint {
  if (b.length < 48) throw new RangeError('need at least 48 bytes for an unbiased scalar')
  return bytesToBigInt(b) % R
}

/** Hash to Z_r: SHA-256 in counter mode to 64 bytes, then reduced mod r. */
export function hashToScalar(domain: string, msg: Uint8Array): bigint {
  const d = utf8(domain)
  const a = sha256(concatBytes(d, new Uint8Array([0, 1]), msg))
  const b = sha256(concatBytes(d, new Uint8Array([0, 2]), msg))
  return bytesToScalar(concatBytes(a, b))
}

export function scalarToBytes(s: bigint): Uint8Array {
  if (s < 0n || s >= R) throw new RangeError('scalar out of range')
  return bigIntToBytes(s, 32)
}

export function scalarFromBytes(b: Uint8Array): bigint {
  if (b.length !== 32) throw new RangeError('a scalar is 32 bytes')
  const s = bytesToBigInt(b)
  if (s >= R) throw new RangeError('scalar not reduced mod r')
  return s
}

/** A uniformly random non-zero scalar. */
export function randomScalar(rng: Rng): bigint {
  for (;;) {
    const s = bytesToScalar(rng.bytes(64))
    if (s !== 0n) return s
  }
}

/** Encode a signed integer into Z_r (negative values wrap to r - |x|). */
export function signedToScalar(x: bigint): bigint {
  return modR(x)
}

/** Decode an element of Z_r as a signed integer in (-r/2, r/2]. */
export function scalarToSigned(s: bigint): bigint {
  return s > HALF_R ? s - R : s
}
