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
import { BbnpError, errorMessage, makeDirectory } from '@bbnp/core'
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
