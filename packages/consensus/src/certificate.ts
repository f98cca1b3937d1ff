/**
 * Vote payloads and commit certificates (PROTOCOL 4.2, 4.3). A prepare or commit signs
 * (height, view, Bd) under its own domain tag; a certificate is 2f+1 of those signatures
 * aggregated, with a bitmap naming the signers, verified with one fast-aggregate check against
 * the signers' genesis keys.
 */
import { concatBytes, DOMAIN, u64be } from '@bbnp/core'
import { aggregateSignatures, fastAggregateVerify, type PublicKey } from '@bbnp/crypto'
import { type Endorsement, endorsementPayloadOf } from './aggregate.ts'
import { bitmapFromIndices, type CommitCertificate, indicesFromBitmap } from './block.ts'

export type VotePhase = 'prepare' | 'commit'

export function voteDomain(phase: VotePhase): string {
  return phase === 'prepare' ? DOMAIN.prepare : DOMAIN.commit
}

/** The bytes a prepare or commit signs: u64 height || u64 view || Bd. */
export function votePayload(height: number, view: number, digest: Uint8Array): Uint8Array {
  return concatBytes(u64be(height), u64be(view), digest)
}

export function makeCertificate(
  height: number,
  view: number,
  votes: { node: number; signature: Uint8Array }[],
  m: number
): CommitCertificate {
  const sorted = [...votes].sort((a, b) => a.node - b.node)
  if (sorted.some((v, i) => i > 0 && v.node === sorted[i - 1].node)) throw new RangeError('a node appears twice in a certificate')
  return {
    height,
    view,
    signers: bitmapFromIndices(
      sorted.map((v) => v.node),
      m
    ),
    signature: aggregateSignatures(sorted.map((v) => v.signature))
  }
}

export type CertificateError = 'MALFORMED' | 'WRONG_HEIGHT' | 'TOO_FEW_SIGNERS' | 'BAD_SIGNATURE'

/**
 * Check a certificate for block `digest` at `height`: at least `quorum` distinct known signers
 * and one valid aggregate signature. Returns null when valid, else the reason.
 */
export function checkCertificate(
  cert: CommitCertificate,
  height: number,
  digest: Uint8Array,
  keys: PublicKey[],
  quorum: number,
  phase: VotePhase = 'commit'
): CertificateError | null {
  if (cert.height !== height) return 'WRONG_HEIGHT'
  let signers: number[]
  try {
    signers = indicesFromBitmap(cert.signers, keys.length)
  } catch {
    return 'MALFORMED'
  }
  if (signers.length < quorum) return 'TOO_FEW_SIGNERS'
  const ok = fastAggregateVerify(
    signers.map((i) => keys[i - 1]),
    voteDomain(phase),
    votePayload(height, cert.view, digest),
    cert.signature
  )
  return ok ? null : 'BAD_SIGNATURE'
}

/**
 * Check an aggregate's endorsement certificate (PROTOCOL 3.5.5): at least `quorum` distinct known
 * signers and one valid aggregate signature over ENDORSE(slot, the present meters). Two such
 * certificates for different sets of one slot would need an honest peer to endorse twice.
 */
export function checkEndorsement(
  endorsement: Endorsement,
  slot: number,
  setHash: Uint8Array,
  keys: PublicKey[],
  quorum: number
): CertificateError | null {
  let signers: number[]
  try {
    signers = indicesFromBitmap(endorsement.signers, keys.length)
  } catch {
    return 'MALFORMED'
  }
  if (signers.length < quorum) return 'TOO_FEW_SIGNERS'
  const ok = fastAggregateVerify(
    signers.map((i) => keys[i - 1]),
    DOMAIN.endorse,
    endorsementPayloadOf(slot, setHash),
    endorsement.signature
  )
  return ok ? null : 'BAD_SIGNATURE'
}

/** 2f+1 endorsement signatures, aggregated, with their signer bitmap. */
export function makeEndorsement(signatures: { node: number; signature: Uint8Array }[], m: number): Endorsement {
  const sorted = [...signatures].sort((a, b) => a.node - b.node)
  return {
    signers: bitmapFromIndices(
      sorted.map((s) => s.node),
      m
    ),
    signature: aggregateSignatures(sorted.map((s) => s.signature))
  }
}
