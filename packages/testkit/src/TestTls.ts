/**
 * Ready-made TLS for tests: a client and a server connected over the in-memory pair, with
 * certificates from `TestPki`, running the real Node engine. No sockets, a real handshake.
 *
 * @example
 * ```ts
 * import { TestTls } from "@effect-tls/testkit"
 * import { assert, it, layer } from "@effect/vitest"
 * import { Effect } from "effect"
 *
 * layer(TestTls.layer({ alpn: ["echo/1"] }))((it) => {
 *   it.effect("talks", () =>
 *     Effect.gen(function*() {
 *       const { client, server } = yield* TestTls.TlsPair
 *       yield* client.write(new TextEncoder().encode("ping"))
 *       const received = yield* server.read
 *       assert.isTrue(received._tag === "Some")
 *     }))
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { TlsBackend } from "@effect-tls/core/TlsBackend"
import * as TlsClient from "@effect-tls/core/TlsClient"
import type { TlsError } from "@effect-tls/core/TlsError"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type { Transport } from "@effect-tls/core/Transport"
import * as NodeTlsBackend from "@effect-tls/node/NodeTlsBackend"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as MemoryTransport from "./MemoryTransport.js"
import * as TestPki from "./TestPki.js"

/**
 * A connected pair.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pair {
  readonly client: TlsClient.TlsClientConnection
  readonly server: TlsServer.TlsServerConnection
  readonly clientTransport: Transport
  readonly serverTransport: Transport
  readonly fixture: TestPki.Fixture
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PairOptions {
  /** Extra client options; by default the client trusts the fixture's root and expects `localhost`. */
  readonly client?: TlsClient.ClientOptions | undefined
  /** Extra server options; by default the server presents the fixture's `localhost` certificate. */
  readonly server?: Partial<TlsServer.ServerOptions> | undefined
  /** Both sides' ALPN. */
  readonly alpn?: ReadonlyArray<string> | undefined
  /** Make the transports (default: `MemoryTransport.pair()`). */
  readonly transports?: Effect.Effect<readonly [Transport, Transport], never, Scope.Scope> | undefined
  /** Run the handshake on both sides before returning (default `true`). */
  readonly handshake?: boolean | undefined
}

/**
 * Connects a client and a server, using the `TestPki` fixture in the context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makePair = (
  options: PairOptions = {}
): Effect.Effect<Pair, TlsError, Scope.Scope | TlsBackend | TestPki.TestPki> =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const [clientTransport, serverTransport] = yield* (options.transports ?? MemoryTransport.pair())
    const alpn = options.alpn !== undefined ? { alpn: options.alpn } : {}
    const server = yield* TlsServer.make(serverTransport, {
      certificate: fixture.server.certifiedKey,
      ...alpn,
      ...options.server
    })
    const client = yield* TlsClient.make(clientTransport, {
      serverIdentity: "localhost",
      database: fixture.pki.database,
      ...alpn,
      ...options.client
    })
    if (options.handshake ?? true) {
      yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
    }
    return { client, server, clientTransport, serverTransport, fixture }
  })

/**
 * @since 0.1.0
 * @category tags
 */
export class TlsPair extends Context.Tag("@effect-tls/testkit/TlsPair")<TlsPair, Pair>() {}

/**
 * A layer with a handshaken pair over the memory transport, the Node engine and a fresh
 * test PKI. The connections live as long as the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: PairOptions = {}
): Layer.Layer<TlsPair | TestPki.TestPki | TlsBackend, TlsError | TestPki.TestPkiError> =>
  Layer.scoped(TlsPair, makePair(options)).pipe(
    Layer.provideMerge(Layer.merge(TestPki.layer(), NodeTlsBackend.layer))
  )
