import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MetricsRegistry, nullLogger } from '@bbnp/core'
import { PeerActivity } from '../src/peer-activity.ts'
import { StatusPoll } from '../src/status-poll.ts'

/** A clock and a timer queue that the test moves by hand: no real time passes. */
function fakeTime(start = 100_000) {
  const t = { now: start, timers: new Map<number, { at: number; f: () => void }>(), next: 1 }
  return {
    t,
    now: () => t.now,
    setTimer: (f: () => void, ms: number) => {
      const id = t.next++
      t.timers.set(id, { at: t.now + ms, f })
      return id
    },
    clearTimer: (id: unknown) => void t.timers.delete(id as number),
    /** When the one pending timer is due, relative to now (null if none). */
    pending(): number | null {
      const due = [...t.timers.values()].map((x) => x.at - t.now)
      assert.ok(due.length <= 1, `at most one timer is pending, found ${due.length}`)
      return due.length === 0 ? null : due[0]!
    },
    /** Move the clock to the pending timer, fire it and let its poll finish. */
    async fire(): Promise<number> {
      const [id, timer] = [...t.timers.entries()][0]!
      t.timers.delete(id)
      const waited = timer.at - t.now
      t.now = timer.at
      timer.f()
      for (let i = 0; i < 10; i++) await Promise.resolve()
      return waited
    }
  }
}

/** A real PeerActivity, a status poll over it, and a sync that finds a peer ahead or not. */
function fixture(periodMs = 1000) {
  const time = fakeTime()
  const activity = new PeerActivity(1000, nullLogger, new MetricsRegistry())
  activity.lastStoredAt = time.now()
  const syncs: string[] = []
  const stallChecks: number[] = []
  let ahead = false
  const poll = new StatusPoll(
    { periodMs },
    {
      activity,
      sync: async (why) => {
        syncs.push(why)
        if (!ahead) return false
        activity.lastStoredAt = time.now()
        return true
      },
      stallContext: () => {
        stallChecks.push(time.now())
        return { height: 1, view: 0, primary: null, peers: 3 }
      },
      now: time.now,
      setTimer: time.setTimer,
      clearTimer: time.clearTimer
    }
  )
  return { time, activity, poll, syncs, stallChecks, setAhead: (a: boolean) => (ahead = a) }
}

describe('status poll (PROTOCOL 4.6 fallback)', () => {
  it('does not ask anyone while blocks are being stored', async () => {
    const f = fixture()
    f.time.t.now += 1500
    assert.equal(await f.poll.tick(), 2000)
    assert.deepEqual(f.syncs, [])
  })

  it('on an idle network, each poll that finds nobody ahead doubles the wait, up to a minute', async () => {
    const f = fixture()
    const waits: number[] = []
    for (let i = 0; i < 8; i++) {
      f.time.t.now += 10_000
      waits.push(await f.poll.tick())
    }
    assert.deepEqual(waits, [2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000])
    assert.equal(f.syncs.length, 8)
    // A hand-off: back to two periods.
    f.activity.handedOff(f.time.now())
    f.time.t.now += 10_000
    assert.equal(await f.poll.tick(), 2000)
  })

  it('while work waits and nothing is stored it polls every two periods and reports one stall', async () => {
    const f = fixture()
    f.activity.handedOff(f.time.now() + 1)
    const waits: number[] = []
    for (let i = 0; i < 4; i++) {
      f.time.t.now += 2000
      waits.push(await f.poll.tick())
    }
    assert.deepEqual(waits, [2000, 2000, 2000, 2000])
    assert.equal(f.syncs.length, 4)
    // stallMs is five view timeouts (5 s): said once, at the poll 6 s in.
    assert.deepEqual(f.stallChecks, [100_000 + 6000])
  })

  it('a poll that catches up keeps the short interval', async () => {
    const f = fixture(10_000)
    f.setAhead(true)
    f.time.t.now += 25_000
    assert.equal(await f.poll.tick(), 20_000)
    assert.deepEqual(f.syncs, ['status poll'])
  })

  it('a failing sync does not stop the polling', async () => {
    const f = fixture()
    const poll = new StatusPoll(
      { periodMs: 1000 },
      {
        activity: f.activity,
        sync: () => Promise.reject(new Error('no peer answered')),
        stallContext: () => ({ height: 1, view: 0, primary: null, peers: 0 }),
        now: f.time.now,
        setTimer: f.time.setTimer,
        clearTimer: f.time.clearTimer
      }
    )
    poll.start()
    assert.equal(await f.time.fire(), 2000)
    assert.equal(await f.time.fire(), 2000)
    assert.equal(f.time.pending(), 4000)
    poll.stop()
  })

  it('runs on its timer: backs off while idle, comes back at once on a hand-off, stops when closed', async () => {
    const f = fixture()
    f.poll.start()
    assert.equal(f.time.pending(), 2000)
    const waited: number[] = []
    for (let i = 0; i < 6; i++) waited.push(await f.time.fire())
    // The first poll finds the last block 2 s old (two periods): stale, so it asks, and backs off.
    assert.deepEqual(waited, [2000, 2000, 4000, 8000, 16_000, 32_000])
    assert.equal(f.syncs.length, 6)
    assert.equal(f.time.pending(), 60_000)
    // Work arrives 10 s into the minute's wait: the next poll is two periods from now, not 50 s.
    f.time.t.now += 10_000
    f.activity.handedOff(f.time.now())
    assert.equal(f.time.pending(), 2000)
    assert.equal(await f.time.fire(), 2000)
    assert.equal(f.time.pending(), 2000)
    f.poll.stop()
    assert.equal(f.time.pending(), null)
    // A hand-off after close schedules nothing.
    f.activity.handedOff(f.time.now())
    assert.equal(f.time.pending(), null)
  })
})
