/**
 * A TLS server on TCP as a Layer: `NodeTlsServer.layer(options)` listens and provides core's
 * `TlsServer` service (a handler per connection, each in its own fiber of a `FiberSet`,
 * `maxConnections`, a graceful drain on shutdown, failures logged at Warning with the remote
 * address); `layerSocketServer` provides it as an `@effect/platform` `SocketServer`.
 *
 * Excess connections: at most `maxConnections` are served at once; accepted connections
 * beyond it are **queued** (in order) until one ends, and beyond `maxQueued` more (default
 * 1024) they are **refused** (closed at once). Shutdown (closing the layer): the listener stops
 * accepting (queued connections are closed), live connections get `drainTimeout` (default 10
 * seconds) to finish, then are closed abortively.
 *
 * Go's counterpart is `tls.Listen` + `http.Server.Shutdown`; Node's `tls.createServer` +
 * `server.close()`.
 *
 * @example
 * ```ts
 * import { CertifiedKey, TlsServer } from "@effect-tls/core"
 * import { NodeTlsBackend, NodeTlsServer } from "@effect-tls/node"
 * import { Effect, Layer, Stream } from "effect"
 *
 * const Echo = TlsServer.serve((tls) => tls.stream.pipe(Stream.run(tls.sink))).pipe(
 *   Layer.provide(NodeTlsServer.layer({ port: 8443, certificate, drainTimeout: "5 seconds" })),
 *   Layer.provide(NodeTlsBackend.layer)
 * )
 * // Layer.launch(Echo).pipe(NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 */
import type { TlsBackend } from "@effect-tls/core/TlsBackend"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type { TransportError } from "@effect-tls/core/Transport"
import type { TransportServer } from "@effect-tls/core/TransportServer"
import type * as SocketServer from "@effect/platform/SocketServer"
import * as SocketServerModule from "@effect/platform/SocketServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/listener.js"

/**
 * Where to listen, and the bound of the accept queue.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListenerOptions {
  /** Default `"127.0.0.1"`. */
  readonly host?: string | undefined
  /** Default 0: any free port (read it from `address`). */
  readonly port?: number | undefined
  /** The kernel's accept queue; default 4096 (capped by the system, `net.core.somaxconn`). */
  readonly backlog?: number | undefined
  /** Accepted connections waiting for a free slot beyond this many are refused; default 1024. */
  readonly maxQueued?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends TlsServer.ListenOptions, ListenerOptions {}

/**
 * A TCP `TransportServer` (sockets with no-delay, half-close allowed). `refused` counts the
 * connections closed because the queue was full.
 *
 * @since 0.1.0
 * @category constructors
 */
export const listener: (
  options?: ListenerOptions | undefined
) => Effect.Effect<TransportServer & { readonly refused: Effect.Effect<number> }, TransportError, Scope.Scope> =
  internal.make

/**
 * A TLS server listening on TCP; closing the scope closes the listener.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<TlsServer.Service, TransportError, Scope.Scope | TlsBackend> =>
  Effect.flatMap(internal.make(options), (listener) => TlsServer.makeServer(listener, options))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<TlsServer.TlsServer, TransportError, TlsBackend> =>
  Layer.scoped(TlsServer.TlsServer, make(options))

/**
 * The TLS server as an `@effect/platform` `SocketServer` (see `TlsServer.toSocketServer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSocketServer = (
  options: Options
): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError, TlsBackend> =>
  Layer.scoped(
    SocketServerModule.SocketServer,
    Effect.map(
      Effect.mapError(make(options), (cause) => new SocketServerModule.SocketServerError({ reason: "Open", cause })),
      TlsServer.toSocketServer
    )
  )
