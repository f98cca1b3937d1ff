/**
 * The consensus peer's read-only HTTP API for the control centre (README "HTTP API"). Lists come
 * newest first by default and at most MAX_RANGE entries at a time; a range that was cut says so
 * with a `next` link to the rest.
 */
import { BbnpError, consensusId, type MetricsRegistry, toHex } from '@bbnp/core'
import { type BlockStore, MAX_RANGE } from '@bbnp/chain'
import { preselect, preselectionCutoff, REPUTATION_SCALE, type ReputationParams, reputationThreshold } from '@bbnp/reputation'
import type { CatchUp } from './catch-up.ts'
import { openApiRoutes } from './api-contract.ts'
import { exportRoutes } from './export-routes.ts'
import { dashboardRoutes, type GatewayAddress } from './dashboard/dashboard-routes.ts'
import type { Genesis } from './genesis.ts'
import { intParam, notFound, type Route } from './http-api.ts'
import type { LeadershipWindow } from './leadership.ts'
import { healthRoutes, type NotReadyReason } from './readiness.ts'
import { aggregateView, type BlockTiming, blockView, reputationView } from './views.ts'

export interface ConsensusRoutesModules {
  id: string
  genesis: Genesis
  params: ReputationParams
  store: BlockStore
  /** What the replica is doing now. */
  replica: () => {
    height: number
    view: number
    viewChanging: boolean
    primary: number | null
    head: { height: number; reputation: readonly number[]; opinionHeight: number }
  }
  peers: () => string[]
  catchUp: Pick<CatchUp, 'syncing' | 'last'>
  leadership: LeadershipWindow
  timing: (height: number) => BlockTiming | undefined
  metrics: MetricsRegistry
  misbehave: string[]
  /** Why this peer is not ready now (readiness.ts consensusReadiness); none when it is. */
  readiness: () => NotReadyReason[]
  /** Where /gateway asks: the gateway's API from the address book (a function: a reload may move it). */
  gateway: GatewayAddress | (() => GatewayAddress)
}

/**
 * The range a list route serves: `from`..`to` from the query; without `to`, up to the newest;
 * without `from`, the MAX_RANGE entries up to `to`.
 */
function requested(q: URLSearchParams, first: number, newest: number): { from: number; to: number } {
  const to = q.has('to') ? intParam(q.get('to'), 'to') : newest
  const from = q.has('from') ? intParam(q.get('from'), 'from') : Math.max(first, to - MAX_RANGE + 1)
  if (to < from) throw new BbnpError('BAD_REQUEST', 'to must not be below from')
  return { from: Math.max(from, first), to }
}

export function consensusRoutes(m: ConsensusRoutesModules): Record<string, Route> {
  const { genesis, store } = m
  const n = genesis.meters.length
  const nodes = genesis.consensus.length
  const routes: Record<string, Route> = {
    ...dashboardRoutes({ genesis, routes: () => routes, gateway: m.gateway }),
    ...healthRoutes(m.readiness),
    ...openApiRoutes(),
    '/status': () => {
      const r = m.replica()
      const head = store.head()
      return {
        status: 200,
        body: {
          role: 'consensus',
          id: m.id,
          chainId: genesis.chainId,
          genesisHash: toHex(genesis.hash),
          height: head.height,
          headHash: toHex(head.hash),
          slot: head.slot,
          workingHeight: r.height,
          view: r.view,
          viewChanging: r.viewChanging,
          primary: r.primary === null ? null : consensusId(r.primary),
          peers: m.peers(),
          syncing: m.catchUp.syncing,
          lastCatchUp: m.catchUp.last,
          misbehave: m.misbehave
        }
      }
    },
    '/blocks/:height': async (params) => {
      const h = intParam(params.height, 'height')
      const b = await store.getStoredBlock(h)
      if (!b) return notFound(`no block at height ${h}`)
      return { status: 200, body: blockView(b.block, b.hash, b.cert, { meters: n, m: nodes, timing: m.timing(h) }) }
    },
    '/blocks': async (_p, q) => {
      const head = store.head().height
      const { from, to } = requested(q, 1, head)
      const served = Math.min(to, head, from + MAX_RANGE - 1)
      const blocks = served < from ? [] : await store.getRange(from, served)
      const views = blocks.map((b) => blockView(b.block, b.hash, b.cert, { meters: n, m: nodes, timing: m.timing(b.height) }))
      const rest = Math.min(to, head) > served
      return { status: 200, body: { from, to: served, blocks: views, next: rest ? `/blocks?from=${served + 1}&to=${to}` : null } }
    },
    '/aggregates': async (_p, q) => {
      const head = store.head()
      if (!q.has('from') && !q.has('to')) {
        // The newest blocks' aggregates: a block may cover a range of missed slots.
        const blocks = head.height === 0 ? [] : await store.getRange(Math.max(1, head.height - MAX_RANGE + 1), head.height)
        const body = {
          from: blocks[0]?.block.aggregate.fromSlot ?? 0,
          to: head.slot,
          aggregates: blocks.map((b) => aggregateView(b.block, n)),
          next: null
        }
        return { status: 200, body }
      }
      const { from, to } = requested(q, 0, Math.max(0, head.slot))
      const blocks = await store.blocksBySlot(from, to, MAX_RANGE)
      const last = blocks.at(-1)?.block.slot ?? -1
      const rest = blocks.length === MAX_RANGE && last < Math.min(to, head.slot)
      const body = {
        from,
        to: rest ? last : to,
        aggregates: blocks.map((b) => aggregateView(b.block, n)),
        next: rest ? `/aggregates?from=${last + 1}&to=${to}` : null
      }
      return { status: 200, body }
    },
    '/reputation': () => {
      const head = m.replica().head
      const vector = head.reputation
      const pre = new Set(preselect(vector, m.params))
      return {
        status: 200,
        body: {
          height: head.height,
          fromHeight: head.opinionHeight,
          rule: m.params.election,
          threshold: reputationThreshold(vector) / REPUTATION_SCALE,
          preselectionCutoff: preselectionCutoff(vector, m.params) / REPUTATION_SCALE,
          reputations: reputationView(vector).map((r, i) => ({ id: consensusId(i + 1), reputation: r, preselected: pre.has(i + 1) })),
          leadership: m.leadership.view()
        }
      }
    },
    '/metrics': async () => ({ status: 200, body: await m.metrics.render(), text: true }),
    ...exportRoutes({ genesis, store })
  }
  return routes
}
