import { errorMessage, type Logger } from '@bbnp/core'
import type { PersistentPeer, RedialPolicy } from './types.ts'

interface PeerState {
  peer: PersistentPeer
  attempts: number
  timer?: ReturnType<typeof setTimeout>
  dialing: boolean
}

/**
 * Keeps the persistent peers connected: dials each at start, and whenever one is lost (or a
 * dial fails) dials it again after a backoff that doubles from `initialMs` up to `maxMs`, with
 * jitter so that peers restarting together do not dial in lockstep. A peer counts as connected
 * only once identify has run on the connection, i.e. once the remote has let us in; a remote
 * that drops us right after the handshake (its gater denies us) keeps the backoff growing.
 */
export class PersistentPeers {
  private readonly states = new Map<string, PeerState>()
  private readonly policy: RedialPolicy
  private readonly dial: (peer: PersistentPeer, signal: AbortSignal) => Promise<void>
  private readonly isConnected: (peerId: string) => boolean
  private readonly logger: Logger
  private abort = new AbortController()
  private running = false

  constructor(
    peers: PersistentPeer[],
    policy: RedialPolicy,
    dial: (peer: PersistentPeer, signal: AbortSignal) => Promise<void>,
    isConnected: (peerId: string) => boolean,
    logger: Logger
  ) {
    for (const peer of peers) this.states.set(peer.peerId, { peer, attempts: 0, dialing: false })
    this.policy = policy
    this.dial = dial
    this.isConnected = isConnected
    this.logger = logger
  }

  start(): void {
    this.running = true
    this.abort = new AbortController()
    for (const s of this.states.values()) void this.attempt(s)
  }

  stop(): void {
    this.running = false
    this.abort.abort()
    for (const s of this.states.values()) {
      clearTimeout(s.timer)
      s.timer = undefined
      s.attempts = 0
    }
  }

  /** The peer let us in (identify completed), whoever dialled. */
  onIdentified(peerId: string): void {
    const s = this.states.get(peerId)
    if (s === undefined) return
    s.attempts = 0
    clearTimeout(s.timer)
    s.timer = undefined
  }

  /**
   * Points a persistent peer at a new address (the address book changed). A peer that is not
   * connected is dialled there at once, with its backoff reset; a connected one keeps its
   * connection and is dialled there the next time it is lost. Returns false for a peer this
   * keeper does not hold.
   */
  setAddress(peerId: string, addr: string): boolean {
    const s = this.states.get(peerId)
    if (s === undefined) return false
    if (s.peer.addr === addr) return true
    s.peer = { ...s.peer, addr }
    s.attempts = 0
    clearTimeout(s.timer)
    s.timer = undefined
    // A dial in flight goes to the old address; when it ends, the next one goes to the new.
    if (this.running) void this.attempt(s)
    return true
  }

  onDisconnected(peerId: string): void {
    const s = this.states.get(peerId)
    if (s !== undefined) this.schedule(s)
  }

  private schedule(s: PeerState): void {
    if (!this.running || s.timer !== undefined || s.dialing) return
    const base = Math.min(this.policy.maxMs, this.policy.initialMs * 2 ** s.attempts)
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()))
    s.attempts++
    s.timer = setTimeout(() => {
      s.timer = undefined
      void this.attempt(s)
    }, delay)
  }

  private async attempt(s: PeerState): Promise<void> {
    if (!this.running || s.dialing) return
    if (this.isConnected(s.peer.peerId)) return
    s.dialing = true
    try {
      await this.dial(s.peer, this.abort.signal)
      s.attempts = 0
    } catch (e) {
      if (this.running)
        this.logger.debug('persistent peer dial failed', { peer: s.peer.peerId, attempt: s.attempts, error: errorMessage(e) })
    } finally {
      s.dialing = false
    }
    if (!this.isConnected(s.peer.peerId)) this.schedule(s)
  }
}
