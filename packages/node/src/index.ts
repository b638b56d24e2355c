/**
 * @since 0.1.0
 */

/**
 * A `KeyLog` writing the `SSLKEYLOGFILE` format to a file (appended, created with mode 0600),
 * for Wireshark / tshark. Only for debugging: the file decrypts every connection it logs.
 *
 * @since 0.1.0
 */
export * as NodeKeyLog from "./NodeKeyLog.js"

/**
 * The Node engine: node:tls (OpenSSL) running over **any** `Transport` through one fast
 * Duplex bridge. Provide `NodeTlsBackend.layer` and use `TlsClient` / `TlsServer` from core.
 *
 * @since 0.1.0
 */
export * as NodeTlsBackend from "./NodeTlsBackend.js"

/**
 * The system trust store for Node, and PEM files as databases.
 *
 * @since 0.1.0
 */
export * as NodeTlsDatabase from "./NodeTlsDatabase.js"

/**
 * A TLS server on TCP as a Layer: `NodeTlsServer.layer(options)` listens and provides core's
 * `TlsServer` service (a handler per connection, each in its own fiber of a `FiberSet`,
 * `maxConnections`, a graceful drain on shutdown, failures logged at Warning with the remote
 * address); `layerSocketServer` provides it as an `@effect/platform` `SocketServer`.
 *
 * @since 0.1.0
 */
export * as NodeTlsServer from "./NodeTlsServer.js"

/**
 * TCP transports over `node:net`: `connect`, `listen` (a scoped server running
 * a handler per accepted connection) and `fromSocket` to adapt an existing
 * `net.Socket` or any `Duplex`.
 *
 * @since 0.1.0
 */
export * as NodeTransport from "./NodeTransport.js"
