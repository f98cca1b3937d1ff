/**
 * The scale part of `bbnp bench`'s text report (bench/consensus-scale.ts measures). Apart so that
 * the report can be written without loading the node runtime the measurement needs.
 */
import type { ScaleBench } from './consensus-scale.ts'

const fx = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-')

/** The scale part of the text report. */
export function scaleText(s: ScaleBench, table: (rows: (string | number)[][]) => string): string[] {
  const out: string[] = []
  out.push(
    '4. Scale of the committee (paper V-D, issue 15): M pure replicas in this process (no sockets, the same verification code), all honest'
  )
  out.push(
    table([
      [
        'M',
        'CPU per block and peer',
        'busiest peer',
        'all peers',
        'one by one (est.)',
        'published',
        'delivered',
        'bytes',
        'signatures / calls per peer'
      ],
      ...s.rows.map((r) => [
        r.m,
        `${fx(r.cpuMsPerBlockPerPeer, 1)} ms`,
        `${fx(r.cpuMsPerBlockMaxPeer, 1)} ms`,
        `${fx(r.cpuMsPerBlockAllPeers, 0)} ms`,
        `${fx(r.oneByOneMsPerBlockPerPeer, 1)} ms`,
        fx(r.messagesPublishedPerBlock, 0),
        fx(r.messagesDeliveredPerBlock, 0),
        r.bytesPublishedPerBlock,
        `${fx(r.signaturesCheckedPerBlockPerPeer, 1)} / ${fx(r.verificationCallsPerBlockPerPeer, 1)}`
      ])
    ])
  )
  const g = s.growth
  out.push(
    `  growth with M (log-log slope): per peer ${fx(g.perPeer, 2)} as built, ${fx(g.oneByOnePerPeer, 2)} one by one; all peers ${fx(g.allPeers, 2)}; deliveries ${fx(g.deliveries, 2)}; one verification ${s.singleVerifyMs} ms`
  )
  for (const note of s.notes) out.push(`  - ${note}`)
  return out
}
