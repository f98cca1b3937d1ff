/**
 * Issue 13, the monitoring kit (configs/monitoring/): the Grafana dashboard and the alert rules
 * query only metrics that a running process exports. Every PromQL expression is parsed with the
 * Prometheus project's own grammar (@prometheus-io/lezer-promql); the metric of each vector
 * selector, and the labels it matches on or groups by, must be in the /metrics of every running
 * process of the role its `job` selects (prometheus.yml's job names), with no event needed first.
 * Where promtool is installed it also checks the Prometheus config, the alert rules, and the
 * dashboard's expressions (as recording rules, so with Prometheus's own parser and type checks).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { freePortRange } from '@bbnp/cli'
import { defaultApiPort } from '@bbnp/node'
import { parser } from '@prometheus-io/lezer-promql'
import { parse as parseYaml } from 'yaml'
import { readingsTable, ROOT, TestNetwork, waitFor } from './harness.ts'
import { networks } from './scope.ts'

type SyntaxNode = ReturnType<typeof parser.parse>['topNode']

const KIT = join(ROOT, 'configs', 'monitoring')
const nets = networks()

type Role = 'consensus' | 'gateway' | 'meter'
/** The job names of prometheus.yml, and the role each scrapes (bbnp-meters is commented out there: meters need --api-port). */
const JOBS: Record<string, Role> = { 'bbnp-consensus': 'consensus', 'bbnp-gateway': 'gateway', 'bbnp-meters': 'meter' }
/** Series Prometheus makes itself for each target, not found on /metrics. */
const SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped'])
/** Labels Prometheus attaches to every series of a target. */
const TARGET_LABELS = new Set(['job', 'instance'])

interface Query {
  where: string
  expr: string
}

interface Selector {
  metric: string
  matchers: { name: string; op: string; value: string }[]
  /** Labels an enclosing aggregation groups by (`sum by (reason) (...)`): they must be on the metric. */
  grouping: string[]
}

function dashboardQueries(): Query[] {
  const dashboard = JSON.parse(readFileSync(join(KIT, 'grafana-dashboard.json'), 'utf8')) as { panels: Panel[] }
  type Panel = { title?: string; panels?: Panel[]; targets?: { expr?: string }[] }
  const out: Query[] = []
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `dashboard panel "${p.title}"`, expr: t.expr })
      walk(p.panels ?? [])
    }
  }
  walk(dashboard.panels)
  return out
}

function alertQueries(): Query[] {
  const rules = parseYaml(readFileSync(join(KIT, 'alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }
  return rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })))
}

/** Grafana's interval variables, as Prometheus would see them. */
function asPromql(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '15s').replaceAll('$__range', '1h')
}

function unquote(literal: string): string {
  return JSON.parse(literal.startsWith("'") ? `"${literal.slice(1, -1).replaceAll('"', '\\"')}"` : literal) as string
}

/** The vector selectors of a PromQL expression; throws on a syntax error. */
function selectorsOf(promql: string): Selector[] {
  const tree = parser.parse(promql)
  const text = (n: SyntaxNode) => promql.slice(n.from, n.to)
  const errors: string[] = []
  const selectors: Selector[] = []
  tree.iterate({
    enter: (ref) => {
      if (ref.type.isError) errors.push(`syntax error at ${ref.from}: "${promql.slice(ref.from, ref.to + 10)}"`)
      if (ref.name !== 'VectorSelector') return
      const node = ref.node
      const id = node.getChild('Identifier')
      const matchers = (node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []).map((m) => ({
        name: text(m.getChild('LabelName')!),
        op: text(m.getChild('MatchOp')!),
        value: unquote(text(m.getChild('StringLiteral')!))
      }))
      const grouping: string[] = []
      for (let up = node.parent; up; up = up.parent) {
        const modifier = up.name === 'AggregateExpr' ? up.getChild('AggregateModifier') : null
        if (modifier?.getChild('By')) for (const l of modifier.getChild('GroupingLabels')!.getChildren('LabelName')) grouping.push(text(l))
      }
      if (!id) errors.push(`a selector without a metric name: ${text(node)}`)
      else selectors.push({ metric: text(id), matchers, grouping })
    }
  })
  if (errors.length > 0) throw new Error(errors.join('; '))
  return selectors
}

/** The roles whose processes a selector's `job` matcher reaches. */
function rolesOf(s: Selector): Role[] {
  const job = s.matchers.find((m) => m.name === 'job')
  if (!job) throw new Error(`${s.metric}: every selector of the kit names its job (one of ${Object.keys(JOBS).join(', ')})`)
  const re = new RegExp(`^(?:${job.value})$`)
  const hit = (name: string) =>
    job.op === '=' ? name === job.value : job.op === '!=' ? name !== job.value : job.op === '=~' ? re.test(name) : !re.test(name)
  const roles = Object.entries(JOBS)
    .filter(([name]) => hit(name))
    .map(([, role]) => role)
  if (roles.length === 0) throw new Error(`${s.metric}: job ${job.op}"${job.value}" selects none of ${Object.keys(JOBS).join(', ')}`)
  return roles
}

/** Sample names on a process's /metrics, each with the label names its samples carry. */
type Exported = Map<string, Set<string>>

function exported(text: string): Exported {
  const out: Exported = new Map()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]
    const labels = out.get(name) ?? new Set<string>()
    const body = line.startsWith('{', name.length) ? line.slice(name.length + 1, line.lastIndexOf('}')) : ''
    for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) labels.add(m[1])
    out.set(name, labels)
  }
  return out
}

/** What the kit queries and no process of the right role exports: one line per problem. */
function problems(queries: Query[], processes: { name: string; role: Role; metrics: Exported }[]): string[] {
  const out: string[] = []
  for (const q of queries) {
    let selectors: Selector[]
    try {
      selectors = selectorsOf(asPromql(q.expr))
    } catch (e) {
      out.push(`${q.where}: ${(e as Error).message}`)
      continue
    }
    for (const s of selectors) {
      let roles: Role[]
      try {
        roles = rolesOf(s)
      } catch (e) {
        out.push(`${q.where}: ${(e as Error).message}`)
        continue
      }
      if (SYNTHETIC.has(s.metric)) continue
      const labels = [...s.matchers.map((m) => m.name), ...s.grouping].filter((l) => !TARGET_LABELS.has(l))
      for (const p of processes.filter((x) => roles.includes(x.role))) {
        const own = p.metrics.get(s.metric)
        if (!own) out.push(`${q.where}: ${s.metric} is not on the /metrics of ${p.name}`)
        else for (const l of labels) if (!own.has(l)) out.push(`${q.where}: ${s.metric} on ${p.name} has no label "${l}"`)
      }
      if (!processes.some((x) => roles.includes(x.role))) out.push(`${q.where}: no running process of role ${roles.join(' or ')}`)
    }
  }
  return out
}

function promtool(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 })
  return { status: r.error ? null : r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

describe('the monitoring kit', () => {
  it('parses every expression; prometheus.yml scrapes the devnet that bbnp devnet starts by default', () => {
    const queries = [...dashboardQueries(), ...alertQueries()]
    assert.ok(queries.length >= 30, `${queries.length} expressions`)
    for (const q of queries) {
      assert.doesNotMatch(asPromql(q.expr), /\$/, `${q.where}: a Grafana variable Prometheus would not know`)
      assert.ok(selectorsOf(asPromql(q.expr)).length > 0, `${q.where}: ${q.expr}`)
    }
    assert.throws(() => selectorsOf('sum(rate(bbnp_slots_total[5m]) by (status)'), /syntax error/)

    const config = parseYaml(readFileSync(join(KIT, 'prometheus.yml'), 'utf8')) as {
      rule_files: string[]
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[]
    }
    assert.deepEqual(config.rule_files, ['alerts.yml'])
    const targets = Object.fromEntries(config.scrape_configs.map((c) => [c.job_name, c.static_configs.flatMap((s) => s.targets)]))
    assert.deepEqual(Object.keys(targets).sort(), ['bbnp-consensus', 'bbnp-gateway'])
    // bbnp devnet's default base port is 7100: the gateway on 7100, cn-j on 7100 + j, APIs at + 1000
    const api = (port: number) => `127.0.0.1:${defaultApiPort({ nodeAddress: () => ({ port }) })}`
    assert.deepEqual(targets['bbnp-gateway'], [api(7100)])
    assert.deepEqual(
      targets['bbnp-consensus'],
      [1, 2, 3, 4].map((j) => api(7100 + j))
    )
  })

  it('passes promtool: the config, the alert rules and the dashboard expressions', (t) => {
    if (promtool(['--version']).status !== 0) return t.skip('promtool is not installed (Debian package prometheus)')
    const config = promtool(['check', 'config', join(KIT, 'prometheus.yml')])
    assert.equal(config.status, 0, config.out)
    const dir = mkdtempSync(join(tmpdir(), 'bbnp-monitoring-'))
    try {
      // Recording rules: promtool parses and type-checks each expression as Prometheus would.
      const rules = dashboardQueries().map((q, i) => ({ record: `bbnp_dashboard:expr_${i}`, expr: asPromql(q.expr) }))
      writeFileSync(join(dir, 'dashboard.yml'), JSON.stringify({ groups: [{ name: 'dashboard', rules }] }))
      const checked = promtool(['check', 'rules', join(dir, 'dashboard.yml')])
      assert.equal(checked.status, 0, checked.out)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('queries only metrics that every running process of the right role exports', { timeout: 240_000 }, async () => {
    await nets.test(async () => {
      const net = await TestNetwork.create({ name: 'monitoring', meters: 4, consensus: 4 })
      nets.add(net)
      const readings = net.writeFile('readings.csv', readingsTable(4, 0, net.slotNow() + 600, 5).text)
      for (let j = 1; j <= 4; j++) net.start('consensus', `cn-${j}`)
      net.start('gateway', 'gateway')
      const meterApi = await freePortRange(1)
      net.start('meter', 'meter-1..meter-4', ['--readings', readings, '--api-port', String(meterApi)], 'meters-1')
      const ids = net.consensusIds()
      await net.waitHeight(3, ids, 120_000)

      const scrape = async (url: string) => {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
        assert.equal(res.status, 200, url)
        assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
        return exported(await res.text())
      }
      const processes = [
        ...(await Promise.all(
          ids.map(async (id) => ({
            name: id,
            role: 'consensus' as Role,
            metrics: await scrape(`http://127.0.0.1:${net.apiPort(id)}/metrics`)
          }))
        )),
        { name: 'gateway', role: 'gateway' as Role, metrics: await scrape(`http://127.0.0.1:${net.apiPort('gateway')}/metrics`) },
        {
          name: 'meters-1',
          role: 'meter' as Role,
          // nodejs_gc_duration_seconds has no series before the process's first garbage collection,
          // which a quiet meter process may not have had yet (its event-loop monitor samples every
          // 500 ms, EVENT_LOOP_MONITOR_MS, and allocates little): wait for it.
          metrics: await waitFor(
            'the meter API, after a first garbage collection',
            async () => {
              const m = await scrape(`http://127.0.0.1:${meterApi}/metrics`)
              return m.has('nodejs_gc_duration_seconds_sum') ? m : null
            },
            90_000,
            1000
          )
        }
      ]
      const queries = [...dashboardQueries(), ...alertQueries()]
      assert.deepEqual(problems(queries, processes), [])

      // The check can fail: a misspelt metric, an unknown label, a job that scrapes nothing.
      const wrong = [
        { where: 'typo', expr: 'max(bbnp_chain_heigth{job="bbnp-consensus"})' },
        { where: 'label', expr: 'sum by (reson) (rate(bbnp_reports_rejected_total{job="bbnp-gateway"}[5m]))' },
        { where: 'role', expr: 'bbnp_reports_accepted_total{job="bbnp-consensus"}' },
        { where: 'job', expr: 'bbnp_chain_height{job="bbnp-validators"}' }
      ]
      assert.deepEqual(problems(wrong, processes), [
        ...ids.map((id) => `typo: bbnp_chain_heigth is not on the /metrics of ${id}`),
        'label: bbnp_reports_rejected_total on gateway has no label "reson"',
        ...ids.map((id) => `role: bbnp_reports_accepted_total is not on the /metrics of ${id}`),
        'job: bbnp_chain_height: job ="bbnp-validators" selects none of bbnp-consensus, bbnp-gateway, bbnp-meters'
      ])
    })
  })
})
