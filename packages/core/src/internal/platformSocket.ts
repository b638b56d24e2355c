import * as Socket from "@effect/platform/Socket"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Scope from "effect/Scope"
import type { TlsConnection } from "../TlsConnection.js"
import * as Transport from "../Transport.js"
import { TextEncoder } from "./webcrypto.js"

/**
 * Marks the sockets made here: their writes do not depend on `run` being active, and a
 * `CloseEvent` half-closes them (reading goes on).
 *
 * @internal
 */
export const HalfCloseSymbol: unique symbol = Symbol.for("@effect-tls/core/PlatformSocket/HalfClose")

/** @internal */
export const supportsHalfClose = (socket: Socket.Socket): boolean => Predicate.hasProperty(socket, HalfCloseSymbol)

/** @internal */
export interface SocketOptions {
  readonly handlerConcurrency?: number | undefined
}

/** What a socket made here runs over. */
interface Endpoint {
  /** Runs before the first read (the TLS handshake). */
  readonly open: Effect.Effect<void, unknown>
  readonly read: Effect.Effect<Option.Option<Uint8Array>, unknown>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, unknown>
  readonly closeWrite: Effect.Effect<void, unknown>
  /** What releasing a writer does (never fails). */
  readonly releaseWriter: Effect.Effect<void>
}

const DEFAULT_HANDLER_CONCURRENCY = 1

const positiveInteger = (name: string, value: number | undefined, fallback: number): number => {
  if (value === undefined) return fallback
  if (!(value >= 1)) throw new RangeError(`${name} must be at least 1`)
  return Math.floor(value)
}

const makeSocket = (endpoint: Endpoint, options: SocketOptions | undefined): Socket.Socket => {
  const concurrency = positiveInteger("handlerConcurrency", options?.handlerConcurrency, DEFAULT_HANDLER_CONCURRENCY)
  const encoder = new TextEncoder()

  const open = Effect.mapError(endpoint.open, (cause) => new Socket.SocketGenericError({ reason: "Open", cause }))
  const read = Effect.mapError(endpoint.read, (cause) => new Socket.SocketGenericError({ reason: "Read", cause }))

  const run = <_, E = never, R = never>(
    handler: (_: Uint8Array) => Effect.Effect<_, E, R> | void,
    opts?: { readonly onOpen?: Effect.Effect<void> | undefined }
  ): Effect.Effect<void, Socket.SocketError | E, R> =>
    Effect.scopedWith((scope) =>
      Effect.gen(function*() {
        yield* open
        const fiberSet = yield* Scope.extend(FiberSet.make<unknown, E | Socket.SocketError>(), scope)
        const runFork = yield* FiberSet.runtime(fiberSet)<R>()
        const permits = yield* Effect.makeSemaphore(concurrency)
        const loop = Effect.gen(function*() {
          while (true) {
            const next = yield* read
            if (Option.isNone(next)) break
            if (next.value.length === 0) continue
            const result = handler(next.value)
            if (Effect.isEffect(result)) {
              // at most `concurrency` handler effects outstanding: a slow handler stops the reads
              yield* permits.take(1)
              runFork(Effect.ensuring(result, permits.release(1)))
            }
          }
          // the peer's end of input: let the handlers finish, then end cleanly
          yield* permits.take(concurrency)
          yield* Deferred.succeed(fiberSet.deferred, undefined)
        })
        yield* FiberSet.run(fiberSet, loop)
        if (opts?.onOpen) yield* opts.onOpen
        return yield* FiberSet.join(fiberSet)
      })
    ).pipe(Effect.interruptible)

  const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> =>
    Effect.mapError(
      Socket.isCloseEvent(chunk)
        ? endpoint.closeWrite
        : endpoint.write(typeof chunk === "string" ? encoder.encode(chunk) : chunk),
      (cause) => new Socket.SocketGenericError({ reason: "Write", cause })
    )

  const socket: Socket.Socket & { readonly [HalfCloseSymbol]: true } = {
    [Socket.TypeId]: Socket.TypeId,
    [HalfCloseSymbol]: true,
    run,
    runRaw: run,
    writer: Effect.acquireRelease(Effect.succeed(write), () => endpoint.releaseWriter)
  }
  return socket
}

/**
 * Releasing a writer starts the half-close without waiting for it (as a Node socket's `end()`
 * does): waiting could hang a finalizer on a peer that does not read. The fiber ends once the
 * half-close is done or the connection is closed, which fails it.
 */
const startInBackground = (effect: Effect.Effect<void, unknown>): Effect.Effect<void> =>
  Effect.asVoid(Effect.forkDaemon(Effect.ignore(effect)))

/** @internal */
export const fromTlsConnection = (conn: TlsConnection, options?: SocketOptions | undefined): Socket.Socket =>
  makeSocket({
    open: conn.handshake,
    read: conn.read,
    write: conn.write,
    closeWrite: conn.closeWrite,
    // close_notify, but only on an established connection: a finalizer must not start a handshake
    releaseWriter: Effect.flatMap(
      conn.info,
      Option.match({ onNone: () => Effect.void, onSome: () => startInBackground(conn.closeWrite) })
    )
  }, options)

/** @internal */
export const fromTransport = (transport: Transport.Transport, options?: SocketOptions | undefined): Socket.Socket =>
  makeSocket({
    open: Effect.void,
    read: transport.read,
    write: transport.write,
    closeWrite: transport.shutdownWrite,
    releaseWriter: startInBackground(transport.shutdownWrite)
  }, options)

/** @internal */
export interface ToTransportOptions {
  readonly highWaterMark?: number | undefined
  readonly shutdownWrite?: "closeEvent" | "writer" | "none" | undefined
  readonly closeCodeIsError?: ((code: number) => boolean) | undefined
  readonly description?: Transport.Description | undefined
}

const DEFAULT_HIGH_WATER_MARK = 64 * 1024

const socketRunError = (description: Transport.Description) => (error: Socket.SocketError): Transport.TransportError =>
  new Transport.TransportError({
    reason: error.reason === "Open" || error.reason === "OpenTimeout" ? error.reason : "Read",
    description,
    cause: error
  })

/** @internal */
export const toTransport = (
  socket: Socket.Socket,
  options?: ToTransportOptions | undefined
): Effect.Effect<Transport.Transport, never, Scope.Scope> =>
  Effect.gen(function*() {
    const highWaterMark = positiveInteger("highWaterMark", options?.highWaterMark, DEFAULT_HIGH_WATER_MARK)
    const closeCodeIsError = options?.closeCodeIsError ?? Socket.defaultCloseCodeIsError
    const description = options?.description ?? { kind: "platform-socket" }
    const halfClose = supportsHalfClose(socket)
    const shutdownMode = options?.shutdownWrite ?? (halfClose ? "closeEvent" : "writer")
    const encoder = new TextEncoder()
    const scope = yield* Effect.scope

    const input = yield* Mailbox.make<Uint8Array, Transport.TransportError>()
    const space = yield* Effect.makeLatch(true)
    // completed when the socket's run is over (for any reason, the transport's scope closing included)
    const runEnded = yield* Deferred.make<void>()
    const closed = yield* Deferred.make<void>()
    let buffered = 0
    let isClosed = false
    let outputShut = false
    let runHasEnded = false

    const onData = (data: string | Uint8Array): Effect.Effect<void> | void => {
      const bytes = typeof data === "string" ? encoder.encode(data) : data
      if (bytes.length === 0) return
      input.unsafeOffer(bytes)
      buffered += bytes.length
      if (buffered >= highWaterMark) {
        // sockets that await their handler's effect (those of this module) stop reading here;
        // the chunk itself is already queued, so a socket that interrupts the effect loses nothing
        space.unsafeClose()
        return space.await
      }
    }

    yield* socket.runRaw(onData).pipe(
      Effect.catchIf(Socket.SocketCloseError.isClean((code) => !closeCodeIsError(code)), () => Effect.void),
      Effect.mapError(socketRunError(description)),
      Effect.exit,
      Effect.flatMap((exit) => input.done(Exit.asVoid(exit))),
      Effect.ensuring(Effect.suspend(() => {
        runHasEnded = true
        return Deferred.succeed(runEnded, undefined)
      })),
      Effect.interruptible,
      Effect.forkIn(scope)
    )

    // the writer lives in a scope of its own: `shutdownWrite` may release it early
    const writeScope = yield* Scope.make()
    const socketWrite = yield* Scope.extend(socket.writer, writeScope)

    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        isClosed = true
        return input.fail(new Transport.TransportError({ reason: "Closed", description })).pipe(
          Effect.zipRight(Deferred.succeed(closed, undefined)),
          // The sockets of this module do not own what they run over (its owner closes it), and
          // releasing their writer would half-close it: leave it. Other sockets are released
          // (a web stream socket closes its writable side), in the background since some
          // releases wait for the peer to read (a web stream's `close()`).
          Effect.zipRight(halfClose ? Effect.void : Effect.forkDaemon(Scope.close(writeScope, Exit.void)))
        )
      })
    )

    const closedError = () => new Transport.TransportError({ reason: "Closed", description })
    const writeError = (cause: unknown) => new Transport.TransportError({ reason: "Write", description, cause })
    const runEndedError = () =>
      isClosed
        ? closedError()
        : writeError(new Error("the socket's run has ended: it accepts no more writes"))
    // a socket made elsewhere accepts writes only while its run is active; ours, until closed
    const stop = halfClose ? closed : runEnded

    // A socket operation that ends when the socket can no longer complete it. Both sides of the
    // race are interruptible, so that the loser stops even when the caller is not (a TLS engine
    // half-closes from a finalizer).
    const guarded = (
      operation: Effect.Effect<void, unknown>,
      toError: (cause: unknown) => Transport.TransportError
    ): Effect.Effect<void, Transport.TransportError> =>
      Effect.raceFirst(
        operation.pipe(
          Effect.mapError(toError),
          // @effect/platform's web stream sockets turn a rejected write promise into a defect
          Effect.catchAllDefect((defect) => Effect.fail(toError(defect))),
          Effect.interruptible
        ),
        Effect.interruptible(Effect.zipRight(Deferred.await(stop), Effect.failSync(runEndedError)))
      )
    const shutdownError = (cause: unknown) => new Transport.TransportError({ reason: "Shutdown", description, cause })

    const ensureWritable = (): Option.Option<Transport.TransportError> => {
      if (isClosed) return Option.some(closedError())
      if (outputShut) return Option.some(writeError(new Error("write after shutdownWrite")))
      if (!halfClose && runHasEnded) return Option.some(runEndedError())
      return Option.none()
    }

    const write = (bytes: Uint8Array): Effect.Effect<void, Transport.TransportError> =>
      Effect.suspend(() =>
        Option.match(ensureWritable(), {
          onSome: Effect.fail,
          onNone: () => bytes.length === 0 ? Effect.void : guarded(socketWrite(bytes), writeError)
        })
      )

    const shutdownWrite: Effect.Effect<void, Transport.TransportError> = Effect.suspend(() => {
      if (isClosed) return Effect.fail(closedError())
      if (outputShut) return Effect.void
      outputShut = true
      // a socket made elsewhere whose run has ended takes no more writes: just let its writer go
      if (!halfClose && runHasEnded) return Effect.asVoid(Effect.forkDaemon(Scope.close(writeScope, Exit.void)))
      switch (shutdownMode) {
        case "none":
          return Effect.void
        case "writer":
          // releases run uninterruptibly and may wait for the peer: disconnect, so the race can end
          return guarded(Effect.disconnect(Scope.close(writeScope, Exit.void)), shutdownError)
        case "closeEvent":
          return guarded(socketWrite(new Socket.CloseEvent()), shutdownError)
      }
    })

    const read: Effect.Effect<Option.Option<Uint8Array>, Transport.TransportError> = input.take.pipe(
      Effect.map((bytes) => {
        buffered -= bytes.length
        if (buffered < highWaterMark) space.unsafeOpen()
        return Option.some(bytes)
      }),
      Effect.catchIf(Cause.isNoSuchElementException, () => Effect.succeed(Option.none()))
    )

    return Transport.make({ read, write, shutdownWrite, description })
  })
