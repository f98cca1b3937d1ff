/**
 * The address book (address-book.ts, docs/deployment.md): placements as operators write them,
 * the plan `bbnp setup` makes from a hosts manifest and flags, and the book a process loads
 * (addresses.json, bbnp.json overrides, a version 2 genesis's addresses), each problem one line.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { toHex } from '@bbnp/core'
import {
  AddressBook,
  createNetwork,
  defaultReputationParams,
  genesisHash,
  type GenesisJson,
  listeningIds,
  loadAddressBook,
  loadGenesis,
  parseAddrFlag,
  parseHostsManifest,
  placeAddress,
  planAddresses,
  validateGenesis,
  writeNetwork
} from '../src/index.ts'

/** Asserts an ADDRESSES error of one line whose message matches `re`. */
function refuses(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ADDRESSES', e.message)
    assert.match(e.message, re)
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`)
    return true
  })
}

describe('placements: what an operator writes, as a multiaddr', () => {
  it('IPv4, IPv6 and DNS names, with or without a port', () => {
    assert.equal(placeAddress('10.0.0.5', 7101), '/ip4/10.0.0.5/tcp/7101')
    assert.equal(placeAddress('10.0.0.5:9000', 7101), '/ip4/10.0.0.5/tcp/9000')
    assert.equal(placeAddress('2001:db8::5', 7101), '/ip6/2001:db8::5/tcp/7101')
    assert.equal(placeAddress('[2001:db8::5]:9000', 7101), '/ip6/2001:db8::5/tcp/9000')
    assert.equal(placeAddress('[::1]', 7101), '/ip6/::1/tcp/7101')
    assert.equal(placeAddress('cn-2.grid.example', 7102), '/dns4/cn-2.grid.example/tcp/7102')
    assert.equal(placeAddress('localhost:7000', 1), '/dns4/localhost/tcp/7000')
    assert.equal(placeAddress(' gw.example. ', 7100), '/dns4/gw.example/tcp/7100')
  })

  it('multiaddrs as they are, if the others can dial them', () => {
    assert.equal(placeAddress('/dns4/gw.example/tcp/7100', 1), '/dns4/gw.example/tcp/7100')
    assert.equal(placeAddress('/dns6/gw.example/tcp/7100', 1), '/dns6/gw.example/tcp/7100')
    assert.equal(placeAddress('/ip4/10.0.0.5/tcp/7100', 1), '/ip4/10.0.0.5/tcp/7100')
    refuses(() => placeAddress('/dns/gw.example/tcp/7100', 1), /use \/dns4 or \/dns6/)
    refuses(() => placeAddress('/dnsaddr/gw.example', 1), /names a TXT record of multiaddrs, not a host/)
    refuses(() => placeAddress('/ip4/10.0.0.5/udp/7100', 1), /must be \/ip4, \/ip6, \/dns4 or \/dns6, then \/tcp\/PORT/)
    refuses(() => placeAddress('/ip4/10.0.0.5/tcp/7100/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN', 1), /and nothing more/)
    refuses(() => placeAddress('/ip4/10.0.0.5', 1), /then \/tcp\/PORT/)
    refuses(() => placeAddress('/banana', 1), /is not a multiaddr/)
  })

  it('refuses wildcards, bad ports, and what is neither an IP address nor a name', () => {
    refuses(() => placeAddress('0.0.0.0', 7100), /wildcard.*--listen/)
    refuses(() => placeAddress('[::]:7100', 7100), /wildcard/)
    refuses(() => placeAddress('10.0.0.5:0', 7100), /port must be between 1 and 65535/)
    refuses(() => placeAddress('10.0.0.5:70000', 7100), /port must be between 1 and 65535/)
    refuses(() => placeAddress('10.0.0.300', 7100), /"10.0.0.300" is not an IP address or a DNS name/)
    refuses(() => placeAddress('gw_1.example', 7100), /not an IP address or a DNS name/)
    refuses(() => placeAddress('a:b:c', 7100), /neither HOST, HOST:PORT/)
    refuses(() => placeAddress('[gw.example]:7100', 7100), /only an IPv6 address goes in brackets/)
    refuses(() => placeAddress('', 7100), /empty/)
  })

  it('--addr ID=WHERE', () => {
    assert.deepEqual(parseAddrFlag('cn-2=10.0.0.12:7102'), { id: 'cn-2', spec: '10.0.0.12:7102' })
    assert.deepEqual(parseAddrFlag('gateway=/dns4/gw/tcp/1'), { id: 'gateway', spec: '/dns4/gw/tcp/1' })
    refuses(() => parseAddrFlag('cn-2'), /expected ID=WHERE/)
    refuses(() => parseAddrFlag('=10.0.0.1'), /expected ID=WHERE/)
    refuses(() => parseAddrFlag('cn-2='), /expected ID=WHERE/)
  })
})

describe("bbnp setup's plan: a hosts manifest and flags over one host", () => {
  it('by default everyone on one host, gateway on the base port and cn-j on base + j (as before)', () => {
    assert.deepEqual(planAddresses({ consensus: 4, host: '127.0.0.1', basePort: 7100 }), {
      gateway: '/ip4/127.0.0.1/tcp/7100',
      'cn-1': '/ip4/127.0.0.1/tcp/7101',
      'cn-2': '/ip4/127.0.0.1/tcp/7102',
      'cn-3': '/ip4/127.0.0.1/tcp/7103',
      'cn-4': '/ip4/127.0.0.1/tcp/7104'
    })
    assert.equal(planAddresses({ consensus: 4, host: 'grid.example', basePort: 7100 })['cn-3'], '/dns4/grid.example/tcp/7103')
  })

  it('a manifest places every entity, each on its own host, with its own port or the default one', () => {
    const places = parseHostsManifest(
      JSON.stringify({
        gateway: 'gw.grid.example',
        'cn-1': '10.0.0.11',
        'cn-2': '10.0.0.12:7000',
        'cn-3': '[2001:db8::13]',
        'cn-4': '/dns4/cn4.grid.example/tcp/7104'
      }),
      'hosts.json'
    )
    assert.deepEqual(planAddresses({ consensus: 4, host: '127.0.0.1', basePort: 7100, places, requireAll: 'hosts manifest hosts.json' }), {
      gateway: '/dns4/gw.grid.example/tcp/7100',
      'cn-1': '/ip4/10.0.0.11/tcp/7101',
      'cn-2': '/ip4/10.0.0.12/tcp/7000',
      'cn-3': '/ip6/2001:db8::13/tcp/7103',
      'cn-4': '/dns4/cn4.grid.example/tcp/7104'
    })
  })

  it('a flag places one entity over the manifest and the host', () => {
    const plan = planAddresses({
      consensus: 4,
      host: '127.0.0.1',
      basePort: 7100,
      places: { 'cn-2': { spec: '10.9.9.9', source: '--addr cn-2=10.9.9.9' } }
    })
    assert.equal(plan['cn-2'], '/ip4/10.9.9.9/tcp/7102')
    assert.equal(plan['cn-1'], '/ip4/127.0.0.1/tcp/7101')
  })

  it('a bad manifest is one line naming the file and the entry', () => {
    refuses(() => parseHostsManifest('{"gateway": "10.0.0.1",', 'h.json'), /^hosts manifest h.json: not valid JSON/)
    refuses(() => parseHostsManifest('["10.0.0.1"]', 'h.json'), /^hosts manifest h.json: must be a JSON object from entity ID to host/)
    refuses(() => parseHostsManifest('{"cn-1": 7101}', 'h.json'), /^hosts manifest h.json: cn-1: the value must be a string/)
    const plan = (manifest: object) =>
      planAddresses({
        consensus: 4,
        host: '127.0.0.1',
        basePort: 7100,
        places: parseHostsManifest(JSON.stringify(manifest), 'h.json'),
        requireAll: 'hosts manifest h.json'
      })
    const all = { gateway: '10.0.0.10', 'cn-1': '10.0.0.11', 'cn-2': '10.0.0.12', 'cn-3': '10.0.0.13', 'cn-4': '10.0.0.14' }
    assert.equal(plan(all)['cn-4'], '/ip4/10.0.0.14/tcp/7104')
    const { 'cn-3': _left, ...missing } = all
    refuses(() => plan(missing), /^hosts manifest h.json: no address for cn-3 \(every consensus peer and the gateway need one\)$/)
    refuses(() => plan({ ...all, 'meter-1': '10.0.0.20' }), /^hosts manifest h.json: meter-1: meters are never dialled and need no address/)
    refuses(
      () => plan({ ...all, 'cn-5': '10.0.0.15' }),
      /^hosts manifest h.json: "cn-5" is not an entity that listens in this network \(gateway, cn-1..cn-4\)/
    )
    refuses(() => plan({ ...all, 'cn-2': '10.0.0.300' }), /^hosts manifest h.json: cn-2: "10.0.0.300" is not an IP address/)
    refuses(
      () => plan({ ...all, 'cn-2': '10.0.0.11:7101' }),
      /^hosts manifest h.json: cn-1 and cn-2 are both at \/ip4\/10.0.0.11\/tcp\/7101/
    )
  })
})

describe('the address book a process loads', () => {
  let dir: string
  let genesisJson: GenesisJson

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bbnp-addresses-'))
    const net = await createNetwork({
      meters: 3,
      consensus: 4,
      periodMs: 1000,
      host: '127.0.0.1',
      basePort: 7100,
      hosts: { gateway: 'gw.grid.example', 'cn-3': '10.0.0.13:7000' },
      seed: 'address-book-test',
      devnet: true,
      genesisTimeMs: 1_700_000_000_000,
      reputation: defaultReputationParams()
    })
    writeNetwork(join(dir, 'net'), net, { force: false })
    genesisJson = JSON.parse(readFileSync(join(dir, 'net', 'genesis.json'), 'utf8'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const copy = (name: string, book?: unknown, bbnpJson?: unknown): string => {
    const d = join(dir, name)
    rmSync(d, { recursive: true, force: true })
    writeNetwork(
      d,
      { genesis: genesisJson, addresses: JSON.parse(readFileSync(join(dir, 'net', 'addresses.json'), 'utf8')), keys: [] },
      { force: false }
    )
    if (book !== undefined) writeFileSync(join(d, 'addresses.json'), typeof book === 'string' ? book : JSON.stringify(book))
    if (bbnpJson !== undefined) writeFileSync(join(d, 'bbnp.json'), JSON.stringify(bbnpJson))
    return d
  }

  it('setup writes the book beside a genesis that holds no address', () => {
    assert.equal(genesisJson.version, 3)
    assert.ok(!JSON.stringify(genesisJson).includes('listen'), 'no listen address in the genesis')
    const g = loadGenesis(join(dir, 'net'))
    const book = loadAddressBook({ configDir: join(dir, 'net') }, g)
    assert.equal(book.address('gateway'), '/dns4/gw.grid.example/tcp/7100')
    assert.equal(book.address('cn-3'), '/ip4/10.0.0.13/tcp/7000')
    assert.equal(book.address('cn-4'), '/ip4/127.0.0.1/tcp/7104')
    // A name is for the others to resolve: its owner listens on every interface, on its port.
    assert.equal(book.listen('gateway'), '/ip4/0.0.0.0/tcp/7100')
    assert.equal(book.listen('cn-3'), '/ip4/10.0.0.13/tcp/7000')
  })

  it('a host overrides entries in its bbnp.json; the book moves without a new genesis', () => {
    const d = copy('override', undefined, { addresses: { 'cn-2': '/ip4/192.168.7.2/tcp/7102' } })
    const g = loadGenesis(d)
    const book = loadAddressBook({ configDir: d }, g)
    assert.equal(book.address('cn-2'), '/ip4/192.168.7.2/tcp/7102')
    assert.equal(book.address('cn-1'), '/ip4/127.0.0.1/tcp/7101')
    const before = loadAddressBook({ configDir: join(dir, 'net') }, g)
    assert.deepEqual(before.update(book), [{ id: 'cn-2', from: '/ip4/127.0.0.1/tcp/7102', to: '/ip4/192.168.7.2/tcp/7102' }])
    assert.equal(before.address('cn-2'), '/ip4/192.168.7.2/tcp/7102', 'updated in place')
    assert.deepEqual(before.update(book), [])
    refuses(
      () => loadAddressBook({ configDir: copy('bad-override', undefined, { addresses: { 'cn-2': '/dns/x/tcp/1' } }) }, g),
      /bbnp.json: cn-2: "\/dns\/x\/tcp\/1": use \/dns4/
    )
  })

  it('refuses a missing, foreign, old, incomplete or broken book with one line', () => {
    const g = loadGenesis(join(dir, 'net'))
    const good = JSON.parse(readFileSync(join(dir, 'net', 'addresses.json'), 'utf8'))
    const d = copy('missing')
    rmSync(join(d, 'addresses.json'))
    refuses(
      () => loadAddressBook({ configDir: d }, g),
      /no address book at .*addresses.json \(bbnp setup writes addresses.json beside genesis.json: copy it to this host\)/
    )
    refuses(
      () => loadAddressBook({ configDir: copy('foreign', { ...good, genesis: 'ab'.repeat(32) }) }, g),
      /belongs to another network \(genesis abababababababab…/
    )
    refuses(() => loadAddressBook({ configDir: copy('version', { ...good, version: 7 }) }, g), /unsupported version 7/)
    const { 'cn-4': _gone, ...three } = good.addresses
    refuses(
      () => loadAddressBook({ configDir: copy('incomplete', { ...good, addresses: three }) }, g),
      /addresses.json: no address for cn-4$/
    )
    refuses(
      () =>
        loadAddressBook({ configDir: copy('meter', { ...good, addresses: { ...good.addresses, 'meter-1': '/ip4/1.2.3.4/tcp/1' } }) }, g),
      /meter-1: meters are never dialled/
    )
    refuses(() => loadAddressBook({ configDir: copy('json', '{"version": 1,') }, g), /addresses.json is not valid JSON/)
    refuses(
      () => loadAddressBook({ configDir: copy('port', { ...good, addresses: { ...good.addresses, 'cn-1': '/ip4/10.0.0.1/tcp/0' } }) }, g),
      /cn-1: .*port must be between 1 and 65535/
    )
  })

  it('reads a version 2 genesis (addresses inside, under its hash): they are its book when there is no addresses.json', () => {
    const v2 = structuredClone(genesisJson) as GenesisJson
    v2.version = 2
    v2.gateway.listen = '/ip4/10.0.0.10/tcp/7100'
    v2.consensus.forEach((c, k) => (c.listen = `/ip4/10.0.0.${11 + k}/tcp/${7101 + k}`))
    const { hash: _h, ...body } = v2
    v2.hash = toHex(genesisHash(body))
    const g = validateGenesis(v2)
    assert.deepEqual(g.legacyAddresses, {
      gateway: '/ip4/10.0.0.10/tcp/7100',
      'cn-1': '/ip4/10.0.0.11/tcp/7101',
      'cn-2': '/ip4/10.0.0.12/tcp/7102',
      'cn-3': '/ip4/10.0.0.13/tcp/7103',
      'cn-4': '/ip4/10.0.0.14/tcp/7104'
    })
    const d = join(dir, 'v2')
    rmSync(d, { recursive: true, force: true })
    writeNetwork(d, { genesis: v2, addresses: { version: 1, genesis: v2.hash, addresses: {} }, keys: [] }, { force: false })
    rmSync(join(d, 'addresses.json'))
    assert.equal(loadAddressBook({ configDir: d }, loadGenesis(d)).address('cn-2'), '/ip4/10.0.0.12/tcp/7102')
    // ... and an addresses.json, when there is one, moves a peer of that chain too.
    writeFileSync(
      join(d, 'addresses.json'),
      JSON.stringify({ version: 1, genesis: v2.hash, addresses: { ...g.legacyAddresses, 'cn-2': '/ip4/10.0.1.12/tcp/7102' } })
    )
    assert.equal(loadAddressBook({ configDir: d }, loadGenesis(d)).address('cn-2'), '/ip4/10.0.1.12/tcp/7102')
    // A version 2 genesis without its addresses is not one.
    const noListen = structuredClone(v2)
    delete noListen.consensus[1].listen
    const { hash: _h2, ...body2 } = noListen
    assert.throws(() => validateGenesis({ ...noListen, hash: toHex(genesisHash(body2)) }), {
      code: 'GENESIS',
      message: /cn-2.listen must be a multiaddr string/
    })
  })

  it('the entities that listen: the gateway and every consensus peer', () => {
    assert.deepEqual(listeningIds(4), ['gateway', 'cn-1', 'cn-2', 'cn-3', 'cn-4'])
    assert.throws(() => new AddressBook({}, listeningIds(4), 'x'), /x: no address for gateway/)
  })
})
