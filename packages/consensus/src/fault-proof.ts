/**
 * The proof behind an aggregate's `faulty` bitmap (PROTOCOL 3.5.5, docs/protocol.md 3.5.5).
 *
 * A consensus peer signs the partial sum it releases: BLS under `bbnp/v1/partial` over
 * PARTIAL(t, A, z_u) = canonical CBOR {slot: t, set: SHA-256(A's bitmap), z: z_u}, with the same
 * key it signs its PBFT votes and its ENDORSE with. When the gateway finds values that disagree,
 * the aggregate carries the signed partials it judged by: at least 2f + 1 that agree and every
 * one it names. A replica accepts the names only if
 *
 *   - every signature is valid for its signer, over the aggregate's slot and present set;
 *   - the values of the peers not named, at least 2f + 1 of them, lie on one polynomial of
 *     degree <= f; and each named peer's value lies off it;
 *   - the bitmap names exactly the peers whose entries are off it.
 *
 * Why that proves a wrong value: of 2f + 1 signers at most f are faulty, so at least f + 1 of the
 * agreeing values are honest peers' points of the true P = sum_{i in A} p_i, and f + 1 points fix
 * a polynomial of degree f: the one they lie on is P. An honest peer's signed value is on P, so it
 * can never be shown off it, and a gateway cannot sign for a peer. What the proof cannot tell
 * apart is a peer that lied from a peer that was given wrong shares to sum (docs/protocol.md
 * 3.5.7).
 */
import { BbnpError, DOMAIN, encodeCanonical, readArray, readBytes, readObject, readUint } from '@bbnp/core'
import { interpolate, type PublicKey, scalarFromBytes, scalarToBytes, verify, verifyMultiple } from '@bbnp/crypto'
import { type SignatureCache, signerId } from './sigcache.ts'

/** Node indices in encodings are at most this (block.ts MAX_CONSENSUS). */
const MAX_NODES = 1024
const SIG_BYTES = 96

/** One consensus peer's signed partial sum z_u of a slot's reporter set. */
export interface SignedPartial {
  node: number
  /** z_u in [0, r) */
  value: bigint
  /** BLS under `bbnp/v1/partial` over PARTIAL(slot, set, z_u) */
  signature: Uint8Array
}

/**
 * The most a proof adds to an aggregate's encoding among M consensus nodes: one entry per node
 * at most (2f+1 agreeing and the rest named), each {node, z, sig} about 147 bytes in CBOR.
 */
export function maxFaultProofBytes(m: number): number {
  return 16 + 160 * m
}

/** PARTIAL(t, A, z_u): what a consensus peer signs when it releases its partial sum. */
export function partialPayload(slot: number, setHash: Uint8Array, value: bigint): Uint8Array {
  return encodeCanonical({ slot, set: setHash, z: scalarToBytes(value) })
}

/** The proof's encoding: entries `{node, z, sig}` sorted by node, z 32 bytes big-endian. */
export function faultProofToCbor(proof: readonly SignedPartial[]): Record<string, unknown>[] {
  return proof.map((p) => ({ node: p.node, z: scalarToBytes(p.value), sig: p.signature }))
}

function fail(msg: string): never {
  throw new BbnpError('MALFORMED', msg)
}

/** Decode a proof's entries: shapes and ranges only (MALFORMED otherwise), not the algebra or the signatures. */
export function faultProofFromCbor(v: unknown): SignedPartial[] {
  let last = 0
  return readArray(v, 'aggregate.proof', MAX_NODES, (x) => {
    const o = readObject(x, 'proof entry', ['node', 'z', 'sig'])
    const node = readUint(o.node, 'proof entry node', MAX_NODES)
    if (node <= last) fail('aggregate.proof: entries sorted by node, each once, from 1')
    last = node
    const z = readBytes(o.z, 'proof entry z', 32)
    let value: bigint
    try {
      value = scalarFromBytes(z)
    } catch {
      fail('proof entry z: not below r')
    }
    return { node, value, signature: readBytes(o.sig, 'proof entry sig', SIG_BYTES) }
  })
}

export type FaultProofError =
  /** `faulty` names a peer, and there is no proof */
  | 'NO_PROOF'
  /** a proof without anyone named, a named peer without an entry, or a signer outside 1..M */
  | 'NOT_PROVEN'
  /** fewer than 2f + 1 entries of peers not named */
  | 'TOO_FEW_AGREEING'
  /** the entries of the peers not named do not lie on one polynomial of degree f */
  | 'NO_AGREEMENT'
  /** a named peer's value lies on that polynomial: it is not wrong */
  | 'ON_POLYNOMIAL'
  /** a signature does not verify for its signer, this slot and this set */
  | 'BAD_SIGNATURE'

/**
 * Check the proof behind the faulty peers `named` (PROTOCOL 3.5.5; see the file comment): null when
 * it holds, else why not. The algebra first (cheap), then every signature at once, through the cache.
 */
export function checkFaultProof(
  named: readonly number[],
  proof: readonly SignedPartial[] | null,
  slot: number,
  setHash: Uint8Array,
  keys: readonly PublicKey[],
  quorum: number,
  cache: SignatureCache
): FaultProofError | null {
  if (named.length === 0) return proof === null ? null : 'NOT_PROVEN'
  if (proof === null) return 'NO_PROOF'
  const m = keys.length
  const f = Math.floor((m - 1) / 3)
  if (proof.some((p) => p.node < 1 || p.node > m)) return 'NOT_PROVEN'
  const isNamed = new Set(named)
  const wrong = proof.filter((p) => isNamed.has(p.node))
  if (wrong.length !== named.length) return 'NOT_PROVEN'
  const agreeing = proof.filter((p) => !isNamed.has(p.node))
  if (agreeing.length < Math.max(quorum, f + 1)) return 'TOO_FEW_AGREEING'
  const points = agreeing.map((p) => ({ x: p.node, y: p.value }))
  const P = interpolate(points.slice(0, f + 1))
  if (points.slice(f + 1).some((pt) => P(BigInt(pt.x)) !== pt.y)) return 'NO_AGREEMENT'
  if (wrong.some((p) => P(BigInt(p.node)) === p.value)) return 'ON_POLYNOMIAL'
  return verifyPartials(proof, slot, setHash, keys, cache) ? null : 'BAD_SIGNATURE'
}

/**
 * Every signed partial valid for its signer: those not seen before are checked as one
 * random-coefficient multi-set (different messages, PROTOCOL 4.3), then remembered, so an
 * aggregate checked at its hand-off costs nothing more in the block.
 */
export function verifyPartials(
  partials: readonly SignedPartial[],
  slot: number,
  setHash: Uint8Array,
  keys: readonly PublicKey[],
  cache: SignatureCache
): boolean {
  const items = partials.map((p) => ({ p, message: partialPayload(slot, setHash, p.value) }))
  const todo = items.filter(({ p, message }) => !cache.has(signerId(p.node), DOMAIN.partial, message, p.signature))
  const ok = verifyMultiple(
    todo.map(({ p, message }) => ({ publicKey: keys[p.node - 1], domain: DOMAIN.partial, message, signature: p.signature }))
  )
  if (!ok) return false
  for (const { p, message } of todo) cache.rememberVerified(signerId(p.node), DOMAIN.partial, message, p.signature)
  return true
}

/**
 * The gateway's check of the partials it received (PROTOCOL 3.5.5): the nodes whose signature
 * does not verify. All at once first; one by one only if that fails, so a bad signature costs
 * extra work but never makes the good ones fail.
 */
export function badPartials(partials: readonly SignedPartial[], slot: number, setHash: Uint8Array, keys: readonly PublicKey[]): number[] {
  const sets = partials.map((p) => ({
    publicKey: keys[p.node - 1],
    domain: DOMAIN.partial,
    message: partialPayload(slot, setHash, p.value),
    signature: p.signature
  }))
  if (verifyMultiple(sets)) return []
  return partials.filter((_, k) => !verify(sets[k].publicKey, sets[k].domain, sets[k].message, sets[k].signature)).map((p) => p.node)
}
