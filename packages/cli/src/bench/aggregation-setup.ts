/**
 * The aggregation bench's trusted setup and start-up: the TA's precomputation of every derived
 * key for N meters (fixed-base multiplications by blst) and the size of each key file's dealt
 * material; then each role's crypto state from its dealt keys (hex, as in a JSON key file), vs
 * the Diffie-Hellman each would otherwise do (the measured cost of one key times their number).
 */
import { SeededRng, toHex } from '@bbnp/core'
import {
  CommitteeCrypto,
  DEFAULT_AGGREGATION_PARAMS,
  type DealtKeys,
  dealKeys,
  decodeCommitteeKeys,
  decodeGatewayKeys,
  decodeMeterKeys,
  encodeCommitteeKeys,
  encodeGatewayKeys,
  encodeMeterKeys,
  GatewayCrypto,
  generateNetworkSecrets,
  MeterCrypto,
  type NetworkSecrets
} from '@bbnp/aggregation'
import type { AggregationBench } from './aggregation.ts'
import { round, tick } from './measure.ts'

/** The dealt keys of every entity, hex-encoded as in their key files. */
export interface EncodedKeys {
  meters: string[]
  gateway: string
  committee: string[]
}

/** A network's crypto state, ready to run slots. */
export interface CryptoNetwork {
  secrets: NetworkSecrets
  meters: MeterCrypto[]
  gw: GatewayCrypto
  peers: CommitteeCrypto[]
}

export async function benchTrustedSetup(
  n: number,
  m: number,
  log: (line: string) => void
): Promise<{ figures: AggregationBench['trustedSetup']; secrets: NetworkSecrets; encoded: EncodedKeys }> {
  log(`trusted setup: secrets for ${n} meters`)
  const s0 = performance.now()
  const secrets = generateNetworkSecrets({ meters: n, consensus: m, rng: new SeededRng(`bench-aggregation-${n}`) })
  const secretsMs = performance.now() - s0
  await tick()
  log(`trusted setup: dealing every derived key (${n * (1 + m + DEFAULT_AGGREGATION_PARAMS.candidates / 2)} DH results)`)
  let dhResults = 0
  const d0 = performance.now()
  const dealt: DealtKeys = dealKeys(secrets, {
    onProgress: (done, total) => {
      dhResults = done
      if (done % 20000 === 0 && done < total) log(`  ${done}/${total}`)
    }
  })
  const dealMs = performance.now() - d0
  await tick()
  const encoded: EncodedKeys = {
    meters: dealt.meters.map((k) => toHex(encodeMeterKeys(k))),
    gateway: toHex(encodeGatewayKeys(dealt.gateway)),
    committee: dealt.committee.map((k) => toHex(encodeCommitteeKeys(k)))
  }
  const figures: AggregationBench['trustedSetup'] = {
    n,
    m,
    candidates: DEFAULT_AGGREGATION_PARAMS.candidates,
    secretsMs: round(secretsMs, 0),
    dealMs: round(dealMs, 0),
    dhResults,
    perDhMs: round(dealMs / dhResults, 4),
    keyBytes: { meter: encoded.meters[0].length / 2, gateway: encoded.gateway.length / 2, committee: encoded.committee[0].length / 2 }
  }
  log(`trusted setup: ${round(dealMs / 1000, 1)} s for ${dhResults} keys (${figures.perDhMs} ms each)`)
  return { figures, secrets, encoded }
}

/** Each role's state from its dealt keys; `dhPerKeyMs` prices the DH path it replaces. */
export async function benchStartup(
  secrets: NetworkSecrets,
  encoded: EncodedKeys,
  dhPerKeyMs: number,
  log: (line: string) => void
): Promise<{ figures: AggregationBench['startup']; network: CryptoNetwork }> {
  const n = secrets.meters.length
  const m = secrets.consensus.length
  const u0 = performance.now()
  const meters = encoded.meters.map((hex) => new MeterCrypto({ keys: decodeMeterKeys(hex), consensusCount: m }))
  const u1 = performance.now()
  const gw = new GatewayCrypto({ keys: decodeGatewayKeys(encoded.gateway), consensusCount: m })
  const u2 = performance.now()
  const peers = encoded.committee.map((hex) => new CommitteeCrypto({ keys: decodeCommitteeKeys(hex) }))
  const u3 = performance.now()
  const figures: AggregationBench['startup'] = {
    n,
    m,
    meterProcessMs: round(u1 - u0, 0),
    gatewayMs: round(u2 - u1, 1),
    committeeMs: round((u3 - u2) / m, 1),
    dhPathMs: {
      meterProcess: round(n * (1 + DEFAULT_AGGREGATION_PARAMS.candidates + m) * dhPerKeyMs, 0),
      gateway: round(n * dhPerKeyMs, 0),
      committee: round(n * dhPerKeyMs, 0)
    }
  }
  log(
    `start-up from dealt keys: ${n} meters ${figures.meterProcessMs} ms, gateway ${figures.gatewayMs} ms, one peer ${figures.committeeMs} ms`
  )
  await tick()
  return { figures, network: { secrets, meters, gw, peers } }
}
