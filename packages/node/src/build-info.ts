/**
 * What this build is: the project's version (the root package.json), the git commit of the
 * checkout it runs from, and the Node.js version. `bbnp version` prints it; every role exports it
 * as the `bbnp_build_info` gauge. The commit is read from .git directly (HEAD, then the ref it
 * names, loose or packed), without starting git; a copy without .git has no commit.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { projectPath } from '@bbnp/core'

export interface BuildInfo {
  version: string
  /** The full commit hash, or null when it cannot be read (no .git, a ref not found). */
  commit: string | null
  /** process.version, e.g. v24.21.0 */
  node: string
}

/** The checkout this module runs from. */
const ROOT = projectPath()
const OBJECT_ID = /^[0-9a-f]{40}([0-9a-f]{24})?$/

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return null
  }
}

/** The commit HEAD points at in the git directory of `root` (a worktree's .git is a file naming its directory). */
export function gitCommit(root: string): string | null {
  let gitDir = join(root, '.git')
  try {
    if (statSync(gitDir).isFile()) {
      const target = /^gitdir:\s*(.+)$/m.exec(readText(gitDir) ?? '')?.[1]
      if (!target) return null
      gitDir = resolve(root, target.trim())
    }
  } catch {
    return null
  }
  const head = readText(join(gitDir, 'HEAD'))
  if (!head) return null
  if (OBJECT_ID.test(head)) return head
  const ref = /^ref:\s*(\S+)$/.exec(head)?.[1]
  if (!ref) return null
  // A worktree keeps its HEAD in its own directory and the branches in the common one.
  const commonDir = existsSync(join(gitDir, 'commondir')) ? resolve(gitDir, readText(join(gitDir, 'commondir')) ?? '.') : gitDir
  for (const dir of [gitDir, commonDir]) {
    const loose = readText(join(dir, ref))
    if (loose && OBJECT_ID.test(loose)) return loose
  }
  for (const line of (readText(join(commonDir, 'packed-refs')) ?? '').split('\n')) {
    const [id, name] = line.trim().split(' ')
    if (name === ref && OBJECT_ID.test(id)) return id
  }
  return null
}

let cached: BuildInfo | undefined

export function buildInfo(): BuildInfo {
  if (!cached) {
    let version = 'unknown'
    try {
      version = String(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version ?? 'unknown')
    } catch {
      // A damaged install still runs and says so in its version.
    }
    cached = { version, commit: gitCommit(ROOT), node: process.version }
  }
  return cached
}
