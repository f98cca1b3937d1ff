/**
 * View change (PROTOCOL 4.5; the paper has none): if a height with known work does not commit
 * before the view timer, replicas publish VIEW-CHANGE(h, v+1, prepared certificate); the primary
 * of v+1 gathers 2f+1 and publishes NEW-VIEW with the highest prepared block (or a fresh one);
 * the timer doubles per failed view and resets after a commit.
 *
 * ViewChangeLog holds what one height knows of it; ViewChange runs it for the replica that hosts
 * it, through the small ViewChangeHost interface.
 */
import { bytesEqual, DOMAIN } from '@bbnp/core'
import { sign } from '@bbnp/crypto'
import { type Block, type CommitCertificate, decodeCanonicalBlock, encodeBlock, hashEncodedBlock } from './block.ts'
import { checkCertificate } from './certificate.ts'
import { type ReplicaContext, verifyFrom } from './context.ts'
import type { HeightState } from './height.ts'
import {
  type ConsensusMessage,
  decodeMessage,
  encodeMessage,
  type NewViewMessage,
  newViewPayload,
  type PreparedCertificate,
  type ViewChangeMessage,
  viewChangePayload
} from './messages.ts'
import type { RejectReason } from './replica-types.ts'
import type { SignGuard } from './sign-guard.ts'
import type { BlockError } from './validate.ts'

interface Prepared {
  view: number
  digest: Uint8Array
  encoded: Uint8Array
  signers: Uint8Array
  signature: Uint8Array
}

interface Received {
  msg: ViewChangeMessage
  encoded: Uint8Array
}

/** What one height knows of view changes: VIEW-CHANGEs by view, its prepared block, timers and NEW-VIEWs sent. */
export class ViewChangeLog {
  private readonly byView = new Map<number, Map<number, Received>>()
  private readonly newViewSent = new Set<number>()
  private readonly timerArmed = new Set<number>()
  /** The block this replica prepared in the highest view, with its prepare certificate. */
  private prepared: Prepared | null = null

  has(view: number, node: number): boolean {
    return this.byView.get(view)?.has(node) ?? false
  }

  record(msg: ViewChangeMessage, encoded: Uint8Array): void {
    let byNode = this.byView.get(msg.view)
    if (!byNode) {
      byNode = new Map()
      this.byView.set(msg.view, byNode)
    }
    byNode.set(msg.node, { msg, encoded })
  }

  /**
   * PBFT liveness: f+1 nodes asking for a view later than `current` means at least one honest
   * node timed out; the smallest such view, to join rather than wait for the own timer.
   */
  viewToJoin(current: number, f: number): number | null {
    const later = new Map<number, number>()
    for (const [view, byNode] of this.byView) {
      if (view <= current) continue
      for (const node of byNode.keys()) later.set(node, Math.min(later.get(node) ?? view, view))
    }
    return later.size > f ? Math.min(...later.values()) : null
  }

  /** The first `quorum` VIEW-CHANGEs for `view`, by node; null with fewer. */
  quorumFor(view: number, quorum: number): Received[] | null {
    const received = this.byView.get(view)
    if (!received || received.size < quorum) return null
    return [...received.values()].sort((a, b) => a.msg.node - b.msg.node).slice(0, quorum)
  }

  notePrepared(view: number, digest: Uint8Array, encoded: Uint8Array, cert: CommitCertificate): void {
    if (!this.prepared || this.prepared.view < view)
      this.prepared = { view, digest, encoded, signers: cert.signers, signature: cert.signature }
  }

  /** The prepared certificate a VIEW-CHANGE carries, and the digest of its block. */
  preparedCertificate(): { cert: PreparedCertificate; digest: Uint8Array } | null {
    const p = this.prepared
    return p ? { cert: { view: p.view, block: p.encoded, signers: p.signers, signature: p.signature }, digest: p.digest } : null
  }

  /** True the first time for `view`: its timer is to be armed. */
  armOnce(view: number): boolean {
    if (this.timerArmed.has(view)) return false
    this.timerArmed.add(view)
    return true
  }

  hasSentNewView(view: number): boolean {
    return this.newViewSent.has(view)
  }

  markNewViewSent(view: number): void {
    this.newViewSent.add(view)
  }
}

/** What view change needs from the replica that hosts it. */
export interface ViewChangeHost {
  /** The height being worked on. */
  current(): HeightState
  /** A fresh block for `view` from the next aggregate this replica holds, or null without one. */
  freshBlock(view: number, now: number): Block | null
  /** Check a fresh block against the chain head (validate.ts). */
  validate(block: Block, now: number): BlockError | null
  /** Take the proposal of `view` and vote for it. */
  accept(view: number, block: Block, encoded: Uint8Array, digest: Uint8Array, proposer: number, now: number): void
}

export class ViewChange {
  private readonly ctx: ReplicaContext
  private readonly guard: SignGuard
  private readonly host: ViewChangeHost
  /** Moving average of how long a height takes from work to decision on this network (ms). */
  private commitMs = 0

  constructor(ctx: ReplicaContext, guard: SignGuard, host: ViewChangeHost) {
    this.ctx = ctx
    this.guard = guard
    this.host = host
  }

  /** A height decided in `view`: view 0 decisions teach the view timer how long heights take. */
  noteDecided(hs: HeightState, view: number, now: number): void {
    if (view !== 0) return
    const sample = now - (hs.workSince ?? hs.startedAt)
    this.commitMs = this.commitMs === 0 ? sample : 0.8 * this.commitMs + 0.2 * sample
  }

  /**
   * View v waits base * 2^v (PROTOCOL 4.5), where base is four times the recent time to commit,
   * kept between the configured timeout and four times it: on a slow or loaded machine a healthy
   * primary is not replaced just because every height takes longer, and a few slow heights do
   * not make the next failover wait long.
   */
  private timeout(view: number): number {
    const t = this.ctx.config.timing
    const base = Math.min(4 * t.viewTimeoutMs, Math.max(t.viewTimeoutMs, Math.ceil(4 * this.commitMs)))
    return Math.min(t.maxViewTimeoutMs, base * 2 ** Math.min(view, 20))
  }

  /** Arm the timer of `view` at the current height (once); the height has work from now on. */
  armTimer(view: number, now: number): void {
    const hs = this.host.current()
    if (hs.workSince === null) hs.workSince = now
    if (hs.viewChanges.armOnce(view)) this.ctx.out.timer({ kind: 'view', height: hs.height, view }, this.timeout(view))
  }

  /** Leave the current view for `target`: VIEW-CHANGE with this replica's prepared certificate. */
  start(target: number, now: number): void {
    const { config, out } = this.ctx
    const hs = this.host.current()
    if (hs.decided || target <= hs.view) return
    if (!this.guard.maySign(hs, 'viewchange', target, null)) return
    hs.view = target
    hs.viewChanging = true
    this.ctx.stats.viewChanges++
    const prepared = hs.viewChanges.preparedCertificate()
    const base = { height: hs.height, view: target, node: config.me, prepared: prepared?.cert ?? null }
    const signature = sign(config.signer, DOMAIN.viewchange, viewChangePayload(base, prepared?.digest ?? null))
    const msg: ViewChangeMessage = { kind: 'viewchange', ...base, signature }
    hs.viewChanges.record(msg, out.send(msg))
    // The draw goes out again with every view change: a replica stops re-sending its draw once it
    // holds every draw itself, so a peer that missed it (published before the mesh formed) would
    // rank the candidates differently for the whole height, and with f liars one such honest peer
    // is enough to block every quorum.
    hs.election.resendDraw()
    out.log('warn', 'view change', { height: hs.height, view: target })
    this.armTimer(target, now)
    this.tryNewView(now)
  }

  onViewChange(msg: ViewChangeMessage, now: number): void {
    const hs = this.host.current()
    if (hs.decided || msg.view <= 0) return
    if (msg.view < hs.view) return
    if (hs.viewChanges.has(msg.view, msg.node)) return
    if (!this.checkViewChange(msg, hs.height)) return hs.evidence.wrongFrom(msg.node, 'viewchange', 'BAD_VIEW_CHANGE')
    hs.viewChanges.record(msg, encodeMessage(msg))
    const target = hs.viewChanges.viewToJoin(hs.view, this.ctx.f)
    if (target !== null && target > hs.view) this.start(target, now)
    this.tryNewView(now)
  }

  /** As the primary of the view this replica is changing to, publish NEW-VIEW once 2f+1 agree. */
  tryNewView(now: number): void {
    const { config, out } = this.ctx
    const hs = this.host.current()
    if (hs.decided || !hs.viewChanging || hs.view === 0 || hs.viewChanges.hasSentNewView(hs.view)) return
    if (!hs.election.settled || hs.election.primaryOf(hs.view) !== config.me) return
    const chosen = hs.viewChanges.quorumFor(hs.view, this.ctx.quorum)
    if (!chosen) return
    const best = highestPrepared(chosen.map((c) => c.msg))
    let encoded: Uint8Array
    let block: Block
    if (best) {
      encoded = best.block
      const decoded = decodeCanonicalBlock(encoded, config.maxBlockBytes)
      if (!decoded) return
      block = decoded.block
    } else {
      const fresh = this.host.freshBlock(hs.view, now)
      if (!fresh) return
      block = fresh
      encoded = encodeBlock(block)
    }
    const digest = hashEncodedBlock(encoded)
    if (!this.guard.maySign(hs, 'newview', hs.view, digest)) return
    hs.viewChanges.markNewViewSent(hs.view)
    const msg: NewViewMessage = {
      kind: 'newview',
      height: hs.height,
      view: hs.view,
      node: config.me,
      proof: hs.election.proof(),
      viewChanges: chosen.map((c) => c.encoded),
      block: encoded,
      signature: sign(config.signer, DOMAIN.newview, newViewPayload(hs.height, hs.view, digest))
    }
    out.send(msg)
    hs.viewChanging = false
    this.host.accept(hs.view, block, encoded, digest, config.me, now)
  }

  onNewView(msg: NewViewMessage, now: number): void {
    const hs = this.host.current()
    if (hs.decided || msg.view < hs.view || msg.view === 0 || hs.proposals.has(msg.view)) return
    const wrong = (reason: RejectReason) => hs.evidence.wrongFrom(msg.node, 'newview', reason)
    if (!hs.election.open(msg.proof)) return wrong('BAD_ELECTION_PROOF')
    if (hs.election.primaryOf(msg.view) !== msg.node) return wrong('WRONG_PRIMARY')
    const decoded = decodeCanonicalBlock(msg.block, this.ctx.config.maxBlockBytes)
    if (!decoded) return wrong('MALFORMED_BLOCK')
    if (!verifyFrom(this.ctx, msg.node, DOMAIN.newview, newViewPayload(hs.height, msg.view, decoded.digest), msg.signature))
      return wrong('BAD_SIGNATURE')
    const err = this.checkNewViewBlock(msg, decoded.block, hs.height, now)
    if (err) return wrong(err)
    // A replica that had signed a view change for a still later view stays there.
    const last = this.guard.last
    if (last && last.height === hs.height && last.view > msg.view) return
    hs.view = msg.view
    hs.viewChanging = false
    this.armTimer(msg.view, now)
    this.host.accept(msg.view, decoded.block, msg.block, decoded.digest, msg.node, now)
  }

  /**
   * A NEW-VIEW's block must be justified by the 2f+1 valid VIEW-CHANGEs for its view, from
   * distinct nodes, that it carries: it is their highest prepared block (safety: a block prepared
   * in an earlier view must be re-proposed) or, if none prepared one, a valid fresh block of its sender.
   */
  private checkNewViewBlock(msg: NewViewMessage, block: Block, height: number, now: number): RejectReason | null {
    const vcs: ViewChangeMessage[] = []
    const seen = new Set<number>()
    for (const enc of msg.viewChanges) {
      let vc: ConsensusMessage
      try {
        vc = decodeMessage(enc, { maxBlockBytes: this.ctx.config.maxBlockBytes, nodes: this.ctx.m })
      } catch {
        return 'BAD_VIEW_CHANGE'
      }
      if (vc.kind !== 'viewchange' || vc.height !== height || vc.view !== msg.view || seen.has(vc.node)) return 'BAD_VIEW_CHANGE'
      if (!this.checkViewChange(vc, height)) return 'BAD_VIEW_CHANGE'
      seen.add(vc.node)
      vcs.push(vc)
    }
    if (vcs.length < this.ctx.quorum) return 'TOO_FEW_VIEW_CHANGES'
    const best = highestPrepared(vcs)
    if (best) return bytesEqual(best.block, msg.block) ? null : 'NOT_HIGHEST_PREPARED'
    if (block.view !== msg.view || block.primary !== msg.node) return 'WRONG_PRIMARY'
    return this.host.validate(block, now)
  }

  /** Check a VIEW-CHANGE: its signature and, if it claims a prepared block, that certificate. */
  private checkViewChange(msg: ViewChangeMessage, height: number): boolean {
    const { config, quorum } = this.ctx
    let preparedDigest: Uint8Array | null = null
    if (msg.prepared) {
      const decoded = decodeCanonicalBlock(msg.prepared.block, config.maxBlockBytes)
      if (!decoded || decoded.block.height !== height) return false
      preparedDigest = decoded.digest
      const cert = { height, view: msg.prepared.view, signers: msg.prepared.signers, signature: msg.prepared.signature }
      if (msg.prepared.view >= msg.view) return false
      if (checkCertificate(cert, height, preparedDigest, config.keys, quorum, 'prepare') !== null) return false
    }
    return verifyFrom(this.ctx, msg.node, DOMAIN.viewchange, viewChangePayload(msg, preparedDigest), msg.signature)
  }
}

function highestPrepared(vcs: ViewChangeMessage[]): PreparedCertificate | null {
  let best: PreparedCertificate | null = null
  for (const vc of vcs) if (vc.prepared && (!best || vc.prepared.view > best.view)) best = vc.prepared
  return best
}
