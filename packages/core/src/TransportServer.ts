/**
 * A `TransportServer` accepts transports: the listening half of a `Transport` backend (a TCP
 * listener in `@effect-tls/node`, an in-memory one in the testkit). `TlsServer.makeServer`
 * serves TLS over any of them.
 *
 * `accept` is pull-based: a server at its connection limit stops pulling, and accepted
 * connections wait in the listener's queue (which the listener bounds).
 *
 * @example
 * ```ts
 * import { TlsServer } from "@effect-tls/core"
 * import { NodeTlsServer } from "@effect-tls/node"
 * import { Effect, Layer, Stream } from "effect"
 *
 * // an echo server on TCP port 8443, for the lifetime of the layer
 * const EchoLive = TlsServer.serve((tls) => tls.stream.pipe(Stream.run(tls.sink))).pipe(
 *   Layer.provide(NodeTlsServer.layer({ port: 8443, certificate }))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type * as SocketServer from "@effect/platform/SocketServer"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { Transport } from "./Transport.js"
import { TransportError } from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface TransportServer {
  /** Where it listens (`@effect/platform`'s `SocketServer.Address`). */
  readonly address: SocketServer.Address
  /**
   * Waits for the next accepted connection; the transport belongs to the caller's scope.
   * Fails with reason `"Closed"` once the listener stopped.
   */
  readonly accept: Effect.Effect<Transport, TransportError, Scope.Scope>
  /** Stops accepting new connections; those already accepted are not affected. */
  readonly stopAccepting: Effect.Effect<void>
}

/**
 * A `TransportServer` fed by a queue (tests, in-process servers): each transport offered is
 * accepted once; closing the caller's scope does not close it (its maker owns it).
 * After `stopAccepting`, `accept` fails with reason `"Closed"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromQueue = (
  address: SocketServer.Address,
  queue: Queue.Dequeue<Transport>
): TransportServer => {
  const stopped = Deferred.unsafeMake<never, TransportError>(FiberId.none)
  return {
    address,
    accept: Effect.raceFirst(Deferred.await(stopped), Queue.take(queue)),
    stopAccepting: Effect.asVoid(
      Deferred.fail(stopped, new TransportError({ reason: "Closed", description: { kind: "queue" } }))
    )
  }
}

/**
 * The address as text (`host:port`, or the Unix socket's path).
 *
 * @since 0.1.0
 * @category utils
 */
export const formatAddress = (address: SocketServer.Address): string =>
  address._tag === "UnixAddress"
    ? address.path
    : address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`

/**
 * `Option.some` of the TCP port, when the address has one.
 *
 * @since 0.1.0
 * @category utils
 */
export const port = (address: SocketServer.Address): Option.Option<number> =>
  address._tag === "TcpAddress" ? Option.some(address.port) : Option.none()
