/** What every part of `bbnp bench` measures with: medians, percentiles, rounding, and yielding the event loop. */

/** The median of `xs` (NaN for none). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}

export const round = (x: number, digits: number) => Number(x.toFixed(digits))

/** Let the event loop run (progress lines, signals) between long synchronous stretches. */
export const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
