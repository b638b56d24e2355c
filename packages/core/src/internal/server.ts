/** @internal */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
import type { TlsBackend } from "../TlsBackend.js"
import type { TlsError } from "../TlsError.js"
import type { ListenOptions, Service, TlsServerConnection } from "../TlsServer.js"
import type { Transport, TransportError } from "../Transport.js"
import type { TransportServer } from "../TransportServer.js"

/** @internal */
export const defaultMaxConnections = 4096

/** @internal */
export const defaultDrainTimeout = Duration.seconds(10)

const logAt = (level: LogLevel.Literal, message: string) => (cause: Cause.Cause<unknown>) =>
  level === "None" || Cause.isInterruptedOnly(cause)
    ? Effect.void
    : Effect.logWithLevel(LogLevel.fromLiteral(level), message, cause)

/** @internal */
export const make = (
  listener: TransportServer,
  options: ListenOptions,
  makeConnection: (
    transport: Transport,
    options: ListenOptions
  ) => Effect.Effect<TlsServerConnection, TlsError, Scope.Scope | TlsBackend>
): Effect.Effect<Service, never, TlsBackend> =>
  Effect.gen(function*() {
    const backend = yield* Effect.context<TlsBackend>()
    const maxConnections = Math.max(1, options.maxConnections ?? defaultMaxConnections)
    const drainTimeout = Duration.decode(options.drainTimeout ?? defaultDrainTimeout)
    const logHandshake = logAt(options.handshakeFailureLogLevel ?? "Debug", "TLS handshake failed")
    const logHandler = logAt(options.handlerFailureLogLevel ?? "Warning", "TLS connection handler failed")
    let live = 0

    const run = <E, R>(
      handler: (conn: TlsServerConnection) => Effect.Effect<unknown, E, R>
    ): Effect.Effect<never, TransportError, Exclude<R, Scope.Scope>> =>
      Effect.gen(function*() {
        const fibers = yield* FiberSet.make<unknown, never>()
        const permits = yield* Effect.makeSemaphore(maxConnections)

        const serveOne = (transport: Transport, scope: Scope.CloseableScope) =>
          Effect.gen(function*() {
            const conn = yield* Effect.tapErrorCause(
              Scope.extend(Effect.tap(makeConnection(transport, options), (conn) => conn.handshake), scope),
              logHandshake
            )
            yield* Effect.tapErrorCause(Scope.extend(handler(conn), scope), logHandler)
          }).pipe(
            // the connection closes by the handler's exit: close_notify on success, abortive otherwise
            Effect.onExit((exit) => Scope.close(scope, exit)),
            Effect.annotateLogs({
              module: "TlsServer",
              remote: transport.description.remote ?? "unknown",
              local: transport.description.local ?? "unknown"
            }),
            Effect.catchAllCause(() => Effect.void),
            Effect.interruptible
          )

        const acceptOne = Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            yield* restore(permits.take(1))
            const scope = yield* Scope.make()
            const release = Effect.sync(() => {
              live--
            }).pipe(Effect.zipRight(permits.release(1)))
            const transport = yield* restore(Scope.extend(listener.accept, scope)).pipe(
              Effect.onError((cause) => Effect.zipRight(Scope.close(scope, Exit.failCause(cause)), permits.release(1)))
            )
            live++
            yield* FiberSet.run(fibers, Effect.ensuring(serveOne(transport, scope), release))
          })
        )

        const drain = Effect.zipRight(
          listener.stopAccepting,
          Effect.ignore(Effect.timeout(Effect.interruptible(FiberSet.awaitEmpty(fibers)), drainTimeout))
        )
        // once drained (or out of time), closing the scope interrupts what is left: abortive closes
        return yield* Effect.onInterrupt(Effect.forever(acceptOne), () => drain)
      }).pipe(
        Effect.scoped,
        // (the backend once, for the accepting fiber: every connection's fiber inherits it)
        Effect.provide(backend)
      ) as Effect.Effect<never, TransportError, Exclude<R, Scope.Scope>>

    return {
      address: listener.address,
      run,
      connections: Effect.sync(() => live)
    } satisfies Service
  })
