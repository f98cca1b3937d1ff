/**
 * The whole-chain check of a block store (`bbnp verify`, and the newest blocks at every open).
 */
import { bytesEqual } from '@bbnp/core'
import { checkCertificate } from '@bbnp/consensus'
import { BUCKET } from './buckets.ts'
import type { BlockStore, StoreOptions } from './store.ts'

export interface VerifyOptions {
  /** Check from this height on (default 1: the whole chain, and the indexes' sizes). */
  fromHeight?: number
  /** Verify every certificate (one pairing check per block); default true. */
  certificates?: boolean
  /** Told the height reached after each page of blocks. */
  onProgress?: (height: number) => void
}

export interface VerifyReport {
  height: number
  blocks: number
}

/**
 * Walk the chain and check that it is one: heights contiguous, each block decodes and links to
 * its parent's hash, slots increase, the hash and slot indexes and the certificate of every block
 * exist and agree, each certificate verifies (unless `certificates` is false: one pairing check
 * per block), and the head and reputation state match the last block; over the whole chain, also
 * that no index entry points nowhere. Throws STORE_CORRUPT on the first problem.
 * `open` checks the newest blocks this way, without the pairings.
 */
export async function verifyChain(
  store: BlockStore,
  o: Pick<StoreOptions, 'genesisHash' | 'keys' | 'quorum'>,
  opts: VerifyOptions = {}
): Promise<VerifyReport> {
  const head = await store.checkHead()
  const start = Math.max(1, opts.fromHeight ?? 1)
  let prevHash = o.genesisHash
  let prevSlot = -1
  if (start > 1 && start <= head.height) {
    const parent = await store.getStoredBlock(start - 1)
    if (!parent) throw store.damaged(`block ${start - 1} is missing below head ${head.height}`)
    prevHash = parent.hash
    prevSlot = parent.block.slot
  }
  let expected = start
  while (expected <= head.height) {
    const page = await store.getRange(expected, head.height)
    if (page.length === 0) throw store.damaged(`block ${expected} is missing below head ${head.height}`)
    for (const s of page) {
      if (s.height !== expected) throw store.damaged(`block ${expected} is missing (next stored is ${s.height})`)
      if (s.block.height !== s.height) throw store.damaged(`block stored at ${s.height} says height ${s.block.height}`)
      if (!bytesEqual(s.block.prevHash, prevHash)) throw store.damaged(`block ${s.height} does not link to block ${s.height - 1}`)
      if (s.block.aggregate.fromSlot <= prevSlot)
        throw store.damaged(`block ${s.height} begins at slot ${s.block.aggregate.fromSlot}, not after ${prevSlot}`)
      if ((await store.getHeightByHash(s.hash)) !== s.height)
        throw store.damaged(`hash index entry of block ${s.height} is missing or wrong`)
      const bySlot = await store.heightsBySlot(s.block.slot, s.block.slot, 1)
      if (bySlot.length !== 1 || bySlot[0].height !== s.height)
        throw store.damaged(`slot index entry of block ${s.height} is missing or wrong`)
      if (opts.certificates !== false) {
        const certError = checkCertificate(s.cert, s.height, s.hash, o.keys, o.quorum)
        if (certError) throw store.damaged(`certificate of block ${s.height} does not verify (${certError})`)
      }
      prevHash = s.hash
      prevSlot = s.block.slot
      expected++
    }
    opts.onProgress?.(expected - 1)
  }
  if (expected !== Math.max(start, head.height + 1)) throw store.damaged(`blocks end at ${expected - 1}, head is ${head.height}`)
  if (start === 1) {
    for (const bucket of [BUCKET.block, BUCKET.heightByHash, BUCKET.certificate, BUCKET.heightBySlot]) {
      const n = await store.countEntries(bucket)
      if (n !== head.height) throw store.damaged(`bucket ${bucket} has ${n} entries for ${head.height} blocks`)
    }
  }
  return { height: head.height, blocks: Math.max(0, head.height - start + 1) }
}
