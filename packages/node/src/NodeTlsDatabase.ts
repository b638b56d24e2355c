/**
 * The system trust store for Node, and PEM files as databases.
 *
 * `system` trusts Node's bundled Mozilla roots (`tls.rootCertificates`) plus the PEM files
 * named by `NODE_EXTRA_CA_CERTS` and `SSL_CERT_FILE` when they are set, and is marked
 * `isSystem: true`. The Node engine hands OpenSSL these anchors for its second opinion, as it
 * does for any database (node's own roots would miss the two variables' additions).
 * `fromFile` builds an ordinary database from a PEM file of anchors.
 *
 * @example
 * ```ts
 * import { NodeTlsDatabase } from "@effect-tls/node"
 * import { TlsDatabase } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * // the system store, as a layer
 * const SystemLive = NodeTlsDatabase.layer
 *
 * // a private CA from a file
 * const PrivateLive = NodeTlsDatabase.layerFromFile("/etc/my-app/ca.pem")
 * ```
 *
 * @since 0.1.0
 */
import * as Certificate from "@effect-tls/core/Certificate"
import * as TlsDatabase from "@effect-tls/core/TlsDatabase"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs/promises"
import * as tls from "node:tls"

/**
 * Reads every `CERTIFICATE` of a PEM file. A missing or unreadable file fails with
 * `CertificateError` (`NotFound`), a malformed one with `InvalidPem` / `InvalidDer`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const readCertificates = (
  path: string
): Effect.Effect<Certificate.CertificateChain, Certificate.CertificateError> =>
  Effect.flatMap(
    Effect.tryPromise({
      try: () => fs.readFile(path, "utf8"),
      catch: (cause) =>
        new Certificate.CertificateError({
          reason: "NotFound",
          detail: `cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        })
    }),
    Certificate.fromPem
  )

/**
 * A database trusting every certificate of a PEM file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFile = (
  path: string,
  options?: Omit<TlsDatabase.FromAnchorsOptions, "isSystem">
): Effect.Effect<TlsDatabase.TlsDatabaseShape, Certificate.CertificateError> =>
  Effect.map(readCertificates(path), (anchors) => TlsDatabase.fromAnchors(anchors, options))

/**
 * @since 0.1.0
 * @category layers
 */
export const layerFromFile = (
  path: string,
  options?: Omit<TlsDatabase.FromAnchorsOptions, "isSystem">
): Layer.Layer<TlsDatabase.TlsDatabase, Certificate.CertificateError> =>
  Layer.effect(TlsDatabase.TlsDatabase, fromFile(path, options))

/**
 * @since 0.1.0
 * @category models
 */
export interface SystemOptions {
  /** Include Node's bundled roots (`tls.rootCertificates`); default `true`. */
  readonly bundled?: boolean | undefined
  /** Where `NODE_EXTRA_CA_CERTS` and `SSL_CERT_FILE` are read; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

const parseAll = (pems: ReadonlyArray<string>) =>
  Effect.map(
    Effect.forEach(pems, (pem) =>
      Effect.option(Certificate.fromPem(pem)).pipe(
        Effect.tap((parsed) =>
          parsed._tag === "None" ? Effect.logWarning("effect-tls: skipping an unreadable bundled root") : Effect.void
        )
      )),
    (results) => results.flatMap((result) => result._tag === "Some" ? result.value : [])
  )

const readOptional = (variable: string, path: string | undefined) =>
  path === undefined || path === ""
    ? Effect.succeed<Certificate.CertificateChain>([])
    : readCertificates(path).pipe(
      Effect.catchAll((error) =>
        Effect.as(Effect.logWarning(`effect-tls: ignoring ${variable}=${path}: ${error.message}`), [])
      )
    )

/**
 * The system store with explicit sources (for tests and unusual setups). Unreadable
 * files named by the environment are skipped with a warning, as Node does.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSystem = (options?: SystemOptions): Effect.Effect<TlsDatabase.TlsDatabaseShape> =>
  Effect.gen(function*() {
    const env = options?.env ?? process.env
    const bundled = options?.bundled === false ? [] : yield* parseAll(tls.rootCertificates)
    const extra = yield* readOptional("NODE_EXTRA_CA_CERTS", env.NODE_EXTRA_CA_CERTS)
    const sslCertFile = yield* readOptional("SSL_CERT_FILE", env.SSL_CERT_FILE)
    const seen = new Set<string>()
    const anchors = [...bundled, ...extra, ...sslCertFile].filter((cert) => {
      if (seen.has(cert.fingerprintSha256)) return false
      seen.add(cert.fingerprintSha256)
      return true
    })
    return TlsDatabase.fromAnchors(anchors, { isSystem: true })
  })

/**
 * The system store: Node's bundled roots, `NODE_EXTRA_CA_CERTS` and `SSL_CERT_FILE`.
 * Parsing the ~150 roots takes a few tens of milliseconds: build it once (the layer
 * does, and so does the Node backend).
 *
 * @since 0.1.0
 * @category constructors
 */
export const system: Effect.Effect<TlsDatabase.TlsDatabaseShape> = makeSystem()

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<TlsDatabase.TlsDatabase> = Layer.effect(TlsDatabase.TlsDatabase, system)
