/**
 * The one Duplex that lets node:tls run over any `Transport`.
 *
 * - reads are pulled from the transport only when node:tls asks for ciphertext (`_read`),
 *   so a consumer that stops reading plaintext stops the transport, and memory stays bounded;
 * - writes that node batched in one turn arrive together in `_writev` and go out as one
 *   transport write (one copy to join them, none for a single chunk);
 * - it records when the transport's end of input was handed to node:tls, which is how the
 *   engine tells a peer's close_notify (node:tls ends before that) from a bare FIN.
 *
 * Each direction is served by one long-lived fiber (a pump) rather than a fiber per call:
 * the reader reads from the transport while node:tls wants data (a `push` that returns true)
 * and parks when it does not, until the next `_read`; the writer takes what `_write` /
 * `_writev` hand it and parks between writes. Both end when the duplex is destroyed.
 *
 * @internal
 */
import * as Condition from "@effect-tls/core/Condition"
import type { Transport, TransportError } from "@effect-tls/core/Transport"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
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
  /** The first byte the peer sent (a TLS peer starts with a handshake or alert record). */
  firstInboundByte: number | undefined = undefined
  /** Called with every chunk read from the transport, before node:tls sees it. */
  onInbound: ((chunk: Uint8Array) => void) | undefined = undefined
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

  private readonly run: <A>(
    effect: Effect.Effect<A, TransportError>,
    onExit: (exit: Exit.Exit<A, TransportError>) => void
  ) => () => void
  /** Interrupts the reader (and the transport read in flight): a destroyed duplex must not keep reading. */
  private cancelRead: (() => void) | undefined = undefined

  // ---- reader pump
  private readerStarted = false
  /** node:tls wants more ciphertext: `_read` was called, or the last `push` stayed below the mark. */
  private demand = false
  /** Where the reader parks for want of demand. */
  private readonly demandChanged = Condition.make()

  // ---- writer pump
  private writerStarted = false
  private outbox: Uint8Array | undefined = undefined
  private outCallback: Callback | undefined = undefined
  /** Where the writer parks for want of bytes. */
  private readonly outboxChanged = Condition.make()
  /** Called when the writer takes bytes node handed over (their transport write has begun). */
  onWriteTaken: (() => void) | undefined = undefined

  /**
   * Whether bytes node handed over wait for the writer (at most one turn of the scheduler). A
   * caller that must not overtake them with its own transport operation waits until false.
   */
  get writePending(): boolean {
    return this.outbox !== undefined
  }

  constructor(
    readonly transport: Transport,
    runtime: Runtime.Runtime<never>
  ) {
    super({
      allowHalfOpen: true,
      decodeStrings: false,
      readableHighWaterMark: 64 * 1024,
      writableHighWaterMark: 64 * 1024
    })
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

  private fail(exit: Exit.Exit<unknown, TransportError>): void {
    if (Exit.isFailure(exit)) {
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) this.transportError = failure.value
      this.destroy(Option.isSome(failure) ? failure.value : new Error(Cause.pretty(exit.cause)))
    }
  }

  // ---- reading

  private readonly waitDemand: Effect.Effect<void> = this.demandChanged.await(() =>
    (this.demand && !this.consumerFull()) || this.destroyed ? Effect.void : undefined
  )

  /** The consumer's reader took plaintext: a reader parked on a full consumer may go on. */
  consumerRead(): void {
    if (this.demand) this.demandChanged.notify()
  }

  /**
   * Chunks read since the event loop last ran its macrotasks. Bun's and Deno's node:tls work in
   * microtasks: over a transport that answers in microtasks too (the memory pair), a busy
   * connection would never let timers or I/O run. The reader lets them run every few chunks.
   */
  private chunksSinceMacrotask = 0
  private macrotaskPending = false

  private readonly letMacrotasksRun: Effect.Effect<void> = Effect.async<void>((resume) => {
    const handle = setImmediate(() => {
      this.chunksSinceMacrotask = 0
      resume(Effect.void)
    })
    return Effect.sync(() => clearImmediate(handle))
  })

  private countChunk(): boolean {
    if (!this.macrotaskPending) {
      this.macrotaskPending = true
      setImmediate(() => {
        this.macrotaskPending = false
        this.chunksSinceMacrotask = 0
      })
    }
    return ++this.chunksSinceMacrotask > 64
  }

  private readonly onChunk = (chunk: Option.Option<Uint8Array>): Effect.Effect<void, TransportError> => {
    if (this.destroyed) return Effect.void
    if (Option.isNone(chunk)) {
      this.push(null)
      return Effect.void
    }
    if (this.inboundChunks++ === 0) this.firstInboundByte = chunk.value[0]
    this.onInbound?.(chunk.value)
    // a `_read` made while pushing (node wants more) sets it again
    this.demand = false
    if (this.push(chunk.value)) this.demand = true
    return this.readLoop
  }

  private readonly readLoop: Effect.Effect<void, TransportError> = Effect.suspend(() => {
    if (this.destroyed) return Effect.void
    if (this.countChunk()) return Effect.zipRight(this.letMacrotasksRun, this.readLoop)
    if (!this.demand || this.consumerFull()) return Effect.zipRight(this.waitDemand, this.readLoop)
    return Effect.flatMap(this.transport.read, this.onChunk)
  })

  override _read(): void {
    this.demand = true
    if (this.readerStarted) return this.demandChanged.notify()
    this.readerStarted = true
    this.cancelRead = this.run(this.readLoop, (exit) => {
      this.cancelRead = undefined
      if (Exit.isInterrupted(exit)) return
      this.fail(exit)
    })
  }

  // ---- writing

  private readonly waitBytes: Effect.Effect<void> = this.outboxChanged.await(() =>
    this.outbox !== undefined || this.destroyed ? Effect.void : undefined
  )

  /** The callback of the transport write in flight. */
  private writing: Callback | undefined = undefined

  private readonly afterWrite = {
    onSuccess: (): Effect.Effect<void> => {
      const callback = this.writing!
      this.writing = undefined
      callback()
      return this.writeLoop
    },
    onFailure: (cause: Cause.Cause<TransportError>): Effect.Effect<void> => {
      const callback = this.writing!
      this.writing = undefined
      this.fail(Exit.failCause(cause))
      callback(this.transportError ?? new Error("transport write failed"))
      return Effect.void
    }
  }

  private readonly writeLoop: Effect.Effect<void> = Effect.suspend(() => {
    const bytes = this.outbox
    if (bytes === undefined) {
      if (this.destroyed) return Effect.void
      return Effect.zipRight(this.waitBytes, this.writeLoop)
    }
    this.writing = this.outCallback
    this.outbox = undefined
    this.outCallback = undefined
    this.onWriteTaken?.()
    return Effect.matchCauseEffect(this.transport.write(bytes), this.afterWrite)
  })

  private send(bytes: Uint8Array, callback: Callback): void {
    this.outbox = bytes
    this.outCallback = callback
    if (this.writerStarted) return this.outboxChanged.notify()
    this.writerStarted = true
    this.run(this.writeLoop, () => {})
  }

  override _write(chunk: Uint8Array, _encoding: BufferEncoding, callback: Callback): void {
    this.send(chunk, callback)
  }

  override _writev(
    chunks: Array<{ chunk: Uint8Array; encoding: BufferEncoding }>,
    callback: Callback
  ): void {
    if (chunks.length === 1) return this.send(chunks[0]!.chunk, callback)
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
    this.run(this.transport.shutdownWrite, (exit) => {
      if (Exit.isSuccess(exit)) return callback()
      this.fail(exit)
      callback(this.transportError ?? new Error("transport shutdown failed"))
    })
  }

  override _destroy(error: Error | null, callback: Callback): void {
    this.cancelRead?.()
    // an idle writer ends; one in the middle of a write ends when the write does
    this.outboxChanged.notify()
    callback(error)
  }
}
