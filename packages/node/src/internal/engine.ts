/**
 * The node:tls engine: one TLS connection over any `Transport`, through `TransportDuplex`.
 *
 * node:tls runs with `rejectUnauthorized: false` (except a server with `clientAuth:
 * "required"`, where OpenSSL must refuse a missing certificate in the handshake), so the
 * engine only reports OpenSSL's verdict; core verifies the chain itself and runs the policy.
 *
 * Every node event is recorded in the connection's `ConnectionState` by listeners that live
 * as long as the connection; Effects that wait use one `Condition` and re-check the state on
 * every event. No node event can therefore be missed or crash the process for want of a
 * listener.
 *
 * The concerns live in their own modules: `client.ts` and `server.ts` (the factories, each
 * side's socket options), `nativePath.ts` (the transport's own socket or the bridge),
 * `connectionState.ts` (the named states), `handshakeReport.ts` (what a completed handshake
 * reports), `peerChain.ts` (the peer's certificates), `closing.ts` (the close's bound and the
 * transport's half-close), `ticketWait.ts` (a client's wait for the first TLS 1.3 ticket),
 * `secureContexts.ts` (one context per configuration), `sessions.ts` (resumption),
 * `nodeInternals.ts` (the only reader of node's private fields, a lint rule keeps it so),
 * `refusals.ts` (why a peer hung up), `truncation.ts` (close_notify or not, per path),
 * `errors.ts` (OpenSSL codes, the engine's own failures), `certificateRequests.ts` (what a client learns of the server's CertificateRequest,
 * on either path) and `acceptedCas.ts` (the bridge's sniffer).
 *
 * Seams: the server side's `tls.TLSSocket` options are built in `server.serverSocketOptions`
 * (SNI and ALPN callbacks, ticket keys go there); node's `keylog` event is heard in `start` by
 * the sniffer, and by an enabled `KeyLog` (`keyLog.ts`) attached where each socket is made.
 *
 * @internal
 */
import * as Condition from "@effect-tls/core/Condition"
import type { ClientConfig, EngineConnection, EngineHandshake, ServerConfig } from "@effect-tls/core/TlsBackend"
import type * as TlsError from "@effect-tls/core/TlsError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Runtime from "effect/Runtime"
import type { Duplex } from "node:stream"
import type * as tls from "node:tls"
import { TransportDuplex } from "./bridge.js"
import { CertificateRequests } from "./certificateRequests.js"
import * as closeNotifyGuard from "./closeNotifyGuard.js"
import * as closing from "./closing.js"
import { ConnectionState } from "./connectionState.js"
import * as errors from "./errors.js"
import { describe, exportKeyingMaterial } from "./handshakeReport.js"
import * as internals from "./nodeInternals.js"
import { type Evidence, refineFailure, refusalOfHangUp } from "./refusals.js"
import * as runtime from "./runtime.js"
import type { ClientSessions } from "./sessions.js"
import { TicketWait } from "./ticketWait.js"
import { inputTruncated, truncationError } from "./truncation.js"

/**
 * The TLS socket's plaintext buffers, each way (node's default is 16 KiB): a write of a full
 * record then returns at once while the previous one is still on its way, and reads stop
 * node:tls only when 64 KiB of plaintext wait, as the bridge does for ciphertext.
 *
 * @internal
 */
export const PLAINTEXT_HIGH_WATER_MARK = 64 * 1024

/** The most plaintext one TLS record carries (RFC 8446 §5.1). */
const MAX_RECORD_PLAINTEXT = 16 * 1024

/**
 * One read's worth of plaintext: everything buffered, but at most a record's plaintext (16 KiB)
 * when more waits. `read()` alone joins every buffered chunk into a fresh copy (node's
 * `fromList`): a bulk reader would copy each byte once more, and the copies (external memory)
 * bring on major collections. Records decrypt to chunks of at most 16 KiB, so a read of 16 KiB
 * takes the first one as it is.
 */
const readPlaintext = (socket: tls.TLSSocket): Buffer | null =>
  socket.readableLength > MAX_RECORD_PLAINTEXT ? socket.read(MAX_RECORD_PLAINTEXT) : socket.read()

/** (the constructor's `runtime` parameter hides the module) */
const guardsCloseNotify = runtime.guardsCloseNotify

/**
 * One connection: node's events recorded in `state` (the named phases, `connectionState.ts`) by
 * listeners set up in `start`, and the `EngineConnection` operations, each a check re-run on
 * `changed` until it has an answer. What a phase needs beyond that is delegated: the handshake's
 * report (`handshakeReport.ts`), the ticket wait (`ticketWait.ts`), failures (`errors.ts`,
 * `refusals.ts`, `truncation.ts`), the close's bound (`closing.ts`).
 *
 * @internal
 */
export class NodeTlsConnection implements EngineConnection {
  private socket: tls.TLSSocket | undefined = undefined
  /** node:tls's transport: none on the native path (node:tls has the TCP socket). */
  private readonly bridge: TransportDuplex | undefined
  private readonly state = new ConnectionState()
  /** Every change of `state`, of the socket's buffers or of the bridge's. */
  private readonly changed = Condition.make()
  /** Teardown has begun (abort ran). */
  private tornDown = false
  /** When a close bounded in place (`bounded` under the live clock) runs out of time, wall clock. */
  closeDeadline: number | undefined = undefined
  /** Plaintext chunks read from the peer (Bun: the end after a withheld close_notify waits for a quiet turn). */
  private plaintextReads = 0
  /** Bun: the quiet turn after a withheld close_notify (`peerEndedQuietly`). */
  private quietCheck: "scheduled" | "quiet" | undefined = undefined
  /** Transport chunks received when the handshake completed. */
  private inboundAtSecure = 0
  /** Client keeping sessions: the wait for the server's first ticket (`ticketWait.ts`). */
  private readonly ticketWait: TicketWait | undefined
  /** Server, when node's private `servername` is missing: the SNI recorded by SNICallback. */
  recordedServerName: string | undefined = undefined
  /** The native path: how the peer's input ended (`nodeInternals.watchNativeEnd`). */
  private nativeEnd: (() => internals.NativeEnd) | undefined = undefined
  /** Client: what it learns of the server's CertificateRequest. */
  private readonly requests: CertificateRequests | undefined
  /** Bun: keeps the peer's close_notify from node:tls until our side closed. */
  private readonly guard: closeNotifyGuard.CloseNotifyGuard | undefined

  constructor(
    private readonly side: "client" | "server",
    private readonly config: ClientConfig | ServerConfig,
    private readonly createSocket: (underlying: Duplex) => tls.TLSSocket,
    /** For the bridge (none on the native path). */
    runtime: Runtime.Runtime<never> | undefined,
    /** The transport's own socket, taken from it (the native path), or none: the bridge. */
    private readonly native: Duplex | undefined,
    /** Client: the sessions offered and received. */
    private readonly sessionsOf: ClientSessions | undefined,
    /** Client: follow the server's TLS 1.3 flight into its encrypted part (`acceptedCasMatter`). */
    private readonly decryptCertificateRequest: boolean = false,
    /** Client: a `SessionCache` will keep this connection's sessions (`sessions` waits for a ticket). */
    sessionsKept: boolean = false
  ) {
    this.requests = side === "client" ? new CertificateRequests() : undefined
    this.ticketWait = sessionsKept ? new TicketWait() : undefined
    // Bun: the peer's close_notify waits until our side closed (half-close; runtime.ts)
    this.guard = guardsCloseNotify && native === undefined
      ? closeNotifyGuard.make(config.transport, side, {
        writeOpen: () => this.socket !== undefined && !this.socket.writableEnded,
        handedOn: () => (this.bridge?.readableLength ?? 0) === 0,
        onPeerClosed: this.changed.notify
      })
      : undefined
    if (native !== undefined) return
    const bridge = new TransportDuplex(this.guard?.transport ?? config.transport, runtime!)
    this.bridge = bridge
    bridge.on("error", this.changed.notify)
    bridge.onWriteProgress = this.changed.notify
    // Bun's node:tls ignores the Duplex's backpressure: the engine waits for its drain itself
    bridge.on("drain", this.changed.notify)
  }

  private evidence(): Evidence {
    return {
      side: this.side,
      secure: this.state.secure,
      protocolVersion: this.state.handshake?.protocolVersion,
      sentCertificate: Option.isSome(this.config.certificate),
      certificateRequested: this.certificateRequested(),
      firstInboundByte: this.bridge?.firstInboundByte,
      inboundChunks: this.bridge?.inboundChunks ?? 0,
      inboundAtSecure: this.inboundAtSecure,
      receivedData: this.plaintextReads > 0
    }
  }

  private recordError(error: unknown): void {
    if (this.state.failure === undefined) {
      const failure = errors.fromNodeError(error, {
        side: this.side,
        handshakeDone: this.state.secure,
        transportError: this.bridge?.transportError,
        // a client sends its certificate only when asked (unknown on the native path: assume it did)
        sentCertificate: Option.isSome(this.config.certificate) &&
          (this.side === "server" || this.native !== undefined || this.certificateRequested())
      })
      this.state.broke(refineFailure(failure, this.evidence(), error))
    }
    this.requests?.stop()
    this.changed.notify()
  }

  private start(): tls.TLSSocket {
    if (this.socket !== undefined) return this.socket
    // (Deno: no input until node:tls started, runtime.inputBeforeStartThrows)
    const bridge = this.bridge
    let inputHeld = runtime.inputBeforeStartThrows && bridge !== undefined
    if (inputHeld) bridge!.consumerFull = () => true
    const socket = this.createSocket(this.native ?? bridge!)
    this.socket = socket
    // (the native path: how the peer's input ends, told by node internals from the first read on)
    if (this.native !== undefined) {
      this.nativeEnd = internals.watchNativeEnd(socket)
      this.requests?.watchNative(socket, this.config.minVersion !== "TLSv1.3")
    }
    this.state.start()
    // (a TLS 1.3-only client that need not decrypt has nothing in clear to read)
    if (
      this.side === "client" && this.native === undefined &&
      (this.decryptCertificateRequest || this.config.minVersion !== "TLSv1.3")
    ) this.requests?.sniff(socket, bridge!, this.decryptCertificateRequest)
    if (bridge !== undefined && runtime.certificateRequestFromFlight) this.requests?.watchFlight(bridge)
    const sessionsOf = this.sessionsOf
    if (sessionsOf !== undefined) {
      socket.on("session", (session: Buffer) => {
        sessionsOf.onSession(session)
        this.changed.notify()
      })
    }
    // (the ticket wait's bound: clients keeping sessions only)
    this.ticketWait?.started()
    if (this.guard !== undefined) socket.on("keylog", this.guard.onKeylog)
    if (bridge !== undefined) {
      bridge.consumerEnded = () => internals.endOfInputReceived(socket) === true
      bridge.consumerWriteEnded = () => socket.writableEnded
      // (Deno destroys the bridge when its socket closes: the records still there go out first)
      if (runtime.destroysDuplexWithWritesPending) {
        bridge.keepWritesOnDestroy = true
        bridge.consumerTornDown = () => this.tornDown
      }
      bridge.consumerFull = () => inputHeld || socket.readableLength >= socket.readableHighWaterMark
      if (inputHeld) {
        setImmediate(() => {
          inputHeld = false
          bridge.consumerRead()
        })
      }
    }
    socket.on(this.side === "client" ? "secureConnect" : "secure", () => {
      this.ticketWait?.secured()
      this.inboundAtSecure = this.bridge?.inboundChunks ?? 0
      this.guard?.setProtocol(socket.getProtocol() ?? "unknown")
      // Bun emits the client's keylog lines after secureConnect: the accepted-CA sniffer needs them
      if (runtime.keylogAfterSecure && this.requests?.pending === true) {
        setImmediate(() => this.secured(socket))
      } else this.secured(socket)
    })
    socket.on("error", (error) => this.recordError(error))
    socket.on("readable", this.changed.notify)
    socket.on("drain", this.changed.notify)
    socket.on("finish", this.changed.notify)
    socket.on("end", () => {
      this.state.inputEnded(inputTruncated(bridge, this.nativeEnd))
      this.changed.notify()
    })
    socket.on("close", () => {
      this.state.socketClosed()
      this.changed.notify()
    })
    return socket
  }

  private secured(socket: tls.TLSSocket): void {
    try {
      // read everything now: node 20 may crash when a destroyed TLSSocket is asked later
      this.state.secured(
        describe(socket, this.side, this.config, this.sessionsOf, this.requests, this.recordedServerName)
      )
    } catch (error) {
      // (only where reading is deferred, Bun: a socket destroyed meanwhile)
      this.recordError(error)
    }
    this.requests?.stop()
    this.changed.notify()
  }

  /** Client: the server asked for a certificate (`certificateRequests.ts`). */
  private certificateRequested(): boolean {
    return this.requests?.requested(this.state.handshake) === true
  }

  private acceptedCas(): Option.Option<ReadonlyArray<Uint8Array>> {
    return this.requests?.acceptedCas() ?? Option.none()
  }

  // ---- failures

  /** The recorded failure, completed with the accepted CA names when the server wanted a certificate. */
  private failWith<A>(): Effect.Effect<A, TlsError.TlsError> {
    return errors.failWithAcceptedCas(this.state.failure!, this.acceptedCas())
  }

  /** The peer hung up without an alert we could read: `refusals.ts` says whether that was a refusal. */
  private endedAbruptly<A>(otherwise: TlsError.TlsError): Effect.Effect<A, TlsError.TlsError> {
    if (this.state.failure === undefined) {
      const refusal = refusalOfHangUp(this.evidence(), otherwise)
      if (refusal !== undefined) {
        this.state.broke(refusal)
        return this.failWith()
      }
    }
    return Effect.fail(otherwise)
  }

  private get closedError(): TlsError.TlsError {
    return errors.closedError(this.side, this.state.secure)
  }

  // ---- the handshake

  readonly handshake: Effect.Effect<EngineHandshake, TlsError.TlsError> = Effect.suspend(() => {
    this.start()
    return this.changed.await(() => this.handshakeCheck())
  })

  /**
   * `handshake` as a callback (`EngineConnection.awaitHandshake`): core runs it in one `Effect.async`.
   * A method (core calls it on the engine), not a function per connection.
   */
  awaitHandshake(callback: (result: Effect.Effect<EngineHandshake, TlsError.TlsError>) => void): () => void {
    this.start()
    let result: Effect.Effect<EngineHandshake, TlsError.TlsError> | undefined = undefined
    return this.whenReady(() => (result = this.handshakeCheck()) !== undefined, () => callback(result!))
  }

  /**
   * Calls `done` once `ready()` holds, checked now and at every change of the connection (a
   * callback's `changed.await`); the function returned stops the watch.
   */
  private whenReady(ready: () => boolean, done: () => void): () => void {
    if (ready()) {
      done()
      return () => {}
    }
    let stop = () => {}
    const onChange = () => {
      if (ready()) done()
      else stop = this.changed.onNext(onChange)
    }
    stop = this.changed.onNext(onChange)
    return () => stop()
  }

  /** (a method: used once per connection, not worth a function kept per connection) */
  private handshakeCheck(): Effect.Effect<EngineHandshake, TlsError.TlsError> | undefined {
    const state = this.state
    if (state.failure !== undefined) return this.failWith()
    const handshake = state.handshake
    if (handshake !== undefined) return Effect.succeed(handshake)
    if (state.closed || state.input !== "Open") return this.endedAbruptly(this.closedError)
    return undefined
  }

  // ---- plaintext

  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsError.TlsError> = Effect.suspend(() => this.readNow())

  /**
   * `EngineConnection.readNow`: plaintext already there (no waiter), the end or a failure, or
   * the wait for one of them. A method, as `write`.
   */
  readNow(): Effect.Effect<Option.Option<Uint8Array>, TlsError.TlsError> {
    this.start()
    return this.readCheck() ?? this.readWait
  }

  /** What a plaintext read sees now, or undefined: wait for the next socket event. */
  private readCheck(): Effect.Effect<Option.Option<Uint8Array>, TlsError.TlsError> | undefined {
    const chunk: Buffer | null = readPlaintext(this.socket!)
    if (chunk !== null) {
      this.plaintextReads++
      this.bridge?.consumerRead()
      return Effect.succeed(Option.some(chunk))
    }
    const state = this.state
    if (state.failure !== undefined) return this.failWith()
    if (state.input === "Truncated" && this.config.requireCloseNotify) {
      return this.endedAbruptly(truncationError(this.side))
    }
    if (state.input !== "Open") return Effect.succeed(Option.none())
    // (Bun) the peer's close_notify, kept from node:tls until our side closes
    if (this.guard?.peerClosed() === true) return this.peerEndedQuietly()
    if (state.closed) return this.endedAbruptly(this.closedError)
    return undefined
  }

  /**
   * Whether `readCheck` may have an answer now. It only looks, so the read's wait needs no
   * finalizer (`Condition.awaitPure`): the read itself runs in the fiber once this holds.
   */
  private readReady(): boolean {
    const state = this.state
    if (this.socket!.readableLength > 0 || state.failure !== undefined || state.input !== "Open" || state.closed) {
      return true
    }
    // (Bun) the withheld close_notify, unless its quiet turn is still to come
    return this.guard?.peerClosed() === true && this.quietCheck !== "scheduled"
  }

  private readWaitMemo: Effect.Effect<Option.Option<Uint8Array>, TlsError.TlsError> | undefined = undefined

  /**
   * A read's wait: until `readReady`, then the read again; should that still find nothing,
   * the general wait (`await`, whose check takes the plaintext in the event's callback), which
   * never loops. Made on the first wait.
   */
  private get readWait(): Effect.Effect<Option.Option<Uint8Array>, TlsError.TlsError> {
    if (this.readWaitMemo === undefined) {
      const again = Effect.suspend(() => this.readCheck() ?? this.changed.await(() => this.readCheck()))
      this.readWaitMemo = this.changed.awaitPure(() => this.readReady() ? again : undefined)
    }
    return this.readWaitMemo
  }

  /**
   * Bun: the guard withheld the peer's close_notify after handing node:tls every record before
   * it, but Bun may still hold some of their plaintext (it stops decrypting while its readable
   * buffer is full, and resumes on the `read()` that found it empty). The end is reported only
   * once a read found nothing and a later turn brought nothing either.
   */
  private peerEndedQuietly(): Effect.Effect<Option.Option<Uint8Array>> | undefined {
    if (this.quietCheck === "quiet") return Effect.succeed(Option.none())
    if (this.quietCheck === undefined) {
      this.quietCheck = "scheduled"
      const reads = this.plaintextReads
      setImmediate(() =>
        setTimeout(() => {
          const socket = this.socket!
          this.quietCheck = reads === this.plaintextReads && socket.readableLength === 0 ? "quiet" : undefined
          this.changed.notify()
        }, 1)
      )
    }
    return undefined
  }

  // (methods, not arrow fields: a connection holds no closure per operation)
  write(bytes: Uint8Array): Effect.Effect<void, TlsError.TlsError> {
    return Effect.suspend(() => this.writeNow(bytes))
  }

  /** `EngineConnection.writeNow`: the bytes handed to node:tls now; the result waits for what is left. */
  writeNow(bytes: Uint8Array): Effect.Effect<void, TlsError.TlsError> {
    const socket = this.start()
    if (this.state.failure !== undefined) return this.failWith()
    if (this.bridge?.endedByConsumer === true) return Effect.fail(this.halfCloseUnsupported)
    if (socket.writableEnded || this.state.closed) {
      return Effect.fail(errors.writeAfterClose(this.side))
    }
    if (bytes.length === 0) return Effect.void
    // "node:tls took the bytes (and the bridge handed their records on)": on the native path,
    // where the transport is consumed, so no operation of the caller's can overtake them (a
    // write then costs no turn of the event loop); and on Bun, whose node:tls calls back at
    // once over a JS Duplex (runtime.writeCallbackAfterTransport)
    if (this.native !== undefined || !runtime.writeCallbackAfterTransport) {
      if (socket.write(bytes, this.changed.notify) && this.bridge?.writableNeedDrain !== true) {
        return Effect.void
      }
      // (a check that only looks: no finalizer per wait)
      return this.changed.awaitPure(this.handedToBridge)
    }
    // done once the transport accepted the bytes' records: node:tls calls back when its
    // ciphertext went through the bridge, whose callback waits for the transport's write. (Only
    // "handed to node:tls" let a caller's own transport operation, e.g. a FIN, overtake records
    // node:tls still held behind one in flight.)
    let handedOn = false
    socket.write(bytes, () => {
      handedOn = true
      this.changed.notify()
    })
    const check = (): Effect.Effect<void, TlsError.TlsError> | undefined => {
      if (this.state.failure !== undefined) return this.failWith()
      if (this.bridge?.endedByConsumer === true) return Effect.fail(this.halfCloseUnsupported)
      if (handedOn) return Effect.void
      if (this.state.closed) return Effect.fail(this.closedError)
      return undefined
    }
    // (a check that only looks: no finalizer per wait)
    return handedOn ? Effect.void : this.changed.awaitPure(check)
  }

  private readonly handedToBridge = (): Effect.Effect<void, TlsError.TlsError> | undefined => {
    if (this.state.failure !== undefined) return this.failWith()
    if (this.bridge?.endedByConsumer === true) return Effect.fail(this.halfCloseUnsupported)
    if (!this.socket!.writableNeedDrain && this.bridge?.writableNeedDrain !== true) {
      return Effect.void
    }
    if (this.state.closed) return Effect.fail(this.closedError)
    return undefined
  }

  /** Bun's node:tls answered the peer's close_notify for us: what we write now would be lost. */
  private get halfCloseUnsupported(): TlsError.TlsGenericError {
    return errors.halfCloseUnsupported(this.side)
  }

  readonly closeWrite: Effect.Effect<void, TlsError.TlsError> = Effect.suspend(() => {
    const socket = this.start()
    // (Bun already sent our close_notify when the peer's arrived: nothing is lost by ending)
    if (this.bridge?.endedByConsumer === true) return Effect.void
    const end = Effect.suspend(() => {
      if (!socket.writableEnded) socket.end()
      return this.ended(socket)
    })
    // (Deno: before end(), and after it, since its close_notify may wait inside node:tls)
    const closing = runtime.endOvertakesWrites
      ? Effect.zipRight(this.writesSettled(socket), Effect.zipRight(end, this.writesSettled(socket)))
      : end
    // (Bun: a TLS 1.3 ticket that comes after our close_notify is dropped)
    return runtime.ticketsIgnoredAfterClose && this.side === "client"
      ? Effect.zipRight(this.firstTicket, closing)
      : closing
  })

  /** Deno: `closing.writesSettled`. */
  private writesSettled(socket: tls.TLSSocket): Effect.Effect<void, TlsError.TlsError> {
    return closing.writesSettled(socket, this.bridge, () => this.tornDown)
  }

  /**
   * The bridge holds no ciphertext of ours any more. Node and Deno call a TLSSocket's writes
   * back only after the bridge wrote them, so its `writableFinished` says so already; Bun calls
   * them back at once, and its `finish` came while the bridge still held the last records
   * (behind a transport write that waited for room): the teardown that followed dropped them.
   * Deno finishes before its close_notify left the bridge (`runtime.destroysDuplexWithWritesPending`).
   */
  private get ciphertextFlushed(): boolean {
    return (runtime.writeCallbackAfterTransport && !runtime.destroysDuplexWithWritesPending) ||
      this.native !== undefined || this.bridge === undefined || !this.bridge.holdsCiphertext
  }

  private ended(socket: tls.TLSSocket): Effect.Effect<void, TlsError.TlsError> {
    return this.changed.await(() => {
      if (socket.writableFinished && this.ciphertextFlushed) {
        // (Bun) our close_notify is out: node:tls may now see the peer's
        this.guard?.release()
        return Effect.void
      }
      if (this.state.failure !== undefined) return this.failWith()
      // (Deno: the socket closed, the bridge it destroyed still writes its last records)
      if (this.state.closed && this.bridge?.destroyPending !== true) return Effect.fail(this.closedError)
      return undefined
    })
  }

  exportKeyingMaterial(
    length: number,
    label: string,
    context?: Uint8Array | undefined
  ): Effect.Effect<Uint8Array, TlsError.TlsError> {
    return Effect.try({
      try: () => {
        // never ask a closed TLSSocket (node 20 may crash)
        if (this.state.closed || this.socket === undefined || !this.state.secure) {
          throw new Error("no established connection")
        }
        return exportKeyingMaterial(this.socket, length, label, context)
      },
      catch: (cause) => errors.exportFailed(this.side, cause)
    })
  }

  // ---- teardown (made when a connection closes: nothing of it is kept while it is open)

  /**
   * Tears down node:tls (no close_notify) and half-closes the transport so that the peer is not
   * left waiting; what node:tls wrote last (an alert) goes out before our FIN.
   */
  private teardown(): Effect.Effect<void> {
    return Effect.suspend(() => {
      // what a write already acknowledged may still wait inside node:tls (behind a record in
      // flight): it goes out first, then the end without close_notify (bounded by the caller);
      // not when the transport pushes back (a peer that stopped reading would hold us)
      const socket = this.socket
      if (
        socket !== undefined && !socket.destroyed && this.state.failure === undefined && !this.tornDown &&
        this.bridge?.writeBlocked !== true && socket.writableLength > 0
      ) {
        return Effect.zipRight(this.plaintextFlushed(), this.tearDownNow())
      }
      return this.tearDownNow()
    })
  }

  private plaintextFlushed(): Effect.Effect<void> {
    return this.changed.await(() => this.plaintextDrained(this.socket!) ? Effect.void : undefined)
  }

  /** node:tls holds no plaintext of ours any more (or never will send it). */
  private plaintextDrained(socket: tls.TLSSocket): boolean {
    return socket.destroyed || this.state.failure !== undefined || socket.writableLength === 0
  }

  private tearDownNow(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const shutDown = this.bridge?.writableFinished === true || this.tornDown
      // a transport that pushes back would hold our half-close too (TCP's FIN waits behind the
      // data): the peer learns of the end when the transport's own scope closes it
      const blocked = this.bridge?.writeBlocked === true
      this.stop()
      // (native path: the transport was taken, its socket is node:tls's and destroyed by `stop`)
      if (shutDown || blocked || this.native !== undefined) return Effect.void
      return this.shutdownTransport()
    })
  }

  /** The synchronous part of every teardown: nothing of this connection runs afterwards. */
  private stop(): void {
    this.tornDown = true
    this.socket?.destroy()
    this.bridge?.destroy()
    this.requests?.stop()
  }

  /** `closing.bounded`: `steps` within `closeTimeout`, then `stop`. */
  private bounded(steps: Effect.Effect<void>): Effect.Effect<void> {
    return closing.bounded(this.config.closeTimeout, this, () => this.stop(), this.changed.notify, steps)
  }

  /** `closing.shutdownTransport`: the transport's half-close, within the close's bound. */
  private shutdownTransport(): Effect.Effect<void> {
    return closing.shutdownTransport(this.config.transport, this.closeDeadline)
  }

  /** Tears the connection down at once (no close_notify), within `closeTimeout`. */
  get abort(): Effect.Effect<void> {
    return Effect.suspend(() => this.tornDown ? Effect.void : this.bounded(this.teardown()))
  }

  /**
   * Client: the sessions the server gave, wrapped for the cache.
   *
   * A TLS 1.3 server sends its tickets after it has read our Finished, about one round trip
   * after our handshake completed: a connection closed at once would never see one, and every
   * connection after it would run a full handshake. So, after a full handshake, when a
   * `SessionCache` keeps them and none has come yet, this waits for the first ticket, at most `ticketWait.ticketWaitMs` (wall clock: a
   * network delay, not a user timeout) and no longer than the connection stays quiet: any
   * plaintext, end or failure first means the server sends none.
   */
  // (made on use, as `firstTicket`: most connections never ask, and an idle one keeps nothing for it)
  get sessions(): Effect.Effect<ReadonlyArray<Uint8Array>> {
    return Effect.suspend(() => {
      const handshake = this.state.handshake
      const sessionsOf = this.sessionsOf
      if (handshake === undefined || sessionsOf === undefined) return Effect.succeed([])
      return Effect.zipRight(this.firstTicket, Effect.sync(() => sessionsOf.wrapped(handshake)))
    })
  }

  /**
   * After a full TLS 1.3 handshake whose sessions a `SessionCache` keeps, while no ticket came:
   * the wait for the first one (`sessions`). Void otherwise.
   */
  private get firstTicket(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const handshake = this.state.handshake
      const sessionsOf = this.sessionsOf
      // (node:tls servers send none after a resumption: waiting there would only cost the bound)
      const ticketWait = this.ticketWait
      if (
        handshake === undefined || sessionsOf === undefined || ticketWait === undefined || sessionsOf.hasReceived ||
        handshake.protocolVersion !== "TLSv1.3" || handshake.resumed || !this.ticketMayCome()
      ) return Effect.void
      return ticketWait.wait(
        this.changed,
        this.socket!,
        sessionsOf,
        () => this.ticketMayCome(),
        this.native !== undefined
      )
    })
  }

  /** Nothing but a ticket can still be expected from the server. */
  private ticketMayCome(): boolean {
    const socket = this.socket
    const state = this.state
    return socket !== undefined && !socket.destroyed && state.failure === undefined && !state.closed &&
      state.input === "Open" && this.plaintextReads === 0 && socket.readableLength === 0 && !this.tornDown
  }

  /**
   * The scope's finalizer, by its exit: after success and a good handshake, close_notify, waiting
   * until it left (our side's flush, not the peer's answer: both ends of a pair often close in
   * one scope); after a failure or an interruption, a teardown without close_notify, so that the
   * peer reads a truncation and never a complete stream. Both within `closeTimeout`.
   */
  close(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.withFiberRuntime((fiber) => {
      if (this.tornDown) return Effect.void
      const socket = this.socket
      const state = this.state
      if (!Exit.isSuccess(exit) || socket === undefined || state.phase._tag !== "Open") return this.abort
      if (!socket.writableEnded) socket.end()
      const millis = Duration.toMillis(this.config.closeTimeout)
      if (this.native !== undefined && closing.isLiveClock(fiber) && millis <= closing.maxTimerMillis) {
        return this.closeNative(socket, millis)
      }
      const sent = this.changed.await(() => this.closeNotifySent(socket) ? Effect.void : undefined)
      const flushed = runtime.endOvertakesWrites
        ? Effect.zipRight(sent, Effect.ignore(this.writesSettled(socket)))
        : sent
      return this.bounded(Effect.zipRight(flushed, this.teardown()))
    })
  }

  /** Our close_notify left (or the connection is no longer open: nothing more will). */
  private closeNotifySent(socket: tls.TLSSocket): boolean {
    return (socket.writableFinished && this.ciphertextFlushed) || this.state.phase._tag !== "Open"
  }

  /**
   * `close` on the native path under the live clock, in one `Effect.async`: the same steps as
   * `bounded(sent, teardown)` (close_notify out, then what node:tls still holds flushed, then
   * `stop`; the transport was taken, so there is no half-close of it), watched by callbacks,
   * within a plain timer of `closeTimeout`.
   */
  private closeNative(socket: tls.TLSSocket, millis: number): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      let sent = false
      const ready = () => {
        if (!sent && !this.closeNotifySent(socket)) return false
        sent = true
        // (teardown's wait: plaintext still inside node:tls behind a record in flight)
        return this.tornDown || this.plaintextDrained(socket)
      }
      let timer: ReturnType<typeof setTimeout> | undefined = undefined
      let unwatch = () => {}
      const done = () => {
        if (timer !== undefined) clearTimeout(timer)
        unwatch()
        this.stop()
        resume(Effect.void)
      }
      unwatch = this.whenReady(ready, done)
      if (!this.tornDown) timer = setTimeout(done, millis)
      return Effect.sync(() => {
        if (timer !== undefined) clearTimeout(timer)
        unwatch()
        this.stop()
      })
    })
  }
}
