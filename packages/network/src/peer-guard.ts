import type { ConnectionGater, PeerId } from '@libp2p/interface'

export interface BanPolicy {
  /** A peer whose rejected inputs reach this many within `windowMs` is disconnected and banned. */
  maxRejects: number
  windowMs: number
  /** How long the gater refuses a banned peer. */
  durationMs: number
}

/**
 * Who may talk to us: the caller's allow list minus the peers currently banned. The same
 * answer is given to the connection gater (inbound and outbound, before any protocol runs), to
 * the gossip publisher check and to the ban bookkeeping, so there is one notion of "admitted".
 *
 * `allowed` is read live, never copied: a caller that admits new peers later (a gateway learning
 * meters) mutates its set and the gater follows.
 */
export class PeerGuard {
  private readonly allowed: ReadonlySet<string>
  private readonly policy: BanPolicy
  private readonly now: () => number
  /** peer ID -> ban expiry (ms). Expired entries are dropped when next looked at. */
  private readonly bans = new Map<string, number>()
  /** peer ID -> times of its recent rejected inputs, at most `maxRejects` of them. */
  private readonly rejects = new Map<string, number[]>()

  constructor(allowed: ReadonlySet<string>, policy: BanPolicy, now: () => number = Date.now) {
    this.allowed = allowed
    this.policy = policy
    this.now = now
  }

  isBanned(peerId: string): boolean {
    const until = this.bans.get(peerId)
    if (until === undefined) return false
    if (this.now() < until) return true
    this.bans.delete(peerId)
    return false
  }

  isAllowed(peerId: string): boolean {
    return this.allowed.has(peerId)
  }

  isAdmitted(peerId: string): boolean {
    return this.allowed.has(peerId) && !this.isBanned(peerId)
  }

  /**
   * Records one rejected input from `peerId` (a gossip reject it delivered, a malformed or
   * oversized request). Returns true when this reject crosses the bound and the peer is now banned.
   */
  recordReject(peerId: string): boolean {
    if (this.isBanned(peerId)) return false
    const now = this.now()
    const since = now - this.policy.windowMs
    const times = (this.rejects.get(peerId) ?? []).filter((t) => t > since)
    times.push(now)
    if (times.length >= this.policy.maxRejects) {
      this.rejects.delete(peerId)
      this.bans.set(peerId, now + this.policy.durationMs)
      return true
    }
    // keep only what can still matter for the bound, so a peer's record stays small
    this.rejects.set(peerId, times.slice(-Math.max(1, this.policy.maxRejects - 1)))
    return false
  }

  /** Denies every peer that is not admitted, in both directions, before any protocol runs. */
  gater(): ConnectionGater {
    const deny = (peerId: PeerId): boolean => !this.isAdmitted(peerId.toString())
    return {
      denyDialPeer: deny,
      denyOutboundConnection: deny,
      denyInboundEncryptedConnection: deny,
      denyOutboundEncryptedConnection: deny,
      denyInboundUpgradedConnection: deny,
      denyOutboundUpgradedConnection: deny,
      // no relays in this network
      denyInboundRelayReservation: () => true,
      denyOutboundRelayedConnection: () => true,
      denyInboundRelayedConnection: () => true
    }
  }
}
