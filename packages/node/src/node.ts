/**
 * One composition root for every role: `createNode(options)` loads and checks the genesis, the
 * address book and the key(s), builds the logger and metrics, and starts the role's runtime.
 * Roles close in reverse order of what they opened (API, network, store). `reload()` reads the
 * address book again (`bbnp start` calls it on SIGHUP).
 */
import { BbnpError, createLogger, errorMessage, type Logger, MetricsRegistry } from '@bbnp/core'
import { type AddressBook, type AddressChange, loadAddressBook } from './address-book.ts'
import { buildInfo } from './build-info.ts'
import { loadGenesis } from './config.ts'
import { startConsensusPeer } from './consensus-peer.ts'
import type { RunningNode } from './runtime.ts'
import { startGateway } from './gateway-runtime.ts'
import { loadKey } from './keys.ts'
import { startMeters } from './meter-runtime.ts'
import type { NodeOptions } from './options.ts'

/** A started node, and the reload of its address book. */
export interface NodeHandle extends RunningNode {
  /**
   * Reads the address book again and points the node's peers at what changed; a book that does
   * not load is logged and the one in use kept (a running node never dies of a reload).
   */
  reload(): AddressChange[]
}

export async function createNode(options: NodeOptions, modules: { logger?: Logger; signal?: AbortSignal } = {}): Promise<NodeHandle> {
  const node = await startRole(options, modules)
  return {
    get done() {
      return node.running.done
    },
    get apiPort() {
      return node.running.apiPort
    },
    close: () => node.running.close(),
    reload: () => reloadAddresses(node)
  }
}

interface Started {
  running: RunningNode
  options: NodeOptions
  genesis: ReturnType<typeof loadGenesis>
  addresses: AddressBook
  log: Logger
}

function reloadAddresses({ running, options, genesis, addresses, log }: Started): AddressChange[] {
  let changes: AddressChange[]
  try {
    changes = addresses.update(loadAddressBook({ configDir: options.configDir, file: options.addressBook }, genesis))
  } catch (e) {
    log.error('address book not reloaded: keeping the one in use', { error: errorMessage(e) })
    return []
  }
  log.info('address book reloaded', { file: options.addressBook, changed: changes.map((c) => `${c.id} ${c.from} -> ${c.to}`) })
  for (const c of changes)
    if (options.ids.includes(c.id)) log.warn('this process now has another address: restart it to listen there', { id: c.id, addr: c.to })
  running.readdress?.(changes)
  return changes
}

async function startRole(options: NodeOptions, modules: { logger?: Logger; signal?: AbortSignal }): Promise<Started> {
  const { logger, signal } = modules
  const log =
    logger ??
    createLogger({
      level: options.logLevel,
      bindings: { role: options.role, id: options.ids.length === 1 ? options.ids[0] : `${options.ids[0]}+${options.ids.length - 1}` }
    })
  const genesis = loadGenesis(options.configDir)
  const addresses = loadAddressBook({ configDir: options.configDir, file: options.addressBook }, genesis)
  // prom-client's process and Node.js metrics (CPU, memory, event-loop lag, GC) replace our own
  // resident-memory and start-time gauges: process_resident_memory_bytes, process_start_time_seconds.
  const metrics = new MetricsRegistry({ defaultMetrics: true })
  metrics
    .gauge('bbnp_info', 'Static information about this process', { labels: ['role', 'chain'] })
    .set(1, { role: options.role, chain: genesis.chainId })
  const build = buildInfo()
  metrics
    .gauge('bbnp_build_info', 'The build this process runs: version, git commit and Node.js version', {
      labels: ['version', 'commit', 'node']
    })
    .set(1, { version: build.version, commit: build.commit ?? 'unknown', node: build.node })
  // With it, an alert can say "no block for five slots" whatever the slot length.
  metrics.gauge('bbnp_slot_period_seconds', 'Length of a slot (the genesis period)').set(genesis.periodMs / 1000)
  const ctx = { options, genesis, addresses, logger: log, metrics, signal }
  const running = await (() => {
    switch (options.role) {
      case 'consensus':
        return startConsensusPeer({ ...ctx, key: loadKey(options.configDir, options.ids[0], genesis) })
      case 'gateway':
        return startGateway({ ...ctx, key: loadKey(options.configDir, options.ids[0], genesis) })
      case 'meter':
        return startMeters({ ...ctx, keys: options.ids.map((id) => loadKey(options.configDir, id, genesis)) })
      default:
        throw new BbnpError('CONFIG', `unknown role ${String(options.role)}`)
    }
  })()
  return { running, options, genesis, addresses, log }
}
