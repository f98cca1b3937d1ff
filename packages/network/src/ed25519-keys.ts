/**
 * Ed25519 with its key objects made once. @libp2p/crypto 5.1.8 turns the raw key into a
 * `node:crypto` KeyObject (a JWK parse) on every signature and every verification; gossipsub
 * signs each message we publish and verifies each one we receive (StrictSign), so that parse cost
 * as much as the curve arithmetic (measured: about half of a consensus peer's Ed25519 time,
 * docs/performance.md). Here the node's own key signs through one KeyObject, and verification
 * keys are kept by their raw bytes: the peers of a network are few and fixed (the allow list),
 * and the bound keeps a stream of unknown keys from growing the map. The results are those of
 * `crypto.sign` / `crypto.verify` with the same key, as before.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'

const VERIFY_KEYS_KEPT = 256

type Bytes = Uint8Array | { subarray(): Uint8Array }

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url')
const flat = (msg: Bytes): Uint8Array => (msg instanceof Uint8Array ? msg : msg.subarray())

/** The node's private key, signing through one KeyObject; other key types are returned as they are. */
export function withCachedSigning(key: PrivateKey): PrivateKey {
  if (key.type !== 'Ed25519') return key
  const obj = createPrivateKey({
    format: 'jwk',
    key: { crv: 'Ed25519', kty: 'OKP', d: b64url(key.raw.subarray(0, 32)), x: b64url(key.publicKey.raw) }
  })
  const cached = Object.create(Object.getPrototypeOf(key) as object) as PrivateKey
  Object.assign(cached, key)
  Object.defineProperty(cached, 'sign', { value: (msg: Bytes) => sign(null, flat(msg), obj) })
  return cached
}

const verifyKeys = new Map<string, KeyObject>()

function verifyKey(raw: Uint8Array): KeyObject {
  const id = b64url(raw)
  let obj = verifyKeys.get(id)
  if (obj === undefined) {
    obj = createPublicKey({ format: 'jwk', key: { crv: 'Ed25519', kty: 'OKP', x: id } })
    if (verifyKeys.size >= VERIFY_KEYS_KEPT) verifyKeys.delete(verifyKeys.keys().next().value as string)
    verifyKeys.set(id, obj)
  }
  return obj
}

let patched = false

/**
 * Make every Ed25519 public key of @libp2p/crypto verify through the cache. The class is reached
 * through an instance (the package does not export it); the one copy of @libp2p/crypto is pinned
 * by the root package.json's overrides. Same checks as the library: a 32-byte key, a 64-byte
 * signature, `crypto.verify`.
 */
export function cacheEd25519Verification(sample: PrivateKey): void {
  if (patched || sample.type !== 'Ed25519') return
  const proto = Object.getPrototypeOf(sample.publicKey) as {
    verify: (this: { raw: Uint8Array }, data: Bytes, sig: Uint8Array, options?: { signal?: AbortSignal }) => boolean
  }
  proto.verify = function (data, sig, options) {
    options?.signal?.throwIfAborted()
    if (this.raw.byteLength !== 32) throw new TypeError('"key" must be 32 bytes in length.')
    if (sig.byteLength !== 64) throw new TypeError('"sig" must be 64 bytes in length.')
    return verify(null, flat(data), verifyKey(this.raw), sig)
  }
  patched = true
}
