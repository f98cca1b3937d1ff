import assert from 'node:assert/strict'
import { createHash, createHmac, hkdfSync } from 'node:crypto'
import { describe, it } from 'node:test'
import { fromHex, SeededRng, toHex, utf8 } from '@bbnp/core'
import { constantTimeEqual, hkdf, hkdfExtract, HmacKey, hmacSha256, sha256 } from '../src/index.ts'

const rep = (byte: number, n: number) => new Uint8Array(n).fill(byte)
const range = (from: number, to: number) => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe('HMAC-SHA256: RFC 4231 known answers', () => {
  const cases: { name: string; key: Uint8Array; data: Uint8Array; mac: string }[] = [
    { name: 'case 1', key: rep(0x0b, 20), data: utf8('Hi There'), mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7' },
    {
      name: 'case 2',
      key: utf8('Jefe'),
      data: utf8('what do ya want for nothing?'),
      mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'
    },
    { name: 'case 3', key: rep(0xaa, 20), data: rep(0xdd, 50), mac: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe' },
    { name: 'case 4', key: range(1, 25), data: rep(0xcd, 50), mac: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b' },
    {
      name: 'case 6',
      key: rep(0xaa, 131),
      data: utf8('Test Using Larger Than Block-Size Key - Hash Key First'),
      mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'
    },
    {
      name: 'case 7',
      key: rep(0xaa, 131),
      data: utf8(
        'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.'
      ),
      mac: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2'
    }
  ]
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(toHex(hmacSha256(c.key, c.data)), c.mac)
      assert.ok(new HmacKey(c.key).verify(c.data, fromHex(c.mac)))
    })
  }
  it('case 5 (truncated to 128 bits)', () => {
    assert.equal(toHex(hmacSha256(rep(0x0c, 20), utf8('Test With Truncation')).subarray(0, 16)), 'a3b6167473100ee06e0c796c2955552b')
  })
  it('refuses a tag with one flipped bit', () => {
    const key = new HmacKey(utf8('Jefe'))
    const tag = key.mac(utf8('msg'))
    tag[31] ^= 1
    assert.equal(key.verify(utf8('msg'), tag), false)
    assert.equal(key.verify(utf8('msg'), tag.subarray(0, 31)), false)
  })
})

describe('HKDF-SHA256: RFC 5869 known answers', () => {
  it('case 1 (basic)', () => {
    const ikm = rep(0x0b, 22)
    const salt = range(0x00, 0x0c)
    const info = range(0xf0, 0xf9)
    assert.equal(toHex(hkdfExtract(salt, ikm)), '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5')
    assert.equal(toHex(hkdf(salt, ikm, info, 42)), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865')
  })
  it('case 2 (long inputs)', () => {
    const okm = hkdf(range(0x60, 0xaf), range(0x00, 0x4f), range(0xb0, 0xff), 82)
    assert.equal(
      toHex(okm),
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87'
    )
  })
  it('case 3 (empty salt and info)', () => {
    const ikm = rep(0x0b, 22)
    assert.equal(toHex(hkdfExtract(new Uint8Array(0), ikm)), '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04')
    assert.equal(
      toHex(hkdf(new Uint8Array(0), ikm, new Uint8Array(0), 42)),
      '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8'
    )
  })
})

describe('SHA-256, HMAC and HKDF agree with node:crypto on random inputs', () => {
  const rng = new SeededRng('sha256-cross-check')
  it('every length from 0 to 300 bytes, and keys of 0 to 150 bytes', () => {
    for (let n = 0; n <= 300; n++) {
      const msg = rng.bytes(n)
      const key = rng.bytes(n % 151)
      assert.equal(toHex(sha256(msg)), createHash('sha256').update(msg).digest('hex'), `sha256 length ${n}`)
      assert.equal(toHex(hmacSha256(key, msg)), createHmac('sha256', key).update(msg).digest('hex'), `hmac length ${n}`)
    }
  })
  it('macRange: the tag of a slice, written at any offset, equals node:crypto on a copy of it', () => {
    for (let n = 0; n <= 300; n += 7) {
      const keyBytes = rng.bytes(1 + (n % 90))
      const buf = rng.bytes(n + 40)
      const off = n % 37
      const out = new Uint8Array(45)
      new HmacKey(keyBytes).macRange(buf, off, n, out, 13)
      const expected = createHmac('sha256', keyBytes)
        .update(buf.slice(off, off + n))
        .digest('hex')
      assert.equal(toHex(out.subarray(13)), expected, `length ${n}`)
      assert.ok(out.subarray(0, 13).every((x) => x === 0))
    }
    assert.throws(() => new HmacKey(utf8('k')).macRange(new Uint8Array(10), 5, 6, new Uint8Array(32)), RangeError)
    assert.throws(() => new HmacKey(utf8('k')).macRange(new Uint8Array(10), 0, 10, new Uint8Array(40), 9), RangeError)
  })
  it('HKDF of random lengths', () => {
    for (let i = 0; i < 50; i++) {
      const salt = rng.bytes(1 + rng.int(80))
      const ikm = rng.bytes(1 + rng.int(80))
      const info = rng.bytes(rng.int(60))
      const len = 1 + rng.int(200)
      assert.equal(toHex(hkdf(salt, ikm, info, len)), Buffer.from(hkdfSync('sha256', ikm, salt, info, len)).toString('hex'))
    }
  })
  it('constant-time compare', () => {
    assert.ok(constantTimeEqual(utf8('abc'), utf8('abc')))
    assert.ok(!constantTimeEqual(utf8('abc'), utf8('abd')))
    assert.ok(!constantTimeEqual(utf8('abc'), utf8('ab')))
  })
})
