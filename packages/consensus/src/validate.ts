/**
 * Everything a replica checks on a proposed block before it prepares it (PROTOCOL 4.2 step 3),
 * as one pure function returning a reason code, or null when the block is valid:
 * height and parent, the parent's commit certificate, a strictly increasing slot that is not in
 * the future, the gateway's signature on the aggregate and its consistency (with the proof of any
 * consensus peer it names as faulty), the election proof
 * and that the proposer is the rightful primary of the block's view, and the reputation vector
 * recomputed from the signed opinions (4.4).
 */
import { bytesEqual, DOMAIN, toHex } from '@bbnp/core'
import { type PublicKey, sumPublicKeys, vrfMessage, vrfOutput } from '@bbnp/crypto'
import { aggregatePayload, type Block, type CommitCertificate, indicesFromBitmap } from './block.ts'
import { endorsementPayloadOf, presentBitmap, reporterSetHash, type SignedAggregate } from './aggregate.ts'
import { checkCertificate, checkEndorsement } from './certificate.ts'
import { checkFaultProof, partialPayload } from './fault-proof.ts'
import type { ConsensusRules } from './rules.ts'
import { type CachedGroup, GATEWAY_SIGNER, type SignatureCache, signerId } from './sigcache.ts'

export interface ChainHead {
  height: number
  /** The head block's hash (the genesis hash at height 0): the seed of the next election. */
  hash: Uint8Array
  /** The head block's slot (-1 at genesis). */
  slot: number
  /** Fixed-point reputation vector after the head block. */
  reputation: number[]
  /** The opinion height the head's vector comes from (0 at genesis). */
  opinionHeight: number
  /** The head block's commit certificate (null at genesis). */
  cert: CommitCertificate | null
}

export interface ValidationContext {
  head: ChainHead
  keys: PublicKey[]
  gatewayKey: PublicKey
  meters: number
  /** Fewest present meters a sum may be over (genesis, PROTOCOL 3.5.3). */
  minReporters: number
  quorum: number
  /** The slot of the validator's clock now; a block for a later slot than currentSlot + 1 is refused. */
  currentSlot: number
  rules: ConsensusRules
  cache: SignatureCache
  /** True when the caller can vouch for a certificate without a pairing (see Replica.knownCertificate). */
  knownCertificate?: (cert: CommitCertificate) => boolean
}

/** Why a block or an aggregate is refused (counted by reason in bbnp_consensus_rejected_total). */
export const BLOCK_ERRORS = [
  'WRONG_HEIGHT',
  'WRONG_PARENT',
  'BAD_PARENT_CERTIFICATE',
  'SLOT_NOT_INCREASING',
  'SLOT_IN_FUTURE',
  'BAD_AGGREGATE_SIGNATURE',
  'BAD_AGGREGATE',
  'BAD_ENDORSEMENT',
  /** `faulty` names a consensus peer without a proof that holds (PROTOCOL 3.5.5, fault-proof.ts) */
  'BAD_FAULT_PROOF',
  'BAD_ELECTION_PROOF',
  'WRONG_PRIMARY',
  'BAD_REPUTATION',
  'BAD_OPINIONS'
] as const
export type BlockError = (typeof BLOCK_ERRORS)[number]

/**
 * The signatures of an election proof as multi-set groups (Theta; the draws, one message): what
 * `openElection` checks, for `SignatureCache.preverify`. None when a draw names no node.
 */
export function electionGroups(
  proof: Block['election'],
  height: number,
  seed: Uint8Array,
  keys: PublicKey[],
  gatewayKey: PublicKey
): CachedGroup[] {
  if (proof.draws.some((d) => !(d.node >= 1 && d.node <= keys.length))) return []
  const message = vrfMessage(height, seed)
  return [
    { domain: DOMAIN.threshold, message, items: [{ signer: GATEWAY_SIGNER, publicKey: gatewayKey, signature: proof.theta }] },
    {
      domain: DOMAIN.election,
      message,
      items: proof.draws.map((d) => ({ signer: signerId(d.node), publicKey: keys[d.node - 1], signature: d.signature }))
    }
  ]
}

/** A pre-prepare's signature with the Theta and draws its block carries: the groups of one multi-set (PROTOCOL 4.3). */
export function proposalGroups(
  node: number,
  payload: Uint8Array,
  signature: Uint8Array,
  block: Block,
  seed: Uint8Array,
  config: { keys: PublicKey[]; gatewayKey: PublicKey }
): CachedGroup[] {
  const own: CachedGroup = {
    domain: DOMAIN.preprepare,
    message: payload,
    items: [{ signer: signerId(node), publicKey: config.keys[node - 1], signature }]
  }
  return [own, ...electionGroups(block.election, block.height, seed, config.keys, config.gatewayKey)]
}

/** Verify the election proof's signatures and return the draws (X by node) and Theta. */
export function openElection(
  proof: Block['election'],
  height: number,
  seed: Uint8Array,
  keys: PublicKey[],
  gatewayKey: PublicKey,
  cache: SignatureCache
): { draws: Map<number, bigint>; theta: bigint } | null {
  const msg = vrfMessage(height, seed)
  // Theta and the draws arrive together: one multi-set check for both (PROTOCOL 4.3), before the
  // checks below, which then find them in the cache.
  cache.preverify(electionGroups(proof, height, seed, keys, gatewayKey))
  if (!cache.verify(GATEWAY_SIGNER, gatewayKey, DOMAIN.threshold, msg, proof.theta)) return null
  let last = 0
  for (const d of proof.draws) {
    if (d.node <= last || d.node > keys.length) return null // sorted, unique, known
    last = d.node
  }
  // Every draw of a height signs the same message: one aggregate check (PROTOCOL 4.3).
  const bad = cache.verifySameMessage(
    proof.draws.map((d) => ({ signer: signerId(d.node), publicKey: keys[d.node - 1], signature: d.signature })),
    DOMAIN.election,
    msg
  )
  if (bad.length > 0) return null
  const draws = new Map<number, bigint>()
  for (const d of proof.draws) draws.set(d.node, vrfOutput(d.signature))
  return { draws, theta: vrfOutput(proof.theta) }
}

export function rightfulPrimary(order: number[], view: number): number | null {
  return order.length === 0 ? null : order[view % order.length]
}

/**
 * The gateway's aggregate (PROTOCOL 3.4, 3.5), in a block or at its hand-off: its signature; its
 * counts against the missing meters; for a sum (complete or recovered), at least minReporters
 * present and the endorsement certificate of 2f+1 consensus peers over that very set; and a
 * faulty-peer bitmap that is well formed and, when it names anyone, proven by the signed partial
 * sums it carries (fault-proof.ts): the gateway's word alone never counts against a peer.
 */
export function checkAggregate(
  a: SignedAggregate,
  ctx: Pick<ValidationContext, 'gatewayKey' | 'meters' | 'minReporters' | 'keys' | 'quorum' | 'cache'>
): BlockError | null {
  // The gateway's signature, the endorsement and any fault proof's partials arrive together: one
  // multi-set check for all (PROTOCOL 4.3); the checks below, in their order, then hit the cache.
  ctx.cache.preverify(aggregateGroups(a, ctx))
  if (!ctx.cache.verify(GATEWAY_SIGNER, ctx.gatewayKey, DOMAIN.aggregate, aggregatePayload(a), a.signature))
    return 'BAD_AGGREGATE_SIGNATURE'
  let named: number[]
  try {
    named = a.faulty.length === 0 ? [] : indicesFromBitmap(a.faulty, ctx.keys.length)
  } catch {
    return 'BAD_AGGREGATE'
  }
  if (a.faulty.length > 0 && named.length === 0) return 'BAD_AGGREGATE'
  if (a.status === 'missed') {
    // A range of slots the gateway received nothing for (decoding checked its shape): no recovery, nobody faulty.
    return a.count !== 0 || a.missing.length !== 0 || a.fromSlot > a.slot || named.length > 0 ? 'BAD_AGGREGATE' : null
  }
  let missing: number[]
  try {
    missing = a.status === 'complete' ? [] : indicesFromBitmap(a.missing, ctx.meters)
  } catch {
    return 'BAD_AGGREGATE'
  }
  if (a.count !== ctx.meters - missing.length) return 'BAD_AGGREGATE'
  const setHash = reporterSetHash(presentBitmap(a, ctx.meters))
  // Every partial a proof holds signs (slot, the present set, z_u): the set this aggregate implies.
  if (checkFaultProof(named, a.faultProof ?? null, a.slot, setHash, ctx.keys, ctx.quorum, ctx.cache) !== null) return 'BAD_FAULT_PROOF'
  // No sum: for too few reports, or a recovery that could not finish (possibly with every meter in).
  if (a.status === 'incomplete') return null
  if (a.status === 'recovered' && missing.length === 0) return 'BAD_AGGREGATE'
  // complete or recovered: a sum over an endorsed set of at least minReporters meters.
  if (a.count < ctx.minReporters || !a.endorsement) return 'BAD_AGGREGATE'
  if (!endorsementHolds(a.endorsement, a.slot, setHash, ctx)) return 'BAD_ENDORSEMENT'
  return null
}

/** The name an endorsement certificate is cached under: its signer set. */
const endorsementSigner = (e: NonNullable<SignedAggregate['endorsement']>) => `endorsers-${toHex(e.signers)}`

/**
 * The signatures `checkAggregate` checks, as multi-set groups: the gateway's, the endorsement
 * certificate (one signature by the sum of its signers' keys) and each signed partial of a fault
 * proof. Parts that are malformed are left out: the ordered checks refuse them.
 */
function aggregateGroups(a: SignedAggregate, ctx: Pick<ValidationContext, 'gatewayKey' | 'meters' | 'keys' | 'quorum'>): CachedGroup[] {
  const groups: CachedGroup[] = [
    {
      domain: DOMAIN.aggregate,
      message: aggregatePayload(a),
      items: [{ signer: GATEWAY_SIGNER, publicKey: ctx.gatewayKey, signature: a.signature }]
    }
  ]
  if (a.status === 'missed' || (a.endorsement === null && !a.faultProof)) return groups
  let setHash: Uint8Array
  try {
    setHash = reporterSetHash(presentBitmap(a, ctx.meters))
  } catch {
    return groups
  }
  const e = a.endorsement
  let signers: number[] = []
  try {
    if (e) signers = indicesFromBitmap(e.signers, ctx.keys.length)
  } catch {
    signers = []
  }
  if (e && signers.length >= ctx.quorum) {
    const publicKey = sumPublicKeys(signers.map((i) => ctx.keys[i - 1]))
    groups.push({
      domain: DOMAIN.endorse,
      message: endorsementPayloadOf(a.slot, setHash),
      items: [{ signer: endorsementSigner(e), publicKey, signature: e.signature }]
    })
  }
  for (const p of a.faultProof ?? []) {
    if (!(p.node >= 1 && p.node <= ctx.keys.length)) return groups
    groups.push({
      domain: DOMAIN.partial,
      message: partialPayload(a.slot, setHash, p.value),
      items: [{ signer: signerId(p.node), publicKey: ctx.keys[p.node - 1], signature: p.signature }]
    })
  }
  return groups
}

/** The endorsement certificate, checked once per replica: a certificate that verified is remembered in the cache. */
function endorsementHolds(
  e: NonNullable<SignedAggregate['endorsement']>,
  slot: number,
  setHash: Uint8Array,
  ctx: Pick<ValidationContext, 'keys' | 'quorum' | 'cache'>
): boolean {
  const signer = endorsementSigner(e)
  const payload = endorsementPayloadOf(slot, setHash)
  if (ctx.cache.has(signer, DOMAIN.endorse, payload, e.signature)) return true
  if (checkEndorsement(e, slot, setHash, ctx.keys, ctx.quorum) !== null) return false
  ctx.cache.rememberVerified(signer, DOMAIN.endorse, payload, e.signature)
  return true
}

export function validateBlock(block: Block, ctx: ValidationContext): BlockError | null {
  const { head } = ctx
  if (block.height !== head.height + 1) return 'WRONG_HEIGHT'
  if (!bytesEqual(block.prevHash, head.hash)) return 'WRONG_PARENT'
  if (block.height === 1) {
    if (block.prevCert !== null) return 'BAD_PARENT_CERTIFICATE'
  } else if (block.prevCert === null) return 'BAD_PARENT_CERTIFICATE'
  else if (!(head.cert && sameCertificate(block.prevCert, head.cert)) && !ctx.knownCertificate?.(block.prevCert)) {
    // Neither the certificate this peer holds for its head nor one made of votes it verified.
    if (checkCertificate(block.prevCert, head.height, head.hash, ctx.keys, ctx.quorum) !== null) return 'BAD_PARENT_CERTIFICATE'
  }
  if (block.aggregate.fromSlot <= head.slot) return 'SLOT_NOT_INCREASING'
  if (block.slot > ctx.currentSlot + 1) return 'SLOT_IN_FUTURE'
  const aggErr = checkAggregate(block.aggregate, ctx)
  if (aggErr) return aggErr

  // PROTOCOL 4.1: the proposer must be the rightful primary of its view, recomputed from the
  // signed draws and Theta it carries.
  const election = openElection(block.election, block.height, head.hash, ctx.keys, ctx.gatewayKey, ctx.cache)
  if (!election) return 'BAD_ELECTION_PROOF'
  const order = ctx.rules.electionOrder(head.reputation, election.draws, election.theta)
  if (rightfulPrimary(order, block.view) !== block.primary) return 'WRONG_PRIMARY'

  // PROTOCOL 4.4: the reputation vector is the parent's, or recomputed from >= 2f+1 signed
  // opinion vectors of one later height.
  const rep = block.reputation
  if (rep.vector.length !== ctx.keys.length) return 'BAD_REPUTATION'
  if (block.opinions.length === 0) {
    if (rep.opinionHeight !== head.opinionHeight || !sameVector(rep.vector, head.reputation)) return 'BAD_REPUTATION'
    return null
  }
  if (rep.opinionHeight <= head.opinionHeight || rep.opinionHeight >= block.height) return 'BAD_OPINIONS'
  if (block.opinions.length < ctx.quorum) return 'BAD_OPINIONS'
  let lastNode = 0
  for (const enc of block.opinions) {
    let opened: { height: number; node: number }
    try {
      opened = ctx.rules.peekOpinion(enc)
    } catch {
      return 'BAD_OPINIONS'
    }
    if (opened.height !== rep.opinionHeight || opened.node <= lastNode) return 'BAD_OPINIONS'
    lastNode = opened.node
  }
  if (!ctx.rules.verifyOpinions(block.opinions).every(Boolean)) return 'BAD_OPINIONS'
  let expected: number[]
  try {
    expected = ctx.rules.combineOpinions(block.opinions, head.reputation)
  } catch {
    return 'BAD_OPINIONS'
  }
  return sameVector(expected, rep.vector) ? null : 'BAD_REPUTATION'
}

export function sameCertificate(a: CommitCertificate, b: CommitCertificate): boolean {
  return a.height === b.height && a.view === b.view && bytesEqual(a.signers, b.signers) && bytesEqual(a.signature, b.signature)
}

export function sameVector(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
