/**
 * Opening a LevelDB directory safely, and the errors of the stores built on it (the block store,
 * the gateway's store).
 *
 * LevelDB itself is careless in two ways that would hurt an operator, so the directory is checked
 * before LevelDB sees it:
 * - a directory whose CURRENT file is missing is, to LevelDB with `createIfMissing`, no database
 *   at all: it starts a new one there and deletes the old table files as obsolete. Such a
 *   directory is refused, untouched, with what to do.
 * - a path it cannot create (e.g. under /proc) can make `open` wait for ever; the directory is
 *   created and probed for writing first, and `open` has a deadline.
 */
import { readdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BbnpError, bytesEqual, errorMessage, makeDirectory, readU32be, toHex, u32be } from '@bbnp/core'
import { Level } from 'level'

/** Refusals of `commit`: the block is wrong, nothing was written, the store is fine. */
export type CommitRefusalCode =
  'WRONG_HEIGHT' | 'WRONG_PARENT' | 'SLOT_NOT_INCREASING' | 'OVERSIZED' | 'MALFORMED' | 'BAD_CERTIFICATE' | 'BAD_REPUTATION_STATE'

/** Problems with the store itself: the node cannot go on with it and stops with the message. */
export type StoreFailureCode = 'SCHEMA_MISMATCH' | 'GENESIS_MISMATCH' | 'STORE_CORRUPT' | 'STORE_LOCKED' | 'STORE_IO' | 'STORE_CLOSED'

export type StoreErrorCode = CommitRefusalCode | StoreFailureCode

export class StoreError extends BbnpError<StoreErrorCode> {
  constructor(code: StoreErrorCode, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, meta, options)
    this.name = 'StoreError'
  }
}

const REFUSALS: ReadonlySet<string> = new Set<CommitRefusalCode>([
  'WRONG_HEIGHT',
  'WRONG_PARENT',
  'SLOT_NOT_INCREASING',
  'OVERSIZED',
  'MALFORMED',
  'BAD_CERTIFICATE',
  'BAD_REPUTATION_STATE'
])

/** True for a refused block (the block is at fault, the store is intact), false for a store failure. */
export function isCommitRefusal(e: unknown): e is StoreError & { code: CommitRefusalCode } {
  return e instanceof StoreError && REFUSALS.has(e.code)
}

/** True for a store that is damaged (as opposed to busy, foreign or unreachable). */
export function isStoreDamage(e: unknown): e is StoreError {
  return e instanceof StoreError && e.code === 'STORE_CORRUPT'
}

/**
 * What an operator does about a damaged store: nothing in it can be trusted or repaired in place,
 * and a consensus peer rebuilds its chain from its peers, verifying every certificate (PROTOCOL
 * 4.6). Said in every damage message.
 */
export function damageAdvice(dir: string): string {
  return `move it away (mv ${dir} ${dir}.damaged) and start again: the peer rebuilds it from its peers`
}

export type Db = Level<Uint8Array, Uint8Array>

const LEVELDB_FILE = /^(MANIFEST-\d+|\d+\.(ldb|sst|log))$/
const OPEN_DEADLINE_MS = 15_000

/** Open (or create) the LevelDB at `dir`, refusing a damaged or unusable directory with one clear error. */
export async function openDatabase(dir: string, what: string): Promise<Db> {
  try {
    makeDirectory(dir)
    const probe = join(dir, '.write-probe')
    writeFileSync(probe, '')
    unlinkSync(probe)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new StoreError('STORE_IO', `${what} ${dir} cannot be created or written (${code ?? errorMessage(e)})`, { dir }, { cause: e })
  }
  const files = readdirSync(dir)
  const fresh = !files.includes('CURRENT')
  if (fresh && files.some((f) => LEVELDB_FILE.test(f))) {
    throw new StoreError(
      'STORE_CORRUPT',
      `${what} ${dir} is damaged: its CURRENT file is missing (nothing was changed); ${damageAdvice(dir)}`,
      { dir }
    )
  }
  const db: Db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StoreError('STORE_IO', `${what} ${dir} did not open within ${OPEN_DEADLINE_MS / 1000} s`, { dir })),
      OPEN_DEADLINE_MS
    )
  })
  try {
    await Promise.race([db.open({ createIfMissing: fresh, errorIfExists: false }), deadline])
  } catch (e) {
    throw e instanceof StoreError ? e : openFailure(what, dir, e)
  } finally {
    clearTimeout(timer)
  }
  return db
}

export function openFailure(what: string, dir: string, e: unknown): StoreError {
  const err = e as { code?: string; cause?: { code?: string; message?: string } }
  const code = err.cause?.code ?? err.code
  const detail = err.cause?.message ?? errorMessage(e)
  if (code === 'LEVEL_LOCKED') return new StoreError('STORE_LOCKED', `${what} ${dir} is in use by another process`, { dir }, { cause: e })
  if (code === 'LEVEL_CORRUPTION') {
    return new StoreError('STORE_CORRUPT', `${what} ${dir} is damaged (${detail}); ${damageAdvice(dir)}`, { dir }, { cause: e })
  }
  return new StoreError('STORE_IO', `cannot open ${what} ${dir}: ${detail}`, { dir }, { cause: e })
}

export type Op = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }

function plain(b: Uint8Array): Uint8Array {
  // classic-level hands back Buffers; callers compare and re-encode plain Uint8Arrays.
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/**
 * What every store over one LevelDB shares: serial writes as atomic fsynced batches, reads that
 * turn LevelDB's errors into typed ones (a damaged store names itself and what to do), the schema
 * version and genesis checked at open, and a close that waits for pending writes.
 */
export abstract class LevelStore {
  readonly dir: string
  protected readonly db: Db
  /** How the store names itself in messages, e.g. "block store". */
  protected readonly what: string
  /** Writes run one at a time. */
  private queue: Promise<unknown> = Promise.resolve()
  protected closing: Promise<void> | null = null

  protected constructor(dir: string, db: Db, what: string) {
    this.dir = dir
    this.db = db
    this.what = what
  }

  /** Waits for pending writes, then closes the database. Safe to call twice. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        await this.queue
        await this.db.close()
      })()
    }
    return this.closing
  }

  /**
   * Write the version and genesis on a new store; refuse one of another schema version or genesis,
   * or one that holds data but no version.
   */
  protected async checkMeta(
    key: (name: 'version' | 'genesis') => Uint8Array,
    version: number,
    genesisHash: Uint8Array,
    buckets: readonly number[]
  ): Promise<void> {
    const stored = await this.get(key('version'), 'reading the schema version')
    if (!stored) {
      const some = await this.io('reading the store', () => this.db.keys({ limit: 16 }).all())
      // Keys all in this store's buckets: it is ours and lost its version record (damaged, e.g.
      // a table with flipped bytes); anything else is another program's data.
      if (some.length > 0 && some.every((k) => k.length > 0 && buckets.includes(k[0])))
        throw this.corrupt('its schema version is missing (nothing was changed)')
      if (some.length > 0)
        throw new StoreError('SCHEMA_MISMATCH', `${this.what} ${this.dir} holds data but no schema version; refusing to use it`, {
          dir: this.dir
        })
      await this.write(
        [
          { type: 'put', key: key('version'), value: u32be(version) },
          { type: 'put', key: key('genesis'), value: genesisHash }
        ],
        'writing the store metadata'
      )
      return
    }
    const v = stored.length === 4 ? readU32be(stored) : -1
    if (v !== version) {
      // LevelDB does not check block checksums on reads (classic-level offers no verify_checksums),
      // so a flipped byte in this record reads as another value: the advice covers both cases.
      const msg = `${this.what} ${this.dir} has schema version ${v}, this node reads version ${version} (a store of another release, or a damaged one); use another data directory, or ${damageAdvice(this.dir)}`
      throw new StoreError('SCHEMA_MISMATCH', msg, { dir: this.dir, version: v })
    }
    const genesis = await this.get(key('genesis'), 'reading the genesis hash')
    // The version and the genesis were written in one batch: a store with one and not the other,
    // or a genesis hash of the wrong length, has lost data; it does not belong to another chain.
    if (!genesis || genesis.length !== genesisHash.length) throw this.corrupt('its genesis hash is missing or cut short')
    if (!bytesEqual(genesis, genesisHash)) {
      const msg = `${this.what} ${this.dir} belongs to genesis ${toHex(genesis)}, not ${toHex(genesisHash)} (another network's store, or a damaged one); use another data directory, or ${damageAdvice(this.dir)}`
      throw new StoreError('GENESIS_MISMATCH', msg, { dir: this.dir })
    }
  }

  protected serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn)
    this.queue = run.catch(() => {})
    return run
  }

  protected assertOpen(): void {
    if (this.closing) throw new StoreError('STORE_CLOSED', `${this.what} ${this.dir} is closed`, { dir: this.dir })
  }

  /** One atomic batch, fsynced (sync: true) so it survives a power loss once this resolves. */
  protected async write(ops: Op[], what: string): Promise<void> {
    await this.io(what, () => this.db.batch(ops, { sync: true }))
  }

  protected async get(key: Uint8Array, what: string): Promise<Uint8Array | undefined> {
    const v = await this.io(what, () => this.db.get(key))
    return v === undefined ? undefined : plain(v)
  }

  /** Entries of a key range, ascending, as plain byte arrays. */
  protected async entries(
    range: { gt?: Uint8Array; gte?: Uint8Array; lte?: Uint8Array; lt?: Uint8Array; limit?: number },
    what: string
  ): Promise<[Uint8Array, Uint8Array][]> {
    const rows = await this.io(what, () => this.db.iterator(range).all())
    return rows.map(([k, v]) => [plain(k), plain(v)])
  }

  protected async getMany(keys: Uint8Array[], what: string): Promise<(Uint8Array | undefined)[]> {
    const values = await this.io(what, () => this.db.getMany(keys))
    return values.map((v) => (v === undefined ? undefined : plain(v)))
  }

  protected async io<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      if (e instanceof BbnpError) throw e
      const code = (e as { code?: string }).code
      if (code === 'LEVEL_DATABASE_NOT_OPEN' && this.closing)
        throw new StoreError('STORE_CLOSED', `${this.what} ${this.dir} is closed`, { dir: this.dir })
      if (code === 'LEVEL_CORRUPTION') {
        const msg = `${this.what} ${this.dir} is damaged (${what}: ${errorMessage(e)}); ${damageAdvice(this.dir)}`
        throw new StoreError('STORE_CORRUPT', msg, { dir: this.dir }, { cause: e })
      }
      throw new StoreError('STORE_IO', `${this.what} ${this.dir}: ${what} failed: ${errorMessage(e)}`, { dir: this.dir }, { cause: e })
    }
  }

  /** Decode stored bytes; anything unreadable means the store is damaged. */
  protected parse<T>(what: string, fn: () => T): T {
    try {
      return fn()
    } catch (e) {
      throw this.corrupt(`${what} cannot be read: ${errorMessage(e)}`)
    }
  }

  protected corrupt(msg: string): StoreError {
    return new StoreError('STORE_CORRUPT', `${this.what} ${this.dir} is damaged: ${msg}; ${damageAdvice(this.dir)}`, { dir: this.dir })
  }
}
