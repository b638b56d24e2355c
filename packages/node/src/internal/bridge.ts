/**
 * The one Duplex that lets node:tls run over any `Transport`.
 *
 * - reads are pulled from the transport only when node:tls asks for ciphertext (`_read`),
 *   so a consumer that stops reading plaintext stops the transport, and memory stays bounded;
 * - writes that node batched in one turn arrive together in `_writev` and go out as one
 *   transport write (a socket gathers them itself, `Immediate.writeAll`; otherwise one copy
 *   joins them, none for a single chunk);
 * - it records when the transport's end of input was handed to node:tls, which is how the
 *   engine tells a peer's close_notify (node:tls ends before that) from a bare FIN.
 *
 * No fiber lives here: node's callbacks call the transport directly. Its synchronous fast
 * path (`Transport.immediate`) is taken first, and waits there are callbacks (`whenReadable`,
 * `whenWritable`, the half-close's `shutdownWrite`); only an operation the fast path does
 * not take (a write at the transport's high-water mark, a failure to report, a foreign
 * transport) runs the transport's Effect, one fiber per operation, which ends with it. An idle
 * connection therefore holds no fiber, and a busy one enters Effect only when it waits on the
 * transport's Effect. Destroying the duplex interrupts a transport operation still in flight.
 *
 * @internal
 */
import * as Transport from "@effect-tls/core/Transport"
import type { TransportError } from "@effect-tls/core/Transport"
import * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { Duplex } from "node:stream"

type Callback = (error?: Error | null) => void

/** @internal */
export class TransportDuplex extends Duplex {
  /** The transport's end of input has been delivered to the consumer (node:tls). */
  eofDelivered = false
  /** Whether the consumer had already ended its own input when our end of input reached it. */
  consumerEndedBeforeEof = false
  /** The transport failure that broke this duplex, if any. */
  transportError: TransportError | undefined = undefined
  /** How many chunks came from the transport so far. */
  inboundChunks = 0
  /** How many writes node:tls handed the duplex so far (`_write` / `_writev` calls). */
  writtenChunks = 0
  /** The first byte the peer sent (a TLS peer starts with a handshake or alert record). */
  firstInboundByte: number | undefined = undefined
  /** Called with every chunk read from the transport, before node:tls sees it. */
  onInbound: ((chunk: Uint8Array) => void) | undefined = undefined
  /** Called with every chunk node:tls writes, before the transport gets it (Deno's client flight). */
  onOutbound: ((chunk: Uint8Array) => void) | undefined = undefined
  /** Reports whether the consumer (node:tls) has ended its own readable side. */
  consumerEnded: () => boolean = () => false
  /**
   * Reports whether the consumer's plaintext buffer is full. Deno's node:tls calls `_read` for
   * ever, whether its own reader reads or not: without this gate it would pull the whole stream.
   */
  consumerFull: () => boolean = () => false
  /** Reports whether the engine asked the consumer (node:tls) to end its writable side. */
  consumerWriteEnded: () => boolean = () => true
  /**
   * The consumer ended our writable side although the engine never asked it to: Bun's node:tls
   * answers the peer's close_notify at once (its own close_notify, then the end of its output),
   * so nothing written afterwards reaches the peer.
   */
  endedByConsumer = false
  /**
   * Whether a `destroy()` that is not the engine's waits for node:tls's last records (Deno 2.9):
   * Deno's TLSSocket hands its records to the duplex from a microtask without waiting for them,
   * and destroys the duplex as soon as the socket closed (both ends done), before its last
   * record, the close_notify, reached it, or while it still waits for room in the transport.
   * Such a destroy waits a macrotask, then for the records it holds; the engine's teardown
   * (`consumerTornDown`) destroys it at once.
   */
  keepWritesOnDestroy = false
  /** Reports whether the engine tore the connection down (its `destroy()` is final). */
  consumerTornDown: () => boolean = () => true
  /** A `destroy()` waits until the ciphertext it kept is written (`keepWritesOnDestroy`). */
  destroyPending = false

  private readonly run: <A>(
    effect: Effect.Effect<A, TransportError>,
    onExit: (exit: Exit.Exit<A, TransportError>) => void
  ) => () => void
  private readonly immediate: Transport.Immediate | undefined

  // ---- reading
  /** node:tls wants more ciphertext: `_read` was called, or the last `push` stayed below the mark. */
  private demand = false
  /** The reading loop runs (a `_read` made by a `push` inside it only sets `demand`). */
  private pulling = false
  /** The transport's end of input was pushed: nothing is read any more. */
  private inputEnded = false
  /** A transport read waits (for `whenReadable`, or in its own fiber): this stops it. */
  private cancelRead: (() => void) | undefined = undefined

  // ---- writing
  /** The callback of the transport write in flight (one that waits for the transport). */
  private writing: Callback | undefined = undefined
  private cancelWrite: (() => void) | undefined = undefined
  /** The transport's half-close, started by `end()`, while it waits. */
  private cancelShutdown: (() => void) | undefined = undefined
  /** Called when a transport write completes. */
  onWriteProgress: (() => void) | undefined = undefined

  /**
   * Whether a transport write waits: the transport pushes back (a peer that stopped
   * reading). A write that the transport takes at once never shows here.
   */
  get writeBlocked(): boolean {
    return this.writing !== undefined
  }

  constructor(
    readonly transport: Transport.Transport,
    runtime: Runtime.Runtime<never>
  ) {
    super({
      allowHalfOpen: true,
      decodeStrings: false,
      readableHighWaterMark: 64 * 1024,
      writableHighWaterMark: 64 * 1024
    })
    this.immediate = Transport.immediate(transport)
    const runCallback = Runtime.runCallback(runtime)
    this.run = (effect, onExit) => {
      const cancel = runCallback(effect, { onExit })
      return () => cancel()
    }
    // registered first, so it runs before node:tls hears of our end of input
    this.once("end", () => {
      this.consumerEndedBeforeEof = this.consumerEnded()
      this.eofDelivered = true
    })
  }

  /** Ciphertext of node:tls's still waits here for the transport. */
  get holdsCiphertext(): boolean {
    return this.writableLength > 0 || this.writing !== undefined
  }

  override destroy(error?: Error | null): this {
    if (
      this.keepWritesOnDestroy && !this.destroyed && (error === undefined || error === null) &&
      !this.consumerTornDown()
    ) {
      if (!this.destroyPending) {
        this.destroyPending = true
        // nothing is read for a consumer that is gone
        this.cancelRead?.()
        this.cancelRead = undefined
        // a macrotask first: Deno hands its last records (its close_notify) over from a microtask
        setImmediate(() => {
          this.turnPassed = true
          this.destroyWhenWritten()
        })
      }
      return this
    }
    this.destroyPending = false
    return super.destroy(error ?? undefined)
  }

  /** A deferred destroy (`keepWritesOnDestroy`) waited a macrotask. */
  private turnPassed = false

  /** A destroy that waited for the kept ciphertext happens once it is written (or on teardown). */
  private destroyWhenWritten(): void {
    if (this.destroyPending && this.turnPassed && (!this.holdsCiphertext || this.consumerTornDown())) {
      this.destroyPending = false
      super.destroy()
      this.onWriteProgress?.()
    }
  }

  /** After a write: a deferred destroy may now happen (a tick later, once node's stream is done). */
  private afterKeptWrite(): void {
    if (this.destroyPending) process.nextTick(() => this.destroyWhenWritten())
  }

  private fail(exit: Exit.Exit<unknown, TransportError>): void {
    if (Exit.isFailure(exit)) {
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) this.transportError = failure.value
      this.destroy(Option.isSome(failure) ? failure.value : new Error(Cause.pretty(exit.cause)))
    }
  }

  /** `fail` for a failure the fast path reported (no Exit). */
  private broke(failure: TransportError): void {
    this.transportError = failure
    this.destroy(failure)
  }

  /**
   * Runs a transport operation: `onExit` at once when it completes without waiting (the
   * return value is then undefined), otherwise later, and the returned function interrupts it.
   */
  private start<A>(
    effect: Effect.Effect<A, TransportError>,
    onExit: (exit: Exit.Exit<A, TransportError>) => void
  ): { readonly exit: Exit.Exit<A, TransportError> } | (() => void) {
    let now: Exit.Exit<A, TransportError> | undefined = undefined
    let inCall = true
    const cancel = this.run(effect, (exit) => {
      if (inCall) now = exit
      else onExit(exit)
    })
    inCall = false
    return now !== undefined ? { exit: now } : cancel
  }

  // ---- reading

  /** The consumer's reader took plaintext: a reader stopped by a full consumer may go on. */
  consumerRead(): void {
    if (this.demand) this.pull()
  }

  /**
   * Chunks read since the event loop last ran its macrotasks (at least). Bun's and Deno's
   * node:tls work in microtasks: over a transport that answers in microtasks too (the memory
   * pair), a busy connection would never let timers or I/O run. The reader lets them run every
   * few chunks: once 16 chunks were read it asks for a macrotask (not on every chunk: on Node a
   * bulk transfer would pay one `setImmediate` per record), and while that has not run it
   * reads at most 48 more, then waits for it.
   */
  private chunksSinceMacrotask = 0
  private macrotaskPending = false
  private resumeAfterMacrotasks = false

  private countChunk(): boolean {
    const count = ++this.chunksSinceMacrotask
    if (count >= 16 && !this.macrotaskPending) {
      this.macrotaskPending = true
      setImmediate(this.afterMacrotasks)
    }
    return count > 64
  }

  private readonly afterMacrotasks = (): void => {
    this.macrotaskPending = false
    this.chunksSinceMacrotask = 0
    if (this.resumeAfterMacrotasks) {
      this.resumeAfterMacrotasks = false
      this.pull()
    }
  }

  /** Hands a chunk (or the end of input) to node:tls; whether it wants more now. */
  private deliver(chunk: Uint8Array | null): boolean {
    if (this.destroyed || this.destroyPending || this.inputEnded) return false
    if (chunk === null) {
      // once: node errs on a push after the end
      this.inputEnded = true
      this.push(null)
      return false
    }
    if (this.inboundChunks++ === 0) this.firstInboundByte = chunk[0]
    this.onInbound?.(chunk)
    // a `_read` made while pushing (node wants more) sets it again
    this.demand = false
    if (this.push(chunk)) this.demand = true
    return this.demand
  }

  private readonly onRead = (exit: Exit.Exit<Option.Option<Uint8Array>, TransportError>): void => {
    this.cancelRead = undefined
    if (Exit.isSuccess(exit)) {
      if (this.deliver(Option.getOrNull(exit.value))) this.pull()
    } else if (!Exit.isInterrupted(exit)) {
      this.fail(exit)
    }
  }

  /** Reads from the transport while node:tls wants ciphertext, without waiting when it can. */
  private pull(): void {
    if (this.pulling || this.cancelRead !== undefined) return
    this.pulling = true
    try {
      while (this.demand && !this.destroyed && !this.destroyPending && !this.inputEnded && !this.consumerFull()) {
        if (this.countChunk()) {
          this.resumeAfterMacrotasks = true
          return
        }
        const immediate = this.immediate
        if (immediate !== undefined) {
          const now = immediate.read()
          if (now === "wait") {
            this.cancelRead = immediate.whenReadable(this.onReadable)
            return
          }
          if (now !== undefined) {
            if (!this.deliver(now)) return
            continue
          }
        }
        const started = this.start(this.transport.read, this.onRead)
        if (typeof started === "function") {
          this.cancelRead = started
          return
        }
        const exit = started.exit
        if (Exit.isFailure(exit)) {
          if (!Exit.isInterrupted(exit)) this.fail(exit)
          return
        }
        if (!this.deliver(Option.getOrNull(exit.value))) return
      }
    } finally {
      this.pulling = false
    }
  }

  private readonly onReadable = (): void => {
    this.cancelRead = undefined
    this.pull()
  }

  override _read(): void {
    this.demand = true
    this.pull()
  }

  // ---- writing

  private afterWrite(exit: Exit.Exit<void, TransportError>, callback: Callback): void {
    if (Exit.isSuccess(exit)) {
      callback()
      this.onWriteProgress?.()
      this.afterKeptWrite()
    } else if (!Exit.isInterrupted(exit)) {
      this.fail(exit)
      callback(this.transportError ?? new Error("transport write failed"))
    }
    // interrupted: the duplex was destroyed, node no longer waits for this write
  }

  /** What the write in flight still has to write (while it waits for `whenWritable`). */
  private unwritten: Uint8Array | undefined = undefined

  private send(bytes: Uint8Array, callback: Callback): void {
    const immediate = this.immediate
    if (immediate !== undefined) {
      // node:tls's ciphertext (or our join of it) is fresh and never touched again
      const accepted = immediate.write(bytes, true)
      if (accepted === bytes.length) {
        callback()
        return this.afterKeptWrite()
      }
      if (accepted === 0) return this.writeThroughEffect(bytes, callback)
      this.writing = callback
      this.unwritten = accepted === 0 ? bytes : bytes.subarray(accepted)
      this.cancelWrite = immediate.whenWritable(this.onWritable)
      this.onWriteProgress?.()
      return
    }
    this.writeThroughEffect(bytes, callback)
  }

  /** The transport may take more: the fast path again, or the Effect when it makes no progress. */
  private readonly onWritable = (): void => {
    this.cancelWrite = undefined
    const bytes = this.unwritten!
    const callback = this.writing!
    const accepted = this.immediate!.write(bytes, true)
    if (accepted === bytes.length) {
      this.unwritten = undefined
      this.writing = undefined
      callback()
      this.onWriteProgress?.()
      this.afterKeptWrite()
    } else if (accepted > 0) {
      this.unwritten = bytes.subarray(accepted)
      this.cancelWrite = this.immediate!.whenWritable(this.onWritable)
    } else {
      this.unwritten = undefined
      this.writing = undefined
      this.writeThroughEffect(bytes, callback)
    }
  }

  private writeThroughEffect(bytes: Uint8Array, callback: Callback): void {
    const started = this.start(this.transport.write(bytes), (exit) => {
      this.writing = undefined
      this.cancelWrite = undefined
      this.afterWrite(exit, callback)
    })
    if (typeof started === "function") {
      this.writing = callback
      this.cancelWrite = started
      this.onWriteProgress?.()
    } else {
      this.afterWrite(started.exit, callback)
    }
  }

  override _write(chunk: Uint8Array, _encoding: BufferEncoding, callback: Callback): void {
    this.writtenChunks++
    this.onOutbound?.(chunk)
    this.send(chunk, callback)
  }

  override _writev(
    chunks: Array<{ chunk: Uint8Array; encoding: BufferEncoding }>,
    callback: Callback
  ): void {
    this.writtenChunks++
    if (this.onOutbound !== undefined) { for (const { chunk } of chunks) this.onOutbound(chunk) }
    if (chunks.length === 1) return this.send(chunks[0]!.chunk, callback)
    const writeAll = this.immediate?.writeAll
    if (writeAll !== undefined && writeAll(chunks.map(({ chunk }) => chunk))) {
      callback()
      return this.afterKeptWrite()
    }
    let total = 0
    for (const { chunk } of chunks) total += chunk.length
    const joined = new Uint8Array(total)
    let offset = 0
    for (const { chunk } of chunks) {
      joined.set(chunk, offset)
      offset += chunk.length
    }
    this.send(joined, callback)
  }

  override _final(callback: Callback): void {
    if (!this.consumerWriteEnded()) this.endedByConsumer = true
    // the fast path's half-close where there is one: a fiber per connection less
    const shutdown = this.immediate?.shutdownWrite
    if (shutdown !== undefined) {
      let settled = false
      const cancel = shutdown((failure) => {
        settled = true
        this.cancelShutdown = undefined
        if (failure === undefined) return callback()
        this.broke(failure)
        callback(failure)
      })
      if (cancel !== undefined) {
        if (!settled) this.cancelShutdown = cancel
        return
      }
    }
    this.cancelShutdown = this.run(this.transport.shutdownWrite, (exit) => {
      this.cancelShutdown = undefined
      if (Exit.isSuccess(exit)) return callback()
      this.fail(exit)
      callback(this.transportError ?? new Error("transport shutdown failed"))
    })
  }

  override _destroy(error: Error | null, callback: Callback): void {
    this.cancelRead?.()
    // a write stuck in the transport (a peer that stopped reading) is interrupted: a destroyed
    // connection must not wait for its peer
    this.cancelWrite?.()
    // and so is a half-close waiting for its peer (TCP's FIN behind data it does not read): the
    // teardown half-closes within the close's bound itself (closing.shutdownTransport)
    this.cancelShutdown?.()
    callback(error)
  }
}
