/**
 * `bbnp export`: a stopped consensus peer's chain for analysts, one row per block, as CSV or JSON
 * lines (the rows of `GET /export`, made by the same code: @bbnp/node export.ts). Also home of
 * what `bbnp verify` shares with it: finding and opening a stopped peer's store, and progress
 * lines on stderr.
 */
import { closeSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Writable } from 'node:stream'
import { errorMessage, UsageError } from '@bbnp/core'
import { BlockStore, StoreError } from '@bbnp/chain'
import {
  blockStoreOptions,
  envSettings,
  EXPORT_FORMATS,
  exportChunks,
  exportNetwork,
  exportRange,
  fileSettings,
  type Genesis,
  isExportFormat,
  loadGenesis
} from '@bbnp/node'
import { type FlagSpec, intFlag, parseFlags, requireFlag } from '../args.ts'

export const EXPORT_USAGE = `usage: bbnp export --config DIR --data-dir DIR --format csv|jsonl [flags]

Writes a stopped consensus peer's chain, one row per block: slot, fromSlot, time, status, sum,
count, missing, height, hash, primary, signers. A running peer serves the same rows: GET /export.

  --config DIR        the directory bbnp setup wrote (genesis.json)
  --data-dir DIR      the peer's data directory (its chain is DIR/chain); the peer must be stopped
  --id ID             instead of --data-dir: the directory bbnp start uses for ID (e.g. DIR/data/cn-1)
  --format F          csv or jsonl
  --out FILE          write to FILE (complete or not at all) instead of stdout
  --from-slot A       only blocks whose slots meet A..B (a missed range may begin before A)
  --to-slot B
  --from-height A     only heights A..B (default: the whole chain)
  --to-height B

--config, --id and --data-dir can also come from BBNP_CONFIG, BBNP_ID and BBNP_DATA_DIR, as for
bbnp start. Progress goes to stderr every few seconds; a bad flag or a missing, locked or foreign
store is one line and exit code 2.`

export const STORE_FLAGS = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  id: { type: 'string' }
} as const satisfies FlagSpec

/** Every few seconds a line on stderr, so that a long run shows it is alive; never one per block. */
export const PROGRESS_EVERY_MS = 2000

/** A reporter that writes `line()` at most once per `everyMs` (the first time only after `everyMs`). */
export function throttled(write: (line: string) => void, everyMs = PROGRESS_EVERY_MS, now: () => number = Date.now) {
  let last = now()
  let wrote = false
  return {
    report(line: () => string): void {
      const t = now()
      if (t - last < everyMs) return
      last = t
      wrote = true
      write(line())
    },
    get wrote(): boolean {
      return wrote
    }
  }
}

export const stderrLine = (line: string) => void process.stderr.write(`${line}\n`)

export interface StoppedStore {
  store: BlockStore
  genesis: Genesis
  /** The store's own directory (DATA_DIR/chain). */
  dir: string
}

/**
 * Find and open the block store of a stopped consensus peer: --data-dir (its data directory, or
 * the chain directory in it), or the data directory `bbnp start` uses for --id. A directory
 * without a store is refused, never created; a store in use is refused by LevelDB's lock.
 */
export async function openStoppedStore(
  values: { config?: string; 'data-dir'?: string; id?: string },
  env: NodeJS.ProcessEnv = process.env
): Promise<StoppedStore> {
  const e = envSettings(env)
  const config = values.config ?? e.config ?? requireFlag(undefined, '--config DIR (the directory bbnp setup wrote)')
  const genesis = loadGenesis(config)
  const id = values.id ?? e.id
  const dataDirFlag = values['data-dir'] ?? e.dataDir ?? fileSettings(config, id).dataDir
  if (dataDirFlag === undefined && id === undefined)
    throw new UsageError('USAGE', "missing required flag --data-dir DIR (the stopped peer's data directory) or --id ID")
  const dataDir = resolve(dataDirFlag ?? join(config, 'data', id!))
  const candidates = [join(dataDir, 'chain'), dataDir]
  const dir = candidates.find(isStoreDir)
  if (!dir) throw new UsageError('CONFIG', `no block store in ${dataDir} (expected ${candidates[0]}: a consensus peer's data directory)`)
  try {
    return { store: await BlockStore.open(dir, blockStoreOptions(genesis)), genesis, dir }
  } catch (err) {
    if (err instanceof StoreError && err.code === 'STORE_LOCKED')
      throw new UsageError('IO', `block store ${dir} is in use by a running peer: stop it first (a running peer serves GET /export)`)
    throw err
  }
}

const LEVELDB_FILE = /^(CURRENT|MANIFEST-\d+|\d+\.(ldb|sst|log))$/

/** A LevelDB directory, also a damaged one (its CURRENT lost): opening it says what is wrong, and changes nothing. */
function isStoreDir(dir: string): boolean {
  try {
    return readdirSync(dir).some((f) => LEVELDB_FILE.test(f))
  } catch {
    return false
  }
}

/** Resolves when `out` takes more, or is gone (a closed pipe). */
function drained(out: Writable): Promise<void> {
  return new Promise((resolveDrain) => {
    const done = () => {
      out.off('drain', done)
      out.off('error', done)
      out.off('close', done)
      resolveDrain()
    }
    out.on('drain', done)
    out.on('error', done)
    out.on('close', done)
  })
}

/** Where rows go: stdout, or a file written beside its name and renamed into place when complete. */
interface Sink {
  write(chunk: string): Promise<boolean>
  finish(): void
  abandon(): void
}

function stdoutSink(): Sink {
  let gone = false
  let failure: Error | null = null
  // `bbnp export | head`: a reader that stops early ends the export quietly.
  const onError = (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') gone = true
    else failure = e
  }
  process.stdout.on('error', onError)
  return {
    async write(chunk) {
      if (!gone && !failure && !process.stdout.write(chunk)) await drained(process.stdout)
      if (failure) throw new UsageError('IO', `cannot write to stdout: ${failure.message}`)
      return !gone
    },
    finish: () => process.stdout.off('error', onError),
    abandon: () => process.stdout.off('error', onError)
  }
}

function fileSink(path: string): Sink {
  const partial = `${path}.partial`
  let fd: number
  try {
    fd = openSync(partial, 'w', 0o644)
  } catch (e) {
    throw new UsageError('IO', `cannot write ${path}: ${errorMessage(e)}`)
  }
  return {
    async write(chunk) {
      writeSync(fd, chunk)
      return true
    },
    finish() {
      closeSync(fd)
      renameSync(partial, path)
    },
    abandon() {
      closeSync(fd)
      rmSync(partial, { force: true })
    }
  }
}

function optionalInt(value: string | undefined, name: string): number | undefined {
  return value === undefined ? undefined : intFlag(value, name, 0, 0)
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    help: { type: 'boolean', short: 'h' },
    ...STORE_FLAGS,
    format: { type: 'string' },
    out: { type: 'string' },
    'from-slot': { type: 'string' },
    'to-slot': { type: 'string' },
    'from-height': { type: 'string' },
    'to-height': { type: 'string' }
  })
  if (values.help) {
    process.stdout.write(`${EXPORT_USAGE}\n`)
    return 0
  }
  const format = requireFlag(values.format, '--format csv|jsonl')
  if (!isExportFormat(format)) throw new UsageError('USAGE', `--format must be ${EXPORT_FORMATS.join(' or ')}, not "${format}"`)
  const bySlot = values['from-slot'] !== undefined || values['to-slot'] !== undefined
  const byHeight = values['from-height'] !== undefined || values['to-height'] !== undefined
  if (bySlot && byHeight) throw new UsageError('USAGE', 'give --from-slot/--to-slot or --from-height/--to-height, not both')
  const by = bySlot ? 'slot' : 'height'
  const from = optionalInt(values[`from-${by}`], `--from-${by}`)
  const to = optionalInt(values[`to-${by}`], `--to-${by}`)
  if (from !== undefined && to !== undefined && to < from) throw new UsageError('USAGE', `--to-${by} must not be below --from-${by}`)
  if (values.out !== undefined && values.out === '') throw new UsageError('USAGE', '--out needs a file name')

  const { store, genesis, dir } = await openStoppedStore(values)
  try {
    const head = store.head()
    const range = exportRange(by, from, to, head)
    const sink = values.out === undefined ? stdoutSink() : fileSink(values.out)
    const progress = throttled(stderrLine)
    let rows = 0
    let last = { height: 0, slot: -1 }
    try {
      const chunks = exportChunks(store, range, format, exportNetwork(genesis), (p) => {
        rows = p.rows
        last = p
        progress.report(() => `bbnp export: ${p.rows} rows, at height ${p.height} of ${head.height}`)
      })
      for await (const chunk of chunks) if (!(await sink.write(chunk))) break
      sink.finish()
    } catch (e) {
      sink.abandon()
      throw e
    }
    if (values.out !== undefined || progress.wrote) {
      const span = rows === 0 ? 'no blocks in range' : `up to height ${last.height}, slot ${last.slot}`
      stderrLine(`bbnp export: ${rows} rows from ${dir} (${span}) to ${values.out ?? 'stdout'}`)
    }
    return 0
  } finally {
    await store.close()
  }
}
