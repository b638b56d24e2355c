/**
 * X.509 certificates, Gio's `GTlsCertificate` (the certificate half; the key half is
 * `PrivateKey` and the pair is `CertifiedKey`).
 *
 * Parsing is strict DER (a malformed certificate is a typed `CertificateError`, never a
 * throw); fingerprints and the SPKI hash are computed with WebCrypto.
 *
 * @example
 * ```ts
 * import { Certificate } from "@effect-tls/x509"
 * import { Console, Effect } from "effect"
 *
 * const show = (pem: string) =>
 *   Effect.gen(function*() {
 *     const [leaf] = yield* Certificate.fromPem(pem)
 *     yield* Console.log(leaf.subject.text, leaf.dnsNames, leaf.notAfter, leaf.spkiSha256)
 *   })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Option from "effect/Option"
import * as internal from "./internal/certificate.js"
import * as Signature from "./internal/signature.js"
import * as X509Error from "./X509Error.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-tls/core/Certificate")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * One attribute of a distinguished name, e.g. `{ type: "CN", oid: "2.5.4.3", value: "example.com" }`.
 *
 * @since 0.1.0
 * @category models
 */
export interface NameAttribute {
  readonly type: string
  readonly oid: string
  readonly value: string
}

/**
 * An X.501 distinguished name.
 *
 * @since 0.1.0
 * @category models
 */
export interface DistinguishedName {
  /** The DER encoding of the Name (as sent in CertificateRequest's certificate_authorities). */
  readonly der: Uint8Array
  /** RFC 4514 string, most significant RDN last reversed as usual: `CN=leaf,O=Example`. */
  readonly text: string
  /** Attributes in encoding order (most significant first). */
  readonly attributes: ReadonlyArray<NameAttribute>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PublicKeyInfo {
  readonly algorithm: "RSA" | "RSA-PSS" | "EC" | "DSA" | "Ed25519" | "Ed448" | "unknown"
  /**
   * Key size in bits (RSA modulus, EC field size, DSA prime `p`; 0 for a DSA key that
   * inherits its issuer's parameters).
   */
  readonly size: number
  /** EC named curve, e.g. `"P-256"`. */
  readonly curve?: string | undefined
}

/**
 * A parsed X.509 certificate. Immutable; equal when the DER is equal (`isSame`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Certificate {
  readonly [TypeId]: TypeId
  /** The DER encoding (a copy of what was parsed; shared by every holder: do not modify it). */
  readonly der: Uint8Array
  readonly subject: DistinguishedName
  readonly issuer: DistinguishedName
  /**
   * Lower-case hex, no leading zeros beyond one byte's worth; a negative serial (non-conforming,
   * RFC 5280 4.1.2.2) is `-` and its magnitude (`-01`), as OpenSSL prints it.
   */
  readonly serialNumber: string
  readonly notBefore: Date
  readonly notAfter: Date
  readonly dnsNames: ReadonlyArray<string>
  /** Textual IPv4 / IPv6 addresses from the subjectAltName. */
  readonly ipAddresses: ReadonlyArray<string>
  readonly isCa: boolean
  readonly isSelfIssued: boolean
  readonly publicKey: PublicKeyInfo
  /** e.g. `"sha256WithRSAEncryption"`, `"ecdsa-with-SHA256"`, `"Ed25519"`. */
  readonly signatureAlgorithm: string
  /** SHA-256 of the DER, lower-case hex. */
  readonly fingerprintSha256: string
  /** SHA-256 of the SubjectPublicKeyInfo, base64 (the HPKP / pin-sha256 form). */
  readonly spkiSha256: string
}

/**
 * A certificate chain, leaf first.
 *
 * @since 0.1.0
 * @category models
 */
export type CertificateChain = ReadonlyArray<Certificate>

/**
 * A certificate, CRL, name or key that cannot be read (defined in `X509Error`).
 *
 * @since 0.1.0
 * @category errors
 */
export const CertificateError: typeof X509Error.CertificateError = X509Error.CertificateError

/**
 * @since 0.1.0
 * @category errors
 */
export type CertificateError = X509Error.CertificateError

/**
 * Parses a DER certificate (the bytes are copied). Certificates are immutable, and the same
 * bytes parsed again (a peer's chain on every handshake) give back the certificate parsed
 * before, from a small cache of recent ones.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDer = (der: Uint8Array): Effect.Effect<Certificate, CertificateError> => internal.fromDer(der)

/**
 * `fromDer` without an Effect, for code that parses where an Effect per certificate costs
 * more than the parse (a peer's chain on every handshake, mostly a hit of the cache): the
 * certificate, or the `CertificateError` `fromDer` fails with.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDerEither = (der: Uint8Array): Either.Either<Certificate, CertificateError> =>
  internal.fromDerEither(der)

/**
 * Every `CERTIFICATE` block of a PEM text, in order.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPem = (pem: string): Effect.Effect<CertificateChain, CertificateError> => internal.fromPem(pem)

/**
 * @since 0.1.0
 * @category conversions
 */
export const toPem = (self: Certificate | CertificateChain): string => internal.toPem(self)

/**
 * @since 0.1.0
 * @category predicates
 */
export const isSame = (self: Certificate, that: Certificate): boolean => internal.isSame(self, that)

/**
 * Reads a DER-encoded X.501 distinguished name (as found in a CertificateRequest's
 * certificate_authorities).
 *
 * @since 0.1.0
 * @category constructors
 */
export const nameFromDer = (der: Uint8Array): Effect.Effect<DistinguishedName, CertificateError> =>
  internal.nameFromDer(der)

/**
 * Whether `issuer` issued `self`: its subject is `self`'s issuer and its key verifies
 * `self`'s signature (RSA PKCS#1 v1.5, RSA-PSS, ECDSA P-256/384/521, Ed25519 with
 * WebCrypto; DSA in BigInt arithmetic, when `issuer`'s key carries its parameters). Says
 * nothing about validity or trust: see `Verifier.verify`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isIssuedBy = (self: Certificate, issuer: Certificate): Effect.Effect<boolean> =>
  internal.isIssuedBy(self, issuer)

/**
 * Gio's issuer link: the first of `candidates` that issued `self` (see `isIssuedBy`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const findIssuer = (
  self: Certificate,
  candidates: Iterable<Certificate>
): Effect.Effect<Option.Option<Certificate>> =>
  Effect.findFirst(Array.from(candidates), (candidate) => internal.isIssuedBy(self, candidate))

/**
 * The hash of `self`'s signature algorithm (`"SHA-256"`, `"SHA-1"`, `"MD5"`, ...), or
 * `undefined` when the algorithm has no single hash (Ed25519, Ed448) or cannot be read
 * (the RFC 5929 tls-server-end-point binding is built on it).
 *
 * @since 0.1.0
 * @category getters
 */
export const signatureHash = (self: Certificate): string | undefined => {
  try {
    const plan = Signature.plan(internal.x509(self).signatureAlgorithm)
    return typeof plan === "string" ? undefined : plan.hash
  } catch {
    return undefined
  }
}
