/**
 * TCP transports over `node:net`: `connect`, `listen` (a scoped server running
 * a handler per accepted connection) and `fromSocket` to adapt an existing
 * `net.Socket` or any `Duplex`.
 *
 * Reads are pull-based: the socket stays paused and `socket.read()` is called
 * on demand, so when the consumer stops reading Node's buffer stops at its
 * high-water mark and TCP backpressure reaches the peer. A `write` resolves on
 * Node's write callback (and waits for 'drain' when `write()` reported a full
 * buffer). `shutdownWrite` is `socket.end()` with `allowHalfOpen`, so reading
 * goes on. Closing the scope destroys the socket; pending operations then fail
 * with reason "Closed".
 *
 * @example
 * ```ts
 * import { NodeTransport } from "@effect-tls/node"
 * import { Transport } from "@effect-tls/core"
 * import { Effect, Stream } from "effect"
 *
 * const echoServer = Effect.gen(function*() {
 *   const server = yield* NodeTransport.listen({ port: 0 })
 *   yield* Effect.forkScoped(server.run((t) =>
 *     Transport.stream(t).pipe(Stream.run(Transport.sink(t)), Effect.zipRight(t.shutdownWrite))
 *   ))
 *   const client = yield* NodeTransport.connect({ host: "127.0.0.1", port: server.address.port })
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { TlsConfigError } from "@effect-tls/core/TlsError"
import * as TlsOptions from "@effect-tls/core/TlsOptions"
import type * as Transport from "@effect-tls/core/Transport"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as LogLevel from "effect/LogLevel"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Net from "node:net"
import type { Duplex } from "node:stream"
import * as internal from "./internal/tcp.js"

/**
 * Takes over the `net.Socket` behind a transport made by this module, to hand it to a
 * native implementation (node:tls takes this path when close_notify is not required). The
 * transport's listeners are removed and the transport is consumed: its `read`, `write` and
 * `shutdownWrite` fail with reason "Closed" from then on. Closing the transport's scope
 * still destroys the socket. None when the transport was not made here, was already taken,
 * or its socket is closed or ended.
 *
 * @since 0.1.0
 * @category accessors
 */
export const takeSocket: (transport: Transport.Transport) => Option.Option<Duplex> = internal.takeSocket

/**
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions {
  readonly host: string
  readonly port: number
  /** Fail with reason "OpenTimeout" when the connection is not established in time (default: no limit). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The schema `connect` checks its options against: a host, a port from 1 to 65535, a
 * duration of zero or more.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ConnectOptionsSchema = Schema.Struct({
  host: TlsOptions.Host,
  port: TlsOptions.Port.pipe(Schema.filter((port) => port >= 1, { message: () => "cannot connect to port 0" })),
  timeout: Schema.optional(TlsOptions.DurationInput)
})

/**
 * Opens a TCP connection (half-open allowed). Failures to connect have reason
 * "Open", a timeout "OpenTimeout"; invalid options fail with `TlsConfigError` before
 * anything is opened. Closing the scope destroys the socket.
 *
 * The transport's `description.host` is `options.host` as given (not the address it
 * resolved to): a TLS client over it checks the server's certificate against that name by
 * default, and sends it as SNI when it is a host name.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (
  options: ConnectOptions
): Effect.Effect<Transport.Transport, Transport.TransportError | TlsConfigError, Scope.Scope> =>
  TlsOptions.validateOnceThen(ConnectOptionsSchema, "NodeTransport.connect options", options, internal.connect(options))

/**
 * Adapts an existing `net.Socket` or any `Duplex` (create sockets with
 * `allowHalfOpen: true` if `shutdownWrite` must keep reading). Closing the
 * scope destroys it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSocket: (socket: Net.Socket | Duplex) => Effect.Effect<Transport.Transport, never, Scope.Scope> =
  internal.fromSocket

/**
 * @since 0.1.0
 * @category models
 */
export interface ListenOptions {
  /** default "127.0.0.1" */
  readonly host?: string | undefined
  /** default 0 (any free port) */
  readonly port?: number | undefined
  readonly backlog?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** The level at which a failing handler is logged; default `"Warning"`, `"None"` logs nothing. */
  readonly handlerFailureLogLevel?: LogLevel.Literal | undefined
}

/**
 * A listening TCP server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  /** The bound address (the actual port when listening on port 0). */
  readonly address: { readonly host: string; readonly port: number }
  /**
   * Serves every accepted connection (including those accepted before `run`
   * started) with `handler`, each in its own fiber and its own scope, closed
   * (socket destroyed) when the handler ends. That scope is the handler's `Scope`:
   * what it acquires (a `TlsServer.make` connection) closes with the connection,
   * with no `Effect.scoped` of its own. A failing or dying handler is
   * logged (at `handlerFailureLogLevel`, default Warning, `"None"` for
   * nothing) with its cause and the connection's `remote` address in the log
   * annotations, and affects nothing else. Runs until interrupted;
   * interrupting it interrupts the handlers.
   */
  readonly run: <E, R>(
    handler: (transport: Transport.Transport) => Effect.Effect<void, E, R>,
    options?: RunOptions | undefined
  ) => Effect.Effect<never, never, Exclude<R, Scope.Scope>>
  /** Number of accepted connections that are still open. */
  readonly connections: Effect.Effect<number>
}

/**
 * The schema `listen` checks its options against.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ListenOptionsSchema = Schema.Struct({
  host: Schema.optional(TlsOptions.Host),
  port: Schema.optional(TlsOptions.Port),
  backlog: Schema.optional(TlsOptions.Count(0))
})

/**
 * Listens on `host` (default 127.0.0.1) and `port` (default 0: any free port).
 * Invalid options fail with `TlsConfigError`. Closing the scope closes the listener and
 * destroys every connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const listen = (
  options?: ListenOptions | undefined
): Effect.Effect<Server, Transport.TransportError | TlsConfigError, Scope.Scope> =>
  Effect.zipRight(
    TlsOptions.validate(ListenOptionsSchema, "NodeTransport.listen options", options),
    internal.listen(options)
  )

/**
 * Two transports connected over loopback TCP (127.0.0.1, a fresh listener on
 * a free port): `[client, server]`. Closing the scope closes both and the
 * listener. For tests. Unlike other transports, each end's `shutdownWrite` still
 * half-closes its TCP socket after a TLS engine took the socket over (the native path):
 * a FIN without close_notify, i.e. a truncation as the peer sees it.
 *
 * @since 0.1.0
 * @category testing
 */
export const pairForTest: Effect.Effect<
  readonly [Transport.Transport, Transport.Transport],
  Transport.TransportError,
  Scope.Scope
> = internal.pairForTest
