import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, describe, it } from 'node:test'
import { BbnpError } from '@bbnp/core'
import { resolveOptions, SETTINGS, type Settings } from '../src/index.ts'

const dir = mkdtempSync(join(tmpdir(), 'bbnp-options-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** Flags as `bbnp start` hands them over: every setting present, undefined when not typed. */
function flags(given: Settings = {}): Settings {
  const all: Settings = {}
  for (const s of SETTINGS) all[s.key] = given[s.key]
  return all
}

function writeConfig(json: unknown): string {
  const d = mkdtempSync(join(dir, 'net-'))
  writeFileSync(join(d, 'bbnp.json'), JSON.stringify(json))
  return d
}

/** A value of each setting that differs per source, valid for a consensus peer. */
const VALUES: Record<string, (source: 'flag' | 'env' | 'file') => string> = {
  dataDir: (s) => `/tmp/data-${s}`,
  listen: (s) => `/ip4/127.0.0.1/tcp/${{ flag: 7001, env: 7002, file: 7003 }[s]}`,
  addressBook: (s) => `/tmp/addresses-${s}.json`,
  apiHost: (s) => ({ flag: '127.0.0.2', env: '127.0.0.3', file: '127.0.0.4' })[s],
  apiPort: (s) => String({ flag: 9001, env: 9002, file: 9003 }[s]),
  readings: (s) => `/tmp/readings-${s}.csv`,
  logLevel: (s) => ({ flag: 'debug', env: 'warn', file: 'error' })[s],
  misbehave: (s) => ({ flag: 'silent', env: 'late', file: 'equivocate' })[s]
}

function read(o: ReturnType<typeof resolveOptions>, key: string): string {
  const v = (o as unknown as Record<string, unknown>)[key]
  return Array.isArray(v) ? v.join(',') : String(v)
}

function envOf(key: string, value: string): NodeJS.ProcessEnv {
  const s = SETTINGS.find((x) => x.key === key)!
  return { [s.env]: value }
}

describe('bbnp start options: flags > environment > bbnp.json > defaults', () => {
  const base = { role: 'consensus', id: 'cn-1' }
  for (const key of Object.keys(VALUES)) {
    const expect = (source: 'flag' | 'env' | 'file') =>
      key === 'dataDir' || key === 'readings' || key === 'addressBook' ? resolve(VALUES[key](source)) : VALUES[key](source)
    it(`${key}: a flag wins over the environment and the file`, () => {
      const config = writeConfig({ nodes: { 'cn-1': { [key]: VALUES[key]('file') } } })
      const o = resolveOptions(flags({ ...base, config, [key]: VALUES[key]('flag') }), envOf(key, VALUES[key]('env')))
      assert.equal(read(o, key), key === 'readings' ? VALUES[key]('flag') : expect('flag'))
    })
    it(`${key}: the environment wins over the file when no flag is given`, () => {
      const config = writeConfig({ defaults: { [key]: VALUES[key]('file') } })
      const o = resolveOptions(flags({ ...base, config }), envOf(key, VALUES[key]('env')))
      assert.equal(read(o, key), key === 'readings' ? VALUES[key]('env') : expect('env'))
    })
    it(`${key}: the file applies when neither a flag nor the environment gives it`, () => {
      const config = writeConfig({ defaults: { [key]: 'ignored-by-node-entry' }, nodes: { 'cn-1': { [key]: VALUES[key]('file') } } })
      const o = resolveOptions(flags({ ...base, config }), {})
      assert.equal(read(o, key), key === 'readings' ? VALUES[key]('file') : expect('file'))
    })
  }

  it('role, config and id from the environment alone (no flags typed)', () => {
    const config = writeConfig({})
    const o = resolveOptions(flags(), { BBNP_ROLE: 'consensus', BBNP_CONFIG: config, BBNP_ID: 'cn-1' })
    assert.equal(o.role, 'consensus')
    assert.deepEqual(o.ids, ['cn-1'])
    assert.equal(o.configDir, resolve(config))
  })

  it('the role from bbnp.json', () => {
    const config = writeConfig({ nodes: { gateway: { role: 'gateway' } } })
    assert.equal(resolveOptions(flags({ config, id: 'gateway' }), {}).role, 'gateway')
  })

  it('defaults when no source gives a setting', () => {
    const config = writeConfig({})
    const o = resolveOptions(flags(base.role ? { ...base, config } : {}), {})
    assert.equal(o.apiHost, '127.0.0.1')
    assert.equal(o.apiPort, null)
    assert.equal(o.logLevel, 'info')
    assert.deepEqual(o.misbehave, [])
    assert.equal(o.dataDir, resolve(join(config, 'data', 'cn-1')))
    assert.equal(o.addressBook, resolve(join(config, 'addresses.json')))
  })

  it('every setting is in the table: each has a flag, a variable and a value in this test', () => {
    for (const s of SETTINGS) if (!['role', 'config', 'id', 'dropRate'].includes(s.key)) assert.ok(s.key in VALUES, s.key)
  })

  it('refuses unknown settings and sections in bbnp.json, and values of the wrong type, as CONFIG errors', () => {
    const cases = [
      { defaults: { apiPrt: 1 } },
      { node: {} },
      { defaults: { apiPort: [1] } },
      { nodes: { 'cn-1': 'x' } },
      { defaults: { config: '/x' } },
      { addresses: { 'cn-1': 7101 } },
      { addresses: ['/ip4/10.0.0.1/tcp/7101'] }
    ]
    for (const json of cases) {
      const config = writeConfig(json)
      assert.throws(
        () => resolveOptions(flags({ ...base, config }), {}),
        (e: unknown) => e instanceof BbnpError && e.code === 'CONFIG',
        JSON.stringify(json)
      )
    }
  })
})
