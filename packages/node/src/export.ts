/**
 * The chain as rows for analysts (README "Export"): one row per block, as CSV or JSON lines.
 * `bbnp export` (a stopped peer's store) and `GET /export` (a running peer's API) both write
 * what `exportChunks` yields, so the two give the same bytes for the same range.
 *
 * A range is read one page (MAX_RANGE blocks) at a time and each page is handed on before the
 * next is read: an export of any length holds one page in memory.
 */
import { consensusId, toHex } from '@bbnp/core'
import {
  type BlockStore,
  damageAdvice,
  MAX_RANGE,
  maxBlockBytes,
  type StoredBlock,
  StoreError,
  type StoreHead,
  type StoreOptions
} from '@bbnp/chain'
import { type AggregateStatus, aggregateSum, indicesFromBitmap } from '@bbnp/consensus'
import { type Genesis, slotStartMs } from './genesis.ts'
import { missingIds } from './views.ts'

export const EXPORT_FORMATS = ['csv', 'jsonl'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]

export function isExportFormat(v: unknown): v is ExportFormat {
  return typeof v === 'string' && (EXPORT_FORMATS as readonly string[]).includes(v)
}

/** The media type of each format (the API's Content-Type). */
export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8; header=present',
  jsonl: 'application/x-ndjson; charset=utf-8'
}

/** The columns, in order: the CSV header and the JSON keys. */
export const EXPORT_COLUMNS = [
  'slot',
  'fromSlot',
  'time',
  'status',
  'sum',
  'count',
  'missing',
  'height',
  'hash',
  'primary',
  'signers'
] as const

export interface ExportRow {
  /** The (last) slot the block's aggregate covers. */
  slot: number
  /** Its first slot: `slot`, except for a `missed` range. */
  fromSlot: number
  /** The start of `slot`, ISO 8601 UTC (genesisTimeMs + slot * periodMs). */
  time: string
  status: AggregateStatus
  /** Wh, a decimal string; null where the slot has no sum. */
  sum: string | null
  count: number
  /** The meters missing from an incomplete slot (none for a complete slot or a missed range). */
  missing: string[]
  height: number
  hash: string
  primary: string
  /** The commit certificate's signers. */
  signers: string[]
}

/** What turning a block into a row needs to know of its network. */
export interface ExportNetwork {
  genesisTimeMs: number
  periodMs: number
  meters: number
  nodes: number
}

export function exportNetwork(genesis: Pick<Genesis, 'genesisTimeMs' | 'periodMs' | 'meters' | 'consensus'>): ExportNetwork {
  return {
    genesisTimeMs: genesis.genesisTimeMs,
    periodMs: genesis.periodMs,
    meters: genesis.meters.length,
    nodes: genesis.consensus.length
  }
}

/** The options a consensus peer's block store is opened with, from its genesis. */
export function blockStoreOptions(genesis: Pick<Genesis, 'hash' | 'consensus' | 'quorum' | 'meters'>): StoreOptions {
  return {
    genesisHash: genesis.hash,
    keys: genesis.consensus.map((c) => c.verificationKey),
    quorum: genesis.quorum,
    maxBlockBytes: maxBlockBytes(genesis.consensus.length, genesis.meters.length)
  }
}

export function exportRow(b: StoredBlock, net: ExportNetwork): ExportRow {
  const a = b.block.aggregate
  return {
    slot: b.block.slot,
    fromSlot: a.fromSlot,
    time: new Date(slotStartMs(net, b.block.slot)).toISOString(),
    status: a.status,
    sum: aggregateSum(a),
    count: a.count,
    missing: missingIds(b.block, net.meters),
    height: b.height,
    hash: toHex(b.hash),
    primary: consensusId(b.block.primary),
    signers: indicesFromBitmap(b.cert.signers, net.nodes).map(consensusId)
  }
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote, a line break or a space (the lists). */
export function csvField(v: string | number | null): string {
  const s = v === null ? '' : String(v)
  return /[",\r\n ]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** The line a format starts with: the CSV header; nothing for JSON lines. */
export function exportHeader(format: ExportFormat): string {
  return format === 'csv' ? `${EXPORT_COLUMNS.join(',')}\n` : ''
}

/** One row as one line: in CSV, lists are their IDs separated by spaces, a missing sum an empty field. */
export function formatRow(row: ExportRow, format: ExportFormat): string {
  if (format === 'jsonl') return `${JSON.stringify(row)}\n`
  return `${EXPORT_COLUMNS.map((c) => {
    const v = row[c]
    return csvField(Array.isArray(v) ? v.join(' ') : v)
  }).join(',')}\n`
}

/** Heights `from..to`, or the blocks whose slots meet `from..to` (a missed range may begin before `from` or end after `to`). */
export interface ExportRange {
  by: 'height' | 'slot'
  from: number
  to: number
}

/** A range with the bounds that were not given filled from the head: heights 1..head, slots 0..the head's slot. */
export function exportRange(by: 'height' | 'slot', from: number | undefined, to: number | undefined, head: StoreHead): ExportRange {
  if (by === 'height') return { by, from: Math.max(1, from ?? 1), to: Math.min(to ?? head.height, head.height) }
  return { by, from: from ?? 0, to: Math.min(to ?? head.slot, head.slot) }
}

/** The blocks of a range, one page at a time, ascending; a block missing below the head is damage. */
export async function* blockPages(store: BlockStore, range: ExportRange): AsyncGenerator<StoredBlock[]> {
  let cursor = range.from
  while (cursor <= range.to) {
    if (range.by === 'slot') {
      const page = await store.blocksBySlot(cursor, range.to, MAX_RANGE)
      if (page.length === 0) return
      yield page
      cursor = page.at(-1)!.block.slot + 1
    } else {
      const page = await store.getRange(cursor, range.to, MAX_RANGE)
      page.forEach((b, i) => {
        if (b.height !== cursor + i) throw missing(store, cursor + i)
      })
      if (page.length === 0) throw missing(store, cursor)
      yield page
      cursor += page.length
    }
  }
}

function missing(store: BlockStore, height: number): StoreError {
  return new StoreError(
    'STORE_CORRUPT',
    `block store ${store.dir} is damaged: block ${height} is missing below head ${store.head().height}; ${damageAdvice(store.dir)}`,
    { dir: store.dir }
  )
}

export interface ExportProgress {
  rows: number
  /** The last row's height and slot. */
  height: number
  slot: number
}

/**
 * The export of a range as text chunks, one per page of blocks, the header in the first. Nothing
 * is read before the consumer asks for the next chunk, so a slow consumer slows the reads; and a
 * store that fails on its first page fails before anything was yielded (the API can still answer
 * with an error status).
 */
export async function* exportChunks(
  store: BlockStore,
  range: ExportRange,
  format: ExportFormat,
  net: ExportNetwork,
  onPage?: (p: ExportProgress) => void
): AsyncGenerator<string> {
  let header = exportHeader(format)
  let rows = 0
  for await (const page of blockPages(store, range)) {
    rows += page.length
    yield header + page.map((b) => formatRow(exportRow(b, net), format)).join('')
    header = ''
    const last = page.at(-1)!
    onPage?.({ rows, height: last.height, slot: last.block.slot })
  }
  if (header) yield header
}
