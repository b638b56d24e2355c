/**
 * SHA-224 and SHA-256, synchronous, from `@noble/hashes` (audited, no dependencies, no
 * platform API). A certificate's fingerprints are computed when it is parsed, on the
 * handshake path, where WebCrypto's `digest` (a promise and a thread-pool job per call) costs
 * far more than hashing a few hundred bytes in place; and WebCrypto has no SHA-224, which
 * DSA signatures may use. Public data only (fingerprints, signed bytes): no secret is hashed
 * here.
 *
 * @internal
 */
export { sha224, sha256 } from "@noble/hashes/sha2"
