export * from './trusted-setup.ts'
export { REJECT_CODES, type RejectCode, REVEAL_REJECT_CODES, type RevealRejectCode, type AggregationErrorCode } from './errors.ts'
export {
  type AggregationParams,
  DEFAULT_AGGREGATION_PARAMS,
  MAX_METERS,
  resolveParams,
  candidateIndices,
  ringNeighbours,
  partnerThreshold,
  type PartnerThreshold
} from './partners.ts'
export { faultTolerance, defaultMinReporters, resolveMinReporters, MAX_CONSENSUS } from './params.ts'
export {
  type SharedSecretFn,
  type AggregationModules,
  type MeterKeys,
  type GatewayKeys,
  type CommitteeKeys,
  type MeterKeyOptions,
  KEY_BYTES,
  deriveMeterKeys,
  deriveGatewayKeys,
  deriveCommitteeKeys,
  encodeMeterKeys,
  decodeMeterKeys,
  encodeGatewayKeys,
  decodeGatewayKeys,
  encodeCommitteeKeys,
  decodeCommitteeKeys
} from './key-material.ts'
export {
  type Report,
  reportBytes,
  taggedBytes,
  shareOffset,
  shareTagOffset,
  SHARE_ENTRY_BYTES,
  encodeReport,
  decodeReport,
  reportSlot,
  reportFormatError
} from './report.ts'
export { shareTag } from './kdf.ts'
export {
  type RevealQuery,
  type RevealAnswer,
  MAX_REVEAL_MISSING,
  revealRequestBytes,
  revealAnswerBytes,
  encodeRevealRequest,
  decodeRevealRequest,
  decodeRevealAnswer
} from './reveal.ts'
export { MeterCrypto, type MeterOptions, MAX_READING_MAGNITUDE, REVEAL_MEMORY, checkReading } from './meter.ts'
export {
  GatewayCrypto,
  type GatewayOptions,
  SlotKeys,
  SlotAggregator,
  type AcceptResult,
  type RevealResult,
  type RecoveryStep,
  type SlotResult,
  type IncompleteReason,
  type RejectCounters,
  type RevealRejectCounters
} from './gateway.ts'
export { CommitteeCrypto, type CommitteeOptions, CommitteePads, COMMITTEE_MEMORY } from './committee.ts'
export {
  type Point,
  type PartialValue,
  type SelfMaskRecovery,
  lagrangeAtZero,
  recoverSelfMaskSum,
  agreementNeeded,
  shamirShares,
  evaluatePolynomial,
  invertMod
} from './shamir.ts'
export { bitmapFromIndices, bitmapIndices, bitmapCount, bitmapHas, bitmapBytes, checkBitmap } from './bitmap.ts'
export {
  ReferenceMeter,
  referenceSlotKeys,
  referenceTag,
  referenceRevealTag,
  referenceCommitteeKey,
  referencePad,
  referenceShareTagKey,
  referenceShareTag,
  referencePartial,
  referenceDecode
} from './reference.ts'
export { sharedSecretFromKnownKeys } from './known-keys.ts'
export {
  type ReadingsSource,
  type ReadingsFormat,
  UciReadings,
  TableReadings,
  parseUciHousehold,
  parseReadingsTable,
  parseReadings,
  detectReadingsFormat,
  loadReadings
} from './readings.ts'
