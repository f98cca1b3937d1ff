/**
 * Crash consistency: a child process commits blocks in a loop and is killed with SIGKILL at
 * seeded random moments. After every kill the store must open, be one consistent chain (heads,
 * indexes, contiguous heights, every certificate valid), and hold every block the child reported
 * as committed.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import { fromHex, SeededRng } from '@bbnp/core'
import { BlockStore } from '../src/index.ts'
import { storeOptions, tempDir, testChain } from './helpers.ts'

const SEED = 'crash-test'
const CYCLES = 24
const CYCLE_DEADLINE_MS = 20_000
const PROJECT_NODE = join(import.meta.dirname, '../../../node_modules/.bin/node')
const NODE = existsSync(PROJECT_NODE) ? PROJECT_NODE : process.execPath
const WRITER = join(import.meta.dirname, 'fixtures/crash-writer.ts')

let root: { path: string; remove: () => Promise<void> }
before(async () => {
  root = await tempDir('bbnp-crash-')
})
after(async () => {
  await root.remove()
})

interface Run {
  /** The head the child started from. */
  startHeight: number
  /** Blocks the child reported as committed before it died. */
  reported: { height: number; hash: Uint8Array }[]
}

/** Start the writer; kill it with SIGKILL `jitterMs` after it has reported `target` blocks. */
async function runUntilKilled(dir: string, target: number, jitterMs: number): Promise<Run> {
  const child: ChildProcess = spawn(NODE, [WRITER, dir, SEED], { stdio: ['pipe', 'pipe', 'pipe'] })
  const run: Run = { startHeight: -1, reported: [] }
  let stderr = ''
  let pending = ''
  let killTimer: NodeJS.Timeout | undefined
  let timedOut = false
  const deadline = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, CYCLE_DEADLINE_MS)
  try {
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (code, signal) => resolve({ code, signal }))
    })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      pending += d
      for (let i = pending.indexOf('\n'); i >= 0; i = pending.indexOf('\n')) {
        const [a, b] = pending.slice(0, i).split(' ')
        pending = pending.slice(i + 1)
        if (a === 'ready') run.startHeight = Number(b)
        else run.reported.push({ height: Number(a), hash: fromHex(b) })
      }
      if (run.startHeight >= 0 && run.reported.length >= target && killTimer === undefined) {
        killTimer = setTimeout(() => child.kill('SIGKILL'), jitterMs)
      }
    })
    const { code, signal } = await ended
    assert.equal(
      timedOut,
      false,
      `the writer reported ${run.reported.length} of ${target} blocks within ${CYCLE_DEADLINE_MS} ms; stderr: ${stderr}`
    )
    assert.equal(signal, 'SIGKILL', `the writer ended by itself (exit code ${code}): ${stderr}`)
    return run
  } finally {
    clearTimeout(deadline)
    clearTimeout(killTimer)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

it(`keeps a consistent store and every reported block across ${CYCLES} kill -9s of the writer`, async (tc) => {
  const t = testChain(SEED)
  const dir = join(root.path, 'store')
  const rng = new SeededRng(SEED)
  let head = 0
  let unreported = 0
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const target = rng.int(7) // blocks to let through before the kill, 0 = right after open
    const jitterMs = rng.int(10)
    const run = await runUntilKilled(dir, target, jitterMs)
    if (run.startHeight >= 0) assert.equal(run.startHeight, head, `cycle ${cycle}: the writer started from another head`)

    const store = await BlockStore.open(dir, storeOptions(t)) // checks the head and its indexes
    try {
      const report = await store.verifyStore() // every block, index and certificate
      const h = store.head().height
      assert.equal(report.height, h)
      assert.ok(h >= head, `cycle ${cycle}: head went back from ${head} to ${h}`)
      for (const r of run.reported) {
        assert.equal(await store.getHeightByHash(r.hash), r.height, `cycle ${cycle}: reported block ${r.height} is lost`)
      }
      const last = run.reported.at(-1)
      assert.ok(!last || h >= last.height, `cycle ${cycle}: head ${h} below reported ${last?.height}`)
      // at most the one block in flight at the kill can be stored without having been reported
      assert.ok(h <= (last?.height ?? head) + 1, `cycle ${cycle}: head ${h} more than one past the last report`)
      if (h > (last?.height ?? head)) unreported++ // killed between the fsync and the report
      head = h
    } finally {
      await store.close()
    }
  }
  assert.ok(head >= CYCLES, `only ${head} blocks in ${CYCLES} cycles`)
  tc.diagnostic(`${head} blocks; ${unreported} of ${CYCLES} kills landed after a commit was durable but before it was reported`)
})
