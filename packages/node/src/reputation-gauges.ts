/**
 * The reputation model on /metrics: each consensus peer's reputation after the head block as this
 * peer holds it (eq. (2), the figures of GET /reputation), the threshold and whether each peer is
 * pre-selected for the next election; read from the replica's head on every scrape.
 */
import { consensusId, type MetricsRegistry } from '@bbnp/core'
import { preselect, REPUTATION_SCALE, type ReputationParams, reputationThreshold } from '@bbnp/reputation'
import { reputationView } from './views.ts'

export function reputationGauges(
  metrics: MetricsRegistry,
  nodes: number,
  params: ReputationParams,
  head: () => { reputation: readonly number[] }
): void {
  const peers = Array.from({ length: nodes }, (_, i) => consensusId(i + 1))
  const reputation = metrics.gauge('bbnp_reputation', "Each consensus peer's reputation after the head block (0..1)", {
    labels: { peer: peers },
    collect: () => {
      const vector = head().reputation
      const pre = new Set(preselect(vector, params))
      reputationView(vector).forEach((r, i) => {
        reputation.set(r, { peer: peers[i] })
        preselected.set(pre.has(i + 1) ? 1 : 0, { peer: peers[i] })
      })
      threshold.set(reputationThreshold(vector) / REPUTATION_SCALE)
    }
  })
  const preselected = metrics.gauge(
    'bbnp_reputation_preselected',
    'Whether each consensus peer is pre-selected for the next election (1) or not (0)',
    {
      labels: { peer: peers }
    }
  )
  const threshold = metrics.gauge('bbnp_reputation_threshold', 'The reputation threshold of pre-selection after the head block (0..1)')
}
