/**
 * Interop with `@effect/platform`'s `Socket`: a TLS connection as a `Socket`, any `Socket` as
 * a `Transport`, so the rest of the Effect ecosystem runs over TLS unchanged.
 *
 * - `fromTlsConnection` presents a `TlsConnection` as a `Socket.Socket`: `run` delivers the
 *   plaintext and ends cleanly at the peer's close_notify, the `writer` encrypts, and a
 *   `Socket.CloseEvent` (or releasing the writer) sends close_notify while reading goes on;
 * - `toTransport` turns any `Socket.Socket` (a Node socket from `@effect/platform-node`, a
 *   WebSocket, a web stream pair, ...) into a `Transport`, so TLS can run over it;
 * - `fromTransport` presents a raw `Transport` as a `Socket.Socket`.
 *
 * Errors: TLS and transport failures reach the socket's users as
 * `Socket.SocketGenericError` with reason `"Open"` (the handshake), `"Read"` or `"Write"`,
 * and the original `TlsError` / `TransportError` as `cause`. Truncation (the transport ended
 * without close_notify) is such a `"Read"` error with a `TlsGenericError` of reason `"Eof"`
 * as cause; it is deliberately not a `SocketCloseError`, which `@effect/platform` treats as
 * a clean end for codes 1000 and 1006.
 *
 * Handlers: as with `@effect/platform`'s own sockets, an Effect returned by the `run`
 * handler runs in a fiber of its own and its failure fails `run`. Unlike them, at most
 * `handlerConcurrency` such effects run at once (default 1: one after the other, in order)
 * and reading pauses until one ends: that is how a slow handler applies backpressure to
 * the peer. A handler that waits for input still to come must fork, or raise the limit.
 * At the peer's close_notify, `run` waits for the running handlers instead of interrupting
 * them. Call `run` once at a time.
 *
 * @example
 * ```ts
 * import { PlatformSocket, TlsServer } from "@effect-tls/core"
 * import type { CertifiedKey, Transport } from "@effect-tls/core"
 * import * as Socket from "@effect/platform/Socket"
 * import { Effect } from "effect"
 *
 * // an application that only speaks Socket.Socket ...
 * const shout = (socket: Socket.Socket) =>
 *   Effect.gen(function*() {
 *     const write = yield* socket.writer
 *     yield* socket.run((bytes) => write(new TextDecoder().decode(bytes).toUpperCase()))
 *   }).pipe(Effect.scoped)
 *
 * // ... served over TLS
 * const serve = (transport: Transport.Transport, certificate: CertifiedKey.CertifiedKey) =>
 *   Effect.gen(function*() {
 *     const tls = yield* TlsServer.make(transport, { certificate })
 *     yield* shout(PlatformSocket.fromTlsConnection(tls))
 *   }).pipe(Effect.scoped)
 *
 * // and TLS over any platform socket: the client's transport is a Socket
 * // const transport = yield* PlatformSocket.toTransport(yield* NodeSocket.makeNet({ host, port }))
 * // const tls = yield* TlsClient.connect(transport, { serverIdentity: host })
 * ```
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/platformSocket.js"
import type { TlsConnection } from "./TlsConnection.js"
import type * as Transport from "./Transport.js"

/**
 * Options of the sockets made by `fromTlsConnection` and `fromTransport`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SocketOptions {
  /**
   * At most this many Effects returned by the `run` handler run at once; when they are all
   * still running, reading pauses until one ends. Default 1: handler effects run one after
   * the other, in the order of the data.
   */
  readonly handlerConcurrency?: number | undefined
}

/**
 * A TLS connection as an `@effect/platform` `Socket`.
 *
 * - `run` / `runRaw` run the handshake (a failure is a `SocketGenericError` with reason
 *   `"Open"`), call `onOpen`, then hand every chunk of plaintext to the handler; they end
 *   cleanly at the peer's close_notify, once the handler's effects are done. A `TlsError`
 *   while reading (truncation included) fails them with reason `"Read"` and the `TlsError`
 *   as `cause`.
 * - `writer` gives a write function that does not wait for `run`: strings are sent as
 *   UTF-8, a `Socket.CloseEvent` (any code) sends close_notify and half-closes; releasing
 *   the writer's scope does the same on an established connection (as `@effect/platform`'s
 *   Node sockets `end()` theirs), so `Socket.toChannel` closes when its input ends.
 *
 * The socket does not own the connection: closing the connection's scope closes it.
 *
 * @example
 * ```ts
 * import { PlatformSocket } from "@effect-tls/core"
 * import type { TlsConnection } from "@effect-tls/core/TlsConnection"
 * import * as Socket from "@effect/platform/Socket"
 * import { Effect } from "effect"
 *
 * const greet = (tls: TlsConnection) =>
 *   Effect.gen(function*() {
 *     const socket = PlatformSocket.fromTlsConnection(tls)
 *     const write = yield* socket.writer
 *     yield* write("hello\n")
 *     yield* write(new Socket.CloseEvent()) // close_notify; the peer's reply can still come
 *     yield* socket.run((bytes) => Effect.log(new TextDecoder().decode(bytes)))
 *   }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromTlsConnection: (conn: TlsConnection, options?: SocketOptions | undefined) => Socket.Socket =
  internal.fromTlsConnection

/**
 * A `Transport` as an `@effect/platform` `Socket`: as `fromTlsConnection`, with the
 * transport's end of input ending `run`, a `TransportError` as the `cause` of socket
 * errors, and `shutdownWrite` for a `CloseEvent` or the writer's release.
 *
 * @example
 * ```ts
 * import { PlatformSocket } from "@effect-tls/core"
 * import type { Transport } from "@effect-tls/core"
 * import * as Socket from "@effect/platform/Socket"
 * import { Stream } from "effect"
 *
 * // Socket.toChannel: a Stream in, the peer's bytes out
 * const exchange = (transport: Transport.Transport, requests: Stream.Stream<Uint8Array>) =>
 *   requests.pipe(Stream.pipeThroughChannel(Socket.toChannel(PlatformSocket.fromTransport(transport))))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromTransport: (transport: Transport.Transport, options?: SocketOptions | undefined) => Socket.Socket =
  internal.fromTransport

/**
 * Options of `toTransport`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToTransportOptions {
  /**
   * Bytes received from the socket and not yet read from the transport above which the
   * socket's handler is held back (default 64 KiB). See `toTransport` for which sockets
   * that stops.
   */
  readonly highWaterMark?: number | undefined
  /**
   * How `shutdownWrite` signals the end of output:
   *
   * - `"closeEvent"` writes a `Socket.CloseEvent`: the default for sockets made by this
   *   module, for which it is a half-close (TLS: close_notify);
   * - `"writer"` releases the socket's writer: the default for other sockets. A Node socket
   *   of `@effect/platform-node` then `end()`s (TCP FIN), a web stream socket closes its
   *   writable side, a WebSocket does nothing;
   * - `"none"`: nothing reaches the socket until the transport's scope closes.
   *
   * `@effect/platform` sockets stop accepting writes once their `run` has ended, i.e. once
   * their peer ended its output: so a peer that is itself such a socket cannot answer after
   * our `"writer"` half-close. Over TLS, where close_notify already says "no more data",
   * `"none"` keeps half-closed conversations working with such peers. (A `"closeEvent"` on a
   * Node socket destroys it: reading stops too.)
   */
  readonly shutdownWrite?: "closeEvent" | "writer" | "none" | undefined
  /**
   * Which close codes of a `SocketCloseError` from `run` are errors rather than the end of
   * input (default `Socket.defaultCloseCodeIsError`: all but 1000 and 1006). Treating an
   * abnormal close as the end of input is safe under TLS: truncation is detected by the
   * missing close_notify.
   */
  readonly closeCodeIsError?: ((code: number) => boolean) | undefined
  /** Default `{ kind: "platform-socket" }`. */
  readonly description?: Transport.Description | undefined
}

/**
 * Any `@effect/platform` `Socket` as a `Transport`, built with `Transport.make` (so `unread`
 * works), for as long as the scope is open.
 *
 * - `read` pulls from a buffer fed by `socket.runRaw` (strings are encoded as UTF-8); it
 *   returns `Option.none()` when `run` ends cleanly (or with a clean `SocketCloseError`),
 *   and fails with a `TransportError` (reason `"Open"`, `"OpenTimeout"` or `"Read"`, the
 *   `SocketError` as `cause`) when it fails.
 * - Backpressure: once `highWaterMark` bytes wait to be read, the handler returns an Effect
 *   that waits for the reader. Sockets made by this module await it, so a slow reader stops
 *   the peer and memory stays bounded. `@effect/platform`'s own sockets (Node, WebSocket,
 *   web streams) fork handler effects and offer no pause: there the buffer grows with what
 *   the peer sends, as it would inside those sockets.
 * - `write` resolves when the socket's writer does. A socket made elsewhere only writes while
 *   its `run` is active: after it ended, writes fail with reason `"Write"` instead of waiting
 *   forever (and `shutdownWrite` just lets the writer go).
 * - `shutdownWrite`: see `ToTransportOptions.shutdownWrite`.
 * - Closing the scope fails pending reads and writes with reason `"Closed"`, interrupts
 *   `run` (a Node socket of `@effect/platform-node` is then destroyed) and releases the
 *   writer of a socket made elsewhere, without waiting for it. A socket made by this module
 *   is left as it is: what it runs over belongs to another scope.
 *
 * @example
 * ```ts
 * import { PlatformSocket, TlsClient } from "@effect-tls/core"
 * import type * as Socket from "@effect/platform/Socket"
 * import { Effect } from "effect"
 *
 * // TLS over a socket someone else made (a Node socket, a WebSocket tunnel, ...)
 * const connect = (socket: Socket.Socket, host: string) =>
 *   Effect.gen(function*() {
 *     const transport = yield* PlatformSocket.toTransport(socket)
 *     return yield* TlsClient.connect(transport, { serverIdentity: host })
 *   })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const toTransport: (
  socket: Socket.Socket,
  options?: ToTransportOptions | undefined
) => Effect.Effect<Transport.Transport, never, Scope.Scope> = internal.toTransport

/**
 * Whether the socket was made by this module: its writes do not wait for `run`, and a
 * `Socket.CloseEvent` half-closes it (reading goes on).
 *
 * @since 0.1.0
 * @category guards
 */
export const supportsHalfClose: (socket: Socket.Socket) => boolean = internal.supportsHalfClose
