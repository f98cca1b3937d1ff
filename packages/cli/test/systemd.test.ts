/**
 * The systemd units in configs/systemd: `systemd-analyze verify` accepts each (as an instance of
 * the templates), where that tool is installed, and says nothing about them; a broken copy is
 * refused, so the check can fail. Without systemd-analyze that part is skipped with the reason.
 * Needs no running systemd. The units' contract is checked from their text: the settings the
 * roles need, and that a bad configuration, as the unit's environment gives it, is exit code 2,
 * the code the units do not restart on.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { SETTINGS } from '@bbnp/node'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const UNITS_DIR = join(ROOT, 'configs', 'systemd')
const BBNP = join(ROOT, 'bin', 'bbnp')
const tmp = mkdtempSync(join(tmpdir(), 'bbnp-systemd-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

/** Each unit, the role it runs, and an instance to verify it as. */
const UNITS = [
  { file: 'bbnp-consensus@.service', role: 'consensus', instance: 'bbnp-consensus@cn-1.service', id: 'cn-1', state: true },
  { file: 'bbnp-gateway.service', role: 'gateway', instance: 'bbnp-gateway.service', id: 'gateway', state: true },
  {
    file: 'bbnp-meters@.service',
    role: 'meter',
    instance: 'bbnp-meters@meter-1..meter-500.service',
    id: 'meter-1..meter-500',
    state: false
  }
] as const

/** The [Service] settings of a unit, as key -> values (a key may repeat), with %i as `instance`. */
function serviceSettings(file: string, instance: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  let section = ''
  for (const raw of readFileSync(join(UNITS_DIR, file), 'utf8').split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    if (line.startsWith('[')) {
      section = line
      continue
    }
    if (section !== '[Service]') continue
    const eq = line.indexOf('=')
    const key = line.slice(0, eq)
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1).replace(/%i/g, instance)])
  }
  return out
}

function one(s: Map<string, string[]>, key: string): string | undefined {
  const v = s.get(key)
  assert.ok(!v || v.length === 1, `${key} is set once`)
  return v?.[0]
}

function environment(s: Map<string, string[]>): Record<string, string> {
  return Object.fromEntries((s.get('Environment') ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
}

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' })
const noAnalyze = analyze.error
  ? 'systemd-analyze is not installed (Debian: apt-get install systemd)'
  : analyze.status !== 0
    ? `systemd-analyze --version failed: ${analyze.stderr}`
    : false

/**
 * Copies of the units in a directory of their own, ExecStart pointing at this checkout (verify
 * checks that the program exists; the units name /opt/bbnp, where a host installs it).
 */
function stage(name: string, edit: (text: string) => string = (t) => t): string {
  const dir = join(tmp, name)
  cpSync(UNITS_DIR, dir, { recursive: true })
  for (const u of UNITS) {
    const path = join(dir, u.file)
    writeFileSync(path, edit(readFileSync(path, 'utf8').replace('/opt/bbnp/bin/bbnp', BBNP)))
  }
  return dir
}

function verify(dir: string): { status: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', ...UNITS.map((u) => join(dir, u.instance))], { encoding: 'utf8' })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

describe('systemd units', () => {
  it('systemd-analyze verify accepts every unit and has nothing to say about them', { skip: noAnalyze }, () => {
    const dir = stage('good')
    const r = verify(dir)
    assert.equal(r.status, 0, r.output)
    // Unknown keys and bad values are only warnings (exit 0): any line about our units fails.
    const about = r.output.split('\n').filter((l) => l.includes(dir) || /bbnp-/.test(l))
    assert.deepEqual(about, [], r.output)
  })

  it('and refuses a broken copy (the check can fail)', { skip: noAnalyze }, () => {
    const dir = stage('broken', (t) => t.replace('Restart=on-failure', 'Restart=sometimes').replace('NoNewPrivileges=', 'NoNewPrivilege='))
    const r = verify(dir)
    assert.match(r.output, /Failed to parse service restart specifier/)
    assert.match(r.output, /Unknown key 'NoNewPrivilege'/)
  })

  for (const u of UNITS) {
    it(`${u.file}: runs bbnp start as its role, stops on SIGTERM, reloads on SIGHUP, restarts on failure but never on exit code 2`, () => {
      const s = serviceSettings(u.file, u.id)
      assert.match(one(s, 'ExecStart')!, /^\/\S+\/bin\/bbnp start$/)
      const env = environment(s)
      assert.equal(env.BBNP_ROLE, u.role)
      assert.equal(env.BBNP_ID, u.id)
      assert.ok(env.BBNP_CONFIG?.startsWith('/'), 'an absolute config directory')
      assert.equal(one(s, 'KillSignal'), 'SIGTERM')
      const stopSec = Number(one(s, 'TimeoutStopSec'))
      assert.ok(stopSec > 10 && stopSec <= 30, `TimeoutStopSec ${stopSec}: a little above bbnp start's own 10 s deadline`)
      assert.equal(one(s, 'Restart'), 'on-failure')
      assert.equal(one(s, 'RestartPreventExitStatus'), '2')
      // systemctl reload is SIGHUP, on which bbnp start reads the address book again.
      assert.equal(one(s, 'ExecReload'), '/bin/kill -HUP $MAINPID')
      assert.equal(one(s, 'User'), 'bbnp')
      for (const [k, v] of [
        ['NoNewPrivileges', 'yes'],
        ['ProtectSystem', 'strict'],
        ['PrivateTmp', 'yes'],
        ['ProtectHome', 'yes']
      ])
        assert.equal(one(s, k), v, k)
      assert.equal(s.has('MemoryDenyWriteExecute'), false, "V8's JIT needs writable code")
      assert.ok(
        (s.get('EnvironmentFile') ?? []).every((f) => f.startsWith('-/etc/bbnp/')),
        'optional environment files in /etc/bbnp'
      )
      // Only the settings bbnp start reads, never the test-only misbehaviour.
      const known = SETTINGS.map((x) => x.env as string).filter((e) => e !== 'BBNP_MISBEHAVE')
      for (const k of Object.keys(env)) assert.ok(known.includes(k), `${k} is a setting of bbnp start`)
      if (u.state) {
        // The data directory is the state directory systemd creates for the user, writable under ProtectSystem=strict.
        assert.equal(env.BBNP_DATA_DIR, `/var/lib/${one(s, 'StateDirectory')}`)
      } else assert.equal(s.has('StateDirectory'), false)
    })
  }

  it('the example environment file names exactly the settings of bbnp start', () => {
    const text = readFileSync(join(UNITS_DIR, 'bbnp.env.example'), 'utf8')
    const named = new Set([...text.matchAll(/^#?(BBNP_[A-Z_]+)=/gm)].map((m) => m[1]))
    const settable = SETTINGS.map((x) => x.env as string).filter(
      // BBNP_MISBEHAVE and BBNP_DROP_RATE are for devnet tests only; the units set the others.
      (e) => !['BBNP_MISBEHAVE', 'BBNP_DROP_RATE', 'BBNP_ROLE', 'BBNP_ID', 'BBNP_CONFIG', 'BBNP_DATA_DIR'].includes(e)
    )
    assert.deepEqual([...named].sort(), settable.sort())
  })

  it('a bad configuration, with the environment a unit gives, ends bbnp start with exit code 2 and one line', () => {
    const env = environment(serviceSettings('bbnp-consensus@.service', 'cn-1'))
    const r = spawnSync(BBNP, ['start'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ...env, BBNP_CONFIG: join(tmp, 'no-network'), BBNP_DATA_DIR: join(tmp, 'data') },
      timeout: 30_000
    })
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr.trim(), /^bbnp: no genesis at .*no-network/)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  })
})
