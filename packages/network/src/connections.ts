import { BbnpError, errorMessage, type Gauge, type Logger } from '@bbnp/core'
import type { Connection } from '@libp2p/interface'
import type { PeerEvent } from './types.ts'

/** What the book needs of a connection. */
export type ConnectionInfo = Pick<Connection, 'id' | 'status'>

export interface ConnectionBookDeps {
  /** Dials a full multiaddr (ending in /p2p/<peerId>); a throw, even a synchronous one, is a failed dial. */
  dial(addr: string, signal: AbortSignal): Promise<ConnectionInfo>
  /** `bbnp_peers_connected`, kept equal to the number of connected peers. */
  peersConnected: Gauge
  logger: Logger
}

/** What the rest of the node hears from the book, in this order for one connection. */
export interface ConnectionHooks {
  /** Identify completed on a new open connection of the peer (its first or not). */
  identified(peerId: string): void
  /** An identified connection closed; the peer may still have others. */
  connectionClosed(connId: string, peerId: string): void
  /** The peer's last identified connection closed. */
  disconnected(peerId: string): void
}

export function withPeerId(addr: string, peerId: string): string {
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${peerId}`
}

/**
 * The node's view of who is connected, fed with libp2p's identify and close events. A peer counts
 * as connected once identify has completed on one of its connections: only then do we know the
 * remote admitted us too. (With Noise XX the dialler finishes its handshake before the listener
 * sees its identity, so a listener that denies us still leaves the dialler with a connection for
 * a moment; it never shows up here.) Emits a connect event for a peer's first identified
 * connection and a disconnect event when its last one closes.
 */
export class ConnectionBook {
  private readonly deps: ConnectionBookDeps
  private readonly hooks: ConnectionHooks
  /** connection id -> peer id */
  private readonly identified = new Map<string, string>()
  /** peer id -> number of its identified connections */
  private readonly identifiedPeers = new Map<string, number>()
  /** connection id -> the pending connect() on it */
  private readonly identifyWaiters = new Map<string, (ok: boolean) => void>()
  private readonly listeners = new Set<(e: PeerEvent) => void>()

  constructor(deps: ConnectionBookDeps, hooks: ConnectionHooks) {
    this.deps = deps
    this.hooks = hooks
  }

  isConnected(peerId: string): boolean {
    return this.identifiedPeers.has(peerId)
  }

  peers(): string[] {
    return [...this.identifiedPeers.keys()]
  }

  /** Subscribes to peer connect/disconnect events; returns the unsubscribe function. */
  onPeer(listener: (event: PeerEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Dials once; resolves when the peer has let us in (identify ran), fails with NO_CONNECTION otherwise. */
  async connect(peerId: string, addr: string, signal: AbortSignal): Promise<void> {
    let conn: ConnectionInfo
    try {
      conn = await this.deps.dial(withPeerId(addr, peerId), signal)
    } catch (e) {
      throw new BbnpError('NO_CONNECTION', `cannot connect to ${peerId}: ${errorMessage(e)}`, { peer: peerId }, { cause: e })
    }
    if (this.identified.has(conn.id)) return
    if (conn.status !== 'open') throw new BbnpError('NO_CONNECTION', `${peerId} closed the connection`, { peer: peerId })
    const ok = await new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        this.identifyWaiters.delete(conn.id)
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      }
      const onAbort = () => done(false)
      this.identifyWaiters.set(conn.id, done)
      signal.addEventListener('abort', onAbort, { once: true })
      if (signal.aborted) done(false)
    })
    if (!ok) throw new BbnpError('NO_CONNECTION', `${peerId} did not accept the connection`, { peer: peerId })
  }

  /** libp2p's `peer:identify`. */
  identifyCompleted(conn: ConnectionInfo, peerId: string): void {
    this.identifyWaiters.get(conn.id)?.(true)
    if (this.identified.has(conn.id) || conn.status !== 'open') return
    this.identified.set(conn.id, peerId)
    const n = this.identifiedPeers.get(peerId) ?? 0
    this.identifiedPeers.set(peerId, n + 1)
    if (n === 0) {
      this.updateGauge()
      this.emit({ type: 'connect', peerId })
    }
    this.hooks.identified(peerId)
  }

  /** libp2p's `connection:close`. */
  connectionClosed(connId: string): void {
    this.identifyWaiters.get(connId)?.(false)
    const peerId = this.identified.get(connId)
    if (peerId === undefined) return
    this.identified.delete(connId)
    this.hooks.connectionClosed(connId, peerId)
    const n = (this.identifiedPeers.get(peerId) ?? 1) - 1
    if (n > 0) {
      this.identifiedPeers.set(peerId, n)
      return
    }
    this.identifiedPeers.delete(peerId)
    this.updateGauge()
    this.emit({ type: 'disconnect', peerId })
    this.hooks.disconnected(peerId)
  }

  /** Fails every pending connect() (the node is stopping). */
  abortWaiters(): void {
    for (const done of this.identifyWaiters.values()) done(false)
  }

  /** Forgets every connection, without events (the node has stopped). */
  clear(): void {
    this.identified.clear()
    this.identifiedPeers.clear()
    this.deps.peersConnected.set(0)
  }

  private updateGauge(): void {
    this.deps.peersConnected.set(this.identifiedPeers.size)
  }

  private emit(event: PeerEvent): void {
    for (const l of this.listeners) {
      try {
        l(event)
      } catch (e) {
        this.deps.logger.warn('peer event listener threw', { error: errorMessage(e) })
      }
    }
  }
}
