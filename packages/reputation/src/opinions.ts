/**
 * Signed local-opinion vectors (PROTOCOL 4.4): after each height, consensus node i signs its
 * local opinion (b_ij, d_ij, u_ij) of every other node j, plus its evidence count N_ij (for the
 * interaction frequency IF), and publishes the vector on the reputation topic. Everything else
 * (recommended opinions, synthesis, equation 2) is a deterministic function of these vectors and
 * the previous reputation vector, so the next primary and every replica compute the same result.
 *
 * Values are fixed point (REPUTATION_SCALE); b + d + u = SCALE exactly. The canonical encoding is
 * CBOR `{h, i, o: [[j, b, d, u, n], ...]}` with the entries for every j != i in index order; the
 * signature is BLS under the domain tag "bbnp/v1/opinion" over that encoding.
 */
import { BbnpError, DOMAIN, decodeCanonical, encodeCanonical, readArray, readBytes, readObject, readUint } from '@bbnp/core'
import { type PublicKey, SIGNATURE_BYTES, type SecretKey, sign, verify } from '@bbnp/crypto'
import type { Opinion } from './model.ts'
import { fromFixedPoint, REPUTATION_SCALE, type ReputationErrorCode, toFixedPoint } from './params.ts'

/** One local opinion in fixed point. */
export interface OpinionEntry {
  /** j, the observed node. */
  peer: number
  b: number
  d: number
  u: number
  /** N_ij, the number of interactions i recorded with j. */
  n: number
}

export interface OpinionVector {
  /** The height after which the opinions were formed. */
  height: number
  /** i, the observer. */
  observer: number
  /** One entry per node j != observer, in index order. */
  opinions: OpinionEntry[]
}

export interface SignedOpinionVector {
  vector: OpinionVector
  signature: Uint8Array
}

function badOpinion(msg: string): never {
  throw new BbnpError<ReputationErrorCode>('BAD_OPINION', msg)
}

/** Round an opinion to fixed point, keeping b + d + u = SCALE exactly (u takes the remainder). */
export function toOpinionEntry(peer: number, o: Opinion, n: number): OpinionEntry {
  const b = toFixedPoint(o.b)
  let d = toFixedPoint(o.d)
  if (b + d > REPUTATION_SCALE) d = REPUTATION_SCALE - b
  return { peer, b, d, u: REPUTATION_SCALE - b - d, n }
}

export function entryOpinion(e: OpinionEntry): Opinion {
  return { b: fromFixedPoint(e.b), d: fromFixedPoint(e.d), u: fromFixedPoint(e.u) }
}

/** Throws BAD_OPINION unless the vector is complete and well formed for M = `nodes`. */
export function validateOpinionVector(v: OpinionVector, nodes: number): void {
  if (!Number.isSafeInteger(v.height) || v.height < 0) badOpinion(`bad height ${v.height}`)
  if (!Number.isSafeInteger(v.observer) || v.observer < 1 || v.observer > nodes) badOpinion(`observer ${v.observer} is not a node index`)
  if (v.opinions.length !== nodes - 1) badOpinion(`observer ${v.observer}: ${v.opinions.length} opinions, expected ${nodes - 1}`)
  let expected = 1
  for (const e of v.opinions) {
    if (expected === v.observer) expected++
    if (e.peer !== expected)
      badOpinion(`observer ${v.observer}: opinion of ${e.peer} where ${expected} was expected (one per other node, in order)`)
    expected++
    for (const x of [e.b, e.d, e.u])
      if (!Number.isSafeInteger(x) || x < 0 || x > REPUTATION_SCALE) badOpinion(`observer ${v.observer}: value ${x} out of range`)
    if (e.b + e.d + e.u !== REPUTATION_SCALE) badOpinion(`observer ${v.observer}: b + d + u of ${e.peer} is not ${REPUTATION_SCALE}`)
    if (!Number.isSafeInteger(e.n) || e.n < 0) badOpinion(`observer ${v.observer}: bad evidence count ${e.n}`)
  }
}

function body(v: OpinionVector): Record<string, unknown> {
  return { h: v.height, i: v.observer, o: v.opinions.map((e) => [e.peer, e.b, e.d, e.u, e.n]) }
}

/** The bytes that are signed: the canonical encoding of the vector. */
export function opinionVectorBytes(v: OpinionVector): Uint8Array {
  return encodeCanonical(body(v))
}

export function signOpinionVector(sk: SecretKey, v: OpinionVector): SignedOpinionVector {
  return { vector: v, signature: sign(sk, DOMAIN.opinion, opinionVectorBytes(v)) }
}

/** True when `pk` (the observer's verification key) signed exactly this vector. */
export function verifyOpinionVector(pk: PublicKey | Uint8Array, sv: SignedOpinionVector): boolean {
  return verify(pk, DOMAIN.opinion, opinionVectorBytes(sv.vector), sv.signature)
}

export function encodeSignedOpinionVector(sv: SignedOpinionVector): Uint8Array {
  return encodeCanonical({ v: body(sv.vector), s: sv.signature })
}

/** Decode and validate the shape (not the signature) of a signed vector for M = `nodes`. */
export function decodeSignedOpinionVector(bytes: Uint8Array, opts: { nodes: number }): SignedOpinionVector {
  const top = readObject(decodeCanonical(bytes, { maxBytes: 256 + 48 * opts.nodes }), 'opinion vector', ['v', 's'])
  const b = readObject(top.v, 'opinion vector body', ['h', 'i', 'o'])
  const opinions = readArray(b.o, 'opinions', opts.nodes, (x, k) => {
    const row = readArray(x, `opinion ${k}`, 5, (y, c) => readUint(y, `opinion ${k}[${c}]`))
    if (row.length !== 5) badOpinion(`opinion ${k}: expected [peer, b, d, u, n]`)
    const [peer, bb, d, u, n] = row
    return { peer, b: bb, d, u, n }
  })
  const vector: OpinionVector = { height: readUint(b.h, 'height'), observer: readUint(b.i, 'observer'), opinions }
  validateOpinionVector(vector, opts.nodes)
  return { vector, signature: readBytes(top.s, 'signature', SIGNATURE_BYTES) }
}
