/** Filesystem helpers shared by the stores and the command line. */
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { dirname, join, resolve, sep } from 'node:path'

/**
 * mkdir -p, one level at a time. Node's own recursive mkdirSync spins for ever on a path it
 * cannot create under /proc (mkdir there fails with ENOENT although the parent exists, and it
 * retries the parent); here any failure is final, except EEXIST for a directory: another process
 * (the peers of a devnet share CONFIG/data) made that level between the check and the mkdir.
 */
export function makeDirectory(dir: string): void {
  const parts = resolve(dir).split(sep).filter(Boolean)
  let path: string = sep
  for (const part of parts) {
    path = join(path, part)
    if (existsSync(path)) continue
    try {
      mkdirSync(path)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(path).isDirectory()) throw e
    }
  }
}

let root: string | undefined

/**
 * A file of this checkout, from its root (the directory holding bin/bbnp): found by walking up
 * from this module, so that it is the same from the sources (packages/core/src) and from the
 * bundle that `npm run build` makes (packages/cli/dist), which sit at different depths.
 */
export function projectPath(...parts: string[]): string {
  if (root === undefined) {
    let dir = import.meta.dirname
    while (!existsSync(join(dir, 'bin', 'bbnp')) && dirname(dir) !== dir) dir = dirname(dir)
    root = dir
  }
  return join(root, ...parts)
}
