/**
 * Diffie-Hellman in BLS12-381's G1 (PROTOCOL 2.1 and 2.2): K = S_peer^{s}. blst exposes no point
 * multiplication, so this uses @noble/curves. A received point is checked to be on the curve and
 * in the prime-order subgroup, and not the identity, before it is used: a small-subgroup or
 * invalid-curve point would leak bits of the secret.
 */
import { bls12_381 } from '@noble/curves/bls12-381.js'
import { BbnpError } from '@bbnp/core'
import type { CryptoErrorCode } from './bls.ts'
import { R } from './scalar.ts'

const G1 = bls12_381.G1.Point
type G1Point = InstanceType<typeof G1>

/** Decode a compressed G1 point and check it fully; throws BAD_POINT. */
export function decodeG1(bytes: Uint8Array): G1Point {
  if (bytes.length !== 48) throw new BbnpError<CryptoErrorCode>('BAD_POINT', 'a compressed G1 point is 48 bytes')
  let p: G1Point
  try {
    p = G1.fromBytes(bytes)
    p.assertValidity()
  } catch (e) {
    throw new BbnpError<CryptoErrorCode>('BAD_POINT', `invalid G1 point: ${(e as Error).message}`)
  }
  if (p.is0()) throw new BbnpError<CryptoErrorCode>('BAD_POINT', 'G1 identity is not a valid key')
  if (!p.isTorsionFree()) throw new BbnpError<CryptoErrorCode>('BAD_POINT', 'G1 point outside the prime-order subgroup')
  return p
}

/** The shared secret S_peer^{secret}, compressed (48 bytes). */
export function dhSharedSecret(secret: bigint, peerPublic: Uint8Array): Uint8Array {
  if (secret <= 0n || secret >= R) throw new BbnpError<CryptoErrorCode>('BAD_SCALAR', 'DH secret out of range')
  return decodeG1(peerPublic).multiply(secret).toBytes(true)
}

/** P^k for a public point P and public scalar k (the consensus verification key G_j^{c_j}). */
export function g1Multiply(point: Uint8Array, k: bigint): Uint8Array {
  if (k <= 0n || k >= R) throw new BbnpError<CryptoErrorCode>('BAD_SCALAR', 'scalar out of range')
  return decodeG1(point).multiply(k).toBytes(true)
}
