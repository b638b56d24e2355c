/** @internal */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as FiberSet from "effect/FiberSet"
import * as HashMap from "effect/HashMap"
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

/** A context without its `Scope` (the runtime of the connections' fibers, whose own scope goes in at once). */
const withoutScope = <R>(context: Context.Context<R | Scope.Scope>): Context.Context<R> =>
  Context.omit(Scope.Scope)(context) as Context.Context<R>

/**
 * A connection fiber's refs, set when it is forked (`updateRefs`: no Effect step): its scope
 * in the context, and the log annotations (module, remote and local address).
 */
const connectionRefs =
  (transport: Transport, scope: Scope.Scope) =>
  (refs: FiberRefs.FiberRefs, fiberId: FiberId.Runtime): FiberRefs.FiberRefs =>
    FiberRefs.updateManyAs(refs, {
      forkAs: fiberId,
      entries: [
        [FiberRef.currentContext, [[
          fiberId,
          Context.add(FiberRefs.getOrDefault(refs, FiberRef.currentContext), Scope.Scope, scope)
        ]]],
        [FiberRef.currentLogAnnotations, [[
          fiberId,
          HashMap.set(
            HashMap.set(
              HashMap.set(FiberRefs.getOrDefault(refs, FiberRef.currentLogAnnotations), "module", "TlsServer"),
              "remote",
              transport.description.remote ?? "unknown"
            ),
            "local",
            transport.description.local ?? "unknown"
          )
        ]]]
      ]
    })

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
        // (taken in an uninterruptible region: every connection's fiber starts uninterruptible,
        // so its scope always closes and its slot is always freed; without `run`'s own Scope in
        // its context, which each connection's replaces at the fork: a context of another size
        // is told apart at once, where one of the same size is compared service by service)
        const runFork = yield* Effect.uninterruptible(
          Effect.mapInputContext(
            FiberSet.runtime(fibers)<Exclude<R, Scope.Scope> | TlsBackend>(),
            withoutScope<Exclude<R, Scope.Scope> | TlsBackend>
          )
        )
        /** A connection's end: its slot freed (one Effect for every connection). */
        const release = Effect.zipRight(
          Effect.sync(() => {
            live--
          }),
          permits.release(1)
        )

        /**
         * One connection, the whole of its own fiber (forked uninterruptible by `acceptOne`, its
         * scope and log annotations set at the fork by `connectionRefs`): the handshake and the
         * handler run interruptibly, and the exit closes the scope (close_notify on success,
         * abortive otherwise), then frees the slot. While the handler runs, this keeps two
         * frames on the fiber's stack (nested `Scope.extend`, `annotateLogs`, `onExit` and
         * `catchAllCause` kept about fifteen for the connection's lifetime).
         */
        const serveOne = (
          transport: Transport,
          scope: Scope.CloseableScope
        ): Effect.Effect<unknown, never, Exclude<R, Scope.Scope> | TlsBackend> => {
          let handshaken = false
          // (uninterruptible here: a close that cannot fail needs no `Effect.ensuring`)
          const close = (exit: Exit.Exit<unknown, unknown>) =>
            Effect.zipRight(Effect.exit(Scope.close(scope, exit)), release)
          return Effect.matchCauseEffect(
            Effect.interruptible(
              Effect.flatMap(
                Effect.tap(makeConnection(transport, options), (conn) => conn.handshake),
                (conn) => {
                  handshaken = true
                  return handler(conn)
                }
              )
            ),
            {
              onFailure: (cause) =>
                Effect.zipRight(close(Exit.failCause(cause)), (handshaken ? logHandler : logHandshake)(cause)),
              onSuccess: () => close(Exit.void)
            }
            // (the scope is in the fiber's context from its fork: `connectionRefs`)
          ) as Effect.Effect<unknown, never, Exclude<R, Scope.Scope> | TlsBackend>
        }

        // (combinators, not a generator: this runs for every connection)
        const acceptOne = Effect.uninterruptibleMask((restore) =>
          Effect.zipRight(
            restore(permits.take(1)),
            Effect.flatMap(Scope.make(), (scope) =>
              Effect.map(
                Effect.onError(
                  restore(Scope.extend(listener.accept, scope)),
                  (cause) => Effect.zipRight(Scope.close(scope, Exit.failCause(cause)), permits.release(1))
                ),
                (transport) => {
                  live++
                  runFork(serveOne(transport, scope), { updateRefs: connectionRefs(transport, scope) })
                }
              ))
          )
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
