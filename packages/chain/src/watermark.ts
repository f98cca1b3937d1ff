/**
 * A block store's watermark: the height it last reached, in a small file beside the database
 * (LevelDB ignores files it does not name), written after every block. A store that opens lower
 * than its watermark lost blocks it once held (its log was cut short): the peer says so and
 * catches them up from its peers (consensus-peer.ts).
 *
 * The file stays open and each block overwrites its first bytes in place with one write, the JSON
 * padded with spaces to a fixed length: a rewrite of the whole file (open, truncate, write, close)
 * cost about 2 ms per block on an ext4 disk, in the commit path (docs/performance.md).
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { toHex } from '@bbnp/core'

const WATERMARK_FILE = 'bbnp-head.json'
/** Room for {"height": u64, "hash": 64 hex}; JSON.parse ignores the padding. */
const RECORD_BYTES = 128

export class Watermark {
  private readonly path: string
  private fd: number | null = null

  constructor(dir: string) {
    this.path = join(dir, WATERMARK_FILE)
  }

  write(head: { height: number; hash: Uint8Array }): void {
    try {
      // Opened at the first block after the store opened (which read the old mark), then kept.
      this.fd ??= openSync(this.path, 'w')
      const json = JSON.stringify({ height: head.height, hash: toHex(head.hash) })
      const record = Buffer.from(json.padEnd(Math.max(RECORD_BYTES, json.length)))
      writeSync(this.fd, record, 0, record.length, 0)
    } catch {
      // Only a hint for the next open; the block itself is safely in the database.
    }
  }

  close(): void {
    if (this.fd === null) return
    try {
      closeSync(this.fd)
    } catch {
      // nothing to do: the file was only ever a hint
    }
    this.fd = null
  }
}

/** The heights lost since the watermark, or null when the store is as high as it ever was. */
export function lostSince(dir: string, height: number): { from: number; to: number } | null {
  let mark: unknown
  try {
    mark = JSON.parse(readFileSync(join(dir, WATERMARK_FILE), 'utf8')).height
  } catch {
    return null
  }
  if (typeof mark !== 'number' || !Number.isSafeInteger(mark) || mark <= height) return null
  return { from: height + 1, to: mark }
}
