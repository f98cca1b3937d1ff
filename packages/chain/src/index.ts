/**
 * @bbnp/chain: the LevelDB block store (one atomic, fsynced batch per block; a block is never
 * stored without a valid commit certificate) and the block sync logic of PROTOCOL 4.6.
 */
export { BUCKET, GATEWAY_BUCKET, GATEWAY_SCHEMA_VERSION, SCHEMA_VERSION } from './buckets.ts'
export type { Bucket } from './buckets.ts'
export { damageAdvice, isCommitRefusal, isStoreDamage, openDatabase, StoreError } from './database.ts'
export type { CommitRefusalCode, Db, StoreErrorCode, StoreFailureCode } from './database.ts'
export { BlockStore, MAX_RANGE, reputationStateOf } from './store.ts'
export { GatewayStore } from './gateway-store.ts'
export type { SlotEntry, StoredBlock, StoreOptions } from './store.ts'
export type { EndorsementRecord, ReputationState, StoreHead } from './records.ts'
export type { VerifyOptions, VerifyReport } from './verify.ts'
export {
  blocksProtocol,
  decodeBlockFrame,
  decodeBlocksRequest,
  decodeStatus,
  encodeBlockFrame,
  encodeBlocksRequest,
  encodeStatus,
  MAX_BLOCKS_REQUEST_BYTES,
  MAX_STATUS_BYTES,
  MAX_SYNC_COUNT,
  maxBlockFrameBytes,
  nextBlocksRequest,
  STATUS_PROTOCOL,
  serveBlocks,
  statusOf,
  verifySyncedBlocks
} from './sync.ts'
export type { BlocksRequest, ChainStatus, SyncErrorCode, SyncFailure, SyncResult, VerifiedBlock } from './sync.ts'
// The block format lives in @bbnp/consensus (the replica builds and checks blocks); re-exported
// here so users of the store need one import.
export { blockHash, decodeBlock, decodeCertificate, encodeBlock, encodeCertificate, hashEncodedBlock, maxBlockBytes } from '@bbnp/consensus'
export type { Block, ChainHead, CommitCertificate, SignedAggregate, SignedRecord } from '@bbnp/consensus'
