/**
 * Certificate revocation lists (RFC 5280 section 5), consulted by `TlsDatabase` to flag
 * revoked certificates (`CertificateFlags` `Revoked`). This module is `@effect-tls/x509`'s
 * `Crl`, re-exported.
 *
 * @since 0.1.0
 */
export * from "@effect-tls/x509/Crl"
