/**
 * A certificate chain together with the private key of its leaf: what a server
 * presents, or a client presents when asked (Gio's `GTlsCertificate` with a key).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Certificate from "./Certificate.js"
import * as PrivateKey from "./PrivateKey.js"
import type { TlsBadCertificatePasswordError } from "./TlsError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface CertifiedKey {
  /** Leaf first, then the intermediates to send (normally not the root). */
  readonly chain: Certificate.CertificateChain
  readonly key: PrivateKey.PrivateKey
}

/**
 * Pairs a chain with a key without checking them (see `validate`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (chain: Certificate.CertificateChain, key: PrivateKey.PrivateKey): CertifiedKey => ({ chain, key })

/**
 * Checks that the chain is not empty and that the key belongs to the leaf (for RSA, EC
 * and Ed25519 keys; other key types are not checked).
 *
 * @since 0.1.0
 * @category constructors
 */
export const validate = (
  chain: Certificate.CertificateChain,
  key: PrivateKey.PrivateKey
): Effect.Effect<CertifiedKey, Certificate.CertificateError> => {
  const leaf = chain[0]
  if (leaf === undefined) {
    return Effect.fail(
      new Certificate.CertificateError({ reason: "NotFound", detail: "the certificate chain is empty" })
    )
  }
  return Effect.flatMap(
    Effect.suspend(() => PrivateKey.matchesCertificate(key, leaf)),
    (matches) =>
      matches
        ? Effect.succeed(make(chain, key))
        : Effect.fail(
          new Certificate.CertificateError({
            reason: "InvalidPem",
            detail: `the private key does not match the certificate ${leaf.subject.text}`
          })
        )
  )
}

/**
 * Reads a chain and its key from PEM text (both may be in one text), then `validate`s
 * them: an empty chain or a key that is not the leaf's fails with `CertificateError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPem = (
  certificatePem: string,
  keyPem: string,
  options?: { readonly password?: Redacted.Redacted<string> | string | undefined }
): Effect.Effect<
  CertifiedKey,
  Certificate.CertificateError | TlsBadCertificatePasswordError
> =>
  Effect.flatMap(
    Effect.zip(Certificate.fromPem(certificatePem), PrivateKey.fromPem(keyPem, options)),
    ([chain, key]) => validate(chain, key)
  )
