/**
 * Local TCP ports. Before starting anything the devnet checks that each port its processes will
 * listen on is free, so a port in use is one clear line naming it instead of a child dying at
 * start; the benchmark and the tests pick free ranges of their own.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { API_PORT_OFFSET } from '@bbnp/node'

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

/** Ports are handed out in blocks of this many, each claimed by a file (see freePortRange). */
const BLOCK = 50
const FIRST = 20000
/** A port's HTTP twin (+1000) is in the block this many blocks further on. */
const TWIN = API_PORT_OFFSET / BLOCK
/** Blocks below the kernel's ephemeral range (32768 and up on Linux). */
const BLOCKS = Math.floor((32768 - FIRST) / BLOCK)
/** A claim older than this is stale (its holder is long gone): tests and benches run for minutes. */
const CLAIM_MS = 60 * 60 * 1000

/** Whether the process that wrote a claim is gone (its claim is then free to take). */
function holderGone(path: string): boolean {
  try {
    const pid = Number(readFileSync(path, 'utf8'))
    if (!Number.isSafeInteger(pid) || pid <= 0) return true
    process.kill(pid, 0)
    return false
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'EPERM'
  }
}

/**
 * Claim a block for this process: a file created with O_EXCL in a shared directory, so that two
 * processes picking ports at the same moment (parallel tests, a bench beside them) never pick the
 * same ones, which probing alone cannot promise: a port is free until someone binds it. A claim
 * whose process has ended, or older than CLAIM_MS, is taken over.
 */
function claimBlock(block: number): boolean {
  const dir = join(tmpdir(), 'bbnp-port-claims')
  mkdirSync(dir, { recursive: true })
  const path = join(dir, String(block))
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' })
    return true
  } catch {
    try {
      if (!holderGone(path) && Date.now() - statSync(path).mtimeMs < CLAIM_MS) return false
      writeFileSync(path, String(process.pid))
      return true
    } catch {
      return false
    }
  }
}

/**
 * A base port P with P..P+count-1 and their HTTP twins (+1000) free on 127.0.0.1. Chosen below
 * the kernel's ephemeral range (32768 and up on Linux), where outgoing connections would take
 * ports between the check and the listen, from a block no other process of ours has claimed.
 */
export async function freePortRange(count: number): Promise<number> {
  const blocks = Math.ceil(count / BLOCK)
  if (blocks > TWIN) throw new RangeError(`at most ${TWIN * BLOCK} ports at once`)
  for (let attempt = 0; attempt < 200; attempt++) {
    const first = Math.floor(Math.random() * (BLOCKS - TWIN - blocks + 1))
    const base = FIRST + first * BLOCK
    let ok = true
    for (let p = base; p < base + count && ok; p++)
      ok = (await probePort('127.0.0.1', p)) === null && (await probePort('127.0.0.1', p + API_PORT_OFFSET)) === null
    if (!ok) continue
    // The blocks of the ports and of their twins; a block claimed by someone else ends the try.
    const wanted = Array.from({ length: blocks }, (_, k) => [first + k, first + k + TWIN]).flat()
    if (wanted.every((b) => claimBlock(b))) return base
  }
  throw new Error('no free range of TCP ports on 127.0.0.1')
}
