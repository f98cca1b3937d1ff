/**
 * The reputation model's rules for the replica (PROTOCOL 4.1, 4.4, section 5), from @bbnp/reputation:
 * the election rule of the genesis (`fair` by default, or the paper's), and the opinion vectors. They
 * live in the node, which joins the two: consensus and reputation are siblings and import neither
 * the other.
 *
 * One extension of the view order: after P and the other pre-selected nodes (the paper's and
 * PROTOCOL 4.5's order), the nodes below the threshold follow, by X. Without them a network whose
 * pre-selected nodes have all crashed could never produce another block, and since reputations
 * only change in blocks, it would stay stuck for ever. They lead a view only after every
 * pre-selected node with a draw has failed one, so a node that lies, once below the threshold,
 * is not elected while honest pre-selected nodes are up.
 *
 * Opinion vectors are checked when a block uses them, all of one block in one random-coefficient
 * multi-set verification (PROTOCOL 4.3), not one by one as they arrive.
 */
import { DOMAIN } from '@bbnp/core'
import { type PublicKey, verifyMultiple } from '@bbnp/crypto'
import {
  combineOpinions,
  computeElection,
  decodeSignedOpinionVector,
  DEFAULT_REPUTATION_PARAMS,
  type ElectionParams,
  opinionVectorBytes
} from '@bbnp/reputation'
import { type ConsensusRules, SignatureCache, signerId } from '@bbnp/consensus'

export function reputationRules(
  keys: readonly PublicKey[],
  params: ElectionParams = DEFAULT_REPUTATION_PARAMS,
  cache = new SignatureCache()
): ConsensusRules {
  const m = keys.length
  const decode = (encoded: Uint8Array) => decodeSignedOpinionVector(encoded, { nodes: m })
  return {
    electionOrder(reputation, draws, theta) {
      const e = computeElection(reputation, draws, theta, params)
      const inOrder = new Set(e.order)
      const rest = [...draws.entries()].filter(([n]) => !inOrder.has(n)).sort((a, b) => (a[1] > b[1] ? -1 : a[1] < b[1] ? 1 : a[0] - b[0]))
      return [...e.order, ...rest.map(([n]) => n)]
    },
    peekOpinion(encoded) {
      const v = decode(encoded).vector
      return { height: v.height, node: v.observer }
    },
    trustOpinion(encoded) {
      const sv = decode(encoded)
      cache.rememberVerified(signerId(sv.vector.observer), DOMAIN.opinion, opinionVectorBytes(sv.vector), sv.signature)
    },
    verifyOpinions(encoded) {
      const items = encoded.map((e) => {
        const sv = decode(e)
        return {
          signer: signerId(sv.vector.observer),
          publicKey: keys[sv.vector.observer - 1],
          message: opinionVectorBytes(sv.vector),
          signature: sv.signature
        }
      })
      const ok = items.map((it) => cache.has(it.signer, DOMAIN.opinion, it.message, it.signature))
      const todo = items.map((_, i) => i).filter((i) => !ok[i])
      if (todo.length === 0) return ok
      const sets = todo.map((i) => ({
        publicKey: items[i].publicKey,
        domain: DOMAIN.opinion,
        message: items[i].message,
        signature: items[i].signature
      }))
      if (todo.length > 1 && verifyMultiple(sets)) {
        for (const i of todo) ok[i] = true
      } else {
        for (const i of todo)
          ok[i] = cache.verify(items[i].signer, items[i].publicKey, DOMAIN.opinion, items[i].message, items[i].signature)
      }
      for (const i of todo) if (ok[i]) cache.rememberVerified(items[i].signer, DOMAIN.opinion, items[i].message, items[i].signature)
      return ok
    },
    combineOpinions(encoded, previous) {
      return combineOpinions(
        previous,
        encoded.map((e) => decode(e).vector)
      )
    }
  }
}
