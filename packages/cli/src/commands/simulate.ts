/**
 * `bbnp simulate reputation|selection|network`: the paper's reputation experiments (VI-C, Fig. 9,
 * tables VI and VII) and primary-selection experiment (VI-D, table VIII), run through
 * @bbnp/reputation's production code, printed beside the paper's published numbers; the selection
 * with the paper's rule and the fair rule side by side; and a running network of honest peers and
 * liars under both rules.
 */
import { writeFileSync } from 'node:fs'
import { UsageError } from '@bbnp/core'
import {
  DEFAULT_NETWORK_SIM,
  DEFAULT_REPUTATION_SIM,
  DEFAULT_SELECTION_SIM,
  type ElectionRule,
  FIG9_EXPERIMENTS,
  MESSAGES_PER_ROUND,
  NODE_BEHAVIOUR,
  NODE_TYPES,
  type NodeType,
  PAPER_FIG9,
  PAPER_TABLE_VIII,
  RANK_BINS,
  REPUTATION_PRESETS,
  reputationPreset,
  SELECTION_RULES,
  type SelectionExperimentResult,
  simulateNetwork,
  simulateReputation,
  simulateSelection
} from '@bbnp/reputation'
import { intFlag, parseFlags } from '../args.ts'
import { barChartSvg, lineChartSvg, PALETTE } from '../svg-plot.ts'

const FAIR = reputationPreset('fair')

export const SIMULATE_USAGE = `usage: bbnp simulate reputation|selection|network [flags]

  reputation   the paper's Fig. 9: friendly, intermediate and malicious nodes under the weight
               settings of tables VI and VII (experiments 1-7), reputation per round
  selection    the paper's table VIII: 100 consensus nodes, 3 experiments of 50 primary
               selections, the reputation rank of each primary, plus fairness figures, for the
               paper's rule (highest reputation in P) and the fair rule (reputation-weighted
               lottery in P, tolerance ${FAIR.preselectTolerance}) side by side on the same draws
  network      a running network: honest peers and liars (wrong prepare and commit signatures
               at every height) through records, opinions, equation (2) and the election,
               under both rules: who leads, and when the liars fall out

flags:
  --preset NAME      reputation only: ${Object.entries(REPUTATION_PRESETS)
    .map(([k, p]) => `\n                       ${k.padEnd(9)} ${p.description}`)
    .join('')}
                     (default: paper)
  --rounds N         reputation only: rounds to simulate (default ${DEFAULT_REPUTATION_SIM.rounds})
  --nodes N          selection only: consensus nodes (default ${DEFAULT_SELECTION_SIM.nodes})
  --selections N     selection only: selections per experiment (default ${DEFAULT_SELECTION_SIM.selections})
  --experiments N    selection only: experiments (default ${DEFAULT_SELECTION_SIM.experiments})
  --draws vrf|hash   selection only: real BLS VRF draws (default) or fast SHA-256 stand-ins (same
                     distribution). Use hash for --selections 10000: the VRF signs about 60 draws
                     per selection, about 30 ms, so 3 x 10,000 selections take about 15 minutes
                     (hash: about 20 seconds)
  --honest N         network only: honest peers (default ${DEFAULT_NETWORK_SIM.honest})
  --liars N          network only: lying peers (default ${DEFAULT_NETWORK_SIM.liars})
  --heights N        network only: heights (default ${DEFAULT_NETWORK_SIM.heights})
  --seed S           selection and network: seed of the keys, reputations, block seeds and losses (default "${DEFAULT_SELECTION_SIM.seed}");
                     the reputation experiments are deterministic and need none
  --json             print the results as JSON
  --plot FILE.svg    also draw the figure (reputation curves, or the rank histogram)
  -h, --help         this text`

const FLAGS = {
  preset: { type: 'string' },
  rounds: { type: 'string' },
  nodes: { type: 'string' },
  selections: { type: 'string' },
  experiments: { type: 'string' },
  draws: { type: 'string' },
  honest: { type: 'string' },
  liars: { type: 'string' },
  heights: { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'boolean' },
  plot: { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const

function out(s: string): void {
  process.stdout.write(`${s}\n`)
}

function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String))
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)))
  return cells.map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ')).join('\n')
}

const f3 = (x: number) => x.toFixed(3)
const pair = (a: number, b: number) => `${a}/${b}`

function writePlot(file: string, svg: string): void {
  try {
    writeFileSync(file, svg)
  } catch (e) {
    throw new UsageError('IO', `cannot write ${file}: ${(e as Error).message}`)
  }
}

function runReputation(values: ReturnType<typeof parseFlags<typeof FLAGS>>['values']): number {
  const presetName = values.preset ?? 'paper'
  const preset = REPUTATION_PRESETS[presetName]
  if (!preset) throw new UsageError('USAGE', `unknown preset "${presetName}" (try: ${Object.keys(REPUTATION_PRESETS).join(', ')})`)
  const options = {
    ...DEFAULT_REPUTATION_SIM,
    ...preset.options,
    rounds: intFlag(values.rounds, '--rounds', DEFAULT_REPUTATION_SIM.rounds, 1, 1000)
  }
  const runs = FIG9_EXPERIMENTS.map((e) => ({ experiment: e, series: simulateReputation(e.weights, options) }))

  if (values.plot) {
    const x = Array.from({ length: options.rounds + 1 }, (_, k) => k)
    const panels = runs.map(({ experiment: e, series }) => ({
      title: `E${e.id}: P/N ${pair(e.weights.positive, e.weights.negative)}, R/P ${pair(e.weights.recent, e.weights.past)}`,
      x,
      series: NODE_TYPES.map((t, i) => ({ name: t, values: series[t], color: PALETTE[i] })),
      points: NODE_TYPES.flatMap((t, i) => {
        const p = PAPER_FIG9[e.id]?.[t]
        return p ? [{ x: options.rounds, y: p.end, color: PALETTE[i] }] : []
      })
    }))
    writePlot(
      values.plot,
      lineChartSvg(panels, {
        title: `Node reputation per round (paper Fig. 9), preset "${presetName}"`,
        xLabel: 'round',
        yLabel: 'reputation',
        columns: 4,
        pointsLabel: "paper's stated end value"
      })
    )
  }

  if (values.json) {
    out(
      JSON.stringify(
        {
          preset: presetName,
          description: preset.description,
          options,
          experiments: runs.map(({ experiment: e, series }) => ({
            id: e.id,
            table: e.table,
            weights: e.weights,
            series,
            paper: PAPER_FIG9[e.id] ?? {}
          }))
        },
        null,
        2
      )
    )
    return 0
  }

  const m = 3 * options.nodesPerType
  out(`Reputation experiments (paper VI-C, Fig. 9, tables VI and VII), preset "${presetName}": ${preset.description}`)
  out(
    `${m} nodes (${options.nodesPerType} of each type), ${options.rounds} rounds, ${MESSAGES_PER_ROUND} messages per node and observer per round, ` +
      `T_recent = ${options.recentHeights} rounds, every reputation starts at ${options.initialReputation}`
  )
  for (const t of NODE_TYPES) out(`  ${t.padEnd(12)} ${NODE_BEHAVIOUR[t]}`)
  out('')
  const weightRows = runs.map(({ experiment: { id, table: t, weights: w } }) => [
    `E${id}`,
    t,
    pair(w.positive, w.negative),
    pair(w.fast, w.slow),
    pair(w.wrong, w.untimely),
    pair(w.recent, w.past)
  ])
  out(table([['exp', 'table', 'P/N', 'F/S', 'W/U', 'R/P'], ...weightRows]))
  for (const t of NODE_TYPES) {
    out('')
    out(`${t} nodes: mean reputation after each round`)
    const rows: (string | number)[][] = [['round', ...runs.map(({ experiment: e }) => `E${e.id}`)]]
    for (let r = 0; r <= options.rounds; r++) rows.push([r, ...runs.map(({ series }) => f3(series[t][r]))])
    out(table(rows))
  }
  out('')
  out('Start and end beside the paper (the paper states only these; "-" where it gives no number):')
  const rows: string[][] = [['exp', 'node type', 'paper start', 'paper end', 'ours start', 'ours end']]
  for (const { experiment: e, series } of runs) {
    for (const t of NODE_TYPES) {
      const p = PAPER_FIG9[e.id]?.[t as NodeType]
      rows.push([`E${e.id}`, t, p ? p.start.toFixed(2) : '-', p ? p.end.toFixed(2) : '-', f3(series[t][0]), f3(series[t][options.rounds])])
    }
  }
  out(table(rows))
  if (values.plot) out(`\nwrote ${values.plot}`)
  return 0
}

function runSelection(values: ReturnType<typeof parseFlags<typeof FLAGS>>['values']): number {
  const draws = values.draws ?? DEFAULT_SELECTION_SIM.draws
  if (draws !== 'vrf' && draws !== 'hash') throw new UsageError('USAGE', `--draws must be vrf or hash, got "${draws}"`)
  const options = {
    nodes: intFlag(values.nodes, '--nodes', DEFAULT_SELECTION_SIM.nodes, 2, 10_000),
    selections: intFlag(values.selections, '--selections', DEFAULT_SELECTION_SIM.selections, 1, 100_000),
    experiments: intFlag(values.experiments, '--experiments', DEFAULT_SELECTION_SIM.experiments, 1, 100),
    seed: values.seed ?? DEFAULT_SELECTION_SIM.seed,
    draws: draws as 'vrf' | 'hash'
  }
  const results = simulateSelection(options)
  const bins = RANK_BINS.map(([lo, hi]) => (Number.isFinite(hi) ? `${lo}-${hi}` : `${lo}-`))
  const paperRows = options.nodes === 100 && options.selections === 50 ? PAPER_TABLE_VIII : []
  const rules = Object.fromEntries(
    SELECTION_RULES.map((r) => {
      const p = reputationPreset(r)
      return [r, { election: p.election, preselectTolerance: p.preselectTolerance, historyHeights: p.historyHeights }]
    })
  )

  if (values.plot) {
    const series = [
      ...results.map((r, k) => ({ name: `ours E${k + 1}, paper rule`, values: r.paper.histogram, color: PALETTE[k % 3] })),
      ...paperRows
        .slice(0, results.length)
        .map((row, k) => ({ name: `paper E${k + 1}`, values: row, color: ['#8fd3be', '#f4b183', '#bcb8dd'][k] })),
      ...results.map((r, k) => ({ name: `ours E${k + 1}, fair rule`, values: r.fair.histogram, color: PALETTE[3 + (k % 3)] }))
    ]
    writePlot(
      values.plot,
      barChartSvg({
        title: `Rank of the primary (table VIII): ${options.nodes} nodes, ${options.selections} selections each, paper's and fair rule`,
        xLabel: 'reputation rank of the primary',
        yLabel: 'selections',
        categories: bins,
        series
      })
    )
  }

  if (values.json) {
    out(JSON.stringify({ options, rules, bins, paper: paperRows, experiments: results }, null, 2))
    return 0
  }

  out(
    `Primary selection (paper VI-D, table VIII): ${options.nodes} nodes, ${options.experiments} experiment(s) of ${options.selections} selections`
  )
  out(
    `draws: ${options.draws === 'vrf' ? 'BLS VRF signatures (PROTOCOL 4.1)' : 'SHA-256 stand-ins'}, seed "${options.seed}"; reputations uniform in [0,1], fixed per experiment`
  )
  out(`rules, on the same reputations and draws:`)
  out(`  paper  pre-selected: Gamma >= T (the mean); primary: the highest reputation in P (P empty: the highest X)`)
  out(
    `  fair   pre-selected: Gamma >= T - ${FAIR.preselectTolerance}; primary: a reputation-weighted lottery in P (P empty: the highest X)`
  )
  out('')
  const rows: (string | number)[][] = [['rank of the primary', ...bins]]
  results.forEach((r: SelectionExperimentResult, k) => {
    rows.push([`E${k + 1} ours, paper rule`, ...r.paper.histogram])
    if (paperRows[k]) rows.push([`E${k + 1} paper`, ...paperRows[k]])
    rows.push([`E${k + 1} formula (uniform draws)`, ...r.expected.map((v) => v.toFixed(1))])
    rows.push([`E${k + 1} ours, fair rule`, ...r.fair.histogram])
  })
  out(table(rows))
  out('')
  out('Fairness (top node: the one that led most often; led below T: share led by nodes under the mean):')
  const fairnessRows: (string | number)[][] = [
    [
      'exp',
      'rule',
      'pre-selected',
      'top node share',
      'Gini (all nodes)',
      'Gini (pre-selected)',
      'led below T',
      'P empty',
      'distinct primaries'
    ]
  ]
  results.forEach((r, k) => {
    for (const rule of SELECTION_RULES) {
      const x = r[rule as ElectionRule]
      fairnessRows.push([
        `E${k + 1}`,
        rule,
        x.preselected,
        f3(x.topShare),
        f3(x.gini),
        f3(x.giniPreselected),
        f3(x.belowMean),
        x.emptyP,
        x.distinct
      ])
    }
  })
  out(table(fairnessRows))
  if (values.plot) out(`\nwrote ${values.plot}`)
  return 0
}

function runNetwork(values: ReturnType<typeof parseFlags<typeof FLAGS>>['values']): number {
  const options = {
    honest: intFlag(values.honest, '--honest', DEFAULT_NETWORK_SIM.honest, 1, 100),
    liars: intFlag(values.liars, '--liars', DEFAULT_NETWORK_SIM.liars, 0, 100),
    heights: intFlag(values.heights, '--heights', DEFAULT_NETWORK_SIM.heights, 1, 100_000),
    seed: values.seed ?? DEFAULT_NETWORK_SIM.seed
  }
  if (options.honest + options.liars < 2) throw new UsageError('USAGE', 'a network needs at least two peers')
  const runs = SELECTION_RULES.map((rule) => ({ rule, result: simulateNetwork({ ...options, params: reputationPreset(rule) }) }))
  const m = options.honest + options.liars
  if (values.json) {
    out(
      JSON.stringify(
        {
          options: { ...DEFAULT_NETWORK_SIM, ...options },
          rules: runs.map(({ rule, result }) => ({
            rule,
            led: result.stats.led,
            topShare: result.stats.topShare,
            gini: result.stats.gini,
            honestShares: result.honestShares,
            honestGini: result.honestGini,
            liarsOutFrom: result.liarsOutFrom,
            liarLeadsAfterFall: result.liarLeadsAfterFall,
            finalReputations: result.reputations[result.reputations.length - 1]
          }))
        },
        null,
        2
      )
    )
    return 0
  }
  out(
    `A running network: ${options.honest} honest peers (nodes 1-${options.honest}), ${options.liars} liars` +
      `${options.liars > 0 ? ` (nodes ${options.honest + 1}-${m})` : ''}, ${options.heights} heights, seed "${options.seed}"`
  )
  out(
    `honest peers lose ${DEFAULT_NETWORK_SIM.missRate * 100}% of their messages at random and node 1 misses height 1; ` +
      'liars sign every prepare and commit wrongly (valid draw and pre-prepare)'
  )
  out('')
  const rows: (string | number)[][] = [['rule', ...Array.from({ length: m }, (_, k) => `cn-${k + 1}`), 'Gini (honest)', 'liars out from']]
  for (const { rule, result } of runs) {
    rows.push([`${rule}: heights led`, ...result.stats.led, f3(result.honestGini), result.liarsOutFrom.map((h) => h ?? '-').join(' ')])
    rows.push([`${rule}: final reputation`, ...result.reputations[result.reputations.length - 1].map((r) => (r / 1e9).toFixed(4)), '', ''])
  }
  out(table(rows))
  for (const { rule, result } of runs) {
    const shares = result.honestShares.map((x) => x * options.honest)
    out(
      `${rule}: honest shares ${Math.min(...shares).toFixed(2)}x-${Math.max(...shares).toFixed(2)}x of 1/${options.honest}, ` +
        `liars led ${result.liarLeadsAfterFall} heights after falling out`
    )
  }
  return 0
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS, { positionals: 1 })
  if (values.help) {
    out(SIMULATE_USAGE)
    return 0
  }
  const what = positionals[0]
  if (what === 'reputation') return runReputation(values)
  if (what === 'selection') return runSelection(values)
  if (what === 'network') return runNetwork(values)
  throw new UsageError(
    'USAGE',
    what === undefined
      ? 'simulate what? reputation, selection or network (see bbnp simulate --help)'
      : `unknown experiment "${what}" (try: reputation, selection, network)`
  )
}
