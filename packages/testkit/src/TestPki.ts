/**
 * A test PKI generated at test time, in memory, in the spirit of Python's `trustme`: a root
 * CA, intermediates, server and client certificates for given DNS names and IP addresses,
 * and every broken variant a verifier must catch (expired, not yet valid, wrong EKU, SHA-1,
 * RSA-1024, CA:false issuers, path length violations, revocation through CRLs).
 *
 * No key is ever committed: keys are generated on first use with `node:crypto` (in the
 * thread pool, off the event loop) and certificates are built as DER with
 * `@peculiar/asn1-x509`. Every certificate carries subjectKeyIdentifier and
 * authorityKeyIdentifier.
 *
 * **Key reuse.** Key generation is the slow part (RSA-2048 takes ~100 ms). A PKI (a root and
 * all the intermediates issued under it) therefore generates at most one *leaf* key per key
 * type and reuses it for every end-entity certificate of that type. That is safe for tests:
 * leaf keys never sign anything, and chain building goes by names and key identifiers of
 * the issuers, which always get a fresh key each (root, every intermediate, every
 * self-signed leaf). Pass `freshKey: true` to give a leaf its own key.
 *
 * **Time.** Certificates are dated around the `Clock`'s now when the PKI is made (so under
 * `it.effect`, whose TestClock starts at 1970, they are valid at the TestClock's time and
 * `TestClock.adjust` past `notAfter` makes them expire); pass `now` (to `make`, or per
 * certificate) to date them from another instant. Handshakes judge validity by the `Clock`
 * too: core's verifier is the time authority. Build the PKI on the clock its tests run on:
 * a `layer(TestPki.layer())` shared with `it.live` / `it.scopedLive` tests wants
 * `excludeTestServices: true` (else it is dated at the TestClock's 1970).
 *
 * @example
 * ```ts
 * import { TestPki } from "@effect-tls/testkit"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const pki = yield* TestPki.make()
 *   const server = yield* pki.issueServer({ dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] })
 *   const expired = yield* pki.issueServer({ validity: "expired" })
 *   // server.certifiedKey for a TLS server, pki.database (or pki.caPem) for the client
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as Certificate from "@effect-tls/core/Certificate"
import type * as CertifiedKey from "@effect-tls/core/CertifiedKey"
import type * as PrivateKey from "@effect-tls/core/PrivateKey"
import type * as TlsDatabase from "@effect-tls/core/TlsDatabase"
import type { TlsConfigError } from "@effect-tls/core/TlsError"
import type * as Verifier from "@effect-tls/x509/Verifier"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as NodeCrypto from "node:crypto"
import * as internal from "./internal/pki/pki.js"

/**
 * The key types the PKI can generate. `"ec-p256"` is the default (fastest).
 *
 * @since 0.1.0
 * @category models
 */
export type KeyType = "ec-p256" | "ec-p384" | "rsa-1024" | "rsa-2048" | "rsa-3072" | "ed25519"

/**
 * The hash of a signature made by an ECDSA or RSA key (Ed25519 has its own). `"sha1"`
 * makes certificates a verifier must call `Insecure`.
 *
 * @since 0.1.0
 * @category models
 */
export type SignatureHash = "sha1" | "sha256" | "sha384" | "sha512"

/**
 * An extended key usage by name, or any other purpose by dotted OID.
 *
 * @since 0.1.0
 * @category models
 */
export type ExtendedKeyUsage =
  | "serverAuth"
  | "clientAuth"
  | "codeSigning"
  | "emailProtection"
  | "timeStamping"
  | "ocspSigning"
  | "any"
  | (string & {})

/**
 * A key usage bit: `@effect-tls/x509`'s `Verifier.KeyUsage`.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyUsage = Verifier.KeyUsage

/**
 * A validity preset relative to `now`: `"valid"` (from one hour ago; leaves for 90 days,
 * CAs for 10 years), `"expired"` (from 30 days ago to 1 day ago), `"notYetValid"` (from
 * 1 day ahead to 30 days ahead). `notBefore` / `notAfter` override the preset.
 *
 * @since 0.1.0
 * @category models
 */
export type ValidityPreset = "valid" | "expired" | "notYetValid"

/**
 * An extension added verbatim (its DER value), for cases the options do not cover.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawExtension {
  readonly oid: string
  readonly critical?: boolean | undefined
  readonly value: Uint8Array
}

/**
 * Options shared by every certificate the PKI makes.
 *
 * @since 0.1.0
 * @category options
 */
export interface CommonOptions {
  readonly commonName?: string | undefined
  readonly organization?: string | undefined
  /** The reference time for the validity presets; defaults to the authority's `now`. */
  readonly now?: Date | undefined
  readonly validity?: ValidityPreset | undefined
  readonly notBefore?: Date | undefined
  readonly notAfter?: Date | undefined
  /** The subject's key type; default `"ec-p256"`. */
  readonly keyType?: KeyType | undefined
  /** The hash the issuer signs with; default `"sha256"`. */
  readonly signatureHash?: SignatureHash | undefined
  /** Sign with RSASSA-PSS (MGF1 with the same hash, salt = hash length) when the issuer's key is RSA. */
  readonly rsaPss?: boolean | undefined
  /** Key usage bits, or `"none"` to omit the extension. */
  readonly keyUsage?: ReadonlyArray<KeyUsage> | "none" | undefined
  /** Extended key usages, or `"none"` to omit the extension. */
  readonly extendedKeyUsage?: ReadonlyArray<ExtendedKeyUsage> | "none" | undefined
  /** A positive serial number; default: 128 random bits. */
  readonly serial?: bigint | undefined
  readonly extraExtensions?: ReadonlyArray<RawExtension> | undefined
  /** The whole subject, most significant first, instead of `organization` and `commonName`. */
  readonly subjectAttributes?: ReadonlyArray<NameAttribute> | undefined
  /** The issuer name written into the certificate instead of the signer's subject. */
  readonly issuerAttributes?: ReadonlyArray<NameAttribute> | undefined
}

/**
 * One attribute of a name: a short name (`C`, `O`, `OU`, `CN`, `L`, `ST`, `emailAddress`)
 * or an OID, the value, and its string type (default UTF8String, PrintableString for `C`).
 *
 * @since 0.1.0
 * @category models
 */
export type NameAttribute =
  | readonly [type: string, value: string]
  | readonly [type: string, value: string, encoding: "utf8" | "printable" | "ia5"]

/**
 * Options of an end-entity certificate.
 *
 * @since 0.1.0
 * @category options
 */
export interface IssueOptions extends CommonOptions {
  /** DNS names of the subjectAltName (wildcards allowed, e.g. `"*.example.com"`). */
  readonly dnsNames?: ReadonlyArray<string> | undefined
  /** IPv4 / IPv6 addresses of the subjectAltName. */
  readonly ipAddresses?: ReadonlyArray<string> | undefined
  /** Basic constraints; default `{ isCa: false }` (critical). `"none"` omits the extension. */
  readonly basicConstraints?:
    | { readonly isCa: boolean; readonly pathLength?: number | undefined; readonly critical?: boolean | undefined }
    | "none"
    | undefined
  /** A self-signed certificate (its own fresh key) instead of one issued by this authority. */
  readonly selfSigned?: boolean | undefined
  /** Generate a key for this certificate alone instead of the PKI's shared leaf key. */
  readonly freshKey?: boolean | undefined
}

/**
 * Options of a CA certificate (`make` and `intermediate`).
 *
 * @since 0.1.0
 * @category options
 */
export interface AuthorityOptions extends CommonOptions {
  /** The basicConstraints pathLenConstraint; absent by default. */
  readonly pathLength?: number | undefined
  /**
   * `false` makes a certificate with `CA:FALSE` that nevertheless issues (to test that a
   * verifier refuses such issuers); `"omit"` leaves basicConstraints out. Default `true`.
   */
  readonly isCa?: boolean | "omit" | undefined
}

/**
 * A certificate made by the PKI, with its key, in every form a test needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Issued {
  /** The certificate itself. */
  readonly certificate: Certificate.Certificate
  /** The certificate followed by the intermediates up to (not including) the root. */
  readonly chain: Certificate.CertificateChain
  readonly key: PrivateKey.PrivateKey
  /** `chain` with `key`: what a TLS server or client presents. */
  readonly certifiedKey: CertifiedKey.CertifiedKey
  readonly der: Uint8Array
  /** The certificate alone, PEM. */
  readonly pem: string
  /** `chain` as PEM (what `node:tls`'s `cert` option wants). */
  readonly chainPem: string
  /** The unencrypted PKCS#8 private key, PEM (test material, not redacted). */
  readonly keyPem: string
  /** The key as a node:crypto KeyObject. */
  readonly privateKey: NodeCrypto.KeyObject
  /** Lower-case hex, no leading zero octets. */
  readonly serialNumber: string
  readonly notBefore: Date
  readonly notAfter: Date
}

/**
 * Options of a CRL.
 *
 * @since 0.1.0
 * @category options
 */
export interface CrlOptions {
  /** Revoked certificates, or serial numbers, or entries with their extensions. */
  readonly revoked?: ReadonlyArray<Issued | bigint | RevokedEntry> | undefined
  /** CRL extensions added after authorityKeyIdentifier and cRLNumber (IDP, deltaCRLIndicator, ...). */
  readonly extensions?: ReadonlyArray<RawExtension> | undefined
  /** Default: the authority's `now` minus one minute. */
  readonly thisUpdate?: Date | undefined
  /** Default: `thisUpdate` plus 7 days. */
  readonly nextUpdate?: Date | undefined
  /** The revocation date of every entry; default `thisUpdate`. */
  readonly revocationDate?: Date | undefined
  /** The cRLNumber; default counts up from 1 per authority. */
  readonly number?: number | undefined
  readonly signatureHash?: SignatureHash | undefined
  readonly rsaPss?: boolean | undefined
}

/**
 * A CRL entry with its extensions (reasonCode, certificateIssuer, ...).
 *
 * @since 0.1.0
 * @category models
 */
export interface RevokedEntry {
  /** A serial number; may be negative (to test INTEGER comparison). */
  readonly serial: bigint | Issued
  readonly extensions?: ReadonlyArray<RawExtension> | undefined
}

/**
 * An X.509 v2 CRL signed by an authority.
 *
 * @since 0.1.0
 * @category models
 */
export interface Crl {
  readonly der: Uint8Array
  readonly pem: string
  readonly number: number
  readonly thisUpdate: Date
  readonly nextUpdate: Date
  /** Lower-case hex, as `Issued.serialNumber`. */
  readonly revokedSerials: ReadonlyArray<string>
}

/**
 * A certificate authority of the test PKI: the root from `make`, or an intermediate.
 *
 * @since 0.1.0
 * @category models
 */
export interface Authority {
  /** This authority's own certificate (the root, or the intermediate). */
  readonly ca: Issued
  /** The root of the PKI. */
  readonly root: Issued
  /** The root certificate as PEM: what a peer trusts (`ca` of node:tls, `-CAfile`). */
  readonly caPem: string
  /** The reference time of this authority. */
  readonly now: Date
  /** A database whose only anchor is the root. */
  readonly database: TlsDatabase.TlsDatabaseShape
  /** A database trusting the root, with extra intermediates and CRLs. */
  readonly databaseWith: (options: {
    readonly intermediates?: ReadonlyArray<Certificate.Certificate | Issued> | undefined
    readonly crls?: ReadonlyArray<Crl> | undefined
  }) => TlsDatabase.TlsDatabaseShape
  /**
   * A server certificate: EKU serverAuth; SANs `localhost`, `127.0.0.1` and `::1` unless
   * `dnsNames` or `ipAddresses` is given (giving one leaves the other empty); CN the first SAN.
   */
  readonly issueServer: (options?: IssueOptions) => Effect.Effect<Issued, TestPkiError | TlsConfigError>
  /** A client certificate: default CN `client`, no SAN, EKU clientAuth. */
  readonly issueClient: (options?: IssueOptions) => Effect.Effect<Issued, TestPkiError | TlsConfigError>
  /** An end-entity certificate: default EKU serverAuth and clientAuth. */
  readonly issue: (options?: IssueOptions) => Effect.Effect<Issued, TestPkiError | TlsConfigError>
  /** An intermediate CA issued by this authority, which can issue in turn. */
  readonly intermediate: (options?: AuthorityOptions) => Effect.Effect<Authority, TestPkiError | TlsConfigError>
  /** A CRL signed by this authority. */
  readonly crl: (options?: CrlOptions) => Effect.Effect<Crl, TestPkiError>
}

/**
 * @since 0.1.0
 * @category errors
 */
export class TestPkiError extends Data.TaggedError("TestPkiError")<{
  readonly reason: "KeyGeneration" | "Encoding" | "Parse" | "Io"
  readonly detail: string
  readonly cause?: unknown
}> {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `test PKI ${this.reason}: ${this.detail}`
  }
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category options
 */
export interface MakeOptions extends Omit<AuthorityOptions, "isCa"> {}

/**
 * Creates a root CA. Its key is generated now; leaf keys on first use.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: MakeOptions) => Effect.Effect<Authority, TestPkiError | TlsConfigError> = internal.make

/**
 * Options for `node:tls` (`cert`, `key`, `ca`) from an issued certificate and its authority.
 *
 * @since 0.1.0
 * @category conversions
 */
export const nodeTlsOptions = (
  issued: Issued,
  authority: Authority
): { readonly cert: string; readonly key: string; readonly ca: string } => ({
  cert: issued.chainPem,
  key: issued.keyPem,
  ca: authority.caPem
})

/**
 * Files written by `writeFiles`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PemFiles {
  readonly directory: string
  /** The root CA. */
  readonly caFile: string
  /** The certificate alone. */
  readonly certFile: string
  /** The certificate and its intermediates. */
  readonly chainFile: string
  readonly keyFile: string
}

/**
 * Writes the PEM pieces to a fresh temporary directory (for openssl / gnutls command
 * lines), removed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const writeFiles: (issued: Issued, authority: Authority) => Effect.Effect<PemFiles, TestPkiError, Scope.Scope> =
  internal.writeFiles

/**
 * A ready PKI: a root, a server certificate for `localhost`, `127.0.0.1` and `::1`, and a
 * client certificate (CN `client`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Fixture {
  readonly pki: Authority
  readonly server: Issued
  readonly client: Issued
  /** The root CA, PEM. */
  readonly caPem: string
  /** The server chain, PEM. */
  readonly serverPem: string
  /** The server key, PEM. */
  readonly keyPem: string
  readonly clientPem: string
  readonly clientKeyPem: string
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TestPki extends Context.Tag("@effect-tls/testkit/TestPki")<TestPki, Fixture>() {}

/**
 * Builds a `Fixture`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFixture: (options?: MakeOptions) => Effect.Effect<Fixture, TestPkiError | TlsConfigError> =
  internal.makeFixture

/**
 * A layer providing a `Fixture` (see `makeFixture`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: MakeOptions): Layer.Layer<TestPki, TestPkiError | TlsConfigError> =>
  Layer.effect(TestPki, makeFixture(options))
