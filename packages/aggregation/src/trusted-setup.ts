/**
 * The trusted authority's key generation (paper IV-A, PROTOCOL section 1 and 3.5).
 *
 * - Meters: random s_i in Z_r*, S_i = g^{s_i}.
 * - Gateway: a random s_g, S_g = g^{s_g}. [hardening, PROTOCOL 3.5] the paper's s_g = -sum s_i
 *   (so that the meters' static terms cancel in the aggregate, IV-C step 4) is dropped with the
 *   s_i term of the ciphertext: it let the gateway learn sum s_i over any set of meters, so no
 *   meter could ever be missing safely (PROTOCOL 3.5). s_g is now only a DH and signing key.
 * - Consensus nodes: random alpha_j and public random c_j, G_j = g^{alpha_j}; node j signs with
 *   alpha_j * c_j mod r, so its verification key is G_j^{c_j} (the paper's sigma = (Bd^alpha)^c
 *   checked against e(Bd, G_j^{c_j})). [hardening] each verification key, and the gateway's key,
 *   ships with a proof of possession, required for safe same-message aggregate verification.
 *   Each node also gets a separate share key w_u, W_u = g^{w_u} (PROTOCOL 3.5.1): the meters'
 *   keys K_iu = g^{s_i w_u} pad the self-mask shares addressed to node u.
 *
 * `dealKeys` then computes every derived key of every entity (key-material.ts): the TA knows every
 * secret, so each DH result g^{a b} is one fixed-base multiplication of g by a * b mod r, by blst,
 * with the same bytes as the DH each side could compute (checked in the tests).
 */
import { BbnpError, consensusId, GATEWAY_ID, meterId, type Rng } from '@bbnp/core'
import { g1Multiply, modR, provePossession, publicKeyFromScalar, R, randomScalar, secretKeyFromScalar } from '@bbnp/crypto'
import { committeeKey, meterGatewayKeyBytes, pairSeed, selfMaskKey } from './kdf.ts'
import { type CommitteeKeys, type GatewayKeys, KEY_BYTES, type MeterKeys } from './key-material.ts'
import { type AggregationParams, candidateIndices, resolveParams } from './partners.ts'
import { MIN_CONSENSUS, MIN_METERS } from './params.ts'

export { MIN_CONSENSUS, MIN_METERS }

export interface MeterSecrets {
  index: number
  id: string
  secret: bigint
  publicKey: Uint8Array
}

export interface GatewaySecrets {
  id: string
  secret: bigint
  publicKey: Uint8Array
  pop: Uint8Array
}

export interface ConsensusSecrets {
  index: number
  id: string
  alpha: bigint
  c: bigint
  /** G_j = g^{alpha_j} */
  publicKey: Uint8Array
  /** G_j^{c_j}, the key that verifies node j's signatures */
  verificationKey: Uint8Array
  /** alpha_j * c_j mod r, the scalar node j signs with */
  signingScalar: bigint
  pop: Uint8Array
  /** w_u, the key of the meters' share pads towards this node (PROTOCOL 3.5.1) */
  shareSecret: bigint
  /** W_u = g^{w_u}, for the genesis */
  sharePublicKey: Uint8Array
}

export interface NetworkSecrets {
  meters: MeterSecrets[]
  gateway: GatewaySecrets
  consensus: ConsensusSecrets[]
}

export { consensusId, GATEWAY_ID, meterId } from '@bbnp/core'

export function generateNetworkSecrets(opts: {
  meters: number
  consensus: number
  rng: Rng
  onProgress?: (done: number, total: number) => void
}): NetworkSecrets {
  const { meters: n, consensus: m, rng } = opts
  // PROTOCOL 2.2: ring neighbours give every meter a partner only when N >= 3.
  if (!Number.isSafeInteger(n) || n < MIN_METERS) throw new BbnpError('SETUP', `need at least ${MIN_METERS} meters, got ${n}`)
  // PBFT needs 3f + 1 nodes with f >= 1 to tolerate anything.
  if (!Number.isSafeInteger(m) || m < MIN_CONSENSUS)
    throw new BbnpError('SETUP', `need at least ${MIN_CONSENSUS} consensus nodes, got ${m}`)
  const total = n + m + 1
  const meters: MeterSecrets[] = []
  for (let i = 1; i <= n; i++) {
    const secret = randomScalar(rng)
    meters.push({ index: i, id: meterId(i), secret, publicKey: publicKeyFromScalar(secret) })
    if (i % 1000 === 0) opts.onProgress?.(i, total)
  }
  const sg = randomScalar(rng)
  const gwSk = secretKeyFromScalar(sg)
  const gateway: GatewaySecrets = { id: GATEWAY_ID, secret: sg, publicKey: publicKeyFromScalar(sg), pop: provePossession(gwSk) }
  const consensus: ConsensusSecrets[] = []
  for (let j = 1; j <= m; j++) {
    const alpha = randomScalar(rng)
    const c = randomScalar(rng)
    const signingScalar = modR(alpha * c)
    if (signingScalar === 0n || signingScalar >= R) throw new BbnpError('SETUP', 'degenerate consensus key, run setup again')
    const publicKey = publicKeyFromScalar(alpha)
    const verificationKey = g1Multiply(publicKey, c)
    const shareSecret = randomScalar(rng)
    consensus.push({
      index: j,
      id: consensusId(j),
      alpha,
      c,
      publicKey,
      verificationKey,
      signingScalar,
      pop: provePossession(secretKeyFromScalar(signingScalar)),
      shareSecret,
      sharePublicKey: publicKeyFromScalar(shareSecret)
    })
  }
  opts.onProgress?.(total, total)
  return { meters, gateway, consensus }
}

/** Every entity's derived key material, as the trusted authority deals it (key-material.ts). */
export interface DealtKeys {
  /** meter i at position i - 1 */
  meters: MeterKeys[]
  gateway: GatewayKeys
  /** consensus peer u at position u - 1 */
  committee: CommitteeKeys[]
}

/** g^{a b}: the DH result S_b^{a} = S_a^{b}, compressed, by one fixed-base multiplication. */
function knownDh(a: bigint, b: bigint): Uint8Array {
  return publicKeyFromScalar(modR(a * b))
}

/**
 * The TA's precomputation (PROTOCOL 3.5.1, "dealt by the trusted authority"): N meter-gateway
 * keys, one pair seed per candidate pair (N K / 2), N M meter-peer keys and N self-mask keys.
 * `onProgress` counts the DH results, N (1 + K/2 + M) in all.
 */
export function dealKeys(
  secrets: NetworkSecrets,
  opts: { params?: Partial<AggregationParams>; onProgress?: (done: number, total: number) => void } = {}
): DealtKeys {
  const params = resolveParams(opts.params)
  const n = secrets.meters.length
  const m = secrets.consensus.length
  const candidates = secrets.meters.map((x) => candidateIndices(x.index, n, params.candidates))
  const c = candidates[0].length
  const total = n * (1 + m) + (n * c) / 2
  let done = 0
  const tick = () => {
    done++
    if (done % 1000 === 0 || done === total) opts.onProgress?.(done, total)
  }
  const gatewayKeys = new Uint8Array(n * KEY_BYTES)
  const committeeKeys = secrets.consensus.map(() => new Uint8Array(n * KEY_BYTES))
  const meters: MeterKeys[] = secrets.meters.map((x) => {
    const buf = new Uint8Array((2 + c + m) * KEY_BYTES)
    const key = (k: number) => buf.subarray(k * KEY_BYTES, (k + 1) * KEY_BYTES)
    return {
      index: x.index,
      meterCount: n,
      gatewayKey: key(0),
      pairSeeds: Array.from({ length: c }, (_, k) => key(1 + k)),
      committeeKeys: Array.from({ length: m }, (_, k) => key(1 + c + k)),
      selfMaskKey: key(1 + c + m)
    }
  })
  for (const meter of secrets.meters) {
    const i = meter.index
    const keys = meters[i - 1]
    const prk = meterGatewayKeyBytes(knownDh(meter.secret, secrets.gateway.secret))
    keys.gatewayKey.set(prk)
    gatewayKeys.set(prk, (i - 1) * KEY_BYTES)
    tick()
    // Each unordered pair once, written into both meters' lists (P_ij = P_ji).
    candidates[i - 1].forEach((j, p) => {
      if (j < i) return
      const seed = pairSeed(knownDh(meter.secret, secrets.meters[j - 1].secret), i, j)
      keys.pairSeeds[p].set(seed)
      meters[j - 1].pairSeeds[candidates[j - 1].indexOf(i)].set(seed)
      tick()
    })
    for (const peer of secrets.consensus) {
      const q = committeeKey(knownDh(meter.secret, peer.shareSecret), i, peer.index)
      keys.committeeKeys[peer.index - 1].set(q)
      committeeKeys[peer.index - 1].set(q, (i - 1) * KEY_BYTES)
      tick()
    }
    keys.selfMaskKey.set(selfMaskKey(meter.secret, i))
  }
  return {
    meters,
    gateway: { meterCount: n, meterKeys: gatewayKeys },
    committee: secrets.consensus.map((peer) => ({
      peer: peer.index,
      consensusCount: m,
      meterCount: n,
      meterKeys: committeeKeys[peer.index - 1]
    }))
  }
}
