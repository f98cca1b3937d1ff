/**
 * The election VRF (PROTOCOL 4.1 [hardening]). In the paper each node picks its random X_q and
 * the gateway picks Theta after seeing them, so either side can bias the draw. Here
 * X_q = H(sigma_q) with sigma_q = BLS_sign(q, "bbnp/v1/election" || h || seed_h), and
 * Theta = H(BLS_sign(s_g, "bbnp/v1/threshold" || h || seed_h)). BLS signatures are unique for a
 * key and message, so nobody can choose their draw, and anyone can check it with the public key.
 *
 * Draws are 64-bit integers (X = value / 2^64 in [0,1)), compared as integers so every peer
 * agrees exactly.
 */
import { concatBytes, DOMAIN, readU64be, u64be, utf8 } from '@bbnp/core'
import { type PublicKey, type SecretKey, sign, verify } from './bls.ts'
import { sha256 } from './sha256.ts'

export type VrfRole = 'election' | 'threshold'

export function vrfMessage(height: number, seed: Uint8Array): Uint8Array {
  return concatBytes(u64be(height), seed)
}

function domainOf(role: VrfRole): string {
  return role === 'election' ? DOMAIN.election : DOMAIN.threshold
}

/** The 64-bit draw from a VRF signature: the first 8 bytes of SHA-256(tag || sigma). */
export function vrfOutput(sig: Uint8Array): bigint {
  return readU64be(sha256(concatBytes(utf8(DOMAIN.vrf), sig)))
}

/** The draw as a number in [0, 1), for display and simulation only. */
export function vrfToUnit(x: bigint): number {
  return Number(x) / 2 ** 64
}

export interface VrfProof {
  signature: Uint8Array
  output: bigint
}

export function vrfProve(sk: SecretKey, role: VrfRole, height: number, seed: Uint8Array): VrfProof {
  const signature = sign(sk, domainOf(role), vrfMessage(height, seed))
  return { signature, output: vrfOutput(signature) }
}

/** The draw if the signature is valid for this key, height and seed; null for a forgery. */
export function vrfVerify(pk: PublicKey, role: VrfRole, height: number, seed: Uint8Array, signature: Uint8Array): bigint | null {
  if (!verify(pk, domainOf(role), vrfMessage(height, seed), signature)) return null
  return vrfOutput(signature)
}
