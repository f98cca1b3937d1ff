/**
 * The shared process supervisor with small Node children: output to a file (truncated or
 * appended) or a stream, an unexpected exit reported, a stop that needs SIGKILL after the grace
 * period, and BBNP_PARENT_PID only when asked for. Waits are on the children's exits, never sleeps.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { after, describe, it } from 'node:test'
import { describeExit, type SupervisedChild, Supervisor, tailOf } from '../src/supervisor.ts'

const NODE = process.execPath
const tmp = mkdtempSync(join(tmpdir(), 'bbnp-supervisor-'))
const supervisors: Supervisor[] = []
after(() => {
  for (const s of supervisors) {
    s.killAllNow()
    s.dispose()
  }
  rmSync(tmp, { recursive: true, force: true })
})

function supervisor(options: ConstructorParameters<typeof Supervisor>[0] = {}): Supervisor {
  const s = new Supervisor(options)
  supervisors.push(s)
  return s
}

/** A child that prints `text` on stdout and stderr and exits with `code`. */
const printer = (text: string, code = 0) => ['-e', `console.log(${JSON.stringify(text)}); console.error('err'); process.exit(${code})`]
/** A child that says it is ready, then runs until killed; with `stubborn` it ignores SIGTERM. */
const sleeper = (stubborn: boolean) => [
  '-e',
  `${stubborn ? "process.on('SIGTERM', () => {});" : ''} console.log('ready'); setInterval(() => {}, 1000)`
]

/** Wait until `path` holds `text` (the child writes it itself). */
async function untilLogged(path: string, text: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!tailOf(path, 50).includes(text)) {
    if (Date.now() > deadline) throw new Error(`${path} never showed ${text}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('Supervisor', () => {
  it('writes a child’s output to its log file, truncated or appended, and exposes its exit', async () => {
    const s = supervisor()
    const log = join(tmp, 'printer.log')
    writeFileSync(log, 'old\n')
    const a = s.spawn('a', NODE, printer('first'), { output: { file: log } })
    assert.deepEqual(await a.exited, { code: 0, signal: null })
    assert.equal(readFileSync(log, 'utf8'), 'first\nerr\n')
    const b = s.spawn('b', NODE, printer('second', 3), { output: { file: log, append: true } })
    assert.deepEqual(await b.exited, { code: 3, signal: null })
    assert.equal(readFileSync(log, 'utf8'), 'first\nerr\nsecond\nerr\n')
    assert.equal(b.logPath, log)
    assert.equal(describeExit(b.exit), 'exit code 3')
    assert.deepEqual(
      s.children.map((c) => c.name),
      ['a', 'b']
    )
    assert.equal(s.running().length, 0)
  })

  it('pipes a child’s stdout and stderr into a stream and ends it after both', async () => {
    const s = supervisor()
    const stream = new PassThrough()
    let text = ''
    stream.on('data', (d) => (text += d))
    // The stream ends once both of the child's pipes have closed, with the lines of both.
    const ended = new Promise((r) => stream.once('end', r))
    const c = s.spawn('piped', NODE, printer('hello'), { output: { stream } })
    await Promise.all([c.exited, ended])
    assert.equal(c.logPath, null)
    assert.match(text, /hello\n/)
    assert.match(text, /err\n/)
  })

  it('reports a child that exits by itself, but not one it was asked to stop', async () => {
    const unexpected: string[] = []
    const s = supervisor({ onUnexpectedExit: (c) => unexpected.push(c.name) })
    const log = join(tmp, 'sleeper.log')
    const quitter = s.spawn('quitter', NODE, printer('bye', 1), { output: { file: join(tmp, 'quitter.log') } })
    const stopped = s.spawn('stopped', NODE, sleeper(false), { output: { file: log } })
    await quitter.exited
    await untilLogged(log, 'ready')
    assert.deepEqual(
      s.running().map((c) => c.name),
      ['stopped']
    )
    const exit = await s.stop(stopped, 10_000)
    assert.deepEqual(exit, { code: null, signal: 'SIGTERM' })
    assert.equal(stopped.stopRequested, true)
    assert.equal(stopped.killed, false)
    assert.deepEqual(unexpected, ['quitter'])
    // Stopping a child that has exited answers its exit at once.
    assert.deepEqual(await s.stop(quitter, 10_000), { code: 1, signal: null })
  })

  it('kills with SIGKILL what still runs after the grace period, and stops all at once', async () => {
    const s = supervisor()
    const children: SupervisedChild[] = []
    for (const name of ['stubborn', 'polite']) {
      const log = join(tmp, `${name}.log`)
      children.push(s.spawn(name, NODE, sleeper(name === 'stubborn'), { output: { file: log } }))
      await untilLogged(log, 'ready')
    }
    await s.stopAll(300)
    const [stubborn, polite] = children
    assert.deepEqual(stubborn.exit, { code: null, signal: 'SIGKILL' })
    assert.equal(stubborn.killed, true)
    assert.deepEqual(polite.exit, { code: null, signal: 'SIGTERM' })
    assert.equal(polite.killed, false)
    assert.equal(describeExit(stubborn.exit), 'killed by SIGKILL')
  })

  it('gives children BBNP_PARENT_PID only when they are to stop with the launcher', async () => {
    const show = ['-e', "console.log('parent=' + (process.env.BBNP_PARENT_PID ?? 'none') + ' extra=' + process.env.EXTRA)"]
    for (const stopWithLauncher of [false, true]) {
      const log = join(tmp, `env-${stopWithLauncher}.log`)
      await supervisor({ stopWithLauncher }).spawn('env', NODE, show, { output: { file: log }, env: { EXTRA: 'x' } }).exited
      assert.equal(readFileSync(log, 'utf8').trim(), `parent=${stopWithLauncher ? process.pid : 'none'} extra=x`)
    }
  })

  it('tailOf: the last lines of a log, or the stand-in when there is none', () => {
    const log = join(tmp, 'tail.log')
    writeFileSync(log, 'a\nb\nc\n\n')
    assert.equal(tailOf(log, 2), 'b\nc')
    assert.equal(tailOf(join(tmp, 'missing.log'), 2, '(no log)'), '(no log)')
    assert.equal(tailOf(null, 2, '(no log)'), '(no log)')
  })
})
