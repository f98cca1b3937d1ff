/**
 * What the PBFT replica needs from the reputation model (PROTOCOL 4.1, 4.4), injected so the
 * state machine can be tested with simple rules and run with the paper's model.
 */

export interface OpenedOpinion {
  height: number
  node: number
}

export interface ConsensusRules {
  /**
   * The candidate order for one height (PROTOCOL 4.1, 4.5): the primary of view v is
   * order[v mod order.length]. `reputation` is the fixed-point vector of the parent block,
   * `draws` the verified 64-bit VRF outputs X_q by node, `theta` the gateway's threshold draw.
   * Nodes without a draw are not candidates.
   */
  electionOrder(reputation: readonly number[], draws: ReadonlyMap<number, bigint>, theta: bigint): number[]
  /** Decode a signed opinion vector, without checking its signature; throws if malformed. */
  peekOpinion(encoded: Uint8Array): OpenedOpinion
  /** Record an opinion vector as verified without checking it (this peer's own, just signed). */
  trustOpinion(encoded: Uint8Array): void
  /** Check the signatures of signed opinion vectors (in a batch where possible): one flag per vector. */
  verifyOpinions(encoded: readonly Uint8Array[]): boolean[]
  /**
   * The next reputation vector from the (verified) signed opinion vectors of one height, sorted
   * by node, and the parent's vector (eq. 2). Deterministic, fixed point.
   */
  combineOpinions(encoded: readonly Uint8Array[], previous: readonly number[]): number[]
}
