/**
 * `bbnp start` as a service manager meets it: a fatal error at start-up ends the process with
 * one line and exit code 2, within a second of the error, releasing what it opened; a signal
 * ends it in any state, also while it is still starting. Real processes, no network needed.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePortRange } from '../src/ports.ts'

const BBNP = fileURLToPath(new URL('../../../bin/bbnp', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'bbnp-start-'))
let base = 0
const servers: Server[] = []

before(async () => {
  base = await freePortRange(6)
  // A long period: a peer waiting for its peers at start-up would wait a minute.
  const r = spawnSync(
    BBNP,
    [
      'setup',
      '--out',
      join(tmp, 'net'),
      '--meters',
      '4',
      '--consensus',
      '4',
      '--base-port',
      String(base),
      '--seed',
      'start-test',
      '--devnet',
      '--period-ms',
      '60000'
    ],
    { encoding: 'utf8' }
  )
  assert.equal(r.status, 0, r.stderr)
})
after(() => {
  for (const s of servers) s.close()
  rmSync(tmp, { recursive: true, force: true })
})

function occupy(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(port, '127.0.0.1', () => resolve())
    servers.push(s)
  })
}

interface Ended {
  code: number | null
  signal: NodeJS.Signals | null
  /** stderr lines that are not JSON log lines */
  lines: string[]
  /** ms from the first such line to the exit */
  afterError: number
}

/** Start `bbnp start …` and wait for it to end (failing the test after `limitMs`, killing it). */
function startAndWait(
  args: string[],
  opts: { limitMs?: number; onStderr?: (text: string, child: ReturnType<typeof spawn>) => void } = {}
): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(BBNP, ['start', '--config', join(tmp, 'net'), '--log-level', 'info', ...args], {
      stdio: ['ignore', 'ignore', 'pipe']
    })
    let stderr = ''
    let firstLineAt = 0
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d: string) => {
      stderr += d
      if (firstLineAt === 0 && /^bbnp: /m.test(stderr)) firstLineAt = Date.now()
      opts.onStderr?.(stderr, child)
    })
    const limit = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`still running after ${opts.limitMs ?? 20_000} ms; stderr:\n${stderr}`))
    }, opts.limitMs ?? 20_000)
    child.once('exit', (code, signal) => {
      clearTimeout(limit)
      const lines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'))
      resolve({ code, signal, lines, afterError: firstLineAt === 0 ? Number.NaN : Date.now() - firstLineAt })
    })
  })
}

function assertFatal(e: Ended, pattern: RegExp): void {
  assert.equal(e.code, 2, `exit code 2, got ${e.code} (${e.lines.join(' | ')})`)
  assert.equal(e.lines.length, 1, `one line, got: ${e.lines.join(' | ')}`)
  assert.match(e.lines[0], pattern)
  assert.ok(e.afterError <= 1000, `ended ${e.afterError} ms after the error line`)
}

describe('bbnp start: fatal start-up errors end the process with one line and exit code 2', () => {
  it('a consensus peer whose API port is in use', async () => {
    await occupy(base + 1 + 1000)
    assertFatal(
      await startAndWait(['--role', 'consensus', '--id', 'cn-1']),
      new RegExp(`^bbnp: API port ${base + 1001} on 127.0.0.1 is already in use$`)
    )
  })

  it('an API host that does not resolve', async () => {
    assertFatal(
      await startAndWait(['--role', 'consensus', '--id', 'cn-2', '--api-host', 'banana']),
      /^bbnp: cannot serve the API on banana:\d+: .*ENOTFOUND/
    )
  })

  it('a meter process given a busy --api-port', async () => {
    await occupy(base + 5)
    assertFatal(
      await startAndWait(['--role', 'meter', '--id', 'meter-1..meter-2', '--api-port', String(base + 5)]),
      new RegExp(`^bbnp: API port ${base + 5} on 127.0.0.1 is already in use$`)
    )
  })

  it('a data directory that cannot be created (under /proc)', async () => {
    assertFatal(
      await startAndWait(['--role', 'consensus', '--id', 'cn-3', '--data-dir', '/proc/bbnp-start-test']),
      /^bbnp: block store \/proc\/bbnp-start-test\/chain cannot be created or written/
    )
  })
})

describe('bbnp start: a signal always ends the process', () => {
  it('SIGTERM while the peer still waits for its peers at start-up: exit 0 within two seconds', async () => {
    let sentAt = 0
    const e = await startAndWait(['--role', 'consensus', '--id', 'cn-4'], {
      // "consensus peer started" is logged once the API is up; it then waits up to a period (60 s) for peers.
      onStderr: (text, child) => {
        if (sentAt === 0 && text.includes('"consensus peer started"')) {
          sentAt = Date.now()
          child.kill('SIGTERM')
        }
      }
    })
    assert.ok(sentAt > 0, 'the peer came up')
    assert.equal(e.code, 0, e.lines.join(' | '))
    assert.ok(Date.now() - sentAt < 2000, `ended ${Date.now() - sentAt} ms after SIGTERM`)
    assert.match(e.lines.join('\n'), /bbnp: SIGTERM, shutting down/)
  })
})
