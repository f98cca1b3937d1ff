/**
 * The block store: a thin adapter over one LevelDB per peer (DESIGN "storage"; layout in
 * buckets.ts).
 *
 * The one write that matters, `commit`, stores a block only on top of the head and only with a
 * valid commit certificate (PROTOCOL 4.2 step 5, 4.6: "a block is never stored without a valid
 * certificate"), and writes the block, its indexes, its certificate, the reputation state and the
 * new head in one atomic batch, fsynced before it returns: after a kill -9 or a power loss the
 * store holds either the whole block or none of it, and never loses one that was reported stored.
 * A refused block writes nothing; a failed write leaves the store as it was.
 */
import { BbnpError, bytesEqual, errorMessage, readU64be, toHex, u64be } from '@bbnp/core'
import type { PublicKey } from '@bbnp/crypto'
import {
  type Block,
  type ChainHead,
  type CommitCertificate,
  checkCertificate,
  decodeBlock,
  decodeCertificate,
  encodeBlock,
  encodeCertificate,
  HASH_BYTES,
  hashEncodedBlock,
  indicesFromBitmap,
  type SignedRecord
} from '@bbnp/consensus'
import { type CommitRefusalCode, type Db, LevelStore, openDatabase, openFailure, StoreError } from './database.ts'
import {
  decodeEndorsementRecord,
  decodeHead,
  decodeReputation,
  decodeSignedRecord,
  encodeEndorsementRecord,
  encodeHead,
  encodeReputation,
  encodeSignedRecord,
  type EndorsementRecord,
  type ReputationState,
  type StoreHead
} from './records.ts'
import { BUCKET, type Bucket, bytesKey, metaKey, numberKey, SCHEMA_VERSION, singletonKey } from './buckets.ts'
import { verifyChain, type VerifyOptions, type VerifyReport } from './verify.ts'
import { lostSince, Watermark } from './watermark.ts'

/** How many of the newest blocks `open` checks for damage. */
const RECENT_CHECK = 1024

/** Range reads return at most this many blocks per call (the HTTP API and block sync page). */
export const MAX_RANGE = 64

export interface StoreOptions {
  /** The genesis this store belongs to; a store of another genesis is refused. */
  genesisHash: Uint8Array
  /** Consensus verification keys, index j-1 for cn-j. */
  keys: PublicKey[]
  /** 2f+1 */
  quorum: number
  /** Blocks whose encoding is larger are refused. */
  maxBlockBytes: number
  /** How many of the newest blocks `open` checks for damage (default 1024; at least the head). */
  recentCheck?: number
}

export interface StoredBlock {
  height: number
  block: Block
  /** The canonical bytes hashed to `hash`, as stored and as served by block sync. */
  encoded: Uint8Array
  hash: Uint8Array
  cert: CommitCertificate
}

export interface SlotEntry {
  slot: number
  height: number
}

/** The reputation state a block carries: the vector after it (PROTOCOL 4.4). */
export function reputationStateOf(block: Block): ReputationState {
  return { height: block.height, vector: block.reputation.vector, opinionHeight: block.reputation.opinionHeight }
}

/** A caller's page size, clamped to 0..MAX_RANGE. */
function pageSize(limit: number): number {
  return Number.isFinite(limit) ? Math.min(Math.max(0, Math.floor(limit)), MAX_RANGE) : MAX_RANGE
}

function checkIndex(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer, got ${n}`)
}

function firstKeyOf(bucket: Bucket): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: new Uint8Array([bucket]), lt: new Uint8Array([bucket + 1]) }
}

export class BlockStore extends LevelStore {
  private readonly opts: StoreOptions
  private current: StoreHead
  private lost: { from: number; to: number } | null = null
  private readonly watermark: Watermark

  private constructor(dir: string, db: Db, opts: StoreOptions, head: StoreHead) {
    super(dir, db, 'block store')
    this.opts = opts
    this.current = head
    this.watermark = new Watermark(dir)
  }

  override async close(): Promise<void> {
    await super.close()
    this.watermark.close()
  }

  /**
   * Open (or create) the store in `dir`. A new store gets schema version and genesis hash; an
   * existing one must match both, and its head block and indexes must exist and agree.
   */
  static async open(dir: string, opts: StoreOptions): Promise<BlockStore> {
    if (opts.genesisHash.length !== HASH_BYTES) throw new RangeError(`genesisHash must be ${HASH_BYTES} bytes`)
    if (!Number.isInteger(opts.quorum) || opts.quorum < 1 || opts.quorum > opts.keys.length)
      throw new RangeError('quorum must be in 1..keys.length')
    if (!Number.isInteger(opts.maxBlockBytes) || opts.maxBlockBytes <= 0) throw new RangeError('maxBlockBytes must be a positive integer')
    const db = await openDatabase(dir, 'block store')
    const store = new BlockStore(
      dir,
      db,
      { ...opts, keys: [...opts.keys], genesisHash: new Uint8Array(opts.genesisHash) },
      { height: 0, hash: opts.genesisHash, slot: -1 }
    )
    try {
      await store.checkMeta(metaKey, SCHEMA_VERSION, store.opts.genesisHash, Object.values(BUCKET))
      store.current = await store.checkHead()
      // The newest blocks are checked for damage now, without pairings (the whole chain, with them:
      // `bbnp verify`), so that a damaged store stops the peer at start, not in the middle of serving.
      await store.verifyStore({ fromHeight: store.current.height - (opts.recentCheck ?? RECENT_CHECK) + 1, certificates: false })
      store.lost = lostSince(store.dir, store.current.height)
      return store
    } catch (e) {
      await db.close().catch(() => {})
      throw e instanceof BbnpError ? e : openFailure('block store', dir, e)
    }
  }

  // ---------------------------------------------------------------- reads

  /** The bound every stored block fits in (block sync sizes its frames from it). */
  get maxBlockBytes(): number {
    return this.opts.maxBlockBytes
  }

  get genesisHash(): Uint8Array {
    return new Uint8Array(this.opts.genesisHash)
  }

  /** The newest block's height, hash and slot (height 0, the genesis hash and slot -1 when empty). */
  head(): StoreHead {
    return { ...this.current, hash: new Uint8Array(this.current.hash) }
  }

  async getEncodedBlock(height: number): Promise<Uint8Array | null> {
    checkIndex(height, 'height')
    const v = await this.get(numberKey(BUCKET.block, height), `reading block ${height}`)
    return v ?? null
  }

  async getBlock(height: number): Promise<Block | null> {
    const encoded = await this.getEncodedBlock(height)
    return encoded ? this.parse(`block ${height}`, () => decodeBlock(encoded, this.opts.maxBlockBytes)) : null
  }

  async getCertificate(height: number): Promise<CommitCertificate | null> {
    checkIndex(height, 'height')
    const v = await this.get(numberKey(BUCKET.certificate, height), `reading certificate ${height}`)
    return v ? this.parse(`certificate ${height}`, () => decodeCertificate(v)) : null
  }

  async getHeightByHash(hash: Uint8Array): Promise<number | null> {
    if (hash.length !== HASH_BYTES) return null
    const v = await this.get(bytesKey(BUCKET.heightByHash, hash), 'reading the hash index')
    return v ? this.readHeight(v) : null
  }

  /** The block at `height` with its hash and certificate, or null when there is none. */
  async getStoredBlock(height: number): Promise<StoredBlock | null> {
    const [encoded, cert] = await Promise.all([this.getEncodedBlock(height), this.getCertificate(height)])
    if (!encoded) return null
    if (!cert) throw this.corrupt(`block ${height} has no certificate`)
    const block = this.parse(`block ${height}`, () => decodeBlock(encoded, this.opts.maxBlockBytes))
    return { height, block, encoded, hash: hashEncodedBlock(encoded), cert }
  }

  /** Blocks `from..to` (inclusive, ascending), at most `limit` (and never more than MAX_RANGE). */
  async getRange(from: number, to: number, limit = MAX_RANGE): Promise<StoredBlock[]> {
    checkIndex(from, 'from')
    checkIndex(to, 'to')
    const n = pageSize(limit)
    if (to < from || n === 0) return []
    const entries = await this.entries(
      { gte: numberKey(BUCKET.block, from), lte: numberKey(BUCKET.block, to), limit: n },
      'reading a block range'
    )
    return this.withCertificates(entries.map(([k, v]) => ({ height: this.readKeyNumber(k), encoded: v })))
  }

  /** Which block ends at each slot in `fromSlot..toSlot` (inclusive, ascending by slot), bounded. */
  async heightsBySlot(fromSlot: number, toSlot: number, limit = MAX_RANGE): Promise<SlotEntry[]> {
    checkIndex(fromSlot, 'fromSlot')
    checkIndex(toSlot, 'toSlot')
    const n = pageSize(limit)
    if (toSlot < fromSlot || n === 0) return []
    const entries = await this.entries(
      { gte: numberKey(BUCKET.heightBySlot, fromSlot), lte: numberKey(BUCKET.heightBySlot, toSlot), limit: n },
      'reading the slot index'
    )
    return entries.map(([k, v]) => ({ slot: this.readKeyNumber(k), height: this.readHeight(v) }))
  }

  /**
   * The blocks whose slots meet `fromSlot..toSlot`, ascending, bounded: those ending in the range,
   * and the one after them when it is a range of missed slots that begins inside it.
   */
  async blocksBySlot(fromSlot: number, toSlot: number, limit = MAX_RANGE): Promise<StoredBlock[]> {
    checkIndex(fromSlot, 'fromSlot')
    checkIndex(toSlot, 'toSlot')
    const n = pageSize(limit)
    if (toSlot < fromSlot || n === 0) return []
    const inside = await this.heightsBySlot(fromSlot, toSlot, n)
    const after =
      inside.length < n
        ? await this.entries(
            { gt: numberKey(BUCKET.heightBySlot, toSlot), lt: new Uint8Array([BUCKET.heightBySlot + 1]), limit: 1 },
            'reading the slot index'
          )
        : []
    const heights = [...inside.map((e) => e.height), ...after.map(([, v]) => this.readHeight(v))]
    const encoded = await this.getMany(
      heights.map((h) => numberKey(BUCKET.block, h)),
      'reading blocks by slot'
    )
    const blocks = await this.withCertificates(
      heights.map((height, i) => {
        const e = encoded[i]
        if (!e) throw this.corrupt(`the slot index points to missing block ${height}`)
        return { height, encoded: e }
      })
    )
    return blocks.filter((b) => b.block.aggregate.fromSlot <= toSlot)
  }

  /** The reputation vector after the head block; null while only the genesis exists. */
  async getReputationState(): Promise<ReputationState | null> {
    const v = await this.get(singletonKey(BUCKET.reputation), 'reading the reputation state')
    return v ? this.parse('reputation state', () => decodeReputation(v)) : null
  }

  /** The head as the PBFT replica needs it, with the genesis reputations at height 0. */
  async chainHead(genesisReputation: number[]): Promise<ChainHead> {
    const head = this.head()
    if (head.height === 0) return { height: 0, hash: head.hash, slot: -1, reputation: [...genesisReputation], opinionHeight: 0, cert: null }
    const [rep, cert] = await Promise.all([this.getReputationState(), this.getCertificate(head.height)])
    if (!rep || !cert) throw this.corrupt(`head ${head.height} has no reputation state or certificate`)
    return { height: head.height, hash: head.hash, slot: head.slot, reputation: rep.vector, opinionHeight: rep.opinionHeight, cert }
  }

  /** This peer's interaction records as last written with a block (null before the first). */
  async getRecords(): Promise<Uint8Array | null> {
    return (await this.get(singletonKey(BUCKET.records), 'reading the interaction records')) ?? null
  }

  /** The reporter set this peer endorsed for `slot` (PROTOCOL 3.5.5), or null. */
  async getEndorsement(slot: number): Promise<EndorsementRecord | null> {
    checkIndex(slot, 'slot')
    const v = await this.get(numberKey(BUCKET.endorsement, slot), 'reading an endorsement')
    return v ? this.parse(`endorsement of slot ${slot}`, () => decodeEndorsementRecord(v)) : null
  }

  /**
   * Record an endorsement before it is answered (fsynced, like the consensus log), and forget those
   * older than `keepFrom`: a peer refuses to endorse slots that old anyway.
   */
  async putEndorsement(slot: number, record: EndorsementRecord, keepFrom: number): Promise<void> {
    this.assertOpen()
    checkIndex(slot, 'slot')
    const value = encodeEndorsementRecord(record)
    decodeEndorsementRecord(value)
    await this.serial(async () => {
      const old =
        keepFrom > 0
          ? await this.entries(
              { gte: numberKey(BUCKET.endorsement, 0), lt: numberKey(BUCKET.endorsement, keepFrom) },
              'reading old endorsements'
            )
          : []
      await this.write(
        [{ type: 'put', key: numberKey(BUCKET.endorsement, slot), value }, ...old.map(([key]) => ({ type: 'del' as const, key }))],
        `recording the endorsement of slot ${slot}`
      )
    })
  }

  /** The last consensus message this peer signed (PROTOCOL 4.2, 4.5), or null if it never signed. */
  async getConsensusLog(): Promise<SignedRecord | null> {
    const v = await this.get(singletonKey(BUCKET.consensusLog), 'reading the consensus log')
    return v ? this.parse('consensus log', () => decodeSignedRecord(v)) : null
  }

  // ---------------------------------------------------------------- writes

  /**
   * Record what this peer is about to sign. Resolves only once the record is on disk (fsync),
   * so the caller may send the signed message afterwards: a restart can never make the peer sign
   * a conflicting message (PROTOCOL 4.5, restart safety).
   */
  async putConsensusLog(record: SignedRecord): Promise<void> {
    this.assertOpen()
    const value = encodeSignedRecord(record)
    decodeSignedRecord(value) // refuse a record that could not be read back after a restart
    await this.serial(() => this.write([{ type: 'put', key: singletonKey(BUCKET.consensusLog), value }], 'writing the consensus log'))
  }

  /**
   * Store the next block (PROTOCOL 4.2 step 5, 4.6). Refused with a `StoreError` (a commit refusal
   * code) and nothing written unless: height = head + 1, prevHash = the head's hash (the genesis
   * hash for height 1), the slot is after the head's, the encoding fits maxBlockBytes and reads
   * back, and the certificate verifies for this block with the store's keys and quorum.
   * `reputation` defaults to the vector the block carries. Resolves with the new head once the
   * batch is fsynced.
   *
   * `certificateVerified`: the caller assembled `cert` itself from commit votes whose signatures
   * it verified (the PBFT replica deciding a block); only its shape and signer count are checked
   * then, not the aggregate signature again. Blocks from anywhere else (catch-up) are always
   * verified in full.
   */
  async commit(
    block: Block,
    cert: CommitCertificate,
    reputation: ReputationState = reputationStateOf(block),
    opts: { certificateVerified?: boolean; extra?: { records?: Uint8Array } } = {}
  ): Promise<StoreHead> {
    this.assertOpen()
    return this.serial(async () => {
      const head = this.current
      const h = block.height
      if (h !== head.height + 1) this.refuse('WRONG_HEIGHT', `block ${h} does not follow head ${head.height}`, h)
      if (!(block.prevHash instanceof Uint8Array) || !bytesEqual(block.prevHash, head.hash)) {
        this.refuse('WRONG_PARENT', `block ${h} does not extend the head ${toHex(head.hash)}`, h)
      }
      if (!Number.isSafeInteger(block.slot) || block.aggregate.fromSlot <= head.slot)
        this.refuse('SLOT_NOT_INCREASING', `block ${h} has slot ${block.slot}, not after ${head.slot}`, h)
      let encoded: Uint8Array
      let certBytes: Uint8Array
      let repBytes: Uint8Array
      try {
        encoded = encodeBlock(block)
        if (encoded.length <= this.opts.maxBlockBytes) decodeBlock(encoded, this.opts.maxBlockBytes)
        certBytes = encodeCertificate(cert)
        decodeCertificate(certBytes)
        repBytes = encodeReputation(reputation)
        decodeReputation(repBytes)
      } catch (e) {
        this.refuse('MALFORMED', `block ${h} or its certificate cannot be stored: ${errorMessage(e)}`, h)
      }
      if (encoded.length > this.opts.maxBlockBytes)
        this.refuse('OVERSIZED', `block ${h} is ${encoded.length} bytes (max ${this.opts.maxBlockBytes})`, h)
      const hash = hashEncodedBlock(encoded)
      const certError = opts.certificateVerified
        ? certificateShapeError(cert, h, this.opts.keys.length, this.opts.quorum)
        : checkCertificate(cert, h, hash, this.opts.keys, this.opts.quorum)
      if (certError) this.refuse('BAD_CERTIFICATE', `block ${h}: certificate refused (${certError})`, h, { reason: certError })
      if (reputation.height !== h)
        this.refuse('BAD_REPUTATION_STATE', `reputation state for height ${reputation.height} given with block ${h}`, h)

      const next: StoreHead = { height: h, hash, slot: block.slot }
      const heightBytes = u64be(h)
      await this.write(
        [
          { type: 'put', key: numberKey(BUCKET.block, h), value: encoded },
          { type: 'put', key: bytesKey(BUCKET.heightByHash, hash), value: heightBytes },
          { type: 'put', key: numberKey(BUCKET.certificate, h), value: certBytes },
          { type: 'put', key: numberKey(BUCKET.heightBySlot, block.slot), value: heightBytes },
          { type: 'put', key: singletonKey(BUCKET.reputation), value: repBytes },
          { type: 'put', key: singletonKey(BUCKET.head), value: encodeHead(next) },
          ...(opts.extra?.records ? [{ type: 'put' as const, key: singletonKey(BUCKET.records), value: opts.extra.records }] : [])
        ],
        `writing block ${h}`
      )
      this.current = next
      this.watermark.write(next)
      return this.head()
    })
  }

  /**
   * Heights the store once held and lost (its LevelDB log was cut short, e.g. by a crash of the
   * disk or a hand that truncated it): null when the store is as high as it ever was. Known from
   * a small file beside the database, written after every block.
   */
  lostBlocks(): { from: number; to: number } | null {
    return this.lost
  }

  // ---------------------------------------------------------------- consistency

  /**
   * Walk the chain and check that it is one (verify.ts); STORE_CORRUPT on the first problem.
   * `open` checks the newest blocks this way, without the pairings.
   */
  verifyStore(opts: VerifyOptions = {}): Promise<VerifyReport> {
    return verifyChain(this, this.opts, opts)
  }

  /** How many entries a bucket holds (the whole-chain check compares the indexes' sizes). */
  async countEntries(bucket: Bucket): Promise<number> {
    return this.io('counting index entries', async () => (await this.db.keys(firstKeyOf(bucket)).all()).length)
  }

  /** A STORE_CORRUPT error naming this store, the damage and what to do. */
  damaged(msg: string): StoreError {
    return this.corrupt(msg)
  }

  /** The head record and the records it implies (block, indexes, certificate, reputation) agree. */
  async checkHead(): Promise<StoreHead> {
    const raw = await this.get(singletonKey(BUCKET.head), 'reading the head')
    if (!raw) {
      if (await this.get(numberKey(BUCKET.block, 1), 'reading block 1')) throw this.corrupt('blocks are stored but the head is missing')
      return { height: 0, hash: new Uint8Array(this.opts.genesisHash), slot: -1 }
    }
    const head = this.parse('head', () => decodeHead(raw))
    const stored = await this.getStoredBlock(head.height)
    if (!stored) throw this.corrupt(`head block ${head.height} is missing`)
    if (stored.block.height !== head.height || !bytesEqual(stored.hash, head.hash) || stored.block.slot !== head.slot) {
      throw this.corrupt(`head record does not match block ${head.height}`)
    }
    if ((await this.getHeightByHash(head.hash)) !== head.height)
      throw this.corrupt(`hash index of head block ${head.height} is missing or wrong`)
    const bySlot = await this.get(numberKey(BUCKET.heightBySlot, head.slot), 'reading the slot index')
    if (!bySlot || this.readHeight(bySlot) !== head.height)
      throw this.corrupt(`slot index of head block ${head.height} is missing or wrong`)
    const certError = checkCertificate(stored.cert, head.height, head.hash, this.opts.keys, this.opts.quorum)
    if (certError) throw this.corrupt(`certificate of head block ${head.height} does not verify (${certError})`)
    const rep = await this.getReputationState()
    if (!rep || rep.height !== head.height) throw this.corrupt(`reputation state does not belong to head block ${head.height}`)
    if (await this.get(numberKey(BUCKET.block, head.height + 1), 'reading past the head'))
      throw this.corrupt(`a block is stored above head ${head.height}`)
    return head
  }

  // ---------------------------------------------------------------- helpers

  private async withCertificates(items: { height: number; encoded: Uint8Array }[]): Promise<StoredBlock[]> {
    const certs = await this.getMany(
      items.map((it) => numberKey(BUCKET.certificate, it.height)),
      'reading certificates'
    )
    return items.map((it, i) => {
      const c = certs[i]
      if (!c) throw this.corrupt(`block ${it.height} has no certificate`)
      return {
        height: it.height,
        block: this.parse(`block ${it.height}`, () => decodeBlock(it.encoded, this.opts.maxBlockBytes)),
        encoded: it.encoded,
        hash: hashEncodedBlock(it.encoded),
        cert: this.parse(`certificate ${it.height}`, () => decodeCertificate(c))
      }
    })
  }

  private readHeight(v: Uint8Array): number {
    if (v.length !== 8) throw this.corrupt('an index entry is not a u64 height')
    return Number(readU64be(v))
  }

  private readKeyNumber(k: Uint8Array): number {
    return Number(readU64be(k, 1))
  }

  private refuse(code: CommitRefusalCode, msg: string, height: number, meta: Record<string, unknown> = {}): never {
    throw new StoreError(code, msg, { height, ...meta })
  }
}

/** The checks of a certificate that need no pairing: height, bitmap and number of signers. */
function certificateShapeError(cert: CommitCertificate, height: number, nodes: number, quorum: number): string | null {
  if (cert.height !== height) return 'WRONG_HEIGHT'
  let signers: number[]
  try {
    signers = indicesFromBitmap(cert.signers, nodes)
  } catch {
    return 'MALFORMED'
  }
  return signers.length < quorum ? 'TOO_FEW_SIGNERS' : null
}
