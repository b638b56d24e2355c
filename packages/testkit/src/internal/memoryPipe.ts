/**
 * One direction of an in-memory connection: a bounded buffer of chunks with
 * backpressure, half-close and fault injection.
 *
 * Buffering policy (documented in MemoryTransport.ts):
 * - a write is copied exactly once (`slice`) so that the writer may reuse its
 *   buffer as soon as `write` resolves (not when the fast path's writer hands the
 *   bytes over: node:tls's fresh ciphertext); reads hand out that copy (or
 *   `subarray` views of it when `chunkSize` splits it), never copying again;
 * - a write is split in pieces of at most `capacity` bytes; a piece is accepted
 *   when it fits in the free space or the buffer is empty, so at most
 *   `capacity` bytes are ever buffered per direction and a write that fits the
 *   buffer stays one chunk (the default, 128 KiB, takes node:tls's ciphertext of a
 *   64 KiB plaintext write whole);
 * - waiting is done with core's `Condition` (no polling, no timers unless a
 *   delay is configured).
 *
 * @internal
 */
import * as Condition from "@effect-tls/core/Condition"
import type * as Transport from "@effect-tls/core/Transport"
import { TransportError } from "@effect-tls/core/Transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** @internal */
export type Failure =
  | { readonly _tag: "Closed" }
  | { readonly _tag: "Dropped" }
  | { readonly _tag: "Reset" }

/** @internal */
export interface PipeFaults {
  readonly resetAfter?: number | undefined
  readonly corruptAt?: number | ReadonlyArray<number> | undefined
  readonly truncateAfter?: number | undefined
  readonly delay?: Duration.DurationInput | undefined
  readonly stalled?: boolean | undefined
}

/** @internal */
export interface Connection {
  failure: Failure | undefined
  readonly pipes: Array<Pipe>
}

/** @internal */
export class Pipe {
  // buffered chunks, the head partially consumed up to `headOffset`
  private readonly chunks: Array<Uint8Array> = []
  private headOffset = 0
  buffered = 0
  /** bytes accepted from the writer so far (stream offset of the next byte) */
  written = 0
  /** bytes handed to the reader so far */
  delivered = 0
  /** the writer half-closed (or a truncation fault fired) */
  ended = false
  /** the writer called shutdownWrite */
  shutdown = false
  /** truncation fired: further writes are swallowed */
  truncated = false
  stalled: boolean
  delay: Duration.Duration | undefined
  resetAfter: number | undefined
  truncateAfter: number | undefined
  corruptAt: Array<number>
  private readonly readers = Condition.make()
  private readonly writers = Condition.make()

  constructor(
    readonly connection: Connection,
    readonly capacity: number,
    readonly chunkSize: number,
    readonly readerDescription: Transport.Description,
    readonly writerDescription: Transport.Description,
    faults: PipeFaults
  ) {
    this.stalled = faults.stalled === true
    this.delay = faults.delay === undefined ? undefined : Duration.decode(faults.delay)
    this.resetAfter = faults.resetAfter
    this.truncateAfter = faults.truncateAfter
    this.corruptAt = faults.corruptAt === undefined
      ? []
      : typeof faults.corruptAt === "number"
      ? [faults.corruptAt]
      : Array.from(faults.corruptAt)
  }

  /** Wake every waiter on both sides (state changed). */
  wake(): void {
    this.readers.notify()
    this.writers.notify()
  }

  get pendingReaders(): number {
    return this.readers.waiting
  }

  get pendingWriters(): number {
    return this.writers.waiting
  }

  private readError(failure: Failure): TransportError {
    return failure._tag === "Closed"
      ? new TransportError({ reason: "Closed", description: this.readerDescription })
      : new TransportError({
        reason: "Read",
        description: this.readerDescription,
        cause: new Error(failure._tag === "Dropped" ? "connection dropped (injected)" : "connection reset (injected)")
      })
  }

  private writeError(failure: Failure): TransportError {
    return failure._tag === "Closed"
      ? new TransportError({ reason: "Closed", description: this.writerDescription })
      : new TransportError({
        reason: "Write",
        description: this.writerDescription,
        cause: new Error(failure._tag === "Dropped" ? "connection dropped (injected)" : "connection reset (injected)")
      })
  }

  /**
   * What a read would see now: a failure, "data" (deliverable bytes), "eof",
   * or undefined (must wait).
   */
  private readState(): TransportError | "data" | "eof" | undefined {
    const failure = this.connection.failure
    // Closed and Dropped discard everything; Reset lets the reader drain first
    if (failure !== undefined && failure._tag !== "Reset") return this.readError(failure)
    if (this.stalled) return undefined
    if (this.buffered > 0) return "data"
    if (failure !== undefined) return this.readError(failure)
    if (this.ended) return "eof"
    return undefined
  }

  private take(): Uint8Array {
    const head = this.chunks[0]
    const available = head.length - this.headOffset
    const n = available <= this.chunkSize ? available : this.chunkSize
    const out = this.headOffset === 0 && n === head.length ? head : head.subarray(this.headOffset, this.headOffset + n)
    if (n === available) {
      this.chunks.shift()
      this.headOffset = 0
    } else {
      this.headOffset += n
    }
    this.buffered -= n
    this.delivered += n
    this.writers.notify()
    return out
  }

  readonly read: Effect.Effect<Option.Option<Uint8Array>, TransportError> = Effect.suspend(() => {
    const state = this.readState()
    if (state === undefined) return Effect.zipRight(this.readers.next, this.read)
    if (state === "eof") return Effect.succeed(Option.none())
    if (state !== "data") return Effect.fail(state)
    if (this.delay !== undefined && Duration.toMillis(this.delay) > 0) {
      return Effect.zipRight(Effect.sleep(this.delay), this.readNow)
    }
    return Effect.succeed(Option.some(this.take()))
  })

  /** after a delay: deliver if still possible, otherwise go back to waiting */
  private readNow: Effect.Effect<Option.Option<Uint8Array>, TransportError> = Effect.suspend(() => {
    const state = this.readState()
    if (state === "data") return Effect.succeed(Option.some(this.take()))
    return this.read
  })

  /** `Transport.Immediate.read`: what `read` would deliver now, "wait", or undefined (a delay or a failure: `read`). */
  readonly readImmediate = (): Uint8Array | null | "wait" | undefined => {
    if (this.connection.failure !== undefined && (this.connection.failure._tag !== "Reset" || this.buffered === 0)) {
      return undefined
    }
    if (this.stalled) return "wait"
    if (this.buffered > 0) {
      return this.delay !== undefined && Duration.toMillis(this.delay) > 0 ? undefined : this.take()
    }
    return this.ended ? null : "wait"
  }

  /**
   * `Transport.Immediate.write`: accepts what fits now and returns its length; nothing while
   * a fault is armed at a byte offset (those go through `write`, which reports them).
   */
  readonly writeImmediate = (bytes: Uint8Array, handedOver?: boolean): number => {
    if (
      this.connection.failure !== undefined || this.shutdown || this.truncated ||
      this.resetAfter !== undefined || this.truncateAfter !== undefined
    ) return 0
    let offset = 0
    while (offset < bytes.length) {
      const accepted = this.acceptOne(bytes, offset, handedOver !== true)
      if (typeof accepted !== "number" || accepted === 0) break
      offset += accepted
    }
    return offset
  }

  readonly whenReadable = (wake: () => void): () => void => this.readers.onNext(wake)
  readonly whenWritable = (wake: () => void): () => void => this.writers.onNext(wake)

  private writeCheck(): TransportError | undefined {
    const failure = this.connection.failure
    if (failure !== undefined) return this.writeError(failure)
    if (this.shutdown) {
      return new TransportError({
        reason: "Write",
        description: this.writerDescription,
        cause: new Error("write after shutdownWrite")
      })
    }
    return undefined
  }

  /** Outcome of trying to accept a piece now: bytes consumed, an error, or undefined (wait) */
  private acceptOne(bytes: Uint8Array, offset: number, copy = true): number | TransportError | undefined {
    const error = this.writeCheck()
    if (error !== undefined) return error
    if (this.truncated) return bytes.length - offset // swallowed silently
    let n = bytes.length - offset
    if (n > this.capacity) n = this.capacity
    if (this.buffered > 0 && this.buffered + n > this.capacity) return undefined
    // faults that cut the stream at a byte offset
    let cut: "reset" | "resetAfterThis" | "truncate" | undefined
    if (this.resetAfter !== undefined && this.written + n >= this.resetAfter) {
      // a write reaching the mark exactly succeeds, one crossing it fails
      cut = this.written + n === this.resetAfter ? "resetAfterThis" : "reset"
      n = Math.max(0, this.resetAfter - this.written)
    }
    if (this.truncateAfter !== undefined && this.written + n >= this.truncateAfter) {
      const m = Math.max(0, this.truncateAfter - this.written)
      if (cut === undefined || m < n) {
        n = m
        cut = "truncate"
      }
    }
    if (n > 0) {
      const piece = copy
        ? bytes.slice(offset, offset + n)
        : offset === 0 && n === bytes.length
        ? bytes
        : bytes.subarray(offset, offset + n)
      if (this.corruptAt.length > 0) {
        for (const at of this.corruptAt) {
          if (at >= this.written && at < this.written + n) piece[at - this.written] ^= 0xff
        }
      }
      this.chunks.push(piece)
      this.buffered += n
      this.written += n
      this.readers.notify()
    }
    if (cut === "reset" || cut === "resetAfterThis") {
      fail(this.connection, { _tag: "Reset" })
      return cut === "reset" ? this.writeError(this.connection.failure!) : n
    }
    if (cut === "truncate") {
      this.truncated = true
      this.ended = true
      this.readers.notify()
      return bytes.length - offset
    }
    return n
  }

  readonly write = (bytes: Uint8Array): Effect.Effect<void, TransportError> => {
    let offset = 0
    const loop: Effect.Effect<void, TransportError> = Effect.suspend(() => {
      while (true) {
        if (bytes.length === 0) {
          const error = this.writeCheck()
          return error === undefined ? Effect.void : Effect.fail(error)
        }
        const result = this.acceptOne(bytes, offset)
        if (result === undefined) return Effect.zipRight(this.writers.next, loop)
        if (typeof result !== "number") return Effect.fail(result)
        offset += result
        if (offset >= bytes.length) return Effect.void
      }
    })
    return loop
  }

  readonly shutdownWrite: Effect.Effect<void, TransportError> = Effect.suspend(() => {
    const failure = this.connection.failure
    if (failure !== undefined) return Effect.fail(this.writeError(failure))
    this.shutdown = true
    if (!this.ended) {
      this.ended = true
      this.readers.notify()
    }
    return Effect.void
  })
}

/** @internal */
export const fail = (connection: Connection, failure: Failure): void => {
  if (connection.failure !== undefined && connection.failure._tag !== "Reset") return
  connection.failure = failure
  for (const pipe of connection.pipes) pipe.wake()
}
