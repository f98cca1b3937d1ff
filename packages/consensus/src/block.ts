/**
 * The block (PROTOCOL 4.2 step 2) and the gateway's signed aggregate it carries (PROTOCOL 3.4).
 *
 * The block format lives here rather than in packages/chain because the PBFT replica must build
 * and check blocks, and the dependency rule lets chain import consensus but not the reverse;
 * packages/chain re-exports it and owns the store.
 *
 * Bd = SHA-256("bbnp/v1/block" || 0x00 || canonical CBOR of the block). The block's own commit
 * certificate is not part of it (it is made after the block is fixed); it is stored beside the
 * block and carried in the next block as `prevCert`.
 */
import {
  BbnpError,
  bytesEqual,
  concatBytes,
  DOMAIN,
  decodeCanonical,
  encodeCanonical,
  readArray,
  readBytes,
  readObject,
  readUint,
  utf8
} from '@bbnp/core'
import { sha256 } from '@bbnp/crypto'
import { AGGREGATE_FORMAT, aggregateFromCbor, aggregateToCbor, type SignedAggregate } from './aggregate.ts'
import { maxFaultProofBytes } from './fault-proof.ts'

// The aggregate's format lives in aggregate.ts; these names are also found here, beside the block.
/**
 * The block's encoding version: bump BLOCK_KEYS_VERSION with any change to the block's own keys
 * or their meaning; a block holds an aggregate, so the version grows with AGGREGATE_FORMAT too.
 * The block store's schema version follows it (packages/chain/src/buckets.ts).
 */
const BLOCK_KEYS_VERSION = 1
export const BLOCK_FORMAT = BLOCK_KEYS_VERSION + AGGREGATE_FORMAT

export { aggregatePayload, type SignedAggregate } from './aggregate.ts'

export const HASH_BYTES = 32
export const SIG_BYTES = 96
/** Upper bound on the number of consensus nodes the encodings accept. */
export const MAX_CONSENSUS = 1024

export interface ElectionDraw {
  /** consensus node index (cn-j has index j) */
  node: number
  /** sigma_q = BLS_sign(q, "bbnp/v1/election" || h || seed_h) */
  signature: Uint8Array
}

/** The signed values every peer uses to recompute the primary (PROTOCOL 4.1). */
export interface ElectionProof {
  /** The gateway's Theta signature over ("bbnp/v1/threshold", h, seed_h). */
  theta: Uint8Array
  /** Draws of the nodes known to the proposer (every node publishes one), sorted by node index. */
  draws: ElectionDraw[]
}

/** 2f+1 commit signatures on one block, aggregated (PROTOCOL 4.2 step 5). */
export interface CommitCertificate {
  height: number
  view: number
  /** Signer bitmap over the consensus nodes, bit (j-1) for cn-j. */
  signers: Uint8Array
  /** The aggregate of the signers' commit signatures over (height, view, Bd). */
  signature: Uint8Array
}

export interface ReputationUpdate {
  /** The reputation vector after this block, fixed point (REPUTATION_SCALE), index j-1 for cn-j. */
  vector: number[]
  /** The height whose signed opinions produced `vector`; equal to the parent's when unchanged. */
  opinionHeight: number
}

export interface Block {
  height: number
  prevHash: Uint8Array
  slot: number
  aggregate: SignedAggregate
  /** The node that proposed the block, and the view it proposed it in. */
  primary: number
  view: number
  election: ElectionProof
  reputation: ReputationUpdate
  /** The signed opinion vectors behind `reputation` (canonical encodings), empty when unchanged. */
  opinions: Uint8Array[]
  /** The commit certificate of block height-1 (null for height 1, whose parent is the genesis). */
  prevCert: CommitCertificate | null
  /** The proposer's clock when it built the block (informational, checked only loosely). */
  timestampMs: number
}

function fail(msg: string): never {
  throw new BbnpError('MALFORMED', msg)
}

// ---- bitmaps (signers, missing meters) ----

export function bitmapFromIndices(indices: Iterable<number>, size: number): Uint8Array {
  const b = new Uint8Array(Math.ceil(size / 8))
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 1 || i > size) throw new RangeError(`index ${i} outside 1..${size}`)
    b[(i - 1) >> 3] |= 1 << ((i - 1) & 7)
  }
  return b
}

/** The 1-based indices set in a bitmap of `size` bits; throws MALFORMED on a wrong length or stray bits. */
export function indicesFromBitmap(b: Uint8Array, size: number): number[] {
  if (b.length !== Math.ceil(size / 8)) fail(`bitmap of ${b.length} bytes for ${size} entries`)
  const out: number[] = []
  for (let i = 1; i <= b.length * 8; i++) {
    if (b[(i - 1) >> 3] & (1 << ((i - 1) & 7))) {
      if (i > size) fail('bitmap has bits beyond its size')
      out.push(i)
    }
  }
  return out
}

// ---- certificate ----

export function certificateToCbor(c: CommitCertificate): Record<string, unknown> {
  return { height: c.height, view: c.view, signers: c.signers, sig: c.signature }
}

export function certificateFromCbor(v: unknown): CommitCertificate {
  const o = readObject(v, 'certificate', ['height', 'view', 'signers', 'sig'])
  return {
    height: readUint(o.height, 'certificate.height'),
    view: readUint(o.view, 'certificate.view'),
    signers: readBytes(o.signers, 'certificate.signers', undefined, MAX_CONSENSUS / 8),
    signature: readBytes(o.sig, 'certificate.sig', SIG_BYTES)
  }
}

export function encodeCertificate(c: CommitCertificate): Uint8Array {
  return encodeCanonical(certificateToCbor(c))
}

export function decodeCertificate(bytes: Uint8Array): CommitCertificate {
  return certificateFromCbor(decodeCanonical(bytes, { maxBytes: 512 }))
}

// ---- block ----

function blockToCbor(b: Block): Record<string, unknown> {
  return {
    height: b.height,
    prev: b.prevHash,
    slot: b.slot,
    agg: aggregateToCbor(b.aggregate),
    primary: b.primary,
    view: b.view,
    election: { theta: b.election.theta, draws: b.election.draws.map((d) => ({ node: d.node, sig: d.signature })) },
    rep: { vector: b.reputation.vector, from: b.reputation.opinionHeight },
    opinions: b.opinions,
    prevCert: b.prevCert ? certificateToCbor(b.prevCert) : null,
    time: b.timestampMs
  }
}

export function encodeBlock(b: Block): Uint8Array {
  return encodeCanonical(blockToCbor(b))
}

export function blockFromCbor(v: unknown): Block {
  const o = readObject(v, 'block', ['height', 'prev', 'slot', 'agg', 'primary', 'view', 'election', 'rep', 'opinions', 'prevCert', 'time'])
  // Every field must be present, so that a block has exactly one encoding.
  for (const k of ['height', 'prev', 'slot', 'agg', 'primary', 'view', 'election', 'rep', 'opinions', 'prevCert', 'time'])
    if (!(k in o)) fail(`block.${k} missing`)
  const election = readObject(o.election, 'block.election', ['theta', 'draws'])
  const rep = readObject(o.rep, 'block.rep', ['vector', 'from'])
  const block: Block = {
    height: readUint(o.height, 'block.height'),
    prevHash: readBytes(o.prev, 'block.prev', HASH_BYTES),
    slot: readUint(o.slot, 'block.slot'),
    aggregate: aggregateFromCbor(o.agg),
    primary: readUint(o.primary, 'block.primary', MAX_CONSENSUS),
    view: readUint(o.view, 'block.view', 1_000_000),
    election: {
      theta: readBytes(election.theta, 'block.election.theta', SIG_BYTES),
      draws: readArray(election.draws, 'block.election.draws', MAX_CONSENSUS, (d) => {
        const x = readObject(d, 'draw', ['node', 'sig'])
        return { node: readUint(x.node, 'draw.node', MAX_CONSENSUS), signature: readBytes(x.sig, 'draw.sig', SIG_BYTES) }
      })
    },
    reputation: {
      vector: readArray(rep.vector, 'block.rep.vector', MAX_CONSENSUS, (x) => readUint(x, 'reputation')),
      opinionHeight: readUint(rep.from, 'block.rep.from')
    },
    opinions: readArray(o.opinions, 'block.opinions', MAX_CONSENSUS, (x) => readBytes(x, 'opinion', undefined, 64 * 1024)),
    prevCert: o.prevCert === null ? null : certificateFromCbor(o.prevCert),
    timestampMs: readUint(o.time, 'block.time')
  }
  if (block.height < 1) fail('block height starts at 1')
  if (block.slot !== block.aggregate.slot) fail('block slot differs from its aggregate slot')
  return block
}

export function decodeBlock(bytes: Uint8Array, maxBytes: number): Block {
  return blockFromCbor(decodeCanonical(bytes, { maxBytes }))
}

export function blockHash(b: Block): Uint8Array {
  return hashEncodedBlock(encodeBlock(b))
}

export function hashEncodedBlock(encoded: Uint8Array): Uint8Array {
  return sha256(concatBytes(utf8(DOMAIN.block), new Uint8Array([0]), encoded))
}

/**
 * A proposed block and its digest, or null if it is malformed or not in the canonical encoding:
 * only the canonical encoding can be signed, so it is decoded, encoded again and compared.
 */
export function decodeCanonicalBlock(encoded: Uint8Array, maxBytes: number): { block: Block; digest: Uint8Array } | null {
  try {
    const block = decodeBlock(encoded, maxBytes)
    if (!bytesEqual(encodeBlock(block), encoded)) return null
    return { block, digest: hashEncodedBlock(encoded) }
  } catch {
    return null
  }
}

/**
 * A rough upper bound on an encoded block for M nodes and N meters, used to size-bound frames:
 * the fixed fields, M draws, M opinion vectors of M entries, the missing meters' bitmap, and the
 * fault proof an aggregate may carry (PROTOCOL 3.5.5).
 */
export function maxBlockBytes(m: number, n: number): number {
  return 16 * 1024 + m * (SIG_BYTES + 16) + m * (m * 48 + 256) + Math.ceil(n / 8) + maxFaultProofBytes(m)
}
