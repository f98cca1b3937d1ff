export * from './trusted-setup.ts'
export { REJECT_CODES, type RejectCode, type AggregationErrorCode } from './errors.ts'
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
export { REPORT_BYTES, TAGGED_BYTES, type Report, encodeReport, decodeReport, reportSlot } from './report.ts'
export {
  MeterCrypto,
  type MeterOptions,
  type AggregationModules,
  type SharedSecretFn,
  MAX_READING_MAGNITUDE,
  checkReading
} from './meter.ts'
export {
  GatewayCrypto,
  type GatewayOptions,
  SlotKeys,
  SlotAggregator,
  type AcceptResult,
  type SlotResult,
  type RejectCounters
} from './gateway.ts'
export { ReferenceMeter, referenceSlotKeys, referenceTag } from './reference.ts'
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
