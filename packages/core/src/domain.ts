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
  report: 'bbnp/v1/report'
} as const

export type DomainTag = (typeof DOMAIN)[keyof typeof DOMAIN]
