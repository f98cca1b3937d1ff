/**
 * A scripted network for the replica: M replicas, a gateway that signs aggregates and answers the
 * first draw of each (height, seed) with Theta, a virtual clock, and filters that drop, delay or
 * rewrite messages. Effects are executed like the runtime does, in order; no sockets, no timers.
 */
import { concatBytes, DOMAIN, decodeCanonical, encodeCanonical, readBytes, readObject, readUint, SeededRng, u64be } from '@bbnp/core'
import {
  decodePublicKey,
  publicKeyFromScalar,
  randomScalar,
  type SecretKey,
  secretKeyFromScalar,
  sign,
  verify,
  vrfMessage
} from '@bbnp/crypto'
import {
  aggregatePayload,
  bitmapFromIndices,
  carriedDraw,
  type ChainHead,
  type CommitInfo,
  type ConsensusMessage,
  type ConsensusRules,
  decodeMessage,
  endorsementPayload,
  makeEndorsement,
  maxBlockBytes,
  type Observation,
  Replica,
  type ReplicaEffect,
  type ReplicaEvent,
  type ReplicaLike,
  type ReplicaMisbehaviour,
  type SignedAggregate,
  type SignedPartial,
  type SignedRecord,
  withMisbehaviour
} from '../src/index.ts'

export const GENESIS_HASH = new Uint8Array(32).fill(0xab)

/** Test rules: candidates ordered by draw (highest first); opinions are signed (height, node); the
 * combined vector adds the number of opinions to every entry, so a wrong vector is detectable. */
export function testRules(keys: ReturnType<typeof decodePublicKey>[]): ConsensusRules {
  return {
    electionOrder(_rep, draws, _theta) {
      return [...draws.entries()].sort((a, b) => (a[1] === b[1] ? a[0] - b[0] : a[1] > b[1] ? -1 : 1)).map(([n]) => n)
    },
    peekOpinion(encoded) {
      const o = readObject(decodeCanonical(encoded, { maxBytes: 512 }), 'opinion', ['h', 'node', 'sig'])
      const node = readUint(o.node, 'node', keys.length)
      if (node < 1) throw new Error('bad opinion')
      return { height: readUint(o.h, 'h'), node }
    },
    trustOpinion() {},
    verifyOpinions(encoded) {
      return encoded.map((e) => {
        const o = readObject(decodeCanonical(e, { maxBytes: 512 }), 'opinion', ['h', 'node', 'sig'])
        const node = readUint(o.node, 'node', keys.length)
        return verify(keys[node - 1], DOMAIN.opinion, u64be(readUint(o.h, 'h')), readBytes(o.sig, 'sig', 96))
      })
    },
    combineOpinions(encoded, previous) {
      return previous.map((x) => x + encoded.length)
    }
  }
}

export function signOpinion(sk: SecretKey, height: number, node: number): Uint8Array {
  return encodeCanonical({ h: height, node, sig: sign(sk, DOMAIN.opinion, u64be(height)) })
}

export interface Delivery {
  from: number
  to: number
  message: ConsensusMessage
}

/** Return false to drop, a message to replace it, or undefined to deliver as is. */
export type Filter = (d: Delivery) => boolean | ConsensusMessage | undefined

export class Sim {
  readonly m: number
  /** The honest state machines, to inspect. */
  readonly replicas: Replica[] = []
  /** What receives the events: a replica, or the misbehaviour wrapper around it. */
  private readonly runners: ReplicaLike[] = []
  readonly signers: SecretKey[] = []
  readonly keys: ReturnType<typeof decodePublicKey>[] = []
  readonly gatewaySk: SecretKey
  readonly gatewayKey: ReturnType<typeof decodePublicKey>
  readonly meters = 5
  now = 10_000
  readonly committed = new Map<number, CommitInfo[]>()
  readonly rejects: { at: number; node: number | null; kind: string; reason: string }[] = []
  readonly observations = new Map<number, { height: number; items: Observation[] }[]>()
  readonly persisted = new Map<number, SignedRecord[]>()
  readonly broadcasts: Delivery[] = []
  readonly behind = new Map<number, number[]>()
  filters: Filter[] = []
  /** Nodes that are down: they neither send nor receive. */
  readonly down = new Set<number>()
  private queue: { to: number; event: ReplicaEvent }[] = []
  readonly timers: { at: number; to: number; event: ReplicaEvent; seq: number }[] = []
  private seq = 0
  private thetaSent = new Set<string>()
  /** Whether the gateway's Theta reaches the replicas by gossip, and whether it answers a direct request. */
  thetaByGossip = true
  thetaByRequest = true
  /** The replicas that asked the gateway for Theta directly, in order. */
  readonly thetaFetches: number[] = []
  /** Whether a replica's direct request for missing draws is answered (/bbnp/draw/1). */
  drawsByRequest = true
  /** Each direct request for a draw: who asked whom. */
  readonly drawFetches: { from: number; to: number }[] = []

  constructor(m: number, opts: { misbehave?: Record<number, ReplicaMisbehaviour[]>; seed?: string } = {}) {
    this.m = m
    const rng = new SeededRng(opts.seed ?? `sim-${m}`)
    for (let j = 1; j <= m; j++) {
      const s = randomScalar(rng)
      this.signers.push(secretKeyFromScalar(s))
      this.keys.push(decodePublicKey(publicKeyFromScalar(s)))
    }
    const g = randomScalar(rng)
    this.gatewaySk = secretKeyFromScalar(g)
    this.gatewayKey = decodePublicKey(publicKeyFromScalar(g))
    const rules = testRules(this.keys)
    const head: ChainHead = { height: 0, hash: GENESIS_HASH, slot: -1, reputation: new Array(m).fill(500), opinionHeight: 0, cert: null }
    for (let j = 1; j <= m; j++) {
      const replica = new Replica(
        {
          me: j,
          keys: this.keys,
          gatewayKey: this.gatewayKey,
          meters: this.meters,
          minReporters: 3,
          signer: this.signers[j - 1],
          maxBlockBytes: maxBlockBytes(m, this.meters),
          timing: { viewTimeoutMs: 1000, maxViewTimeoutMs: 8000, electionWaitMs: 50, graceMs: 100, genesisTimeMs: 0, periodMs: 1000 },
          rules
        },
        { ...head },
        null
      )
      this.replicas.push(replica)
      this.runners.push(withMisbehaviour(replica, opts.misbehave?.[j] ?? [], this.signers[j - 1]))
      this.committed.set(j, [])
      this.observations.set(j, [])
      this.persisted.set(j, [])
      this.behind.set(j, [])
    }
  }

  replica(j: number): Replica {
    return this.replicas[j - 1]
  }

  start(): void {
    for (let j = 1; j <= this.m; j++) if (!this.down.has(j)) this.enqueue(j, { type: 'start', now: this.now })
    this.run()
  }

  /**
   * A signed aggregate for `slot`; `opts.badSignature` signs something else; `opts.faulty` names
   * consensus nodes, with `opts.faultProof` as their proof (or none).
   */
  aggregate(
    slot: number,
    sum = 1234n,
    opts: { badSignature?: boolean; missing?: number[]; faulty?: number[]; faultProof?: SignedPartial[] } = {}
  ): SignedAggregate {
    const missing = opts.missing ?? []
    const complete = missing.length === 0
    const quorum = 2 * Math.floor((this.m - 1) / 3) + 1
    const present = bitmapFromIndices(
      Array.from({ length: this.meters }, (_, i) => i + 1),
      this.meters
    )
    const body = {
      slot,
      fromSlot: slot,
      status: complete ? ('complete' as const) : ('incomplete' as const),
      sum: complete ? sum : 0n,
      count: this.meters - missing.length,
      missing: complete ? new Uint8Array(0) : bitmapFromIndices(missing, this.meters),
      reason: complete ? ('' as const) : ('no-partials' as const),
      // 2f+1 peers endorse the full set (PROTOCOL 3.5.5)
      endorsement: complete
        ? makeEndorsement(
            this.signers
              .slice(0, quorum)
              .map((sk, k) => ({ node: k + 1, signature: sign(sk, DOMAIN.endorse, endorsementPayload(slot, present)) })),
            this.m
          )
        : null,
      faulty: opts.faulty ? bitmapFromIndices(opts.faulty, this.m) : new Uint8Array(0),
      ...(opts.faultProof ? { faultProof: opts.faultProof } : {})
    }
    const signed = opts.badSignature ? aggregatePayload({ ...body, sum: body.sum + 1n }) : aggregatePayload(body)
    return { ...body, signature: sign(this.gatewaySk, DOMAIN.aggregate, signed) }
  }

  /** The gateway's hand-off: the aggregate goes to every consensus node. */
  handOff(agg: SignedAggregate, to: number[] = this.replicas.map((_, i) => i + 1)): void {
    for (const j of to) if (!this.down.has(j)) this.enqueue(j, { type: 'aggregate', aggregate: agg, now: this.now })
    this.run()
  }

  deliver(to: number, message: ConsensusMessage): void {
    this.enqueue(to, { type: 'message', message, now: this.now })
    this.run()
  }

  opinion(to: number, encoded: Uint8Array): void {
    this.enqueue(to, { type: 'opinion', encoded, now: this.now })
    this.run()
  }

  private enqueue(to: number, event: ReplicaEvent): void {
    this.queue.push({ to, event })
  }

  /** Process queued events until the network is quiet (timers stay pending). */
  run(): void {
    for (let guard = 0; this.queue.length > 0; guard++) {
      if (guard > 200_000) throw new Error('simulation does not settle')
      const { to, event } = this.queue.shift() as { to: number; event: ReplicaEvent }
      if (this.down.has(to)) continue
      this.apply(to, { ...event, now: this.now } as ReplicaEvent)
    }
  }

  /** Advance the clock to the next timer (or by `ms`), firing timers due on the way. */
  advance(ms: number): void {
    const until = this.now + ms
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq)
      const t = this.timers[0]
      if (!t || t.at > until) break
      this.timers.shift()
      this.now = Math.max(this.now, t.at)
      this.enqueue(t.to, t.event)
      this.run()
    }
    this.now = until
  }

  private apply(j: number, event: ReplicaEvent): void {
    const effects = this.runners[j - 1].handle(event)
    this.execute(j, effects)
  }

  private execute(j: number, effects: ReplicaEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'persist':
          this.persisted.get(j)?.push(e.record)
          break
        case 'broadcast': {
          // Everything that goes on the wire is decoded again, as the network would.
          const message = decodeMessage(e.encoded, { maxBlockBytes: maxBlockBytes(this.m, this.meters), nodes: this.m })
          // The gateway hears draws alone and carried in commits (PROTOCOL 4.1).
          const draw = message.kind === 'draw' ? message : carriedDraw(message)
          if (draw) this.gatewayAnswers(draw.height, draw.seed)
          for (let to = 1; to <= this.m; to++) {
            if (to === j || this.down.has(to)) continue
            let d: Delivery | null = { from: j, to, message }
            for (const f of this.filters) {
              const r = f(d)
              if (r === false) {
                d = null
                break
              }
              if (r && r !== true) d = { ...d, message: r }
            }
            if (d) {
              this.broadcasts.push(d)
              this.enqueue(to, { type: 'message', message: d.message, now: this.now })
            }
          }
          break
        }
        case 'commit':
          this.committed.get(j)?.push(e.commit)
          break
        case 'timer':
          this.timers.push({
            at: this.now + e.delayMs,
            to: j,
            seq: this.seq++,
            event: { type: 'timeout', timer: e.timer, now: 0 }
          })
          break
        case 'observations':
          this.observations.get(j)?.push({ height: e.height, items: e.items })
          break
        case 'reject':
          this.rejects.push({ at: j, node: e.node, kind: e.kind, reason: e.reason })
          break
        case 'behind':
          this.behind.get(j)?.push(e.height)
          break
        case 'fetch-theta':
          this.thetaFetches.push(j)
          if (this.thetaByRequest) this.enqueue(j, { type: 'message', message: this.theta(e.draw.height, e.draw.seed), now: this.now })
          break
        case 'fetch-draws':
          // As /bbnp/draw/1: the asked node takes in the asker's draw and answers its own.
          for (const node of e.nodes) {
            this.drawFetches.push({ from: j, to: node })
            if (!this.drawsByRequest || this.down.has(node)) continue
            this.enqueue(node, { type: 'message', message: e.draw, now: this.now })
            const own = this.replicas[node - 1].ownDraw(e.draw.height)
            if (own) this.enqueue(j, { type: 'message', message: own, now: this.now })
          }
          break
        case 'log':
          break
      }
    }
  }

  /** The gateway signs Theta once per (height, seed) and publishes it to everyone. */
  private gatewayAnswers(height: number, seed: Uint8Array): void {
    const key = `${height}:${Buffer.from(seed).toString('hex')}`
    if (this.thetaSent.has(key)) return
    this.thetaSent.add(key)
    if (!this.thetaByGossip) return
    for (let to = 1; to <= this.m; to++)
      if (!this.down.has(to)) this.enqueue(to, { type: 'message', message: this.theta(height, seed), now: this.now })
  }

  private theta(height: number, seed: Uint8Array): ConsensusMessage {
    return { kind: 'theta', height, seed, signature: sign(this.gatewaySk, DOMAIN.threshold, vrfMessage(height, seed)) }
  }

  heads(): string[] {
    return this.replicas.map((r) => `${r.head.height}:${Buffer.from(r.head.hash).toString('hex').slice(0, 12)}`)
  }
}

export function concat(...p: Uint8Array[]): Uint8Array {
  return concatBytes(...p)
}
