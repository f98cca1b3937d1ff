/** Types of dashboard-model.js (plain JavaScript, since the browser loads it as it is). */

export interface ModelBlock {
  height: number
  hash?: string
  slot: number
  fromSlot?: number
  status: string
  sum: string | null
  count: number
}

export interface Readiness {
  ready: boolean
  source: '/readyz' | '/status'
  reasons: string[]
}

export interface Health {
  level: 'ok' | 'warn' | 'bad' | 'down'
  word: string
  why: string
}

export const STATUS_COLOURS: Record<'complete' | 'incomplete' | 'missed' | 'recovered', string>
export function peerColour(index: number): string
export function statusColour(status: string): string
export function averagePowerW(wh: number, periodMs: number): number
export function groupDigits(decimal: string | number): string
export function formatPower(w: number | null | undefined): string
export function formatMs(ms: number | null | undefined): string
export function formatAge(ms: number | null): string
export function formatPercent(x: number): string
export function formatPeriod(ms: number): string
export function median(values: readonly (number | null)[]): number | null
export function metricValue(text: string, name: string): number | null
export function mergeBlocks<B extends { height: number }>(kept: readonly B[], incoming: readonly B[], window: number): B[]
export function missingRanges(keptFrom: number | null, keptTo: number | null, height: number, window: number): [number, number][]
export const RANGE_FILL: number
export function loadColumns(
  blocks: readonly ModelBlock[],
  genesisTimeMs: number,
  periodMs: number
): { x: number[]; wh: (number | null)[]; meters: (number | null)[]; statuses: string[] }
export function readiness(
  status: { syncing: boolean; peers: string[] },
  readyz: { status: number; body: unknown } | null,
  quorum: number,
  consensus?: readonly string[]
): Readiness
export function health(input: {
  reachable: boolean
  ready: Readiness
  status: { height: number; view: number; viewChanging: boolean }
  headAgeMs: number | null
  periodMs: number
}): Health
