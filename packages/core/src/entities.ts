/**
 * The names of the network's entities, made and parsed in one place: `meter-17`, `cn-3` and
 * `gateway`. They appear in the genesis, key files, logs and the HTTP API; the protocol itself
 * uses the indices (meter i, consensus node j), 1-based.
 */
export const GATEWAY_ID = 'gateway'

export type EntityRole = 'meter' | 'consensus' | 'gateway'

export const meterId = (i: number): string => `meter-${i}`
export const consensusId = (j: number): string => `cn-${j}`

const PATTERN = /^(meter|cn)-([1-9]\d{0,9})$/

/** The role and index of an entity name; null for anything else. */
export function parseEntity(id: string): { role: EntityRole; index: number } | null {
  if (id === GATEWAY_ID) return { role: 'gateway', index: 0 }
  const m = PATTERN.exec(id)
  if (!m) return null
  return { role: m[1] === 'cn' ? 'consensus' : 'meter', index: Number(m[2]) }
}

/** The index of `meter-i` (throws RangeError on another name). */
export function meterIndex(id: string): number {
  const e = parseEntity(id)
  if (e?.role !== 'meter') throw new RangeError(`${id} is not a meter`)
  return e.index
}

/** The index of `cn-j` (throws RangeError on another name). */
export function consensusIndex(id: string): number {
  const e = parseEntity(id)
  if (e?.role !== 'consensus') throw new RangeError(`${id} is not a consensus node`)
  return e.index
}
