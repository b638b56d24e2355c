/**
 * A `Transport` is the pluggable byte pipe a TLS connection runs over: a TCP
 * socket, an in-memory pair, a WebSocket, anything that moves bytes both ways.
 *
 * It is deliberately small and pull-based:
 *
 * - `read` pulls the next chunk, `Option.none()` meaning the peer's end of input;
 * - `write` resolves when the bytes were accepted (that is the backpressure);
 * - `shutdownWrite` half-closes (TCP FIN) while reading goes on;
 * - `unread` pushes over-read bytes back so that the next `read` returns them first
 *   (STARTTLS: plaintext read past the upgrade point is handed to the TLS engine).
 *
 * A transport is built as a scoped resource: closing its `Scope` closes it.
 *
 * @example
 * ```ts
 * import { Transport } from "@effect-tls/core"
 * import { Effect, Stream } from "effect"
 *
 * // echo everything back until the peer's end of input
 * const echo = (transport: Transport.Transport) =>
 *   Transport.stream(transport).pipe(
 *     Stream.run(Transport.sink(transport)),
 *     Effect.zipRight(transport.shutdownWrite)
 *   )
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-tls/core/Transport")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What a transport says about itself, for logs, errors and `HandshakeInfo`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Description {
  /** e.g. `"tcp"`, `"memory"` */
  readonly kind: string
  readonly local?: string | undefined
  readonly remote?: string | undefined
  /**
   * The host this transport was asked to reach, as the caller named it (a DNS name or an
   * IP literal, never the address it resolved to): e.g. `NodeTransport.connect({ host })`
   * sets it. A TLS client over this transport takes it as its default `serverIdentity`
   * (and SNI, for a host name). Leave it out when the transport cannot know it.
   */
  readonly host?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Transport {
  readonly [TypeId]: TypeId
  /** Pull the next chunk of bytes; `Option.none()` is the peer's end of input. */
  readonly read: Effect.Effect<Option.Option<Uint8Array>, TransportError>
  /** Write bytes; resolves once the transport accepted them (backpressure). */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, TransportError>
  /** Half-close: signal end of output to the peer (TCP FIN); reading goes on. */
  readonly shutdownWrite: Effect.Effect<void, TransportError>
  /** Push bytes back: the next `read` returns them before anything else. */
  readonly unread: (bytes: Uint8Array) => Effect.Effect<void>
  readonly description: Description
}

/**
 * @since 0.1.0
 * @category type ids
 */
export const TransportErrorTypeId: unique symbol = Symbol.for("@effect-tls/core/Transport/TransportError")

/**
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Data.TaggedError("TransportError")<{
  readonly reason: "Open" | "OpenTimeout" | "Read" | "Write" | "Shutdown" | "Closed"
  readonly description?: Description | undefined
  readonly cause?: unknown
}> {
  /**
   * @since 0.1.0
   */
  readonly [TransportErrorTypeId]: typeof TransportErrorTypeId = TransportErrorTypeId

  /**
   * @since 0.1.0
   */
  override get message(): string {
    const where = this.description ? ` (${describe(this.description)})` : ""
    const cause = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `transport ${this.reason} failed${where}${cause}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isTransportError = (u: unknown): u is TransportError => Predicate.hasProperty(u, TransportErrorTypeId)

/**
 * @since 0.1.0
 * @category guards
 */
export const isTransport = (u: unknown): u is Transport => Predicate.hasProperty(u, TypeId)

/**
 * Renders a description as `kind local -> remote`.
 *
 * @since 0.1.0
 * @category utils
 */
export const describe = (description: Description): string => {
  const ends = description.local || description.remote
    ? ` ${description.local ?? "?"} -> ${description.remote ?? "?"}`
    : ""
  return `${description.kind}${ends}`
}

/**
 * Where a transport made by `make` reports whether pushed-back bytes wait to be read.
 *
 * @since 0.1.0
 * @category symbols
 * @internal
 */
export const PendingInputSymbol: unique symbol = Symbol.for("@effect-tls/core/Transport/PendingInput")

/**
 * Whether bytes pushed back with `unread` wait to be read (`true` when it cannot tell).
 * An engine that hands the raw socket to a native TLS implementation must then hand it these
 * bytes too (node's engine puts them back into the socket), or keep its own path.
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const hasPendingInput = (transport: Transport): boolean =>
  Predicate.hasProperty(transport, PendingInputSymbol)
    ? (transport[PendingInputSymbol] as () => boolean)()
    : true

/**
 * An optional synchronous fast path beside a transport's Effects, for engines driven by
 * callbacks (node:tls's stream bridge): each operation completes now or does nothing, and
 * never waits; the caller then falls back to the Effect. What it returns is exactly what the
 * Effect would have returned at once. It saves running an Effect per chunk on a busy
 * connection; a transport without it works the same, a little slower.
 *
 * @since 0.1.0
 * @category models
 */
export interface Immediate {
  /**
   * A chunk that `read` would return now, `null` for the end of input, `"wait"` when nothing
   * is there yet (`whenReadable` tells when to try again), or `undefined`: anything else (a
   * failure, a delay): use `read`.
   */
  readonly read: () => Uint8Array | null | "wait" | undefined
  /**
   * Writes the prefix of `bytes` that the transport accepts now, without waiting, and returns
   * its length. 0: nothing was written, use `write` (it waits or fails); a part: wait for
   * `whenWritable` before writing the rest. Backpressure holds as with `write`: a transport may
   * take one write past its high-water mark, as `write` does before it waits for room.
   * `handedOver`: the caller never touches `bytes` again, so the transport may keep them
   * rather than a copy.
   */
  readonly write: (bytes: Uint8Array, handedOver?: boolean) => number
  /**
   * Optional: writes `chunks`, in order, as one write, now, and returns true; or writes
   * nothing and returns false (then join them and `write`). It spares a copy where the
   * transport gathers writes itself (a socket's writev).
   */
  readonly writeAll?: ((chunks: ReadonlyArray<Uint8Array>) => boolean) | undefined
  /**
   * Calls `wake` once, when `read` may see something new (bytes, the end of input, a
   * failure); returns a function that cancels it.
   */
  readonly whenReadable: (wake: () => void) => () => void
  /** Calls `wake` once, when `write` may accept more (or fail); returns a function that cancels it. */
  readonly whenWritable: (wake: () => void) => () => void
  /**
   * Optional: the half-close of `shutdownWrite`, begun now, its outcome given to `done` once
   * known (at once, or later): `undefined` when the write side is closed, else the failure
   * `shutdownWrite` would fail with. Returns a function that stops waiting for it; or returns
   * `undefined` having done nothing, and then `done` is never called: use `shutdownWrite`.
   * It spares running an Effect (a fiber, for a caller driven by callbacks) per connection.
   */
  readonly shutdownWrite?:
    | ((done: (failure: TransportError | undefined) => void) => (() => void) | undefined)
    | undefined
}

/**
 * The parts a transport implementation supplies; `make` adds push-back (`unread`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Implementation {
  readonly read: Effect.Effect<Option.Option<Uint8Array>, TransportError>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, TransportError>
  readonly shutdownWrite: Effect.Effect<void, TransportError>
  readonly description: Description
  /** The synchronous fast path, when the implementation can offer one. */
  readonly immediate?: Immediate | undefined
}

/**
 * What `make` builds: the interface's members as own fields (a spread copy of a transport, a
 * wrapper's usual start, has them all), and the fast path in a private field, which a copy
 * has not (a wrapper that replaces `read` must not be bypassed by the original's fast path).
 * A private field rather than a module-level WeakMap keyed by the transport: an entry per
 * transport made costs a weak-table insertion and the collector's ephemeron work on every
 * connection.
 */
class MadeTransport implements Transport {
  readonly [TypeId]: TypeId = TypeId
  readonly [PendingInputSymbol]: () => boolean
  readonly read: Transport["read"]
  readonly write: Transport["write"]
  readonly shutdownWrite: Transport["shutdownWrite"]
  readonly unread: Transport["unread"]
  readonly description: Description
  readonly #immediate: Immediate | undefined

  constructor(implementation: Implementation) {
    const pushedBack: Array<Uint8Array> = []
    this[PendingInputSymbol] = () => pushedBack.length > 0
    this.read = Effect.suspend(() => {
      const head = pushedBack.shift()
      return head !== undefined ? Effect.succeed(Option.some(head)) : implementation.read
    })
    this.write = implementation.write
    this.shutdownWrite = implementation.shutdownWrite
    this.unread = (bytes) =>
      Effect.sync(() => {
        if (bytes.length > 0) pushedBack.unshift(bytes)
      })
    this.description = implementation.description
    const fast = implementation.immediate
    this.#immediate = fast === undefined ? undefined : {
      read: () => pushedBack.length > 0 ? pushedBack.shift()! : fast.read(),
      write: fast.write,
      writeAll: fast.writeAll,
      whenReadable: fast.whenReadable,
      whenWritable: fast.whenWritable,
      shutdownWrite: fast.shutdownWrite
    }
  }

  static immediateOf(transport: Transport): Immediate | undefined {
    return #immediate in transport ? (transport as MadeTransport).#immediate : undefined
  }
}

/**
 * The synchronous fast path of a transport built by `make` with one, if any.
 *
 * @since 0.1.0
 * @category accessors
 */
export const immediate = (transport: Transport): Immediate | undefined => MadeTransport.immediateOf(transport)

/**
 * Builds a `Transport` from its parts, adding the push-back buffer behind `unread`.
 * The resource behind the implementation is owned by the caller's scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (implementation: Implementation): Transport => new MadeTransport(implementation)

/**
 * The transport's input as a stream; it ends at the peer's end of input.
 *
 * @since 0.1.0
 * @category adapters
 */
export const stream = (transport: Transport): Stream.Stream<Uint8Array, TransportError> =>
  Stream.repeatEffectOption(
    Effect.flatMap(
      Effect.mapError(transport.read, Option.some),
      Option.match({ onNone: () => Effect.fail(Option.none()), onSome: Effect.succeed })
    )
  )

/**
 * A sink that writes every chunk to the transport (it does not half-close).
 *
 * @since 0.1.0
 * @category adapters
 */
export const sink = (transport: Transport): Sink.Sink<void, Uint8Array, never, TransportError> =>
  Sink.forEach(transport.write)
