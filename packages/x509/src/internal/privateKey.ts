/**
 * PEM private keys: PKCS#8, PKCS#8 encrypted with PBES2 (PBKDF2 + AES-CBC, decrypted with
 * WebCrypto), and the legacy PKCS#1 / SEC 1 forms (wrapped into PKCS#8).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { PrivateKey } from "../PrivateKey.js"
import { CertificateError, PrivateKeyPasswordError } from "../X509Error.js"
import * as Der from "./der.js"
import { OID } from "./oids.js"
import * as WebCrypto from "./webcrypto.js"
import { TextEncoder } from "./webcrypto.js"

const TypeId: unique symbol = Symbol.for("@effect-tls/core/PrivateKey") as never

const describe = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

const algorithmOf = (oid: string): PrivateKey["algorithm"] => {
  switch (oid) {
    case OID.rsaEncryption:
      return "RSA"
    case OID.rsassaPss:
      return "RSA-PSS"
    case OID.ecPublicKey:
      return "EC"
    case OID.ed25519:
      return "Ed25519"
    case OID.ed448:
      return "Ed448"
    default:
      return "unknown"
  }
}

const proto = {
  [TypeId]: TypeId,
  toJSON(this: PrivateKey) {
    return { _id: "PrivateKey", algorithm: this.algorithm, pkcs8: "<redacted>" }
  },
  toString(this: PrivateKey): string {
    return `PrivateKey(${this.algorithm})`
  }
}

/** Builds a key from unencrypted PKCS#8 DER; throws when it is not one. @internal */
export const fromPkcs8 = (der: Uint8Array): PrivateKey => {
  // PrivateKeyInfo ::= SEQUENCE { version INTEGER, privateKeyAlgorithm AlgorithmIdentifier,
  //   privateKey OCTET STRING, attributes [0] IMPLICIT OPTIONAL, publicKey [1] IMPLICIT OPTIONAL }
  const top = Der.readOnly(der, Der.Tag.SEQUENCE)
  const [version, algorithm, key, ...rest] = Der.children(der, top)
  const v = Der.readSmallInt(der, version)
  if (v > 1) throw new Der.DerError("unknown PrivateKeyInfo version")
  const [oid] = Der.children(der, Der.expect(algorithm, Der.Tag.SEQUENCE, "privateKeyAlgorithm"))
  const algorithmOid = Der.readOid(der, oid)
  Der.expect(key, Der.Tag.OCTET_STRING, "privateKey")
  let last = -1
  for (const field of rest) {
    const n = field.tag === 0xa0 ? 0 : field.tag === 0x81 || field.tag === 0xa1 ? 1 : -1
    if (n <= last) throw new Der.DerError("bad PrivateKeyInfo")
    last = n
  }
  const self = Object.create(proto)
  self.algorithm = algorithmOf(algorithmOid)
  self.pkcs8 = Redacted.make(der.slice())
  return Object.freeze(self)
}

const invalid = (detail: string, cause?: unknown) => new CertificateError({ reason: "InvalidPem", detail, cause })
const unsupported = (detail: string) => new CertificateError({ reason: "Unsupported", detail })

const wrapRsa = (pkcs1: Uint8Array): Uint8Array => {
  Der.readOnly(pkcs1, Der.Tag.SEQUENCE)
  return Der.encode(
    Der.Tag.SEQUENCE,
    Der.encode(Der.Tag.INTEGER, new Uint8Array([0])),
    Der.encode(Der.Tag.SEQUENCE, Der.encodeOid(OID.rsaEncryption), Der.encode(Der.Tag.NULL)),
    Der.encode(Der.Tag.OCTET_STRING, pkcs1)
  )
}

const wrapEc = (sec1: Uint8Array): Uint8Array | undefined => {
  const top = Der.readOnly(sec1, Der.Tag.SEQUENCE)
  const params = Der.children(sec1, top).find((tlv) => tlv.tag === 0xa0)
  if (params === undefined) return undefined
  const [curve] = Der.children(sec1, params)
  Der.expect(curve, Der.Tag.OID, "named curve")
  return Der.encode(
    Der.Tag.SEQUENCE,
    Der.encode(Der.Tag.INTEGER, new Uint8Array([0])),
    Der.encode(Der.Tag.SEQUENCE, Der.encodeOid(OID.ecPublicKey), Der.whole(sec1, curve)),
    Der.encode(Der.Tag.OCTET_STRING, sec1)
  )
}

interface Pbes2 {
  readonly salt: Uint8Array
  readonly iterations: number
  readonly keyLength: number
  readonly prf: string
  readonly iv: Uint8Array
  readonly encrypted: Uint8Array
}

const prfHashes: Record<string, string> = {
  [OID.hmacWithSHA1]: "SHA-1",
  [OID.hmacWithSHA256]: "SHA-256",
  [OID.hmacWithSHA384]: "SHA-384",
  [OID.hmacWithSHA512]: "SHA-512"
}

const aesKeyLengths: Record<string, number> = {
  [OID.aes128cbc]: 16,
  [OID.aes192cbc]: 24,
  [OID.aes256cbc]: 32
}

/** Reads EncryptedPrivateKeyInfo with PBES2; a string result is why it is unsupported. */
const readPbes2 = (der: Uint8Array): Pbes2 | string => {
  const top = Der.readOnly(der, Der.Tag.SEQUENCE)
  const [algTlv, dataTlv] = Der.children(der, top)
  const [schemeOid, schemeParams] = Der.children(der, Der.expect(algTlv, Der.Tag.SEQUENCE, "AlgorithmIdentifier"))
  const scheme = Der.readOid(der, schemeOid)
  if (scheme !== OID.pbes2) return `encryption scheme ${scheme} (only PBES2 is supported)`
  const [kdf, enc] = Der.children(der, Der.expect(schemeParams, Der.Tag.SEQUENCE, "PBES2-params"))
  const [kdfOid, kdfParams] = Der.children(der, Der.expect(kdf, Der.Tag.SEQUENCE, "keyDerivationFunc"))
  const kdfName = Der.readOid(der, kdfOid)
  if (kdfName !== OID.pbkdf2) return `key derivation ${kdfName} (only PBKDF2 is supported)`
  const items = Der.children(der, Der.expect(kdfParams, Der.Tag.SEQUENCE, "PBKDF2-params"))
  const salt = Der.value(der, Der.expect(items[0], Der.Tag.OCTET_STRING, "salt"))
  const iterations = Der.readSmallInt(der, items[1])
  let i = 2
  let keyLength = -1
  if (items[i]?.tag === Der.Tag.INTEGER) keyLength = Der.readSmallInt(der, items[i++])
  let prf: string = OID.hmacWithSHA1
  if (items[i] !== undefined) {
    prf = Der.readOid(der, Der.children(der, Der.expect(items[i], Der.Tag.SEQUENCE, "prf"))[0])
  }
  if (prfHashes[prf] === undefined) return `PBKDF2 PRF ${prf}`
  const [encOid, ivTlv] = Der.children(der, Der.expect(enc, Der.Tag.SEQUENCE, "encryptionScheme"))
  const cipher = Der.readOid(der, encOid)
  const length = aesKeyLengths[cipher]
  if (length === undefined) return `cipher ${cipher} (only AES-CBC is supported)`
  if (keyLength !== -1 && keyLength !== length) return "key length does not match the cipher"
  if (iterations < 1 || iterations > 10_000_000) return `PBKDF2 iteration count ${iterations}`
  const iv = Der.value(der, Der.expect(ivTlv, Der.Tag.OCTET_STRING, "iv"))
  if (iv.length !== 16) return "AES-CBC IV must be 16 bytes"
  const encrypted = Der.value(der, Der.expect(dataTlv, Der.Tag.OCTET_STRING, "encryptedData"))
  return {
    salt: salt.slice(),
    iterations,
    keyLength: length,
    prf: prfHashes[prf],
    iv: iv.slice(),
    encrypted: encrypted.slice()
  }
}

const decrypt = async (params: Pbes2, password: string): Promise<Uint8Array> => {
  const subtle = WebCrypto.subtle()
  const base = await subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, ["deriveBits"])
  const bits = await subtle.deriveBits(
    { name: "PBKDF2", salt: Der.toArrayBuffer(params.salt), iterations: params.iterations, hash: params.prf },
    base,
    params.keyLength * 8
  )
  const key = await subtle.importKey("raw", bits, "AES-CBC", false, ["decrypt"])
  return new Uint8Array(
    await subtle.decrypt(
      { name: "AES-CBC", iv: Der.toArrayBuffer(params.iv) },
      key,
      Der.toArrayBuffer(params.encrypted)
    )
  )
}

/** Decrypts with one password: `Some(key)`, or `None` when the password is wrong. */
const tryPassword = (params: Pbes2, password: string): Effect.Effect<Option.Option<PrivateKey>> =>
  Effect.promise(() =>
    decrypt(params, password).then(
      (der) => {
        try {
          return Option.some(fromPkcs8(der))
        } catch {
          return Option.none()
        }
      },
      () => Option.none()
    )
  )

const decryptWith = (
  params: Pbes2,
  given: Redacted.Redacted<string> | string | undefined
): Effect.Effect<PrivateKey, PrivateKeyPasswordError> => {
  if (given === undefined) {
    return Effect.fail(
      new PrivateKeyPasswordError({
        reason: "Missing",
        detail: "the private key is encrypted and no password was given"
      })
    )
  }
  const password = typeof given === "string" ? given : Redacted.value(given)
  return Effect.flatMap(tryPassword(params, password), (result) =>
    Option.match(result, {
      onNone: () =>
        Effect.fail(new PrivateKeyPasswordError({ reason: "Wrong", detail: "wrong password for the private key" })),
      onSome: Effect.succeed
    }))
}

/** @internal */
export const fromPem = (
  pem: string,
  options?: { readonly password?: Redacted.Redacted<string> | string | undefined }
): Effect.Effect<PrivateKey, CertificateError | PrivateKeyPasswordError> =>
  Effect.suspend((): Effect.Effect<PrivateKey, CertificateError | PrivateKeyPasswordError> => {
    let block: Der.PemBlock | undefined
    try {
      block = Der.parsePem(pem).find((b) =>
        b.label === "PRIVATE KEY" || b.label === "ENCRYPTED PRIVATE KEY" || b.label === "RSA PRIVATE KEY" ||
        b.label === "EC PRIVATE KEY"
      )
    } catch (cause) {
      return Effect.fail(invalid(describe(cause), cause))
    }
    if (block === undefined) return Effect.fail(invalid("no PRIVATE KEY block found"))
    const found = block
    if (found.headers.some(([name, value]) => name === "Proc-Type" && value.includes("ENCRYPTED"))) {
      return Effect.fail(
        unsupported("legacy OpenSSL-encrypted PEM key; convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`")
      )
    }
    try {
      switch (found.label) {
        case "PRIVATE KEY":
          return Effect.succeed(fromPkcs8(found.der))
        case "RSA PRIVATE KEY":
          return Effect.succeed(fromPkcs8(wrapRsa(found.der)))
        case "EC PRIVATE KEY": {
          const wrapped = wrapEc(found.der)
          return wrapped === undefined
            ? Effect.fail(unsupported("EC PRIVATE KEY without named curve parameters"))
            : Effect.succeed(fromPkcs8(wrapped))
        }
      }
      const params = readPbes2(found.der)
      if (typeof params === "string") return Effect.fail(unsupported(`encrypted private key: ${params}`))
      return decryptWith(params, options?.password)
    } catch (cause) {
      return Effect.fail(invalid(`malformed ${found.label}: ${describe(cause)}`, cause))
    }
  })

/** @internal */
export const toPem = (self: PrivateKey): Redacted.Redacted<string> =>
  Redacted.make(Der.toPem("PRIVATE KEY", Redacted.value(self.pkcs8)))

/** @internal */
export const fromPkcs8Der = (der: Uint8Array): Effect.Effect<PrivateKey, CertificateError> =>
  Effect.try({
    try: () => fromPkcs8(der),
    catch: (cause) =>
      new CertificateError({ reason: "InvalidDer", detail: `not a PKCS#8 key: ${describe(cause)}`, cause })
  })

const importParams = (
  algorithm: PrivateKey["algorithm"],
  curve: string | undefined
): WebCrypto.ImportParams | undefined => {
  switch (algorithm) {
    case "RSA":
      return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
    case "EC":
      return curve === undefined ? undefined : { name: "ECDSA", namedCurve: curve }
    case "Ed25519":
      return { name: "Ed25519" }
    default:
      return undefined
  }
}

/**
 * Whether `key` is the private half of the certificate's public key: `false` only when
 * both could be read and they differ (an unsupported key type is not checked).
 *
 * @internal
 */
export const matchesPublicKey = (
  key: PrivateKey,
  spki: Uint8Array,
  curve: string | undefined
): Effect.Effect<boolean> => {
  const params = importParams(key.algorithm, curve)
  if (params === undefined) return Effect.succeed(true)
  return Effect.promise(async () => {
    try {
      const subtle = WebCrypto.subtle()
      const priv = await subtle.importKey("pkcs8", Der.toArrayBuffer(Redacted.value(key.pkcs8)), params, true, ["sign"])
      const pub = await subtle.importKey("spki", Der.toArrayBuffer(spki), params, true, ["verify"])
      const a = await subtle.exportKey("jwk", priv)
      const b = await subtle.exportKey("jwk", pub)
      return a.n === b.n && a.e === b.e && a.x === b.x && a.y === b.y
    } catch {
      // Different key types, or a key WebCrypto cannot read.
      return !(key.algorithm === "EC" || key.algorithm === "RSA" || key.algorithm === "Ed25519")
    }
  })
}
