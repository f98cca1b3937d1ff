/**
 * A consensus peer (PROTOCOL 4): the composition root that joins the pure PBFT replica to its
 * adapters: the LevelDB store, libp2p (gossip topics and request/response protocols), timers,
 * the reputation record keeper, block sync, and the HTTP API.
 *
 * Every replica event runs through one serial queue; its effects run in order and are awaited,
 * so a `persist` is on disk before the broadcast that follows it, and a block is stored before
 * the next height's messages leave. A store write that fails stops the peer (no corrupted store:
 * the write was one atomic batch that did not happen).
 */
import { join } from 'node:path'
import { BbnpError, toHex } from '@bbnp/core'
import {
  BLOCKS_PROTOCOL,
  BlockStore,
  decodeBlocksRequest,
  decodeStatus,
  encodeBlocksRequest,
  encodeStatus,
  MAX_BLOCKS_REQUEST_BYTES,
  MAX_STATUS_BYTES,
  MAX_SYNC_COUNT,
  maxBlockFrameBytes,
  nextBlocksRequest,
  serveBlocks,
  STATUS_PROTOCOL,
  statusOf,
  verifySyncedBlocks
} from '@bbnp/chain'
import {
  type ConsensusMessage,
  decodeAggregate,
  decodeMessage,
  type DrawMessage,
  encodeMessage,
  maxBlockBytes,
  Replica,
  REPLICA_MISBEHAVIOUR,
  type ReplicaEffect,
  type ReplicaEvent,
  TOPICS,
  topicOf,
  withMisbehaviour
} from '@bbnp/consensus'
import { createP2PNode, type P2PNode, type ProtocolSpec, type TopicSpec, type Verdict } from '@bbnp/network'
import {
  decodeSignedOpinionVector,
  encodeSignedOpinionVector,
  InteractionRecords,
  initialReputations,
  preselect,
  REPUTATION_SCALE,
  reputationThreshold,
  signOpinionVector
} from '@bbnp/reputation'
import { reputationParams } from './config.ts'
import type { Genesis } from './genesis.ts'
import { type ApiServer, badRequest, intParam, notFound, type Route, startApi } from './http-api.ts'
import type { LoadedKey } from './keys.ts'
import { type RunningNode, type SingleKeyContext, waitForPeers } from './runtime.ts'
import { AGGREGATE_PROTOCOL, aggregateRequestBytes, MAX_THETA_FRAME_BYTES, THETA_PROTOCOL } from './protocols.ts'
import { paperRules } from './reputation-rules.ts'
import { replicaTiming } from './timing.ts'
import { checkConsensusGossip } from './gossip-checks.ts'
import { aggregateView, blockView, cnName, reputationView } from './views.ts'

/** Test-only misbehaviour of a consensus peer (issue 5); refused unless the genesis is a devnet. */
export const CONSENSUS_MISBEHAVIOUR = ['silent', 'late', ...REPLICA_MISBEHAVIOUR] as const

export function checkMisbehaviour(modes: string[], genesis: Genesis, allowed: readonly string[]): void {
  if (modes.length === 0) return
  if (!genesis.devnet) throw new BbnpError('CONFIG', '--misbehave is refused: the genesis is not marked as a devnet (bbnp setup --devnet)')
  for (const m of modes)
    if (!allowed.includes(m)) throw new BbnpError('CONFIG', `unknown --misbehave mode "${m}" (one of: ${allowed.join(', ')})`)
}

export async function startConsensusPeer(ctx: SingleKeyContext): Promise<RunningNode> {
  const { options, genesis, key, logger, metrics } = ctx
  checkMisbehaviour(options.misbehave, genesis, CONSENSUS_MISBEHAVIOUR)
  const me = genesis.consensus.find((c) => c.id === key.id)
  if (!me || !key.blsKey) throw new BbnpError('CONFIG', `${key.id} is not a consensus node of this genesis`)
  const m = genesis.consensus.length
  const n = genesis.meters.length
  const keys = genesis.consensus.map((c) => c.verificationKey)
  const params = reputationParams(genesis)
  const timing = replicaTiming(genesis, params.t0Ms)
  const maxBytes = maxBlockBytes(m, n)
  const silent = options.misbehave.includes('silent')
  const lateMs = options.misbehave.includes('late') ? 2 * timing.graceMs : 0

  // ---- metrics
  const mHeight = metrics.gauge('bbnp_chain_height', 'Height of the stored chain head')
  const mView = metrics.gauge('bbnp_consensus_view', 'Current PBFT view at the working height')
  const mCommits = metrics.counter('bbnp_blocks_committed_total', 'Blocks committed by consensus (not by sync)')
  const mSynced = metrics.counter('bbnp_blocks_synced_total', 'Blocks fetched and stored by catch-up')
  const mLatency = metrics.histogram(
    'bbnp_commit_latency_seconds',
    "From this peer's receipt of the gateway's aggregate to the block stored",
    [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]
  )
  const mRejected = metrics.counter('bbnp_consensus_rejected_total', 'Consensus inputs refused by the replica, by kind and reason')
  const mVerify = metrics.counter(
    'bbnp_signature_checks_total',
    'BLS signature work, by kind (batch = one aggregate check over many votes)'
  )
  const mViewChanges = metrics.counter('bbnp_view_changes_total', 'View changes this peer started')
  const mHandoffs = metrics.counter('bbnp_aggregates_received_total', 'Signed aggregates received from the gateway')
  const mThetaFetches = metrics.counter(
    'bbnp_theta_requests_total',
    'Theta asked from the gateway over /bbnp/theta/1 because gossip had not brought it, by result'
  )

  const store = await BlockStore.open(join(options.dataDir, 'chain'), {
    genesisHash: genesis.hash,
    keys,
    quorum: genesis.quorum,
    maxBlockBytes: maxBytes
  })
  const cleanup: (() => Promise<void>)[] = [() => store.close()]
  try {
    const head = await store.chainHead(initialReputations(m, params))
    const lastSigned = await store.getConsensusLog()
    const honest = new Replica(
      {
        me: me.index,
        keys,
        gatewayKey: genesis.gateway.publicKey,
        meters: n,
        signer: key.blsKey,
        maxBlockBytes: maxBytes,
        timing,
        rules: paperRules(keys)
      },
      head,
      lastSigned
    )
    // 'wrong-signatures' and 'equivocate' rewrite what the replica sends; 'silent' and 'late' act in publish below.
    const replica = withMisbehaviour(honest, options.misbehave, key.blsKey)
    const records = new InteractionRecords({ self: me.index, nodes: m, params })
    mHeight.set(head.height)
    logger.info('consensus peer starting', {
      id: key.id,
      height: head.height,
      head: toHex(head.hash).slice(0, 16),
      misbehave: options.misbehave
    })

    // ---- who is who
    const nodeOfPeer = new Map<string, number>()
    for (const c of genesis.consensus) nodeOfPeer.set(c.peerId.toString(), c.index)
    const gatewayPeer = genesis.gateway.peerId.toString()
    const nameOfPeer = (p: string) => (p === gatewayPeer ? 'gateway' : nodeOfPeer.has(p) ? cnName(nodeOfPeer.get(p) as number) : p)
    const others = genesis.consensus.filter((c) => c.index !== me.index)

    // ---- the serial event queue
    let closing = false
    let fatal: (code: number) => void = () => {}
    const done = new Promise<number>((resolve) => {
      fatal = resolve
    })
    let queue: Promise<void> = Promise.resolve()
    const timers = new Set<NodeJS.Timeout>()
    /** Local timings of recent blocks: when this peer got the aggregate, and when it stored the block. */
    const timings = new Map<number, { aggregateReceivedAtMs: number | null; committedAtMs: number }>()
    let lastStoredAt = Date.now()
    const noteTiming = (height: number, aggregateReceivedAtMs: number | null, committedAtMs: number) => {
      lastStoredAt = committedAtMs
      timings.set(height, { aggregateReceivedAtMs, committedAtMs })
      if (timings.size > 4096) timings.delete(timings.keys().next().value as number)
    }
    let p2p: P2PNode

    const enqueue = (job: () => Promise<void> | void): Promise<void> => {
      const run = queue.then(async () => {
        if (closing) return
        try {
          await job()
        } catch (e) {
          logger.error('stopping: a store write failed', { error: (e as Error).message })
          process.exitCode = 1
          fatal(1)
        }
      })
      queue = run
      return run
    }
    const dispatch = (event: ReplicaEvent) => enqueue(() => execute(replica.handle(event)))

    const publish = (topic: string, data: Uint8Array) => {
      if (silent) return
      const send = () => p2p.publish(topic, data).catch((e) => logger.debug('publish failed', { topic, error: (e as Error).message }))
      if (lateMs > 0) {
        const t = setTimeout(() => {
          timers.delete(t)
          if (!closing) void send()
        }, lateMs)
        timers.add(t)
      } else void send()
    }

    const execute = async (effects: ReplicaEffect[]) => {
      for (const e of effects) {
        switch (e.type) {
          case 'persist':
            await store.putConsensusLog(e.record)
            break
          case 'broadcast':
            publish(topicOf(e.message), e.encoded)
            break
          case 'commit': {
            const { block, cert, aggregateAt } = e.commit
            if (block.height <= store.head().height) break // already stored by catch-up
            // The replica assembled the certificate from commit votes it verified (PROTOCOL 4.3).
            await store.commit(block, cert, undefined, { certificateVerified: true })
            const now = Date.now()
            noteTiming(block.height, aggregateAt, now)
            mHeight.set(block.height)
            mCommits.inc()
            if (aggregateAt !== null) mLatency.observe((now - aggregateAt) / 1000)
            logger.info('block committed', {
              height: block.height,
              slot: block.slot,
              status: block.aggregate.status,
              sum: block.aggregate.status === 'complete' ? block.aggregate.sum : null,
              count: block.aggregate.count,
              primary: cnName(block.primary),
              view: cert.view,
              latencyMs: aggregateAt === null ? null : now - aggregateAt
            })
            break
          }
          case 'timer': {
            const t = setTimeout(() => {
              timers.delete(t)
              void dispatch({ type: 'timeout', timer: e.timer, now: Date.now() })
            }, e.delayMs)
            timers.add(t)
            break
          }
          case 'observations':
            recordAndPublishOpinions(e.height, e.items)
            break
          case 'reject':
            mRejected.inc({ kind: e.kind, reason: e.reason })
            logger.debug('consensus input refused', { kind: e.kind, reason: e.reason, from: e.node === null ? null : cnName(e.node) })
            break
          case 'behind':
            void syncNow(`messages for height ${e.height}`)
            break
          case 'fetch-theta':
            void fetchTheta(e.draw)
            break
          case 'log':
            logger[e.level](e.msg, e.ctx)
            break
        }
      }
      mView.set(replica.view)
      const s = replica.stats
      const c = replica.cache
      mVerify.values.clear()
      mVerify.inc({ kind: 'batch' }, s.batchChecks + c.batches)
      mVerify.inc({ kind: 'in_batches' }, s.signaturesInBatches + c.inBatches)
      mVerify.inc({ kind: 'fallback' }, s.fallbackChecks)
      mVerify.inc({ kind: 'cached' }, c.hits)
      mVerify.inc({ kind: 'single' }, c.checks)
      mViewChanges.values.clear()
      mViewChanges.inc(undefined, s.viewChanges)
    }

    /** PROTOCOL 4.1: Theta from the gateway over a stream, when gossip did not bring it; handled as if gossiped. */
    const fetchTheta = async (draw: DrawMessage) => {
      if (silent) return
      try {
        const [frame] = await p2p.request(gatewayPeer, THETA_PROTOCOL, encodeMessage(draw), { timeoutMs: 2000 })
        const message = decodeMessage(frame, { maxBlockBytes: maxBytes, nodes: m })
        if (message.kind !== 'theta' || message.height !== draw.height)
          throw new BbnpError('MALFORMED', 'the answer is not Theta for this height')
        mThetaFetches.inc({ result: 'ok' })
        logger.info('Theta fetched from the gateway (not received by gossip)', { height: draw.height })
        await dispatch({ type: 'message', message, now: Date.now() })
      } catch (e) {
        mThetaFetches.inc({ result: 'failed' })
        logger.debug('Theta request failed', { height: draw.height, error: (e as Error).message })
      }
    }

    /** Paper IV-D-3: what this peer saw becomes interaction records, then a signed opinion vector (PROTOCOL 4.4). */
    const recordAndPublishOpinions = (height: number, items: { node: number; outcome: string; delayMs: number }[]) => {
      for (const o of items) {
        if (o.outcome === 'valid') records.recordValid(o.node, height, o.delayMs)
        else if (o.outcome === 'wrong') records.recordWrongSignature(o.node, height)
        else records.recordMissing(o.node, height)
      }
      const signed = signOpinionVector(key.blsKey as NonNullable<LoadedKey['blsKey']>, records.opinionVector(height, params))
      const encoded = encodeSignedOpinionVector(signed)
      publish(TOPICS.reputation, encoded)
      void dispatch({ type: 'opinion', encoded, now: Date.now() })
    }

    // ---- gossip topics
    const decoded = new WeakMap<Uint8Array, ConsensusMessage>()
    const limits = { maxBlockBytes: maxBytes, nodes: m }
    const gossipId = { limits, nodeOfPeer, gatewayPeer }
    const consensusTopic = (name: string): TopicSpec => ({
      name,
      maxBytes: 4 * maxBytes + 64 * 1024,
      validate(data, from): Verdict {
        const check = checkConsensusGossip(data, from, name, gossipId)
        if (!check.message) return check.verdict
        if (check.message.height + 1 < replica.height) return { action: 'ignore', reason: 'STALE' }
        decoded.set(data, check.message)
        return check.verdict
      },
      onMessage(data) {
        const msg = decoded.get(data)
        if (msg) void dispatch({ type: 'message', message: msg, now: Date.now() })
      }
    })
    const reputationTopic: TopicSpec = {
      name: TOPICS.reputation,
      maxBytes: 1024 + m * 128,
      validate(data, from): Verdict {
        let observer: number
        let height: number
        try {
          const sv = decodeSignedOpinionVector(data, { nodes: m })
          observer = sv.vector.observer
          height = sv.vector.height
        } catch {
          return { action: 'reject', reason: 'MALFORMED' }
        }
        if (nodeOfPeer.get(from) !== observer) return { action: 'reject', reason: 'WRONG_SENDER' }
        if (height <= replica.head.opinionHeight) return { action: 'ignore', reason: 'STALE' }
        return { action: 'accept' }
      },
      onMessage(data) {
        void dispatch({ type: 'opinion', encoded: data, now: Date.now() })
      }
    }

    // ---- request/response protocols
    const protocols: ProtocolSpec[] = [
      {
        id: AGGREGATE_PROTOCOL,
        maxRequestBytes: aggregateRequestBytes(n),
        maxResponseBytes: 16,
        maxResponseFrames: 1,
        timeoutMs: 5000,
        rateLimit: { messagesPerSecond: 200, burstMessages: 400 },
        handler: async (req, from) => {
          if (from !== gatewayPeer) throw new BbnpError('REFUSED', 'only the gateway hands off aggregates')
          const aggregate = decodeAggregate(req, aggregateRequestBytes(n))
          mHandoffs.inc()
          void dispatch({ type: 'aggregate', aggregate, now: Date.now() })
          return [new Uint8Array([1])]
        }
      },
      {
        id: BLOCKS_PROTOCOL,
        maxRequestBytes: MAX_BLOCKS_REQUEST_BYTES,
        maxResponseBytes: maxBlockFrameBytes(maxBytes),
        maxResponseFrames: MAX_SYNC_COUNT,
        timeoutMs: 10_000,
        handler: (req) => serveBlocks(store, decodeBlocksRequest(req))
      },
      {
        id: STATUS_PROTOCOL,
        maxRequestBytes: 16,
        maxResponseBytes: MAX_STATUS_BYTES,
        maxResponseFrames: 1,
        timeoutMs: 3000,
        handler: async () => [encodeStatus(statusOf(store))]
      },
      // client side only: the gateway serves it
      {
        id: THETA_PROTOCOL,
        maxRequestBytes: MAX_THETA_FRAME_BYTES,
        maxResponseBytes: MAX_THETA_FRAME_BYTES,
        maxResponseFrames: 1,
        timeoutMs: 3000
      }
    ]

    p2p = await createP2PNode(
      {
        privateKey: key.libp2pKey,
        listen: [options.listen ?? me.listen.toString()],
        allowedPeers: new Set([gatewayPeer, ...others.map((c) => c.peerId.toString())]),
        persistentPeers: [
          ...others.map((c) => ({ peerId: c.peerId.toString(), addr: c.listen.toString() })),
          { peerId: gatewayPeer, addr: genesis.gateway.listen.toString() }
        ],
        gossip: {
          topics: [
            consensusTopic(TOPICS.election),
            consensusTopic(TOPICS.preprepare),
            consensusTopic(TOPICS.prepare),
            consensusTopic(TOPICS.commit),
            consensusTopic(TOPICS.viewchange),
            reputationTopic
          ]
        },
        protocols
      },
      { logger: logger.child({ component: 'p2p' }), metrics }
    )
    await p2p.start()
    cleanup.unshift(() => p2p.stop())

    // ---- catch-up (PROTOCOL 4.6)
    let syncing: Promise<boolean> | null = null
    /** A sync asked for while one runs (the peer may have found nothing yet) runs once more after it. */
    let rerun = false
    let lastCatchUp: { fromHeight: number; toHeight: number; blocks: number; ms: number; blocksPerSecond: number } | null = null
    /** Catch up from the most advanced peer (PROTOCOL 4.6). */
    const syncNow = (why: string): Promise<boolean> => {
      if (syncing) {
        rerun = true
        return syncing
      }
      syncing = (async () => {
        let progressed = await syncRounds(why)
        while (rerun && !closing) {
          rerun = false
          progressed = (await syncRounds(`${why} (asked again)`)) || progressed
        }
        return progressed
      })().finally(() => {
        syncing = null
      })
      return syncing
    }
    /** Fetch, verify and store blocks from the most advanced peer until no peer is ahead. */
    const syncRounds = async (why: string): Promise<boolean> => {
      let progressed = false
      const fromHeight = store.head().height
      let firstFetch = 0
      try {
        return await fetchRounds(why, () => {
          if (firstFetch === 0) firstFetch = performance.now()
          progressed = true
        })
      } finally {
        if (progressed) {
          const ms = Math.max(1, Math.round(performance.now() - firstFetch))
          const blocks = store.head().height - fromHeight
          lastCatchUp = {
            fromHeight,
            toHeight: store.head().height,
            blocks,
            ms,
            blocksPerSecond: Math.round((blocks * 1000 * 10) / ms) / 10
          }
          logger.info('caught up', lastCatchUp)
        }
      }
    }
    const fetchRounds = async (why: string, onBlocks: () => void): Promise<boolean> => {
      let progressed = false
      for (let round = 0; round < 10_000 && !closing; round++) {
        const peers = p2p.connectedPeers().filter((p) => nodeOfPeer.has(p))
        const statuses = await Promise.all(
          peers.map((p) =>
            p2p
              .request(p, STATUS_PROTOCOL, new Uint8Array(0), { timeoutMs: 2000 })
              .then((frames) => ({ peer: p, status: decodeStatus(frames[0]) }))
              .catch(() => null)
          )
        )
        const best = statuses.filter((s) => s !== null).sort((a, b) => b.status.height - a.status.height)[0]
        const request = best ? nextBlocksRequest(store.head(), genesis.hash, best.status) : null
        if (!best || !request) return progressed
        if (round === 0) logger.info('catching up', { from: store.head().height, to: best.status.height, peer: nameOfPeer(best.peer), why })
        let frames: Uint8Array[]
        onBlocks()
        try {
          frames = await p2p.request(best.peer, BLOCKS_PROTOCOL, encodeBlocksRequest(request), { timeoutMs: 10_000 })
        } catch (e) {
          logger.warn('block sync request failed', { peer: nameOfPeer(best.peer), error: (e as Error).message })
          return progressed
        }
        const head = store.head()
        if (head.height + 1 !== request.from) continue // consensus moved on meanwhile; ask again
        const result = verifySyncedBlocks(frames, request.from, head.hash, keys, genesis.quorum, maxBytes)
        for (const b of result.blocks) {
          await enqueue(async () => {
            if (b.height !== store.head().height + 1) return
            await store.commit(b.block, b.cert)
            mSynced.inc()
            mHeight.set(b.height)
            noteTiming(b.height, null, Date.now())
            await execute(replica.handle({ type: 'synced', block: b.block, cert: b.cert, now: Date.now() }))
          })
          progressed = true
        }
        if (result.error) {
          logger.warn('refused a synced block', { peer: nameOfPeer(best.peer), ...result.error })
          return progressed
        }
      }
      return progressed
    }

    // Fallback detection of being behind, when gossip is quiet: poll peers' status now and then.
    const poll = setInterval(
      () => {
        // Only when nothing was stored for two periods: a healthy peer learns of new heights from
        // gossip. A stuck peer then catches up from any peer ahead of it, even by one block: a view
        // change at a height that some honest peers have already decided cannot gather a quorum
        // (they have moved on), so fetching that block is the only way forward.
        if (closing || Date.now() - lastStoredAt < 2 * genesis.periodMs) return
        void syncNow('status poll')
      },
      Math.max(2000, 2 * genesis.periodMs)
    )
    timers.add(poll as unknown as NodeJS.Timeout)

    // ---- HTTP API
    const routes: Record<string, Route> = {
      '/status': () => ({
        status: 200,
        body: {
          role: 'consensus',
          id: key.id,
          chainId: genesis.chainId,
          genesisHash: toHex(genesis.hash),
          height: store.head().height,
          headHash: toHex(store.head().hash),
          slot: store.head().slot,
          workingHeight: replica.height,
          view: replica.view,
          viewChanging: replica.viewChanging,
          primary: replica.primary === null ? null : cnName(replica.primary),
          peers: p2p.connectedPeers().map(nameOfPeer).sort(),
          syncing: syncing !== null,
          lastCatchUp,
          misbehave: options.misbehave
        }
      }),
      '/blocks/:height': async (params) => {
        const h = intParam(params.height, 'height')
        const b = await store.getStoredBlock(h)
        if (!b) return notFound(`no block at height ${h}`)
        return { status: 200, body: blockView(b.block, b.hash, b.cert, { meters: n, m, timing: timings.get(h) }) }
      },
      '/blocks': async (_p, q) => {
        const from = intParam(q.get('from'), 'from', 1)
        const to = intParam(q.get('to'), 'to', from + 63)
        if (to < from) return badRequest('to must not be below from')
        const blocks = await store.getRange(Math.max(1, from), to)
        return { status: 200, body: blocks.map((b) => blockView(b.block, b.hash, b.cert, { meters: n, m, timing: timings.get(b.height) })) }
      },
      '/aggregates': async (_p, q) => {
        const from = intParam(q.get('from'), 'from', 0)
        const to = intParam(q.get('to'), 'to', from + 63)
        if (to < from) return badRequest('to must not be below from')
        const blocks = await store.blocksBySlot(from, to)
        return { status: 200, body: blocks.map((b) => aggregateView(b.block, n)) }
      },
      '/reputation': () => {
        const vector = replica.head.reputation
        const pre = new Set(preselect(vector))
        return {
          status: 200,
          body: {
            height: replica.head.height,
            fromHeight: replica.head.opinionHeight,
            threshold: reputationThreshold(vector) / REPUTATION_SCALE,
            reputations: reputationView(vector).map((r, i) => ({ id: cnName(i + 1), reputation: r, preselected: pre.has(i + 1) }))
          }
        }
      },
      '/metrics': () => ({ status: 200, body: metrics.render(), text: true })
    }
    let api: ApiServer | null = null
    const apiPort = options.apiPort ?? me.listen.nodeAddress().port + 1000
    api = await startApi({ host: options.apiHost, port: apiPort, routes, logger })
    cleanup.unshift(() => (api as ApiServer).close())
    logger.info('consensus peer started', {
      id: key.id,
      peerId: p2p.peerId,
      listen: p2p.multiaddrs(),
      api: `http://${options.apiHost}:${api.port}`
    })

    // Take part only after catching up with whoever is reachable at start (PROTOCOL 4.6); the API
    // already answers meanwhile, with "syncing": true.
    await waitForPeers(
      p2p,
      others.length > 0 ? Math.min(others.length, genesis.quorum - 1) : 0,
      Math.max(2000, genesis.periodMs),
      ctx.signal
    )
    if (!ctx.signal?.aborted) {
      await syncNow('start')
      void dispatch({ type: 'start', now: Date.now() })
    }

    return {
      done,
      apiPort: api.port,
      close: async () => {
        if (closing) return
        closing = true
        for (const t of timers) clearTimeout(t)
        clearInterval(poll)
        await queue.catch(() => {})
        for (const c of cleanup) await c().catch((e) => logger.warn('shutdown step failed', { error: (e as Error).message }))
        logger.info('consensus peer stopped', { id: key.id, height: store.head().height })
      }
    }
  } catch (e) {
    for (const c of cleanup) await c().catch(() => {})
    throw e
  }
}
