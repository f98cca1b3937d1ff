/**
 * Safety against a crash-restart (PROTOCOL 4.5): before any signature leaves, a `persist` effect
 * records (height, view, phase, digest), and the runtime completes it before the effects that
 * follow. The replica never signs two different digests for one (height, view) and never signs
 * for a view it has left, including after a restart from the persisted record.
 */
import { bytesEqual } from '@bbnp/core'
import type { Outbox } from './context.ts'
import type { HeightState } from './height.ts'
import type { SignedPhase, SignedRecord } from './replica-types.ts'

export class SignGuard {
  private record: SignedRecord | null
  private readonly out: Outbox

  constructor(last: SignedRecord | null, out: Outbox) {
    this.record = last
    this.out = out
  }

  /** The last message this replica signed. */
  get last(): SignedRecord | null {
    return this.record
  }

  /** Refuse to sign a conflicting message for (height, view); record what is about to be signed. */
  maySign(hs: Pick<HeightState, 'height' | 'proposals'>, phase: SignedPhase, view: number, digest: Uint8Array | null): boolean {
    const ls = this.record
    if (ls && ls.height === hs.height) {
      if (view < ls.view) return false
      // Having asked to leave a view, only a block that view's NEW-VIEW brought may be signed in it.
      if (ls.phase === 'viewchange' && view === ls.view && phase !== 'viewchange' && phase !== 'newview' && !hs.proposals.has(view))
        return false
      if (view === ls.view && digest && ls.digest && !bytesEqual(digest, ls.digest)) return false
    }
    if (ls && ls.height > hs.height) return false
    const record: SignedRecord = { height: hs.height, view, phase, digest }
    this.record = record
    this.out.push({ type: 'persist', record })
    return true
  }
}
