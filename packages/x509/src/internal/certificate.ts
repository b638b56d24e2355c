/**
 * The runtime representation of `Certificate`: the public fields plus the parsed
 * structure verification needs, under an internal symbol.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as Hash from "effect/Hash"
import type { Certificate, DistinguishedName } from "../Certificate.js"
import { CertificateError } from "../X509Error.js"
import * as Der from "./der.js"
import * as Name from "./name.js"
import * as Parse from "./parse.js"
import * as Pem from "./pem.js"
import { sha256 } from "./sha2.js"
import * as Signature from "./signature.js"
import type * as WebCrypto from "./webcrypto.js"

const TypeId: unique symbol = Symbol.for("@effect-tls/core/Certificate") as never

/** @internal */
export const ParsedId: unique symbol = Symbol.for("@effect-tls/core/Certificate/parsed")

/** @internal */
export interface Parsed {
  readonly x509: Parse.X509
  /** Imported WebCrypto keys by algorithm key; filled lazily, per certificate. */
  readonly keys: Map<string, Promise<WebCrypto.CryptoKey>>
}

interface CertificateImpl extends Certificate {
  readonly [ParsedId]: Parsed
}

const proto = {
  [TypeId]: TypeId,
  [Equal.symbol](this: Certificate, that: unknown): boolean {
    return typeof that === "object" && that !== null && TypeId in that &&
      Der.equalBytes(this.der, (that as unknown as Certificate).der)
  },
  [Hash.symbol](this: Certificate): number {
    return Hash.string(this.fingerprintSha256)
  },
  toJSON(this: Certificate) {
    return {
      _id: "Certificate",
      subject: this.subject.text,
      issuer: this.issuer.text,
      serialNumber: this.serialNumber,
      notBefore: this.notBefore.toISOString(),
      notAfter: this.notAfter.toISOString(),
      fingerprintSha256: this.fingerprintSha256
    }
  },
  toString(this: Certificate): string {
    return `Certificate(${this.subject.text})`
  }
}

/** @internal */
export const parsed = (self: Certificate): Parsed => {
  const existing = (self as Partial<CertificateImpl>)[ParsedId]
  if (existing !== undefined) return existing
  return { x509: Parse.parseCertificate(self.der), keys: new Map() }
}

/** @internal */
export const x509 = (self: Certificate): Parse.X509 => parsed(self).x509

const describe = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/**
 * Certificates parsed lately, by their DER: a handshake hands over the same chain again and
 * again, and a `Certificate` is immutable, so the same bytes give back the same object. Keyed
 * by a cheap hash of the bytes; a hit is checked byte for byte against the certificate's own
 * DER (so a collision, or DER bytes a caller changed, is a miss). At most `cacheCapacity`
 * entries, the least recently used dropped first.
 */
const cacheCapacity = 128
const cache = new Map<number, Certificate>()

/** FNV-1a over the bytes, mixed with the length. */
const hashBytes = (bytes: Uint8Array): number => {
  let h = 0x811c9dc5 ^ bytes.length
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193)
  return h >>> 0
}

/** @internal */
export const fromDerEither = (der: Uint8Array): Either.Either<Certificate, CertificateError> => {
  const key = hashBytes(der)
  const hit = cache.get(key)
  if (hit !== undefined && Der.equalBytes(hit.der, der)) {
    cache.delete(key)
    cache.set(key, hit)
    return Either.right(hit)
  }
  let x: Parse.X509
  try {
    x = Parse.parseCertificate(der)
  } catch (cause) {
    return Either.left(
      new CertificateError({ reason: "InvalidDer", detail: `not an X.509 certificate: ${describe(cause)}`, cause })
    )
  }
  const certificate = make(x, sha256(x.der), sha256(x.spki))
  cache.delete(key)
  cache.set(key, certificate)
  if (cache.size > cacheCapacity) cache.delete(cache.keys().next().value!)
  return Either.right(certificate)
}

/** @internal */
export const fromDer = (der: Uint8Array): Effect.Effect<Certificate, CertificateError> =>
  Effect.suspend(() => fromDerEither(der))

const make = (x: Parse.X509, fingerprint: Uint8Array, spkiHash: Uint8Array): Certificate => {
  const dnsNames: Array<string> = []
  const ipAddresses: Array<string> = []
  for (const name of x.subjectAltNames ?? []) {
    if (name.kind === "dns") dnsNames.push(name.value)
    else if (name.kind === "ip" && (name.bytes.length === 4 || name.bytes.length === 16)) {
      ipAddresses.push(Name.formatIp(name.bytes))
    }
  }
  const self = Object.create(proto) as { -readonly [K in keyof CertificateImpl]: CertificateImpl[K] }
  // The DER is the parser's own copy: nobody else holds a reference to it.
  self.der = x.der
  self.subject = publicName(x.subject)
  self.issuer = publicName(x.issuer)
  self.serialNumber = Parse.serialHex(x.serialRaw)
  self.notBefore = x.notBefore
  self.notAfter = x.notAfter
  self.dnsNames = dnsNames
  self.ipAddresses = ipAddresses
  self.isCa = x.basicConstraints?.ca === true
  self.isSelfIssued = x.subject.key === x.issuer.key
  self.publicKey = x.publicKey
  self.signatureAlgorithm = Parse.signatureAlgorithmName(x.signatureAlgorithm)
  self.fingerprintSha256 = Der.toHex(fingerprint)
  self.spkiSha256 = Der.toBase64(spkiHash)
  self[ParsedId] = { x509: x, keys: new Map() }
  return Object.freeze(self)
}

const publicName = (name: Name.ParsedName): DistinguishedName => ({
  der: name.der,
  text: name.text,
  attributes: name.attributes
})

/** @internal */
export const fromPem = (pem: string): Effect.Effect<ReadonlyArray<Certificate>, CertificateError> =>
  Pem.readBlocks(pem, "CERTIFICATE", fromDer)

/** @internal */
export const toPem = (self: Certificate | ReadonlyArray<Certificate>): string =>
  (TypeId in self ? [self as Certificate] : self as ReadonlyArray<Certificate>)
    .map((cert) => Der.toPem("CERTIFICATE", cert.der)).join("")

/** @internal */
export const isSame = (self: Certificate, that: Certificate): boolean => Der.equalBytes(self.der, that.der)

/** @internal */
export const nameFromDer = (der: Uint8Array): Effect.Effect<DistinguishedName, CertificateError> =>
  Effect.try({
    try: () => publicName(Name.parseNameDer(der.slice())),
    catch: (cause) =>
      new CertificateError({ reason: "InvalidDer", detail: `not a distinguished name: ${describe(cause)}`, cause })
  })

/** @internal */
export const isIssuedBy = (self: Certificate, issuer: Certificate): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    try {
      const child = x509(self)
      const parent = parsed(issuer)
      if (parent.x509.subject.key !== child.issuer.key) return false
      const outcome = await Signature.verify(parent, child.signatureAlgorithm, child.tbs, child.signature)
      return outcome._tag === "Valid"
    } catch {
      return false
    }
  })
