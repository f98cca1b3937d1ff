/**
 * The address book (docs/deployment.md): where each entity that listens, the gateway and every
 * consensus peer, is reached. It is apart from the genesis, which fixes identities (keys, peer
 * IDs, roles) and is hashed into every key file and store: an address changes without a new chain.
 *
 * `bbnp setup` writes it as `addresses.json` beside `genesis.json`; a host may override entries in
 * its own `bbnp.json` (`"addresses": {"cn-2": "..."}`); a process reads it at start and again on
 * SIGHUP. It needs no signature: every connection is authenticated by Noise against the peer ID
 * in the genesis and admitted only for genesis peers, so a wrong address costs reachability,
 * never safety.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { isIPv4, isIPv6 } from 'node:net'
import { dirname, join } from 'node:path'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { BbnpError, consensusId, GATEWAY_ID, parseEntity, toHex } from '@bbnp/core'
import type { Genesis } from './genesis.ts'
import { fileAddressOverrides } from './options.ts'

export const ADDRESS_BOOK_VERSION = 1
export const ADDRESS_BOOK_FILE = 'addresses.json'

export interface AddressBookJson {
  version: number
  /** The hash of the genesis the book belongs to (hex): a book of another network is refused. */
  genesis: string
  /** Entity ID (gateway, cn-j) to the multiaddr the others dial: /ip4|ip6|dns4|dns6/HOST/tcp/PORT. */
  addresses: Record<string, string>
}

export interface AddressChange {
  id: string
  from: string
  to: string
}

type Fail = (msg: string) => never

function bad(msg: string): never {
  throw new BbnpError('ADDRESSES', msg)
}

/** The entities that listen, and so have an address: the gateway and cn-1..cn-M (meters only dial). */
export function listeningIds(consensus: number): string[] {
  return [GATEWAY_ID, ...Array.from({ length: consensus }, (_, k) => consensusId(k + 1))]
}

/** An RFC 1123 host name: labels of letters, digits and inner hyphens, not all digits. */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i

const WILDCARDS = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0'])

/**
 * Checks a multiaddr the others can dial: exactly /ip4, /ip6, /dns4 or /dns6, then /tcp/PORT with
 * a port in 1..65535; no /p2p part (the peer ID comes from the genesis), no wildcard.
 */
export function dialAddress(addr: string, fail: Fail = bad): Multiaddr {
  let ma: Multiaddr
  try {
    ma = multiaddr(addr)
  } catch {
    fail(`"${addr}" is not a multiaddr`)
  }
  const parts = ma.getComponents()
  const [host, tcp] = parts
  if (parts.length !== 2 || !['ip4', 'ip6', 'dns4', 'dns6'].includes(host.name) || tcp.name !== 'tcp')
    fail(
      host?.name === 'dns'
        ? `"${addr}": use /dns4 or /dns6 (libp2p's TCP transport dials a /dns name over IPv4 only)`
        : host?.name === 'dnsaddr'
          ? `"${addr}": /dnsaddr names a TXT record of multiaddrs, not a host: use /dns4 or /dns6`
          : `"${addr}" must be /ip4, /ip6, /dns4 or /dns6, then /tcp/PORT, and nothing more`
    )
  const port = Number(tcp.value)
  if (!(port >= 1 && port <= 65535)) fail(`"${addr}": the port must be between 1 and 65535`)
  if (WILDCARDS.has(host.value ?? ''))
    fail(`"${addr}" is a wildcard: the address book says where the others reach an entity (bind every interface with --listen on its host)`)
  return ma
}

/**
 * A placement as an operator writes it, as a multiaddr: `HOST` (IPv4, IPv6 or a DNS name), `HOST:PORT`,
 * `[IPV6]:PORT`, or a multiaddr (`/dns4/...`). `port` is used when none is given.
 */
export function placeAddress(spec: string, port: number, fail: Fail = bad): string {
  const s = spec.trim()
  if (s === '') fail('an empty address')
  if (s.startsWith('/')) return dialAddress(s, fail).toString()
  let host = s
  let p = port
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(s)
  const hostPort = /^([^:]+):(\d+)$/.exec(s)
  if (bracketed) {
    host = bracketed[1]
    if (bracketed[2] !== undefined) p = Number(bracketed[2])
    if (!isIPv6(host)) fail(`"${spec}": only an IPv6 address goes in brackets`)
  } else if (hostPort) {
    host = hostPort[1]
    p = Number(hostPort[2])
  } else if (s.includes(':') && !isIPv6(s)) fail(`"${spec}" is neither HOST, HOST:PORT, [IPV6]:PORT nor a multiaddr`)
  if (!(Number.isInteger(p) && p >= 1 && p <= 65535)) fail(`"${spec}": the port must be between 1 and 65535`)
  let proto: string
  if (isIPv4(host)) proto = 'ip4'
  else if (isIPv6(host)) proto = 'ip6'
  else if (/^[\d.]+$/.test(host) || !HOST_NAME.test(host))
    fail(`${host === s ? '' : `"${spec}": `}"${host}" is not an IP address or a DNS name`)
  else proto = 'dns4'
  return dialAddress(`/${proto}/${host.replace(/\.$/, '')}/tcp/${p}`, fail).toString()
}

/** The port a placement of `id` gets when it names none: the gateway basePort, cn-j basePort + j (as on one host). */
export function defaultPort(id: string, basePort: number): number {
  const e = parseEntity(id)
  return basePort + (e?.role === 'consensus' ? e.index : 0)
}

/** A placement and where it was written, for the error that names it. */
export interface Placement {
  spec: string
  source: string
}

/**
 * The addresses `bbnp setup` writes: each entity at its placement, or else at `host` on its
 * default port. With `requireAll` (a hosts manifest was given), every entity must be placed:
 * an entity left out would silently land on `host`. Two entities at one address are refused.
 */
export function planAddresses(opts: {
  consensus: number
  host: string
  basePort: number
  places?: Record<string, Placement>
  requireAll?: string
}): Record<string, string> {
  const ids = listeningIds(opts.consensus)
  const places = opts.places ?? {}
  for (const [id, p] of Object.entries(places)) if (!ids.includes(id)) bad(`${p.source}: ${notListening(id, opts.consensus)}`)
  const out: Record<string, string> = {}
  const taken = new Map<string, string>()
  for (const id of ids) {
    const p = places[id]
    if (p === undefined && opts.requireAll !== undefined)
      bad(`${opts.requireAll}: no address for ${id} (every consensus peer and the gateway need one)`)
    const fail: Fail = (msg) => bad(`${p?.source ?? '--host'}: ${id}: ${msg}`)
    const addr = placeAddress(p?.spec ?? opts.host, defaultPort(id, opts.basePort), fail)
    const other = taken.get(addr)
    if (other !== undefined) bad(`${p?.source ?? '--host'}: ${other} and ${id} are both at ${addr}`)
    taken.set(addr, id)
    out[id] = addr
  }
  return out
}

function notListening(id: string, consensus: number): string {
  const e = parseEntity(id)
  if (e?.role === 'meter') return `${id}: meters are never dialled and need no address (leave them out)`
  return `"${id}" is not an entity that listens in this network (gateway, cn-1..cn-${consensus})`
}

/** `ID=WHERE`, as `--addr` takes it. */
export function parseAddrFlag(value: string, flag = '--addr'): { id: string; spec: string } {
  const eq = value.indexOf('=')
  if (eq <= 0 || eq === value.length - 1) bad(`${flag} ${value}: expected ID=WHERE, e.g. cn-2=10.0.0.12 or gateway=gw.example:7100`)
  return { id: value.slice(0, eq).trim(), spec: value.slice(eq + 1).trim() }
}

/**
 * A hosts manifest (`bbnp setup --hosts FILE`): a JSON object from entity ID to where it runs,
 * `{"gateway": "gw.grid.example", "cn-1": "10.0.0.11", "cn-2": "10.0.0.12:7200", ...}`; each value
 * as `placeAddress` reads it. Returns the placements; `planAddresses` checks them.
 */
export function parseHostsManifest(text: string, path: string): Record<string, Placement> {
  const fail: Fail = (msg) => bad(`hosts manifest ${path}: ${msg}`)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    fail(`not valid JSON (${(e as Error).message})`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    fail('must be a JSON object from entity ID to host, e.g. {"gateway": "10.0.0.10", "cn-1": "10.0.0.11"}')
  const out: Record<string, Placement> = {}
  for (const [id, v] of Object.entries(json)) {
    if (typeof v !== 'string') fail(`${id}: the value must be a string (HOST, HOST:PORT or a multiaddr), not ${JSON.stringify(v)}`)
    out[id] = { spec: v, source: `hosts manifest ${path}` }
  }
  return out
}

export function readHostsManifest(path: string): Record<string, Placement> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    bad(`hosts manifest ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  return parseHostsManifest(text, path)
}

/**
 * The addresses a process uses, checked against its genesis: every entity that listens has one.
 * Entries can be replaced in place (`update`), so that everyone holding the book sees a reload.
 */
export class AddressBook {
  private entries: Map<string, Multiaddr>

  constructor(entries: Record<string, string>, ids: string[], where: string) {
    const fail: Fail = (msg) => bad(`${where}: ${msg}`)
    this.entries = new Map()
    for (const [id, addr] of Object.entries(entries)) {
      if (!ids.includes(id)) fail(notListening(id, ids.length - 1))
      this.entries.set(
        id,
        dialAddress(addr, (msg) => fail(`${id}: ${msg}`))
      )
    }
    for (const id of ids) if (!this.entries.has(id)) fail(`no address for ${id}`)
    const at = new Map<string, string>()
    for (const [id, ma] of this.entries) {
      const other = at.get(ma.toString())
      if (other !== undefined) fail(`${other} and ${id} are both at ${ma.toString()}`)
      at.set(ma.toString(), id)
    }
  }

  /** Where the others dial `id`. */
  address(id: string): string {
    return this.multiaddr(id).toString()
  }

  multiaddr(id: string): Multiaddr {
    return this.entries.get(id) ?? bad(`no address for ${id}`)
  }

  /**
   * What `id` listens on unless told otherwise (--listen): its own address; for a DNS name, every
   * interface of its family on that port (the name is for the others to resolve, and may point at
   * a public address the host does not hold, behind NAT).
   */
  listen(id: string): string {
    const ma = this.multiaddr(id)
    const [host, tcp] = ma.getComponents()
    if (host.name === 'dns4') return `/ip4/0.0.0.0/tcp/${tcp.value}`
    if (host.name === 'dns6') return `/ip6/::/tcp/${tcp.value}`
    return ma.toString()
  }

  toJson(genesisHash: Uint8Array): AddressBookJson {
    return {
      version: ADDRESS_BOOK_VERSION,
      genesis: toHex(genesisHash),
      addresses: Object.fromEntries([...this.entries].map(([id, ma]) => [id, ma.toString()]))
    }
  }

  /** Takes the entries of `next`; returns what changed. */
  update(next: AddressBook): AddressChange[] {
    const changes: AddressChange[] = []
    for (const [id, ma] of next.entries) {
      const from = this.entries.get(id)?.toString() ?? ''
      if (from !== ma.toString()) changes.push({ id, from, to: ma.toString() })
    }
    this.entries = new Map(next.entries)
    return changes
  }
}

/** Reads and checks an addresses.json: its version, the genesis it belongs to, and the shape of its entries. */
export function parseAddressBookJson(raw: unknown, path: string, genesis: Pick<Genesis, 'hash'>): Record<string, string> {
  const fail: Fail = (msg) => bad(`${path}: ${msg}`)
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('must be a JSON object')
  const json = raw as Partial<AddressBookJson>
  if (json.version !== ADDRESS_BOOK_VERSION)
    fail(`unsupported version ${String(json.version)} (this build reads version ${ADDRESS_BOOK_VERSION})`)
  if (json.genesis !== toHex(genesis.hash))
    fail(
      `belongs to another network (genesis ${String(json.genesis).slice(0, 16)}…, this one is ${toHex(genesis.hash).slice(0, 16)}…): copy the addresses.json that bbnp setup wrote with this genesis`
    )
  const addresses = json.addresses
  if (typeof addresses !== 'object' || addresses === null || Array.isArray(addresses))
    fail('"addresses" must be an object from entity ID to multiaddr')
  for (const [id, v] of Object.entries(addresses)) if (typeof v !== 'string') fail(`${id}: the address must be a multiaddr string`)
  return addresses as Record<string, string>
}

function readJson(path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    bad(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    bad(`${path} is not valid JSON: ${(e as Error).message}`)
  }
}

export function addressBookPath(configDir: string, file?: string): string {
  return file ?? join(configDir, ADDRESS_BOOK_FILE)
}

/**
 * The entries of the book file alone (no host overrides): addresses.json, or for a version 2
 * genesis without one, the addresses that genesis was made with.
 */
export function readAddressBookFile(path: string, genesis: Pick<Genesis, 'hash' | 'legacyAddresses'>): Record<string, string> {
  if (existsSync(path)) return parseAddressBookJson(readJson(path), path, genesis)
  if (genesis.legacyAddresses !== undefined) return { ...genesis.legacyAddresses }
  bad(`no address book at ${path} (bbnp setup writes ${ADDRESS_BOOK_FILE} beside genesis.json: copy it to this host)`)
}

/**
 * The address book of a process: `file` (default CONFIG/addresses.json), with the entries of the
 * host's CONFIG/bbnp.json `"addresses"` section over it.
 */
export function loadAddressBook(
  opts: { configDir: string; file?: string },
  genesis: Pick<Genesis, 'hash' | 'legacyAddresses' | 'consensus'>
): AddressBook {
  const path = addressBookPath(opts.configDir, opts.file)
  const ids = listeningIds(genesis.consensus.length)
  const entries = readAddressBookFile(path, genesis)
  const overrides = fileAddressOverrides(opts.configDir)
  const where = Object.keys(overrides).length > 0 ? `${path} with the overrides of ${join(opts.configDir, 'bbnp.json')}` : path
  return new AddressBook({ ...entries, ...overrides }, ids, where)
}

/** Writes a book atomically (a reader never sees half a file), readable by every user. */
export function writeAddressBook(path: string, json: AddressBookJson): void {
  const tmp = join(dirname(path), `.${ADDRESS_BOOK_FILE}.${process.pid}.tmp`)
  try {
    writeFileSync(tmp, `${JSON.stringify(json, null, 2)}\n`, { mode: 0o644 })
    renameSync(tmp, path)
  } catch (e) {
    throw new BbnpError('IO', `cannot write ${path}: ${(e as Error).message}`)
  }
}
