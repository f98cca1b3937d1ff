/**
 * BLS signatures on BLS12-381, min-pk (public keys in G1, 48 bytes; signatures in G2, 96 bytes),
 * through @chainsafe/bls with the blst-native backend (PROTOCOL section 0).
 *
 * Every message is prefixed with a domain tag (`tag || 0x00 || msg`), so a signature made for one
 * role can never verify in another. Keys and signatures from the outside are deserialised with
 * validation (on the curve, in the subgroup, not the identity) and refused otherwise.
 */
import bls from '@chainsafe/bls/blst-native'
import type { PublicKey, SecretKey, Signature } from '@chainsafe/bls/types'
import { BbnpError, concatBytes, DOMAIN, utf8 } from '@bbnp/core'
import { scalarToBytes } from './scalar.ts'

export type { PublicKey, SecretKey, Signature }

export const PUBLIC_KEY_BYTES = 48
export const SIGNATURE_BYTES = 96

export type CryptoErrorCode = 'BAD_POINT' | 'BAD_SIGNATURE' | 'BAD_SCALAR'

export function signingMessage(domain: string, msg: Uint8Array): Uint8Array {
  return concatBytes(utf8(domain), new Uint8Array([0]), msg)
}

export function secretKeyFromScalar(s: bigint): SecretKey {
  if (s <= 0n) throw new BbnpError<CryptoErrorCode>('BAD_SCALAR', 'a BLS secret key must be non-zero')
  return bls.SecretKey.fromBytes(scalarToBytes(s))
}

/** g^s in G1, compressed (48 bytes). */
export function publicKeyFromScalar(s: bigint): Uint8Array {
  return secretKeyFromScalar(s).toPublicKey().toBytes()
}

/** Deserialise and validate a G1 public key (on curve, in subgroup, not infinity). */
export function decodePublicKey(bytes: Uint8Array): PublicKey {
  if (bytes.length !== PUBLIC_KEY_BYTES) throw new BbnpError<CryptoErrorCode>('BAD_POINT', `public key must be ${PUBLIC_KEY_BYTES} bytes`)
  try {
    const pk = bls.PublicKey.fromBytes(bytes, undefined, true)
    return pk
  } catch (e) {
    throw new BbnpError<CryptoErrorCode>('BAD_POINT', `invalid G1 public key: ${(e as Error).message}`)
  }
}

/**
 * Signatures decoded and validated recently, by their bytes: a vote is decoded when its batch is
 * checked, again when the certificate is made and when a block carries it; Theta, draws and
 * opinion vectors reach several checks too. Validation (the G2 subgroup check) is most of a
 * decode's cost, and its result depends on the bytes alone. Bounded; the oldest go first.
 */
const DECODED_KEPT = 2048
const decoded = new Map<string, Signature>()

export function decodeSignature(bytes: Uint8Array): Signature {
  if (bytes.length !== SIGNATURE_BYTES) throw new BbnpError<CryptoErrorCode>('BAD_SIGNATURE', `signature must be ${SIGNATURE_BYTES} bytes`)
  const id = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
  const known = decoded.get(id)
  if (known) return known
  let sig: Signature
  try {
    sig = bls.Signature.fromBytes(bytes, undefined, true)
  } catch (e) {
    throw new BbnpError<CryptoErrorCode>('BAD_SIGNATURE', `invalid G2 signature: ${(e as Error).message}`)
  }
  if (decoded.size >= DECODED_KEPT) decoded.delete(decoded.keys().next().value as string)
  decoded.set(id, sig)
  return sig
}

/** Empty the decoded-signature cache (benchmarks: each way of checking pays its own decoding). */
export function forgetDecodedSignatures(): void {
  decoded.clear()
}

export function sign(sk: SecretKey, domain: string, msg: Uint8Array): Uint8Array {
  return sk.sign(signingMessage(domain, msg)).toBytes()
}

/**
 * Verify one signature; any malformed input is a failed verification, never a throw. A signature
 * given as bytes is decoded with validation (decodeSignature), so the pairing check runs without
 * validating it a second time (`Signature.verify` would).
 */
export function verify(pk: PublicKey | Uint8Array, domain: string, msg: Uint8Array, sig: Uint8Array | Signature): boolean {
  try {
    const key = pk instanceof Uint8Array ? decodePublicKey(pk) : pk
    if (!(sig instanceof Uint8Array)) return sig.verify(key, signingMessage(domain, msg))
    return decodeSignature(sig).verifyAggregate([key], signingMessage(domain, msg))
  } catch {
    return false
  }
}

/** The sum of validated signatures (bytes are decoded with validation, through the cache), as a point. */
export function sumSignatures(sigs: (Uint8Array | Signature)[]): Signature {
  if (sigs.length === 0) throw new BbnpError<CryptoErrorCode>('BAD_SIGNATURE', 'nothing to aggregate')
  return bls.Signature.aggregate(sigs.map((s) => (s instanceof Uint8Array ? decodeSignature(s) : s)))
}

export function aggregateSignatures(sigs: (Uint8Array | Signature)[]): Uint8Array {
  return sumSignatures(sigs).toBytes()
}

/** The sum of public keys, as a point (for a same-message group inside a multi-set check). */
export function sumPublicKeys(pks: PublicKey[]): PublicKey {
  if (pks.length === 0) throw new BbnpError<CryptoErrorCode>('BAD_POINT', 'nothing to aggregate')
  return pks.length === 1 ? pks[0] : bls.PublicKey.aggregate(pks)
}

/**
 * Same-message aggregate check (PROTOCOL 4.3, the paper's batch verification):
 * e(prod sigma_i, g) = e(H(m), prod pk_i), one pairing pair instead of one per signature.
 * Safe against rogue keys only because every key in the genesis carries a proof of possession.
 */
export function fastAggregateVerify(pks: PublicKey[], domain: string, msg: Uint8Array, aggSig: Uint8Array | Signature): boolean {
  if (pks.length === 0) return false
  try {
    const s = aggSig instanceof Uint8Array ? decodeSignature(aggSig) : aggSig
    return s.verifyAggregate(pks, signingMessage(domain, msg))
  } catch {
    return false
  }
}

export interface SignatureSetInput {
  publicKey: PublicKey
  domain: string
  message: Uint8Array
  signature: Uint8Array | Signature
}

/** Mixed-message batch: random-coefficient multi-set verification (`verifyMultipleSignatures`). */
export function verifyMultiple(sets: SignatureSetInput[]): boolean {
  if (sets.length === 0) return true
  try {
    return bls.verifyMultipleSignatures(
      sets.map((s) => ({
        publicKey: s.publicKey,
        message: signingMessage(s.domain, s.message),
        signature: s.signature instanceof Uint8Array ? decodeSignature(s.signature) : s.signature
      }))
    )
  } catch {
    return false
  }
}

/** Signatures over one message by several keys: summed, they are one set of a multi-set check. */
export interface SignatureGroup {
  publicKeys: PublicKey[]
  domain: string
  message: Uint8Array
  signatures: (Uint8Array | Signature)[]
}

/**
 * Several groups in one random-coefficient multi-set check (PROTOCOL 4.3): each group's signatures
 * summed against the sum of its keys, one Miller loop per group and one final exponentiation for
 * all, instead of a full pairing check per group. True only if every group's sum verifies; a
 * group verifies as a same-message batch does (each signature validated when decoded). Any
 * malformed input is a failure, never a throw.
 */
export function verifyGroups(groups: SignatureGroup[]): boolean {
  if (groups.length === 0) return true
  try {
    return verifyMultiple(
      groups.map((g) => ({
        publicKey: sumPublicKeys(g.publicKeys),
        domain: g.domain,
        message: g.message,
        signature: sumSignatures(g.signatures)
      }))
    )
  } catch {
    return false
  }
}

export interface BatchResult {
  /** True when every signature is valid. */
  ok: boolean
  /** Indices of the invalid signatures (empty when ok). */
  bad: number[]
  /** Number of verification calls made (1 when the aggregate check passed). */
  checks: number
}

/**
 * Verify many signatures over one message (PROTOCOL 4.3): one aggregate check; if it fails,
 * check each one to find the bad ones, so a single bad signature costs extra work but can never
 * make the good ones fail.
 */
export function batchVerifySameMessage(
  items: { publicKey: PublicKey; signature: Uint8Array }[],
  domain: string,
  msg: Uint8Array
): BatchResult {
  if (items.length === 0) return { ok: true, bad: [], checks: 0 }
  const decodedItems: (Signature | null)[] = items.map((it) => {
    try {
      return decodeSignature(it.signature)
    } catch {
      return null
    }
  })
  if (decodedItems.every((s) => s !== null)) {
    // The sum of validated points needs no validation of its own: it stays a Signature, not bytes.
    const agg = bls.Signature.aggregate(decodedItems as Signature[])
    if (
      fastAggregateVerify(
        items.map((it) => it.publicKey),
        domain,
        msg,
        agg
      )
    )
      return { ok: true, bad: [], checks: 1 }
  }
  const bad: number[] = []
  const m = signingMessage(domain, msg)
  for (let i = 0; i < items.length; i++) {
    const s = decodedItems[i]
    let good: boolean
    try {
      good = s?.verifyAggregate([items[i].publicKey], m) === true
    } catch {
      good = false
    }
    if (!good) bad.push(i)
  }
  return { ok: bad.length === 0, bad, checks: 1 + items.length }
}

/** Proof of possession (PROTOCOL 1.3 [hardening]): a signature by the key over the key itself. */
export function provePossession(sk: SecretKey): Uint8Array {
  return sign(sk, DOMAIN.pop, sk.toPublicKey().toBytes())
}

export function verifyPossession(pk: PublicKey, pop: Uint8Array): boolean {
  return verify(pk, DOMAIN.pop, pk.toBytes(), pop)
}
