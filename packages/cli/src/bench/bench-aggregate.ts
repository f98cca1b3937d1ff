/**
 * The aggregate the consensus benchmarks hand off as the gateway: every one of the benchmark's
 * meters present, a made-up sum, endorsed by the given 2f + 1 consensus keys (PROTOCOL 3.5.5) and
 * signed with the gateway's key. Shared by the bench over real processes and the in-process one.
 */
import { DOMAIN } from '@bbnp/core'
import { bitmapFromIndices, endorsementPayload, makeEndorsement, type SignedAggregate } from '@bbnp/consensus'
import { type SecretKey, sign } from '@bbnp/crypto'
import { signAggregate } from '@bbnp/node'

/** Meters in a benchmark network: the fewest a network may have; the data side is measured apart. */
export const METERS = 3

export function benchAggregate(
  slot: number,
  consensus: number,
  endorsers: { node: number; key: SecretKey }[],
  gatewayKey: SecretKey
): SignedAggregate {
  const present = bitmapFromIndices(
    Array.from({ length: METERS }, (_, i) => i + 1),
    METERS
  )
  const payload = endorsementPayload(slot, present)
  const body: Omit<SignedAggregate, 'signature'> = {
    slot,
    fromSlot: slot,
    status: 'complete',
    sum: BigInt(slot) * 1000n + 7n,
    count: METERS,
    missing: new Uint8Array(0),
    reason: '',
    endorsement: makeEndorsement(
      endorsers.map((e) => ({ node: e.node, signature: sign(e.key, DOMAIN.endorse, payload) })),
      consensus
    ),
    faulty: new Uint8Array(0)
  }
  return { ...body, signature: signAggregate(gatewayKey, body) }
}
