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
 * The concerns live in their own modules: `connectionState.ts` (the named states),
 * `secureContexts.ts` (one context per configuration), `sessions.ts` (resumption),
 * `nodeInternals.ts` (the only reader of node's private fields), `refusals.ts` (why a peer
 * hung up), `truncation.ts` (close_notify or not, per path), `errors.ts` (OpenSSL codes),
 * `certificateRequests.ts` (what a client learns of the server's CertificateRequest, on either
 * path) and `acceptedCas.ts` (the bridge's sniffer).
 *
 * Seams: the server side's `tls.TLSSocket` options are built in `serverSocketOptions` (SNI and
 * ALPN callbacks, ticket keys go there); node's `keylog` event is heard in `start` by the
 * sniffer, and by an enabled `KeyLog` (`keyLog.ts`) attached where each socket is made.
 *
 * @internal
 */
import * as Certificate from "@effect-tls/core/Certificate"
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as Condition from "@effect-tls/core/Condition"
import * as KeyLog from "@effect-tls/core/KeyLog"
import type * as ProtocolVersion from "@effect-tls/core/ProtocolVersion"
import * as SessionCache from "@effect-tls/core/SessionCache"
import type {
  ClientConfig,
  EngineConfig,
  EngineConnection,
  EngineHandshake,
  ServerConfig
} from "@effect-tls/core/TlsBackend"
import * as TlsError from "@effect-tls/core/TlsError"
import * as TlsInteraction from "@effect-tls/core/TlsInteraction"
import * as Transport from "@effect-tls/core/Transport"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type { X509Certificate } from "node:crypto"
import type { Duplex } from "node:stream"
import * as tls from "node:tls"
import { RecordAcceptedCas } from "./acceptedCas.js"
import { TransportDuplex } from "./bridge.js"
import { CertificateRequests } from "./certificateRequests.js"
import * as closeNotifyGuard from "./closeNotifyGuard.js"
import { ConnectionState } from "./connectionState.js"
import { flagsFromVerifyError, fromNodeError } from "./errors.js"
import * as keyLog from "./keyLog.js"
import * as internals from "./nodeInternals.js"
import { type Evidence, refineFailure, refusalOfHangUp } from "./refusals.js"
import * as runtime from "./runtime.js"
import { type SecureContextCache, secureContextFor } from "./secureContexts.js"
import { ClientSessions, sessionHasExtendedMasterSecret, unwrapSession } from "./sessions.js"
import * as tcp from "./tcp.js"
import { inputTruncated, refuseUntellableTruncation, truncationError } from "./truncation.js"

export { SecureContextCache } from "./secureContexts.js"

/**
 * The peer's chain as it arrived, leaf first, read once at `secure`/`secureConnect` through
 * `getPeerX509Certificate()` (its `.issuerCertificate` links, DER from `.raw`): no JS object
 * per certificate field, and no issuer looked up in the trust store (which
 * `getPeerCertificate(true)` appends). On a client, node 20 hands the chain over: a second read
 * returns nothing, so nothing else may ask for it.
 */
const readPeerChain = (
  socket: tls.TLSSocket
): { readonly leaf: X509Certificate | undefined; readonly chain: Array<Uint8Array> } => {
  const leaf = socket.getPeerX509Certificate()
  const chain: Array<Uint8Array> = []
  const seen = new Set<string>()
  let certificate: X509Certificate | undefined = leaf
  while (certificate !== undefined && chain.length < MAX_PEER_CHAIN && !seen.has(certificate.fingerprint256)) {
    seen.add(certificate.fingerprint256)
    chain.push(new Uint8Array(certificate.raw))
    certificate = certificate.issuerCertificate
  }
  return { leaf, chain }
}

/** More certificates than any real chain carries (node's own legacy walk has no bound). */
const MAX_PEER_CHAIN = 32

/** What `tls.checkServerIdentity` reads of a certificate (its subject's CN and the SAN text). */
const identityFields = (leaf: X509Certificate): tls.PeerCertificate => {
  const subject: Record<string, string | Array<string>> = {}
  for (const line of leaf.subject.split("\n")) {
    const at = line.indexOf("=")
    if (at <= 0) continue
    const key = line.slice(0, at)
    const value = line.slice(at + 1)
    const previous = subject[key]
    subject[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value]
  }
  return { subject, subjectaltname: leaf.subjectAltName } as unknown as tls.PeerCertificate
}

/**
 * node:tls's client reads `getPeerCertificate(true)` before `secureConnect` for
 * `checkServerIdentity` (a JS object per certificate field and a trust-store lookup: about a
 * third of a millisecond per handshake), which ours ignores: the engine reads the chain once
 * at `secureConnect`. An own property shadows the method on our socket until then.
 */
const skipNodesPeerCertificateRead = (socket: tls.TLSSocket): void => {
  Object.defineProperty(socket, "getPeerCertificate", {
    value: () => ({}),
    configurable: true,
    writable: true
  })
}

/**
 * The own property is overwritten with the prototype's method, not deleted: deleting a property
 * added before others turns the socket into a dictionary-mode object, and every later property
 * read of node's streams on it is slower (about 0.04 ms per handshake for the delete alone).
 */
const restorePeerCertificateRead = (socket: tls.TLSSocket): void => {
  if (Object.prototype.hasOwnProperty.call(socket, "getPeerCertificate")) {
    ;(socket as { getPeerCertificate: unknown }).getPeerCertificate = tls.TLSSocket.prototype.getPeerCertificate
  }
}

/**
 * How long a client closing right after a TLS 1.3 handshake waits for the server's first ticket:
 * it comes about one handshake's time after ours completed (our Finished travels, the server
 * answers, and this process may be busy meanwhile), so three times the handshake's duration,
 * within [20, 200] ms.
 */
const ticketWaitMs = (handshakeMs: number): number => Math.min(200, Math.max(20, 3 * handshakeMs))

/**
 * The TLS socket's plaintext buffers, each way (node's default is 16 KiB): a write of a full
 * record then returns at once while the previous one is still on its way, and reads stop
 * node:tls only when 64 KiB of plaintext wait, as the bridge does for ciphertext.
 */
const PLAINTEXT_HIGH_WATER_MARK = 64 * 1024

/** The live clock's class: its time is the real time, so a plain timer stands for its sleep. */
const LiveClock = Clock.make().constructor

/** Longer than a JS timer can wait. */
const maxTimerMillis = 2 ** 31 - 1

/** The next turn of the event loop (an immediate). */
const nextTurn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * The connection closes with the scope: a finalizer of the scope itself, not
 * Effect.addFinalizer (that keeps a copy of the fiber's refs per connection, about 0.3 KiB),
 * uninterruptible as Effect.addFinalizer's is.
 */
const closeWithScope = (connection: NodeTlsConnection): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(
    Effect.scope,
    (scope) => Scope.addFinalizerExit(scope, (exit) => Effect.uninterruptible(connection.close(exit)))
  )

/** (the constructor's `runtime` parameter hides the module) */
const guardsCloseNotify = runtime.guardsCloseNotify
const serverSendsCaCertificates = runtime.serverSendsCaCertificates

/** @internal */
export class NodeTlsConnection implements EngineConnection {
  private socket: tls.TLSSocket | undefined = undefined
  /** node:tls's transport: none on the native path (node:tls has the TCP socket). */
  private readonly bridge: TransportDuplex | undefined
  private readonly state = new ConnectionState()
  /** Every change of `state`, of the socket's buffers or of the bridge's. */
  private readonly changed = Condition.make()
  /** Teardown has begun (abort ran). */
  private tornDown = false
  /** Plaintext was read from the peer. */
  private receivedData = false
  /** Transport chunks received when the handshake completed. */
  private inboundAtSecure = 0
  /** When node:tls was started, and how long its handshake took (ms, wall clock). */
  private startedAt = 0
  private handshakeMs = 0
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
    runtime: Runtime.Runtime<never>,
    /** The transport's own socket, taken from it (the native path), or none: the bridge. */
    private readonly native: Duplex | undefined,
    /** Client: the sessions offered and received. */
    private readonly sessionsOf: ClientSessions | undefined,
    /** Client: follow the server's TLS 1.3 flight into its encrypted part (`acceptedCasMatter`). */
    private readonly decryptCertificateRequest: boolean = false,
    /** Client: a `SessionCache` will keep this connection's sessions (`sessions` waits for a ticket). */
    private readonly sessionsKept: boolean = false
  ) {
    this.requests = side === "client" ? new CertificateRequests() : undefined
    // Bun: the peer's close_notify waits until our side closed (half-close; runtime.ts)
    this.guard = guardsCloseNotify && native === undefined
      ? closeNotifyGuard.make(config.transport, side, {
        writeOpen: () => this.socket !== undefined && !this.socket.writableEnded,
        handedOn: () => (this.bridge?.readableLength ?? 0) === 0,
        onPeerClosed: this.changed.notify
      })
      : undefined
    if (native !== undefined) return
    const bridge = new TransportDuplex(this.guard?.transport ?? config.transport, runtime)
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
      receivedData: this.receivedData
    }
  }

  private recordError(error: unknown): void {
    if (this.state.failure === undefined) {
      const failure = fromNodeError(error, {
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
    if (this.sessionsKept) this.startedAt = performance.now()
    if (this.guard !== undefined) socket.on("keylog", this.guard.onKeylog)
    if (bridge !== undefined) {
      bridge.consumerEnded = () => internals.endOfInputReceived(socket) === true
      bridge.consumerWriteEnded = () => socket.writableEnded
      bridge.consumerFull = () => inputHeld || socket.readableLength >= socket.readableHighWaterMark
      if (inputHeld) {
        setImmediate(() => {
          inputHeld = false
          bridge.consumerRead()
        })
      }
    }
    socket.on(this.side === "client" ? "secureConnect" : "secure", () => {
      if (this.sessionsKept) this.handshakeMs = performance.now() - this.startedAt
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
      this.state.secured(this.describe(socket))
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
    const failure = this.state.failure!
    const acceptedCas = this.acceptedCas()
    if (failure._tag === "TlsCertificateRequiredError" && Option.isSome(acceptedCas)) {
      return Effect.flatMap(
        Effect.forEach(acceptedCas.value, (der) => Effect.option(Certificate.nameFromDer(der))),
        (names) =>
          Effect.fail(
            new TlsError.TlsCertificateRequiredError({
              acceptedCas: names.flatMap(Option.toArray),
              side: failure.side,
              cause: failure.cause
            })
          )
      )
    }
    return Effect.fail(failure)
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
    const secure = this.state.secure
    return new TlsError.TlsGenericError({
      reason: secure ? "Eof" : "Handshake",
      detail: secure ? "the connection is closed" : "the connection closed during the handshake",
      side: this.side
    })
  }

  // ---- the handshake

  readonly handshake: Effect.Effect<EngineHandshake, TlsError.TlsError> = Effect.suspend(() => {
    this.start()
    return this.changed.await(this.handshakeCheck)
  })

  private readonly handshakeCheck = (): Effect.Effect<EngineHandshake, TlsError.TlsError> | undefined => {
    const state = this.state
    if (state.failure !== undefined) return this.failWith()
    const handshake = state.handshake
    if (handshake !== undefined) return Effect.succeed(handshake)
    if (state.closed || state.input !== "Open") return this.endedAbruptly(this.closedError)
    return undefined
  }

  private describe(socket: tls.TLSSocket): EngineHandshake {
    restorePeerCertificateRead(socket)
    const { chain: received, leaf } = readPeerChain(socket)
    const resumed = socket.isSessionReused()
    const resumedChain = this.sessionsOf?.offered?.peerCertificates
    const chain = received.length === 0 && resumed && resumedChain !== undefined ? [...resumedChain] : received
    let engineFlags = CertificateFlags.empty
    let unspecific = false
    if (chain.length > 0) {
      const code = Option.getOrUndefined(internals.verifyError(socket))
      // (Deno: one code for every rejection; runtime.ts)
      unspecific = runtime.unspecificVerifyError(code)
      engineFlags = unspecific ? CertificateFlags.make("GenericError") : flagsFromVerifyError(code)
      // (a resumed session has no certificate object for node's check; core checks the identity)
      if (this.side === "client" && leaf !== undefined) {
        const identity = (this.config as ClientConfig).serverIdentity
        if (Option.isSome(identity)) {
          const error = tls.checkServerIdentity(identity.value, identityFields(leaf))
          if (error !== undefined) engineFlags = CertificateFlags.union(engineFlags, ["BadIdentity"])
        }
      }
    }
    const cipher = socket.getCipher()
    const alpn = socket.alpnProtocol
    const protocolVersion = (socket.getProtocol() ?? "unknown") as ProtocolVersion.ProtocolVersion
    const upToTls12 = protocolVersion !== "TLSv1.3"
    const bytes = (buffer: Buffer | undefined) =>
      upToTls12 && runtime.reportsFinished && buffer !== undefined ? Option.some(new Uint8Array(buffer)) : Option.none()
    return {
      protocolVersion,
      ciphersuiteName: cipher.standardName ?? cipher.name,
      negotiatedProtocol: typeof alpn === "string" ? Option.some(alpn) : Option.none(),
      peerCertificates: chain,
      engineFlags,
      ...(unspecific ? { engineVerdictUnspecific: true } : {}),
      resumed,
      acceptedCas: this.acceptedCas(),
      serverName: this.side === "server" ? internals.serverName(socket, this.recordedServerName) : Option.none(),
      channelBinding: {
        ownFinished: bytes(socket.getFinished()),
        peerFinished: bytes(socket.getPeerFinished()),
        extendedMasterSecret: upToTls12 && runtime.opensslSessions
          ? sessionHasExtendedMasterSecret(socket.getSession())
          : Option.none(),
        ownCertificate: this.side === "server"
          ? Option.flatMap(this.config.certificate, (key) => Option.fromNullable(key.chain[0]?.der))
          : Option.none()
      }
    }
  }

  // ---- plaintext

  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsError.TlsError> = Effect.suspend(() => {
    const socket = this.start()
    // plaintext already there: no waiter
    const chunk: Buffer | null = socket.read()
    if (chunk !== null) {
      this.receivedData = true
      this.plaintextReads++
      this.bridge?.consumerRead()
      return Effect.succeed(Option.some(chunk))
    }
    return this.changed.await(this.readCheck)
  })

  /** What a plaintext read sees now, or undefined: wait for the next socket event. */
  private readonly readCheck = (): Effect.Effect<Option.Option<Uint8Array>, TlsError.TlsError> | undefined => {
    const chunk: Buffer | null = this.socket!.read()
    if (chunk !== null) {
      this.receivedData = true
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

  /** Plaintext chunks read so far (the end after a withheld close_notify waits for a quiet turn). */
  private plaintextReads = 0
  private quietCheck: "scheduled" | "quiet" | undefined = undefined

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

  readonly write = (bytes: Uint8Array): Effect.Effect<void, TlsError.TlsError> =>
    Effect.suspend(() => {
      const socket = this.start()
      if (this.state.failure !== undefined) return this.failWith()
      if (this.bridge?.endedByConsumer === true) return Effect.fail(this.halfCloseUnsupported)
      if (socket.writableEnded || this.state.closed) {
        return Effect.fail(
          new TlsError.TlsGenericError({ reason: "Closed", detail: "write after close", side: this.side })
        )
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
        return this.changed.await(this.handedToBridge)
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
      return handedOn ? Effect.void : this.changed.await(check)
    })

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
    return new TlsError.TlsGenericError({
      reason: "Closed",
      detail: runtime.lacks(
        "ended our side when the peer's close_notify arrived (no half-close over a JS Duplex): " +
          "nothing written after it can reach the peer"
      ),
      side: this.side
    })
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

  /**
   * Deno: a TLSSocket's `end()` can send its close_notify before ciphertext of earlier writes
   * it still holds reached the bridge (seen through the PlatformSocket adapter: the peer's read
   * ended cleanly halfway through an echo). `closeWrite` first waits until node:tls and the
   * bridge hold nothing and a later turn brought no more ciphertext. And after `end()`: Deno's
   * TLSWrap hands its output to the Duplex one write at a time, from a microtask, so its
   * close_notify may still wait inside it (behind a transport write waiting for room) when the
   * TLSSocket has finished: `closeWrite` and close wait the same way before the teardown.
   */
  private writesSettled(socket: tls.TLSSocket): Effect.Effect<void, TlsError.TlsError> {
    const bridge = this.bridge
    if (bridge === undefined) return Effect.void
    return Effect.async<void, TlsError.TlsError>((resume) => {
      let handle: ReturnType<typeof setTimeout> | undefined = undefined
      let seen = bridge.writtenChunks
      const check = () => {
        // (a teardown, the close bound's included, ends the wait: nothing more will be written)
        if (this.tornDown || socket.destroyed || bridge.destroyed) return resume(Effect.void)
        const idle = socket.writableLength === 0 && !bridge.writeBlocked && bridge.writableLength === 0
        if (idle && seen === bridge.writtenChunks) return resume(Effect.void)
        seen = bridge.writtenChunks
        handle = setTimeout(check, 1)
      }
      handle = setTimeout(check, 1)
      return Effect.sync(() => clearTimeout(handle))
    })
  }

  /**
   * The bridge holds no ciphertext of ours any more. Node and Deno call a TLSSocket's writes
   * back only after the bridge wrote them, so its `writableFinished` says so already; Bun calls
   * them back at once, and its `finish` came while the bridge still held the last records
   * (behind a transport write that waited for room): the teardown that followed dropped them.
   */
  private get ciphertextFlushed(): boolean {
    return runtime.writeCallbackAfterTransport || this.native !== undefined ||
      this.bridge === undefined || (this.bridge.writableLength === 0 && !this.bridge.writeBlocked)
  }

  private ended(socket: tls.TLSSocket): Effect.Effect<void, TlsError.TlsError> {
    return this.changed.await(() => {
      if (socket.writableFinished && this.ciphertextFlushed) {
        // (Bun) our close_notify is out: node:tls may now see the peer's
        this.guard?.release()
        return Effect.void
      }
      if (this.state.failure !== undefined) return this.failWith()
      if (this.state.closed) return Effect.fail(this.closedError)
      return undefined
    })
  }

  readonly exportKeyingMaterial = (
    length: number,
    label: string,
    context?: Uint8Array | undefined
  ): Effect.Effect<Uint8Array, TlsError.TlsError> =>
    Effect.try({
      try: () => {
        // never ask a closed TLSSocket (node 20 may crash)
        if (this.state.closed || this.socket === undefined || !this.state.secure) {
          throw new Error("no established connection")
        }
        const socket = this.socket
        if (!runtime.hasExportKeyingMaterial(socket)) throw new Error(runtime.lacks("has no exportKeyingMaterial"))
        const material = context === undefined
          ? socket.exportKeyingMaterial(length, label, undefined as unknown as Buffer)
          : socket.exportKeyingMaterial(length, label, Buffer.from(context))
        return new Uint8Array(material)
      },
      catch: (cause) =>
        new TlsError.TlsGenericError({
          reason: "Misc",
          detail: "keying material export failed",
          side: this.side,
          cause
        })
    })

  // ---- teardown

  /**
   * Tears down node:tls (no close_notify) and half-closes the transport so that the peer is not
   * left waiting; what node:tls wrote last (an alert) goes out before our FIN.
   */
  private readonly teardown: Effect.Effect<void> = Effect.suspend(() => {
    // what a write already acknowledged may still wait inside node:tls (behind a record in
    // flight): it goes out first, then the end without close_notify (bounded by the caller);
    // not when the transport pushes back (a peer that stopped reading would hold us)
    const socket = this.socket
    if (
      socket !== undefined && !socket.destroyed && this.state.failure === undefined && !this.tornDown &&
      this.bridge?.writeBlocked !== true && socket.writableLength > 0
    ) {
      return Effect.zipRight(this.plaintextFlushed, this.tearDownNow)
    }
    return this.tearDownNow
  })

  private readonly plaintextFlushed: Effect.Effect<void> = this.changed.await(() => {
    const socket = this.socket!
    return socket.destroyed || this.state.failure !== undefined || socket.writableLength === 0
      ? Effect.void
      : undefined
  })

  private readonly tearDownNow: Effect.Effect<void> = Effect.suspend(() => {
    const shutDown = this.bridge?.writableFinished === true || this.tornDown
    // a transport that pushes back would hold our half-close too (TCP's FIN waits behind the
    // data): the peer learns of the end when the transport's own scope closes it
    const blocked = this.bridge?.writeBlocked === true
    this.stop()
    // (native path: the transport was taken, its socket is node:tls's and destroyed by `stop`)
    if (shutDown || blocked || this.native !== undefined) return Effect.void
    return this.shutdownTransport()
  })

  /** The synchronous part of every teardown: nothing of this connection runs afterwards. */
  private stop(): void {
    this.tornDown = true
    this.socket?.destroy()
    this.bridge?.destroy()
    this.requests?.stop()
  }

  /**
   * Runs `steps` for at most `closeTimeout` (on the Clock), then stops whatever is left.
   *
   * Under the live clock, in place with a plain timer (deadline.ts's pattern): every wait in
   * `steps` is on `changed` and ends once `stop` has destroyed the socket, which the timer
   * does; the one external wait, the transport's half-close (bridge only), gets a fiber of
   * its own that the same deadline interrupts (`shutdownTransport`). Under any other clock,
   * in a fiber of its own raced with the Clock: a finalizer is uninterruptible, and the fiber
   * closing a scope may itself be interrupted, so a timeout raced in place could neither fire
   * nor be trusted.
   */
  private bounded(steps: Effect.Effect<void>): Effect.Effect<void> {
    return Effect.clockWith((clock) => {
      const millis = Duration.toMillis(this.config.closeTimeout)
      if (clock instanceof LiveClock && millis <= maxTimerMillis) {
        return Effect.suspend(() => {
          this.closeDeadline = Date.now() + millis
          const timer = setTimeout(() => {
            this.stop()
            this.changed.notify()
          }, millis)
          return Effect.ensuring(
            steps,
            Effect.sync(() => {
              clearTimeout(timer)
              this.stop()
            })
          )
        })
      }
      return Effect.fork(Effect.interruptible(Effect.timeoutOption(steps, this.config.closeTimeout))).pipe(
        Effect.flatMap(Fiber.join),
        Effect.zipRight(Effect.sync(() => this.stop()))
      )
    })
  }

  /** When a close bounded in place (`bounded` under the live clock) runs out of time, wall clock. */
  private closeDeadline: number | undefined = undefined

  /**
   * The transport's half-close, within the close's bound. It may wait for the peer (TCP's FIN
   * behind data the peer does not read) and a finalizer cannot be interrupted: under a close
   * bounded in place it runs in a fiber of its own, interrupted when the time is up.
   */
  private shutdownTransport(): Effect.Effect<void> {
    const shutdown = Effect.ignore(this.config.transport.shutdownWrite)
    const deadline = this.closeDeadline
    if (deadline === undefined) return shutdown
    return Effect.flatMap(Effect.fork(Effect.interruptible(shutdown)), (fiber) =>
      Effect.async<void>((resume) => {
        const done = () => {
          clearTimeout(timer)
          resume(Effect.void)
        }
        const timer = setTimeout(() => {
          fiber.removeObserver(done)
          resume(Fiber.interrupt(fiber))
        }, Math.max(0, deadline - Date.now()))
        fiber.addObserver(done)
        return Effect.sync(() => {
          clearTimeout(timer)
          fiber.removeObserver(done)
        })
      }))
  }

  /** Tears the connection down at once (no close_notify), within `closeTimeout`. */
  readonly abort: Effect.Effect<void> = Effect.suspend(() => this.tornDown ? Effect.void : this.bounded(this.teardown))

  /**
   * Client: the sessions the server gave, wrapped for the cache.
   *
   * A TLS 1.3 server sends its tickets after it has read our Finished, about one round trip
   * after our handshake completed: a connection closed at once would never see one, and every
   * connection after it would run a full handshake. So, after a full handshake, when a
   * `SessionCache` keeps them and none has come yet, this waits for the first ticket, at most `ticketWaitMs` (wall clock: a
   * network delay, not a user timeout) and no longer than the connection stays quiet: any
   * plaintext, end or failure first means the server sends none.
   */
  readonly sessions: Effect.Effect<ReadonlyArray<Uint8Array>> = Effect.suspend(() => {
    const handshake = this.state.handshake
    const sessionsOf = this.sessionsOf
    if (handshake === undefined || sessionsOf === undefined) return Effect.succeed([])
    return Effect.zipRight(this.firstTicket, Effect.sync(() => sessionsOf.wrapped(handshake)))
  })

  /**
   * After a full TLS 1.3 handshake whose sessions a `SessionCache` keeps, while no ticket came:
   * the wait for the first one (`sessions`). Void otherwise.
   */
  private readonly firstTicket: Effect.Effect<void> = Effect.suspend(() => {
    const handshake = this.state.handshake
    const sessionsOf = this.sessionsOf
    // (node:tls servers send none after a resumption: waiting there would only cost the bound)
    if (
      handshake === undefined || sessionsOf === undefined || !this.sessionsKept || sessionsOf.hasReceived ||
      handshake.protocolVersion !== "TLSv1.3" || handshake.resumed || !this.ticketMayCome()
    ) return Effect.void
    return this.ticketOrQuiet(ticketWaitMs(this.handshakeMs))
  })

  /** Nothing but a ticket can still be expected from the server. */
  private ticketMayCome(): boolean {
    const socket = this.socket
    const state = this.state
    return socket !== undefined && !socket.destroyed && state.failure === undefined && !state.closed &&
      state.input === "Open" && !this.receivedData && socket.readableLength === 0 && !this.tornDown
  }

  private ticketOrQuiet(ms: number): Effect.Effect<void> {
    return Effect.suspend(() => {
      let expired = false
      const timer = setTimeout(() => {
        expired = true
        this.changed.notify()
      }, ms)
      timer.unref?.()
      // node:tls pulls ciphertext only when asked for plaintext: ask (nothing is consumed)
      this.socket!.read(0)
      const arrived = this.changed.await(() =>
        expired || this.sessionsOf!.hasReceived || !this.ticketMayCome() ? Effect.void : undefined
      ).pipe(Effect.ensuring(Effect.sync(() => clearTimeout(timer))))
      // native path: node:tls emits each ticket of one flight from its own callback, and the
      // waiter resumes between them; the rest of the flight is in before the next turn
      return this.native === undefined ? arrived : Effect.zipRight(arrived, nextTurn)
    })
  }

  /**
   * The scope's finalizer, by its exit: after success and a good handshake, close_notify, waiting
   * until it left (our side's flush, not the peer's answer: both ends of a pair often close in
   * one scope); after a failure or an interruption, a teardown without close_notify, so that the
   * peer reads a truncation and never a complete stream. Both within `closeTimeout`.
   */
  readonly close = (exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (this.tornDown) return Effect.void
      const socket = this.socket
      const state = this.state
      if (!Exit.isSuccess(exit) || socket === undefined || state.phase._tag !== "Open") return this.abort
      if (!socket.writableEnded) socket.end()
      const sent = this.changed.await(() =>
        (socket.writableFinished && this.ciphertextFlushed) || state.phase._tag !== "Open" ? Effect.void : undefined
      )
      const flushed = runtime.endOvertakesWrites
        ? Effect.zipRight(sent, Effect.ignore(this.writesSettled(socket)))
        : sent
      return this.bounded(Effect.zipRight(flushed, this.teardown))
    })
}

/**
 * The native path, the default for TCP transports: the transport's own socket goes straight to
 * node:tls (no JS bridge). node:tls's events there do not say whether close_notify preceded the
 * FIN; node internals do (`nodeInternals.watchNativeEnd`), so a connection requiring
 * close_notify goes native only where they were detected. The engine sees no handshake bytes
 * there, so it is not taken when the accepted-CA sniffer matters (`sniffs`: a client whose
 * `acceptedCasMatter`), nor when pushed-back bytes wait (STARTTLS). Taking the socket consumes
 * the transport (`tcp.takeSocket`).
 */
const nativeSocket = (config: EngineConfig, sniffs: boolean): Duplex | undefined => {
  if (
    !runtime.nativeSocketPath || sniffs || (config.requireCloseNotify && !internals.canTellNativeTruncation()) ||
    Transport.hasPendingInput(config.transport)
  ) {
    return undefined
  }
  return Option.getOrUndefined(tcp.takeSocket(config.transport))
}

const invalidSettings = (side: TlsError.Side) => (cause: unknown) =>
  new TlsError.TlsGenericError({ reason: "Misc", detail: "invalid TLS settings", side, cause })

/**
 * Whether a client's TLS 1.3 CertificateRequest is worth decrypting (`HandshakeInfo.acceptedCas`,
 * and the refusal heuristics that read it): when the client has a certificate to send, a
 * `TlsInteraction` that answers certificate requests is in the Context, or
 * `NodeTlsBackend.RecordAcceptedCas` asks for it. Otherwise the sniffer reads only the clear
 * part of the server's flight (TLS 1.2's CertificateRequest), and nothing is decrypted.
 *
 * @internal
 */
export const acceptedCasMatter = (config: ClientConfig): Effect.Effect<boolean> =>
  Option.isSome(config.certificate)
    ? Effect.succeed(true)
    : Effect.flatMap(
      TlsInteraction.TlsInteraction,
      (interaction) =>
        interaction.requestCertificate !== TlsInteraction.none.requestCertificate
          ? Effect.succeed(true)
          : RecordAcceptedCas
    )

/** @internal */
export const makeClient = (
  cache: SecureContextCache,
  config: ClientConfig,
  /** The backend's own cache, used when the Context has no `SessionCache`. */
  defaultSessionCache: SessionCache.SessionCacheShape = SessionCache.disabled
): Effect.Effect<EngineConnection, TlsError.TlsError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* refuseUntellableTruncation(config, "client")
    const runtime = yield* Effect.runtime<never>()
    const secureContext = yield* Effect.try({
      try: () => secureContextFor(cache, config, config.database.anchors),
      catch: invalidSettings("client")
    })
    const offered = Option.getOrUndefined(Option.flatMap(config.session, unwrapSession))
    const withKeyLog = keyLog.attach(yield* KeyLog.KeyLog, runtime)
    const sniffs = yield* acceptedCasMatter(config)
    const connection: NodeTlsConnection = new NodeTlsConnection(
      "client",
      config,
      (underlying) => {
        const socket = withKeyLog(tls.connect({
          socket: underlying,
          secureContext,
          rejectUnauthorized: false,
          // the engine checks the identity at secureConnect (skipNodesPeerCertificateRead)
          checkServerIdentity: () => undefined,
          allowHalfOpen: true,
          highWaterMark: PLAINTEXT_HIGH_WATER_MARK,
          ...(Option.isSome(config.serverName) ? { servername: config.serverName.value } : {}),
          ...(offered !== undefined ? { session: offered.session } : {}),
          ...(config.alpn.length > 0 ? { ALPNProtocols: [...config.alpn] } : {})
        } as tls.ConnectionOptions))
        skipNodesPeerCertificateRead(socket)
        return socket
      },
      runtime,
      nativeSocket(config, sniffs),
      new ClientSessions(offered),
      sniffs,
      Option.getOrElse(yield* Effect.serviceOption(SessionCache.SessionCache), () => defaultSessionCache) !==
        SessionCache.disabled
    )
    yield* closeWithScope(connection)
    return connection
  })

/**
 * The server's TLSSocket options: the seam for SNI and ALPN callbacks and ticket keys.
 *
 * @internal
 */
export const serverSocketOptions = (
  config: ServerConfig,
  secureContext: tls.SecureContext,
  connection: { recordedServerName: string | undefined }
): tls.TLSSocketOptions => ({
  isServer: true,
  secureContext,
  requestCert: config.clientAuth !== "none",
  rejectUnauthorized: config.clientAuth === "required",
  allowHalfOpen: true,
  highWaterMark: PLAINTEXT_HIGH_WATER_MARK,
  ...(config.alpn.length > 0 ? { ALPNProtocols: [...config.alpn] } : {}),
  ...(internals.serverNameNeedsCallback()
    ? {
      SNICallback: (name: string, callback: (error: Error | null, context?: tls.SecureContext) => void) => {
        connection.recordedServerName = name
        callback(null, secureContext)
      }
    }
    : {})
} as tls.TLSSocketOptions)

/** @internal */
export const makeServer = (
  cache: SecureContextCache,
  config: ServerConfig
): Effect.Effect<EngineConnection, TlsError.TlsError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* refuseUntellableTruncation(config, "server")
    const runtime = yield* Effect.runtime<never>()
    const secureContext = yield* Effect.try({
      // (Deno sends its `ca` certificates to every client: none unless it asks for theirs)
      try: () =>
        secureContextFor(
          cache,
          config,
          serverSendsCaCertificates && config.clientAuth === "none" ? [] : config.clientCas
        ),
      catch: invalidSettings("server")
    })
    const withKeyLog = keyLog.attach(yield* KeyLog.KeyLog, runtime)
    const connection: NodeTlsConnection = new NodeTlsConnection(
      "server",
      config,
      (underlying) => withKeyLog(new tls.TLSSocket(underlying, serverSocketOptions(config, secureContext, connection))),
      runtime,
      nativeSocket(config, false),
      undefined
    )
    yield* closeWithScope(connection)
    return connection
  })
