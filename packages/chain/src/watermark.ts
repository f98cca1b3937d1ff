/**
 * A block store's watermark: the height it last reached, in a small file beside the database
 * (LevelDB ignores files it does not name), written after every block. A store that opens lower
 * than its watermark lost blocks it once held (its log was cut short): the peer says so and
 * catches them up from its peers (consensus-peer.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { toHex } from '@bbnp/core'

const WATERMARK_FILE = 'bbnp-head.json'

export function writeWatermark(dir: string, head: { height: number; hash: Uint8Array }): void {
  try {
    writeFileSync(join(dir, WATERMARK_FILE), JSON.stringify({ height: head.height, hash: toHex(head.hash) }))
  } catch {
    // Only a hint for the next open; the block itself is safely in the database.
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
