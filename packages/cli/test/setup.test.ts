/**
 * `bbnp setup` flags that shape the chain's rules: the election rule (fair, or the paper's) and
 * minReporters land in the genesis; a bad value is one line and exit code 2.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const BBNP = fileURLToPath(new URL('../../../bin/bbnp', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'bbnp-setup-test-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function setup(args: string[]) {
  return spawnSync(BBNP, ['setup', '--meters', '6', '--consensus', '4', '--seed', 's', '--force', ...args], { encoding: 'utf8' })
}

describe('bbnp setup', () => {
  it('writes the fair rule by default and the paper rule on --election paper, with --min-reporters', () => {
    const fair = join(dir, 'fair')
    assert.equal(setup(['--out', fair]).status, 0)
    const g1 = JSON.parse(readFileSync(join(fair, 'genesis.json'), 'utf8'))
    assert.equal(g1.reputation.election, 'fair')
    assert.equal(g1.aggregation.minReporters, 3, 'default max(2, ceil(6/2))')
    const paper = join(dir, 'paper')
    assert.equal(setup(['--out', paper, '--election', 'paper', '--min-reporters', '5']).status, 0)
    const g2 = JSON.parse(readFileSync(join(paper, 'genesis.json'), 'utf8'))
    assert.equal(g2.reputation.election, 'paper')
    assert.equal(g2.reputation.preselectTolerance, 0)
    assert.equal(g2.aggregation.minReporters, 5)
  })

  it('refuses an unknown rule or a minReporters above N in one line, exit 2', () => {
    for (const bad of [
      ['--election', 'random'],
      ['--min-reporters', '7']
    ]) {
      const r = setup(['--out', join(dir, 'bad'), ...bad])
      assert.equal(r.status, 2, r.stderr)
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('bbnp:'))
      assert.equal(lines.length, 1, r.stderr)
      assert.match(lines[0], bad[0] === '--election' ? /--election must be fair or paper/ : /--min-reporters/)
    }
  })
})
