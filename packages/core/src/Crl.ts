/**
 * Certificate revocation lists (RFC 5280 section 5), consulted by `TlsDatabase` to flag
 * revoked certificates (`CertificateFlags` `Revoked`). This module is `@effect-tls/x509`'s
 * `Crl`, re-exported.
 *
 * @example
 * ```ts
 * import { Crl, TlsDatabase } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * declare const crlPem: string
 * declare const caPem: string
 *
 * const database = Effect.gen(function*() {
 *   const crls = yield* Crl.fromPem(crlPem)
 *   return yield* TlsDatabase.fromPem(caPem, { crls })
 * })
 * ```
 *
 * @since 0.1.0
 */
export * from "@effect-tls/x509/Crl"
