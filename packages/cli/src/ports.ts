/**
 * Local TCP ports. Before starting anything the devnet checks that each port its processes will
 * listen on is free, so a port in use is one clear line naming it instead of a child dying at
 * start; the benchmark and the tests pick free ranges of their own.
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

/**
 * A base port P with P..P+count-1 and their HTTP twins (+1000) free on 127.0.0.1. Chosen below
 * the kernel's ephemeral range (32768 and up on Linux), where outgoing connections would take
 * ports between the check and the listen.
 */
export async function freePortRange(count: number): Promise<number> {
  const span = 32768 - 1000 - count - 20000
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * span)
    let ok = true
    for (let p = base; p < base + count && ok; p++)
      ok = (await probePort('127.0.0.1', p)) === null && (await probePort('127.0.0.1', p + 1000)) === null
    if (ok) return base
  }
  throw new Error('no free range of TCP ports on 127.0.0.1')
}
