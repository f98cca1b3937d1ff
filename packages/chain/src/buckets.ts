/**
 * The LevelDB key layout, in one place (STYLE: "a repository per bucket over LevelDB").
 *
 * Every key starts with a one-byte bucket; numbers in keys are u64 big-endian, so a range scan
 * over a bucket returns heights (or slots) in ascending order. Values are canonical CBOR unless
 * noted. Changing anything here changes the on-disk format: bump BUCKETS_VERSION (or
 * GATEWAY_BUCKETS_VERSION). A change to the block's or the aggregate's encoding bumps the schema
 * through BLOCK_FORMAT and AGGREGATE_FORMAT (packages/consensus), with nothing to do here.
 */
import { u64be, utf8 } from '@bbnp/core'
import { AGGREGATE_FORMAT, BLOCK_FORMAT } from '@bbnp/consensus'

/** This file's own layout version (0: as first released). */
const BUCKETS_VERSION = 0
/**
 * Written to meta on a new store; a store of another version is refused at open. Both parts only
 * ever grow, so their sum changes with either. 2: an aggregate names the first slot it covers
 * (`from`), and may cover a range of missed slots.
 */
export const SCHEMA_VERSION = BUCKETS_VERSION + BLOCK_FORMAT

export const BUCKET = {
  /** u64 height -> encoded block (the exact canonical bytes whose hash is Bd) */
  block: 0x01,
  /** block hash (32 bytes) -> u64 height */
  heightByHash: 0x02,
  /** u64 height -> encoded commit certificate of that block */
  certificate: 0x03,
  /** u64 slot -> u64 height of the block whose aggregate ends at that slot (slots strictly increase
   * along the chain; a range of missed slots is indexed by its last slot) */
  heightBySlot: 0x04,
  /** (no key) -> { height, hash, slot } of the newest block; absent while only the genesis exists */
  head: 0x05,
  /** (no key) -> { height, vector, from }: the reputation vector after block `height`, computed from
   * the opinions of height `from`. Derivable from the blocks; stored for a fast start. */
  reputation: 0x06,
  /** (no key) -> { height, view, phase, digest }: the last consensus message this peer signed,
   * written before it is sent (PROTOCOL 4.2, 4.5: never sign a conflicting message after a restart) */
  consensusLog: 0x07,
  /** utf8 name -> value: "version" -> u32 schema version; "genesis" -> the 32-byte genesis hash */
  meta: 0x08,
  /** (no key) -> this peer's interaction records (the reputation model's evidence, canonical CBOR),
   * written with each block so that a restarted peer's opinions go on from where they were */
  records: 0x09,
  /** u64 slot -> { set, z, sig }: the one reporter set this peer endorsed for the slot, its partial
   * sum over it and its ENDORSE signature (PROTOCOL 3.5.5), written before the answer leaves, so
   * that it never endorses a second set for a slot, also after a restart */
  endorsement: 0x0a
} as const

export type Bucket = (typeof BUCKET)[keyof typeof BUCKET]

/** bucket || u64be(n): blocks, certificates, slots. */
export function numberKey(bucket: Bucket, n: number): Uint8Array {
  const k = new Uint8Array(9)
  k[0] = bucket
  k.set(u64be(n), 1)
  return k
}

/** bucket || bytes: the hash index. */
export function bytesKey(bucket: Bucket, bytes: Uint8Array): Uint8Array {
  const k = new Uint8Array(1 + bytes.length)
  k[0] = bucket
  k.set(bytes, 1)
  return k
}

/** The key of a single-record bucket (head, reputation, consensus log). */
export function singletonKey(bucket: Bucket): Uint8Array {
  return new Uint8Array([bucket])
}

export function metaKey(name: 'version' | 'genesis'): Uint8Array {
  return bytesKey(BUCKET.meta, utf8(name))
}

/** The gateway's store (gateway-store.ts): slots it closed whose aggregate no block holds yet. */
const GATEWAY_BUCKETS_VERSION = 0
export const GATEWAY_SCHEMA_VERSION = GATEWAY_BUCKETS_VERSION + AGGREGATE_FORMAT

export const GATEWAY_BUCKET = {
  /** u64 slot -> encoded signed aggregate, closed but not yet known to be in a block */
  pending: 0x01,
  /** (no key) -> u64: the last slot the gateway closed (or recorded as missed) */
  lastClosed: 0x02,
  /** utf8 name -> value: "version" -> u32 schema version; "genesis" -> the 32-byte genesis hash */
  meta: 0x08
} as const
