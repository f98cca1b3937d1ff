/**
 * What this consensus peer saw of the others becomes interaction records (paper IV-D-3, table II),
 * then, after each height, a signed opinion vector that it publishes (PROTOCOL 4.4). The records
 * are written with every block (the block store's `records` bucket), so a restarted peer's
 * opinions go on from its evidence instead of starting from none.
 */
import type { Logger } from '@bbnp/core'
import type { Observation } from '@bbnp/consensus'
import type { SecretKey } from '@bbnp/crypto'
import { encodeSignedOpinionVector, InteractionRecords, type ReputationParams, signOpinionVector } from '@bbnp/reputation'

export interface OpinionPublisherOptions {
  self: number
  nodes: number
  params: ReputationParams
  signer: SecretKey
  /** The records as last stored (null for none, or for records the store could not give back). */
  stored: Uint8Array | null
}

export interface OpinionPublisherModules {
  /** Publish the signed vector on the reputation topic, and hand it to this peer's own replica. */
  publish: (encoded: Uint8Array) => void
  logger: Logger
}

export class OpinionPublisher {
  readonly records: InteractionRecords
  private readonly o: OpinionPublisherOptions
  private readonly m: OpinionPublisherModules

  constructor(options: OpinionPublisherOptions, modules: OpinionPublisherModules) {
    this.o = options
    this.m = modules
    this.records = this.restore()
  }

  private restore(): InteractionRecords {
    const { self, nodes, params, stored } = this.o
    if (stored) {
      try {
        const records = InteractionRecords.decode(stored, { self, nodes, params })
        this.m.logger.info('interaction records restored', { upToHeight: records.latestHeight() ?? null })
        return records
      } catch (e) {
        // Records of another network size or window (a changed genesis parameter): start afresh.
        this.m.logger.warn('stored interaction records not usable, starting from no evidence', { error: (e as Error).message })
      }
    }
    return new InteractionRecords({ self, nodes, params })
  }

  /** The records as they are now, for the next block's batch. */
  snapshot(): Uint8Array {
    return this.records.encode()
  }

  /** Record one closed height's observations, then sign and publish this peer's opinion vector. */
  observe(height: number, items: readonly Observation[]): void {
    for (const o of items) {
      if (o.outcome === 'valid') this.records.recordValid(o.node, height, o.delayMs)
      else if (o.outcome === 'wrong') this.records.recordWrongSignature(o.node, height)
      else this.records.recordMissing(o.node, height)
    }
    const signed = signOpinionVector(this.o.signer, this.records.opinionVector(height, this.o.params))
    this.m.publish(encodeSignedOpinionVector(signed))
  }
}
