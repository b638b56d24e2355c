/**
 * Two connected in-memory `Transport`s: each direction is a bounded buffer with
 * real backpressure, half-close, configurable chunking (down to 1 byte) and
 * fault injection (drop, reset, corruption, truncation, delay, stall).
 *
 * It is deterministic: no timers run unless a `delay` is asked for, and that
 * delay uses Effect's `Clock`, so `TestClock.adjust` drives it.
 *
 * Buffering and copies: a write is copied exactly once (so the writer may reuse
 * its buffer as soon as `write` resolves), in pieces of at most `capacity`
 * bytes; reads return that copy, or `subarray` views of it when `chunkSize`
 * splits it. A piece is accepted when it fits in the free space or the buffer is
 * empty, so at most `capacity` bytes are buffered per direction. The default,
 * 128 KiB, holds what node:tls makes of a full 64 KiB plaintext write (its
 * records, about 65.6 KiB) whole, with room for the next: such a write travels
 * as one chunk, not split at the buffer's edge.
 * Reads never merge chunks. Interrupting a pending `write` may leave a prefix of
 * it delivered (as with TCP).
 *
 * @example
 * ```ts
 * import { MemoryTransport } from "@effect-tls/testkit"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const [client, server] = yield* MemoryTransport.pair({ chunkSize: 1 })
 *   yield* client.write(new TextEncoder().encode("hi"))
 *   const chunk = yield* server.read // Option.some(Uint8Array [104])
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 */
import type { TlsConfigError } from "@effect-tls/core/TlsError"
import * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as Transport from "@effect-tls/core/Transport"
import * as TransportServer from "@effect-tls/core/TransportServer"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/memoryPipe.js"

/**
 * Faults injected into one direction of the pair.
 *
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  /**
   * After this many bytes have been written in this direction the connection
   * is reset: the write that crosses the mark fails with reason "Write", every
   * later write (both ways) fails, and each reader first drains the bytes
   * already buffered (exactly `resetAfter` bytes in this direction) then fails
   * with reason "Read".
   */
  readonly resetAfter?: number | undefined
  /** Flip every bit of the byte(s) at these stream offsets (0-based). */
  readonly corruptAt?: number | ReadonlyArray<number> | undefined
  /**
   * Deliver this many bytes then the end of input, without any error; later
   * writes in this direction are silently swallowed (a truncation attack).
   */
  readonly truncateAfter?: number | undefined
  /** Delay each delivered chunk by this long (Effect's `Clock`). */
  readonly delay?: Duration.DurationInput | undefined
  /** Start stalled: nothing is delivered until `Control.release`. */
  readonly stalled?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Bytes buffered per direction before `write` suspends (default 128 KiB). */
  readonly capacity?: number | undefined
  /** Deliver reads in chunks of at most this many bytes (default: unlimited). */
  readonly chunkSize?: number | undefined
  /** Faults on the bytes the left transport writes. */
  readonly leftToRight?: Faults | undefined
  /** Faults on the bytes the right transport writes. */
  readonly rightToLeft?: Faults | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type Direction = "leftToRight" | "rightToLeft"

/**
 * Counters for one direction.
 *
 * @since 0.1.0
 * @category models
 */
export interface DirectionStats {
  /** Bytes accepted from the writer and not yet read. */
  readonly buffered: number
  /** Bytes accepted from the writer in total. */
  readonly written: number
  /** Bytes handed to the reader in total. */
  readonly delivered: number
  /** The writer half-closed (or a truncation fired). */
  readonly ended: boolean
  /** Fibers suspended in `read` / `write`: both 0 once nothing is pending. */
  readonly pendingReads: number
  readonly pendingWrites: number
}

/**
 * Drives faults while the pair is in use.
 *
 * @since 0.1.0
 * @category models
 */
export interface Control {
  /** Drop the connection: every pending and later operation on both ends fails (reasons "Read"/"Write"). */
  readonly drop: Effect.Effect<void>
  /** Stop delivering bytes in this direction until `release`. */
  readonly stall: (direction: Direction) => Effect.Effect<void>
  /** Resume delivery in this direction. */
  readonly release: (direction: Direction) => Effect.Effect<void>
  /** Reset the connection once this direction has carried `bytes` bytes in total (see `Faults.resetAfter`). */
  readonly resetAfter: (direction: Direction, bytes: number) => Effect.Effect<void>
  /** Corrupt the byte at this stream offset of the direction (if not yet written). */
  readonly corruptAt: (direction: Direction, offset: number) => Effect.Effect<void>
  /** End the direction's input once it has carried `bytes` bytes in total (see `Faults.truncateAfter`). */
  readonly truncateAfter: (direction: Direction, bytes: number) => Effect.Effect<void>
  /** Set (or clear, with `undefined`) the per-chunk delivery delay. */
  readonly setDelay: (direction: Direction, delay: Duration.DurationInput | undefined) => Effect.Effect<void>
  /** Counters for the direction. */
  readonly stats: (direction: Direction) => Effect.Effect<DirectionStats>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PairWithControl {
  readonly left: Transport.Transport
  readonly right: Transport.Transport
  readonly control: Control
}

const DEFAULT_CAPACITY = 128 * 1024

const FaultsSchema = Schema.Struct({
  resetAfter: Schema.optional(TlsOptions.Count(0)),
  corruptAt: Schema.optional(Schema.Union(TlsOptions.Count(0), Schema.Array(TlsOptions.Count(0)))),
  truncateAfter: Schema.optional(TlsOptions.Count(0)),
  delay: Schema.optional(TlsOptions.DurationInput),
  stalled: Schema.optional(Schema.Boolean)
})

/**
 * The schema `pair` and `pairWithControl` check their options against: `capacity` and
 * `chunkSize` whole numbers of at least 1 (or `Infinity`), fault offsets of 0 or more.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OptionsSchema = Schema.Struct({
  capacity: Schema.optional(TlsOptions.Count(1, { infinite: true })),
  chunkSize: Schema.optional(TlsOptions.Count(1, { infinite: true })),
  leftToRight: Schema.optional(FaultsSchema),
  rightToLeft: Schema.optional(FaultsSchema)
})

/**
 * Two connected transports and a handle to inject faults. Closing the scope
 * closes both ends: pending and later reads and writes fail with reason
 * "Closed". Invalid options fail with `TlsConfigError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const pairWithControl = (
  options?: Options | undefined
): Effect.Effect<PairWithControl, TlsConfigError, Scope.Scope> =>
  Effect.zipRight(
    TlsOptions.validate(OptionsSchema, "MemoryTransport options", options),
    acquire(options)
  )

const acquire = (options: Options | undefined): Effect.Effect<PairWithControl, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const capacity = options?.capacity ?? DEFAULT_CAPACITY
      const chunkSize = options?.chunkSize ?? Infinity
      const leftDescription: Transport.Description = { kind: "memory", local: "left", remote: "right" }
      const rightDescription: Transport.Description = { kind: "memory", local: "right", remote: "left" }
      const connection: internal.Connection = { failure: undefined, pipes: [] }
      const leftToRight = new internal.Pipe(
        connection,
        capacity,
        chunkSize,
        rightDescription,
        leftDescription,
        options?.leftToRight ?? {}
      )
      const rightToLeft = new internal.Pipe(
        connection,
        capacity,
        chunkSize,
        leftDescription,
        rightDescription,
        options?.rightToLeft ?? {}
      )
      connection.pipes.push(leftToRight, rightToLeft)
      const left = Transport.make({
        read: rightToLeft.read,
        write: leftToRight.write,
        shutdownWrite: leftToRight.shutdownWrite,
        description: leftDescription,
        immediate: {
          read: rightToLeft.readImmediate,
          write: leftToRight.writeImmediate,
          whenReadable: rightToLeft.whenReadable,
          whenWritable: leftToRight.whenWritable
        }
      })
      const right = Transport.make({
        read: leftToRight.read,
        write: rightToLeft.write,
        shutdownWrite: rightToLeft.shutdownWrite,
        description: rightDescription,
        immediate: {
          read: leftToRight.readImmediate,
          write: rightToLeft.writeImmediate,
          whenReadable: leftToRight.whenReadable,
          whenWritable: rightToLeft.whenWritable
        }
      })
      const pipe = (direction: Direction) => direction === "leftToRight" ? leftToRight : rightToLeft
      const update = (direction: Direction, f: (pipe: internal.Pipe) => void) =>
        Effect.sync(() => {
          const p = pipe(direction)
          f(p)
          p.wake()
        })
      const control: Control = {
        drop: Effect.sync(() => internal.fail(connection, { _tag: "Dropped" })),
        stall: (direction) =>
          update(direction, (p) => {
            p.stalled = true
          }),
        release: (direction) =>
          update(direction, (p) => {
            p.stalled = false
          }),
        resetAfter: (direction, bytes) =>
          update(direction, (p) => {
            p.resetAfter = bytes
          }),
        corruptAt: (direction, offset) =>
          update(direction, (p) => {
            p.corruptAt.push(offset)
          }),
        truncateAfter: (direction, bytes) =>
          update(direction, (p) => {
            p.truncateAfter = bytes
            if (p.written >= bytes && !p.truncated) {
              // already past the mark: end the input at what was written
              p.truncated = true
              p.ended = true
            }
          }),
        setDelay: (direction, delay) =>
          update(direction, (p) => {
            p.delay = delay === undefined ? undefined : Duration.decode(delay)
          }),
        stats: (direction) =>
          Effect.sync(() => {
            const p = pipe(direction)
            return {
              buffered: p.buffered,
              written: p.written,
              delivered: p.delivered,
              ended: p.ended,
              pendingReads: p.pendingReaders,
              pendingWrites: p.pendingWriters
            }
          })
      }
      return { left, right, control, connection }
    }),
    ({ connection }) => Effect.sync(() => internal.fail(connection, { _tag: "Closed" }))
  ).pipe(Effect.map(({ control, left, right }): PairWithControl => ({ left, right, control })))

/**
 * Two connected transports `[left, right]`. Closing the scope closes both ends. Invalid
 * options fail with `TlsConfigError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const pair = (
  options?: Options | undefined
): Effect.Effect<readonly [Transport.Transport, Transport.Transport], TlsConfigError, Scope.Scope> =>
  Effect.map(pairWithControl(options), ({ left, right }) => [left, right] as const)

/**
 * An in-memory `TransportServer` and a way to connect to it: each `connect` makes a pair (in
 * the caller's scope, which closes both ends), queues one end for `server.accept` and returns
 * the other (invalid `options` fail each `connect` with `TlsConfigError`).
 * `TlsServer.makeServer(listener.server, options)` then serves TLS in memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const listener = (options?: Options | undefined): Effect.Effect<{
  readonly server: TransportServer.TransportServer
  readonly connect: Effect.Effect<Transport.Transport, TlsConfigError, Scope.Scope>
}> =>
  Effect.map(Queue.unbounded<Transport.Transport>(), (queue) => ({
    server: TransportServer.fromQueue({ _tag: "UnixAddress", path: "memory" }, queue),
    connect: Effect.flatMap(pair(options), ([left, right]) => Effect.as(Queue.offer(queue, right), left))
  }))
