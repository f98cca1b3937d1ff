/**
 * What every role's runtime shares: the context it is started with, what it hands back, and the
 * wait for its first peers. The three roles (consensus-peer.ts, gateway-runtime.ts,
 * meter-runtime.ts) are composed by `createNode` (node.ts).
 */
import { GATEWAY_ID, type Logger, type MetricsRegistry } from '@bbnp/core'
import type { P2PNode } from '@bbnp/network'
import type { AddressBook, AddressChange } from './address-book.ts'
import type { Genesis } from './genesis.ts'
import type { LoadedKey } from './keys.ts'
import type { NodeOptions } from './options.ts'

export interface RunningNode {
  /** Resolves when the node stops by itself (a fatal error); the value is the exit code. */
  readonly done: Promise<number>
  readonly apiPort: number | null
  close(): Promise<void>
  /** Points the node's persistent peers at changed addresses (the address book was reloaded). */
  readdress?(changes: AddressChange[]): void
}

export interface NodeContext {
  options: NodeOptions
  genesis: Genesis
  /** Where the others listen; replaced in place when the book is reloaded (SIGHUP). */
  addresses: AddressBook
  logger: Logger
  metrics: MetricsRegistry
  /** Aborted when the process is asked to stop during start-up: waits end early, the node comes up idle and is closed. */
  signal?: AbortSignal
}

/** The gateway's and a consensus peer's context: one identity. */
export type SingleKeyContext = NodeContext & { key: LoadedKey }

/** A meter process hosts many identities. */
export type MeterContext = NodeContext & { keys: LoadedKey[] }

/** The libp2p peer ID of an entity that listens (the gateway or cn-j). */
export function peerIdOf(genesis: Genesis, id: string): string | undefined {
  if (id === GATEWAY_ID) return genesis.gateway.peerId.toString()
  return genesis.consensus.find((c) => c.id === id)?.peerId.toString()
}

/** Points each persistent peer whose address changed at its new address; other changes do not concern this node. */
export function readdressPeers(p2p: P2PNode | undefined, genesis: Genesis, changes: AddressChange[], logger: Logger): void {
  for (const c of changes) {
    const peerId = peerIdOf(genesis, c.id)
    if (peerId !== undefined && p2p?.setPeerAddress(peerId, c.to))
      logger.info('dialling a peer at its new address', { peer: c.id, addr: c.to })
  }
}

/** Wait until `count` peers are connected, `ms` passed, or `signal` aborted (then go on with what there is). */
export async function waitForPeers(p2p: P2PNode, count: number, ms: number, signal?: AbortSignal): Promise<void> {
  if (p2p.connectedPeers().length >= count || signal?.aborted) return
  await new Promise<void>((resolve) => {
    const t = setTimeout(done, ms)
    const off = p2p.onPeer(() => {
      if (p2p.connectedPeers().length >= count) done()
    })
    signal?.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(t)
      off()
      signal?.removeEventListener('abort', done)
      resolve()
    }
  })
}
