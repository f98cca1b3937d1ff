/**
 * libp2p's and gossipsub's own metrics, on the node's prom-client registry (the one /metrics
 * serves): libp2p through its Prometheus integration, @libp2p/prometheus-metrics (connections,
 * streams per protocol, bytes sent and received, dials); gossipsub 14 through the `metricsRegister`
 * option (mesh and topic peers, RPCs, validation results, scores), which it does not take from
 * libp2p's metrics: it needs a register of gauges, histograms and avg/min/max, given here.
 */
import type { MetricsRegister, TopicStrToLabel } from '@chainsafe/libp2p-gossipsub/metrics'
import { Gauge, Histogram, type Registry } from 'prom-client'

type PrometheusMetricsModule = typeof import('@libp2p/prometheus-metrics')

const instances = new WeakMap<Registry, Promise<PrometheusMetricsModule>>()
let loaded = 0

/**
 * @libp2p/prometheus-metrics keeps the metrics it made in a map of its module, shared by every
 * libp2p node of the process, whatever registry each was given: a second node in one process (the
 * tests run several) would count into the first node's registry. Node.js loads a module again
 * for another query string in its URL, so each registry gets its own instance of the module, and
 * its own map. A process that runs one node (every role) loads it once.
 */
function prometheusModule(registry: Registry): Promise<PrometheusMetricsModule> {
  let module = instances.get(registry)
  if (module === undefined) {
    const url = import.meta.resolve('@libp2p/prometheus-metrics')
    module = import(loaded === 0 ? url : `${url}?registry=${loaded}`) as Promise<PrometheusMetricsModule>
    loaded++
    instances.set(registry, module)
  }
  return module
}

/** libp2p's metrics (the `metrics` of createLibp2p), registered on `registry`. */
export async function libp2pMetrics(registry: Registry): Promise<ReturnType<PrometheusMetricsModule['prometheusMetrics']>> {
  const { prometheusMetrics } = await prometheusModule(registry)
  // Not its default metrics: the registry has prom-client's already (MetricsRegistry). Not its
  // reset of the global registry either (`preserveExistingMetrics`), which is not ours to clear.
  return prometheusMetrics({ registry, collectDefaultMetrics: false, preserveExistingMetrics: true })
}

type AnyLabels = Record<string, string | number>
type CollectingGauge = Gauge & { addCollect(fn: (g: Gauge) => void): void }

const collectsOf = new WeakMap<Gauge, ((g: Gauge) => void)[]>()

/** A gauge of gossipsub's: prom-client's, and gossipsub's collect functions run on each scrape. */
function collectingGauge(registry: Registry, config: { name: string; help: string; labelNames?: string[] }): CollectingGauge {
  const existing = registry.getSingleMetric(config.name) as Gauge | undefined
  if (existing !== undefined && collectsOf.has(existing)) return existing as CollectingGauge
  const collects: ((g: Gauge) => void)[] = []
  const gauge: Gauge = new Gauge({
    name: config.name,
    help: config.help,
    labelNames: config.labelNames ?? [],
    registers: [registry],
    collect: () => {
      for (const c of collects) c(gauge)
    }
  })
  collectsOf.set(gauge, collects)
  return Object.assign(gauge, { addCollect: (fn: (g: Gauge) => void) => void collects.push(fn) })
}

/**
 * The register gossipsub 14 asks for (its `MetricsRegister`), over prom-client. An avg/min/max
 * is three gauges, `<name>_avg`, `<name>_min` and `<name>_max`, as in Lodestar. Asked twice for
 * one name (two nodes on one registry, in tests), it gives the metric it made first.
 */
export function gossipsubMetricsRegister(registry: Registry): MetricsRegister {
  const register = {
    gauge: (config: { name: string; help: string; labelNames?: string[] }) => collectingGauge(registry, config),
    histogram: (config: { name: string; help: string; labelNames?: string[]; buckets?: number[] }) =>
      (registry.getSingleMetric(config.name) as Histogram | undefined) ??
      new Histogram({
        name: config.name,
        help: config.help,
        labelNames: config.labelNames ?? [],
        ...(config.buckets ? { buckets: config.buckets } : {}),
        registers: [registry]
      }),
    avgMinMax: (config: { name: string; help: string; labelNames?: string[] }) => {
      const part = (suffix: string, what: string) =>
        collectingGauge(registry, { ...config, name: `${config.name}_${suffix}`, help: `${config.help} (${what})` })
      const avg = part('avg', 'average')
      const min = part('min', 'minimum')
      const max = part('max', 'maximum')
      return {
        set: (...args: [AnyLabels, number[]] | [number[]]) => {
          const [labels, values] = args.length === 2 ? args : [undefined, args[0]]
          if (values.length === 0) return
          let sum = 0
          for (const v of values) sum += v
          const stats: [Gauge, number][] = [
            [avg, sum / values.length],
            [min, Math.min(...values)],
            [max, Math.max(...values)]
          ]
          for (const [g, v] of stats) {
            if (labels === undefined) g.set(v)
            else g.set(labels, v)
          }
        }
      }
    }
  }
  return register as unknown as MetricsRegister
}

/** Gossipsub's topic label: the topic's own name, as in bbnp_gossip_messages_total{topic}. */
export function gossipsubTopicLabels(topics: readonly string[]): TopicStrToLabel {
  return new Map(topics.map((t) => [t, t]))
}
