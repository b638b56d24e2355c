/**
 * `TlsDatabase`, Gio's `GTlsDatabase`: the trust anchors (and known intermediates and
 * CRLs) against which peer chains are verified, and the verifier itself.
 *
 * `verifyChain` returns the **complete** set of `CertificateFlags`: every problem, not
 * just the first, which is what makes `AcceptCertificate` policies safe to write.
 *
 * The verifier is `@effect-tls/x509`'s `Verifier`: RFC 5280 path building and validation
 * (alternative paths, bounded work, policies, CRL scope and delta CRLs), RFC 6125 for host
 * names (left-most-label wildcards, never over a public suffix, IP SANs, no common-name
 * fallback). See the x509 package README for the limbo conformance score.
 *
 * @example
 * ```ts
 * import { Certificate, CertificateFlags, TlsDatabase } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * declare const caPem: string
 * declare const serverPem: string
 *
 * const program = Effect.gen(function*() {
 *   const database = yield* TlsDatabase.fromPem(caPem)
 *   const chain = yield* Certificate.fromPem(serverPem)
 *   const flags = yield* database.verifyChain(chain, { purpose: "server", identity: "example.com" })
 *   console.log(CertificateFlags.format(flags)) // "none"
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { Certificate, CertificateChain, CertificateError } from "@effect-tls/x509/Certificate"
import * as CertificateModule from "@effect-tls/x509/Certificate"
import type { CertificateFlags } from "@effect-tls/x509/CertificateFlags"
import * as Crl from "@effect-tls/x509/Crl"
import * as Verifier from "@effect-tls/x509/Verifier"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as VerdictCache from "./internal/verdictCache.js"

/**
 * What a chain is verified for: `"server"` checks a server's chain (serverAuth EKU),
 * `"client"` a client's (clientAuth EKU).
 *
 * @since 0.1.0
 * @category models
 */
export type Purpose = Verifier.Purpose

/**
 * `purpose`, `identity`, `time`, and the RFC 5280 inputs of `@effect-tls/x509`'s
 * `Verifier.VerifyOptions`: `email`, `keyUsage`, `extendedKeyUsage`, `policy`, `revocation`.
 *
 * @since 0.1.0
 * @category models
 */
export type VerifyOptions = Verifier.VerifyOptions

/**
 * @since 0.1.0
 * @category models
 */
export interface TlsDatabaseShape {
  /** The trust anchors. The engine also hands them to its own verifier (OpenSSL's `ca`). */
  readonly anchors: ReadonlyArray<Certificate>
  /**
   * `true` when this database is the platform's default store (such as `NodeTlsDatabase.system`).
   * Informational: engines treat every database alike and hand their own verifier `anchors`.
   */
  readonly isSystem: boolean
  readonly verifyChain: (chain: CertificateChain, options: VerifyOptions) => Effect.Effect<CertificateFlags>
  readonly lookupIssuer: (certificate: Certificate) => Effect.Effect<Option.Option<Certificate>>
}

/**
 * The database used when a connection names none. The Node backend provides the system
 * store; core alone provides none, so a connection without a database trusts nothing
 * (every chain gets `UnknownCa`): fail closed.
 *
 * @since 0.1.0
 * @category tags
 */
export class TlsDatabase extends Context.Tag("@effect-tls/core/TlsDatabase")<TlsDatabase, TlsDatabaseShape>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface FromAnchorsOptions {
  /** Intermediates the database knows, used to complete peers' chains. */
  readonly intermediates?: ReadonlyArray<Certificate> | undefined
  /**
   * CRLs (parsed, or DER). A DER that is no CRL is never ignored: every verification fails
   * (`GenericError`) while the database holds one; `Crl.readAll` reads them with a typed error.
   */
  readonly crls?: ReadonlyArray<Crl.Crl | Uint8Array> | undefined
  /** The maximum number of intermediates in a path (self-issued ones not counted). */
  readonly maxIntermediates?: number | undefined
  /**
   * Marks the platform's default store (see `TlsDatabaseShape.isSystem`); default `false`. Its
   * anchors are exempt from two CA formatting rules (critical basicConstraints, a
   * subjectKeyIdentifier) that legacy roots of the bundled Mozilla store break.
   */
  readonly isSystem?: boolean | undefined
  /**
   * How many verdicts to keep (default 256; `false`: none). A chain verified once is not
   * verified again with the same options while no validity date of the certificates
   * involved (nor a CRL's update date) lies between the two times, so a cached verdict
   * always equals a fresh one. The `AcceptCertificate` policy still runs on every connection.
   */
  readonly verdictCache?: number | false | undefined
}

/**
 * A database trusting `anchors`. Anchors are parsed and indexed once, so verifying a
 * short chain costs a few signature checks.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromAnchors = (anchors: ReadonlyArray<Certificate>, options?: FromAnchorsOptions): TlsDatabaseShape => {
  // DER CRLs parsed once; the unreadable ones go to the verifier too, which fails closed on them
  const { readable: crls, unreadable } = Crl.partition(options?.crls ?? [])
  const verifier = Verifier.make({
    anchors,
    intermediates: options?.intermediates,
    crls: [...crls, ...unreadable.map((u) => u.der)],
    maxIntermediates: options?.maxIntermediates,
    // the platform's store keeps legacy roots (non-critical basicConstraints, no SKI)
    lenientAnchors: options?.isSystem ?? false
  })
  return {
    anchors,
    isSystem: options?.isSystem ?? false,
    verifyChain: options?.verdictCache === false
      ? (chain, verifyOptions) => Verifier.verifyFlags(verifier, chain, verifyOptions)
      : VerdictCache.cached(
        VerdictCache.make(
          [
            ...VerdictCache.certificateDates([...anchors, ...(options?.intermediates ?? [])]),
            ...crls.flatMap((crl) => [crl.thisUpdate.getTime(), ...(crl.nextUpdate ? [crl.nextUpdate.getTime()] : [])])
          ],
          Math.max(1, options?.verdictCache ?? 256)
        ),
        (chain, verifyOptions) => Verifier.verifyFlags(verifier, chain, verifyOptions)
      ),
    lookupIssuer: verifier.lookupIssuer
  }
}

/**
 * A database trusting nothing: every chain gets `UnknownCa`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: TlsDatabaseShape = fromAnchors([])

/**
 * A database trusting every `CERTIFICATE` of a PEM text.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPem = (
  pem: string,
  options?: Omit<FromAnchorsOptions, "isSystem">
): Effect.Effect<TlsDatabaseShape, CertificateError> =>
  Effect.map(CertificateModule.fromPem(pem), (anchors) => fromAnchors(anchors, options))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (database: TlsDatabaseShape): Layer.Layer<TlsDatabase> => Layer.succeed(TlsDatabase, database)

/**
 * @since 0.1.0
 * @category layers
 */
export const layerFromAnchors = (
  anchors: ReadonlyArray<Certificate>,
  options?: FromAnchorsOptions
): Layer.Layer<TlsDatabase> => Layer.sync(TlsDatabase, () => fromAnchors(anchors, options))

/**
 * @since 0.1.0
 * @category layers
 */
export const layerFromPem = (
  pem: string,
  options?: Omit<FromAnchorsOptions, "isSystem">
): Layer.Layer<TlsDatabase, CertificateError> => Layer.effect(TlsDatabase, fromPem(pem, options))

/**
 * Verifies with the `TlsDatabase` of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const verifyChain = (
  chain: CertificateChain,
  options: VerifyOptions
): Effect.Effect<CertificateFlags, never, TlsDatabase> =>
  Effect.flatMap(TlsDatabase, (database) => database.verifyChain(chain, options))

/**
 * Finds the issuer of `certificate` among the context database's anchors and
 * intermediates (its signature checked).
 *
 * @since 0.1.0
 * @category accessors
 */
export const lookupIssuer = (certificate: Certificate): Effect.Effect<Option.Option<Certificate>, never, TlsDatabase> =>
  Effect.flatMap(TlsDatabase, (database) => database.lookupIssuer(certificate))
