/**
 * The reputation model's evidence (PROTOCOL 4.4, the paper's interaction records): what each
 * other node did at one height, as seen by this replica. Provably wrong messages are collected as
 * they are found; everything else is read from the height's state once its grace period is over.
 */
import { indicesFromBitmap } from './block.ts'
import type { Outbox } from './context.ts'
import type { HeightState } from './height.ts'
import type { Observation, ObservationPhase, RejectKind, RejectReason } from './replica-types.ts'

/** The provably wrong messages of one height, and the primaries caught equivocating. */
export class Evidence {
  readonly wrong: Observation[] = []
  readonly equivocators = new Set<number>()
  private readonly out: Outbox

  constructor(out: Outbox) {
    this.out = out
  }

  /** A signed message from `node` that is provably wrong: refused, counted, and evidence for reputation. */
  wrongFrom(node: number, kind: RejectKind, reason: RejectReason): void {
    this.out.reject(node, kind, reason)
    const phase: ObservationPhase = kind === 'prepare' || kind === 'commit' || kind === 'draw' ? kind : 'preprepare'
    this.wrong.push({ node, phase, outcome: 'wrong', delayMs: 0 })
  }
}

/**
 * What each other node did at a decided height: its prepare and commit in the deciding view
 * (late or missing), the deciding view's proposal, and a missing proposal for every view whose
 * primary failed. The wrong messages found until the grace period ended come first, and a
 * node's wrong vote of a phase is not also counted as valid or missing. A pure function of the
 * closed height's state; `primaries` names the primary of each view before the deciding one.
 */
export function observe(
  hs: HeightState,
  me: number,
  m: number,
  wrong: readonly Observation[],
  primaries: readonly (number | null)[]
): Observation[] {
  const items: Observation[] = [...wrong]
  const wasWrong = (node: number, phase: ObservationPhase) => wrong.some((o) => o.node === node && o.phase === phase)
  const view = hs.decidedView
  const proposal = hs.proposals.get(view)
  const preparedAt = hs.votes.preparedAt(view)
  for (let node = 1; node <= m; node++) {
    if (node === me) continue
    for (const phase of ['prepare', 'commit'] as const) {
      if (wasWrong(node, phase)) continue
      // A prepare is due when the proposal arrived, a commit when this replica prepared.
      const due = phase === 'prepare' ? (proposal?.at ?? hs.decidedAt) : (preparedAt ?? hs.decidedAt)
      const vote = hs.votes.voteOf(phase, view, node)
      if (vote === undefined) items.push({ node, phase, outcome: 'missing', delayMs: 0 })
      else items.push({ node, phase, outcome: 'valid', delayMs: Math.max(0, vote.at - due) })
    }
  }
  // PROTOCOL 3.5.5: the consensus peers whose partial sum the gateway found inconsistent, as the
  // decided block records them, count like a wrong signature. Only proven ones get here: a block
  // naming a peer is valid only with the signed partials that prove it (validate.ts, fault-proof.ts).
  const faulty = proposal?.block.aggregate.faulty
  if (faulty && faulty.length > 0)
    for (const node of indicesFromBitmap(faulty, m)) if (node !== me) items.push({ node, phase: 'partial', outcome: 'wrong', delayMs: 0 })
  for (let v = 0; v <= view; v++) {
    const primary = v === view ? proposal?.proposer : primaries[v]
    if (!primary || primary === me || hs.evidence.equivocators.has(primary)) continue
    if (v === view && proposal) {
      // A proposal is due when the height started, or later when its aggregate came later.
      const due = Math.max(hs.startedAt, proposal.aggregateAt ?? hs.startedAt)
      items.push({ node: primary, phase: 'preprepare', outcome: 'valid', delayMs: Math.max(0, proposal.at - due) })
    } else items.push({ node: primary, phase: 'preprepare', outcome: 'missing', delayMs: 0 })
  }
  return items
}
