/**
 * Flag parsing shared by every command: node:util parseArgs in strict mode, so an unknown or
 * malformed flag is one clear line and exit code 2 (UsageError), never a stack trace.
 */
import { parseArgs } from 'node:util'
import { UsageError } from '@bbnp/core'

/** A flag with `multiple: true` may be given many times (strings only) and parses to a list. */
export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean; multiple?: boolean }>

export function parseFlags<S extends FlagSpec>(argv: string[], spec: S, opts: { positionals?: number } = {}) {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: (opts.positionals ?? 0) > 0 })
    if (positionals.length > (opts.positionals ?? 0))
      throw new UsageError('USAGE', `unexpected argument: ${positionals[opts.positionals ?? 0]}`)
    return {
      values: values as unknown as {
        [K in keyof S]: S[K]['multiple'] extends true
          ? string[] | undefined
          : S[K]['type'] extends 'boolean'
            ? boolean | undefined
            : string | undefined
      },
      positionals
    }
  } catch (e) {
    if (e instanceof UsageError) throw e
    throw new UsageError('USAGE', (e as Error).message)
  }
}

/** A whole number flag within bounds; `name` is the flag as the user typed it. */
export function intFlag(value: string | undefined, name: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return def
  if (!/^-?\d+$/.test(value)) throw new UsageError('USAGE', `${name} must be a whole number, got "${value}"`)
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError('USAGE', `${name} must be between ${min} and ${max}, got ${value}`)
  return n
}

export function requireFlag(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new UsageError('USAGE', `missing required flag ${name}`)
  return value
}
