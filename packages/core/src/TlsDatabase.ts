/**
 * `TlsDatabase`, Gio's `GTlsDatabase`: the trust anchors (and known intermediates and
 * CRLs) against which peer chains are verified, and the verifier itself.
 *
 * `verifyChain` returns the **complete** set of `CertificateFlags`: every problem, not
 * just the first, which is what makes `AcceptCertificate` policies safe to write.
 *
 * Verification follows RFC 5280 (path building through unordered and superfluous
 * certificates, alternative paths, bounded work), the CA/Browser Forum profile where it
 * is stricter, and RFC 6125 for host names (left-most-label wildcards, IP SANs, no
 * common-name fallback). See the package README for the limbo conformance score.
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
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { Certificate, CertificateChain, CertificateError } from "./Certificate.js"
import * as CertificateModule from "./Certificate.js"
import type { CertificateFlags } from "./CertificateFlags.js"
import * as Crl from "./Crl.js"
import { parsed } from "./internal/x509/certificate.js"
import * as Signature from "./internal/x509/signature.js"
import * as Verify from "./internal/x509/verify.js"

/**
 * What a chain is verified for: `"server"` checks a server's chain (serverAuth EKU),
 * `"client"` a client's (clientAuth EKU).
 *
 * @since 0.1.0
 * @category models
 */
export type Purpose = "server" | "client"

/**
 * @since 0.1.0
 * @category models
 */
export interface VerifyOptions {
  readonly purpose: Purpose
  /** Host name or IP address the leaf must match; no identity check when absent. */
  readonly identity?: string | undefined
  /** Verification time; defaults to the `Clock`'s now. */
  readonly time?: Date | undefined
}

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
  /** CRLs (parsed, or DER); a DER CRL that cannot be parsed is ignored. */
  readonly crls?: ReadonlyArray<Crl.Crl | Uint8Array> | undefined
  /** The maximum number of intermediates in a path (self-issued ones not counted). */
  readonly maxIntermediates?: number | undefined
  /** Marks the platform's default store (see `TlsDatabaseShape.isSystem`); default `false`. */
  readonly isSystem?: boolean | undefined
}

const toCrls = (crls: ReadonlyArray<Crl.Crl | Uint8Array>) => {
  const out: Array<Crl.Crl> = []
  for (const crl of crls) {
    if (Crl.isCrl(crl)) out.push(crl)
    else {
      try {
        out.push(Crl.unsafeFromDer(crl))
      } catch {
        // an unreadable CRL revokes nothing; use Crl.fromDer to be told about it
      }
    }
  }
  return out
}

/**
 * A database trusting `anchors`. Anchors are parsed and indexed once, so verifying a
 * short chain costs a few signature checks.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromAnchors = (anchors: ReadonlyArray<Certificate>, options?: FromAnchorsOptions): TlsDatabaseShape => {
  const store = Verify.makeStore(
    anchors,
    options?.intermediates ?? [],
    toCrls(options?.crls ?? []).map(Crl.parsed),
    options?.maxIntermediates
  )
  const lookupIssuer = (certificate: Certificate): Effect.Effect<Option.Option<Certificate>> =>
    Effect.promise(async () => {
      const child = parsed(certificate).x509
      const candidates = [
        ...(store.anchorsBySubject.get(child.issuer.key) ?? []),
        ...(store.intermediatesBySubject.get(child.issuer.key) ?? [])
      ]
      for (const candidate of candidates) {
        const outcome = await Signature.verify(parsed(candidate), child.signatureAlgorithm, child.tbs, child.signature)
        if (outcome._tag === "Valid") return Option.some(candidate)
      }
      return Option.none()
    })
  return {
    anchors,
    isSystem: options?.isSystem ?? false,
    verifyChain: (chain, verifyOptions) =>
      Effect.flatMap(
        verifyOptions.time === undefined ? Clock.currentTimeMillis : Effect.succeed(verifyOptions.time.getTime()),
        (time) =>
          Effect.promise(() =>
            Verify.verifyChain(store, chain, {
              purpose: verifyOptions.purpose,
              identity: verifyOptions.identity,
              time
            })
          )
      ),
    lookupIssuer
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
