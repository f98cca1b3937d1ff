/**
 * `bbnp version` as a user runs it: the version of the root package.json, the commit git itself
 * names for this checkout (where git is installed; none where there is no .git), and the Node.js
 * the launcher picked (the project's own 24, not the system's).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BBNP = `${ROOT}bin/bbnp`
const VERSION = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).version as string

/** What git says HEAD is, or undefined where git or the repository is absent. */
function gitHead(): string | null | undefined {
  const r = spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' })
  if (r.error) return undefined
  return r.status === 0 ? r.stdout.trim() : null
}

describe('bbnp version', () => {
  it('--json: version, commit and Node.js', (t) => {
    const r = spawnSync(BBNP, ['version', '--json'], { encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    const info = JSON.parse(r.stdout) as { version: string; commit: string | null; node: string }
    assert.equal(info.version, VERSION)
    assert.match(info.node, /^v(2[4-9]|[3-9]\d)\./, "the project's own Node.js (24 or later)")
    const head = gitHead()
    if (head === undefined) t.diagnostic('git is not installed: the commit is not compared')
    else assert.equal(info.commit, head)
  })

  it('one line, also as --version', () => {
    const a = spawnSync(BBNP, ['version'], { encoding: 'utf8' })
    const b = spawnSync(BBNP, ['--version'], { encoding: 'utf8' })
    assert.equal(a.status, 0, a.stderr)
    assert.equal(a.stdout, b.stdout)
    assert.match(
      a.stdout,
      new RegExp(`^bbnp ${VERSION.replace(/\./g, '\\.')} \\(commit ([0-9a-f]{40}|unknown), Node\\.js v\\d+\\.\\d+\\.\\d+\\)\\n$`)
    )
  })

  it('refuses flags it does not know', () => {
    const r = spawnSync(BBNP, ['version', '--short'], { encoding: 'utf8' })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /^bbnp: Unknown option '--short'/)
  })
})
