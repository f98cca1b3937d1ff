/**
 * One composition root for every role: `createNode(options)` loads and checks the genesis and the
 * key(s), builds the logger and metrics, and starts the role's runtime. Roles close in reverse
 * order of what they opened (API, network, store).
 */
import { BbnpError, createLogger, type Logger, MetricsRegistry } from '@bbnp/core'
import { buildInfo } from './build-info.ts'
import { loadGenesis } from './config.ts'
import { startConsensusPeer } from './consensus-peer.ts'
import type { RunningNode } from './runtime.ts'
import { startGateway } from './gateway-runtime.ts'
import { loadKey } from './keys.ts'
import { startMeters } from './meter-runtime.ts'
import type { NodeOptions } from './options.ts'

export async function createNode(options: NodeOptions, modules: { logger?: Logger; signal?: AbortSignal } = {}): Promise<RunningNode> {
  const { logger, signal } = modules
  const log =
    logger ??
    createLogger({
      level: options.logLevel,
      bindings: { role: options.role, id: options.ids.length === 1 ? options.ids[0] : `${options.ids[0]}+${options.ids.length - 1}` }
    })
  const genesis = loadGenesis(options.configDir)
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
  switch (options.role) {
    case 'consensus':
      return startConsensusPeer({
        options,
        genesis,
        key: loadKey(options.configDir, options.ids[0], genesis),
        logger: log,
        metrics,
        signal
      })
    case 'gateway':
      return startGateway({ options, genesis, key: loadKey(options.configDir, options.ids[0], genesis), logger: log, metrics, signal })
    case 'meter':
      return startMeters({
        options,
        genesis,
        keys: options.ids.map((id) => loadKey(options.configDir, id, genesis)),
        logger: log,
        metrics,
        signal
      })
    default:
      throw new BbnpError('CONFIG', `unknown role ${String(options.role)}`)
  }
}
