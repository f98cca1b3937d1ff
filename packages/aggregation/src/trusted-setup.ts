/**
 * The trusted authority's key generation (paper IV-A, PROTOCOL section 1).
 *
 * - Meters: random s_i in Z_r*, S_i = g^{s_i}.
 * - Gateway: s_g = -(s_1 + ... + s_N) mod r, S_g = g^{s_g}, so the meters' static terms cancel in
 *   the aggregate (IV-C step 4).
 * - Consensus nodes: random alpha_j and public random c_j, G_j = g^{alpha_j}; node j signs with
 *   alpha_j * c_j mod r, so its verification key is G_j^{c_j} (the paper's sigma = (Bd^alpha)^c
 *   checked against e(Bd, G_j^{c_j})). [hardening] each verification key, and the gateway's key,
 *   ships with a proof of possession, required for safe same-message aggregate verification.
 */
import { BbnpError, type Rng } from '@bbnp/core'
import { g1Multiply, modR, provePossession, publicKeyFromScalar, R, randomScalar, secretKeyFromScalar } from '@bbnp/crypto'

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
}

export interface NetworkSecrets {
  meters: MeterSecrets[]
  gateway: GatewaySecrets
  consensus: ConsensusSecrets[]
}

export const GATEWAY_ID = 'gateway'
export const meterId = (i: number): string => `meter-${i}`
export const consensusId = (j: number): string => `cn-${j}`

export const MIN_METERS = 3
export const MIN_CONSENSUS = 4

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
  let sum = 0n
  for (let i = 1; i <= n; i++) {
    const secret = randomScalar(rng)
    sum += secret
    meters.push({ index: i, id: meterId(i), secret, publicKey: publicKeyFromScalar(secret) })
    if (i % 1000 === 0) opts.onProgress?.(i, total)
  }
  const sg = modR(-sum)
  if (sg === 0n) throw new BbnpError('SETUP', 'degenerate gateway secret, run setup again')
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
    consensus.push({
      index: j,
      id: consensusId(j),
      alpha,
      c,
      publicKey,
      verificationKey,
      signingScalar,
      pop: provePossession(secretKeyFromScalar(signingScalar))
    })
  }
  opts.onProgress?.(total, total)
  return { meters, gateway, consensus }
}
