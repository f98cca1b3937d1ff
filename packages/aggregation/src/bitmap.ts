/**
 * Sets of meters as bitmaps: meter i (1-based) is bit (i - 1) % 8 of byte floor((i - 1) / 8),
 * least significant bit first, ceil(N / 8) bytes. The same layout as the consensus package's
 * signer bitmaps (`bitmapFromIndices`), so the reporter set A of a slot (PROTOCOL 3.5.5) can go
 * into a block as it is. Aggregation may not import consensus (DESIGN, package rules), hence a
 * copy of these few lines.
 */
import { aggregationError } from './errors.ts'

export function bitmapBytes(size: number): number {
  return Math.ceil(size / 8)
}

export function bitmapFromIndices(indices: Iterable<number>, size: number): Uint8Array {
  const b = new Uint8Array(bitmapBytes(size))
  for (const i of indices) {
    if (!Number.isSafeInteger(i) || i < 1 || i > size) throw aggregationError('PARAMS', `index ${i} outside 1..${size}`)
    b[(i - 1) >> 3] |= 1 << ((i - 1) & 7)
  }
  return b
}

export function bitmapHas(b: Uint8Array, i: number): boolean {
  return (b[(i - 1) >> 3] & (1 << ((i - 1) & 7))) !== 0
}

/** Throws MALFORMED unless `b` is a bitmap of exactly `size` entries (right length, no stray bits). */
export function checkBitmap(b: Uint8Array, size: number, what = 'bitmap'): void {
  if (!(b instanceof Uint8Array) || b.length !== bitmapBytes(size))
    throw aggregationError('MALFORMED', `${what} must be ${bitmapBytes(size)} bytes for ${size} entries`)
  const used = size & 7
  if (used !== 0 && b[b.length - 1] >> used !== 0) throw aggregationError('MALFORMED', `${what} has bits beyond entry ${size}`)
}

/** The number of set bits (after `checkBitmap`). */
export function bitmapCount(b: Uint8Array): number {
  let c = 0
  for (let k = 0; k < b.length; k++) {
    let x = b[k]
    while (x !== 0) {
      x &= x - 1
      c++
    }
  }
  return c
}

/** The 1-based indices set in `b`, ascending. */
export function bitmapIndices(b: Uint8Array, size: number): number[] {
  const out: number[] = []
  for (let i = 1; i <= size; i++) if (bitmapHas(b, i)) out.push(i)
  return out
}
