import { BbnpError, errorMessage, isBbnpError, type Counter, type Logger, type ProtocolDescriptor } from '@bbnp/core'
import type { Libp2p, Stream, StreamHandler } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import type { PeerGuard } from './peer-guard.ts'
import type { RateLimit, RateLimiter } from './rate-limit.ts'
import type { NetworkErrorCode, ProtocolSpec, RequestOptions } from './types.ts'

/**
 * Request/response over libp2p streams. On the wire, one request per stream:
 *
 *   client -> server   one length-prefixed frame: the request
 *   server -> client   length-prefixed frames, each starting with a tag byte:
 *                        0x00 + payload   a response frame (at most maxResponseFrames of them)
 *                        0x01             end: the response is complete
 *                        0x02 + code      error: the request was refused or failed (ASCII code)
 *                      then the server closes the stream.
 *
 * The explicit end frame matters: a connection that drops halfway (or a server that closes its
 * connection right after refusing) must never look like a complete, shorter response. The error
 * frame tells the client why (RATE_LIMITED, OVERSIZED, MALFORMED, TIMEOUT, ...) instead of a bare
 * reset. Every frame is bounded before it is buffered (it-length-prefixed refuses a length prefix
 * above the bound), both sides have a deadline, and every outcome is counted in
 * `bbnp_reqresp_requests_total{protocol, side, result}`.
 */

const TAG_DATA = 0x00
const TAG_END = 0x01
const TAG_ERROR = 0x02
const END_FRAME = Uint8Array.of(TAG_END)
/** Error codes on the wire are short upper-case words; anything else is sent as SERVER_ERROR. */
const WIRE_CODE = /^[A-Z][A-Z0-9_]{0,31}$/

/** Inbound streams per connection per protocol; more are refused by libp2p itself. */
const MAX_INBOUND_STREAMS = 16

export interface ServerDeps {
  guard: PeerGuard
  limiter: RateLimiter
  rateLimit: RateLimit
  requests: Counter<'protocol' | 'side' | 'result'>
  logger: Logger
  onBan(peerId: string): void
  /** Deadlines of the requests being served, so that stop() can end them all at once. */
  inflight: Set<AbortController>
}

/** Why a request was not answered: the wire code sent to the client. */
class Refusal extends Error {
  readonly code: string
  constructor(code: string) {
    super(code)
    this.code = code
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      }
    )
  })
}

/** Reads exactly one frame of at most `maxBytes`; the client sends nothing after it. */
async function readOneFrame(stream: Stream, maxBytes: number): Promise<Uint8Array> {
  let frame: { subarray(): Uint8Array } | undefined
  try {
    for await (const f of lp.decode(stream.source, { maxDataLength: maxBytes })) {
      frame = f
      break
    }
  } catch (e) {
    if ((e as Error).name === 'InvalidDataLengthError') throw new Refusal('OVERSIZED')
    // The client reset the stream, or the connection under it closed, before its request was
    // whole: it went away (its own deadline passed, a hang-up), which is not bad input. Charging
    // it as MALFORMED got a slow but honest gateway banned by every peer on a loaded machine.
    if (stream.status === 'reset' || stream.status === 'aborted') throw new Refusal('RESET')
    throw new Refusal('MALFORMED')
  }
  if (frame === undefined) throw new Refusal('MALFORMED')
  return frame.subarray()
}

function tagged(tag: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1)
  out[0] = tag
  out.set(payload, 1)
  return out
}

/** The wire code for a failure while serving. */
function wireCode(e: unknown): string {
  if (e instanceof Refusal) return e.code
  if (isBbnpError(e)) {
    if (e.code === 'NOT_STARTED') return 'UNAVAILABLE'
    if (WIRE_CODE.test(e.code)) return e.code
  }
  return 'SERVER_ERROR'
}

/** Bad input (as opposed to our failure or a slow handler) counts towards a ban. */
const PEER_FAULTS = new Set(['MALFORMED', 'OVERSIZED'])

export function serverHandler(spec: ProtocolSpec, deps: ServerDeps): StreamHandler {
  if (spec.handler === undefined) throw new BbnpError('CONFIG', `protocol ${spec.id} has no handler`)
  const handler = spec.handler
  const count = (result: string) => deps.requests.inc({ protocol: spec.id, side: 'server', result })
  return ({ stream, connection }) => {
    const from = connection.remotePeer.toString()
    const key = `${from}|${spec.id}`
    const deadline = new AbortController()
    deps.inflight.add(deadline)
    const timer = setTimeout(() => deadline.abort(new BbnpError('TIMEOUT', `${spec.id} deadline passed`)), spec.timeoutMs)
    const signal = deadline.signal
    let outcome = 'OK'
    let failure: unknown

    // The response as it is produced: data frames, then END, or an ERROR frame whenever something
    // fails (even after some data frames). Every wait is raced against the deadline, so a stuck
    // handler cannot hold the stream past it.
    async function* respond(): AsyncGenerator<Uint8Array> {
      let frames: Iterator<Uint8Array> | AsyncIterator<Uint8Array> | undefined
      try {
        // a peer banned a moment ago still has a connection for a few ms: serve it nothing
        if (!deps.guard.isAdmitted(from)) throw new Refusal('REFUSED')
        if (!deps.limiter.allow(key, 0, deps.rateLimit)) throw new Refusal('RATE_LIMITED')
        const request = await raceAbort(readOneFrame(stream, spec.maxRequestBytes), signal)
        if (!deps.limiter.allowBytes(key, request.length, deps.rateLimit)) throw new Refusal('RATE_LIMITED')
        const out = handler(request, from, signal)
        frames = Symbol.asyncIterator in out ? out[Symbol.asyncIterator]() : (await raceAbort(out, signal)).values()
        let n = 0
        while (true) {
          const next: IteratorResult<Uint8Array> = await raceAbort(Promise.resolve(frames.next()), signal)
          if (next.done === true) break
          if (++n > spec.maxResponseFrames) throw new Error(`handler produced more than ${spec.maxResponseFrames} frames`)
          if (next.value.length > spec.maxResponseBytes)
            throw new Error(`handler produced a frame of ${next.value.length} bytes (max ${spec.maxResponseBytes})`)
          yield tagged(TAG_DATA, next.value)
        }
        yield END_FRAME
      } catch (e) {
        outcome = wireCode(e)
        failure = e
        yield tagged(TAG_ERROR, new TextEncoder().encode(outcome))
      } finally {
        // a streaming handler cut short (deadline, bound, failure) gets to run its cleanup
        Promise.resolve(frames?.return?.()).catch(() => {})
      }
    }

    pipe(respond(), (src) => lp.encode(src), stream.sink)
      .then(() => stream.close())
      .then(
        () => {
          count(outcome.toLowerCase())
          if (outcome === 'SERVER_ERROR')
            deps.logger.warn('request handler failed', { protocol: spec.id, from, error: errorMessage(failure) })
          else if (outcome !== 'OK') deps.logger.debug('request refused', { protocol: spec.id, from, code: outcome })
        },
        (e: unknown) => {
          // the client went away (reset, connection closed) before the answer was written
          count('reset')
          deps.logger.debug('response not delivered', { protocol: spec.id, from, error: errorMessage(e) })
          stream.abort(e instanceof Error ? e : new Error(String(e)))
        }
      )
      .finally(() => {
        clearTimeout(timer)
        deps.inflight.delete(deadline)
        if (!signal.aborted) deadline.abort(new Error('done'))
        // charged after the error frame went out, so that a ban's hang-up cannot swallow it
        if (PEER_FAULTS.has(outcome) && deps.guard.recordReject(from)) deps.onBan(from)
      })
  }
}

function handlerOptions() {
  return { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_INBOUND_STREAMS }
}

/** Serves every protocol that has a handler, each with its own rate limit over `requestLimit`. */
export async function serveProtocols(
  libp2p: Pick<Libp2p, 'handle'>,
  protocols: ProtocolSpec[],
  requestLimit: RateLimit,
  deps: Omit<ServerDeps, 'rateLimit'>
): Promise<void> {
  for (const p of protocols) {
    if (p.handler === undefined) continue
    const rateLimit = { ...requestLimit, ...p.rateLimit }
    await libp2p.handle(p.id, serverHandler(p, { ...deps, rateLimit }), handlerOptions())
  }
}

/** it-length-prefixed's errors for a broken frame (other than a too-large one). */
const FRAMING_ERRORS = new Set([
  'InvalidMessageLengthError',
  'InvalidDataLengthLengthError',
  'UnexpectedEOFError',
  'UnsupportedProtocolError'
])

export interface ClientDeps {
  libp2p: Libp2p
  requests: Counter<'protocol' | 'side' | 'result'>
}

function fail(code: NetworkErrorCode, message: string, meta: Record<string, unknown>, cause?: unknown): BbnpError<NetworkErrorCode> {
  return new BbnpError(code, message, meta, cause === undefined ? undefined : { cause })
}

/**
 * Sends one request and collects the response frames. Fails with a typed error, never hangs:
 * the deadline covers dialling, writing and reading, and aborting the stream unblocks every read.
 */
export async function sendRequest(
  spec: ProtocolDescriptor,
  peerId: string,
  data: Uint8Array,
  opts: RequestOptions,
  deps: ClientDeps
): Promise<Uint8Array[]> {
  const meta = { protocol: spec.id, peer: peerId }
  const count = (result: string) => deps.requests.inc({ protocol: spec.id, side: 'client', result })
  if (data.length > spec.maxRequestBytes) {
    count('oversized')
    throw fail('OVERSIZED', `request of ${data.length} bytes exceeds ${spec.maxRequestBytes} for ${spec.id}`, meta)
  }
  let target: ReturnType<typeof peerIdFromString>
  try {
    target = peerIdFromString(peerId)
  } catch (e) {
    count('no_connection')
    throw fail('NO_CONNECTION', `not a peer ID: ${peerId}`, meta, e)
  }
  const timeout = new AbortController()
  const timer = setTimeout(() => timeout.abort(), opts.timeoutMs ?? spec.timeoutMs)
  const signal = opts.signal === undefined ? timeout.signal : AbortSignal.any([timeout.signal, opts.signal])
  // which of the two fired decides the error code
  const whyAborted = (): BbnpError | undefined => {
    if (opts.signal?.aborted === true) return fail('ABORTED', `${spec.id} request aborted`, meta)
    if (timeout.signal.aborted) return fail('TIMEOUT', `${spec.id} request to ${peerId} timed out`, meta)
    return undefined
  }
  let stream: Stream | undefined
  const onAbort = () => stream?.abort(new Error('request deadline'))
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    try {
      stream = await deps.libp2p.dialProtocol(target, spec.id, { signal })
    } catch (e) {
      const aborted = whyAborted()
      if (aborted) throw aborted
      const name = (e as Error).name
      if (name === 'UnsupportedProtocolError') throw fail('PROTOCOL', `${peerId} does not serve ${spec.id}`, meta, e)
      throw fail('NO_CONNECTION', `cannot reach ${peerId} for ${spec.id}: ${errorMessage(e)}`, meta, e)
    }
    if (signal.aborted) onAbort()
    const frames: Uint8Array[] = []
    let complete = false
    try {
      // read while writing: a server that refuses early answers before it reads the request
      const writing = stream.sink([lp.encode.single(data)])
      writing.catch(() => {})
      for await (const f of lp.decode(stream.source, { maxDataLength: spec.maxResponseBytes + 1 })) {
        const bytes = f.subarray()
        if (bytes[0] === TAG_DATA) {
          if (frames.length >= spec.maxResponseFrames) {
            throw fail('PROTOCOL', `${peerId} sent more than ${spec.maxResponseFrames} frames on ${spec.id}`, meta)
          }
          frames.push(bytes.subarray(1))
        } else if (bytes[0] === TAG_END && bytes.length === 1) {
          complete = true
          break
        } else if (bytes[0] === TAG_ERROR) {
          const code = new TextDecoder().decode(bytes.subarray(1, 33))
          const reason = WIRE_CODE.test(code) ? code : 'SERVER_ERROR'
          if (reason === 'TIMEOUT')
            throw fail('TIMEOUT', `${peerId} did not answer ${spec.id} within its deadline`, { ...meta, remote: true })
          throw fail('REFUSED', `${peerId} refused ${spec.id}: ${reason}`, { ...meta, reason })
        } else {
          throw fail('PROTOCOL', `${peerId} sent a frame with an unknown tag on ${spec.id}`, meta)
        }
      }
      if (!complete)
        throw fail('REFUSED', `${peerId} closed the ${spec.id} stream before the end of the response`, { ...meta, reason: 'TRUNCATED' })
      await writing
    } catch (e) {
      const aborted = whyAborted()
      if (aborted) throw aborted
      if (isBbnpError(e)) throw e
      const name = (e as Error).name
      if (name === 'InvalidDataLengthError')
        throw fail('OVERSIZED', `${peerId} sent a frame larger than ${spec.maxResponseBytes} on ${spec.id}`, meta, e)
      if (FRAMING_ERRORS.has(name)) throw fail('PROTOCOL', `bad response framing from ${peerId} on ${spec.id}: ${errorMessage(e)}`, meta, e)
      // anything else is the stream going away under us: a reset (libp2p surfaces it as a plain
      // error from the wrapped stream) or the connection closing
      throw fail('REFUSED', `${peerId} reset the ${spec.id} stream: ${errorMessage(e)}`, { ...meta, reason: 'RESET' }, e)
    }
    count('ok')
    const done = stream
    done.close({ signal: AbortSignal.timeout(spec.timeoutMs) }).catch((e: Error) => done.abort(e))
    return frames
  } catch (e) {
    const err = isBbnpError(e) ? e : fail('PROTOCOL', errorMessage(e), meta, e)
    count(err.code.toLowerCase())
    stream?.abort(err)
    throw err
  } finally {
    clearTimeout(timer)
    signal.removeEventListener('abort', onAbort)
  }
}
