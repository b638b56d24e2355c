/**
 * X.509 certificates, Gio's `GTlsCertificate` (the certificate half).
 *
 * @since 0.1.0
 */
export * as Certificate from "./Certificate.js"

/**
 * The problems found with a certificate chain, Gio's `GTlsCertificateFlags`.
 *
 * @since 0.1.0
 */
export * as CertificateFlags from "./CertificateFlags.js"

/**
 * Certificate revocation lists (RFC 5280 section 5).
 *
 * @since 0.1.0
 */
export * as Crl from "./Crl.js"

/**
 * The one strict DER reader and writer, PEM and hex helpers.
 *
 * @since 0.1.0
 */
export * as Der from "./Der.js"

/**
 * Private keys (PKCS#8, encrypted PKCS#8, legacy RSA / EC), read purely.
 *
 * @since 0.1.0
 */
export * as PrivateKey from "./PrivateKey.js"

/**
 * RFC 5280 path building and validation.
 *
 * @since 0.1.0
 */
export * as Verifier from "./Verifier.js"

/**
 * The errors of the package.
 *
 * @since 0.1.0
 */
export * as X509Error from "./X509Error.js"
