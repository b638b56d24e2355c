/**
 * Closing a connection within its bound: the scope's finalizer (`closeWithScope`), `closeTimeout`
 * on the Clock (`bounded`), the transport's half-close within the same deadline
 * (`shutdownTransport`), and Deno's wait for writes still inside node:tls (`writesSettled`). The
 * teardown's steps themselves are the connection's (`engine.ts`): these only bound them.
 *
 * @internal
 */
import type * as TlsError from "@effect-tls/core/TlsError"
import type * as Transport from "@effect-tls/core/Transport"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import type * as tls from "node:tls"
import type { TransportDuplex } from "./bridge.js"

/** The live clock's class: its time is the real time, so a plain timer stands for its sleep. */
const LiveClock = Clock.make().constructor

/**
 * Longer than a JS timer can wait.
 *
 * @internal
 */
export const maxTimerMillis = 2 ** 31 - 1

/**
 * The fiber runs on the live clock (a plain timer stands for its sleep).
 *
 * @internal
 */
export const isLiveClock = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  Context.get(fiber.currentDefaultServices, Clock.Clock) instanceof LiveClock

/**
 * The connection closes with the scope: a finalizer of the scope itself, not
 * Effect.addFinalizer (that keeps a copy of the fiber's refs per connection, about 0.3 KiB),
 * uninterruptible as Effect.addFinalizer's is.
 *
 * @internal
 */
export const closeWithScope = (
  connection: { readonly close: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void> }
): Effect.Effect<void, never, Scope.Scope> => Effect.flatMap(Effect.scope, (scope) => closeWith(scope, connection))

/**
 * `closeWithScope` with the scope at hand.
 *
 * @internal
 */
export const closeWith = (
  scope: Scope.Scope,
  connection: { readonly close: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void> }
): Effect.Effect<void> => Scope.addFinalizerExit(scope, (exit) => Effect.uninterruptible(connection.close(exit)))

/**
 * When a close bounded in place (`bounded` under the live clock) runs out of time, wall clock.
 *
 * @internal
 */
export interface CloseDeadline {
  closeDeadline: number | undefined
}

/**
 * Runs `steps` for at most `closeTimeout` (on the Clock), then stops whatever is left.
 *
 * Under the live clock, in place with a plain timer (deadline.ts's pattern): every wait in
 * `steps` is on `changed` and ends once `stop` has destroyed the socket, which the timer
 * does; the one external wait, the transport's half-close (bridge only), gets a fiber of
 * its own that the same deadline interrupts (`shutdownTransport`). Under any other clock,
 * in a fiber of its own raced with the Clock: a finalizer is uninterruptible, and the fiber
 * closing a scope may itself be interrupted, so a timeout raced in place could neither fire
 * nor be trusted.
 *
 * @internal
 */
export const bounded = (
  closeTimeout: Duration.Duration,
  /** Where the deadline of a close bounded in place is kept (`shutdownTransport` reads it). */
  deadline: CloseDeadline,
  /** The synchronous part of the teardown: nothing of the connection runs afterwards. */
  stop: () => void,
  /** Wakes every waiter of the connection. */
  notify: () => void,
  steps: Effect.Effect<void>
): Effect.Effect<void> =>
  Effect.clockWith((clock) => {
    const millis = Duration.toMillis(closeTimeout)
    if (clock instanceof LiveClock && millis <= maxTimerMillis) {
      return Effect.suspend(() => {
        deadline.closeDeadline = Date.now() + millis
        const timer = setTimeout(() => {
          stop()
          notify()
        }, millis)
        return Effect.ensuring(
          steps,
          Effect.sync(() => {
            clearTimeout(timer)
            stop()
          })
        )
      })
    }
    return Effect.fork(Effect.interruptible(Effect.timeoutOption(steps, closeTimeout))).pipe(
      Effect.flatMap(Fiber.join),
      Effect.zipRight(Effect.sync(() => stop()))
    )
  })

/**
 * The transport's half-close, within the close's bound. It may wait for the peer (TCP's FIN
 * behind data the peer does not read) and a finalizer cannot be interrupted: under a close
 * bounded in place it runs in a fiber of its own, interrupted when the time is up.
 *
 * @internal
 */
export const shutdownTransport = (
  transport: Transport.Transport,
  /** When a close bounded in place runs out of time (`CloseDeadline`), if it is. */
  deadline: number | undefined
): Effect.Effect<void> => {
  const shutdown = Effect.ignore(transport.shutdownWrite)
  if (deadline === undefined) return shutdown
  return Effect.flatMap(Effect.fork(Effect.interruptible(shutdown)), (fiber) =>
    Effect.async<void>((resume) => {
      const done = () => {
        clearTimeout(timer)
        resume(Effect.void)
      }
      const timer = setTimeout(() => {
        fiber.removeObserver(done)
        resume(Fiber.interrupt(fiber))
      }, Math.max(0, deadline - Date.now()))
      fiber.addObserver(done)
      return Effect.sync(() => {
        clearTimeout(timer)
        fiber.removeObserver(done)
      })
    }))
}

/**
 * Deno: a TLSSocket's `end()` can send its close_notify before ciphertext of earlier writes
 * it still holds reached the bridge (seen through the PlatformSocket adapter: the peer's read
 * ended cleanly halfway through an echo). `closeWrite` first waits until node:tls and the
 * bridge hold nothing and a later turn brought no more ciphertext. And after `end()`: Deno's
 * TLSWrap hands its output to the Duplex one write at a time, from a microtask, so its
 * close_notify may still wait inside it (behind a transport write waiting for room) when the
 * TLSSocket has finished: `closeWrite` and close wait the same way before the teardown.
 *
 * @internal
 */
export const writesSettled = (
  socket: tls.TLSSocket,
  bridge: TransportDuplex | undefined,
  /** Teardown has begun. */
  tornDown: () => boolean
): Effect.Effect<void, TlsError.TlsError> => {
  if (bridge === undefined) return Effect.void
  return Effect.async<void, TlsError.TlsError>((resume) => {
    let handle: ReturnType<typeof setTimeout> | undefined = undefined
    let seen = bridge.writtenChunks
    const check = () => {
      // (a teardown, the close bound's included, ends the wait: nothing more will be written)
      // (Deno: a bridge that node:tls destroyed still writes what it held, `destroyPending`)
      if (tornDown() || (socket.destroyed && !bridge.destroyPending) || bridge.destroyed) {
        return resume(Effect.void)
      }
      const idle = socket.writableLength === 0 && !bridge.writeBlocked && bridge.writableLength === 0
      if (idle && seen === bridge.writtenChunks) return resume(Effect.void)
      seen = bridge.writtenChunks
      handle = setTimeout(check, 1)
    }
    handle = setTimeout(check, 1)
    return Effect.sync(() => clearTimeout(handle))
  })
}
