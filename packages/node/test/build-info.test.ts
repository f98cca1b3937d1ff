/**
 * The build information: the commit read from .git in each layout git leaves it (a branch as a
 * loose or a packed ref, a detached HEAD, a worktree whose .git is a file), and null where there
 * is none; the version from the root package.json.
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, it } from 'node:test'
import { buildInfo, gitCommit } from '../src/build-info.ts'

const tmp = mkdtempSync(join(tmpdir(), 'bbnp-build-info-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

const A = 'a'.repeat(40)
const B = '0123456789abcdef0123456789abcdef01234567'
let n = 0

function tree(files: Record<string, string>): string {
  const root = join(tmp, `repo-${n++}`)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
  }
  mkdirSync(root, { recursive: true })
  return root
}

describe('gitCommit', () => {
  it('a branch as a loose ref', () => {
    assert.equal(gitCommit(tree({ '.git/HEAD': 'ref: refs/heads/main\n', '.git/refs/heads/main': `${A}\n` })), A)
  })

  it('a branch as a packed ref (after git gc)', () => {
    const root = tree({
      '.git/HEAD': 'ref: refs/heads/main\n',
      '.git/packed-refs': `# pack-refs with: peeled fully-peeled sorted\n${A} refs/heads/other\n${B} refs/heads/main\n^${A}\n`
    })
    assert.equal(gitCommit(root), B)
  })

  it('a loose ref wins over a stale packed one', () => {
    const root = tree({
      '.git/HEAD': 'ref: refs/heads/main\n',
      '.git/refs/heads/main': `${B}\n`,
      '.git/packed-refs': `${A} refs/heads/main\n`
    })
    assert.equal(gitCommit(root), B)
  })

  it('a detached HEAD', () => {
    assert.equal(gitCommit(tree({ '.git/HEAD': `${B}\n` })), B)
  })

  it('a worktree: .git names its directory, whose commondir holds the branches', () => {
    const main = tree({
      '.git/refs/heads/feature': `${B}\n`,
      '.git/worktrees/wt/HEAD': 'ref: refs/heads/feature\n',
      '.git/worktrees/wt/commondir': '../..\n'
    })
    const wt = tree({ '.git': `gitdir: ${join(main, '.git', 'worktrees', 'wt')}\n` })
    assert.equal(gitCommit(wt), B)
  })

  it('no commit where there is none: no .git, an unborn branch, a HEAD that is neither', () => {
    assert.equal(gitCommit(tree({ 'README.md': 'no git here' })), null)
    assert.equal(gitCommit(tree({ '.git/HEAD': 'ref: refs/heads/main\n' })), null)
    assert.equal(gitCommit(tree({ '.git/HEAD': 'garbage\n' })), null)
    assert.equal(gitCommit(tree({ '.git': 'not a gitdir line\n' })), null)
  })
})

describe('buildInfo', () => {
  it("the root package.json's version and this Node.js", () => {
    const root = join(import.meta.dirname, '..', '..', '..')
    const b = buildInfo()
    assert.equal(b.version, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version)
    assert.equal(b.node, process.version)
    assert.equal(b.commit, gitCommit(root))
  })
})
