/**
 * Consensus messages on gossipsub (PROTOCOL 4.1, 4.2, 4.5): one topic per phase, each message
 * carrying height, view, sender and a BLS signature under its own domain tag. Encoded as
 * canonical CBOR; decoded defensively (size-bounded, every field checked, MALFORMED otherwise).
 * Signature checks are not done here: the replica verifies them, votes in batches (4.3).
 */
import {
  BbnpError,
  concatBytes,
  DOMAIN,
  decodeCanonical,
  encodeCanonical,
  readArray,
  readBytes,
  readObject,
  readString,
  readUint,
  u64be
} from '@bbnp/core'
import { type ElectionProof, HASH_BYTES, MAX_CONSENSUS, SIG_BYTES } from './block.ts'

export const TOPICS = {
  election: '/bbnp/1/election',
  preprepare: '/bbnp/1/preprepare',
  prepare: '/bbnp/1/prepare',
  // Version 2: a COMMIT carries its sender's draw of the next height (PROTOCOL 4.1).
  commit: '/bbnp/2/commit',
  viewchange: '/bbnp/1/viewchange',
  reputation: '/bbnp/1/reputation'
} as const

export type Topic = (typeof TOPICS)[keyof typeof TOPICS]

/** A node's election draw, or the gateway's threshold (PROTOCOL 4.1). */
export interface DrawMessage {
  kind: 'draw'
  height: number
  seed: Uint8Array
  node: number
  signature: Uint8Array
  /**
   * Taken out of a COMMIT (`carriedDraw`), never on the wire alone: its seed is the block the
   * commit voted for, which a view change may leave undecided, so a wrong seed is no fault.
   */
  carried?: true
}

export interface ThetaMessage {
  kind: 'theta'
  height: number
  seed: Uint8Array
  signature: Uint8Array
}

export interface PrePrepareMessage {
  kind: 'preprepare'
  height: number
  view: number
  node: number
  /** The canonical encoding of the block; Bd is its hash. */
  block: Uint8Array
  /** BLS over (height, view, Bd) under "bbnp/v1/preprepare": sigma_x = (Bd^alpha_x)^c_x. */
  signature: Uint8Array
}

export interface VoteMessage {
  kind: 'prepare' | 'commit'
  height: number
  view: number
  node: number
  digest: Uint8Array
  signature: Uint8Array
  /**
   * COMMIT only: the sender's draw of height + 1 over seed `digest` (the hash of this block once
   * decided), so that no draw needs a message of its own (PROTOCOL 4.1); null when not sent. Not
   * covered by `signature`: a draw is a BLS signature of its own, checked where every draw is.
   */
  nextDraw?: Uint8Array | null
}

/** The draw a COMMIT carries, as a draw message of the next height; null for any other message. */
export function carriedDraw(m: ConsensusMessage): DrawMessage | null {
  if (m.kind !== 'commit' || !m.nextDraw) return null
  return { kind: 'draw', height: m.height + 1, seed: m.digest, node: m.node, signature: m.nextDraw, carried: true }
}

/** The draw a message is or carries (a DRAW, or a COMMIT's next draw); null for any other message. */
export function drawOf(m: ConsensusMessage): DrawMessage | null {
  return m.kind === 'draw' ? m : carriedDraw(m)
}

/** 2f+1 prepares for one block in one view, aggregated: the evidence a block was prepared. */
export interface PreparedCertificate {
  view: number
  block: Uint8Array
  signers: Uint8Array
  signature: Uint8Array
}

export interface ViewChangeMessage {
  kind: 'viewchange'
  height: number
  /** The view the sender wants to move to. */
  view: number
  node: number
  prepared: PreparedCertificate | null
  signature: Uint8Array
}

export interface NewViewMessage {
  kind: 'newview'
  height: number
  view: number
  node: number
  /** Election proof showing the sender is the rightful primary of `view`. */
  proof: ElectionProof
  /** 2f+1 signed VIEW-CHANGE messages for `view` (their encodings). */
  viewChanges: Uint8Array[]
  /** The block proposed in the new view: the highest prepared one if any, else a fresh block. */
  block: Uint8Array
  signature: Uint8Array
}

export type ConsensusMessage = DrawMessage | ThetaMessage | PrePrepareMessage | VoteMessage | ViewChangeMessage | NewViewMessage

function fail(msg: string): never {
  throw new BbnpError('MALFORMED', msg)
}

// ---- what each message signs ----

export function drawPayload(height: number, seed: Uint8Array): Uint8Array {
  return concatBytes(u64be(height), seed)
}

export function prePreparePayload(height: number, view: number, digest: Uint8Array): Uint8Array {
  return concatBytes(u64be(height), u64be(view), digest)
}

export function viewChangePayload(
  m: Pick<ViewChangeMessage, 'height' | 'view' | 'node' | 'prepared'>,
  preparedDigest: Uint8Array | null
): Uint8Array {
  return encodeCanonical({
    height: m.height,
    view: m.view,
    node: m.node,
    pview: m.prepared ? m.prepared.view : null,
    pdigest: preparedDigest,
    psigners: m.prepared ? m.prepared.signers : null,
    psig: m.prepared ? m.prepared.signature : null
  })
}

export function newViewPayload(height: number, view: number, digest: Uint8Array): Uint8Array {
  return concatBytes(u64be(height), u64be(view), digest)
}

export const MESSAGE_DOMAIN = {
  draw: DOMAIN.election,
  preprepare: DOMAIN.preprepare,
  prepare: DOMAIN.prepare,
  commit: DOMAIN.commit,
  viewchange: DOMAIN.viewchange,
  newview: DOMAIN.newview
} as const

// ---- encoding ----

function proofToCbor(p: ElectionProof): Record<string, unknown> {
  return { theta: p.theta, draws: p.draws.map((d) => ({ node: d.node, sig: d.signature })) }
}

function proofFromCbor(v: unknown): ElectionProof {
  const o = readObject(v, 'proof', ['theta', 'draws'])
  return {
    theta: readBytes(o.theta, 'proof.theta', SIG_BYTES),
    draws: readArray(o.draws, 'proof.draws', MAX_CONSENSUS, (d) => {
      const x = readObject(d, 'draw', ['node', 'sig'])
      return { node: readUint(x.node, 'draw.node', MAX_CONSENSUS), signature: readBytes(x.sig, 'draw.sig', SIG_BYTES) }
    })
  }
}

function preparedToCbor(p: PreparedCertificate | null): unknown {
  return p === null ? null : { view: p.view, block: p.block, signers: p.signers, sig: p.signature }
}

function preparedFromCbor(v: unknown, maxBlock: number): PreparedCertificate | null {
  if (v === null) return null
  const o = readObject(v, 'prepared', ['view', 'block', 'signers', 'sig'])
  return {
    view: readUint(o.view, 'prepared.view'),
    block: readBytes(o.block, 'prepared.block', undefined, maxBlock),
    signers: readBytes(o.signers, 'prepared.signers', undefined, MAX_CONSENSUS / 8),
    signature: readBytes(o.sig, 'prepared.sig', SIG_BYTES)
  }
}

export function encodeMessage(m: ConsensusMessage): Uint8Array {
  switch (m.kind) {
    case 'draw':
      return encodeCanonical({ k: 'draw', h: m.height, seed: m.seed, node: m.node, sig: m.signature })
    case 'theta':
      return encodeCanonical({ k: 'theta', h: m.height, seed: m.seed, sig: m.signature })
    case 'preprepare':
      return encodeCanonical({ k: 'preprepare', h: m.height, v: m.view, node: m.node, block: m.block, sig: m.signature })
    case 'prepare':
      return encodeCanonical({ k: m.kind, h: m.height, v: m.view, node: m.node, d: m.digest, sig: m.signature })
    case 'commit':
      return encodeCanonical({ k: m.kind, h: m.height, v: m.view, node: m.node, d: m.digest, sig: m.signature, draw: m.nextDraw ?? null })
    case 'viewchange':
      return encodeCanonical({
        k: 'viewchange',
        h: m.height,
        v: m.view,
        node: m.node,
        prepared: preparedToCbor(m.prepared),
        sig: m.signature
      })
    case 'newview':
      return encodeCanonical({
        k: 'newview',
        h: m.height,
        v: m.view,
        node: m.node,
        proof: proofToCbor(m.proof),
        vcs: m.viewChanges,
        block: m.block,
        sig: m.signature
      })
  }
}

export interface DecodeLimits {
  /** Largest encoded block accepted (see maxBlockBytes). */
  maxBlockBytes: number
  /** Number of consensus nodes M: node indices must be in 1..M. */
  nodes: number
}

export function decodeMessage(bytes: Uint8Array, limits: DecodeLimits): ConsensusMessage {
  const maxBytes = 4 * limits.maxBlockBytes + 64 * 1024
  const o = readObject(decodeCanonical(bytes, { maxBytes }), 'message')
  const kind = readString(o.k, 'message.k', 16)
  const node = (v: unknown) => {
    const n = readUint(v, 'node', limits.nodes)
    if (n < 1) fail('node index starts at 1')
    return n
  }
  const height = (v: unknown) => {
    const h = readUint(v, 'height')
    if (h < 1) fail('height starts at 1')
    return h
  }
  switch (kind) {
    case 'draw':
      readObject(o, 'draw', ['k', 'h', 'seed', 'node', 'sig'])
      return {
        kind,
        height: height(o.h),
        seed: readBytes(o.seed, 'seed', HASH_BYTES),
        node: node(o.node),
        signature: readBytes(o.sig, 'sig', SIG_BYTES)
      }
    case 'theta':
      readObject(o, 'theta', ['k', 'h', 'seed', 'sig'])
      return { kind, height: height(o.h), seed: readBytes(o.seed, 'seed', HASH_BYTES), signature: readBytes(o.sig, 'sig', SIG_BYTES) }
    case 'preprepare':
      readObject(o, 'preprepare', ['k', 'h', 'v', 'node', 'block', 'sig'])
      return {
        kind,
        height: height(o.h),
        view: readUint(o.v, 'view'),
        node: node(o.node),
        block: readBytes(o.block, 'block', undefined, limits.maxBlockBytes),
        signature: readBytes(o.sig, 'sig', SIG_BYTES)
      }
    case 'prepare':
    case 'commit': {
      // A COMMIT also carries the next height's draw, or null (PROTOCOL 4.1); a PREPARE does not.
      readObject(o, kind, kind === 'commit' ? ['k', 'h', 'v', 'node', 'd', 'sig', 'draw'] : ['k', 'h', 'v', 'node', 'd', 'sig'])
      const vote: VoteMessage = {
        kind,
        height: height(o.h),
        view: readUint(o.v, 'view'),
        node: node(o.node),
        digest: readBytes(o.d, 'digest', HASH_BYTES),
        signature: readBytes(o.sig, 'sig', SIG_BYTES)
      }
      if (kind === 'commit') vote.nextDraw = o.draw === null ? null : readBytes(o.draw, 'draw', SIG_BYTES)
      return vote
    }
    case 'viewchange':
      readObject(o, 'viewchange', ['k', 'h', 'v', 'node', 'prepared', 'sig'])
      return {
        kind,
        height: height(o.h),
        view: readUint(o.v, 'view'),
        node: node(o.node),
        prepared: preparedFromCbor(o.prepared, limits.maxBlockBytes),
        signature: readBytes(o.sig, 'sig', SIG_BYTES)
      }
    case 'newview':
      readObject(o, 'newview', ['k', 'h', 'v', 'node', 'proof', 'vcs', 'block', 'sig'])
      return {
        kind,
        height: height(o.h),
        view: readUint(o.v, 'view'),
        node: node(o.node),
        proof: proofFromCbor(o.proof),
        viewChanges: readArray(o.vcs, 'viewChanges', limits.nodes, (x) => readBytes(x, 'viewChange', undefined, 2 * limits.maxBlockBytes)),
        block: readBytes(o.block, 'block', undefined, limits.maxBlockBytes),
        signature: readBytes(o.sig, 'sig', SIG_BYTES)
      }
    default:
      fail(`unknown message kind ${kind}`)
  }
}

/** The topic a message travels on. */
export function topicOf(m: ConsensusMessage): Topic {
  switch (m.kind) {
    case 'draw':
    case 'theta':
      return TOPICS.election
    case 'preprepare':
      return TOPICS.preprepare
    case 'prepare':
      return TOPICS.prepare
    case 'commit':
      return TOPICS.commit
    case 'viewchange':
    case 'newview':
      return TOPICS.viewchange
  }
}
