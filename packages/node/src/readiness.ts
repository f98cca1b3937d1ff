/**
 * Health for a load balancer, an orchestrator or an alert (issue 13, README "Health"): `/livez`
 * answers 200 while the process serves HTTP at all; `/readyz` answers 200 when the process can do
 * its job and 503 with the reasons when it cannot. The rules of each role are pure functions of
 * what the runtime observes, so that they are tested without a network.
 */
import type { Route } from './http-api.ts'

/** Why a process is not ready; the codes are a contract (docs/openapi.json, NotReadyReason). */
export type NotReadyCode = 'STARTING' | 'CATCHING_UP' | 'TOO_FEW_PEERS' | 'STALLED' | 'NO_CONSENSUS_PEER' | 'NO_GATEWAY'

export interface NotReadyReason {
  code: NotReadyCode
  message: string
}

/** What a consensus peer's readiness is judged on. */
export interface ConsensusReadinessInput {
  /** Whether the replica takes part: false until the first catch-up after start is over. */
  takingPart: boolean
  /** Whether blocks are being fetched from a peer that is ahead (not a status poll that found none). */
  catchingUp: boolean
  /** Consensus peers connected (the gateway and meters not counted). */
  consensusPeers: number
  /** Consensus peers of the genesis other than this one. */
  others: number
  quorum: number
  /**
   * How long work (an aggregate from the gateway that no block holds) has waited with no block
   * stored, once that is a stall (PeerActivity.stallMs, five view timeouts); null otherwise.
   */
  stalledMs: number | null
}

/**
 * A consensus peer is ready when it takes part, is not catching up, is connected to the quorum − 1
 * other peers a commit needs (all of them in a network smaller than that), and has not stalled.
 * A peer with no work (the gateway down) is ready: it would commit as soon as work came.
 */
export function consensusReadiness(s: ConsensusReadinessInput): NotReadyReason[] {
  const reasons: NotReadyReason[] = []
  if (!s.takingPart) reasons.push({ code: 'STARTING', message: 'starting: waiting for peers and the first catch-up' })
  if (s.catchingUp) reasons.push({ code: 'CATCHING_UP', message: 'catching up: fetching blocks from a peer that is ahead' })
  const needed = Math.min(s.others, s.quorum - 1)
  if (s.consensusPeers < needed)
    reasons.push({
      code: 'TOO_FEW_PEERS',
      message: `connected to ${s.consensusPeers} consensus peers; a quorum of ${s.quorum} needs ${needed} besides this one`
    })
  if (s.stalledMs !== null)
    reasons.push({
      code: 'STALLED',
      message: `no block stored for ${Math.round(s.stalledMs / 1000)} s while an aggregate from the gateway waits`
    })
  return reasons
}

/** The gateway is ready once its run has started and it reaches a consensus peer to hand aggregates to. */
export function gatewayReadiness(s: { started: boolean; consensusPeers: number }): NotReadyReason[] {
  const reasons: NotReadyReason[] = []
  if (!s.started) reasons.push({ code: 'STARTING', message: 'starting: accounting for the slots missed while down' })
  if (s.consensusPeers === 0) reasons.push({ code: 'NO_CONSENSUS_PEER', message: 'no consensus peer is connected' })
  return reasons
}

/** A meter process is ready while it is connected to the gateway its reports go to. */
export function meterReadiness(s: { gatewayConnected: boolean }): NotReadyReason[] {
  return s.gatewayConnected ? [] : [{ code: 'NO_GATEWAY', message: 'the gateway is not connected' }]
}

/** `/livez` and `/readyz` over a role's readiness rule. */
export function healthRoutes(reasons: () => NotReadyReason[]): Record<string, Route> {
  return {
    '/livez': () => ({ status: 200, body: { live: true } }),
    '/readyz': () => {
      const r = reasons()
      if (r.length === 0) return { status: 200, body: { ready: true, reasons: [] } }
      // Also an error body (`error`, `code`), as every other non-2xx answer of the API.
      return {
        status: 503,
        body: { ready: false, code: 'NOT_READY', error: `not ready: ${r.map((x) => x.message).join('; ')}`, reasons: r }
      }
    }
  }
}
