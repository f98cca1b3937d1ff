/**
 * Fault drills on a running network of real processes, shared by the e2e tests and by
 * `npm run figures` (e2e/figures.ts), which reports their numbers for the README:
 *   - crash cycles: kill -9 one peer at a random moment, restart it, wait until it has rejoined;
 *   - soak: random kills, restarts and pauses (SIGSTOP/SIGCONT), never more than f at a time;
 *   - primary failover: kill the current primary, time until the next block is stored;
 *   - catch-up: keep a peer down for many blocks, time how fast it fetches them after restart.
 * All randomness is seeded; the seed is printed so a failure can be replayed.
 */
import { SeededRng } from '@bbnp/core'
import type { TestNetwork } from './harness.ts'
import { waitFor } from './harness.ts'

export interface ChainRecord {
  /** height -> hash, as observed while the drill ran */
  seen: Map<number, string>
}

/** Record every block hash the first live peer reports, to prove no committed block is lost. */
export async function observe(net: TestNetwork, live: string[], rec: ChainRecord): Promise<void> {
  for (const id of live) {
    try {
      const h = await net.height(id)
      const from = Math.max(1, h - 20)
      for (const b of await net.blocks(id, from, h)) {
        const prev = rec.seen.get(b.height)
        if (prev && prev !== b.hash) throw new Error(`height ${b.height} changed from ${prev} to ${b.hash} at ${id}`)
        rec.seen.set(b.height, b.hash)
      }
      return
    } catch (e) {
      if ((e as Error).message.includes('changed from')) throw e
    }
  }
}

/**
 * Every recorded block is still there, with the same hash, on every listed peer. The record may
 * run a block or two ahead of a peer that is still storing or fetching them, so each peer is
 * first given a deadline to reach the recorded top.
 */
export async function assertNothingLost(net: TestNetwork, ids: string[], rec: ChainRecord): Promise<number> {
  const top = Math.max(...rec.seen.keys())
  await net.waitHeight(top, ids, 60_000)
  for (const id of ids) {
    const blocks = await net.blocks(id, 1, top)
    for (const b of blocks) {
      const want = rec.seen.get(b.height)
      if (want && want !== b.hash) throw new Error(`${id} has ${b.hash} at height ${b.height}, ${want} was committed`)
    }
    if (blocks.length < top) throw new Error(`${id} lost blocks: has ${blocks.length}, ${top} were committed`)
  }
  return top
}

async function maxHeight(net: TestNetwork, ids: string[]): Promise<number> {
  let best = 0
  for (const id of ids) best = Math.max(best, await net.height(id).catch(() => 0))
  return best
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

export interface CrashCycleResult {
  seed: string
  cycles: number
  rejoinMs: number[]
  finalHeight: number
}

/**
 * kill -9 a random consensus peer at a random moment, restart it at once, wait until it has
 * opened its store and caught up with the others; `cycles` times.
 */
export async function crashCycles(
  net: TestNetwork,
  opts: { seed: string; cycles: number; rec: ChainRecord; log?: (s: string) => void }
): Promise<CrashCycleResult> {
  const rng = new SeededRng(`crash/${opts.seed}`)
  const ids = net.consensusIds()
  const rejoinMs: number[] = []
  for (let c = 0; c < opts.cycles; c++) {
    const victim = ids[rng.int(ids.length)]
    // A random moment: somewhere within the next one to two slots.
    await sleep(Math.floor(rng.float() * 2 * net.periodMs))
    await net.stop(victim, 'SIGKILL')
    const others = ids.filter((id) => id !== victim)
    await observe(net, others, opts.rec)
    const t0 = Date.now()
    net.start('consensus', victim)
    const target = await maxHeight(net, others)
    await waitFor(`${victim} to rejoin at height ${target}`, async () => (await net.height(victim)) >= target, 60_000, 100)
    rejoinMs.push(Date.now() - t0)
    opts.log?.(`crash cycle ${c + 1}/${opts.cycles}: ${victim} killed, rejoined at height ${target} in ${Date.now() - t0} ms`)
  }
  return { seed: opts.seed, cycles: opts.cycles, rejoinMs, finalHeight: await maxHeight(net, ids) }
}

export interface SoakResult {
  seed: string
  perturbations: number
  byKind: Record<string, number>
  durationMs: number
  heightBefore: number
  heightAfter: number
}

/**
 * Random kills (-9, then restart), graceful restarts and pauses (SIGSTOP, later SIGCONT) of random
 * consensus peers, at most f of them perturbed at any moment, for `durationMs`.
 */
export async function soak(
  net: TestNetwork,
  opts: { seed: string; durationMs: number; rec: ChainRecord; log?: (s: string) => void }
): Promise<SoakResult> {
  const rng = new SeededRng(`soak/${opts.seed}`)
  const ids = net.consensusIds()
  const f = Math.floor((ids.length - 1) / 3)
  const down = new Map<string, { kind: string; until: number }>()
  const byKind: Record<string, number> = {}
  let perturbations = 0
  const heightBefore = await maxHeight(net, ids)
  const start = Date.now()
  const recover = async (id: string, kind: string) => {
    if (kind === 'pause') net.procs.get(id)?.child.kill('SIGCONT')
    else net.start('consensus', id)
    down.delete(id)
  }
  while (Date.now() - start < opts.durationMs) {
    for (const [id, d] of down) if (Date.now() >= d.until) await recover(id, d.kind)
    if (down.size < f) {
      const candidates = ids.filter((id) => !down.has(id))
      const victim = candidates[rng.int(candidates.length)]
      const kind = ['kill', 'pause', 'restart'][rng.int(3)]
      const holdMs = 500 + Math.floor(rng.float() * 4 * net.periodMs)
      if (kind === 'kill') await net.stop(victim, 'SIGKILL')
      else if (kind === 'restart') await net.stop(victim, 'SIGTERM')
      else net.procs.get(victim)?.child.kill('SIGSTOP')
      down.set(victim, { kind, until: Date.now() + holdMs })
      perturbations++
      byKind[kind] = (byKind[kind] ?? 0) + 1
      opts.log?.(`soak: ${kind} ${victim} for ${holdMs} ms (${perturbations} so far)`)
    }
    await observe(
      net,
      ids.filter((id) => !down.has(id)),
      opts.rec
    )
    await sleep(200 + Math.floor(rng.float() * net.periodMs))
  }
  for (const [id, d] of [...down]) await recover(id, d.kind)
  return { seed: opts.seed, perturbations, byKind, durationMs: Date.now() - start, heightBefore, heightAfter: await maxHeight(net, ids) }
}

export interface FailoverResult {
  samplesMs: number[]
}

/**
 * Kill the primary of the working height just after a block is stored, and time until the
 * next block is stored by the others (then restart it and let it catch up); `rounds` times.
 */
export async function primaryFailover(net: TestNetwork, opts: { rounds: number; log?: (s: string) => void }): Promise<FailoverResult> {
  const ids = net.consensusIds()
  const samplesMs: number[] = []
  for (let r = 0; r < opts.rounds; r++) {
    const watcher = ids[r % ids.length]
    const { primary, height } = await waitFor(
      'a named primary',
      async () => {
        const s = await net.api(watcher, '/status')
        return s.primary && s.primary !== watcher && s.workingHeight === s.height + 1
          ? { primary: s.primary as string, height: s.height as number }
          : false
      },
      30_000,
      20
    )
    await net.stop(primary, 'SIGKILL')
    const t0 = Date.now()
    await waitFor(`height ${height + 1} without ${primary}`, async () => (await net.height(watcher)) > height, 60_000, 20)
    samplesMs.push(Date.now() - t0)
    opts.log?.(`failover ${r + 1}/${opts.rounds}: ${primary} killed at height ${height}, next block after ${samplesMs.at(-1)} ms`)
    net.start('consensus', primary)
    // Before the next kill, the restarted peer must take part again (it signs a new certificate),
    // so that each sample measures one failover, not two overlapping ones.
    const restartedAt = await net.height(watcher)
    await waitFor(
      `${primary} to sign again`,
      async () => {
        const h = await net.height(watcher)
        if (h <= restartedAt) return false
        const blocks = await net.blocks(watcher, restartedAt + 1, h)
        return blocks.some((b) => b.certificate.signers.includes(primary)) && (await net.height(primary)) >= h
      },
      60_000,
      100
    )
  }
  return { samplesMs }
}

export interface CatchUpResult {
  blocks: number
  ms: number
  blocksPerSecond: number
}

/**
 * Keep `victim` down until the others are `blocks` ahead, restart it, and report its catch-up as
 * the peer itself measured it (first block request to last block stored, PROTOCOL 4.6).
 */
export async function catchUp(net: TestNetwork, opts: { victim: string; blocks: number }): Promise<CatchUpResult> {
  const others = net.consensusIds().filter((id) => id !== opts.victim)
  await net.stop(opts.victim, 'SIGTERM')
  const from = await maxHeight(net, others)
  await waitFor(
    `${opts.blocks} blocks without ${opts.victim}`,
    async () => (await maxHeight(net, others)) >= from + opts.blocks,
    600_000,
    200
  )
  const target = await maxHeight(net, others)
  net.start('consensus', opts.victim)
  const last = await waitFor(
    `${opts.victim} to catch up to ${target}`,
    async () => {
      const s = await net.api(opts.victim, '/status')
      return s.height >= target && s.lastCatchUp ? (s.lastCatchUp as { blocks: number; ms: number }) : false
    },
    120_000,
    50
  )
  return { blocks: last.blocks, ms: last.ms, blocksPerSecond: (last.blocks * 1000) / last.ms }
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}
