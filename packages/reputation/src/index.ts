/**
 * @bbnp/reputation: the paper's subjective-logic reputation model (IV-D-3) and the fair primary
 * selection (IV-D-1, PROTOCOL 4.1), pure and deterministic, plus simulators of the paper's
 * experiments (VI-C, VI-D).
 */
export { checkReputationUpdate, combineOpinions, MIN_OBSERVERS } from './combine.ts'
export type { CombineOptions, ReputationCheck, ReputationCheckCode, ReputationUpdateInput } from './combine.ts'
export { checkPrimary, computeElection, preselect, primaryForView, reputationThreshold, verifyElection } from './election.ts'
export type { ElectionOutcome, ElectionProofs, ElectionRejectCode, PrimaryCheck, VerifiedElection } from './election.ts'
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
  fromFixedPoint,
  initialReputations,
  parseReputationParams,
  REPUTATION_SCALE,
  toFixedPoint,
  validateReputationParams,
  validateReputations
} from './params.ts'
export type { ReputationErrorCode, ReputationParams } from './params.ts'
export { InteractionRecords } from './records.ts'
export type { InteractionRecordsOptions } from './records.ts'
export {
  DEFAULT_REPUTATION_SIM,
  DEFAULT_SELECTION_SIM,
  expectedRankHistogram,
  FIG9_EXPERIMENTS,
  gini,
  MESSAGES_PER_ROUND,
  NODE_BEHAVIOUR,
  NODE_TYPES,
  PAPER_FIG9,
  PAPER_TABLE_VIII,
  RANK_BINS,
  REPUTATION_PRESETS,
  simulateReputation,
  simulateSelection
} from './simulation.ts'
export type {
  NodeType,
  PaperExperiment,
  ReputationSimOptions,
  SelectionExperimentResult,
  SelectionSimOptions,
  WeightSetting
} from './simulation.ts'
export { emptyTally, tallyTotal } from './tally.ts'
export type { InteractionKind, Tally, WindowCounts } from './tally.ts'
