/**
 * freePortRange: ranges handed out at the same moment never overlap, their HTTP twins (+1000)
 * included, because each block is claimed by a file before it is returned.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { freePortRange } from '../src/ports.ts'

it('ranges picked at once are disjoint, with their +1000 twins', async () => {
  const bases = await Promise.all(Array.from({ length: 12 }, () => freePortRange(33)))
  const ports = new Set<number>()
  for (const base of bases)
    for (let p = base; p < base + 33; p++) {
      for (const q of [p, p + 1000]) {
        assert.ok(!ports.has(q), `port ${q} handed out twice`)
        ports.add(q)
      }
    }
})
