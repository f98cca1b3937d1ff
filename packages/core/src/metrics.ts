/**
 * A minimal metrics registry rendering the Prometheus text format (version 0.0.4). Names carry
 * their unit (`bbnp_commit_latency_seconds`); labels are small, fixed sets (reason codes, topics).
 */
type Labels = Record<string, string>

function labelKey(labels: Labels | undefined): string {
  if (!labels) return ''
  const keys = Object.keys(labels).sort()
  if (keys.length === 0) return ''
  return `{${keys.map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`
}

interface Metric {
  name: string
  help: string
  type: 'counter' | 'gauge' | 'histogram'
  render(): string[]
}

export class Counter implements Metric {
  readonly type = 'counter'
  readonly values = new Map<string, number>()
  readonly name: string
  readonly help: string
  constructor(name: string, help: string) {
    this.name = name
    this.help = help
  }
  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels)
    this.values.set(k, (this.values.get(k) ?? 0) + by)
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0
  }
  render(): string[] {
    return [...this.values].map(([k, v]) => `${this.name}${k} ${v}`)
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge'
  readonly values = new Map<string, number>()
  readonly name: string
  readonly help: string
  private collect?: () => void
  constructor(name: string, help: string, collect?: () => void) {
    this.name = name
    this.help = help
    this.collect = collect
  }
  set(v: number, labels?: Labels): void {
    this.values.set(labelKey(labels), v)
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0
  }
  render(): string[] {
    this.collect?.()
    return [...this.values].map(([k, v]) => `${this.name}${k} ${v}`)
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram'
  readonly name: string
  readonly help: string
  readonly buckets: number[]
  private counts: number[]
  private sum = 0
  private count = 0
  constructor(name: string, help: string, buckets: number[]) {
    this.name = name
    this.help = help
    this.buckets = [...buckets].sort((a, b) => a - b)
    this.counts = this.buckets.map(() => 0)
  }
  observe(v: number): void {
    this.sum += v
    this.count++
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) this.counts[i]++
  }
  get total(): number {
    return this.count
  }
  render(): string[] {
    const lines = this.buckets.map((b, i) => `${this.name}_bucket{le="${b}"} ${this.counts[i]}`)
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`)
    return lines
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>()

  counter(name: string, help: string): Counter {
    return this.register(new Counter(name, help))
  }
  gauge(name: string, help: string, collect?: () => void): Gauge {
    return this.register(new Gauge(name, help, collect))
  }
  histogram(name: string, help: string, buckets: number[]): Histogram {
    return this.register(new Histogram(name, help, buckets))
  }

  private register<M extends Metric>(m: M): M {
    const existing = this.metrics.get(m.name)
    if (existing) {
      if (existing.type !== m.type) throw new Error(`metric ${m.name} registered twice with different types`)
      return existing as M
    }
    this.metrics.set(m.name, m)
    return m
  }

  render(): string {
    const out: string[] = []
    for (const m of this.metrics.values()) {
      out.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render())
    }
    return `${out.join('\n')}\n`
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
