/**
 * The package layers (issue 11): eslint.config.js says which packages each package may import, and
 * each package.json declares exactly those as its dependencies, so that the two never drift apart.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../..', import.meta.url))

it('every package declares the packages its layer allows, and there is a layer for every package', async () => {
  const { LAYERS } = (await import(join(ROOT, 'eslint.config.js'))) as { LAYERS: Record<string, string[]> }
  const packages = readdirSync(join(ROOT, 'packages')).sort()
  assert.deepEqual(Object.keys(LAYERS).sort(), packages)
  for (const name of packages) {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'packages', name, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }
    const declared = Object.keys(pkg.dependencies ?? {})
      .filter((d) => d.startsWith('@bbnp/'))
      .map((d) => d.slice('@bbnp/'.length))
      .sort()
    assert.deepEqual(declared, [...LAYERS[name]].sort(), `packages/${name}/package.json`)
  }
})
