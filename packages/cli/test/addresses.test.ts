/**
 * The address book from the command line (docs/deployment.md): `bbnp setup --hosts FILE` and
 * `--addr`, `bbnp addresses` to show and change it, and a running process that reads it again on
 * SIGHUP. Every mistake is one line and exit code 2. Real processes; nothing is dialled here.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const BBNP = fileURLToPath(new URL('../../../bin/bbnp', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'bbnp-addresses-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

function bbnp(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BBNP, args, { encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function setup(out: string, extra: string[]) {
  return bbnp(['setup', '--out', join(tmp, out), '--meters', '3', '--consensus', '4', '--seed', 'addresses-test', ...extra])
}

/** Exit code 2 and one line, matching `re`. */
function oneLine(r: { status: number | null; stderr: string }, re: RegExp): void {
  assert.equal(r.status, 2, r.stderr)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, r.stderr)
  assert.match(lines[0], re)
}

const book = (dir: string) => JSON.parse(readFileSync(join(tmp, dir, 'addresses.json'), 'utf8'))

const MANIFEST = {
  gateway: 'gw.grid.example',
  'cn-1': '10.0.0.11',
  'cn-2': '10.0.0.12',
  'cn-3': '10.0.0.13:9000',
  'cn-4': '/dns4/cn-4.grid.example/tcp/7104'
}

describe('bbnp setup with a hosts manifest', () => {
  it('writes the address book from the manifest, beside a genesis without addresses; --addr wins over it', () => {
    const manifest = join(tmp, 'hosts.json')
    writeFileSync(manifest, JSON.stringify(MANIFEST))
    const r = setup('net', ['--hosts', manifest, '--addr', 'cn-2=10.0.0.22'])
    assert.equal(r.status, 0, r.stderr)
    const b = book('net')
    const genesis = JSON.parse(readFileSync(join(tmp, 'net', 'genesis.json'), 'utf8'))
    assert.equal(b.genesis, genesis.hash)
    assert.deepEqual(b.addresses, {
      gateway: '/dns4/gw.grid.example/tcp/7100',
      'cn-1': '/ip4/10.0.0.11/tcp/7101',
      'cn-2': '/ip4/10.0.0.22/tcp/7102',
      'cn-3': '/ip4/10.0.0.13/tcp/9000',
      'cn-4': '/dns4/cn-4.grid.example/tcp/7104'
    })
    assert.ok(!readFileSync(join(tmp, 'net', 'genesis.json'), 'utf8').includes('listen'))
    assert.match(r.stdout, /cn-3 +\/ip4\/10.0.0.13\/tcp\/9000/)
  })

  it('the same keys and genesis whatever the addresses: the genesis hash does not cover them', () => {
    const r = setup('net-b', ['--host', '10.1.1.1', '--genesis-time-ms', '1700000000000'])
    const r2 = setup('net-c', ['--host', '10.2.2.2', '--genesis-time-ms', '1700000000000'])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r2.status, 0, r2.stderr)
    assert.equal(book('net-b').genesis, book('net-c').genesis)
    assert.equal(book('net-b').addresses['cn-1'], '/ip4/10.1.1.1/tcp/7101')
    assert.equal(book('net-c').addresses['cn-1'], '/ip4/10.2.2.2/tcp/7101')
  })

  it('a bad manifest or flag is one line and exit code 2, before any key is made', () => {
    const write = (name: string, text: string) => {
      const p = join(tmp, name)
      writeFileSync(p, text)
      return p
    }
    const { 'cn-3': _gone, ...missing } = MANIFEST
    oneLine(
      setup('bad-1', ['--hosts', write('missing.json', JSON.stringify(missing))]),
      /^bbnp: hosts manifest .*missing.json: no address for cn-3 /
    )
    oneLine(setup('bad-2', ['--hosts', write('broken.json', '{"gateway": ')]), /^bbnp: hosts manifest .*broken.json: not valid JSON/)
    oneLine(setup('bad-3', ['--hosts', join(tmp, 'nowhere.json')]), /^bbnp: hosts manifest .*nowhere.json: cannot read it \(ENOENT\)/)
    oneLine(
      setup('bad-4', ['--hosts', write('meter.json', JSON.stringify({ ...MANIFEST, 'meter-2': '10.0.0.30' }))]),
      /meter-2: meters are never dialled/
    )
    oneLine(
      setup('bad-5', ['--hosts', write('dup.json', JSON.stringify({ ...MANIFEST, 'cn-2': '10.0.0.11:7101' }))]),
      /cn-1 and cn-2 are both at \/ip4\/10.0.0.11\/tcp\/7101/
    )
    oneLine(
      setup('bad-6', ['--addr', 'cn-9=10.0.0.9']),
      /^bbnp: --addr cn-9=10.0.0.9: "cn-9" is not an entity that listens in this network/
    )
    oneLine(setup('bad-7', ['--addr', 'cn-1']), /^bbnp: --addr cn-1: expected ID=WHERE/)
    oneLine(setup('bad-8', ['--host', '0.0.0.0']), /^bbnp: --host: gateway: "\/ip4\/0.0.0.0\/tcp\/7100" is a wildcard/)
    oneLine(setup('bad-9', ['--addr', 'gateway=/dns/gw/tcp/7100']), /use \/dns4 or \/dns6/)
    for (let k = 1; k <= 9; k++) assert.throws(() => readFileSync(join(tmp, `bad-${k}`, 'genesis.json')), /ENOENT/)
  })
})

describe('bbnp addresses', () => {
  it('shows the book, checked; --addr moves an entity, keeping its port when only a host is given', () => {
    const shown = bbnp(['addresses', '--config', join(tmp, 'net')])
    assert.equal(shown.status, 0, shown.stderr)
    assert.match(shown.stdout, /^gateway +\/dns4\/gw.grid.example\/tcp\/7100$/m)
    const before = book('net')
    const r = bbnp(['addresses', '--config', join(tmp, 'net'), '--addr', 'cn-3=10.0.0.33', '--addr', 'gateway=gw2.grid.example:7200'])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^cn-3: \/ip4\/10.0.0.13\/tcp\/9000 -> \/ip4\/10.0.0.33\/tcp\/9000$/m)
    const after = book('net')
    assert.equal(after.genesis, before.genesis)
    assert.deepEqual(after.addresses, {
      ...before.addresses,
      'cn-3': '/ip4/10.0.0.33/tcp/9000',
      gateway: '/dns4/gw2.grid.example/tcp/7200'
    })
  })

  it('refuses a bad change with one line and leaves the book as it was', () => {
    const before = readFileSync(join(tmp, 'net', 'addresses.json'), 'utf8')
    oneLine(
      bbnp(['addresses', '--config', join(tmp, 'net'), '--addr', 'cn-1=10.0.0.300']),
      /^bbnp: --addr cn-1=10.0.0.300: "10.0.0.300" is not an IP address/
    )
    oneLine(
      bbnp(['addresses', '--config', join(tmp, 'net'), '--addr', 'meter-1=10.0.0.3']),
      /^bbnp: --addr meter-1=10.0.0.3: meter-1 has no address/
    )
    oneLine(bbnp(['addresses', '--config', join(tmp, 'net'), '--addr', 'cn-2=10.0.0.11:7101']), /cn-1 and cn-2|both at/)
    assert.equal(readFileSync(join(tmp, 'net', 'addresses.json'), 'utf8'), before)
    oneLine(
      bbnp(['addresses', '--config', join(tmp, 'net-b'), '--address-book', join(tmp, 'net', 'addresses.json')]),
      /belongs to another network/
    )
  })
})

describe('bbnp start reads the address book again on SIGHUP', () => {
  it('logs what changed and dials there; a broken book is logged and the one in use kept', { timeout: 60_000 }, async () => {
    const r = setup('live', ['--host', '127.0.0.1', '--base-port', '7900', '--devnet', '--period-ms', '1000'])
    assert.equal(r.status, 0, r.stderr)
    const config = join(tmp, 'live')
    const child = spawn(BBNP, ['start', '--role', 'meter', '--config', config, '--id', 'meter-1..meter-3', '--log-level', 'debug'], {
      stdio: ['ignore', 'ignore', 'pipe']
    })
    let log = ''
    child.stderr.on('data', (d) => (log += d))
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)))
    const waitLog = async (re: RegExp, what: string) => {
      const deadline = Date.now() + 30_000
      while (!re.test(log)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${what} in the log:\n${log}`)
        await new Promise((res) => setTimeout(res, 50))
      }
    }
    try {
      await waitLog(/"msg":"meters started"/, 'start')
      const moved = bbnp(['addresses', '--config', config, '--addr', 'gateway=127.0.0.2'])
      assert.equal(moved.status, 0, moved.stderr)
      child.kill('SIGHUP')
      await waitLog(/"msg":"address book reloaded".*gateway \/ip4\/127.0.0.1\/tcp\/7900 -> \/ip4\/127.0.0.2\/tcp\/7900/, 'reload')
      await waitLog(/"msg":"dialling a peer at its new address".*"addr":"\/ip4\/127.0.0.2\/tcp\/7900"/, 'redial')
      writeFileSync(join(config, 'addresses.json'), '{"version": 1,')
      child.kill('SIGHUP')
      await waitLog(/"msg":"address book not reloaded: keeping the one in use".*is not valid JSON/, 'a refused reload')
      assert.equal(child.exitCode, null, 'still running')
      child.kill('SIGTERM')
      assert.equal(await exited, 0)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
