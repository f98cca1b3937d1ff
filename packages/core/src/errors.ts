/**
 * Typed errors with stable string codes. Tests and callers branch on `code`, never on the
 * message; `meta` carries structured context for logs (never raw secret bytes).
 */
export class BbnpError<C extends string = string> extends Error {
  readonly code: C
  readonly meta: Record<string, unknown>

  constructor(code: C, message: string, meta: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'BbnpError'
    this.code = code
    this.meta = meta
  }
}

/** An error that a command line reports as one line and turns into a process exit code. */
export class UsageError extends BbnpError<'USAGE' | 'CONFIG' | 'KEY' | 'GENESIS' | 'IO'> {
  readonly exitCode: number

  constructor(code: 'USAGE' | 'CONFIG' | 'KEY' | 'GENESIS' | 'IO', message: string, exitCode = 2) {
    super(code, message)
    this.name = 'UsageError'
    this.exitCode = exitCode
  }
}

export function isBbnpError(e: unknown): e is BbnpError {
  return e instanceof BbnpError
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message
  return String(e)
}
