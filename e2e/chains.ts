/** Checks shared by the e2e tests on what peers have stored. */
import assert from 'node:assert/strict'
import type { ApiBlock, TestNetwork } from './harness.ts'

/** The listed peers hold one chain, block by block, up to height h; it is returned. */
export async function assertOneChain(net: TestNetwork, ids: string[], h: number): Promise<ApiBlock[]> {
  const chains = await Promise.all(ids.map((id) => net.blocks(id, 1, h)))
  for (let i = 0; i < h; i++)
    for (let k = 1; k < ids.length; k++)
      assert.equal(chains[k][i]?.hash, chains[0][i]?.hash, `${ids[k]} and ${ids[0]} differ at height ${i + 1}`)
  return chains[0]
}
