/**
 * `bbnp devnet` as a user runs it: real processes on loopback. Each devnet is started in its own
 * process group (detached), so whatever happens the test kills the launcher and every child it
 * started with one group kill. Waits are on the devnet's output with deadlines, never sleeps.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { freePortRange } from '../src/ports.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { meterRanges } from '../src/commands/devnet.ts'
import { blockLine, groupDigits, missingText } from '../src/devnet/block-line.ts'

const BBNP = fileURLToPath(new URL('../../../bin/bbnp', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'bbnp-devnet-'))
const launched: ChildProcess[] = []
let failed = false

function killGroups(): void {
  for (const c of launched) {
    try {
      if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL')
    } catch {}
  }
}
process.on('exit', killGroups)
after(() => {
  killGroups()
  // Keep the networks and their logs when a test failed, to see why.
  if (failed) process.stderr.write(`devnet test: kept ${tmp}\n`)
  else rmSync(tmp, { recursive: true, force: true })
})

/** Run a test body, noting a failure so that after() keeps the logs. */
function keepOnFailure(fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await fn()
    } catch (e) {
      failed = true
      throw e
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A running `bbnp devnet` whose output the test can wait on. */
class Devnet {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  code: number | null = null
  closed = false
  private readonly wakers = new Set<() => void>()

  constructor(args: string[]) {
    // Debug logs, so that the logs kept after a failure show what each process saw.
    const env = { ...process.env, BBNP_LOG_LEVEL: process.env.BBNP_LOG_LEVEL ?? 'debug' }
    this.child = spawn(BBNP, ['devnet', ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env })
    launched.push(this.child)
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d
      this.wake()
    })
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d
      this.wake()
    })
    this.child.once('close', (code, signal) => {
      this.code = code ?? (signal ? 128 : null)
      this.closed = true
      this.wake()
    })
  }

  private wake(): void {
    for (const w of this.wakers) w()
  }

  get output(): string {
    return `--- stdout\n${this.stdout}--- stderr\n${this.stderr}`
  }

  /** Resolve when `check()` returns a value; reject at the deadline or when the devnet ends first. */
  private until<T>(what: string, check: () => T | null, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = (f: () => void) => {
        clearTimeout(timer)
        this.wakers.delete(poke)
        f()
      }
      const poke = () => {
        const v = check()
        if (v !== null) done(() => resolve(v))
        else if (this.closed) done(() => reject(new Error(`devnet ended (code ${this.code}) before ${what}\n${this.output}`)))
      }
      const timer = setTimeout(
        () => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.output}`))),
        timeoutMs
      )
      this.wakers.add(poke)
      poke()
    })
  }

  waitForOutput(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return this.until(`output ${re}`, () => re.exec(this.stdout), timeoutMs)
  }

  exited(timeoutMs: number): Promise<number | null> {
    return this.until('the devnet to exit', () => (this.closed ? { code: this.code } : null), timeoutMs).then((r) => r.code)
  }

  /** The PIDs the header printed, by process name. */
  pids(): Map<string, number> {
    return new Map([...this.stdout.matchAll(/^ {2}(\S+)\s+pid (\d+)/gm)].map((m) => [m[1], Number(m[2])]))
  }
}

const BLOCK_LINE =
  /^height (\d+)\s+slot (\d+)\s+(?:sum (-?[\d,]+) Wh( recovered, missing \S.*?)?|incomplete(?: \([a-z-]+\))?(?:, missing \S.*?)?)\s+meters (\d+)\/10\s+primary cn-\d\s+view \d+\s+latency (?:\d+ ms|n\/a \([a-z -]+\))$/gm
const PROCESSES = ['cn-1', 'cn-2', 'cn-3', 'cn-4', 'gateway', 'meters-1', 'meters-2']

describe('bbnp devnet: what it shows and how it splits the meters', () => {
  it('one line per block: the sum with digit groups, or the missing meters of an incomplete slot', () => {
    const block = {
      height: 12,
      hash: 'ab',
      slot: 1733,
      status: 'complete',
      sum: '2153',
      count: 10,
      missing: [],
      primary: 'cn-3',
      view: 0,
      latencyMs: 48
    }
    assert.equal(blockLine(block, 10), 'height 12    slot 1733   sum 2,153 Wh        meters 10/10  primary cn-3  view 0  latency 48 ms')
    const missing = ['meter-3', 'meter-7']
    assert.equal(
      blockLine({ ...block, status: 'incomplete', sum: null, count: 8, missing, view: 1, latencyMs: null }, 10),
      'height 12    slot 1733   incomplete, missing meter-3, meter-7  meters 8/10  primary cn-3  view 1  latency n/a (block fetched by catch-up)'
    )
    assert.equal(
      blockLine({ ...block, latencyMs: null, committedAtMs: 1_700_000_000_000 }, 10),
      'height 12    slot 1733   sum 2,153 Wh        meters 10/10  primary cn-3  view 0  latency n/a (no hand-off reached this peer)'
    )
    assert.equal(
      blockLine({ ...block, status: 'missed', fromSlot: 1500, sum: null, count: 0, latencyMs: 40 }, 10),
      'height 12    slot 1733   no reports: slots 1500..1733 missed (the gateway was down)  meters 0/10  primary cn-3  view 0  latency 40 ms'
    )
    assert.equal(
      blockLine({ ...block, status: 'recovered', count: 9, missing: ['meter-4'], latencyMs: 60 }, 10),
      'height 12    slot 1733   sum 2,153 Wh recovered, missing meter-4  meters 9/10  primary cn-3  view 0  latency 60 ms'
    )
    assert.equal(
      blockLine({ ...block, status: 'incomplete', reason: 'no-endorsement', sum: null, missing: [], latencyMs: 60 }, 10),
      'height 12    slot 1733   incomplete (no-endorsement)  meters 10/10  primary cn-3  view 0  latency 60 ms'
    )
    assert.equal(groupDigits('-1234567890123456789012'), '-1,234,567,890,123,456,789,012')
    assert.equal(groupDigits('999'), '999')
    assert.equal(missingText(Array.from({ length: 10 }, (_, i) => `meter-${i + 1}`)), 'meter-1..meter-10')
    assert.equal(
      missingText(['meter-1', 'meter-2', 'meter-5', 'meter-6', 'meter-7', 'meter-9']),
      'meter-1, meter-2, meter-5..meter-7, meter-9'
    )
    assert.equal(
      missingText(Array.from({ length: 20 }, (_, i) => `meter-${2 * i + 1}`)),
      'meter-1, meter-3, meter-5, meter-7, meter-9, meter-11, +14 more'
    )
  })

  it('meter processes get contiguous, even ID ranges', () => {
    assert.deepEqual(meterRanges(10, 2), ['meter-1..meter-5', 'meter-6..meter-10'])
    assert.deepEqual(meterRanges(10, 3), ['meter-1..meter-4', 'meter-5..meter-7', 'meter-8..meter-10'])
    assert.deepEqual(meterRanges(3, 3), ['meter-1', 'meter-2', 'meter-3'])
    assert.deepEqual(meterRanges(7, 1), ['meter-1..meter-7'])
  })
})

describe('bbnp devnet', () => {
  it(
    '--rounds 5 sets up a network, shows 5 blocks with their sums, logs every process and stops them all',
    { timeout: 90_000 },
    keepOnFailure(async () => {
      const dir = join(tmp, 'rounds')
      const base = await freePortRange(5)
      const d = new Devnet(['--rounds', '5', '--dir', dir, '--base-port', String(base)])
      const code = await d.exited(60_000)
      assert.equal(code, 0, d.output)

      const lines = [...d.stdout.matchAll(BLOCK_LINE)]
      assert.deepEqual(
        lines.map((m) => Number(m[1])),
        [1, 2, 3, 4, 5],
        `five block lines in height order\n${d.output}`
      )
      // The sums shown are the gateway's aggregates of those slots (its log records each one; a
      // consensus peer's log has no line for a block it synced instead of committing itself).
      const closed = new Map<number, string | null>()
      for (const line of readFileSync(join(dir, 'logs', 'gateway.log'), 'utf8').split('\n')) {
        if (!line.includes('"slot closed"')) continue
        const j = JSON.parse(line)
        closed.set(j.slot, j.sum)
      }
      const withSum = lines.filter((m) => m[3] !== undefined)
      assert.ok(
        withSum.length >= 1,
        `at least one complete block among the five (on a loaded machine the meters may miss the first slots)\n${d.output}`
      )
      for (const m of lines) {
        const sum = closed.get(Number(m[2]))
        assert.equal(m[3]?.replaceAll(',', '') ?? null, sum, `height ${m[1]}, slot ${m[2]}: the line shows the slot's sum`)
        if (m[3] !== undefined && m[4] === undefined) assert.equal(m[5], '10', 'a complete slot counts all 10 meters')
      }
      // (A process that needs SIGKILL after the grace period is named, but is not the devnet's failure.)
      assert.match(
        d.stdout,
        /^stopped after 5 rounds \([\d.]+ s\): 5 blocks \(\d (complete|recovered|incomplete)(, \d (complete|recovered|incomplete))*\); (all 7 processes stopped cleanly|(cn-\d|gateway|meters-\d) needed SIGKILL)/m
      )
      assert.doesNotMatch(d.stdout + d.stderr, /died|failed to shut down/)
      // Who led the blocks shown: one row per leader, the counts adding up to the five blocks.
      const rows = [...d.stdout.matchAll(/^ {2}(cn-\d) +#* +(\d+)$/gm)]
      assert.match(d.stdout, /^leaders of these blocks:$/m)
      assert.equal(
        rows.reduce((n, r) => n + Number(r[2]), 0),
        5,
        `the leader counts add up to the blocks\n${d.stdout}`
      )
      // Once the network is up the devnet names the control centre's page: cn-1's API.
      assert.match(d.stdout, new RegExp(`^dashboard: http://127\\.0\\.0\\.1:${base + 1 + 1000}/ `, 'm'))

      // A fresh devnet network, and one log per process, each ended by a clean shutdown.
      const genesis = JSON.parse(readFileSync(join(dir, 'net', 'genesis.json'), 'utf8'))
      assert.equal(genesis.devnet, true)
      assert.equal(genesis.meters.length, 10)
      assert.equal(genesis.consensus.length, 4)
      for (const p of PROCESSES) {
        const log = readFileSync(join(dir, 'logs', `${p}.log`), 'utf8')
        assert.match(log, /SIGTERM, shutting down/, `${p}.log ends with a clean shutdown`)
      }
      const pids = d.pids()
      assert.deepEqual([...pids.keys()].sort(), [...PROCESSES].sort())
      for (const [name, pid] of pids) assert.equal(alive(pid), false, `${name} (pid ${pid}) is not left running`)
    })
  )

  it(
    'refuses a bad flag, a taken port or a non-devnet directory with one line and exit code 2',
    keepOnFailure(async () => {
      const dir = join(tmp, 'refused')
      const base = await freePortRange(5)
      const bad = [
        ['--bogus'],
        ['extra-argument'],
        ['--meters', 'ten'],
        ['--meters', '2'],
        ['--consensus', '3'],
        ['--period-ms', '5'],
        ['--rounds', '0'],
        ['--meter-procs', '11'],
        ['--base-port', '64600'],
        ['--readings', join(tmp, 'no-such.csv')],
        ['--dir', '']
      ]
      for (const args of bad) {
        const r = spawnSync(BBNP, ['devnet', '--dir', dir, '--base-port', String(base), ...args], { encoding: 'utf8', timeout: 30_000 })
        assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
        assert.match(r.stderr, /^bbnp: /)
        assert.equal(r.stdout, '')
      }
      assert.equal(existsSync(dir), false, 'nothing is written before the flags are checked')

      // A port in use is named before anything starts.
      const blocker: Server = createServer()
      await new Promise<void>((res) => blocker.listen(base + 1002, '127.0.0.1', () => res()))
      try {
        const r = spawnSync(BBNP, ['devnet', '--dir', dir, '--base-port', String(base)], { encoding: 'utf8', timeout: 30_000 })
        assert.equal(r.status, 2, r.stderr)
        assert.equal(r.stderr.trim(), `bbnp: port ${base + 1002} on 127.0.0.1 (for cn-2's API) is already in use; pick another --base-port`)
      } finally {
        blocker.close()
      }

      // A directory whose network is not a devnet is never replaced.
      mkdirSync(join(dir, 'net'), { recursive: true })
      writeFileSync(join(dir, 'net', 'genesis.json'), '{"devnet": false}\n')
      const r = spawnSync(BBNP, ['devnet', '--dir', dir, '--base-port', String(base)], { encoding: 'utf8', timeout: 30_000 })
      assert.equal(r.status, 2, r.stderr)
      assert.match(r.stderr, /^bbnp: .*holds a network that is not a devnet/)
      assert.equal(readFileSync(join(dir, 'net', 'genesis.json'), 'utf8'), '{"devnet": false}\n')

      const help = spawnSync(BBNP, ['devnet', '--help'], { encoding: 'utf8', timeout: 30_000 })
      assert.equal(help.status, 0)
      assert.match(help.stdout, /^usage: bbnp devnet/)
      for (const flag of [
        '--meters N',
        '--consensus M',
        '--period-ms P',
        '--rounds K',
        '--dir DIR',
        '--base-port P',
        '--meter-procs Q',
        '--readings FILE'
      ])
        assert.ok(help.stdout.includes(flag), flag)
    })
  )

  it(
    'a consensus peer that dies makes the devnet name it, stop the others and exit 1',
    { timeout: 90_000 },
    keepOnFailure(async () => {
      const dir = join(tmp, 'death')
      const base = await freePortRange(5)
      const d = new Devnet(['--dir', dir, '--base-port', String(base), '--meters', '4', '--meter-procs', '1'])
      // Kill cn-2 once the network runs (its first block is shown).
      await d.waitForOutput(/^height 1 /m, 60_000)
      const pids = d.pids()
      const cn2 = pids.get('cn-2')
      assert.ok(cn2 !== undefined, d.output)
      process.kill(cn2, 'SIGKILL')
      const code = await d.exited(30_000)
      assert.equal(code, 1, d.output)
      assert.match(d.stderr, new RegExp(`^cn-2 \\(pid ${cn2}\\) died: killed by SIGKILL; last lines of .*cn-2\\.log:`, 'm'))
      // The tail of its own log (which lines depends on how far it got: view changes may follow its start).
      assert.match(d.stderr, /^ {2}\| \{"t":.*"id":"cn-2"/m, 'the tail of its log')
      assert.match(d.stdout, /stopped because cn-2 died .*; cn-2 died \(killed by SIGKILL\)$/m)
      for (const [name, pid] of pids) assert.equal(alive(pid), false, `${name} (pid ${pid}) is not left running`)
      assert.ok(statSync(join(dir, 'logs', 'cn-1.log')).size > 0)
    })
  )
})
