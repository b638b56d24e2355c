/**
 * Private keys: PKCS#8 (also encrypted with PBES2), and the legacy `RSA PRIVATE KEY` /
 * `EC PRIVATE KEY` forms. The key material is `Redacted`. Reading is pure: the password of
 * an encrypted key is an argument, and a missing or wrong one is a typed
 * `PrivateKeyPasswordError` (`@effect-tls/core`'s `PrivateKey.fromPem` adds the variant
 * that asks the `TlsInteraction` service).
 *
 * @example
 * ```ts
 * import { PrivateKey } from "@effect-tls/x509"
 * import { Redacted } from "effect"
 *
 * declare const encryptedPem: string
 *
 * const key = PrivateKey.fromPem(encryptedPem, { password: Redacted.make(process.env.KEY_PASSWORD ?? "") })
 * ```
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { Certificate } from "./Certificate.js"
import * as internalCertificate from "./internal/certificate.js"
import * as internal from "./internal/privateKey.js"
import type { CertificateError, PrivateKeyPasswordError } from "./X509Error.js"

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
 * PBES2), and the legacy `RSA PRIVATE KEY` / `EC PRIVATE KEY`. The password of an
 * encrypted key is `options.password`; without one, or with a wrong one, it fails with
 * `PrivateKeyPasswordError` (`reason` `"Missing"` or `"Wrong"`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPem = (
  pem: string,
  options?: { readonly password?: Redacted.Redacted<string> | string | undefined }
): Effect.Effect<PrivateKey, CertificateError | PrivateKeyPasswordError> => internal.fromPem(pem, options)

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

/**
 * Whether `self` is the private half of `certificate`'s public key: `false` only when both
 * could be read and they differ (a key type WebCrypto cannot read is not checked).
 *
 * @since 0.1.0
 * @category predicates
 */
export const matchesCertificate = (self: PrivateKey, certificate: Certificate): Effect.Effect<boolean> => {
  const x = internalCertificate.x509(certificate)
  return internal.matchesPublicKey(self, x.spki, x.publicKey.curve)
}

export {
  /**
   * @since 0.1.0
   * @category errors
   */
  PrivateKeyPasswordError
} from "./X509Error.js"
