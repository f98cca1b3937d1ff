/**
 * Block sync (PROTOCOL 4.6, section 6), the logic without libp2p: the payloads of
 * `/bbnp/blocks/1` and `/bbnp/status/1`, the server side that reads them from the store, and the
 * client side that verifies what a peer sent before anything is stored.
 *
 * A peer that starts, restarts or falls behind asks for blocks by height range; every frame it
 * gets back carries one block and its commit certificate, and a block is stored only after its
 * height, its link to the previous block and its certificate (against the genesis keys) check
 * out. The store checks all of that again in `commit`, so a bad frame can never be stored.
 */
import {
  BbnpError,
  bytesEqual,
  type ProtocolDescriptor,
  decodeCanonical,
  encodeCanonical,
  errorMessage,
  readBigInt,
  readBytes,
  readObject,
  readUint,
  toHex
} from '@bbnp/core'
import type { PublicKey } from '@bbnp/crypto'
import {
  checkCertificate,
  decodeBlock,
  decodeCertificate,
  encodeBlock,
  encodeCertificate,
  HASH_BYTES,
  hashEncodedBlock
} from '@bbnp/consensus'
import type { StoreHead } from './records.ts'
import { type BlockStore, MAX_RANGE, type StoredBlock } from './store.ts'

/** Blocks per request; a server answers at most this many frames. */
export const MAX_SYNC_COUNT = MAX_RANGE
/** A request is two small integers. */
export const MAX_BLOCKS_REQUEST_BYTES = 64
/** Two hashes and two integers. */
export const MAX_STATUS_BYTES = 160
/** A certificate is 96 bytes of signature, a bitmap of at most 128 bytes and two integers. */
const MAX_CERT_BYTES = 512
const FRAME_OVERHEAD = 32

/** The largest block frame for blocks of at most `maxBlockBytes`. */
export function maxBlockFrameBytes(maxBlockBytes: number): number {
  return maxBlockBytes + MAX_CERT_BYTES + FRAME_OVERHEAD
}

/** `/bbnp/status/1`: an empty request, one status frame back. */
export const STATUS_PROTOCOL: ProtocolDescriptor = {
  id: '/bbnp/status/1',
  maxRequestBytes: 16,
  maxResponseBytes: MAX_STATUS_BYTES,
  maxResponseFrames: 1,
  timeoutMs: 3000
}

/** `/bbnp/blocks/1`: a height range, then one frame per block (with its certificate). */
export function blocksProtocol(maxBlockBytes: number): ProtocolDescriptor {
  return {
    id: '/bbnp/blocks/1',
    maxRequestBytes: MAX_BLOCKS_REQUEST_BYTES,
    maxResponseBytes: maxBlockFrameBytes(maxBlockBytes),
    maxResponseFrames: MAX_SYNC_COUNT,
    timeoutMs: 10_000
  }
}

export type SyncErrorCode =
  'MALFORMED' | 'OVERSIZED' | 'TOO_MANY_FRAMES' | 'NOT_CANONICAL' | 'WRONG_HEIGHT' | 'WRONG_PARENT' | 'BAD_CERTIFICATE'

function malformed(msg: string): never {
  throw new BbnpError('MALFORMED', msg)
}

// ---------------------------------------------------------------- /bbnp/blocks/1 request

export interface BlocksRequest {
  /** First height wanted (>= 1). */
  from: number
  /** 1..MAX_SYNC_COUNT */
  count: number
}

export function encodeBlocksRequest(r: BlocksRequest): Uint8Array {
  if (!Number.isSafeInteger(r.from) || r.from < 1) throw new RangeError('from must be a height >= 1')
  if (!Number.isInteger(r.count) || r.count < 1 || r.count > MAX_SYNC_COUNT) throw new RangeError(`count must be in 1..${MAX_SYNC_COUNT}`)
  return encodeCanonical({ from: r.from, count: r.count })
}

/** Throws a BbnpError (MALFORMED or OVERSIZED) on anything but a well-formed, bounded request. */
export function decodeBlocksRequest(bytes: Uint8Array): BlocksRequest {
  const o = readObject(decodeCanonical(bytes, { maxBytes: MAX_BLOCKS_REQUEST_BYTES }), 'blocks request', ['from', 'count'])
  const from = readUint(o.from, 'blocks request from')
  const count = readUint(o.count, 'blocks request count', MAX_SYNC_COUNT)
  if (from < 1) malformed('blocks request from must be >= 1')
  if (count < 1) malformed('blocks request count must be >= 1')
  return { from, count }
}

// ---------------------------------------------------------------- /bbnp/blocks/1 response frames

/** One frame: the block's exact stored bytes (what its hash is over) and its certificate. */
export function encodeBlockFrame(encodedBlock: Uint8Array, encodedCert: Uint8Array): Uint8Array {
  return encodeCanonical({ block: encodedBlock, cert: encodedCert })
}

export function decodeBlockFrame(bytes: Uint8Array, maxBlockBytes: number): { encoded: Uint8Array; certBytes: Uint8Array } {
  const o = readObject(decodeCanonical(bytes, { maxBytes: maxBlockFrameBytes(maxBlockBytes) }), 'block frame', ['block', 'cert'])
  return {
    encoded: readBytes(o.block, 'block frame block', undefined, maxBlockBytes),
    certBytes: readBytes(o.cert, 'block frame cert', undefined, MAX_CERT_BYTES)
  }
}

/**
 * Server side: the frames answering `request`, one per stored block from `request.from` up to
 * `count` blocks or the head, whichever comes first (none when `from` is above the head).
 */
export async function serveBlocks(store: BlockStore, request: BlocksRequest): Promise<Uint8Array[]> {
  if (!Number.isSafeInteger(request.from) || request.from < 1) malformed('blocks request from must be a height >= 1')
  const head = store.head()
  const count = Math.min(Math.floor(request.count), MAX_SYNC_COUNT)
  if (request.from > head.height || !(count >= 1)) return []
  const to = Math.min(request.from + count - 1, head.height)
  const blocks = await store.getRange(request.from, to, count)
  const bound = maxBlockFrameBytes(store.maxBlockBytes)
  return blocks.map((s) => {
    const frame = encodeBlockFrame(s.encoded, encodeCertificate(s.cert))
    if (frame.length > bound)
      throw new BbnpError('OVERSIZED', `stored block ${s.height} makes a frame of ${frame.length} bytes (max ${bound})`)
    return frame
  })
}

// ---------------------------------------------------------------- client side

export type VerifiedBlock = StoredBlock

export interface SyncFailure {
  code: SyncErrorCode
  /** Index of the offending frame. */
  index: number
  /** The height that frame should have carried. */
  height: number
  message: string
}

export interface SyncResult {
  /** The verified blocks before the first bad frame, in height order; store them with `commit`. */
  blocks: VerifiedBlock[]
  /** The first bad frame, or null when every frame verified. Frames after it are not looked at. */
  error: SyncFailure | null
}

/**
 * Client side (PROTOCOL 4.6): decode each frame (size-bounded), and check that block i has height
 * `expectedFromHeight + i`, extends the previous block (`prevHash`, the local head's hash, for the
 * first one), is canonically encoded, and carries a certificate that verifies with the genesis
 * keys and quorum. Stops at the first bad frame: nothing after it is trusted.
 */
export function verifySyncedBlocks(
  frames: Uint8Array[],
  expectedFromHeight: number,
  prevHash: Uint8Array,
  keys: PublicKey[],
  quorum: number,
  maxBlockBytes: number
): SyncResult {
  const blocks: VerifiedBlock[] = []
  const fail = (code: SyncErrorCode, index: number, message: string): SyncResult => ({
    blocks,
    error: { code, index, height: expectedFromHeight + index, message }
  })
  let prev = prevHash
  for (let i = 0; i < frames.length; i++) {
    if (i === MAX_SYNC_COUNT) return fail('TOO_MANY_FRAMES', i, `more than ${MAX_SYNC_COUNT} frames`)
    const height = expectedFromHeight + i
    let parsed: StoredBlock
    try {
      const { encoded, certBytes } = decodeBlockFrame(frames[i], maxBlockBytes)
      const block = decodeBlock(encoded, maxBlockBytes)
      // PROTOCOL 0: only the canonical encoding hashes to Bd; re-encode and compare.
      if (!bytesEqual(encodeBlock(block), encoded)) return fail('NOT_CANONICAL', i, `block ${height} is not canonically encoded`)
      const cert = decodeCertificate(certBytes)
      if (!bytesEqual(encodeCertificate(cert), certBytes))
        return fail('NOT_CANONICAL', i, `certificate of block ${height} is not canonically encoded`)
      parsed = { height: block.height, block, encoded, hash: hashEncodedBlock(encoded), cert }
    } catch (e) {
      const code = e instanceof BbnpError && e.code === 'OVERSIZED' ? 'OVERSIZED' : 'MALFORMED'
      return fail(code, i, `frame for block ${height}: ${errorMessage(e)}`)
    }
    if (parsed.height !== height) return fail('WRONG_HEIGHT', i, `expected block ${height}, got ${parsed.height}`)
    if (!bytesEqual(parsed.block.prevHash, prev)) return fail('WRONG_PARENT', i, `block ${height} does not extend ${toHex(prev)}`)
    const certError = checkCertificate(parsed.cert, height, parsed.hash, keys, quorum)
    if (certError) return fail('BAD_CERTIFICATE', i, `certificate of block ${height} refused (${certError})`)
    blocks.push(parsed)
    prev = parsed.hash
  }
  return { blocks, error: null }
}

// ---------------------------------------------------------------- /bbnp/status/1

export interface ChainStatus {
  genesisHash: Uint8Array
  height: number
  headHash: Uint8Array
  /** The head block's slot; -1 at height 0. */
  latestSlot: number
}

export function statusOf(store: BlockStore): ChainStatus {
  const head: StoreHead = store.head()
  return { genesisHash: store.genesisHash, height: head.height, headHash: head.hash, latestSlot: head.slot }
}

export function encodeStatus(s: ChainStatus): Uint8Array {
  return encodeCanonical({ genesis: s.genesisHash, height: s.height, head: s.headHash, slot: s.latestSlot })
}

export function decodeStatus(bytes: Uint8Array): ChainStatus {
  const o = readObject(decodeCanonical(bytes, { maxBytes: MAX_STATUS_BYTES }), 'status', ['genesis', 'height', 'head', 'slot'])
  const s: ChainStatus = {
    genesisHash: readBytes(o.genesis, 'status genesis', HASH_BYTES),
    height: readUint(o.height, 'status height'),
    headHash: readBytes(o.head, 'status head', HASH_BYTES),
    latestSlot: -1
  }
  const slot = readBigInt(o.slot, 'status slot')
  if (slot < -1n || slot > BigInt(Number.MAX_SAFE_INTEGER)) malformed('status slot out of range')
  s.latestSlot = Number(slot)
  if ((s.height === 0) !== (s.latestSlot === -1)) malformed('status slot is -1 exactly at height 0')
  if (s.height === 0 && !bytesEqual(s.headHash, s.genesisHash)) malformed('status head at height 0 must be the genesis hash')
  return s
}

/**
 * What to ask a peer for, given our head and its status: the next page of blocks, or null when
 * the peer is on another genesis or not ahead of us.
 */
export function nextBlocksRequest(local: StoreHead, genesisHash: Uint8Array, peer: ChainStatus): BlocksRequest | null {
  if (!bytesEqual(peer.genesisHash, genesisHash) || peer.height <= local.height) return null
  return { from: local.height + 1, count: Math.min(MAX_SYNC_COUNT, peer.height - local.height) }
}
