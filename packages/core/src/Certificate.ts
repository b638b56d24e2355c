/**
 * X.509 certificates, Gio's `GTlsCertificate` (the certificate half; the key half is
 * `PrivateKey` and the pair is `CertifiedKey`). This module is `@effect-tls/x509`'s
 * `Certificate`, re-exported.
 *
 * @since 0.1.0
 */
export * from "@effect-tls/x509/Certificate"
