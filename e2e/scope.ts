/**
 * The networks of one e2e file. Each test's networks are stopped when that test ends (their
 * directories kept when it failed), so no network idles on the cores while the next test runs
 * and makes it slow; whatever a timed-out test left behind is stopped after the file.
 */
import { after } from 'node:test'
import type { TestNetwork } from './harness.ts'

export interface Networks {
  /** Track a network created by the running test. */
  add(net: TestNetwork): TestNetwork
  /** Run a test body; the networks it added are stopped when it ends, kept on disk if it failed. */
  test(body: () => Promise<void>): Promise<void>
}

export function networks(): Networks {
  const live = new Set<TestNetwork>()
  after(async () => {
    for (const n of live) await n.destroy(true)
  })
  return {
    add(net) {
      live.add(net)
      return net
    },
    async test(body) {
      const before = new Set(live)
      let ok = false
      try {
        await body()
        ok = true
      } finally {
        for (const n of [...live].filter((x) => !before.has(x))) {
          live.delete(n)
          await n.destroy(!ok)
        }
      }
    }
  }
}
