/**
 * A request/response protocol as data (STYLE "Declare once"): its name and the bounds both sides
 * enforce. One descriptor per protocol, used by the side that serves it (with a handler, in the
 * network package's ProtocolSpec) and by every side that calls it.
 */
export interface ProtocolDescriptor {
  /** e.g. '/bbnp/status/1' */
  readonly id: string
  readonly maxRequestBytes: number
  /** per frame */
  readonly maxResponseBytes: number
  readonly maxResponseFrames: number
  /** Server: deadline for reading the request and producing the response. Client: default deadline. */
  readonly timeoutMs: number
}
