/**
 * A throw-away lab of Linux network namespaces for partition tests. One "switch" namespace holds
 * a bridge; every host gets its own namespace with
 *   - a data link (veth) on the bridge, 10.77.0.<k>/24, that the p2p traffic uses, and
 *   - a management link (veth) to the root namespace, 10.78.<k>.2/30, for the test's API calls.
 * A partition takes hosts' bridge ports down; healing brings them up. Everything is removed by
 * destroy(), also after a failure. Only addresses the lab creates are used.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

export class NetnsUnavailable extends Error {}

function ip(args: string[], ns?: string): void {
  const full = ns ? ['netns', 'exec', ns, 'ip', ...args] : args
  const r = spawnSync('ip', full, { encoding: 'utf8' })
  if (r.error || r.status !== 0) throw new Error(`ip ${full.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`)
}

export class NetnsLab {
  readonly id = randomBytes(2).toString('hex')
  private readonly hosts = new Map<string, number>()
  private readonly namespaces: string[] = []
  private readonly rootLinks: string[] = []

  private nsName(name: string): string {
    return `bbnp-${this.id}-${name}`
  }

  get switchNs(): string {
    return this.nsName('switch')
  }

  /** Create the switch and one namespace per host name; throws NetnsUnavailable where the kernel refuses. */
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
    ip(['addr', 'add', `10.78.${k}.1/30`, 'dev', root])
    ip(['link', 'set', root, 'up'])
    ip(['addr', 'add', `${this.mgmtIp(name)}/30`, 'dev', 'm0'], ns)
    ip(['link', 'set', 'm0', 'up'], ns)
  }

  dataIp(name: string): string {
    return `10.77.0.${this.hosts.get(name)}`
  }

  mgmtIp(name: string): string {
    return `10.78.${this.hosts.get(name)}.2`
  }

  /** The command prefix that runs a program inside a host's namespace. */
  prefix(name: string): string[] {
    return ['ip', 'netns', 'exec', this.nsName(name)]
  }

  partition(names: string[]): void {
    for (const n of names) ip(['link', 'set', `p${this.hosts.get(n)}`, 'down'], this.switchNs)
  }

  heal(names: string[]): void {
    for (const n of names) ip(['link', 'set', `p${this.hosts.get(n)}`, 'up'], this.switchNs)
  }

  destroy(): void {
    for (const ns of this.namespaces.reverse()) spawnSync('ip', ['netns', 'del', ns])
    for (const l of this.rootLinks) spawnSync('ip', ['link', 'del', l])
  }
}
