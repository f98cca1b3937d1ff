/**
 * Canonical encoding (PROTOCOL section 0): deterministic CBOR (RFC 8949 section 4.2, via cborg):
 * map keys sorted length-first, integers in their shortest form, no floats, no tags, no
 * indefinite lengths. Every hashed or signed structure is encoded with `encodeCanonical`, and a
 * receiver re-encodes what it decoded before checking a hash or signature, so only one byte
 * string can ever match.
 *
 * Decoding is defensive: the size is bounded before parsing, strict mode refuses non-minimal
 * integers, duplicate keys, undefined and indefinite lengths, and the `read*` helpers check the
 * shape of every field, throwing a `BbnpError` with code MALFORMED.
 */
import { decode as cborDecode, encode as cborEncode } from 'cborg'
import { BbnpError } from './errors.ts'

export type CodecErrorCode = 'MALFORMED' | 'OVERSIZED'

export function encodeCanonical(value: unknown): Uint8Array {
  return cborEncode(value, {
    typeEncoders: {
      number: (n: number) => {
        if (!Number.isSafeInteger(n)) throw new BbnpError('MALFORMED', `non-integer number ${n} in canonical data`)
        return null
      }
    }
  })
}

export interface DecodeOptions {
  maxBytes: number
}

export function decodeCanonical(bytes: Uint8Array, opts: DecodeOptions): unknown {
  if (bytes.length > opts.maxBytes) {
    throw new BbnpError<CodecErrorCode>('OVERSIZED', `input of ${bytes.length} bytes exceeds ${opts.maxBytes}`)
  }
  try {
    return cborDecode(bytes, {
      strict: true,
      allowIndefinite: false,
      allowUndefined: false,
      rejectDuplicateMapKeys: true,
      allowBigInt: true,
      tags: []
    })
  } catch (e) {
    throw new BbnpError<CodecErrorCode>('MALFORMED', `undecodable CBOR: ${(e as Error).message}`)
  }
}

function fail(msg: string): never {
  throw new BbnpError<CodecErrorCode>('MALFORMED', msg)
}

export type Obj = Record<string, unknown>

export function readObject(v: unknown, what: string, allowedKeys?: readonly string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) fail(`${what}: expected a map`)
  if (allowedKeys) {
    for (const k of Object.keys(v)) if (!allowedKeys.includes(k)) fail(`${what}: unexpected field ${k}`)
  }
  return v as Obj
}

export function readUint(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v === 'bigint') fail(`${what}: integer out of range`)
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) fail(`${what}: expected an integer in [0, ${max}]`)
  return v
}

/** Any CBOR integer, returned as a bigint (sums can be negative and larger than 2^53). */
export function readBigInt(v: unknown, what: string): bigint {
  if (typeof v === 'bigint') return v
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v)
  fail(`${what}: expected an integer`)
}

export function readBytes(v: unknown, what: string, len?: number, maxLen = 1 << 20): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(`${what}: expected bytes`)
  if (len !== undefined && v.length !== len) fail(`${what}: expected ${len} bytes, got ${v.length}`)
  if (v.length > maxLen) fail(`${what}: more than ${maxLen} bytes`)
  return v
}

export function readString(v: unknown, what: string, maxLen = 256): string {
  if (typeof v !== 'string' || v.length > maxLen) fail(`${what}: expected a string of at most ${maxLen} characters`)
  return v
}

export function readBool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') fail(`${what}: expected a boolean`)
  return v
}

export function readArray<T>(v: unknown, what: string, maxLen: number, item: (x: unknown, i: number) => T): T[] {
  if (!Array.isArray(v)) fail(`${what}: expected an array`)
  if (v.length > maxLen) fail(`${what}: more than ${maxLen} items`)
  return v.map((x, i) => item(x, i))
}

export function readOptional<T>(v: unknown, read: (x: unknown) => T): T | undefined {
  return v === undefined || v === null ? undefined : read(v)
}
