/**
 * The paper's rules for the replica (PROTOCOL 4.1, 4.4, section 5), from @bbnp/reputation.
 *
 * One extension of the view order: after P and the other pre-selected nodes (the paper's and
 * PROTOCOL 4.5's order), the nodes below the threshold follow, by X. Without them a network whose
 * pre-selected nodes have all crashed could never produce another block, and since reputations
 * only change in blocks, it would stay stuck for ever. They lead a view only after every
 * pre-selected node with a draw has failed one, so a node that lies, once below the threshold,
 * is not elected while honest pre-selected nodes are up.
 */
import { DOMAIN } from '@bbnp/core'
import type { PublicKey } from '@bbnp/crypto'
import { combineOpinions, computeElection, decodeSignedOpinionVector, opinionVectorBytes, type OpinionVector } from '@bbnp/reputation'
import { BbnpError } from '@bbnp/core'
import type { ConsensusRules } from './rules.ts'
import { SignatureCache } from './sigcache.ts'

export function paperRules(keys: readonly PublicKey[], cache = new SignatureCache()): ConsensusRules {
  const m = keys.length
  const open = (encoded: Uint8Array): OpinionVector => {
    const sv = decodeSignedOpinionVector(encoded, { nodes: m })
    const v = sv.vector
    if (!cache.verify(`cn-${v.observer}`, keys[v.observer - 1], DOMAIN.opinion, opinionVectorBytes(v), sv.signature)) {
      throw new BbnpError('BAD_SIGNATURE', `opinion vector of cn-${v.observer} for height ${v.height} does not verify`)
    }
    return v
  }
  return {
    electionOrder(reputation, draws, theta) {
      const e = computeElection(reputation, draws, theta)
      const inOrder = new Set(e.order)
      const rest = [...draws.entries()].filter(([n]) => !inOrder.has(n)).sort((a, b) => (a[1] > b[1] ? -1 : a[1] < b[1] ? 1 : a[0] - b[0]))
      return [...e.order, ...rest.map(([n]) => n)]
    },
    openOpinion(encoded) {
      const v = open(encoded)
      return { height: v.height, node: v.observer }
    },
    combineOpinions(encoded, previous) {
      return combineOpinions(previous, encoded.map(open))
    }
  }
}
