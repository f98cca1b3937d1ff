/**
 * `bbnp bench` end to end, in quick mode: the JSON shape of the aggregation and verification
 * parts, one real consensus run with four peer processes, and the refusal of bad flags. Timings are not asserted
 * (numbers come from the bench, never from timed tests); only that they were measured.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const BBNP = fileURLToPath(new URL('../../../bin/bbnp', import.meta.url))
const running = new Set<ChildProcess>()
after(() => {
  for (const c of running) c.kill('SIGKILL')
})

/** Run `bbnp ...args`; on the deadline SIGTERM (the bench then stops its own peers), SIGKILL 10 s later. */
function bbnp(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(BBNP, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    let killer: NodeJS.Timeout | undefined
    const deadline = setTimeout(() => {
      child.kill('SIGTERM')
      killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    }, timeoutMs)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(deadline)
      clearTimeout(killer)
      running.delete(child)
      resolve({ code, stdout, stderr })
    })
  })
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('bbnp bench', () => {
  it('refuses bad flags with one line and exit code 2', async () => {
    for (const args of [
      ['--bogus'],
      ['--only', 'weather'],
      ['--sizes', '3'],
      ['--sizes', '4,x'],
      ['--sizes', '4,4'],
      ['--only', 'verification', '--sizes', '4'],
      ['--only', 'scale', '--sizes', '4,1000']
    ]) {
      const r = await bbnp(['bench', ...args], 30_000)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.match(r.stderr, /^bbnp: /)
      assert.equal(r.stdout, '')
    }
  })

  it('--help prints the usage and exits 0', async () => {
    const r = await bbnp(['bench', '--help'], 30_000)
    assert.equal(r.code, 0)
    assert.match(
      r.stdout,
      /usage: bbnp bench \[--json\] \[--quick\] \[--only aggregation\|verification\|consensus\|scale\] \[--sizes 4,7,10\]/
    )
  })

  it('--quick --json --only aggregation: meter (M = 4, 10), gateway with 0, 1, 5 % missing, a peer, the trusted setup, start-up', async () => {
    const r = await bbnp(['bench', '--quick', '--json', '--only', 'aggregation'], 120_000)
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout)
    assert.deepEqual(j.parts, ['aggregation'])
    assert.equal(j.verification, undefined)
    assert.equal(j.consensus, undefined)
    const a = j.aggregation
    assert.equal(a.quick, true)
    assert.ok(a.machine.sha256BlockMicros > 0 && a.machine.createHmacMicros > 0)
    assert.deepEqual(
      a.meter.map((m: { m: number; f: number; reportBytes: number }) => [m.m, m.f, m.reportBytes]),
      [
        [4, 1, 332],
        [10, 3, 716]
      ]
    )
    for (const m of a.meter) {
      assert.ok(m.reportMicros > 0 && m.reportMicrosMin <= m.reportMicros, JSON.stringify(m))
      assert.equal(m.naive.identicalBytes, true)
      assert.ok(m.naive.reportMicros > 0)
      assert.equal(m.targetMicros, 100)
      assert.equal(m.meetsTarget, m.reportMicros <= 100)
      assert.equal(m.dh.keys, 1 + 8 + m.m)
    }
    assert.deepEqual(
      a.gateway.map((g: { n: number; missingRate: number; missing: number }) => [g.n, g.missingRate, g.missing]),
      [
        [1000, 0, 0],
        [1000, 0.01, 10],
        [1000, 0.05, 50]
      ]
    )
    for (const g of a.gateway) {
      assert.equal(g.sumCorrect, true, JSON.stringify(g))
      assert.ok(g.verifyAggregateMs > 0 && g.recoveryMs > 0 && g.precomputeMs > 0, JSON.stringify(g))
      assert.ok(g.totalMsMin <= g.totalMs)
      assert.equal(g.revealRounds, g.missing > 0 ? 1 : 0)
      assert.ok(g.missing === 0 ? g.revealQuestions === 0 : g.revealQuestions >= 2 * g.missing - 2, JSON.stringify(g))
    }
    assert.ok(a.gateway[0].naive.totalMs > 0 && a.gateway[0].naive.slowdown > 0)
    assert.equal(a.committee.n, 1000)
    assert.equal(a.committee.targetMs, 20)
    assert.ok(a.committee.partialMs > 0 && a.committee.prepareMs > 0)
    const t = a.trustedSetup
    assert.deepEqual([t.n, t.m, t.candidates, t.dhResults], [1000, 4, 8, 1000 * (1 + 4 + 4)])
    assert.deepEqual(t.keyBytes, { meter: 14 + 32 * 14 + 32, gateway: 6 + 32 * 1000 + 32, committee: 10 + 32 * 1000 + 32 })
    assert.ok(t.dealMs > 0 && t.perDhMs > 0)
    assert.ok(a.startup.meterProcessMs > 0 && a.startup.gatewayMs > 0 && a.startup.committeeMs > 0)
    assert.ok(a.startup.dhPathMs.gateway > a.startup.gatewayMs)
  })

  it('--quick --json --only verification: batch vs one-by-one for M = 4, 7, 10, 100', async () => {
    const r = await bbnp(['bench', '--quick', '--json', '--only', 'verification'], 60_000)
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout)
    assert.equal(j.command, 'bbnp bench --quick --json --only verification')
    assert.deepEqual(j.parts, ['verification'])
    assert.equal(j.quick, true)
    assert.ok(j.machine.cores >= 1 && typeof j.machine.cpuModel === 'string' && j.machine.node.startsWith('v'))
    assert.ok(!Number.isNaN(Date.parse(j.date)))
    assert.equal(j.aggregation, undefined)
    assert.equal(j.consensus, undefined)
    assert.deepEqual(
      j.verification.rows.map((row: { m: number }) => row.m),
      [4, 7, 10, 100]
    )
    for (const row of j.verification.rows) {
      assert.equal(row.quorum, 2 * Math.floor((row.m - 1) / 3) + 1)
      assert.equal(row.oneByOne.verifications, 2 * (row.m - 1))
      assert.equal(row.oneByOne.paperPairings, 4 * (row.m - 1))
      assert.equal(row.batch.checks, 2)
      assert.equal(row.paperRatio, row.m - 1)
      assert.ok(row.oneByOne.ms > 0 && row.batch.ms > 0 && row.singleVerifyMs > 0, JSON.stringify(row))
      assert.ok(Math.abs(row.ratio - row.oneByOne.ms / row.batch.ms) < 0.05 * row.ratio + 0.01, JSON.stringify(row))
      assert.equal(row.fallback.foundBad, true)
      assert.equal(row.fallback.checks, row.m)
      assert.equal(row.replica.signaturesPerBatch + row.replica.lateVotes / 2, row.m - 1)
    }
  })

  it('--only scale --quick --sizes 4,7 --json: M pure replicas decide every height, CPU and messages per block', async () => {
    const r = await bbnp(['bench', '--only', 'scale', '--quick', '--sizes', '7,4', '--json'], 60_000)
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout)
    assert.deepEqual(j.parts, ['scale'])
    assert.equal(j.consensus, undefined)
    assert.deepEqual(
      j.scale.rows.map((row: { m: number }) => row.m),
      [4, 7]
    )
    for (const row of j.scale.rows) {
      assert.equal(row.quorum, 2 * Math.floor((row.m - 1) / 3) + 1)
      assert.equal(row.viewChanges, 0)
      assert.ok(row.heights >= 2)
      assert.ok(row.cpuMsPerBlockPerPeer > 0 && row.cpuMsPerBlockMaxPeer >= row.cpuMsPerBlockPerPeer, JSON.stringify(row))
      // Every message published reaches the M - 1 others (gossip to all, no sockets).
      assert.equal(row.messagesDeliveredPerBlock, Math.round(row.messagesPublishedPerBlock * (row.m - 1) * 10) / 10)
      assert.ok(row.signaturesCheckedPerBlockPerPeer > row.verificationCallsPerBlockPerPeer, JSON.stringify(row))
      assert.ok(row.oneByOneMsPerBlockPerPeer > row.cpuMsPerBlockPerPeer)
    }
    assert.ok(j.scale.singleVerifyMs > 0 && Number.isFinite(j.scale.growth.perPeer))
    const text = await bbnp(['bench', '--only', 'scale', '--quick', '--sizes', '4'], 60_000)
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /4\. Scale of the committee/)
  })

  it('--only consensus --quick --sizes 4: four real peers commit, latency and throughput are reported, no process is left', async () => {
    const r = await bbnp(['bench', '--only', 'consensus', '--quick', '--sizes', '4', '--json'], 80_000)
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout)
    assert.equal(j.consensus.sizes.length, 1)
    const m4 = j.consensus.sizes[0]
    assert.equal(m4.error, undefined, m4.error)
    assert.equal(m4.m, 4)
    // A block some peer never stored is counted as a stall, not as a latency sample.
    assert.equal(
      m4.latency.blocks + m4.stalls.filter((st: { phase: string }) => st.phase === 'latency').length,
      j.consensus.settings.latencyBlocks
    )
    assert.equal(m4.latency.samplesMs.length, m4.latency.blocks)
    assert.ok(m4.latency.p50Ms > 0 && m4.latency.p50Ms <= m4.latency.p99Ms, JSON.stringify(m4.latency))
    assert.equal(m4.latency.targetP50Ms, 50)
    assert.equal(typeof m4.latency.meetsTarget, 'boolean')
    assert.ok(m4.throughput.blocks > 0 && m4.throughput.blocksPerSecond > 0, JSON.stringify(m4.throughput))
    assert.equal(m4.memory.perPeerMb.length, 4)
    assert.ok(m4.memory.perPeerMb.every((mb: number) => mb > 10))
    // Every committed block was batch-verified: two aggregate checks (prepares, commits) per block.
    assert.ok(m4.verification.peerBlocks >= 3 * m4.latency.blocks, JSON.stringify(m4.verification))
    assert.ok(m4.verification.perBlock.aggregateChecks >= 1.99, JSON.stringify(m4.verification))
    assert.equal(m4.handoffFailures, 0)
    assert.equal(j.consensus.dir, null, 'the temp directory is removed after a clean run')
    assert.equal(m4.pids.length, 4)
    for (const pid of m4.pids) assert.equal(isRunning(pid), false, `peer process ${pid} still running`)
    assert.match(r.stderr, /consensus M=4: stopping the peers/)
  })
})
