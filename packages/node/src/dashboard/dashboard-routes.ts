/**
 * The control centre's dashboard (issue 14): a static page that every consensus peer serves at `/`
 * from its own HTTP API, with uPlot's files from node_modules (no CDN: it works at a substation
 * with no internet). The page polls the JSON API for what it shows; this module adds what the API
 * did not have: the genesis figures the page needs (`/dashboard.json`) and the gateway's status
 * (`/gateway`, a proxy, since a browser on the control centre reaches the peer, not the gateway).
 */
import { request } from 'node:http'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Multiaddr } from '@multiformats/multiaddr'
import { projectPath, toHex } from '@bbnp/core'
import type { Genesis } from '../genesis.ts'
import type { ApiResponse, Route } from '../http-api.ts'
import { LEADERSHIP_WINDOW } from '../leadership.ts'
import { API_PORT_OFFSET } from '../options.ts'

/** configs/data/README.md: keep it wherever the data is shown. */
export const READINGS_ATTRIBUTION = 'UCI Individual household electric power consumption, Hébrail & Bérard, CC BY 4.0'

/** How long the peer waits for the gateway's status: the page polls every second or so. */
export const GATEWAY_TIMEOUT_MS = 1000
/** Dashboards polling at once share one request to the gateway this recent. */
const GATEWAY_CACHE_MS = 500
/** A gateway status larger than this is not a status. */
const GATEWAY_MAX_BYTES = 1 << 20

const require = createRequire(import.meta.url)

interface StaticFile {
  /** Resolved on first use, so that a peer starts even where a file is missing. */
  path: () => string
  type: string
}

const own = (name: string) => () => projectPath('packages', 'node', 'src', 'dashboard', name)
const JS = 'text/javascript; charset=utf-8'
const CSS = 'text/css; charset=utf-8'

/** Every file of the page, by route. */
export const DASHBOARD_FILES: Record<string, StaticFile> = {
  '/': { path: own('./index.html'), type: 'text/html; charset=utf-8' },
  '/dashboard.js': { path: own('./dashboard.js'), type: JS },
  '/dashboard-model.js': { path: own('./dashboard-model.js'), type: JS },
  '/dashboard.css': { path: own('./dashboard.css'), type: CSS },
  '/vendor/uplot.js': { path: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: JS },
  '/vendor/uplot.css': { path: () => require.resolve('uplot/dist/uPlot.min.css'), type: CSS }
}

export interface GatewayAddress {
  host: string
  port: number
}

/**
 * Where the gateway's API answers: its host in the address book (loopback for a wildcard; a DNS
 * name as it is) and its p2p port + 1000, the default `bbnp start` gives it (options.ts defaultApiPort).
 */
export function gatewayApiAddress(gatewayAddress: Multiaddr): GatewayAddress {
  const { address, port } = gatewayAddress.nodeAddress()
  const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address
  return { host, port: port + API_PORT_OFFSET }
}

function hostPort(at: GatewayAddress): string {
  return `${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`
}

function unreachable(code: string, error: string): ApiResponse {
  return { status: 502, body: { error, code } }
}

/** GET /status of the gateway's API: its JSON as it is, or a 502 with a code saying why not. */
export function fetchGatewayStatus(at: GatewayAddress, timeoutMs = GATEWAY_TIMEOUT_MS): Promise<ApiResponse> {
  const where = hostPort(at)
  return new Promise((resolve) => {
    // No keep-alive agent: a socket left open would outlive the request and delay the peer's exit.
    const req = request({ host: at.host, port: at.port, path: '/status', method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > GATEWAY_MAX_BYTES) req.destroy(new Error('answer too large'))
        else chunks.push(c)
      })
      res.on('error', (e) => resolve(unreachable('GATEWAY_BAD_ANSWER', `the gateway at ${where} broke off its answer: ${e.message}`)))
      res.on('end', () => {
        if (res.statusCode !== 200) {
          resolve(unreachable('GATEWAY_BAD_ANSWER', `the gateway at ${where} answered HTTP ${res.statusCode}`))
          return
        }
        try {
          resolve({ status: 200, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) })
        } catch {
          resolve(unreachable('GATEWAY_BAD_ANSWER', `the gateway at ${where} did not answer JSON`))
        }
      })
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })))
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ETIMEDOUT') resolve(unreachable('GATEWAY_TIMEOUT', `the gateway at ${where} did not answer within ${timeoutMs} ms`))
      else resolve(unreachable('GATEWAY_UNREACHABLE', `the gateway at ${where} is not reachable (${e.code ?? e.message})`))
    })
    req.end()
  })
}

/** /dashboard.json: what the page needs from the genesis, once. */
export interface DashboardInfo {
  chainId: string
  genesisHash: string
  genesisTimeMs: number
  periodMs: number
  /** How many meters the genesis holds. */
  meters: number
  /** The consensus peers' IDs; reputation vectors list them in this order. */
  consensus: string[]
  f: number
  quorum: number
  /** Blocks the fairness figures of /reputation look back over. */
  leadershipWindow: number
  /** Whether this peer serves /readyz (the page asks for it only then). */
  readyz: boolean
  /** host:port of the gateway's API that /gateway asks. */
  gateway: string
  readings: { attribution: string }
}

export interface DashboardModules {
  genesis: Pick<Genesis, 'chainId' | 'hash' | 'genesisTimeMs' | 'periodMs' | 'meters' | 'consensus' | 'f' | 'quorum'>
  /** The peer's whole route table: the page asks only for optional routes (/readyz) that exist. */
  routes: () => Record<string, Route>
  /** Where the gateway's API answers: gatewayApiAddress of its entry in the address book, as a function where a reload may move it. */
  gateway: GatewayAddress | (() => GatewayAddress)
  gatewayTimeoutMs?: number
}

export function dashboardRoutes(m: DashboardModules): Record<string, Route> {
  const { genesis } = m
  const cache = new Map<string, string | Buffer>()
  const file =
    ({ path, type }: StaticFile): Route =>
    () => {
      const p = path()
      let body = cache.get(p)
      if (body === undefined) {
        body = readFileSync(p)
        cache.set(p, body)
      }
      return { status: 200, body, contentType: type }
    }
  const gateway = m.gateway
  const gatewayAt = typeof gateway === 'function' ? gateway : () => gateway
  let recent: { settledAt: number | null; answer: Promise<ApiResponse> } | null = null
  const routes: Record<string, Route> = Object.fromEntries(Object.entries(DASHBOARD_FILES).map(([route, f]) => [route, file(f)]))
  return {
    ...routes,
    '/dashboard.json': () => ({
      status: 200,
      body: {
        chainId: genesis.chainId,
        genesisHash: toHex(genesis.hash),
        genesisTimeMs: genesis.genesisTimeMs,
        periodMs: genesis.periodMs,
        meters: genesis.meters.length,
        consensus: genesis.consensus.map((c) => c.id),
        f: genesis.f,
        quorum: genesis.quorum,
        leadershipWindow: LEADERSHIP_WINDOW,
        readyz: '/readyz' in m.routes(),
        gateway: hostPort(gatewayAt()),
        readings: { attribution: READINGS_ATTRIBUTION }
      } satisfies DashboardInfo
    }),
    '/gateway': () => {
      if (recent && (recent.settledAt === null || Date.now() - recent.settledAt <= GATEWAY_CACHE_MS)) return recent.answer
      const entry: { settledAt: number | null; answer: Promise<ApiResponse> } = {
        settledAt: null,
        answer: fetchGatewayStatus(gatewayAt(), m.gatewayTimeoutMs)
      }
      void entry.answer.then(() => (entry.settledAt = Date.now()))
      recent = entry
      return entry.answer
    }
  }
}
