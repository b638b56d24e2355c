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
 * Pairs a chain with a key **without checking** that the key is the leaf's: a mismatch then
 * surfaces only when a peer handshakes. Prefer `make`; this is for pairs known to match
 * (e.g. generated together).
 *
 * @since 0.1.0
 * @category unsafe
 */
export const unsafeMake = (chain: Certificate.CertificateChain, key: PrivateKey.PrivateKey): CertifiedKey => ({
  chain,
  key
})

/**
 * Pairs a chain with its leaf's private key, checking them: an empty chain fails with reason
 * `NotFound`, a key that is not the leaf's (the certificate's SubjectPublicKeyInfo compared
 * with the key's public part, through WebCrypto) with reason `KeyMismatch`. RSA, EC and
 * Ed25519 keys are checked; other key types are not.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  chain: Certificate.CertificateChain,
  key: PrivateKey.PrivateKey
): Effect.Effect<CertifiedKey, Certificate.CertificateError> => validate(chain, key)

/**
 * The check behind `make` (kept under this name too).
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
        ? Effect.succeed(unsafeMake(chain, key))
        : Effect.fail(
          new Certificate.CertificateError({
            reason: "KeyMismatch",
            detail:
              `the private key is not the key of the certificate ${leaf.subject.text}: its public part differs from the certificate's SubjectPublicKeyInfo`
          })
        )
  )
}

/**
 * Reads a chain and its key from PEM text (both may be in one text), then `validate`s
 * them: an empty chain (`NotFound`) or a key that is not the leaf's (`KeyMismatch`) fails
 * with `CertificateError`.
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
