/**
 * The JSON shapes of the HTTP API: field names are a contract (README "HTTP API"). Big integers
 * are decimal strings, bytes are hex, nodes and meters are named by their IDs.
 */
import { consensusId, meterId, toHex } from '@bbnp/core'
import { aggregateSum, type Block, type CommitCertificate, indicesFromBitmap } from '@bbnp/consensus'
import { REPUTATION_SCALE } from '@bbnp/reputation'

export function reputationView(vector: readonly number[]): number[] {
  return vector.map((x) => x / REPUTATION_SCALE)
}

/** The meters a block lists as missing (none for a complete slot; a missed range has no reports at all). */
export function missingIds(block: Block, meters: number): string[] {
  const a = block.aggregate
  if (a.status === 'complete' || a.status === 'missed') return []
  return indicesFromBitmap(a.missing, meters).map(meterId)
}

/** How a slot's sum came about (PROTOCOL 3.5): the reason there is none, the peers that endorsed its reporter set, those caught with a wrong partial sum. */
export function recoveryView(block: Block, m: number) {
  const a = block.aggregate
  return {
    reason: a.reason === '' ? null : a.reason,
    endorsedBy: a.endorsement ? indicesFromBitmap(a.endorsement.signers, m).map(consensusId) : [],
    faultyPeers: a.faulty.length === 0 ? [] : indicesFromBitmap(a.faulty, m).map(consensusId)
  }
}

export function certificateView(cert: CommitCertificate | null, m: number) {
  if (!cert) return null
  return {
    height: cert.height,
    view: cert.view,
    signers: indicesFromBitmap(cert.signers, m).map(consensusId),
    signature: toHex(cert.signature)
  }
}

/** Local, in-memory timings of a recent block at this peer (null after a restart or for synced blocks). */
export interface BlockTiming {
  aggregateReceivedAtMs: number | null
  committedAtMs: number
}

export function blockView(
  block: Block,
  hash: Uint8Array,
  cert: CommitCertificate | null,
  opts: { meters: number; m: number; timing?: BlockTiming }
) {
  const t = opts.timing
  return {
    height: block.height,
    hash: toHex(hash),
    prevHash: toHex(block.prevHash),
    slot: block.slot,
    fromSlot: block.aggregate.fromSlot,
    status: block.aggregate.status,
    sum: aggregateSum(block.aggregate),
    count: block.aggregate.count,
    missing: missingIds(block, opts.meters),
    ...recoveryView(block, opts.m),
    primary: consensusId(block.primary),
    view: block.view,
    timestampMs: block.timestampMs,
    gatewaySignature: toHex(block.aggregate.signature),
    election: {
      theta: toHex(block.election.theta),
      draws: block.election.draws.map((d) => ({ node: consensusId(d.node), signature: toHex(d.signature) }))
    },
    reputation: reputationView(block.reputation.vector),
    reputationFromHeight: block.reputation.opinionHeight,
    opinions: block.opinions.length,
    certificate: certificateView(cert, opts.m),
    aggregateReceivedAtMs: t?.aggregateReceivedAtMs ?? null,
    committedAtMs: t?.committedAtMs ?? null,
    latencyMs: t && t.aggregateReceivedAtMs !== null ? t.committedAtMs - t.aggregateReceivedAtMs : null
  }
}

export function aggregateView(block: Block, meters: number) {
  return {
    slot: block.slot,
    fromSlot: block.aggregate.fromSlot,
    sum: aggregateSum(block.aggregate),
    count: block.aggregate.count,
    status: block.aggregate.status,
    reason: block.aggregate.reason === '' ? null : block.aggregate.reason,
    missing: missingIds(block, meters),
    height: block.height
  }
}
