/**
 * What the parts of one replica share: its configuration and quorum sizes, its signature cache
 * and counters, and the outbox that collects the effects of the event being handled, in the
 * order the runtime must carry them out.
 */
import { type ConsensusMessage, encodeMessage } from './messages.ts'
import type { LogLevel, RejectKind, RejectReason, ReplicaConfig, ReplicaEffect, ReplicaStats, ReplicaTimer } from './replica-types.ts'
import { type SignatureCache, signerId } from './sigcache.ts'

export class Outbox {
  private effects: ReplicaEffect[] = []

  /** The effects collected since the last call, in order. */
  take(): ReplicaEffect[] {
    const effects = this.effects
    this.effects = []
    return effects
  }

  push(effect: ReplicaEffect): void {
    this.effects.push(effect)
  }

  /** Publish a message; returns its encoding. */
  send(message: ConsensusMessage): Uint8Array {
    const encoded = encodeMessage(message)
    this.effects.push({ type: 'broadcast', message, encoded })
    return encoded
  }

  reject(node: number | null, kind: RejectKind, reason: RejectReason): void {
    this.effects.push({ type: 'reject', node, kind, reason })
  }

  timer(timer: ReplicaTimer, delayMs: number): void {
    this.effects.push({ type: 'timer', timer, delayMs })
  }

  log(level: LogLevel, msg: string, ctx?: Record<string, unknown>): void {
    this.effects.push({ type: 'log', level, msg, ctx })
  }
}

export interface ReplicaContext {
  readonly config: ReplicaConfig
  /** Number of consensus nodes M, faults tolerated f = floor((M - 1) / 3), quorum 2f + 1. */
  readonly m: number
  readonly f: number
  readonly quorum: number
  readonly cache: SignatureCache
  readonly stats: ReplicaStats
  readonly out: Outbox
}

/** Check one signature of consensus node `node` through the cache. */
export function verifyFrom(ctx: ReplicaContext, node: number, domain: string, payload: Uint8Array, signature: Uint8Array): boolean {
  return ctx.cache.verify(signerId(node), ctx.config.keys[node - 1], domain, payload, signature)
}
