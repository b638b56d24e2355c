/**
 * The node:tls engine: one TLS connection over any `Transport`, through `TransportDuplex`.
 *
 * node:tls runs with `rejectUnauthorized: false` (except a server with `clientAuth:
 * "required"`, where OpenSSL must refuse a missing certificate in the handshake), so the
 * engine only reports OpenSSL's verdict; core verifies the chain itself and runs the policy.
 *
 * Every node event is recorded in the connection's `ConnectionState` by listeners that live
 * as long as the connection (`socketEvents.ts`); Effects that wait use one `Condition` and
 * re-check the state on every event. No node event can therefore be missed or crash the
 * process for want of a listener.
 *
 * The concerns live in their own modules: `client.ts` and `server.ts` (the factories, each
 * side's socket options), `nativePath.ts` (the transport's own socket or the bridge),
 * `socketEvents.ts` (the bridge, the TLS socket made on first use, node's events into the
 * state, node errors as failures, the bridge's hooks into node:tls), `connectionState.ts` (the named states), `handshakeReport.ts`
 * (what a completed handshake reports), `peerChain.ts` (the peer's certificates), `closing.ts`
 * (close, abort and the teardown, within the close's bound, and the transport's half-close),
 * `closeNotifyGuard.ts` (Bun's withheld close_notify and its quiet end), `ticketWait.ts` (a
 * client's wait for the first TLS 1.3 ticket),
 * `secureContexts.ts` (one context per configuration), `sessions.ts` (resumption),
 * `nodeInternals.ts` (the only reader of node's private fields, a lint rule keeps it so),
 * `refusals.ts` (why a peer hung up), `truncation.ts` (close_notify or not, per path),
 * `errors.ts` (OpenSSL codes, the engine's own failures), `certificateRequests.ts` (what a client learns of the server's CertificateRequest,
 * on either path) and `acceptedCas.ts` (the bridge's sniffer).
 *
 * Seams: the server side's `tls.TLSSocket` options are built in `server.serverSocketOptions`
 * (SNI and ALPN callbacks, ticket keys go there); node's `keylog` event is heard in
 * `socketEvents.start` by the sniffer, and by an enabled `KeyLog` (`keyLog.ts`) attached where each socket is made.
 *
 * @internal
 */
import * as Condition from "@effect-tls/core/Condition"
import type { ClientConfig, EngineConnection, EngineHandshake, ServerConfig } from "@effect-tls/core/TlsBackend"
import type * as TlsError from "@effect-tls/core/TlsError"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Runtime from "effect/Runtime"
import type { Duplex } from "node:stream"
import type * as tls from "node:tls"
import type { TransportDuplex } from "./bridge.js"
import { CertificateRequests } from "./certificateRequests.js"
import * as closeNotifyGuard from "./closeNotifyGuard.js"
import * as closing from "./closing.js"
import { ConnectionState } from "./connectionState.js"
import * as errors from "./errors.js"
import { exportKeyingMaterial } from "./handshakeReport.js"
import type * as internals from "./nodeInternals.js"
import { type Evidence, refusalOfHangUp } from "./refusals.js"
import * as runtime from "./runtime.js"
import type { ClientSessions } from "./sessions.js"
import * as socketEvents from "./socketEvents.js"
import { TicketWait } from "./ticketWait.js"
import { truncationError } from "./truncation.js"

/**
 * The TLS socket's plaintext buffers on the bridge, each way (node's default is 16 KiB): a write
 * of a full record then returns at once while the previous one is still on its way, and reads
 * stop node:tls only when 128 KiB of plaintext wait. Above one transport chunk's worth: a 64 KiB
 * chunk (a 64 KiB write's records, a TCP read) decrypts to 64 KiB at once, and at a 64 KiB mark
 * node:tls would stop reading the bridge on every chunk and start again at the reader's next
 * read (the Duplex paused and resumed, a tick and a `read` more per chunk).
 *
 * @internal
 */
export const PLAINTEXT_HIGH_WATER_MARK = 128 * 1024

/**
 * The native path's plaintext buffers, each way: 256 KiB. The reader is woken at each record's
 * `readable` (`socketEvents.ts`), so a reader that keeps up finds a record or two there; the mark
 * is for a reader slower than its peer for a while (a server writing its answer): node:tls goes
 * on decrypting a turn's TCP reads (libuv reads up to 32 times 64 KiB per turn) where at 64 KiB
 * it would stop reading the socket after four records and start again after the reader's turn
 * (two `epoll_ctl` and one more turn per four records). Still a bound: node:tls stops reading at
 * 256 KiB of unread plaintext.
 *
 * @internal
 */
export const NATIVE_PLAINTEXT_HIGH_WATER_MARK = 256 * 1024

/**
 * The plaintext buffers of a TLS socket on the transport's own socket (`native`) or on the bridge.
 *
 * @internal
 */
export const plaintextHighWaterMark = (native: boolean): number =>
  native ? NATIVE_PLAINTEXT_HIGH_WATER_MARK : PLAINTEXT_HIGH_WATER_MARK

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
 * listeners set up in `start` (`socketEvents.ts`), and the `EngineConnection` operations, each a
 * check re-run on `changed` until it has an answer. What a phase needs beyond that is delegated:
 * the handshake's report (`handshakeReport.ts`), the ticket wait (`ticketWait.ts`), failures
 * (`errors.ts`, `refusals.ts`, `truncation.ts`), close, abort and the teardown (`closing.ts`).
 *
 * Members without `private` are read and set by those modules (`socketEvents.ts`, `closing.ts`):
 * the class is internal, they are no API.
 *
 * @internal
 */
export class NodeTlsConnection implements EngineConnection {
  /** node:tls's socket, made on first use (`start`). */
  socket: tls.TLSSocket | undefined = undefined
  /** node:tls's transport: none on the native path (node:tls has the TCP socket). */
  readonly bridge: TransportDuplex | undefined
  readonly state = new ConnectionState()
  /** Every change of `state`, of the socket's buffers or of the bridge's. */
  readonly changed = Condition.make()
  /** Teardown has begun (abort ran). */
  tornDown = false
  /** When a close bounded in place (`bounded` under the live clock) runs out of time, wall clock. */
  closeDeadline: number | undefined = undefined
  /** Plaintext chunks read from the peer (Bun: the end after a withheld close_notify waits for a quiet turn). */
  plaintextReads = 0
  /** Transport chunks received when the handshake completed. */
  inboundAtSecure = 0
  /** Client keeping sessions: the wait for the server's first ticket (`ticketWait.ts`). */
  readonly ticketWait: TicketWait | undefined
  /** Server, when node's private `servername` is missing: the SNI recorded by SNICallback. */
  recordedServerName: string | undefined = undefined
  /** The native path: how the peer's input ended (`nodeInternals.watchNativeEnd`). */
  nativeEnd: internals.NativeEndWatch | undefined = undefined
  /** Native path: the readers' wake is put off to the check phase (`socketEvents.ts`, `onNativeReadable`). */
  wakeDeferred = false
  /** Client: what it learns of the server's CertificateRequest. */
  readonly requests: CertificateRequests | undefined
  /** Bun: keeps the peer's close_notify from node:tls until our side closed. */
  readonly guard: closeNotifyGuard.CloseNotifyGuard | undefined

  constructor(
    readonly side: "client" | "server",
    readonly config: ClientConfig | ServerConfig,
    readonly createSocket: (underlying: Duplex) => tls.TLSSocket,
    /** For the bridge (none on the native path). */
    runtime: Runtime.Runtime<never> | undefined,
    /** The transport's own socket, taken from it (the native path), or none: the bridge. */
    readonly native: Duplex | undefined,
    /** Client: the sessions offered and received. */
    readonly sessionsOf: ClientSessions | undefined,
    /** Client: follow the server's TLS 1.3 flight into its encrypted part (`acceptedCasMatter`). */
    readonly decryptCertificateRequest: boolean = false,
    /** Client: a `SessionCache` will keep this connection's sessions (`sessions` waits for a ticket). */
    sessionsKept: boolean = false
  ) {
    this.requests = side === "client" ? new CertificateRequests() : undefined
    this.ticketWait = sessionsKept ? new TicketWait() : undefined
    // Bun: the peer's close_notify waits until our side closed (half-close; runtime.ts)
    this.guard = guardsCloseNotify && native === undefined ? socketEvents.guard(this) : undefined
    this.bridge = native === undefined ? socketEvents.bridge(this, runtime!) : undefined
  }

  /** What `refusals.ts` reads to tell why a peer hung up. */
  evidence(): Evidence {
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

  /**
   * The TLS socket, made and wired on first use (`socketEvents.start`), or now
   * (`EngineConnection.start`: the client's first flight leaves at once).
   */
  start(): tls.TLSSocket {
    return this.socket ?? socketEvents.start(this)
  }

  /** Client: the server asked for a certificate (`certificateRequests.ts`). */
  certificateRequested(): boolean {
    return this.requests?.requested(this.state.handshake) === true
  }

  // ---- failures

  /** The recorded failure, completed with the accepted CA names when the server wanted a certificate. */
  failWith<A>(): Effect.Effect<A, TlsError.TlsError> {
    return errors.failWithAcceptedCas(this.state.failure!, this.requests?.acceptedCas() ?? Option.none())
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

  get closedError(): TlsError.TlsError {
    return errors.closedError(this.side, this.state.secure)
  }

  // ---- the handshake

  // (a getter, as `closeWrite`: core mostly runs `awaitHandshake`, and a field would keep an
  // Effect and its closure per connection)
  get handshake(): Effect.Effect<EngineHandshake, TlsError.TlsError> {
    return Effect.suspend(() => {
      this.start()
      return this.changed.await(() => this.handshakeCheck())
    })
  }

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
  whenReady(ready: () => boolean, done: () => void): () => void {
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
    return this.guard?.peerClosed() === true && this.guard.quietCheck !== "scheduled"
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

  /** Bun: the peer's close_notify, withheld, ends the input once a turn stayed quiet (`closeNotifyGuard.endedQuietly`). */
  private peerEndedQuietly(): Effect.Effect<Option.Option<Uint8Array>> | undefined {
    return closeNotifyGuard.endedQuietly(this.guard!, this, this.changed.notify)
      ? Effect.succeed(Option.none())
      : undefined
  }

  // (methods, not arrow fields: a connection holds no closure per operation)
  write(bytes: Uint8Array): Effect.Effect<void, TlsError.TlsError> {
    return Effect.suspend(() => this.writeNow(bytes))
  }

  /**
   * `EngineConnection.writeNow`: the bytes handed to node:tls now; done at once unless node:tls
   * (or the bridge under it) is past its high-water mark, then when it drained below it. The
   * bytes may still be in node:tls or the bridge: `flush` waits until the transport took them,
   * and closing sends them before its close_notify or its end.
   */
  writeNow(bytes: Uint8Array): Effect.Effect<void, TlsError.TlsError> {
    const socket = this.start()
    const refused = this.writeRefused(socket)
    if (refused !== undefined) return refused
    if (bytes.length === 0) return Effect.void
    // (each write's callback notifies, for `flush`)
    socket.write(bytes, this.changed.notify)
    return this.mustWaitForDrain(socket) ? this.changed.awaitPure(this.handedToBridge) : Effect.void
  }

  /**
   * `EngineConnection.writeAllNow`: the writes go to node:tls corked, so that it encrypts them
   * together (one `writev`: full records, one transport write), in batches of at most
   * `PLAINTEXT_HIGH_WATER_MARK` bytes (one chunk at least); past the high-water mark the next
   * batch waits as `writeNow` does (a sink's chunk may be large: node:tls would otherwise hold
   * the ciphertext of all of it at once). On Bun's bridge, one write after the other.
   */
  writeAllNow(chunks: ReadonlyArray<Uint8Array>): Effect.Effect<void, TlsError.TlsError> {
    if (this.native === undefined && !runtime.writeCallbackAfterTransport) {
      return Effect.forEach(chunks, (bytes) => this.write(bytes), { discard: true })
    }
    const socket = this.start()
    return this.writeRefused(socket) ?? this.batchesTaken(socket, chunks, 0)
  }

  private batchesTaken(
    socket: tls.TLSSocket,
    chunks: ReadonlyArray<Uint8Array>,
    from: number
  ): Effect.Effect<void, TlsError.TlsError> {
    let next = from
    while (next < chunks.length) {
      let bytes = 0
      socket.cork()
      do {
        const chunk = chunks[next++]!
        bytes += chunk.length
        if (chunk.length > 0) socket.write(chunk, this.changed.notify)
      } while (next < chunks.length && bytes + chunks[next]!.length <= PLAINTEXT_HIGH_WATER_MARK)
      socket.uncork()
      if (this.mustWaitForDrain(socket)) {
        const drained = this.changed.awaitPure(this.handedToBridge)
        if (next >= chunks.length) return drained
        const rest = next
        return Effect.flatMap(drained, () => this.writeRefused(socket) ?? this.batchesTaken(socket, chunks, rest))
      }
    }
    return Effect.void
  }

  private mustWaitForDrain(socket: tls.TLSSocket): boolean {
    return socket.writableNeedDrain || this.bridge?.writableNeedDrain === true
  }

  /**
   * `EngineConnection.flush`: done once node:tls holds none of the plaintext written so far (node
   * calls a write back once the bridge's transport took its records; on the native path once
   * the TCP handle took them) and, on Bun, whose node:tls calls back at once, once the bridge
   * holds no ciphertext.
   */
  get flush(): Effect.Effect<void, TlsError.TlsError> {
    return Effect.suspend(() => {
      const socket = this.socket
      if (socket === undefined) return Effect.void
      const drained = this.changed.awaitPure(this.plaintextHandedOn)
      if (this.native !== undefined || runtime.writeCallbackAfterTransport) return drained
      return Effect.zipRight(
        drained,
        Effect.flatMap(
          this.writesSettled(socket),
          () => this.state.failure !== undefined ? this.failWith() : Effect.void
        )
      )
    })
  }

  /** `flush`'s wait: node:tls holds no plaintext of ours. */
  private readonly plaintextHandedOn = (): Effect.Effect<void, TlsError.TlsError> | undefined =>
    this.writeWaitCheck(this.socket!.writableLength === 0, this.socket!.destroyed)

  /** Why a write may not start now (a failure, Bun's answered close_notify, our end), if it may not. */
  private writeRefused(socket: tls.TLSSocket): Effect.Effect<never, TlsError.TlsError> | undefined {
    if (this.state.failure !== undefined) return this.failWith()
    if (this.bridge?.endedByConsumer === true) return Effect.fail(this.halfCloseUnsupported)
    if (socket.writableEnded || this.state.closed) return Effect.fail(errors.writeAfterClose(this.side))
    return undefined
  }

  /** A write's wait: node:tls and the bridge are below their high-water marks. */
  private readonly handedToBridge = (): Effect.Effect<void, TlsError.TlsError> | undefined =>
    this.writeWaitCheck(!this.mustWaitForDrain(this.socket!), false)

  /** The check of a wait on our writes: `done`, unless the connection failed or ended first. */
  private writeWaitCheck(done: boolean, gone: boolean): Effect.Effect<void, TlsError.TlsError> | undefined {
    if (this.state.failure !== undefined) return this.failWith()
    if (this.bridge?.endedByConsumer === true) return Effect.fail(this.halfCloseUnsupported)
    if (done) return Effect.void
    if (this.state.closed || gone) return Effect.fail(this.closedError)
    return undefined
  }

  /** Bun's node:tls answered the peer's close_notify for us: what we write now would be lost. */
  private get halfCloseUnsupported(): TlsError.TlsGenericError {
    return errors.halfCloseUnsupported(this.side)
  }

  get closeWrite(): Effect.Effect<void, TlsError.TlsError> {
    return Effect.suspend(() => {
      const socket = this.start()
      // (Bun already sent our close_notify when the peer's arrived: nothing is lost by ending)
      if (this.bridge?.endedByConsumer === true) return Effect.void
      const endNow = () => {
        if (!socket.writableEnded) socket.end()
        return closing.ended(this, socket)
      }
      // (Bun: a TLS 1.3 ticket that comes after our close_notify is dropped)
      const ticketFirst = runtime.ticketsIgnoredAfterClose && this.side === "client"
      // (Node: end() now and the wait for our close_notify, in this step: no Effect of its own)
      if (!runtime.endOvertakesWrites && !ticketFirst) return endNow()
      const end = Effect.suspend(endNow)
      // (Deno: before end(), and after it, since its close_notify may wait inside node:tls)
      const steps = runtime.endOvertakesWrites
        ? Effect.zipRight(this.writesSettled(socket), Effect.zipRight(end, this.writesSettled(socket)))
        : end
      return ticketFirst ? Effect.zipRight(this.firstTicket, steps) : steps
    })
  }

  /** Deno: `closing.writesSettled`. */
  writesSettled(socket: tls.TLSSocket): Effect.Effect<void, TlsError.TlsError> {
    return closing.writesSettled(socket, this.bridge, () => this.tornDown)
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

  // ---- closing (`closing.ts`: made when a connection closes, nothing of it is kept while it is open)

  /** Tears the connection down at once (no close_notify), within `closeTimeout`. */
  get abort(): Effect.Effect<void> {
    return closing.abort(this)
  }

  /** The scope's finalizer, by its exit (`closing.close`). */
  close(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return closing.close(this, exit)
  }

  /**
   * Client: the sessions the server gave, wrapped for the cache.
   *
   * A TLS 1.3 server sends its tickets after it has read our Finished, about one round trip
   * after our handshake completed: a connection closed at once would never see one, and every
   * connection after it would run a full handshake. So, after a full handshake, when a
   * `SessionCache` keeps them and none has come yet, this waits for the first ticket, at most `ticketWait.ticketWaitMs` (wall clock, and
   * `ticketWaitTurns` turns of its timer: a network delay, not a user timeout) and no longer than the connection stays quiet: any
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
   * `EngineConnection.sessionsToKeep`: whether `sessions` would give any, or wait for the first
   * ticket, now. A method: asked once, as the connection closes.
   */
  sessionsToKeep(): boolean {
    const handshake = this.state.handshake
    const sessionsOf = this.sessionsOf
    if (handshake === undefined || sessionsOf === undefined) return false
    return sessionsOf.keeps(handshake) || this.waitsForTicket()
  }

  /** `firstTicket` would wait: a full TLS 1.3 handshake, sessions kept, no ticket yet, and one may still come. */
  private waitsForTicket(): boolean {
    const handshake = this.state.handshake
    const sessionsOf = this.sessionsOf
    // (node:tls servers send none after a resumption: waiting there would only cost the bound)
    return handshake !== undefined && sessionsOf !== undefined && this.ticketWait !== undefined &&
      !sessionsOf.hasReceived && handshake.protocolVersion === "TLSv1.3" && !handshake.resumed &&
      this.ticketMayCome()
  }

  /**
   * After a full TLS 1.3 handshake whose sessions a `SessionCache` keeps, while no ticket came:
   * the wait for the first one (`sessions`). Void otherwise.
   */
  private get firstTicket(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (!this.waitsForTicket()) return Effect.void
      const sessionsOf = this.sessionsOf!
      const ticketWait = this.ticketWait!
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
}
