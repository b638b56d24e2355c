/**
 * @since 0.1.0
 */

/**
 * X.509 certificates, Gio's `GTlsCertificate` (the certificate half; the key half is
 * `PrivateKey` and the pair is `CertifiedKey`).
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
 * Certificate revocation lists (RFC 5280 section 5), consulted by `TlsDatabase` to flag
 * revoked certificates (`CertificateFlags` `Revoked`).
 *
 * @since 0.1.0
 */
export * as Crl from "./Crl.js"

/**
 * The one strict DER reader (and small writer) of effect-tls, with PEM, base64 and hex
 * helpers. Readers throw `DerError` on anything that is not minimal, definite-length DER;
 * callers at a public boundary turn it into a typed error.
 *
 * @since 0.1.0
 */
export * as Der from "./Der.js"

/**
 * Private keys: PKCS#8 (also encrypted with PBES2), and the legacy `RSA PRIVATE KEY` /
 * `EC PRIVATE KEY` forms. The key material is `Redacted`. Reading is pure: the password of
 * an encrypted key is an argument, and a missing or wrong one is a typed
 * `PrivateKeyPasswordError` (`@effect-tls/core`'s `PrivateKey.fromPem` adds the variant
 * that asks the `TlsInteraction` service).
 *
 * @since 0.1.0
 */
export * as PrivateKey from "./PrivateKey.js"

/**
 * RFC 5280 certification path building and validation, usable without any TLS connection
 * (`@effect-tls/core`'s `TlsDatabase` builds on it).
 *
 * @since 0.1.0
 */
export * as Verifier from "./Verifier.js"

/**
 * The web platform effect-tls calls, typed without the DOM lib so that published declarations
 * stand alone (a consumer compiles with `lib: ["ES2022"]`): WebCrypto's `subtle` (the subset
 * effect-tls uses) and the WHATWG text codecs, read from `globalThis` (`crypto` lazily). Every
 * supported runtime (Node ≥ 20, Bun, Deno, browsers, workers) has them. `@effect-tls/core`
 * uses these too, so there is one typed copy.
 *
 * @since 0.1.0
 */
export * as WebCrypto from "./WebCrypto.js"

/**
 * The errors of `@effect-tls/x509`, in a leaf module so that every other module (public or
 * internal) can use them without an import cycle.
 *
 * @since 0.1.0
 */
export * as X509Error from "./X509Error.js"
