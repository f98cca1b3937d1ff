/**
 * Before starting anything the devnet checks that each port its processes will listen on is
 * free, so a port in use is one clear line naming it instead of a child dying at start.
 */
import { createServer } from 'node:net'

export interface PortUse {
  port: number
  /** What would listen there, e.g. "cn-2 p2p" or "gateway API". */
  what: string
}

/** Resolve to null when `port` can be bound on `host`, or to the error code (EADDRINUSE, EACCES…). */
export function probePort(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)))
  })
}

/** The first port of `uses` that cannot be bound on `host`, with the reason, or null when all are free. */
export async function firstTakenPort(host: string, uses: PortUse[]): Promise<(PortUse & { reason: string }) | null> {
  for (const use of uses) {
    const reason = await probePort(host, use.port)
    if (reason !== null) return { ...use, reason }
  }
  return null
}
