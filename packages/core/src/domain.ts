/**
 * Domain tags (PROTOCOL section 0): every signed, MACed or derived value is prefixed with one,
 * so a signature or key made for one role can never be replayed in another.
 */
export const DOMAIN = {
  pop: 'bbnp/v1/pop',
  aggregate: 'bbnp/v1/aggregate',
  election: 'bbnp/v1/election',
  threshold: 'bbnp/v1/threshold',
  vrf: 'bbnp/v1/vrf-output',
  preprepare: 'bbnp/v1/preprepare',
  prepare: 'bbnp/v1/prepare',
  commit: 'bbnp/v1/commit',
  viewchange: 'bbnp/v1/viewchange',
  newview: 'bbnp/v1/newview',
  opinion: 'bbnp/v1/opinion',
  block: 'bbnp/v1/block',
  genesis: 'bbnp/v1/genesis',
  meterGatewaySalt: 'bbnp/v1/meter-gateway',
  pairSalt: 'bbnp/v1/pair',
  mask: 'mask',
  mac: 'mac',
  cluster: 'cluster',
  aui: 'aui',
  report: 'bbnp/v1/report',
  // PROTOCOL 3.5 (dropouts): meter-peer keys K_iu, the meter's own self-mask key, their PRF
  // inputs, the reveal answers' tag, a peer's ENDORSE and its signed partial sum (the evidence of
  // a fault proof), and the checksum of dealt key material.
  meterCommitteeSalt: 'bbnp/v1/meter-committee',
  selfMaskSalt: 'bbnp/v1/self-mask',
  selfMask: 'self-mask',
  share: 'share',
  reveal: 'bbnp/v1/reveal',
  endorse: 'bbnp/v1/endorse',
  partial: 'bbnp/v1/partial',
  dealtKeys: 'bbnp/v1/dealt-keys'
} as const

export type DomainTag = (typeof DOMAIN)[keyof typeof DOMAIN]
