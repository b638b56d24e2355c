/**
 * Adapting Node duplexes (net.Socket) to pull-based Transports, and TCP
 * connect / listen.
 *
 * @internal
 */
import * as Condition from "@effect-tls/core/Condition"
import * as Transport from "@effect-tls/core/Transport"
import { TransportError } from "@effect-tls/core/Transport"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as FiberSet from "effect/FiberSet"
import * as HashMap from "effect/HashMap"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Net from "node:net"
import type { Duplex } from "node:stream"
import type { ConnectOptions, ListenOptions, RunOptions, Server } from "../NodeTransport.js"
import * as internals from "./nodeInternals.js"

/**
 * What a transport made here hands to the engine that takes its socket over (the native
 * path): the socket, with the transport's listeners removed. The transport is consumed: its
 * own operations fail with reason "Closed" from then on. Its scope still destroys the socket.
 *
 * Kept beside each transport in a module-private map, not on the transport object.
 */
const takers = new WeakMap<Transport.Transport, {
  readonly socket: Duplex
  readonly take: () => Option.Option<Duplex>
}>()

/**
 * The socket behind a transport made by this module, without taking it.
 *
 * @internal
 */
export const peekSocket = (transport: Transport.Transport): Option.Option<Duplex> =>
  Option.fromNullable(takers.get(transport)?.socket)

/**
 * Takes the socket behind a transport made by this module: none when the transport was not
 * made here, was already taken, or its socket is no longer usable. On success the transport
 * is consumed (its operations fail with "Closed"); closing its scope still destroys the socket.
 *
 * @internal
 */
export const takeSocket = (transport: Transport.Transport): Option.Option<Duplex> =>
  takers.get(transport)?.take() ?? Option.none()

/** Transports whose `shutdownWrite` still half-closes the socket once taken (`pairForTest`). */
const truncatable = new WeakSet<Transport.Transport>()

/**
 * Ends a socket's TCP side under the TLS engine that took it, once what node:tls already
 * encrypted has reached libuv: a turn later (node:tls completes a write in flight from an
 * immediate) and when the handle's write queue is empty.
 */
const endUnderEngine = (socket: Duplex): Effect.Effect<void> =>
  Effect.async<void>((resume) =>
    Effect.sync(internals.afterWritesInFlight(socket, () => internals.writeQueueSize(socket), () => {
      if (!socket.destroyed) socket.end()
      resume(Effect.void)
    }))
  )

/**
 * Whether `shutdownWrite` is a test's FIN without close_notify under the engine that took the
 * socket (`endUnderEngine`): the transport was marked truncatable, taken and is still open.
 */
const finUnderEngine = (transport: Transport.Transport, taken: boolean, closed: boolean): boolean =>
  taken && !closed && truncatable.has(transport)

const formatAddress = (address: string | undefined, port: number | undefined): string | undefined =>
  address === undefined ? undefined : address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`

/** @internal */
export const describeSocket = (socket: Duplex): Transport.Description => {
  if (socket instanceof Net.Socket) {
    return {
      kind: "tcp",
      local: formatAddress(socket.localAddress, socket.localPort),
      remote: formatAddress(socket.remoteAddress, socket.remotePort)
    }
  }
  return { kind: "duplex" }
}

/**
 * The local end every socket accepted by `server` has, when the listener tells it: it is bound
 * to one address (not a wildcard, which accepts on any of the host's addresses, nor a scoped
 * IPv6 one), so `describeAccepted` needs no `getsockname` per connection. Undefined otherwise.
 *
 * @internal
 */
export const acceptedLocal = (server: Net.Server): string | undefined => {
  const bound = server.address()
  if (bound === null || typeof bound === "string") return undefined
  const address = bound.address
  if (address === "0.0.0.0" || address === "::" || address.includes("%")) return undefined
  return formatAddress(address, bound.port)
}

/**
 * `describeSocket` for a socket accepted by a listener whose local end is `local`
 * (`acceptedLocal`): only the remote end is asked for.
 *
 * @internal
 */
export const describeAccepted = (socket: Net.Socket, local: string | undefined): Transport.Description =>
  local === undefined ? describeSocket(socket) : {
    kind: "tcp",
    local,
    remote: formatAddress(socket.remoteAddress, socket.remotePort)
  }

/**
 * Reading stops once more than this waits in `adapt`'s queue (the consumer is not reading): the
 * socket pauses, its own buffer fills to its high-water mark, and TCP backpressure reaches the
 * peer. At most this plus one chunk (a socket reads up to 64 KiB at a time) waits in the queue.
 * (More than: one full 64 KiB read alone, taken at the consumer's next read, must not pause the
 * socket, or a bulk transfer would stop and restart reading, two `epoll_ctl`, on every read.)
 */
const READ_QUEUE_LIMIT = 64 * 1024

/**
 * Wraps a duplex. The duplex flows ('data') into a bounded queue of the chunks as they came
 * (no copy, no join): reading takes the queue's head. Once more than `READ_QUEUE_LIMIT` bytes
 * wait the duplex is paused, and resumed when a read brings the queue down to it, so a consumer that stops
 * reading stops the socket (Node's buffer stays at its high-water mark, and TCP backpressure
 * reaches the peer). A busy connection therefore never toggles the socket's reading per chunk
 * (a paused socket read with `read()` stops and restarts libuv's reading at every chunk, and
 * joins the chunks it holds into a copy).
 *
 * The returned finalizer destroys the duplex.
 *
 * @internal
 */
export const adapt = (socket: Duplex, description: Transport.Description): {
  readonly transport: Transport.Transport
  readonly close: Effect.Effect<void>
} => {
  let closed = false // closed by us (scope)
  let error: unknown = undefined
  let ended = false
  /** The socket was taken over by an engine (the native path): this transport is consumed. */
  let taken = false
  const readers = Condition.make()
  const writers = Condition.make()
  const wakeReaders = readers.notify
  // the chunks read from the duplex and not yet taken, the head at `queue[head]`
  const queue: Array<Uint8Array> = []
  let head = 0
  let queued = 0
  let paused = false
  const onData = (chunk: Uint8Array) => {
    queue.push(chunk)
    queued += chunk.length
    if (queued > READ_QUEUE_LIMIT && !paused) {
      paused = true
      socket.pause()
    }
    wakeReaders()
  }
  /** The queue's head, taken; null when it is empty. */
  const take = (): Uint8Array | null => {
    if (head === queue.length) return null
    const chunk = queue[head]!
    queue[head++] = undefined as unknown as Uint8Array
    if (head === queue.length) {
      queue.length = 0
      head = 0
    }
    queued -= chunk.length
    if (paused && queued <= READ_QUEUE_LIMIT && !closed && !taken) {
      paused = false
      socket.resume()
    }
    return chunk
  }
  const onEnd = () => {
    ended = true
    wakeReaders()
  }
  const onError = (cause: unknown) => {
    if (error === undefined) error = cause
    wakeReaders()
    writers.notify()
  }
  const onClose = () => {
    wakeReaders()
    writers.notify()
  }
  socket.on("data", onData)
  socket.on("end", onEnd)
  socket.on("error", onError)
  socket.on("close", onClose)
  // (a 'data' listener starts the flow, unless someone paused the duplex before)
  if (socket.readableFlowing === false) socket.resume()

  const closedError = () =>
    new TransportError({
      reason: "Closed",
      description,
      ...(taken ? { cause: new Error("the socket was taken over by the TLS engine") } : {})
    })

  const read: Effect.Effect<Option.Option<Uint8Array>, TransportError> = Effect.suspend(() => {
    if (closed || taken) return Effect.fail(closedError())
    if (error !== undefined) return Effect.fail(new TransportError({ reason: "Read", description, cause: error }))
    const chunk = take()
    if (chunk !== null) return Effect.succeed(Option.some(chunk))
    if (ended || socket.readableEnded) return Effect.succeed(Option.none())
    if (socket.destroyed) {
      return Effect.fail(
        new TransportError({ reason: "Read", description, cause: new Error("socket closed before end of input") })
      )
    }
    return Effect.zipRight(readers.next, read)
  })

  const write = (bytes: Uint8Array): Effect.Effect<void, TransportError> =>
    Effect.async<void, TransportError>((resume) => {
      if (closed || taken) return resume(Effect.fail(closedError()))
      if (error !== undefined) {
        return resume(Effect.fail(new TransportError({ reason: "Write", description, cause: error })))
      }
      if (socket.writableEnded) {
        return resume(
          Effect.fail(
            new TransportError({ reason: "Write", description, cause: new Error("write after shutdownWrite") })
          )
        )
      }
      if (socket.destroyed) {
        return resume(
          Effect.fail(new TransportError({ reason: "Write", description, cause: new Error("socket closed") }))
        )
      }
      // accepted below the high-water mark: done now (no turn of the event loop per write);
      // a later failure surfaces through 'error' on the next operation
      if (socket.write(bytes)) return resume(Effect.void)
      resume(drained)
    })

  /** After a write over the high-water mark: until 'drain', or a failure ('error' / 'close' / our close). */
  const drained: Effect.Effect<void, TransportError> = Effect.suspend(() => {
    let drainedNow = false
    const onDrain = () => {
      drainedNow = true
      writers.notify()
    }
    socket.once("drain", onDrain)
    return writers.await(() => {
      if (drainedNow) return Effect.void
      if (closed || taken || error !== undefined || socket.destroyed) {
        return Effect.fail(
          closed || taken ? closedError() : new TransportError({
            reason: "Write",
            description,
            cause: error ?? new Error("socket closed")
          })
        )
      }
      return undefined
    }).pipe(Effect.ensuring(Effect.sync(() => socket.off("drain", onDrain))))
  })

  /** Where a half-close stands: done (null), failed (the failure), or still waiting (undefined). */
  const shutdownOutcome = (): TransportError | null | undefined => {
    if (closed || taken) return closedError()
    if (socket.writableFinished) return null
    if (error !== undefined || socket.destroyed) {
      return new TransportError({ reason: "Shutdown", description, cause: error ?? new Error("socket closed") })
    }
    return undefined
  }

  /**
   * The half-close, in callbacks (the fast path's `shutdownWrite`, and the Effect's below): end()
   * and the wait for 'finish' (or a failure); `done` gets the outcome, at once when it is known.
   */
  const endWrite = (done: (failure: TransportError | undefined) => void): () => void => {
    const now = shutdownOutcome()
    if (now !== undefined) {
      done(now ?? undefined)
      return noCancel
    }
    const onFinish = () => writers.notify()
    socket.once("finish", onFinish)
    socket.end()
    let cancel = noCancel
    const check = () => {
      const outcome = shutdownOutcome()
      if (outcome === undefined) {
        cancel = writers.onNext(check)
        return
      }
      socket.off("finish", onFinish)
      done(outcome ?? undefined)
    }
    check()
    return () => {
      cancel()
      socket.off("finish", onFinish)
    }
  }

  const shutdownWrite: Effect.Effect<void, TransportError> = Effect.suspend(() => {
    // (tests: a FIN without close_notify under the engine that took the socket)
    if (finUnderEngine(transport, taken, closed)) return endUnderEngine(socket)
    return Effect.async<void, TransportError>((resume) => {
      const cancel = endWrite((failure) => resume(failure === undefined ? Effect.void : Effect.fail(failure)))
      return Effect.sync(cancel)
    })
  })

  /** The synchronous fast path (`Transport.Immediate`): the same checks as `read` and `write`, without waiting. */
  const immediate: Transport.Immediate = {
    read: () => {
      if (closed || taken || error !== undefined) return undefined
      const chunk = take()
      if (chunk !== null) return chunk
      if (ended || socket.readableEnded) return null
      return socket.destroyed ? undefined : "wait"
    },
    write: (bytes) => {
      if (closed || taken || error !== undefined || socket.writableEnded || socket.destroyed) return 0
      // below the high-water mark: accepted now, even one write past it (as `write` takes it
      // before it waits for 'drain'); at the mark, 'drain' is due (a write reached it)
      if (socket.writableLength >= socket.writableHighWaterMark) return 0
      socket.write(bytes)
      return bytes.length
    },
    writeAll: (chunks) => {
      if (
        closed || taken || error !== undefined || socket.writableEnded || socket.destroyed ||
        socket.writableLength >= socket.writableHighWaterMark
      ) return false
      // one writev, no join
      socket.cork()
      for (const chunk of chunks) socket.write(chunk)
      socket.uncork()
      return true
    },
    whenReadable: readers.onNext,
    whenWritable: (wake) => {
      let done = false
      const once = () => {
        if (done) return
        done = true
        socket.off("drain", once)
        cancel()
        wake()
      }
      socket.on("drain", once)
      const cancel = writers.onNext(once)
      return () => {
        done = true
        socket.off("drain", once)
        cancel()
      }
    },
    shutdownWrite: (done) =>
      // (tests: the FIN under the engine that took the socket is `shutdownWrite`'s)
      finUnderEngine(transport, taken, closed) ? undefined : endWrite(done)
  }

  const transport = Transport.make({ read, write, shutdownWrite, description, immediate })
  takers.set(transport, {
    socket,
    take: () => {
      if (taken || closed || socket.destroyed || socket.readableEnded || !(socket instanceof Net.Socket)) {
        return Option.none()
      }
      taken = true
      // the socket stops flowing, and what the queue still holds goes back to its buffer, in
      // order, where node:tls reads what a socket holds when it takes one
      socket.pause()
      socket.off("data", onData)
      for (let i = queue.length - 1; i >= head; i--) socket.unshift(queue[i]!)
      queue.length = 0
      head = 0
      queued = 0
      socket.off("end", onEnd)
      socket.off("close", onClose)
      // the error listener stays, so that a late error never crashes the process;
      // pending operations of the transport fail with "Closed"
      wakeReaders()
      writers.notify()
      return Option.some(socket)
    }
  })

  const close = Effect.sync(() => {
    if (closed) return
    closed = true
    wakeReaders()
    writers.notify()
    if (!socket.destroyed) socket.destroy()
  })
  return { transport, close }
}

/** @internal */
export const fromSocket = (socket: Duplex): Effect.Effect<Transport.Transport, never, Scope.Scope> =>
  closedWithScope(() => adapt(socket, describeSocket(socket)))

/**
 * The transport `make` gives, closed with the scope: a finalizer of the scope itself
 * (Effect.acquireRelease keeps a copy of the fiber's refs).
 */
const closedWithScope = (
  make: () => { readonly transport: Transport.Transport; readonly close: Effect.Effect<void> }
): Effect.Effect<Transport.Transport, never, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) =>
    Effect.uninterruptible(Effect.suspend(() => {
      const made = make()
      return Effect.as(Scope.addFinalizerExit(scope, () => Effect.uninterruptible(made.close)), made.transport)
    })))

/**
 * An accepted (or connected) socket's transport, adapted (`adapt`: its listeners, conditions
 * and closures) on first use of `read`, `write`, `shutdownWrite` or the immediate path. A TLS
 * engine that takes the socket first (the native path, every TLS connection over TCP by
 * default) never pays for the adapter; the transport is then consumed as `adapt`'s is.
 */
const acceptedTransport = (socket: Net.Socket, description: Transport.Description): {
  readonly transport: Transport.Transport
  readonly close: Effect.Effect<void>
} => {
  const accepted = new Accepted(socket, description)
  const transport = Transport.make({
    read: Effect.suspend(() => accepted.full()?.read ?? accepted.consumed()),
    write: (bytes) => Effect.suspend(() => accepted.full()?.write(bytes) ?? accepted.consumed()),
    shutdownWrite: Effect.suspend(() => {
      // (tests: a FIN without close_notify under the engine that took the socket)
      if (finUnderEngine(transport, accepted.taken, accepted.closed)) return endUnderEngine(socket)
      return accepted.full()?.shutdownWrite ?? accepted.consumed()
    }),
    description,
    immediate: {
      read: () => accepted.fast()?.read(),
      write: (bytes, handedOver) => accepted.fast()?.write(bytes, handedOver) ?? 0,
      writeAll: (chunks) => accepted.fast()?.writeAll?.(chunks) ?? false,
      whenReadable: (wake) => accepted.fast()?.whenReadable(wake) ?? noCancel,
      whenWritable: (wake) => accepted.fast()?.whenWritable(wake) ?? noCancel,
      // (undefined when taken or closed: `shutdownWrite`'s Effect then says why)
      shutdownWrite: (done) => accepted.fast()?.shutdownWrite?.(done)
    }
  })
  takers.set(transport, accepted)
  return { transport, close: Effect.suspend(() => accepted.close()) }
}

/**
 * `acceptedTransport`'s state (and its entry in `takers`): methods, shared, rather than
 * closures made for every accepted socket.
 */
class Accepted {
  adapted: ReturnType<typeof adapt> | undefined = undefined
  taken = false
  closed = false
  constructor(readonly socket: Net.Socket, readonly description: Transport.Description) {}

  consumed(): Effect.Effect<never, TransportError> {
    return Effect.fail(
      new TransportError({
        reason: "Closed",
        description: this.description,
        ...(this.taken ? { cause: new Error("the socket was taken over by the TLS engine") } : {})
      })
    )
  }

  full(): Transport.Transport | undefined {
    return this.taken || this.closed ? undefined : (this.adapted ??= adapt(this.socket, this.description)).transport
  }

  fast(): Transport.Immediate | undefined {
    const inner = this.full()
    return inner === undefined ? undefined : Transport.immediate(inner)
  }

  take(): Option.Option<Duplex> {
    if (this.taken || this.closed) return Option.none()
    const socket = this.socket
    const took = this.adapted === undefined
      ? (socket.destroyed || socket.readableEnded ? Option.none() : Option.some<Duplex>(socket))
      : takeSocket(this.adapted.transport)
    if (Option.isSome(took)) this.taken = true
    return took
  }

  close(): Effect.Effect<void> {
    this.closed = true
    if (this.adapted !== undefined) return this.adapted.close
    if (!this.socket.destroyed) this.socket.destroy()
    return Effect.void
  }
}

const noCancel = () => {}

/**
 * An `error` listener that ignores, shared: one made inside a connection's callback would keep
 * that callback's scope (its socket, `resume` and listeners) for the socket's lifetime.
 */
const ignoreError = (_error: Error) => {}

/**
 * `fromSocket` for an accepted TCP socket (`acceptedTransport`: adapted on first use); closing
 * the scope destroys it.
 *
 * @internal
 */
export const fromAcceptedSocket = (
  socket: Net.Socket,
  local?: string | undefined
): Effect.Effect<Transport.Transport, never, Scope.Scope> =>
  closedWithScope(() => acceptedTransport(socket, describeAccepted(socket, local)))

/** @internal */
export const connect = (options: ConnectOptions): Effect.Effect<Transport.Transport, TransportError, Scope.Scope> => {
  const target: Transport.Description = {
    kind: "tcp",
    remote: formatAddress(options.host, options.port),
    host: options.host
  }
  // the socket is owned by the scope from the start: interruption or timeout destroys it. One
  // finalizer of the scope itself (not Effect.acquireRelease/addFinalizer: those keep a copy
  // of the fiber's refs per finalizer, about 0.3 KiB for each idle connection), added before
  // the socket exists: the transport's close once there is one, else the socket's destroy
  return Effect.withFiberRuntime((fiber) => {
    const scope = Context.get(fiber.currentContext as Context.Context<Scope.Scope>, Scope.Scope)
    let socket: Net.Socket | undefined = undefined
    let adapted: ReturnType<typeof acceptedTransport> | undefined = undefined
    const finalizer = Effect.suspend(() => {
      if (adapted !== undefined) return adapted.close
      socket?.destroy()
      return Effect.void
    })
    let connecting: Effect.Effect<Transport.Transport, TransportError> = Effect.async<
      Transport.Transport,
      TransportError
    >((resume) => {
      const created = new Net.Socket({ allowHalfOpen: true })
      socket = created
      // no Nagle: a TLS flight (or any small write) leaves at once, not after the peer's delayed ACK
      created.setNoDelay(true)
      // a pending error before the transport attaches its own listener must not crash
      created.on("error", ignoreError)
      const onConnect = () => {
        cleanup()
        // the host as asked for (not the resolved address): a TLS client's default identity.
        // Adapted on first use, as an accepted socket is: a TLS engine that takes the socket
        // first (the native path) never pays for the adapter's listeners and conditions
        adapted = acceptedTransport(created, { ...describeSocket(created), host: options.host })
        resume(Effect.succeed(adapted.transport))
      }
      const onError = (cause: Error) => {
        cleanup()
        created.destroy()
        resume(Effect.fail(new TransportError({ reason: "Open", description: target, cause })))
      }
      const cleanup = () => {
        created.off("connect", onConnect)
        created.off("error", onError)
      }
      created.once("connect", onConnect)
      created.once("error", onError)
      created.connect({ host: options.host, port: options.port })
      return Effect.sync(() => {
        cleanup()
        created.destroy()
      })
    })
    if (options.timeout !== undefined) {
      const timeout = Duration.decode(options.timeout)
      connecting = Effect.timeoutFail(connecting, {
        duration: timeout,
        onTimeout: () =>
          new TransportError({
            reason: "OpenTimeout",
            description: target,
            cause: new Error(`connect timed out after ${Duration.format(timeout)}`)
          })
      })
    }
    return Effect.zipRight(Scope.addFinalizer(scope, finalizer), connecting)
  })
}

/**
 * Starts `server` listening; fails with a `TransportError` (reason `Open`) when it cannot.
 *
 * @internal
 */
export const listenOn = (
  server: Net.Server,
  listen: Net.ListenOptions,
  description: Transport.Description
): Effect.Effect<void, TransportError> =>
  Effect.async<void, TransportError>((resume) => {
    const onListening = () => {
      server.off("error", onError)
      resume(Effect.void)
    }
    const onError = (cause: Error) => {
      server.off("listening", onListening)
      resume(Effect.fail(new TransportError({ reason: "Open", description, cause })))
    }
    server.once("listening", onListening)
    server.once("error", onError)
    server.listen(listen)
    return Effect.sync(() => {
      server.off("listening", onListening)
      server.off("error", onError)
    })
  })

/** A context without its `Scope` (the runtime of the connections' fibers, whose own scope goes in at once). */
const withoutScope = <R>(context: Context.Context<R | Scope.Scope>): Context.Context<R> =>
  Context.omit(Scope.Scope)(context) as Context.Context<R>

/**
 * The log annotations of an accepted connection's fiber, set when it is forked (`updateRefs`:
 * no Effect step): the module and the remote address.
 */
const annotated = (remote: string | undefined) => (refs: FiberRefs.FiberRefs, fiberId: FiberId.Runtime) =>
  FiberRefs.updateAs(refs, {
    fiberId,
    fiberRef: FiberRef.currentLogAnnotations,
    value: HashMap.set(withModule(FiberRefs.getOrDefault(refs, FiberRef.currentLogAnnotations)), "remote", remote)
  })

/** The last annotations `withModule` was given, and what it made of them. */
let annotationsSeen: HashMap.HashMap<string, unknown> | undefined = undefined
let annotationsWithModule: HashMap.HashMap<string, unknown> | undefined = undefined

/**
 * `annotations` with the module: made once for the annotations every connection of a listener
 * inherits (the same map each time), not once per connection.
 */
const withModule = (annotations: HashMap.HashMap<string, unknown>): HashMap.HashMap<string, unknown> => {
  if (annotationsSeen !== annotations || annotationsWithModule === undefined) {
    annotationsWithModule = HashMap.set(annotations, "module", "NodeTransport")
    annotationsSeen = annotations
  }
  return annotationsWithModule
}

/**
 * One accepted connection, the whole of its own fiber (forked uninterruptible, annotated by
 * `annotated`): its scope enters the fiber's context for good (no restoring frames), the
 * handler runs interruptibly, the transport closes after the scope (its finalizers, e.g. a TLS
 * close_notify, still have the socket), and a failure is logged. While the handler runs, the
 * fiber's stack holds two frames of this wrapper (`Effect.scoped`, `annotateLogs` and
 * `catchAllCause` would keep about ten for the connection's lifetime).
 */
const serveAccepted = <E, R>(
  socket: Net.Socket,
  description: Transport.Description,
  handler: (transport: Transport.Transport) => Effect.Effect<void, E, R>,
  level: LogLevel.Literal
): Effect.Effect<void, never, Exclude<R, Scope.Scope>> =>
  Effect.flatMap(Scope.make(), (scope) =>
    Effect.zipRight(
      FiberRef.update(FiberRef.currentContext, Context.add(Scope.Scope, scope)),
      Effect.suspend(() => {
        const made = acceptedTransport(socket, description)
        // (the fiber is uninterruptible here: no mask of `Effect.ensuring` needed)
        const close = (exit: Exit.Exit<unknown, unknown>) =>
          Effect.matchCauseEffect(Scope.close(scope, exit), {
            onFailure: (cause) => Effect.zipRight(made.close, Effect.failCause(cause)),
            onSuccess: () => made.close
          })
        return Effect.matchCauseEffect(Effect.interruptible(handler(made.transport)), {
          onFailure: (cause) =>
            Effect.zipRight(
              close(Exit.failCause(cause)),
              Cause.isInterruptedOnly(cause) || level === "None"
                ? Effect.void
                : Effect.logWithLevel(LogLevel.fromLiteral(level), "connection handler failed", cause)
            ),
          onSuccess: () => close(Exit.void)
        })
      })
    )) as Effect.Effect<void, never, Exclude<R, Scope.Scope>>

/** @internal */
export const listen = (options?: ListenOptions | undefined): Effect.Effect<Server, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options?.host ?? "127.0.0.1"
    const port = options?.port ?? 0
    const description: Transport.Description = { kind: "tcp", local: formatAddress(host, port) }
    // every accepted socket until it closes, so that closing the listener closes them all
    const sockets = new Set<Net.Socket>()
    // accepted while no `run` is active
    const pending: Array<Net.Socket> = []
    // the active `run`s' handlers, in the order they started: the first serves (read by index, no
    // iterator per connection)
    const handlers: Array<(socket: Net.Socket) => void> = []

    // (one listener for every socket, not a closure per socket: node calls it on the socket)
    const forget = function(this: Net.Socket) {
      sockets.delete(this)
    }

    const server = yield* Effect.acquireRelease(
      Effect.sync(() => {
        // (no-delay set by node on each accepted handle, before the socket is made)
        const server = Net.createServer({ allowHalfOpen: true, noDelay: true })
        server.on("error", () => {})
        server.on("connection", (socket) => {
          sockets.add(socket)
          socket.on("error", ignoreError)
          socket.on("close", forget)
          const serving = handlers[0]
          if (serving === undefined) pending.push(socket)
          else serving(socket)
        })
        return server
      }),
      (server) =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          sockets.clear()
          pending.length = 0
          if (!server.listening) return resume(Effect.void)
          server.close(() => resume(Effect.void))
        })
    )

    yield* listenOn(server, { host, port, backlog: options?.backlog }, description)

    const bound = server.address() as Net.AddressInfo
    const address = { host: bound.address, port: bound.port }
    const local = acceptedLocal(server)

    const run = <E, R>(
      handler: (transport: Transport.Transport) => Effect.Effect<void, E, R>,
      runOptions?: RunOptions | undefined
    ) =>
      Effect.gen(function*() {
        const fiberSet = yield* FiberSet.make<void, never>()
        // (taken in an uninterruptible region: every connection's fiber starts uninterruptible,
        // so nothing is lost before its scope and its transport are in place; without `run`'s
        // own Scope in its context, which each connection's replaces: a context of another size
        // is told apart at once, where one of the same size is compared service by service)
        const runFork = yield* Effect.uninterruptible(
          Effect.mapInputContext(
            FiberSet.runtime(fiberSet)<Exclude<R, Scope.Scope>>(),
            withoutScope<Exclude<R, Scope.Scope>>
          )
        )
        const level = runOptions?.handlerFailureLogLevel ?? "Warning"
        const serve = (socket: Net.Socket) => {
          // (read once: each address is a system call)
          const description = describeAccepted(socket, local)
          runFork(serveAccepted(socket, description, handler, level), { updateRefs: annotated(description.remote) })
        }
        return yield* Effect.async<never>(() => {
          handlers.push(serve)
          for (const socket of pending.splice(0)) {
            if (!socket.destroyed) serve(socket)
          }
          return Effect.sync(() => {
            handlers.splice(handlers.indexOf(serve), 1)
          })
        })
      }).pipe(Effect.scoped)

    return {
      address,
      run,
      connections: Effect.sync(() => sockets.size)
    } satisfies Server
  })

/** @internal */
export const pairForTest: Effect.Effect<
  readonly [Transport.Transport, Transport.Transport],
  TransportError,
  Scope.Scope
> = Effect.gen(function*() {
  const server = yield* listen({ host: "127.0.0.1", port: 0 })
  const accepted = yield* Deferred.make<Transport.Transport>()
  yield* Effect.forkScoped(
    server.run((transport) => Effect.zipRight(Deferred.succeed(accepted, transport), Effect.never))
  )
  const client = yield* connect({ host: server.address.host, port: server.address.port, timeout: "5 seconds" })
  const serverSide = yield* Deferred.await(accepted)
  // tests cut a connection with `shutdownWrite` on a transport a native-path engine took over:
  // the TCP side then ends under node:tls, without close_notify (a truncation)
  truncatable.add(client)
  truncatable.add(serverSide)
  return [client, serverSide] as const
})
