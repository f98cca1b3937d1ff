/**
 * Test networks: secrets from a SeededRng, meters and gateway built with the known-keys DH
 * shortcut (blst, about 0.2 ms per key instead of noble's 6 ms; the bytes are identical, checked
 * in algebra.test.ts) unless `realDh` is set.
 */
import { type Rng, SeededRng } from '@bbnp/core'
import {
  type AggregationModules,
  type AggregationParams,
  candidateIndices,
  DEFAULT_AGGREGATION_PARAMS,
  GatewayCrypto,
  generateNetworkSecrets,
  MeterCrypto,
  type MeterOptions,
  type NetworkSecrets,
  sharedSecretFromKnownKeys
} from '../src/index.ts'

export interface TestNetwork {
  n: number
  secrets: NetworkSecrets
  modules: AggregationModules
  meters: MeterCrypto[]
  gateway: GatewayCrypto
  meterOptions(i: number): MeterOptions
}

const secretsCache = new Map<string, NetworkSecrets>()

export function networkSecrets(n: number, seed: string): NetworkSecrets {
  const key = `${n}/${seed}`
  let s = secretsCache.get(key)
  if (!s) {
    s = generateNetworkSecrets({ meters: n, consensus: 4, rng: new SeededRng(`aggregation-test/${seed}`) })
    secretsCache.set(key, s)
  }
  return s
}

const networkCache = new Map<string, TestNetwork>()

/** A network of n meters and its gateway; cached per arguments (meters and gateway keep no per-slot state). */
export function buildNetwork(n: number, seed: string, opts: { params?: Partial<AggregationParams>; realDh?: boolean } = {}): TestNetwork {
  const key = JSON.stringify([n, seed, opts.params ?? {}, opts.realDh === true])
  let net = networkCache.get(key)
  if (!net) {
    net = makeNetwork(n, seed, opts)
    networkCache.set(key, net)
  }
  return net
}

function makeNetwork(n: number, seed: string, opts: { params?: Partial<AggregationParams>; realDh?: boolean }): TestNetwork {
  const secrets = networkSecrets(n, seed)
  const modules: AggregationModules = opts.realDh ? {} : { sharedSecret: sharedSecretFromKnownKeys([...secrets.meters, secrets.gateway]) }
  const k = opts.params?.candidates ?? DEFAULT_AGGREGATION_PARAMS.candidates
  const meterOptions = (i: number): MeterOptions => ({
    index: i,
    meterCount: n,
    secret: secrets.meters[i - 1].secret,
    gatewayPublicKey: secrets.gateway.publicKey,
    candidatePublicKeys: new Map(candidateIndices(i, n, k).map((j) => [j, secrets.meters[j - 1].publicKey])),
    params: opts.params
  })
  const meters = secrets.meters.map((m) => new MeterCrypto(meterOptions(m.index), modules))
  const gateway = new GatewayCrypto({ secret: secrets.gateway.secret, meterPublicKeys: secrets.meters.map((m) => m.publicKey) }, modules)
  return { n, secrets, modules, meters, gateway, meterOptions }
}

/** A signed reading in (-2^48, 2^48): mostly household-sized, sometimes negative, sometimes extreme. */
export function randomReading(rng: Rng): bigint {
  const kind = rng.int(10)
  const max = (1n << 48n) - 1n
  if (kind === 0) return max
  if (kind === 1) return -max
  if (kind === 2) return 0n
  const small = BigInt(rng.int(5000))
  return kind < 6 ? -small : small
}
