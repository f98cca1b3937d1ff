/**
 * Catch-up (PROTOCOL 4.6): a peer that starts, restarts or falls behind asks its peers for their
 * status, fetches blocks by height range from the most advanced one, verifies each block's link
 * and certificate against the genesis keys (@bbnp/chain's verifySyncedBlocks), and stores them
 * through the effect driver's queue, so they interleave safely with consensus. One sync at a
 * time; one asked for meanwhile runs once more after it (the peer may have found nothing yet).
 */
import type { Logger } from '@bbnp/core'
import { type BlockStore, decodeStatus, encodeBlocksRequest, nextBlocksRequest, verifySyncedBlocks } from '@bbnp/chain'
import type { PublicKey } from '@bbnp/crypto'
import type { P2PNode } from '@bbnp/network'
import type { EffectDriver } from './effect-driver.ts'
import type { WireProtocols } from './protocols.ts'

export interface CatchUpReport {
  fromHeight: number
  toHeight: number
  blocks: number
  ms: number
  blocksPerSecond: number
}

export interface CatchUpOptions {
  genesisHash: Uint8Array
  keys: PublicKey[]
  quorum: number
  maxBlockBytes: number
  wire: Pick<WireProtocols, 'status' | 'blocks'>
}

export interface CatchUpModules {
  p2p: Pick<P2PNode, 'request' | 'connectedPeers'>
  /** Whether a peer is a consensus peer (only they serve blocks). */
  isConsensusPeer: (peer: string) => boolean
  nameOf: (peer: string) => string
  store: BlockStore
  driver: Pick<EffectDriver, 'applySynced'>
  logger: Logger
}

export class CatchUp {
  private readonly o: CatchUpOptions
  private readonly m: CatchUpModules
  private running: Promise<boolean> | null = null
  private fetching = false
  private rerun = false
  private closed = false
  /** The last catch-up that fetched anything. */
  last: CatchUpReport | null = null

  constructor(options: CatchUpOptions, modules: CatchUpModules) {
    this.o = options
    this.m = modules
  }

  get syncing(): boolean {
    return this.running !== null
  }

  /** Whether this sync found a peer ahead and fetches blocks from it (a poll that found none never is). */
  get catchingUp(): boolean {
    return this.fetching
  }

  close(): void {
    this.closed = true
  }

  /** Catch up from the most advanced peer; resolves with whether any block was stored. */
  sync(why: string): Promise<boolean> {
    if (this.running) {
      this.rerun = true
      return this.running
    }
    this.running = (async () => {
      let progressed = await this.rounds(why)
      while (this.rerun && !this.closed) {
        this.rerun = false
        progressed = (await this.rounds(`${why} (asked again)`)) || progressed
      }
      return progressed
    })().finally(() => {
      this.running = null
      this.fetching = false
    })
    return this.running
  }

  /** Fetch, verify and store blocks from the most advanced peer until no peer is ahead. */
  private async rounds(why: string): Promise<boolean> {
    const { store, logger } = this.m
    const fromHeight = store.head().height
    let firstFetch = 0
    try {
      return await this.fetch(why, () => {
        this.fetching = true
        if (firstFetch === 0) firstFetch = performance.now()
      })
    } finally {
      const blocks = store.head().height - fromHeight
      if (blocks > 0) {
        const ms = Math.max(1, Math.round(performance.now() - firstFetch))
        this.last = { fromHeight, toHeight: store.head().height, blocks, ms, blocksPerSecond: Math.round((blocks * 1000 * 10) / ms) / 10 }
        logger.info('caught up', { ...this.last })
      }
    }
  }

  private async fetch(why: string, onFetch: () => void): Promise<boolean> {
    const { p2p, store, logger, nameOf } = this.m
    let progressed = false
    for (let round = 0; round < 10_000 && !this.closed; round++) {
      const peers = p2p.connectedPeers().filter(this.m.isConsensusPeer)
      const statuses = await Promise.all(
        peers.map((p) =>
          p2p
            .request(p, this.o.wire.status, new Uint8Array(0), { timeoutMs: 2000 })
            .then((frames) => ({ peer: p, status: decodeStatus(frames[0]) }))
            .catch(() => null)
        )
      )
      const best = statuses.filter((s) => s !== null).sort((a, b) => b.status.height - a.status.height)[0]
      const request = best ? nextBlocksRequest(store.head(), this.o.genesisHash, best.status) : null
      if (!best || !request) return progressed
      if (round === 0) logger.info('catching up', { from: store.head().height, to: best.status.height, peer: nameOf(best.peer), why })
      onFetch()
      let frames: Uint8Array[]
      try {
        frames = await p2p.request(best.peer, this.o.wire.blocks, encodeBlocksRequest(request), { timeoutMs: 10_000 })
      } catch (e) {
        logger.warn('block sync request failed', { peer: nameOf(best.peer), error: (e as Error).message })
        return progressed
      }
      const head = store.head()
      if (head.height + 1 !== request.from) continue // consensus moved on meanwhile; ask again
      const result = verifySyncedBlocks(frames, request.from, head.hash, this.o.keys, this.o.quorum, this.o.maxBlockBytes)
      for (const b of result.blocks) {
        await this.m.driver.applySynced(b.block, b.cert)
        progressed = true
      }
      if (result.error) {
        logger.warn('refused a synced block', { peer: nameOf(best.peer), ...result.error })
        return progressed
      }
    }
    return progressed
  }
}
