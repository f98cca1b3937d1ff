import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MetricsRegistry, nullLogger } from '@bbnp/core'
import { TopicValidatorResult } from '@libp2p/interface'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { applyVerdict, topicValidator } from '../src/gossip.ts'
import { PeerGuard } from '../src/peer-guard.ts'
import { RateLimiter } from '../src/rate-limit.ts'

const limit = { messagesPerSecond: 2, burstMessages: 3, bytesPerSecond: 100, burstBytes: 200 }

describe('token buckets', () => {
  it('allow a burst, then refill at the configured rate', () => {
    let now = 0
    const rl = new RateLimiter(() => now)
    assert.deepEqual(
      [1, 2, 3, 4].map(() => rl.allow('p|t', 10, limit)),
      [true, true, true, false]
    )
    now = 499
    assert.equal(rl.allow('p|t', 10, limit), false, 'less than one token after 499 ms at 2/s')
    now = 500
    assert.equal(rl.allow('p|t', 10, limit), true)
    assert.equal(rl.allow('q|t', 10, limit), true, 'buckets are per key')
  })

  it('count bytes too, and take nothing when refusing', () => {
    let now = 0
    const rl = new RateLimiter(() => now)
    assert.equal(rl.allow('p|t', 150, limit), true)
    assert.equal(rl.allow('p|t', 100, limit), false, 'only 50 byte tokens left')
    assert.equal(rl.allow('p|t', 50, limit), true, 'the refused message took no message token')
    assert.equal(rl.allowBytes('p|t', 1, limit), false)
    now = 1000
    assert.equal(rl.allowBytes('p|t', 100, limit), true)
  })
})

describe('peer guard', () => {
  it('admits the allow list, read live', () => {
    const allowed = new Set(['a'])
    const g = new PeerGuard(allowed, { maxRejects: 3, windowMs: 1000, durationMs: 5000 })
    assert.equal(g.isAdmitted('a'), true)
    assert.equal(g.isAdmitted('b'), false)
    allowed.add('b')
    assert.equal(g.isAdmitted('b'), true)
  })

  it('bans after maxRejects within the window, for durationMs', () => {
    let now = 0
    const g = new PeerGuard(new Set(['a']), { maxRejects: 3, windowMs: 1000, durationMs: 5000 }, () => now)
    assert.equal(g.recordReject('a'), false)
    now = 600
    assert.equal(g.recordReject('a'), false)
    now = 1200 // the first reject has left the window
    assert.equal(g.recordReject('a'), false)
    now = 1300
    assert.equal(g.recordReject('a'), true, 'three within 1000 ms')
    assert.equal(g.isAdmitted('a'), false)
    assert.equal(g.recordReject('a'), false, 'a banned peer is not banned again')
    now = 6299
    assert.equal(g.isBanned('a'), true)
    now = 6300
    assert.equal(g.isBanned('a'), false)
    assert.equal(g.isAdmitted('a'), true)
  })
})

describe('the verdict adapter', () => {
  it('maps each verdict to a gossipsub result and counts it with its reason', async () => {
    const metrics = new MetricsRegistry()
    const messages = metrics.counter('bbnp_gossip_messages_total', 'test', { labels: ['topic', 'result', 'reason'] })
    const banned: string[] = []
    const deps = {
      selfId: 'self',
      guard: new PeerGuard(new Set(['p']), { maxRejects: 2, windowMs: 60_000, durationMs: 60_000 }),
      limiter: new RateLimiter(),
      rateLimit: limit,
      messages,
      logger: nullLogger,
      onBan: (id: string) => banned.push(id)
    }
    assert.equal(applyVerdict('t', { action: 'accept' }, 'p', deps), TopicValidatorResult.Accept)
    assert.equal(applyVerdict('t', { action: 'ignore', reason: 'STALE' }, 'p', deps), TopicValidatorResult.Ignore)
    assert.equal(applyVerdict('t', { action: 'reject', reason: 'BAD' }, 'p', deps), TopicValidatorResult.Reject)
    assert.deepEqual(banned, [])
    assert.equal(applyVerdict('t', { action: 'reject', reason: 'BAD' }, 'p', deps), TopicValidatorResult.Reject)
    assert.deepEqual(banned, ['p'], 'the second reject crosses the bound')
    assert.equal(applyVerdict('t', { action: 'maybe' } as never, 'p', deps), TopicValidatorResult.Reject)
    assert.equal(await messages.get({ topic: 't', result: 'accept', reason: 'OK' }), 1)
    assert.equal(await messages.get({ topic: 't', result: 'ignore', reason: 'STALE' }), 1)
    assert.equal(await messages.get({ topic: 't', result: 'reject', reason: 'BAD' }), 2)
    assert.equal(await messages.get({ topic: 't', result: 'reject', reason: 'BAD_VERDICT' }), 1)
  })
})

describe('the topic validator', () => {
  it("ignores this node's own messages relayed back (a restart) without blaming the relay; a stranger's is a charged reject", async () => {
    const [self, relay, stranger] = await Promise.all([1, 2, 3].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    const metrics = new MetricsRegistry()
    const messages = metrics.counter('bbnp_gossip_messages_total', 'test', { labels: ['topic', 'result', 'reason'] })
    const banned: string[] = []
    const guard = new PeerGuard(new Set([relay.toString()]), { maxRejects: 2, windowMs: 60_000, durationMs: 60_000 })
    let validated = 0
    const validate = topicValidator(
      { name: 't', maxBytes: 64, validate: () => (validated++, { action: 'accept' }), onMessage: () => {} },
      {
        selfId: self.toString(),
        guard,
        limiter: new RateLimiter(),
        rateLimit: limit,
        messages,
        logger: nullLogger,
        onBan: (id) => banned.push(id)
      }
    )
    const from = (publisher: typeof self) =>
      ({
        type: 'signed',
        from: publisher,
        topic: 't',
        data: new Uint8Array(4),
        sequenceNumber: 1n,
        signature: new Uint8Array(64),
        key: publisher.publicKey
      }) as never
    for (let i = 0; i < 3; i++) assert.equal(await validate(relay, from(self)), TopicValidatorResult.Ignore)
    assert.equal(validated, 0, 'never reaches the topic validator')
    assert.deepEqual(banned, [], 'the relay is not charged')
    assert.equal(await messages.get({ topic: 't', result: 'ignore', reason: 'OWN_MESSAGE' }), 3)
    assert.equal(await validate(relay, from(stranger)), TopicValidatorResult.Reject)
    assert.equal(await validate(relay, from(stranger)), TopicValidatorResult.Reject)
    assert.deepEqual(banned, [relay.toString()], 'a publisher off the allow list is still charged to the relay')
    assert.equal(await validate(relay, from(relay)), TopicValidatorResult.Ignore, 'and the relay, banned now, is ignored')
  })
})
