/**
 * Test-only misbehaviour (issue 5), as a wrapper around an honest replica that rewrites what it
 * sends: the honest rules never branch on it (relab/hotstuff's byzantine rules are wrappers too).
 * The runtime refuses it unless the genesis is a devnet.
 *
 *   wrong-signatures  every PREPARE and COMMIT is signed over a wrong payload (the view moved by
 *                     1,000,000), so the batch checks of the others fail and find the sender
 *   equivocate        as primary, a second signed PRE-PREPARE follows the first, for a twin block
 *                     (the same block one millisecond later): two blocks for one (height, view)
 *
 * Only what leaves changes: the wrapped replica keeps its own votes and certificates as an
 * honest one would.
 */
import { DOMAIN } from '@bbnp/core'
import { type SecretKey, sign } from '@bbnp/crypto'
import { decodeBlock, encodeBlock, hashEncodedBlock } from './block.ts'
import { voteDomain, votePayload } from './certificate.ts'
import { type ConsensusMessage, encodeMessage, prePreparePayload } from './messages.ts'
import type { Replica } from './replica.ts'
import type { ReplicaEffect, ReplicaEvent } from './replica-types.ts'

export const REPLICA_MISBEHAVIOUR = ['wrong-signatures', 'equivocate'] as const
export type ReplicaMisbehaviour = (typeof REPLICA_MISBEHAVIOUR)[number]

/** What a runtime uses of a replica; an honest Replica and a misbehaving one both offer it. */
export type ReplicaLike = Pick<
  Replica,
  'handle' | 'config' | 'height' | 'view' | 'viewChanging' | 'primary' | 'primaryOfView' | 'ownDraw' | 'head' | 'stats' | 'cache'
>

/** The view offset of a wrong vote payload. */
const WRONG_VIEW_OFFSET = 1_000_000

/**
 * The replica, sending as `modes` say; modes that are not the replica's ('silent', 'late': the
 * runtime's, on the network) are ignored, and without any the replica itself is returned.
 * `signer` signs the rewritten messages (the replica's own key).
 */
export function withMisbehaviour(replica: Replica, modes: readonly string[], signer: SecretKey): ReplicaLike {
  const has = (mode: ReplicaMisbehaviour) => modes.includes(mode)
  const wrongSignatures = has('wrong-signatures')
  const equivocate = has('equivocate')
  if (!wrongSignatures && !equivocate) return replica
  const rewrite = (effect: ReplicaEffect): ReplicaEffect[] => {
    if (effect.type !== 'broadcast') return [effect]
    const m = effect.message
    if (wrongSignatures && (m.kind === 'prepare' || m.kind === 'commit')) {
      const signature = sign(signer, voteDomain(m.kind), votePayload(m.height, m.view + WRONG_VIEW_OFFSET, m.digest))
      return [broadcast({ ...m, signature })]
    }
    if (equivocate && m.kind === 'preprepare') {
      const block = decodeBlock(m.block, replica.config.maxBlockBytes)
      const twin = encodeBlock({ ...block, timestampMs: block.timestampMs + 1 })
      const signature = sign(signer, DOMAIN.preprepare, prePreparePayload(m.height, m.view, hashEncodedBlock(twin)))
      return [effect, broadcast({ ...m, block: twin, signature })]
    }
    return [effect]
  }
  return new MisbehavingReplica(replica, rewrite)
}

function broadcast(message: ConsensusMessage): ReplicaEffect {
  return { type: 'broadcast', message, encoded: encodeMessage(message) }
}

class MisbehavingReplica implements ReplicaLike {
  private readonly inner: Replica
  private readonly rewrite: (effect: ReplicaEffect) => ReplicaEffect[]

  constructor(inner: Replica, rewrite: (effect: ReplicaEffect) => ReplicaEffect[]) {
    this.inner = inner
    this.rewrite = rewrite
  }

  handle(event: ReplicaEvent): ReplicaEffect[] {
    return this.inner.handle(event).flatMap(this.rewrite)
  }

  get config() {
    return this.inner.config
  }
  get height() {
    return this.inner.height
  }
  get view() {
    return this.inner.view
  }
  get viewChanging() {
    return this.inner.viewChanging
  }
  get primary() {
    return this.inner.primary
  }
  primaryOfView(view: number): number | null {
    return this.inner.primaryOfView(view)
  }
  ownDraw(height: number) {
    return this.inner.ownDraw(height)
  }
  get head() {
    return this.inner.head
  }
  get stats() {
    return this.inner.stats
  }
  get cache() {
    return this.inner.cache
  }
}
