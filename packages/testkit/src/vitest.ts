/**
 * The vitest side of the testkit: the conformance suites, written with `@effect/vitest`
 * (an optional peer dependency of this package). Import this entry from test files only;
 * the main entry (`@effect-tls/testkit`) never loads vitest, so `MemoryTransport`,
 * `TestPki` and `TestTls` work in any program.
 *
 * @example
 * ```ts
 * import { MemoryTransport } from "@effect-tls/testkit"
 * import { TransportSuite } from "@effect-tls/testkit/vitest"
 *
 * TransportSuite.run("memory, 1-byte chunks", MemoryTransport.pair({ chunkSize: 1 }))
 * ```
 *
 * @since 0.1.0
 */

/**
 * The TLS conformance suite: the contract of `TlsClient` / `TlsServer` connections, written
 * once and run over any pair of connected transports (the in-memory pair, loopback TCP,
 * anything a user plugs in) and any `TlsBackend`. Real handshakes, real certificates from
 * `TestPki`.
 *
 * @since 0.1.0
 */
export * as TlsSuite from "./TlsSuite.js"

/**
 * The transport conformance suite: the contract every `Transport` must keep,
 * written once and run over any pair of connected transports (the in-memory
 * pair, loopback TCP, anything a user plugs in).
 *
 * @since 0.1.0
 */
export * as TransportSuite from "./TransportSuite.js"
