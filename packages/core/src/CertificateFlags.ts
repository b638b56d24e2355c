/**
 * The problems found with a certificate chain, Gio's `GTlsCertificateFlags`. This module is
 * `@effect-tls/x509`'s `CertificateFlags`, re-exported.
 *
 * @since 0.1.0
 */
export * from "@effect-tls/x509/CertificateFlags"
