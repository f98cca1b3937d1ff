import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { barChartSvg, lineChartSvg } from '../src/svg-plot.ts'

const BBNP = fileURLToPath(new URL('../../../bin/bbnp', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'bbnp-simulate-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function bbnp(...args: string[]) {
  const r = spawnSync(BBNP, args, { encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('bbnp simulate', () => {
  it('--help prints the usage and exits 0', () => {
    const r = bbnp('simulate', '--help')
    assert.equal(r.code, 0)
    assert.match(r.stdout, /usage: bbnp simulate reputation\|selection\|network/)
    assert.match(r.stdout, /--plot FILE\.svg/)
    assert.match(r.stdout, /--draws vrf\|hash/)
  })

  it('refuses a missing or unknown experiment, preset or flag with one line and exit code 2', () => {
    for (const args of [
      ['simulate'],
      ['simulate', 'weather'],
      ['simulate', 'reputation', '--preset', 'nope'],
      ['simulate', 'selection', '--draws', 'dice'],
      ['simulate', 'selection', '--nodes', 'x'],
      ['simulate', 'network', '--heights', '0'],
      ['simulate', 'network', '--honest', '1', '--liars', '0'],
      ['simulate', 'reputation', '--bogus']
    ]) {
      const r = bbnp(...args)
      assert.equal(r.code, 2, args.join(' '))
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.match(r.stderr, /^bbnp: /)
    }
  })

  it('reputation: prints the tables beside the paper and draws Fig. 9', () => {
    const plot = join(dir, 'fig9.svg')
    const r = bbnp('simulate', 'reputation', '--plot', plot)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /friendly nodes: mean reputation after each round/)
    assert.match(r.stdout, /E1\s+malicious\s+0\.53\s+0\.16\s+0\.530\s+0\.000/)
    const svg = readFileSync(plot, 'utf8')
    assert.match(svg, /^<svg /)
    assert.equal(svg.match(/<polyline /g)?.length, 7 * 3, 'three curves in each of seven panels')
  })

  it('reputation --json: seven experiments with a series per node type', () => {
    const r = bbnp('simulate', 'reputation', '--json', '--preset', 'turncoat', '--rounds', '20')
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout)
    assert.equal(j.preset, 'turncoat')
    assert.equal(j.experiments.length, 7)
    const e1 = j.experiments[0]
    assert.equal(e1.series.friendly.length, 21)
    assert.equal(e1.paper.malicious.end, 0.16)
    assert.ok(e1.series.malicious[20] > 0.1 && e1.series.malicious[20] < 0.25)
  })

  it('selection --json on real VRF draws, both rules, deterministic for a seed, with a histogram plot', () => {
    const plot = join(dir, 'rank.svg')
    const args = ['simulate', 'selection', '--nodes', '12', '--selections', '6', '--experiments', '2', '--seed', 't', '--json']
    const r = bbnp(...args, '--plot', plot)
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout)
    assert.equal(j.experiments.length, 2)
    assert.deepEqual(j.bins, ['1-3', '4-10', '11-20', '21-30', '31-'])
    assert.deepEqual(j.rules.paper, { election: 'paper', preselectTolerance: 0, historyHeights: 0 })
    assert.equal(j.rules.fair.election, 'fair')
    for (const rule of ['paper', 'fair']) {
      const e = j.experiments[0][rule]
      assert.equal(e.rule, rule)
      assert.equal(
        e.histogram.reduce((a: number, b: number) => a + b, 0),
        6
      )
      for (const k of ['topShare', 'gini', 'giniPreselected', 'belowMean']) assert.equal(typeof e[k], 'number', `${rule}.${k}`)
    }
    assert.deepEqual(JSON.parse(bbnp(...args).stdout), j)
    const svg = readFileSync(plot, 'utf8')
    assert.match(svg, /<rect [^>]*fill="#1b9e77"/)
    assert.match(svg, /fair rule/)
  })

  it('selection: the table VIII layout with the paper rows at 100 nodes and 50 selections, and both rules', () => {
    const r = bbnp('simulate', 'selection', '--draws', 'hash', '--experiments', '1')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /E1 paper\s+23\s+15\s+5\s+2\s+5/)
    assert.match(r.stdout, /E1 ours, paper rule(\s+\d+){5}/)
    assert.match(r.stdout, /E1 ours, fair rule(\s+\d+){5}/)
    assert.match(r.stdout, /top node share/)
    assert.match(r.stdout, /E1\s+paper\s+\d+\s+0\.\d{3}/)
    assert.match(r.stdout, /E1\s+fair\s+\d+\s+0\.\d{3}/)
  })

  it('selection, 100 nodes and 2,000 selections: the fair rule meets the targets beside the paper rule', () => {
    const r = bbnp('simulate', 'selection', '--draws', 'hash', '--experiments', '1', '--selections', '2000', '--json')
    assert.equal(r.code, 0, r.stderr)
    const [e] = JSON.parse(r.stdout).experiments
    assert.ok(e.fair.topShare <= 0.05 && e.fair.giniPreselected <= 0.3, JSON.stringify(e.fair).slice(0, 200))
    assert.ok(e.paper.topShare > 0.4 && e.paper.giniPreselected > 0.8)
  })

  it('network: both rules on a running network of honest peers and liars', () => {
    const r = bbnp('simulate', 'network', '--heights', '120', '--seed', 'cli')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /5 honest peers \(nodes 1-5\), 2 liars \(nodes 6-7\), 120 heights/)
    assert.match(r.stdout, /fair: heights led(\s+\d+){5}\s+0\s+0\s/)
    assert.match(r.stdout, /liars led 0 heights after falling out/)
    const j = JSON.parse(bbnp('simulate', 'network', '--heights', '120', '--seed', 'cli', '--json').stdout)
    assert.deepEqual(
      j.rules.map((x: { rule: string }) => x.rule),
      ['paper', 'fair']
    )
    const fair = j.rules[1]
    assert.deepEqual(fair.liarsOutFrom, [3, 3])
    assert.equal(
      fair.led.reduce((a: number, b: number) => a + b, 0),
      120
    )
  })
})

describe('svg plots', () => {
  it('draw one polyline per series and escape text', () => {
    const svg = lineChartSvg(
      [
        {
          title: 'a < b & c',
          x: [0, 1, 2],
          series: [
            { name: 's1', values: [0, 0.5, 1] },
            { name: 's2', values: [1, 0.5, 0] }
          ]
        }
      ],
      {
        title: 't',
        xLabel: 'x',
        yLabel: 'y'
      }
    )
    assert.equal(svg.match(/<polyline /g)?.length, 2)
    assert.match(svg, /a &lt; b &amp; c/)
    assert.doesNotMatch(svg, /NaN/)
  })
  it('draw one bar per series and category', () => {
    const svg = barChartSvg({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      categories: ['a', 'b', 'c'],
      series: [
        { name: 'p', values: [1, 2, 3] },
        { name: 'q', values: [0, 0, 0] }
      ]
    })
    assert.equal(svg.match(/<rect [^>]*><title>/g)?.length, 6)
    assert.doesNotMatch(svg, /NaN/)
  })
})
