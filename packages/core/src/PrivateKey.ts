/**
 * Private keys: PKCS#8 (also encrypted with PBES2), and the legacy `RSA PRIVATE KEY` /
 * `EC PRIVATE KEY` forms, from `@effect-tls/x509`. The key material is `Redacted`. Here
 * `fromPem` adds the prompting variant: the password of an encrypted key comes from the
 * caller or else from the `TlsInteraction` service; a wrong one is a typed
 * `TlsBadCertificatePasswordError`. (`@effect-tls/x509`'s own `fromPem` is pure.)
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
import * as X509PrivateKey from "@effect-tls/x509/PrivateKey"
import type { CertificateError } from "@effect-tls/x509/X509Error"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { TlsBadCertificatePasswordError } from "./TlsError.js"
import { TlsInteraction } from "./TlsInteraction.js"

/**
 * `@effect-tls/x509`'s `PrivateKey`: the model, `fromDer`, `toPem`, and the errors.
 *
 * @since 0.1.0
 */
export * from "@effect-tls/x509/PrivateKey"

const MaxAttempts = 3

/**
 * Reads a PEM private key: `PRIVATE KEY` (PKCS#8), `ENCRYPTED PRIVATE KEY` (PKCS#8 with
 * PBES2), and the legacy `RSA PRIVATE KEY` / `EC PRIVATE KEY`. A password for an
 * encrypted key comes from `options.password` or else from the `TlsInteraction`
 * service (asked up to three times); a wrong one fails with `TlsBadCertificatePasswordError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPem = (
  pem: string,
  options?: { readonly password?: Redacted.Redacted<string> | string | undefined }
): Effect.Effect<X509PrivateKey.PrivateKey, CertificateError | TlsBadCertificatePasswordError> => {
  const given = options?.password
  if (given !== undefined) {
    return X509PrivateKey.fromPem(pem, { password: given }).pipe(
      Effect.catchTag(
        "PrivateKeyPasswordError",
        (e) => Effect.fail(new TlsBadCertificatePasswordError({ detail: e.detail }))
      )
    )
  }
  const attempt = (
    n: number
  ): Effect.Effect<X509PrivateKey.PrivateKey, CertificateError | TlsBadCertificatePasswordError> =>
    Effect.flatMap(
      TlsInteraction,
      (interaction) =>
        Effect.flatMap(interaction.askPassword({ description: "private key", retry: n > 0 }), (answer) =>
          Option.match(answer, {
            onNone: () =>
              Effect.fail(
                new TlsBadCertificatePasswordError({
                  detail: n === 0
                    ? "the private key is encrypted and no password was given"
                    : "wrong password for the private key"
                })
              ),
            onSome: (password) =>
              X509PrivateKey.fromPem(pem, { password }).pipe(
                Effect.catchTag("PrivateKeyPasswordError", (e) =>
                  n + 1 < MaxAttempts
                    ? attempt(n + 1)
                    : Effect.fail(new TlsBadCertificatePasswordError({ detail: e.detail })))
              )
          }))
    )
  return X509PrivateKey.fromPem(pem).pipe(
    Effect.catchTag("PrivateKeyPasswordError", (e) =>
      e.reason === "Missing"
        ? attempt(0)
        : Effect.fail(new TlsBadCertificatePasswordError({ detail: e.detail })))
  )
}
