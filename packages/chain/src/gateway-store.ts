/**
 * The gateway's store: every slot it closed stays here, signed, until a block holds it, so that a
 * sum the gateway finished is handed off again after a restart instead of being lost; and the
 * last slot it closed, so that a restart knows which slots it missed while it was down.
 * One LevelDB; each change is one atomic, fsynced batch (layout in buckets.ts).
 */
import { readU64be, u64be, utf8 } from '@bbnp/core'
import { decodeAggregate, encodeAggregate, type SignedAggregate } from '@bbnp/consensus'
import { GATEWAY_BUCKET, GATEWAY_SCHEMA_VERSION } from './buckets.ts'
import { type Db, LevelStore, openDatabase, openFailure, StoreError } from './database.ts'

const MAX_AGGREGATE_BYTES = 256 * 1024

function key(bucket: number, slot?: number): Uint8Array {
  const k = new Uint8Array(slot === undefined ? 1 : 9)
  k[0] = bucket
  if (slot !== undefined) k.set(u64be(slot), 1)
  return k
}

function metaKey(name: 'version' | 'genesis'): Uint8Array {
  const n = utf8(name)
  const k = new Uint8Array(1 + n.length)
  k[0] = GATEWAY_BUCKET.meta
  k.set(n, 1)
  return k
}

export class GatewayStore extends LevelStore {
  private lastClosed: number

  private constructor(dir: string, db: Db) {
    super(dir, db, 'gateway store')
    this.lastClosed = -1
  }

  static async open(dir: string, opts: { genesisHash: Uint8Array }): Promise<GatewayStore> {
    const db = await openDatabase(dir, 'gateway store')
    const store = new GatewayStore(dir, db)
    try {
      await store.checkMeta(metaKey, GATEWAY_SCHEMA_VERSION, opts.genesisHash, Object.values(GATEWAY_BUCKET))
      const raw = await store.get(key(GATEWAY_BUCKET.lastClosed), 'reading the last closed slot')
      if (raw) store.lastClosed = store.parse('the last closed slot', () => Number(readU64be(raw)))
      return store
    } catch (e) {
      await db.close().catch(() => {})
      throw e instanceof StoreError ? e : openFailure('gateway store', dir, e)
    }
  }

  /** The last slot closed (or recorded as missed); -1 when none. */
  lastClosedSlot(): number {
    return this.lastClosed
  }

  /** The aggregates closed but not yet settled, ascending by slot. */
  async pending(): Promise<SignedAggregate[]> {
    const rows = await this.entries(
      { gte: key(GATEWAY_BUCKET.pending, 0), lt: key(GATEWAY_BUCKET.pending + 1) },
      'reading the pending aggregates'
    )
    return rows.map(([k, v]) => this.parse(`pending aggregate ${Number(readU64be(k, 1))}`, () => decodeAggregate(v, MAX_AGGREGATE_BYTES)))
  }

  /** Keep a closed slot's signed aggregate until it is settled; resolves once it is on disk. */
  async recordClosed(a: SignedAggregate): Promise<void> {
    this.assertOpen()
    const last = Math.max(this.lastClosed, a.slot)
    await this.serial(() =>
      this.write(
        [
          { type: 'put', key: key(GATEWAY_BUCKET.pending, a.slot), value: encodeAggregate(a) },
          { type: 'put', key: key(GATEWAY_BUCKET.lastClosed), value: u64be(last) }
        ],
        `recording slot ${a.slot}`
      )
    )
    this.lastClosed = last
  }

  /** Forget pending aggregates: a block holds them, or the chain has moved past them. */
  async settle(slots: readonly number[]): Promise<void> {
    if (slots.length === 0) return
    this.assertOpen()
    await this.serial(() =>
      this.write(
        slots.map((s) => ({ type: 'del' as const, key: key(GATEWAY_BUCKET.pending, s) })),
        'settling pending aggregates'
      )
    )
  }
}
