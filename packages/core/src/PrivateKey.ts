/**
 * Private keys: PKCS#8 (also encrypted with PBES2), and the legacy `RSA PRIVATE KEY` /
 * `EC PRIVATE KEY` forms. The key material is `Redacted`. The password of an encrypted key
 * comes from the caller or the `TlsInteraction` service; a wrong one is a typed
 * `TlsBadCertificatePasswordError`.
 *
 * @example
 * ```ts
 * import { PrivateKey, TlsInteraction } from "@effect-tls/core"
 * import { Effect, Option, Redacted } from "effect"
 *
 * declare const encryptedPem: string
 *
 * const key = PrivateKey.fromPem(encryptedPem).pipe(
 *   Effect.provide(TlsInteraction.layer(TlsInteraction.make({
 *     askPassword: () => Effect.succeed(Option.some(Redacted.make(process.env.KEY_PASSWORD ?? "")))
 *   })))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { CertificateError } from "./Certificate.js"
import * as internal from "./internal/x509/privateKey.js"
import type { TlsBadCertificatePasswordError } from "./TlsError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-tls/core/PrivateKey")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A decrypted private key. The key material is `Redacted`: it never shows in logs.
 *
 * @since 0.1.0
 * @category models
 */
export interface PrivateKey {
  readonly [TypeId]: TypeId
  readonly algorithm: "RSA" | "RSA-PSS" | "EC" | "Ed25519" | "Ed448" | "unknown"
  /** Unencrypted PKCS#8 PrivateKeyInfo, DER. */
  readonly pkcs8: Redacted.Redacted<Uint8Array>
}

/**
 * Reads a PEM private key: `PRIVATE KEY` (PKCS#8), `ENCRYPTED PRIVATE KEY` (PKCS#8 with
 * PBES2), and the legacy `RSA PRIVATE KEY` / `EC PRIVATE KEY`. A password for an
 * encrypted key comes from `options.password` or else from the `TlsInteraction`
 * service; a wrong one fails with `TlsBadCertificatePasswordError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPem = (
  pem: string,
  options?: { readonly password?: Redacted.Redacted<string> | string | undefined }
): Effect.Effect<PrivateKey, CertificateError | TlsBadCertificatePasswordError> => internal.fromPem(pem, options)

/**
 * The unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), redacted.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toPem = (self: PrivateKey): Redacted.Redacted<string> => internal.toPem(self)

/**
 * Reads an unencrypted PKCS#8 `PrivateKeyInfo` from DER.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPkcs8Der = (der: Uint8Array): Effect.Effect<PrivateKey, CertificateError> => internal.fromPkcs8Der(der)
