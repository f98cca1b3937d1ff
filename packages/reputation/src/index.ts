/**
 * @bbnp/reputation: the paper's subjective-logic reputation model (IV-D-3) and the fair primary
 * selection (IV-D-1, PROTOCOL 4.1; the paper's rule and the fair default), pure and deterministic, plus simulators of the paper's
 * experiments (VI-C, VI-D).
 */
export { checkReputationUpdate, combineOpinions, MIN_OBSERVERS } from './combine.ts'
export type { CombineOptions, ReputationCheck, ReputationCheckCode, ReputationUpdateInput } from './combine.ts'
export {
  checkPrimary,
  compareLottery,
  computeElection,
  LOG2_FRACTION_BITS,
  log2Fixed,
  LOTTERY_DOMAIN,
  lotteryExponent,
  lotteryTicket,
  preselect,
  preselectionCutoff,
  primaryForView,
  reputationThreshold,
  verifyElection
} from './election.ts'
export type { ElectionOutcome, ElectionParams, ElectionProofs, ElectionRejectCode, PrimaryCheck, VerifiedElection } from './election.ts'
export { gini, giniAmong, leadershipStats } from './fairness.ts'
export type { LeadershipStats } from './fairness.ts'
export {
  evidence,
  expectation,
  fuse,
  interactionFrequency,
  localOpinion,
  opinionFromEvidence,
  recommendedOpinion,
  VACUOUS
} from './model.ts'
export type { Evidence, Opinion } from './model.ts'
export {
  decodeSignedOpinionVector,
  encodeSignedOpinionVector,
  entryOpinion,
  opinionVectorBytes,
  signOpinionVector,
  toOpinionEntry,
  validateOpinionVector,
  verifyOpinionVector
} from './opinions.ts'
export type { OpinionEntry, OpinionVector, SignedOpinionVector } from './opinions.ts'
export {
  DEFAULT_REPUTATION_PARAMS,
  ELECTION_RULES,
  FAIR_PRESET,
  fromFixedPoint,
  initialReputations,
  MAX_HISTORY_HEIGHTS,
  PAPER_PRESET,
  parseReputationParams,
  REPUTATION_SCALE,
  reputationPreset,
  toFixedPoint,
  validateReputationParams,
  validateReputations
} from './params.ts'
export type { ElectionRule, ReputationErrorCode, ReputationParams, ReputationPresetName } from './params.ts'
export { InteractionRecords } from './records.ts'
export type { DecodeRecordsOptions, InteractionRecordsOptions } from './records.ts'
export {
  DEFAULT_NETWORK_SIM,
  DEFAULT_REPUTATION_SIM,
  DEFAULT_SELECTION_SIM,
  expectedRankHistogram,
  FIG9_EXPERIMENTS,
  MESSAGES_PER_ROUND,
  NODE_BEHAVIOUR,
  NODE_TYPES,
  PAPER_FIG9,
  PAPER_TABLE_VIII,
  RANK_BINS,
  REPUTATION_PRESETS,
  SELECTION_RULES,
  simulateNetwork,
  simulateReputation,
  simulateSelection
} from './simulation.ts'
export type {
  NetworkSimOptions,
  NetworkSimResult,
  NodeType,
  PaperExperiment,
  ReputationSimOptions,
  SelectionExperimentResult,
  SelectionRuleResult,
  SelectionSimOptions,
  WeightSetting
} from './simulation.ts'
export { emptyTally, tallyTotal } from './tally.ts'
export type { InteractionKind, Tally, WindowCounts } from './tally.ts'
