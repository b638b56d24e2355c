/**
 * Closing a connection: the scope's finalizer (`closeWith`) and what it runs, by the
 * scope's exit (`close`: close_notify and its flush, or `abort`'s teardown without one), the
 * teardown's steps (`teardown`, `stop`), `closeWrite`'s wait for our close_notify (`ended`), all
 * within `closeTimeout` on the Clock (`bounded`, or `closeNative`'s plain timer on the native
 * path), the transport's half-close within the same deadline (`shutdownTransport`), and Deno's
 * wait for writes still inside node:tls (`writesSettled`). Made when a connection closes: nothing
 * of it is kept while the connection is open.
 *
 * @internal
 */
import type * as TlsError from "@effect-tls/core/TlsError"
import type * as Transport from "@effect-tls/core/Transport"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import type * as tls from "node:tls"
import type { TransportDuplex } from "./bridge.js"
import * as closeNotifyGuard from "./closeNotifyGuard.js"
import type { NodeTlsConnection } from "./engine.js"
import * as runtime from "./runtime.js"

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
 * The connection closes with `scope`, after the caller's `beforeClose` when there is one
 * (`EngineConfig.beforeClose`), in one finalizer of the scope itself: not Effect.addFinalizer
 * (that keeps a copy of the fiber's refs per connection, about 0.3 KiB), uninterruptible as
 * Effect.addFinalizer's is.
 *
 * @internal
 */
export const closeWith = (
  scope: Scope.Scope,
  connection: { readonly close: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void> },
  beforeClose?: (() => Effect.Effect<void> | undefined) | undefined
): Effect.Effect<void> =>
  Scope.addFinalizerExit(scope, (exit) => {
    const first = beforeClose?.()
    const close = connection.close(exit)
    return Effect.uninterruptible(first === undefined ? close : Effect.zipRight(first, close))
  })

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

// ---- the connection's close (`NodeTlsConnection.close`, `abort`, `closeWrite`)

/**
 * The scope's finalizer, by its exit: after success and a good handshake, close_notify, waiting
 * until it left (our side's flush, not the peer's answer: both ends of a pair often close in
 * one scope); after a failure or an interruption, a teardown without close_notify, so that the
 * peer reads a truncation and never a complete stream. Both within `closeTimeout`.
 *
 * @internal
 */
export const close = (connection: NodeTlsConnection, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    if (connection.tornDown) return Effect.void
    const socket = connection.socket
    const state = connection.state
    if (!Exit.isSuccess(exit) || socket === undefined || state.phase._tag !== "Open") return abort(connection)
    if (!socket.writableEnded) socket.end()
    const millis = Duration.toMillis(connection.config.closeTimeout)
    if (connection.native !== undefined && isLiveClock(fiber) && millis <= maxTimerMillis) {
      return closeNative(connection, socket, millis)
    }
    const sent = connection.changed.await(() => closeNotifySent(connection, socket) ? Effect.void : undefined)
    const flushed = runtime.endOvertakesWrites
      ? Effect.zipRight(sent, Effect.ignore(connection.writesSettled(socket)))
      : sent
    return boundedClose(connection, Effect.zipRight(flushed, teardown(connection)))
  })

/**
 * Tears the connection down at once (no close_notify), within `closeTimeout`.
 *
 * @internal
 */
export const abort = (connection: NodeTlsConnection): Effect.Effect<void> =>
  Effect.suspend(() => connection.tornDown ? Effect.void : boundedClose(connection, teardown(connection)))

/**
 * `closeWrite`'s wait once `end()` was called: our close_notify left. The check only reads the
 * state (Bun's guard released once our close_notify is out is a fact of the state too, right
 * whoever sees it first), so the wait is `awaitPure`'s: no finalizer set up per closeWrite.
 *
 * @internal
 */
export const ended = (connection: NodeTlsConnection, socket: tls.TLSSocket): Effect.Effect<void, TlsError.TlsError> =>
  connection.changed.awaitPure(() => {
    if (socket.writableFinished && ciphertextFlushed(connection)) {
      // (Bun) our close_notify is out: node:tls may now see the peer's
      connection.guard?.release()
      return Effect.void
    }
    if (connection.state.failure !== undefined) return connection.failWith()
    // (Deno: the socket closed, the bridge it destroyed still writes its last records)
    if (connection.state.closed && connection.bridge?.destroyPending !== true) {
      return Effect.fail(connection.closedError)
    }
    return undefined
  })

/**
 * The bridge holds no ciphertext of ours any more. Node and Deno call a TLSSocket's writes
 * back only after the bridge wrote them, so its `writableFinished` says so already; Bun calls
 * them back at once, and its `finish` came while the bridge still held the last records
 * (behind a transport write that waited for room): the teardown that followed dropped them.
 * Deno finishes before its close_notify left the bridge (`runtime.destroysDuplexWithWritesPending`).
 */
const ciphertextFlushed = (connection: NodeTlsConnection): boolean =>
  (runtime.writeCallbackAfterTransport && !runtime.destroysDuplexWithWritesPending) ||
  connection.native !== undefined || connection.bridge === undefined || !connection.bridge.holdsCiphertext

/** Our close_notify left (or the connection is no longer open: nothing more will). */
const closeNotifySent = (connection: NodeTlsConnection, socket: tls.TLSSocket): boolean =>
  (socket.writableFinished && ciphertextFlushed(connection)) || connection.state.phase._tag !== "Open"

/**
 * Tears down node:tls (no close_notify) and half-closes the transport so that the peer is not
 * left waiting; what node:tls wrote last (an alert) goes out before our FIN.
 */
const teardown = (connection: NodeTlsConnection): Effect.Effect<void> =>
  Effect.suspend(() => {
    // what a write already acknowledged may still wait inside node:tls (behind a record in
    // flight): it goes out first, then the end without close_notify (bounded by the caller);
    // not when the transport pushes back (a peer that stopped reading would hold us)
    const socket = connection.socket
    if (
      socket !== undefined && !socket.destroyed && connection.state.failure === undefined && !connection.tornDown &&
      connection.bridge?.writeBlocked !== true && socket.writableLength > 0
    ) {
      return Effect.zipRight(plaintextFlushed(connection, socket), tearDownNow(connection))
    }
    return tearDownNow(connection)
  })

const plaintextFlushed = (connection: NodeTlsConnection, socket: tls.TLSSocket): Effect.Effect<void> =>
  connection.changed.await(() => plaintextDrained(connection, socket) ? Effect.void : undefined)

/** node:tls holds no plaintext of ours any more (or never will send it). */
const plaintextDrained = (connection: NodeTlsConnection, socket: tls.TLSSocket): boolean =>
  socket.destroyed || connection.state.failure !== undefined || socket.writableLength === 0

const tearDownNow = (connection: NodeTlsConnection): Effect.Effect<void> =>
  Effect.suspend(() => {
    const shutDown = connection.bridge?.writableFinished === true || connection.tornDown
    // a transport that pushes back would hold our half-close too (TCP's FIN waits behind the
    // data): the peer learns of the end when the transport's own scope closes it
    const blocked = connection.bridge?.writeBlocked === true
    stop(connection)
    // (native path: the transport was taken, its socket is node:tls's and destroyed by `stop`)
    if (shutDown || blocked || connection.native !== undefined) return Effect.void
    return shutdownTransport(connection.config.transport, connection.closeDeadline)
  })

/** The synchronous part of every teardown: nothing of this connection runs afterwards. */
const stop = (connection: NodeTlsConnection): void => {
  connection.tornDown = true
  connection.socket?.destroy()
  connection.bridge?.destroy()
  connection.requests?.stop()
  if (connection.guard !== undefined) closeNotifyGuard.stopQuietCheck(connection.guard)
}

/** `bounded`: `steps` within `closeTimeout`, then `stop`. */
const boundedClose = (connection: NodeTlsConnection, steps: Effect.Effect<void>): Effect.Effect<void> =>
  bounded(connection.config.closeTimeout, connection, () => stop(connection), connection.changed.notify, steps)

/**
 * `close` on the native path under the live clock, in one `Effect.async`: the same steps as
 * `bounded(sent, teardown)` (close_notify out, then what node:tls still holds flushed, then
 * `stop`; the transport was taken, so there is no half-close of it), watched by callbacks,
 * within a plain timer of `closeTimeout`.
 */
const closeNative = (connection: NodeTlsConnection, socket: tls.TLSSocket, millis: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    let sent = false
    const ready = () => {
      if (!sent && !closeNotifySent(connection, socket)) return false
      sent = true
      // (teardown's wait: plaintext still inside node:tls behind a record in flight)
      return connection.tornDown || plaintextDrained(connection, socket)
    }
    let timer: ReturnType<typeof setTimeout> | undefined = undefined
    let unwatch = () => {}
    const done = () => {
      if (timer !== undefined) clearTimeout(timer)
      unwatch()
      stop(connection)
      resume(Effect.void)
    }
    unwatch = connection.whenReady(ready, done)
    if (!connection.tornDown) timer = setTimeout(done, millis)
    // no canceler: the close runs only as the scope's finalizer, uninterruptible (`closeWith`),
    // where none could run (one would cost the interruption bookkeeping of Effect.async on
    // every close); it ends by itself within closeTimeout
  })
