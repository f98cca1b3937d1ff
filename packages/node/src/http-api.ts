/**
 * A small read-only JSON HTTP server (node:http) for the control centre: routes are data,
 * handlers return a status and a body; unknown paths are 404, bad query parameters 400, and a
 * handler that throws is a 500 with a one-line error, never a crashed process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { BbnpError, type Logger } from '@bbnp/core'

export interface ApiResponse {
  status: number
  body: unknown
  /** text/plain for Prometheus metrics; JSON otherwise. */
  text?: boolean
}

export type Route = (params: Record<string, string>, query: URLSearchParams) => ApiResponse | Promise<ApiResponse>

export interface ApiServer {
  port: number
  close(): Promise<void>
}

/** 400 with a message, for a malformed request parameter. */
export function badRequest(message: string): ApiResponse {
  return { status: 400, body: { error: message } }
}

export function notFound(message = 'not found'): ApiResponse {
  return { status: 404, body: { error: message } }
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

/** Match "/blocks/:height" style patterns. */
function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/')
  const q = path.split('/')
  if (p.length !== q.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(q[i])
    else if (p[i] !== q[i]) return null
  }
  return params
}

export async function startApi(opts: { host: string; port: number; routes: Record<string, Route>; logger: Logger }): Promise<ApiServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    let out: ApiResponse = notFound()
    if (req.method !== 'GET' && req.method !== 'HEAD') out = { status: 405, body: { error: 'read-only API: use GET' } }
    else {
      for (const [pattern, route] of Object.entries(opts.routes)) {
        const params = match(pattern, url.pathname)
        if (!params) continue
        try {
          out = await route(params, url.searchParams)
        } catch (e) {
          if (e instanceof BbnpError && e.code === 'BAD_REQUEST') out = badRequest(e.message)
          else {
            opts.logger.warn('api handler failed', { path: url.pathname, error: (e as Error).message })
            out = { status: 500, body: { error: (e as Error).message } }
          }
        }
        break
      }
    }
    const payload = out.text ? String(out.body) : toJson(out.body)
    res.writeHead(out.status, {
      'content-type': out.text ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload)
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
