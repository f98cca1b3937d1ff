/**
 * Secret key files (PROTOCOL 1.6): one JSON file per entity under `<config>/keys/<id>.json`, mode
 * 0600. A peer refuses a key file that others can read, or one that does not match the genesis
 * (its public key or its libp2p peer ID differ), with one clear KEY error.
 */
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { BbnpError, bytesEqual, fromHex, parseEntity, toHex } from '@bbnp/core'
import {
  type CommitteeKeys,
  decodeCommitteeKeys,
  decodeGatewayKeys,
  decodeMeterKeys,
  type GatewayKeys,
  type MeterKeys
} from '@bbnp/aggregation'
import { modR, publicKeyFromScalar, R, type SecretKey, secretKeyFromScalar } from '@bbnp/crypto'
import type { Genesis } from './genesis.ts'

export type Role = 'consensus' | 'gateway' | 'meter'

export interface KeyFileJson {
  id: string
  role: Role
  /** The genesis this key belongs to (hex). */
  genesis: string
  /** s_i for a meter, s_g for the gateway, alpha_j for a consensus node (hex, 32 bytes). */
  secret: string
  /** The libp2p Ed25519 identity, protobuf-encoded, hex. */
  libp2pKey: string
  /**
   * The keys the trusted authority derived for this entity (PROTOCOL 3.5.1; @bbnp/aggregation
   * key-material.ts), hex: a meter's gateway, pair and committee keys; every meter's key for the
   * gateway; every meter's pad key for a consensus peer.
   */
  dealt: string
}

export interface LoadedKey {
  id: string
  role: Role
  /** s_i, s_g, or alpha_j * c_j for a consensus node (the scalar it signs with). */
  scalar: bigint
  /** The BLS key signing with `scalar` (gateway and consensus). */
  blsKey?: SecretKey
  libp2pKey: PrivateKey
  /** The dealt keys, checked against the genesis: of the role's kind. */
  meterKeys?: MeterKeys
  gatewayKeys?: GatewayKeys
  committeeKeys?: CommitteeKeys
}

export function keyFilePath(configDir: string, id: string): string {
  return join(configDir, 'keys', `${id}.json`)
}

export function writeKeyFile(path: string, key: KeyFileJson): void {
  writeFileSync(path, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600, flag: 'w' })
  chmodSync(path, 0o600)
}

export function libp2pKeyHex(key: PrivateKey): string {
  return toHex(privateKeyToProtobuf(key))
}

function bad(msg: string): never {
  throw new BbnpError('KEY', msg)
}

/** Load and check the key file of `id` against the genesis. */
export function loadKey(configDir: string, id: string, genesis: Genesis): LoadedKey {
  const path = keyFilePath(configDir, id)
  let mode: number
  try {
    mode = statSync(path).mode
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') bad(`no key file for ${id} at ${path}`)
    bad(`cannot read key file ${path}: ${(e as Error).message}`)
  }
  if ((mode & 0o077) !== 0) bad(`key file ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`)
  let json: KeyFileJson
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    bad(`key file ${path} is not valid JSON: ${(e as Error).message}`)
  }
  if (json.id !== id) bad(`key file ${path} is for "${String(json.id)}", not ${id}`)
  if (json.genesis !== toHex(genesis.hash)) bad(`key file ${path} belongs to another genesis`)
  let secret: bigint
  let libp2pKey: PrivateKey
  try {
    secret = BigInt(`0x${toHex(fromHex(json.secret))}`)
    libp2pKey = privateKeyFromProtobuf(fromHex(json.libp2pKey))
  } catch {
    bad(`key file ${path} holds a malformed key`)
  }
  if (secret <= 0n || secret >= R) bad(`key file ${path} holds a secret out of range`)

  let expectedPeer: string
  let scalar = secret
  let expectedPublic: Uint8Array
  if (id === genesis.gateway.id) {
    expectedPeer = genesis.gateway.peerId.toString()
    expectedPublic = genesis.gateway.publicKeyBytes
  } else if (parseEntity(id)?.role === 'consensus') {
    const cn = genesis.consensus.find((c) => c.id === id) ?? bad(`${id} is not a consensus node of this genesis`)
    expectedPeer = cn.peerId.toString()
    expectedPublic = cn.publicKeyBytes
    scalar = modR(secret * cn.c) // PROTOCOL 1.3: node j signs with alpha_j * c_j
  } else {
    const m = genesis.meters.find((x) => x.id === id) ?? bad(`${id} is not a meter of this genesis`)
    expectedPeer = m.peerId.toString()
    expectedPublic = m.publicKey
  }
  if (!bytesEqual(publicKeyFromScalar(secret), expectedPublic)) bad(`key file ${path} does not match ${id}'s public key in the genesis`)
  if (peerIdFromPrivateKey(libp2pKey).toString() !== expectedPeer) bad(`key file ${path} does not match ${id}'s peer ID in the genesis`)
  return {
    id,
    role: json.role,
    scalar,
    blsKey: json.role === 'meter' ? undefined : secretKeyFromScalar(scalar),
    libp2pKey,
    ...dealtKeys(path, id, json, genesis)
  }
}

/** Decode the dealt keys and check them against the genesis (index, meter and peer counts). */
function dealtKeys(
  path: string,
  id: string,
  json: KeyFileJson,
  genesis: Genesis
): Pick<LoadedKey, 'meterKeys' | 'gatewayKeys' | 'committeeKeys'> {
  if (typeof json.dealt !== 'string') bad(`key file ${path} has no dealt keys (written by an older bbnp setup?); run bbnp setup again`)
  const n = genesis.meters.length
  const m = genesis.consensus.length
  try {
    const e = parseEntity(id)
    if (e?.role === 'meter') {
      const k = decodeMeterKeys(json.dealt)
      if (k.index !== e.index || k.meterCount !== n || k.committeeKeys.length !== m)
        bad(`key file ${path} holds dealt keys of another meter or network`)
      return { meterKeys: k }
    }
    if (e?.role === 'consensus') {
      const k = decodeCommitteeKeys(json.dealt)
      if (k.peer !== e.index || k.meterCount !== n || k.consensusCount !== m)
        bad(`key file ${path} holds dealt keys of another peer or network`)
      return { committeeKeys: k }
    }
    const k = decodeGatewayKeys(json.dealt)
    if (k.meterCount !== n) bad(`key file ${path} holds dealt keys of another network`)
    return { gatewayKeys: k }
  } catch (e) {
    if (e instanceof BbnpError && e.code === 'KEY') throw e
    bad(`key file ${path} holds malformed dealt keys: ${(e as Error).message}`)
  }
}
