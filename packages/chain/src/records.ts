/**
 * The block store's own records (buckets.ts), each one canonical CBOR, decoded defensively: the
 * head, the reputation state, the consensus log (what this peer last signed) and the endorsements
 * this peer gave.
 */
import { BbnpError, decodeCanonical, encodeCanonical, readArray, readBytes, readObject, readString, readUint } from '@bbnp/core'
import { HASH_BYTES, MAX_CONSENSUS, type SignedPhase, type SignedRecord } from '@bbnp/consensus'

/** The newest block's height, hash and slot (height 0, the genesis hash and slot -1 when empty). */
export interface StoreHead {
  /** 0 while only the genesis exists. */
  height: number
  /** The head block's hash; the genesis hash at height 0. */
  hash: Uint8Array
  /** The head block's slot; -1 at height 0. */
  slot: number
}

/** The reputation vector after block `height` (fixed point), from the opinions of `opinionHeight`. */
export interface ReputationState {
  height: number
  vector: number[]
  opinionHeight: number
}

const SIGNED_PHASES: readonly SignedPhase[] = ['preprepare', 'prepare', 'commit', 'viewchange', 'newview']

export function encodeHead(h: StoreHead): Uint8Array {
  return encodeCanonical({ height: h.height, hash: h.hash, slot: h.slot })
}

export function decodeHead(b: Uint8Array): StoreHead {
  const o = readObject(decodeCanonical(b, { maxBytes: 128 }), 'head', ['height', 'hash', 'slot'])
  return {
    height: readUint(o.height, 'head.height'),
    hash: readBytes(o.hash, 'head.hash', HASH_BYTES),
    slot: readUint(o.slot, 'head.slot')
  }
}

export function encodeReputation(r: ReputationState): Uint8Array {
  return encodeCanonical({ height: r.height, vector: r.vector, from: r.opinionHeight })
}

export function decodeReputation(b: Uint8Array): ReputationState {
  const o = readObject(decodeCanonical(b, { maxBytes: 16 * MAX_CONSENSUS }), 'reputation', ['height', 'vector', 'from'])
  return {
    height: readUint(o.height, 'reputation.height'),
    vector: readArray(o.vector, 'reputation.vector', MAX_CONSENSUS, (x) => readUint(x, 'reputation')),
    opinionHeight: readUint(o.from, 'reputation.from')
  }
}

/** One endorsement this peer gave (PROTOCOL 3.5.5): the hash of the set, its partial sum over it, its signature. */
export interface EndorsementRecord {
  set: Uint8Array
  z: Uint8Array
  signature: Uint8Array
}

export function encodeEndorsementRecord(r: EndorsementRecord): Uint8Array {
  return encodeCanonical({ set: r.set, z: r.z, sig: r.signature })
}

export function decodeEndorsementRecord(b: Uint8Array): EndorsementRecord {
  const o = readObject(decodeCanonical(b, { maxBytes: 256 }), 'endorsement', ['set', 'z', 'sig'])
  return {
    set: readBytes(o.set, 'endorsement set', 32),
    z: readBytes(o.z, 'endorsement z', 32),
    signature: readBytes(o.sig, 'endorsement sig', 96)
  }
}

export function encodeSignedRecord(r: SignedRecord): Uint8Array {
  return encodeCanonical({ height: r.height, view: r.view, phase: r.phase, digest: r.digest })
}

export function decodeSignedRecord(b: Uint8Array): SignedRecord {
  const o = readObject(decodeCanonical(b, { maxBytes: 256 }), 'consensus log', ['height', 'view', 'phase', 'digest'])
  const phase = readString(o.phase, 'consensus log phase', 16) as SignedPhase
  if (!SIGNED_PHASES.includes(phase)) throw new BbnpError('MALFORMED', `consensus log: unknown phase ${phase}`)
  return {
    height: readUint(o.height, 'consensus log height'),
    view: readUint(o.view, 'consensus log view'),
    phase,
    digest: o.digest === null ? null : readBytes(o.digest, 'consensus log digest', HASH_BYTES)
  }
}
