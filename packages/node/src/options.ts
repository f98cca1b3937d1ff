/**
 * What `bbnp start` runs with. Precedence (DESIGN): flags > environment (BBNP_*) > the optional
 * config file <config>/bbnp.json > defaults. Every problem is a CONFIG error naming the setting.
 *
 * bbnp.json: { "defaults": { ...settings }, "nodes": { "<id>": { ...settings } },
 * "addresses": { "<id>": "<multiaddr>" } } with the settings of SETTINGS below; "addresses"
 * overrides entries of the address book on this host (address-book.ts).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { BbnpError, isLogLevel, type LogLevel } from '@bbnp/core'
import type { Role } from './keys.ts'

export interface NodeOptions {
  role: Role
  configDir: string
  /** One ID for a consensus peer or the gateway; one or many for a meter process. */
  ids: string[]
  dataDir: string
  listen?: string
  /** The address book file (default <config>/addresses.json). */
  addressBook: string
  apiHost: string
  /** null: no API (meters by default). */
  apiPort: number | null
  readings?: string
  logLevel: LogLevel
  /** Test-only misbehaviour modes (refused unless the genesis is a devnet). */
  misbehave: string[]
  /** Meters: the probability with which each meter drops its report of a slot (devnets only). */
  dropRate: number
}

/**
 * Every setting of `bbnp start`, declared once: its flag, its environment variable, and whether
 * bbnp.json may set it (`config` and `id` locate the file, so they cannot come from it).
 */
export const SETTINGS = [
  { key: 'role', flag: 'role', env: 'BBNP_ROLE', inFile: true, arg: 'R', help: 'consensus, gateway or meter' },
  {
    key: 'config',
    flag: 'config',
    env: 'BBNP_CONFIG',
    inFile: false,
    arg: 'DIR',
    help: 'the directory bbnp setup wrote (genesis.json, addresses.json and keys/)'
  },
  {
    key: 'id',
    flag: 'id',
    env: 'BBNP_ID',
    inFile: false,
    arg: 'ID',
    help: 'cn-3, gateway, or for meters one ID, a list (meter-1,meter-2) or a range (meter-1..meter-500)'
  },
  {
    key: 'dataDir',
    flag: 'data-dir',
    env: 'BBNP_DATA_DIR',
    inFile: true,
    arg: 'DIR',
    help: 'where a peer or the gateway keeps its store (default DIR/data/<id>)'
  },
  {
    key: 'listen',
    flag: 'listen',
    env: 'BBNP_LISTEN',
    inFile: true,
    arg: 'ADDR',
    help: "libp2p listen multiaddr (default: this entity's address in the address book; for a /dns4 or /dns6 name, every interface on its port)"
  },
  {
    key: 'addressBook',
    flag: 'address-book',
    env: 'BBNP_ADDRESS_BOOK',
    inFile: true,
    arg: 'FILE',
    help: 'the address book (default DIR/addresses.json, with the "addresses" of DIR/bbnp.json over it); SIGHUP reads it again'
  },
  {
    key: 'apiHost',
    flag: 'api-host',
    env: 'BBNP_API_HOST',
    inFile: true,
    arg: 'H',
    help: 'HTTP API address (default 127.0.0.1)'
  },
  {
    key: 'apiPort',
    flag: 'api-port',
    env: 'BBNP_API_PORT',
    inFile: true,
    arg: 'P',
    help: 'HTTP API port (default: the p2p port + 1000; meters serve no API unless given)'
  },
  {
    key: 'readings',
    flag: 'readings',
    env: 'BBNP_READINGS',
    inFile: true,
    arg: 'FILE',
    help: 'meters: a UCI household CSV or a meter,slot,wh table (default: the bundled UCI file)'
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    env: 'BBNP_LOG_LEVEL',
    inFile: true,
    arg: 'L',
    help: 'debug, info, warn, error or silent (default info)'
  },
  {
    key: 'misbehave',
    flag: 'misbehave',
    env: 'BBNP_MISBEHAVE',
    inFile: true,
    arg: 'MODES',
    help: 'devnets only, consensus: silent, late, wrong-signatures, equivocate, wrong-partials'
  },
  {
    key: 'dropRate',
    flag: 'drop-rate',
    env: 'BBNP_DROP_RATE',
    inFile: true,
    arg: 'P',
    help: 'devnets only, meters: drop each report with probability P (seeded by the chain)'
  }
] as const

/** `bbnp start`'s usage, made from SETTINGS so that every setting is listed with its flag and variable. */
export function startUsage(): string {
  const width = Math.max(...SETTINGS.map((x) => x.flag.length + x.arg.length)) + 5
  const lines = SETTINGS.map((x) => `  ${`--${x.flag} ${x.arg}`.padEnd(width)}${x.help}`)
  const note =
    `Every flag can also come from the environment (${SETTINGS.map((x) => x.env).join(', ')}) or from ` +
    'DIR/bbnp.json ({"defaults": {...}, "nodes": {"cn-1": {"apiPort": 9001}}}, every setting but config and id); ' +
    'flags win over the environment, which wins over the file, which wins over the defaults.'
  return ['usage: bbnp start --role consensus|gateway|meter --config DIR --id ID [flags]', '', ...lines, '', ...wrap(note, 100)].join('\n')
}

function wrap(text: string, width: number): string[] {
  const out: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line)
      line = word
    } else line = line === '' ? word : `${line} ${word}`
  }
  return line === '' ? out : [...out, line]
}

export type SettingKey = (typeof SETTINGS)[number]['key']
export type Settings = Partial<Record<SettingKey, string>>

function bad(msg: string): never {
  throw new BbnpError('CONFIG', msg)
}

export const ROLES: readonly Role[] = ['consensus', 'gateway', 'meter']

/** An HTTP API listens, unless told otherwise, on its process's p2p port + 1000 (devnet, setup and tests rely on it). */
export const API_PORT_OFFSET = 1000

export function defaultApiPort(listen: { nodeAddress(): { port: number } }): number {
  return listen.nodeAddress().port + API_PORT_OFFSET
}

/** "meter-3", "meter-1,meter-4" or "meter-1..meter-500" (also "meter-1..500"). */
export function parseIdList(spec: string): string[] {
  const out: string[] = []
  for (const part of spec.split(',').map((s) => s.trim())) {
    if (part === '') bad(`empty ID in "${spec}"`)
    const range = /^([a-z]+)-(\d+)\.\.(?:([a-z]+)-)?(\d+)$/.exec(part)
    if (range) {
      const [, prefix, a, prefix2, b] = range
      if (prefix2 !== undefined && prefix2 !== prefix) bad(`range "${part}" mixes ${prefix} and ${prefix2}`)
      const from = Number(a)
      const to = Number(b)
      if (to < from || to - from > 1_000_000) bad(`range "${part}" is empty or too large`)
      for (let i = from; i <= to; i++) out.push(`${prefix}-${i}`)
    } else if (/^[a-z]+(-\d+)?$/.test(part)) out.push(part)
    else bad(`"${part}" is not an ID (like cn-1, gateway or meter-7) or a range (meter-1..meter-500)`)
  }
  if (new Set(out).size !== out.length) bad(`"${spec}" names an ID twice`)
  return out
}

export function envSettings(env: NodeJS.ProcessEnv): Settings {
  const s: Settings = {}
  for (const { key, env: name } of SETTINGS) if (env[name] !== undefined && env[name] !== '') s[key] = env[name]
  return s
}

const FILE_SECTIONS = ['defaults', 'nodes', 'addresses']

/** <config>/bbnp.json's sections as objects ({} when there is no file), or one CONFIG error. */
function readConfigFile(configDir: string): {
  path: string
  object: (v: unknown, what: string) => Record<string, unknown>
  top: Record<string, unknown>
} {
  const path = join(configDir, 'bbnp.json')
  const object = (v: unknown, what: string): Record<string, unknown> => {
    if (v === undefined) return {}
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${path}: ${what} must be an object`)
    return v as Record<string, unknown>
  }
  if (!existsSync(path)) return { path, object, top: {} }
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    bad(`${path} is not valid JSON: ${(e as Error).message}`)
  }
  const top = object(json, 'the file')
  for (const k of Object.keys(top)) if (!FILE_SECTIONS.includes(k)) bad(`${path}: unknown section "${k}" (${FILE_SECTIONS.join(', ')})`)
  return { path, object, top }
}

/** The "addresses" section of <config>/bbnp.json: this host's overrides of the address book (checked with the book). */
export function fileAddressOverrides(configDir: string): Record<string, string> {
  const { path, object, top } = readConfigFile(configDir)
  const section = object(top.addresses, '"addresses"')
  for (const [id, v] of Object.entries(section)) if (typeof v !== 'string') bad(`${path}: addresses.${id} must be a multiaddr string`)
  return section as Record<string, string>
}

/** The settings of `id` in <config>/bbnp.json: its `defaults`, overridden by `nodes[id]`. */
export function fileSettings(configDir: string, id: string | undefined): Settings {
  const { path, object, top } = readConfigFile(configDir)
  const nodes = object(top.nodes, '"nodes"')
  const merged = { ...object(top.defaults, '"defaults"'), ...(id ? object(nodes[id], `nodes["${id}"]`) : {}) }
  const s: Settings = {}
  for (const [k, v] of Object.entries(merged)) {
    const setting = SETTINGS.find((x) => x.key === k && x.inFile)
    if (!setting)
      bad(
        `${path}: unknown setting "${k}" (one of: ${SETTINGS.filter((x) => x.inFile)
          .map((x) => x.key)
          .join(', ')})`
      )
    if (typeof v !== 'string' && typeof v !== 'number') bad(`${path}: "${k}" must be a string or a number`)
    s[setting.key] = String(v)
  }
  return s
}

function dropRate(v: string | undefined, role: string): number {
  if (v === undefined) return 0
  if (role !== 'meter') bad('--drop-rate is for meters')
  const p = Number(v)
  if (!/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(v) || !(p >= 0 && p <= 1)) bad(`--drop-rate must be a probability in [0, 1], not "${v}"`)
  return p
}

/** The settings that were given: a flag that was not typed is absent, not `undefined`. */
function given(s: Settings): Settings {
  const out: Settings = {}
  for (const [k, v] of Object.entries(s)) if (v !== undefined) out[k as keyof Settings] = v
  return out
}

/**
 * Resolve the options of one process from its flags, environment and config file, in that order
 * of precedence (DESIGN): a setting comes from the first source that gives it.
 */
export function resolveOptions(flagsGiven: Settings, env: NodeJS.ProcessEnv): NodeOptions {
  const flags = given(flagsGiven)
  const e = envSettings(env)
  const configDir = flags.config ?? e.config ?? bad('missing --config DIR (the directory bbnp setup wrote)')
  const idSpec = flags.id ?? e.id ?? bad('missing --id (e.g. cn-1, gateway, or meter-1..meter-10)')
  const ids = parseIdList(idSpec)
  const s: Settings = { ...fileSettings(configDir, ids.length === 1 ? ids[0] : undefined), ...e, ...flags }
  const role = s.role ?? bad('missing --role (consensus, gateway or meter)')
  if (!ROLES.includes(role as Role)) bad(`--role must be consensus, gateway or meter, not "${role}"`)
  if (role !== 'meter' && ids.length !== 1) bad(`a ${role} process runs exactly one ID`)
  for (const id of ids) {
    const ok = role === 'meter' ? /^meter-\d+$/.test(id) : role === 'consensus' ? /^cn-\d+$/.test(id) : id === 'gateway'
    if (!ok) bad(`--id ${id} does not belong to the ${role} role`)
  }
  fileAddressOverrides(configDir) // checked here with the rest of the file; read with the address book
  const logLevel = s.logLevel ?? 'info'
  if (!isLogLevel(logLevel)) bad(`--log-level must be debug, info, warn, error or silent, not "${logLevel}"`)
  let apiPort: number | null = null
  if (s.apiPort !== undefined) {
    if (!/^\d+$/.test(s.apiPort) || Number(s.apiPort) > 65535) bad(`--api-port must be a port number (0-65535), not "${s.apiPort}"`)
    apiPort = Number(s.apiPort)
  }
  return {
    role: role as Role,
    configDir: resolve(configDir),
    ids,
    dataDir: resolve(s.dataDir ?? join(configDir, 'data', ids.length === 1 ? ids[0] : `${ids[0]}+${ids.length - 1}`)),
    listen: s.listen,
    addressBook: resolve(s.addressBook ?? join(configDir, 'addresses.json')),
    apiHost: s.apiHost ?? '127.0.0.1',
    apiPort,
    readings: s.readings,
    logLevel,
    misbehave: s.misbehave
      ? s.misbehave
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)
      : [],
    dropRate: dropRate(s.dropRate, role)
  }
}
