/**
 * Metrics: a thin adapter over prom-client, the Prometheus project's standard client for Node.js.
 * One `MetricsRegistry` per process (never prom-client's global registry, so that tests running
 * several nodes in one process keep their numbers apart); libp2p and gossipsub register their own
 * metrics on the same registry (`registry`, see @bbnp/network's libp2p-factory.ts).
 *
 * Names carry their unit (`bbnp_commit_latency_seconds`), counters end in `_total`, and labels are
 * small fixed sets (reasons, statuses, topics). A labelled counter declares the values it knows
 * in advance, and each of those series is exported at 0 from the start: a rate() or increase()
 * then sees the first event too, and a dashboard shows "0 rejected", not "no data".
 */
import { collectDefaultMetrics, Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry } from 'prom-client'

export type Labels<L extends string = string> = Record<L, string>

/** A metric's label set: none for a metric declared without labels (so that a label cannot slip in unseen). */
export type LabelsOf<L extends string> = [L] extends [never] ? undefined : Labels<L>

/**
 * A metric's labels: their names only (`['version', 'commit']`), or each name with the values it
 * is known to take (`{ reason: REJECT_CODES }`); every combination of known values starts at 0. A
 * name given `[]` takes its values as they occur.
 */
export type LabelDeclaration<L extends string> = readonly L[] | Readonly<Record<L, readonly string[]>>

export interface CounterOptions<L extends string> {
  labels?: LabelDeclaration<L>
  /** Label sets that start at 0 besides the combinations of `labels`, when only some combinations can occur. */
  initial?: readonly Labels<L>[]
}

export interface GaugeOptions<L extends string> {
  labels?: LabelDeclaration<L>
  /** Called on every scrape, before the gauge is read: set its value(s) here. */
  collect?: () => void
}

function labelNames<L extends string>(declared: LabelDeclaration<L> | undefined): L[] {
  if (declared === undefined) return []
  return Array.isArray(declared) ? [...(declared as readonly L[])] : (Object.keys(declared) as L[])
}

/** Every combination of the declared values (none when a label's values are not known in advance). */
function combinations<L extends string>(declared: LabelDeclaration<L> | undefined): Labels<L>[] {
  if (declared === undefined || Array.isArray(declared)) return []
  let out: Record<string, string>[] = [{}]
  for (const [name, values] of Object.entries(declared as Record<string, readonly string[]>))
    out = out.flatMap((partial) => values.map((v) => ({ ...partial, [name]: v })))
  return Object.keys(declared).length === 0 ? [] : (out as Labels<L>[])
}

/** The value of one label set in a metric's samples (0 when it has none), for tests. */
async function valueOf(metric: PromCounter | PromGauge, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await metric.get()
  const wanted = Object.entries(labels)
  const found = values.find((s) => {
    const own = s.labels as Record<string, string | number | undefined>
    return wanted.length === Object.keys(own).length && wanted.every(([k, v]) => String(own[k]) === v)
  })
  return found?.value ?? 0
}

export class Counter<L extends string = string> {
  readonly type = 'counter'
  readonly name: string
  private readonly prom: PromCounter<L>
  private readonly initial: Labels<L>[]

  constructor(registry: Registry, name: string, help: string, options: CounterOptions<L> = {}) {
    this.name = name
    this.prom = new PromCounter<L>({ name, help, labelNames: labelNames(options.labels), registers: [registry] })
    this.initial = [...combinations(options.labels), ...(options.initial ?? [])]
    this.reset()
  }

  inc(labels?: LabelsOf<L>, by = 1): void {
    if (labels === undefined) this.prom.inc(by)
    else this.prom.inc(labels as Labels<L>, by)
  }

  /**
   * Back to 0, the declared label sets included: for a counter that mirrors a total kept
   * elsewhere (reset, then `inc` by the total, in one synchronous step).
   */
  reset(): void {
    this.prom.reset()
    for (const labels of this.initial) this.prom.inc(labels, 0)
  }

  /** The current value of one label set (0 if it has none). */
  get(labels?: Partial<Labels<L>>): Promise<number> {
    return valueOf(this.prom as PromCounter, labels as Record<string, string>)
  }
}

export class Gauge<L extends string = string> {
  readonly type = 'gauge'
  readonly name: string
  private readonly prom: PromGauge<L>

  constructor(registry: Registry, name: string, help: string, options: GaugeOptions<L> = {}) {
    this.name = name
    const collect = options.collect
    this.prom = new PromGauge<L>({
      name,
      help,
      labelNames: labelNames(options.labels),
      registers: [registry],
      ...(collect ? { collect: () => collect() } : {})
    })
    for (const labels of combinations(options.labels)) this.prom.set(labels, 0)
  }

  set(value: number, labels?: LabelsOf<L>): void {
    if (labels === undefined) this.prom.set(value)
    else this.prom.set(labels as Labels<L>, value)
  }

  /** The current value of one label set (0 if it has none); runs `collect` first. */
  get(labels?: Partial<Labels<L>>): Promise<number> {
    return valueOf(this.prom as PromGauge, labels as Record<string, string>)
  }
}

export class Histogram {
  readonly type = 'histogram'
  readonly name: string
  private readonly prom: PromHistogram

  constructor(registry: Registry, name: string, help: string, buckets: number[]) {
    this.name = name
    this.prom = new PromHistogram({ name, help, buckets: [...buckets].sort((a, b) => a - b), registers: [registry] })
  }

  observe(value: number): void {
    this.prom.observe(value)
  }
}

type Metric = Counter<string> | Gauge<string> | Histogram

export interface MetricsRegistryOptions {
  /**
   * prom-client's default process and Node.js metrics (CPU seconds, resident memory, open file
   * descriptors, heap, event-loop lag, GC): once per process, by the composition root. Each
   * registry that has them keeps an event-loop monitor and a GC observer for the life of the
   * process, so tests that make many registries leave them out.
   */
  defaultMetrics?: boolean
}

/**
 * How often the event-loop monitor behind nodejs_eventloop_lag_* samples, in ms. prom-client's
 * default, 10 ms, wakes an idle process 100 times a second; each wake-up of an idle process costs
 * about 0.1 ms of CPU on this project's 2-core VM: 5 ms/s at 10 ms, 1 ms/s at 100 ms, 0.2 ms/s at
 * 500 ms (docs/performance.md, issue 15). Each sample is the whole interval between two wake-ups,
 * so the lag figures read about 0.5 s when the loop is free (alerts.yml's threshold allows for
 * it); a stall of the loop still shows, by how much it exceeds that.
 */
export const EVENT_LOOP_MONITOR_MS = 500

export class MetricsRegistry {
  /** The prom-client registry underneath: libp2p's and gossipsub's own metrics register here too. */
  readonly registry = new Registry()
  private readonly metrics = new Map<string, Metric>()

  constructor(options: MetricsRegistryOptions = {}) {
    if (options.defaultMetrics === true)
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_MONITOR_MS })
  }

  /** A counter; asked again by name, the same counter. */
  counter<L extends string = never>(name: string, help: string, options: CounterOptions<L> = {}): Counter<L> {
    return this.register(name, 'counter', () => new Counter<L>(this.registry, name, help, options))
  }

  /** A gauge; asked again by name, the same gauge. */
  gauge<L extends string = never>(name: string, help: string, options: GaugeOptions<L> = {}): Gauge<L> {
    return this.register(name, 'gauge', () => new Gauge<L>(this.registry, name, help, options))
  }

  /** A histogram (no labels) with these bucket bounds; asked again by name, the same histogram. */
  histogram(name: string, help: string, buckets: number[]): Histogram {
    return this.register(name, 'histogram', () => new Histogram(this.registry, name, help, buckets))
  }

  private register<M extends Metric>(name: string, type: Metric['type'], make: () => M): M {
    const existing = this.metrics.get(name)
    if (existing) {
      if (existing.type !== type) throw new Error(`metric ${name} registered twice with different types`)
      return existing as M
    }
    const m = make()
    this.metrics.set(name, m)
    return m
  }

  /** Every metric of the registry in the Prometheus text format (version 0.0.4). */
  render(): Promise<string> {
    return this.registry.metrics()
  }

  /** The content type of `render()`'s text. */
  get contentType(): string {
    return this.registry.contentType
  }
}

/** The sum of a metric's samples in Prometheus text whose labels include `labels` (for tests and the benchmark). */
export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
    total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}
