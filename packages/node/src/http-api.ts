/**
 * A small read-only JSON HTTP server (node:http) for the control centre: routes are data,
 * handlers return a status and a body (JSON, Prometheus text, or one of the dashboard's files);
 * unknown paths are 404, bad query parameters 400, and a handler that throws is a 500 with a
 * one-line error, never a crashed process. A handler may return a `stream` instead of a body: it
 * is sent with chunked transfer encoding as the client reads it (a slow client slows the source),
 * and stopped when the client goes away.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { BbnpError, type Logger } from '@bbnp/core'

export interface ApiResponse {
  status: number
  body: unknown
  /** text/plain for Prometheus metrics; JSON otherwise. */
  text?: boolean
  /** A static file (the dashboard's page, scripts and styles), or a `stream`: sent as it is, with this content type. */
  contentType?: string
  /** The Allow header of a 405. */
  allow?: string
  /** A body sent chunk by chunk as it is read, instead of `body`; its first chunk is read before the status line. */
  stream?: AsyncIterable<string>
}

export type Route = (params: Record<string, string>, query: URLSearchParams) => ApiResponse | Promise<ApiResponse>

export interface ApiServer {
  port: number
  close(): Promise<void>
}

/** 400 with a message, for a malformed request parameter. */
export function badRequest(message: string): ApiResponse {
  return { status: 400, body: { error: message, code: 'BAD_REQUEST' } }
}

export function notFound(message = 'not found'): ApiResponse {
  return { status: 404, body: { error: message, code: 'NOT_FOUND' } }
}

/** Parse a non-negative integer query parameter, or answer 400. */
export function intParam(value: string | null | undefined, name: string, def?: number): number {
  if (value === null || value === undefined || value === '') {
    if (def === undefined) throw new BbnpError('BAD_REQUEST', `missing parameter ${name}`)
    return def
  }
  if (!/^\d{1,15}$/.test(value)) throw new BbnpError('BAD_REQUEST', `${name} must be a non-negative integer`)
  return Number(value)
}

function toJson(body: unknown): string {
  return JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))
}

/** Match "/blocks/:height" style patterns; a parameter that is not valid percent-encoding is a bad request. */
function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/')
  const q = path.split('/')
  if (p.length !== q.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) {
      try {
        params[p[i].slice(1)] = decodeURIComponent(q[i])
      } catch {
        throw new BbnpError('BAD_REQUEST', `malformed path segment "${q[i]}"`)
      }
    } else if (p[i] !== q[i]) return null
  }
  return params
}

function errorBody(status: number, code: string, message: string): ApiResponse {
  return { status, body: { error: message, code } }
}

export interface ApiOptions {
  host: string
  port: number
  routes: Record<string, Route>
  logger: Logger
  /** Told of every error a handler throws (a damaged store stops the peer). */
  onFailure?: (e: unknown) => void
}

/** Resolves once `res` can take more (or is gone). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

/**
 * Send a stream whose first chunk was read: chunk by chunk, waiting for the socket to drain. When
 * the client goes away the source is closed; when the source fails half-way the connection is
 * cut, so that the client sees an incomplete transfer, never a complete-looking short one.
 */
async function sendStream(
  req: IncomingMessage,
  res: ServerResponse,
  out: ApiResponse,
  it: AsyncIterator<string>,
  first: IteratorResult<string>,
  failed: (e: unknown) => void
): Promise<void> {
  let closed = false
  res.once('close', () => {
    closed = true
  })
  res.writeHead(out.status, { 'content-type': out.contentType ?? 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
  let r = first
  try {
    while (!r.done && !closed && req.method !== 'HEAD') {
      if (!res.write(r.value)) await drained(res)
      if (!closed) r = await it.next()
    }
  } catch (e) {
    failed(e)
    res.destroy()
    return
  }
  if (!r.done) await it.return?.()
  res.end()
}

export async function startApi(opts: ApiOptions): Promise<ApiServer> {
  const failed = (e: unknown, path: string): ApiResponse => {
    if (e instanceof BbnpError && e.code === 'BAD_REQUEST') return errorBody(400, 'BAD_REQUEST', e.message)
    opts.logger.warn('api handler failed', { path, error: (e as Error).message })
    opts.onFailure?.(e)
    const code = (e as { code?: unknown }).code
    return errorBody(500, typeof code === 'string' && code !== '' ? code : 'INTERNAL', (e as Error).message)
  }
  const route = async (req: IncomingMessage): Promise<ApiResponse> => {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
    } catch {
      return errorBody(400, 'BAD_REQUEST', 'malformed request URL')
    }
    try {
      for (const [pattern, handler] of Object.entries(opts.routes)) {
        const params = match(pattern, url.pathname)
        if (!params) continue
        if (req.method !== 'GET' && req.method !== 'HEAD')
          return { ...errorBody(405, 'METHOD_NOT_ALLOWED', 'read-only API: use GET'), allow: 'GET, HEAD' }
        return await handler(params, url.searchParams)
      }
      return errorBody(404, 'NOT_FOUND', `no route ${url.pathname}`)
    } catch (e) {
      return failed(e, url.pathname)
    }
  }
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let out = await route(req)
    if (out.stream) {
      const path = (req.url ?? '/').split('?')[0]
      const it = out.stream[Symbol.asyncIterator]()
      // A failure before the first chunk (a bad range, a damaged store) is still an error response.
      let first: IteratorResult<string>
      try {
        first = await it.next()
      } catch (e) {
        out = failed(e, path)
      }
      if (out.stream) return sendStream(req, res, out, it, first!, (e) => failed(e, path))
    }
    const payload = out.contentType ? (out.body as string | Uint8Array) : out.text ? String(out.body) : toJson(out.body)
    res.writeHead(out.status, {
      'content-type': out.contentType ?? (out.text ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json; charset=utf-8'),
      'content-length': Buffer.byteLength(payload),
      ...(out.allow ? { allow: out.allow } : {})
    })
    res.end(req.method === 'HEAD' ? undefined : payload)
  }
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy())
  })
  server.keepAliveTimeout = 5000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new BbnpError(
          'CONFIG',
          e.code === 'EADDRINUSE'
            ? `API port ${opts.port} on ${opts.host} is already in use`
            : `cannot serve the API on ${opts.host}:${opts.port}: ${e.message}`
        )
      )
    )
    server.listen(opts.port, opts.host, () => resolve())
  })
  const address = server.address()
  return {
    port: typeof address === 'object' && address ? address.port : opts.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
