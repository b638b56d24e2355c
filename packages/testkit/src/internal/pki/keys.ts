/**
 * Key generation and signing for the test PKI (node:crypto).
 *
 * @internal
 */
import { AlgorithmIdentifier } from "@peculiar/asn1-x509"
import * as Effect from "effect/Effect"
import * as Crypto from "node:crypto"

/** @internal */
export type KeyType = "ec-p256" | "ec-p384" | "rsa-1024" | "rsa-2048" | "rsa-3072" | "ed25519"

/** @internal */
export type SignatureHash = "sha1" | "sha256" | "sha384" | "sha512"

/** @internal */
export interface KeyPair {
  readonly type: KeyType
  readonly privateKey: Crypto.KeyObject
  readonly publicKey: Crypto.KeyObject
  /** SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array
  /** PKCS#8 PEM of the private key. */
  readonly privatePem: string
}

/** @internal */
export const keyTypes: ReadonlyArray<KeyType> = ["ec-p256", "ec-p384", "rsa-1024", "rsa-2048", "rsa-3072", "ed25519"]

const toPair = (type: KeyType, publicKey: Crypto.KeyObject, privateKey: Crypto.KeyObject): KeyPair => ({
  type,
  privateKey,
  publicKey,
  spki: new Uint8Array(publicKey.export({ type: "spki", format: "der" })),
  privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString()
})

/**
 * Generates a key pair off the main thread (node's thread pool).
 *
 * @internal
 */
export const generate = (type: KeyType): Effect.Effect<KeyPair, Error> =>
  Effect.async<KeyPair, Error>((resume) => {
    const done = (error: Error | null, publicKey: Crypto.KeyObject, privateKey: Crypto.KeyObject) => {
      if (error) resume(Effect.fail(error))
      else {
        try {
          resume(Effect.succeed(toPair(type, publicKey, privateKey)))
        } catch (cause) {
          resume(Effect.fail(cause instanceof Error ? cause : new Error(String(cause))))
        }
      }
    }
    try {
      switch (type) {
        case "ec-p256":
          return Crypto.generateKeyPair("ec", { namedCurve: "P-256" }, done)
        case "ec-p384":
          return Crypto.generateKeyPair("ec", { namedCurve: "P-384" }, done)
        case "rsa-1024":
          return Crypto.generateKeyPair("rsa", { modulusLength: 1024, publicExponent: 65537 }, done)
        case "rsa-2048":
          return Crypto.generateKeyPair("rsa", { modulusLength: 2048, publicExponent: 65537 }, done)
        case "rsa-3072":
          return Crypto.generateKeyPair("rsa", { modulusLength: 3072, publicExponent: 65537 }, done)
        case "ed25519":
          return Crypto.generateKeyPair("ed25519", {}, done)
      }
    } catch (cause) {
      resume(Effect.fail(cause instanceof Error ? cause : new Error(String(cause))))
    }
  })

/** @internal */
export const isRsa = (type: KeyType): boolean => type.startsWith("rsa")

// --- signature algorithms -------------------------------------------------------------

const hashOids: Record<SignatureHash, string> = {
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3"
}
const hashLengths: Record<SignatureHash, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }
const rsaPkcs1Oids: Record<SignatureHash, string> = {
  sha1: "1.2.840.113549.1.1.5",
  sha256: "1.2.840.113549.1.1.11",
  sha384: "1.2.840.113549.1.1.12",
  sha512: "1.2.840.113549.1.1.13"
}
const ecdsaOids: Record<SignatureHash, string> = {
  sha1: "1.2.840.10045.4.1",
  sha256: "1.2.840.10045.4.3.2",
  sha384: "1.2.840.10045.4.3.3",
  sha512: "1.2.840.10045.4.3.4"
}
const OID_RSASSA_PSS = "1.2.840.113549.1.1.10"
const OID_MGF1 = "1.2.840.113549.1.1.8"
const OID_ED25519 = "1.3.101.112"

// minimal DER writer, enough for RSASSA-PSS-params
const derLength = (length: number): Array<number> => {
  if (length < 0x80) return [length]
  const bytes: Array<number> = []
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff)
  return [0x80 | bytes.length, ...bytes]
}
const tlv = (
  tag: number,
  content: ReadonlyArray<number>
): Array<number> => [tag, ...derLength(content.length), ...content]
const derOid = (oid: string): Array<number> => {
  const parts = oid.split(".").map(Number)
  const body: Array<number> = [parts[0] * 40 + parts[1]]
  for (const part of parts.slice(2)) {
    const chunk: Array<number> = [part & 0x7f]
    for (let n = part >>> 7; n > 0; n >>>= 7) chunk.unshift(0x80 | (n & 0x7f))
    for (const byte of chunk) body.push(byte)
  }
  return tlv(0x06, body)
}
const hashAlgorithm = (hash: SignatureHash) => tlv(0x30, [...derOid(hashOids[hash]), 0x05, 0x00])

/**
 * RSASSA-PSS-params for `hash`, MGF1 with the same hash, salt length = hash length.
 *
 * @internal
 */
export const pssParams = (hash: SignatureHash): Uint8Array =>
  new Uint8Array(tlv(0x30, [
    ...tlv(0xa0, hashAlgorithm(hash)),
    ...tlv(0xa1, tlv(0x30, [...derOid(OID_MGF1), ...hashAlgorithm(hash)])),
    ...tlv(0xa2, tlv(0x02, [hashLengths[hash]]))
  ]))

/** @internal */
export interface SignatureSpec {
  readonly hash: SignatureHash
  readonly pss: boolean
}

/**
 * The AlgorithmIdentifier a key of `type` signs with.
 *
 * @internal
 */
export const signatureAlgorithm = (type: KeyType, spec: SignatureSpec): AlgorithmIdentifier => {
  if (type === "ed25519") return new AlgorithmIdentifier({ algorithm: OID_ED25519 })
  if (isRsa(type)) {
    return spec.pss
      ? new AlgorithmIdentifier({ algorithm: OID_RSASSA_PSS, parameters: pssParams(spec.hash).buffer as ArrayBuffer })
      : new AlgorithmIdentifier({ algorithm: rsaPkcs1Oids[spec.hash], parameters: null })
  }
  return new AlgorithmIdentifier({ algorithm: ecdsaOids[spec.hash] })
}

/**
 * Signs `data` (the DER of a TBS structure) with `key`, as `signatureAlgorithm` says.
 *
 * @internal
 */
export const sign = (key: KeyPair, spec: SignatureSpec, data: Uint8Array): Uint8Array => {
  if (key.type === "ed25519") return new Uint8Array(Crypto.sign(null, data, key.privateKey))
  if (isRsa(key.type) && spec.pss) {
    return new Uint8Array(Crypto.sign(spec.hash, data, {
      key: key.privateKey,
      padding: Crypto.constants.RSA_PKCS1_PSS_PADDING,
      saltLength: hashLengths[spec.hash]
    }))
  }
  // ECDSA signatures come out DER-encoded (dsaEncoding "der"), as X.509 wants them.
  return new Uint8Array(Crypto.sign(spec.hash, data, key.privateKey))
}
