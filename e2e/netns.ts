/**
 * A throw-away lab of Linux network namespaces, one per host, for tests across hosts and
 * partitions. One "switch" namespace holds a bridge; every host gets its own namespace with
 *   - a data link (veth) on the bridge, 10.77.0.<k>/24, that the p2p traffic uses, and
 *   - a management link (veth) to the root namespace, 10.78.<s>.<4k+2>/30, for the test's API
 *     calls, where <s> is a block no address of the root namespace is in yet (so that two labs,
 *     of two test runs at once, never share a route).
 * A partition takes hosts' bridge ports down; healing brings them up; a host can move to a new
 * data address. Host names for the hosts can be given in each namespace's own hosts file
 * (/etc/netns/<namespace>/hosts, which `ip netns exec` puts in place of /etc/hosts). Everything is
 * removed by destroy(), also after a failure. Only addresses the lab creates are used.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export class NetnsUnavailable extends Error {}

const NETNS_ETC = '/etc/netns'

/** A block 10.78.<s>.0/24 that no address of the root namespace is in (read only: `ip -4 addr`). */
function freeManagementBlock(): number {
  const r = spawnSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' })
  const used = new Set([...(r.stdout ?? '').matchAll(/inet 10\.78\.(\d+)\./g)].map((m) => Number(m[1])))
  const start = 16 + Math.floor(Math.random() * 200)
  for (let i = 0; i < 239; i++) {
    const s = 16 + ((start - 16 + i) % 239)
    if (!used.has(s)) return s
  }
  throw new Error('no free 10.78.<s>.0/24 block for the management links')
}

function ip(args: string[], ns?: string): void {
  const full = ns ? ['netns', 'exec', ns, 'ip', ...args] : args
  const r = spawnSync('ip', full, { encoding: 'utf8' })
  if (r.error || r.status !== 0) throw new Error(`ip ${full.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`)
}

export class NetnsLab {
  readonly id = randomBytes(2).toString('hex')
  private readonly hosts = new Map<string, number>()
  /** Data addresses that moved (moveHost), by host name. */
  private readonly moved = new Map<string, string>()
  private readonly namespaces: string[] = []
  private readonly rootLinks: string[] = []
  private readonly etcDirs: string[] = []
  /** Whether this lab made /etc/netns (then it removes it, when nothing else is left in it). */
  private madeEtc = false
  private readonly mgmtBlock = freeManagementBlock()

  private nsName(name: string): string {
    return `bbnp-${this.id}-${name}`
  }

  get switchNs(): string {
    return this.nsName('switch')
  }

  /** Create the switch and one namespace per host name; throws NetnsUnavailable where the kernel refuses. */
  /** A lab of these hosts, or null once the test is skipped with the reason where the kernel refuses namespaces. */
  static createOrSkip(t: { skip(message: string): void }, hostNames: string[]): NetnsLab | null {
    try {
      return NetnsLab.create(hostNames)
    } catch (e) {
      if (!(e instanceof NetnsUnavailable)) throw e
      t.skip(e.message)
      return null
    }
  }

  static create(hostNames: string[]): NetnsLab {
    const lab = new NetnsLab()
    try {
      ip(['netns', 'add', lab.switchNs])
    } catch (e) {
      throw new NetnsUnavailable(`network namespaces are not available here: ${(e as Error).message}`)
    }
    lab.namespaces.push(lab.switchNs)
    try {
      ip(['link', 'set', 'lo', 'up'], lab.switchNs)
      ip(['link', 'add', 'br0', 'type', 'bridge'], lab.switchNs)
      ip(['link', 'set', 'br0', 'up'], lab.switchNs)
      for (const [i, name] of hostNames.entries()) lab.addHost(name, i + 1)
    } catch (e) {
      lab.destroy()
      throw e
    }
    return lab
  }

  private addHost(name: string, k: number): void {
    const ns = this.nsName(name)
    ip(['netns', 'add', ns])
    this.namespaces.push(ns)
    this.hosts.set(name, k)
    ip(['link', 'set', 'lo', 'up'], ns)
    // data link: d0 in the host, p<k> on the bridge
    const port = `p${k}`
    ip(['link', 'add', `b${this.id}d${k}`, 'type', 'veth', 'peer', 'name', `b${this.id}s${k}`])
    ip(['link', 'set', `b${this.id}d${k}`, 'netns', ns, 'name', 'd0'])
    ip(['link', 'set', `b${this.id}s${k}`, 'netns', this.switchNs, 'name', port])
    ip(['link', 'set', port, 'master', 'br0'], this.switchNs)
    ip(['link', 'set', port, 'up'], this.switchNs)
    ip(['addr', 'add', `${this.dataIp(name)}/24`, 'dev', 'd0'], ns)
    ip(['link', 'set', 'd0', 'up'], ns)
    // management link: m0 in the host, b<id>m<k> in the root namespace
    const root = `b${this.id}m${k}`
    ip(['link', 'add', root, 'type', 'veth', 'peer', 'name', `b${this.id}n${k}`])
    this.rootLinks.push(root)
    ip(['link', 'set', `b${this.id}n${k}`, 'netns', ns, 'name', 'm0'])
    ip(['addr', 'add', `10.78.${this.mgmtBlock}.${4 * k + 1}/30`, 'dev', root])
    ip(['link', 'set', root, 'up'])
    ip(['addr', 'add', `${this.mgmtIp(name)}/30`, 'dev', 'm0'], ns)
    ip(['link', 'set', 'm0', 'up'], ns)
  }

  /** The host's address on the bridge (after moveHost, its new one). */
  dataIp(name: string): string {
    return this.moved.get(name) ?? `10.77.0.${this.hosts.get(name)}`
  }

  mgmtIp(name: string): string {
    return `10.78.${this.mgmtBlock}.${4 * this.host(name) + 2}`
  }

  private host(name: string): number {
    const k = this.hosts.get(name)
    if (k === undefined) throw new Error(`no host ${name} in the lab`)
    return k
  }

  /** The host gets a new address on the bridge, 10.77.0.<100 + k>, in place of its old one (a host moved). */
  moveHost(name: string): string {
    const k = this.host(name)
    const ns = this.nsName(name)
    const old = this.dataIp(name)
    const next = `10.77.0.${100 + k}`
    // The old one goes first: deleting a primary address takes the secondaries of its subnet with it.
    ip(['addr', 'del', `${old}/24`, 'dev', 'd0'], ns)
    ip(['addr', 'add', `${next}/24`, 'dev', 'd0'], ns)
    this.moved.set(name, next)
    return next
  }

  /**
   * Names every host resolves, in its own hosts file: /etc/netns/<namespace>/hosts, used by
   * programs run with `ip netns exec` (and by nothing else).
   */
  setNames(names: Record<string, string>): void {
    const lines = ['127.0.0.1 localhost', '::1 localhost', ...Object.entries(names).map(([name, addr]) => `${addr} ${name}`)]
    if (!existsSync(NETNS_ETC)) this.madeEtc = true
    for (const name of this.hosts.keys()) {
      const dir = join(NETNS_ETC, this.nsName(name))
      mkdirSync(dir, { recursive: true })
      if (!this.etcDirs.includes(dir)) this.etcDirs.push(dir)
      writeFileSync(join(dir, 'hosts'), `${lines.join('\n')}\n`)
    }
  }

  /** The command prefix that runs a program inside a host's namespace. */
  prefix(name: string): string[] {
    return ['ip', 'netns', 'exec', this.nsName(name)]
  }

  partition(names: string[]): void {
    for (const n of names) ip(['link', 'set', `p${this.host(n)}`, 'down'], this.switchNs)
  }

  heal(names: string[]): void {
    for (const n of names) ip(['link', 'set', `p${this.host(n)}`, 'up'], this.switchNs)
  }

  destroy(): void {
    for (const ns of this.namespaces.reverse()) spawnSync('ip', ['netns', 'del', ns])
    for (const l of this.rootLinks) spawnSync('ip', ['link', 'del', l])
    for (const d of this.etcDirs) rmSync(d, { recursive: true, force: true })
    // /etc/netns itself only if this lab made it and no other namespace keeps files there
    if (this.madeEtc)
      try {
        rmdirSync(NETNS_ETC)
      } catch {}
  }
}
