/**
 * DSA signature verification (FIPS 186-4 §4.7) in plain BigInt arithmetic: WebCrypto has
 * no DSA. Keys and parameters are read as RFC 3279 §2.3.2 encodes them; a key without
 * parameters takes its issuer's (the caller resolves them along the path).
 *
 * Verification handles public values only, so it need not be constant-time.
 *
 * @internal
 */
import * as Der from "./der.js"

/** Dss-Parms ::= SEQUENCE { p INTEGER, q INTEGER, g INTEGER }. @internal */
export interface Params {
  readonly p: bigint
  readonly q: bigint
  readonly g: bigint
}

/** Bounds that keep hostile keys from costing more than a 3072-bit key does. */
const MaxPBits = 4096
const MaxQBits = 512
/** FIPS 186-4 §4.2 allows (1024, 160), (2048, 224), (2048, 256), (3072, 256); 160-bit q is legacy. */
const MinPBits = 512
const MinQBits = 160

const bitLength = (n: bigint): number => n === 0n ? 0 : n.toString(2).length

/** A non-negative INTEGER in minimal DER. @internal */
const readUnsigned = (buf: Uint8Array, tlv: Der.Tlv | undefined, what: string): bigint => {
  const bytes = Der.value(buf, Der.expect(tlv, Der.Tag.INTEGER, what))
  if (bytes.length === 0 || (bytes[0] & 0x80) !== 0) throw new Der.DerError(`negative or empty ${what}`)
  if (bytes.length > 1 && bytes[0] === 0 && (bytes[1] & 0x80) === 0) throw new Der.DerError(`non-minimal ${what}`)
  return bytes.length === 0 ? 0n : BigInt(`0x${Der.toHex(bytes)}`)
}

/** Reads `Dss-Parms` (the whole parameters TLV) and checks that they are usable. @internal */
export const readParams = (params: Uint8Array): Params => {
  const top = Der.readOnly(params, Der.Tag.SEQUENCE)
  const fields = Der.children(params, top)
  if (fields.length !== 3) throw new Der.DerError("bad Dss-Parms")
  const p = readUnsigned(params, fields[0], "DSA p")
  const q = readUnsigned(params, fields[1], "DSA q")
  const g = readUnsigned(params, fields[2], "DSA g")
  const pBits = bitLength(p)
  const qBits = bitLength(q)
  if (pBits < MinPBits || pBits > MaxPBits || qBits < MinQBits || qBits > MaxQBits) {
    throw new Der.DerError(`unsupported DSA sizes (${pBits}, ${qBits})`)
  }
  if ((p & 1n) === 0n || (q & 1n) === 0n) throw new Der.DerError("even DSA modulus")
  // q divides p - 1 and g generates the subgroup of order q
  if ((p - 1n) % q !== 0n) throw new Der.DerError("DSA q does not divide p - 1")
  if (g <= 1n || g >= p || modPow(g, q, p) !== 1n) throw new Der.DerError("bad DSA generator")
  return { p, q, g }
}

/** The public key y (`DSAPublicKey ::= INTEGER`, the subjectPublicKey's bits). @internal */
export const readPublicKey = (bits: Uint8Array, params: Params): bigint => {
  const y = readUnsigned(bits, Der.readOnly(bits, Der.Tag.INTEGER), "DSA public key")
  if (y <= 1n || y >= params.p) throw new Der.DerError("DSA public key out of range")
  return y
}

/** The p size of a DSA key, 0 when its parameters are absent or unreadable. @internal */
export const keySize = (params: Uint8Array | undefined): number => {
  if (params === undefined) return 0
  try {
    const top = Der.readOnly(params, Der.Tag.SEQUENCE)
    const [p] = Der.children(params, top)
    return bitLength(readUnsigned(params, p, "DSA p"))
  } catch {
    return 0
  }
}

/** @internal */
export const modPow = (base: bigint, exponent: bigint, modulus: bigint): bigint => {
  if (modulus === 1n) return 0n
  let result = 1n
  let b = base % modulus
  let e = exponent
  while (e > 0n) {
    if ((e & 1n) === 1n) result = (result * b) % modulus
    e >>= 1n
    b = (b * b) % modulus
  }
  return result
}

/** The inverse of `a` modulo the prime `m` (extended Euclid). */
const modInverse = (a: bigint, m: bigint): bigint => {
  let [oldR, r] = [a % m, m]
  let [oldS, s] = [1n, 0n]
  while (r !== 0n) {
    const quotient = oldR / r
    ;[oldR, r] = [r, oldR - quotient * r]
    ;[oldS, s] = [s, oldS - quotient * s]
  }
  if (oldR !== 1n) throw new Der.DerError("not invertible")
  return ((oldS % m) + m) % m
}

/** Dss-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }, or `undefined` when malformed. */
const readSignature = (der: Uint8Array): { r: bigint; s: bigint } | undefined => {
  try {
    const top = Der.readOnly(der, Der.Tag.SEQUENCE)
    const fields = Der.children(der, top)
    if (fields.length !== 2) return undefined
    return { r: readUnsigned(der, fields[0], "r"), s: readUnsigned(der, fields[1], "s") }
  } catch {
    return undefined
  }
}

/**
 * Whether `signature` (a DER `Dss-Sig-Value`) is a valid DSA signature of the message whose
 * hash is `digest`, under public key `y` with `params` (FIPS 186-4 §4.7).
 *
 * @internal
 */
export const verify = (params: Params, y: bigint, digest: Uint8Array, signature: Uint8Array): boolean => {
  const sig = readSignature(signature)
  if (sig === undefined) return false
  const { g, p, q } = params
  const { r, s } = sig
  if (r <= 0n || r >= q || s <= 0n || s >= q) return false
  // z: the leftmost min(N, outlen) bits of the hash
  const n = bitLength(q)
  let z = digest.length === 0 ? 0n : BigInt(`0x${Der.toHex(digest)}`)
  const outLen = digest.length * 8
  if (outLen > n) z >>= BigInt(outLen - n)
  const w = modInverse(s, q)
  const u1 = (z * w) % q
  const u2 = (r * w) % q
  const v = ((modPow(g, u1, p) * modPow(y, u2, p)) % p) % q
  return v === r
}
