import { MetricsRegistry, nullLogger } from '@bbnp/core'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createP2PNode, type P2PNode, type P2PNodeOptions, type TopicSpec, type Verdict } from '../src/index.ts'

export const LOOPBACK = '/ip4/127.0.0.1/tcp/0'

export interface Identity {
  key: PrivateKey
  id: string
}

export async function identity(): Promise<Identity> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

export interface TestNode {
  node: P2PNode
  metrics: MetricsRegistry
}

/** Creates and starts a node with its own metrics registry; `nodes` collects it for cleanup. */
export async function startNode(
  nodes: P2PNode[],
  me: Identity,
  opts: Partial<Omit<P2PNodeOptions, 'privateKey'>> & { allowedPeers: ReadonlySet<string> }
): Promise<TestNode> {
  const metrics = new MetricsRegistry()
  const node = await createP2PNode(
    { privateKey: me.key, listen: [LOOPBACK], gossip: false, redial: { initialMs: 50, maxMs: 300 }, ...opts },
    { logger: nullLogger, metrics }
  )
  nodes.push(node)
  await node.start()
  return { node, metrics }
}

export async function stopAll(nodes: P2PNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop()))
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A topic that records what it received; its verdict comes from `judge`. */
export function recordingTopic(
  name: string,
  judge: (data: Uint8Array) => Verdict | Promise<Verdict> = () => ({ action: 'accept' }),
  maxBytes = 1024
) {
  const received: { data: string; from: string }[] = []
  const spec: TopicSpec = {
    name,
    maxBytes,
    validate: (data) => judge(data),
    onMessage: (data, from) => {
      received.push({ data: new TextDecoder().decode(data), from })
    }
  }
  return { spec, received }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Value of one counter line in the Prometheus text, 0 when absent. */
export function metricValue(rendered: string, name: string, labels: Record<string, string>): number {
  for (const line of rendered.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return 0
}
