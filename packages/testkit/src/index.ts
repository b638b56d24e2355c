/**
 * @since 0.1.0
 */

/**
 * Two connected in-memory `Transport`s: each direction is a bounded buffer with
 * real backpressure, half-close, configurable chunking (down to 1 byte) and
 * fault injection (drop, reset, corruption, truncation, delay, stall).
 *
 * @since 0.1.0
 */
export * as MemoryTransport from "./MemoryTransport.js"

/**
 * A test PKI generated at test time, in memory, in the spirit of Python's `trustme`: a root
 * CA, intermediates, server and client certificates for given DNS names and IP addresses,
 * and every broken variant a verifier must catch (expired, not yet valid, wrong EKU, SHA-1,
 * RSA-1024, CA:false issuers, path length violations, revocation through CRLs).
 *
 * @since 0.1.0
 */
export * as TestPki from "./TestPki.js"

/**
 * Ready-made TLS for tests: a client and a server connected over the in-memory pair, with
 * certificates from `TestPki`, running the real Node engine. No sockets, a real handshake.
 *
 * @since 0.1.0
 */
export * as TestTls from "./TestTls.js"
