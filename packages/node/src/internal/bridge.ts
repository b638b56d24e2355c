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
 * @internal
 */
import type { Transport, TransportError } from "@effect-tls/core/Transport"
import * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import { Duplex } from "node:stream"

/** @internal */
export class TransportDuplex extends Duplex {
  private reading = false
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

  private readonly run: <A>(
    effect: Effect.Effect<A, TransportError>,
    onExit: (exit: Exit.Exit<A, TransportError>) => void
  ) => () => void
  /** Interrupts the transport read in flight, if any (a destroyed duplex must not keep reading). */
  private cancelRead: (() => void) | undefined = undefined

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

  override _read(): void {
    if (this.reading) return
    this.reading = true
    this.cancelRead = this.run(this.transport.read, (exit) => {
      this.reading = false
      this.cancelRead = undefined
      if (Exit.isInterrupted(exit)) return
      if (Exit.isFailure(exit)) return this.fail(exit)
      if (this.destroyed) return
      const chunk = exit.value
      if (Option.isNone(chunk)) {
        this.push(null)
        return
      }
      if (this.inboundChunks++ === 0) this.firstInboundByte = chunk.value[0]
      this.onInbound?.(chunk.value)
      this.push(chunk.value)
    })
  }

  override _write(chunk: Uint8Array, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.run(this.transport.write(chunk), (exit) => {
      if (Exit.isSuccess(exit)) return callback()
      this.fail(exit)
      callback(this.transportError ?? new Error("transport write failed"))
    })
  }

  override _writev(
    chunks: Array<{ chunk: Uint8Array; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void
  ): void {
    if (chunks.length === 1) return this._write(chunks[0]!.chunk, chunks[0]!.encoding, callback)
    let total = 0
    for (const { chunk } of chunks) total += chunk.length
    const joined = new Uint8Array(total)
    let offset = 0
    for (const { chunk } of chunks) {
      joined.set(chunk, offset)
      offset += chunk.length
    }
    this._write(joined, "binary", callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.run(this.transport.shutdownWrite, (exit) => {
      if (Exit.isSuccess(exit)) return callback()
      this.fail(exit)
      callback(this.transportError ?? new Error("transport shutdown failed"))
    })
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.cancelRead?.()
    callback(error)
  }
}
