/**
 * Readiness (issue 13, item 2): each role's rule as a pure function, the /livez and /readyz
 * answers, what the consensus peer's rule reads (a stall: work waiting with no block stored for
 * five view timeouts; catching up: fetching blocks from a peer ahead, not a poll that found none).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { MetricsRegistry, nullLogger } from '@bbnp/core'
import { BlockStore, encodeStatus } from '@bbnp/chain'
import { M, storeOptions, tempDir, testChain } from '../../chain/test/helpers.ts'
import { CatchUp } from '../src/catch-up.ts'
import { PeerActivity } from '../src/peer-activity.ts'
import { type ConsensusReadinessInput, consensusReadiness, gatewayReadiness, healthRoutes, meterReadiness } from '../src/readiness.ts'
import type { WireProtocols } from '../src/protocols.ts'

const healthy: ConsensusReadinessInput = { takingPart: true, catchingUp: false, consensusPeers: 3, others: 3, quorum: 3, stalledMs: null }
const codes = (s: Partial<ConsensusReadinessInput>) => consensusReadiness({ ...healthy, ...s }).map((r) => r.code)

describe('readiness rules', () => {
  it('a consensus peer: taking part, not catching up, quorum − 1 other peers, no stall', () => {
    assert.deepEqual(codes({}), [])
    assert.deepEqual(codes({ consensusPeers: 2 }), [], 'quorum 3: two others are enough')
    assert.deepEqual(codes({ consensusPeers: 1 }), ['TOO_FEW_PEERS'])
    assert.deepEqual(codes({ takingPart: false }), ['STARTING'])
    assert.deepEqual(codes({ catchingUp: true }), ['CATCHING_UP'])
    assert.deepEqual(codes({ stalledMs: 9000 }), ['STALLED'])
    assert.deepEqual(codes({ takingPart: false, catchingUp: true, consensusPeers: 0, stalledMs: 5000 }), [
      'STARTING',
      'CATCHING_UP',
      'TOO_FEW_PEERS',
      'STALLED'
    ])
    // A network of one peer needs no other; one of 7 (quorum 5) needs 4.
    assert.deepEqual(codes({ consensusPeers: 0, others: 0, quorum: 1 }), [])
    assert.deepEqual(codes({ consensusPeers: 3, others: 6, quorum: 5 }), ['TOO_FEW_PEERS'])
    const [few] = consensusReadiness({ ...healthy, consensusPeers: 1 })
    assert.equal(few.message, 'connected to 1 consensus peers; a quorum of 3 needs 2 besides this one')
  })

  it('the gateway: started and a consensus peer connected; a meter process: the gateway connected', () => {
    assert.deepEqual(gatewayReadiness({ started: true, consensusPeers: 1 }), [])
    assert.deepEqual(
      gatewayReadiness({ started: false, consensusPeers: 0 }).map((r) => r.code),
      ['STARTING', 'NO_CONSENSUS_PEER']
    )
    assert.deepEqual(meterReadiness({ gatewayConnected: true }), [])
    assert.deepEqual(
      meterReadiness({ gatewayConnected: false }).map((r) => r.code),
      ['NO_GATEWAY']
    )
  })

  it('/livez is always 200; /readyz is 200 with no reasons, or 503 with an error code and every reason', async () => {
    let reasons = gatewayReadiness({ started: true, consensusPeers: 0 })
    const r = healthRoutes(() => reasons)
    assert.deepEqual(await r['/livez']({}, new URLSearchParams()), { status: 200, body: { live: true } })
    assert.deepEqual(await r['/readyz']({}, new URLSearchParams()), {
      status: 503,
      body: {
        ready: false,
        code: 'NOT_READY',
        error: 'not ready: no consensus peer is connected',
        reasons: [{ code: 'NO_CONSENSUS_PEER', message: 'no consensus peer is connected' }]
      }
    })
    reasons = []
    assert.deepEqual(await r['/readyz']({}, new URLSearchParams()), { status: 200, body: { ready: true, reasons: [] } })
  })
})

describe('what the consensus rule reads', () => {
  it('a stall: work handed off after the last stored block, and nothing stored for stallMs', () => {
    const a = new PeerActivity(1000, nullLogger, new MetricsRegistry())
    assert.equal(a.stallMs, 5000)
    const t0 = a.lastStoredAt
    assert.equal(a.stalledMs(t0 + 60_000), null, 'no work: never a stall, however long')
    a.handedOff(t0 + 1000)
    assert.equal(a.stalledMs(t0 + 4999), null)
    assert.equal(a.stalledMs(t0 + 5000), 5000)
    a.lastStoredAt = t0 + 6000 // a block stored after the handoff: nothing waits
    assert.equal(a.stalledMs(t0 + 60_000), null)
    a.handedOff(t0 + 7000)
    assert.equal(a.stalledMs(t0 + 10_999), null)
    assert.equal(a.stalledMs(t0 + 11_500), 5500)
  })

  describe('catching up', () => {
    const t = testChain('readiness-test')
    let store: BlockStore
    let remove: () => Promise<void>
    before(async () => {
      const dir = await tempDir('bbnp-readiness-')
      remove = dir.remove
      store = await BlockStore.open(dir.path, storeOptions(t))
    })
    after(async () => {
      await store?.close()
      await remove?.()
    })

    /** A CatchUp whose one peer is at `height` and holds its blocks request until released. */
    function withPeer(height: number) {
      const wire = { status: { name: 'status' }, blocks: { name: 'blocks' } } as unknown as Pick<WireProtocols, 'status' | 'blocks'>
      let release: (e: Error) => void = () => {}
      const asked = { status: 0, blocks: 0 }
      let fetching: () => void = () => {}
      const blocksAsked = new Promise<void>((r) => (fetching = r))
      const catchUp = new CatchUp(
        { genesisHash: t.genesisHash, keys: t.keys, quorum: 3, maxBlockBytes: 1 << 20, wire },
        {
          p2p: {
            connectedPeers: () => ['peer-a'],
            request: async (_peer, protocol) => {
              if (protocol === wire.status) {
                asked.status++
                return [
                  encodeStatus({
                    genesisHash: t.genesisHash,
                    height,
                    headHash: new Uint8Array(32).fill(height),
                    latestSlot: height === 0 ? -1 : 3 * height
                  })
                ]
              }
              asked.blocks++
              fetching()
              return new Promise((_r, reject) => (release = reject))
            }
          },
          isConsensusPeer: () => true,
          nameOf: (p) => p,
          store,
          driver: { applySynced: async () => {} },
          logger: nullLogger
        }
      )
      return { catchUp, asked, blocksAsked, release: (e: Error) => release(e) }
    }

    it('is true only while blocks are fetched from a peer that is ahead', async () => {
      const p = withPeer(M + 1)
      assert.equal(p.catchUp.catchingUp, false)
      const done = p.catchUp.sync('test')
      await p.blocksAsked
      assert.equal(p.catchUp.syncing, true)
      assert.equal(p.catchUp.catchingUp, true)
      p.release(new Error('peer went away'))
      await done
      assert.equal(p.catchUp.syncing, false)
      assert.equal(p.catchUp.catchingUp, false)
    })

    it('a poll that finds no peer ahead is syncing, never catching up', async () => {
      const p = withPeer(0)
      const done = p.catchUp.sync('poll')
      assert.equal(p.catchUp.syncing, true)
      await done
      assert.equal(p.asked.status, 1)
      assert.equal(p.asked.blocks, 0)
      assert.equal(p.catchUp.catchingUp, false)
    })
  })
})
