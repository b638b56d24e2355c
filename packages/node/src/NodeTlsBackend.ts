/**
 * The Node engine: node:tls (OpenSSL) running over **any** `Transport` through one fast
 * Duplex bridge. Provide `NodeTlsBackend.layer` and use `TlsClient` / `TlsServer` from core.
 *
 * The default `TlsDatabase` is the system store (`NodeTlsDatabase.system`: Node's bundled
 * roots, `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`). Verification is fail-closed: OpenSSL's
 * verdict and the complete verifier of core must both accept a chain (or the
 * `AcceptCertificate` policy decide otherwise).
 *
 * @example
 * ```ts
 * import { TlsClient } from "@effect-tls/core"
 * import { NodeTlsBackend, NodeTransport } from "@effect-tls/node"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const transport = yield* NodeTransport.connect({ host: "example.com", port: 443 })
 *   const tls = yield* TlsClient.connect(transport, { serverIdentity: "example.com" })
 *   return yield* tls.handshake
 * }).pipe(Effect.scoped, Effect.provide(NodeTlsBackend.layer))
 * ```
 *
 * @since 0.1.0
 */
import * as SessionCache from "@effect-tls/core/SessionCache"
import { TlsBackend } from "@effect-tls/core/TlsBackend"
import type { TlsBackendShape } from "@effect-tls/core/TlsBackend"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as acceptedCas from "./internal/acceptedCas.js"
import * as client from "./internal/client.js"
import * as internals from "./internal/nodeInternals.js"
import { SecureContextCache } from "./internal/secureContexts.js"
import * as server from "./internal/server.js"
import * as tcp from "./internal/tcp.js"
import * as NodeTlsDatabase from "./NodeTlsDatabase.js"

/**
 * A Node backend. Each backend keeps its own cache of OpenSSL contexts, and its own
 * in-memory `SessionCache` (single-use tickets) for clients given no `SessionCache` service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<TlsBackendShape> = Effect.gen(function*() {
  const cache = new SecureContextCache()
  const defaultDatabase = yield* Effect.cached(NodeTlsDatabase.system)
  const sessionCache = SessionCache.makeMemory()
  return {
    name: "node",
    defaultDatabase,
    sessionCache,
    choosesTicketKeys: internals.canChooseTicketKeys(),
    client: (config) => client.makeClient(cache, config, sessionCache),
    server: (config) => server.makeServer(cache, config),
    connectTcp: tcp.connect
  }
})

/**
 * Whether a client records the CA names of a TLS 1.3 server's CertificateRequest
 * (`HandshakeInfo.acceptedCas`, and `TlsCertificateRequiredError.acceptedCas`) when nothing
 * else makes them matter. node:tls has no API for them: on TLS 1.3 the engine decrypts the
 * server's handshake flight to read them, so it does so only when a certificate request can
 * matter: the client has a `certificate`, a `TlsInteraction` that answers `requestCertificate`
 * is in the Context, or this reference is `true`. Otherwise a TLS 1.3 client reports
 * `acceptedCas: none`. TLS 1.2's CertificateRequest travels in clear and is always read; the
 * native path (`requireCloseNotify: false`) sees no handshake bytes and never reports them.
 *
 * @example
 * ```ts
 * import { TlsClient } from "@effect-tls/core"
 * import { NodeTlsBackend } from "@effect-tls/node"
 * import { Effect } from "effect"
 *
 * const acceptedCas = TlsClient.connectTcp({ host: "example.com", port: 443 }).pipe(
 *   Effect.flatMap((tls) => tls.handshake),
 *   Effect.map((info) => info.acceptedCas),
 *   Effect.provideService(NodeTlsBackend.RecordAcceptedCas, true),
 *   Effect.scoped,
 *   Effect.provide(NodeTlsBackend.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category references
 */
export const RecordAcceptedCas: typeof acceptedCas.RecordAcceptedCas = acceptedCas.RecordAcceptedCas

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<TlsBackend> = Layer.effect(TlsBackend, make)
