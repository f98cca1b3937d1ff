/**
 * Structured logging: `log.info('block committed', { height, hash, ms })`, one JSON object per
 * line. Raw bytes are never logged above debug; callers pass hex strings or sizes instead.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

export function isLogLevel(s: string): s is LogLevel {
  return s in LEVELS
}

export interface Logger {
  debug(msg: string, ctx?: Record<string, unknown>): void
  info(msg: string, ctx?: Record<string, unknown>): void
  warn(msg: string, ctx?: Record<string, unknown>): void
  error(msg: string, ctx?: Record<string, unknown>): void
  child(bindings: Record<string, unknown>): Logger
}

export interface LoggerOptions {
  level: LogLevel
  bindings?: Record<string, unknown>
  write?: (line: string) => void
  now?: () => number
}

function jsonValue(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Uint8Array) return `<${v.length} bytes>`
  if (v instanceof Error) return v.message
  return v
}

export function createLogger(opts: LoggerOptions): Logger {
  const min = LEVELS[opts.level]
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`))
  const now = opts.now ?? Date.now
  const bindings = opts.bindings ?? {}
  const emit = (level: LogLevel, msg: string, ctx?: Record<string, unknown>) => {
    if (LEVELS[level] < min) return
    write(JSON.stringify({ t: new Date(now()).toISOString(), level, msg, ...bindings, ...ctx }, jsonValue))
  }
  return {
    debug: (m, c) => emit('debug', m, c),
    info: (m, c) => emit('info', m, c),
    warn: (m, c) => emit('warn', m, c),
    error: (m, c) => emit('error', m, c),
    child: (b) => createLogger({ ...opts, bindings: { ...bindings, ...b } })
  }
}

export const nullLogger: Logger = createLogger({ level: 'silent' })
