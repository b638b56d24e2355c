/**
 * The node:tls engine: one TLS connection over any `Transport`, through `TransportDuplex`.
 *
 * node:tls runs with `rejectUnauthorized: false` (except a server with `clientAuth:
 * "required"`, where OpenSSL must refuse a missing certificate in the handshake), so the
 * engine only reports OpenSSL's verdict; core verifies the chain itself and runs the policy.
 *
 * Every node event is recorded in the connection's state by listeners that live as long as
 * the connection; Effects that wait register a waiter and re-check the state on every event.
 * No node event can therefore be missed or crash the process for want of a listener.
 *
 * @internal
 */
import * as Certificate from "@effect-tls/core/Certificate"
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as PrivateKey from "@effect-tls/core/PrivateKey"
import type * as ProtocolVersion from "@effect-tls/core/ProtocolVersion"
import type {
  ClientConfig,
  EngineConfig,
  EngineConnection,
  EngineHandshake,
  ServerConfig
} from "@effect-tls/core/TlsBackend"
import * as TlsError from "@effect-tls/core/TlsError"
import * as Transport from "@effect-tls/core/Transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import type { Duplex } from "node:stream"
import * as tls from "node:tls"
import { type AcceptedCasResult, type AcceptedCasSniffer, makeAcceptedCasSniffer } from "./acceptedCas.js"
import { TransportDuplex } from "./bridge.js"
import { flagsFromVerifyError, fromNodeError } from "./errors.js"
import * as runtime from "./runtime.js"
import * as tcp from "./tcp.js"

const toPem = (der: Uint8Array, label: string): string => {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64")
  const lines = base64.match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`
}

const certificatesPem = (certificates: ReadonlyArray<Certificate.Certificate>): Array<string> =>
  certificates.map((certificate) => toPem(certificate.der, "CERTIFICATE"))

/**
 * SecureContexts are costly (about 18 % of the handshake rate): one per distinct
 * (certificate, trusted anchors, settings), kept while the certificate lives. OpenSSL is always
 * given the database's anchors, the system store's included: node's own roots would miss what
 * `SSL_CERT_FILE` / `NODE_EXTRA_CA_CERTS` add, and both verdicts must agree.
 *
 * @internal
 */
export class SecureContextCache {
  private readonly noCertificate = {}
  private readonly cache = new WeakMap<object, Map<string, tls.SecureContext>>()
  private readonly trustKeys = new WeakMap<ReadonlyArray<Certificate.Certificate>, string>()

  /** The trust list's identity by content, so equal lists made per connection share a context. */
  private trustKey(anchors: ReadonlyArray<Certificate.Certificate>): string {
    let key = this.trustKeys.get(anchors)
    if (key === undefined) {
      key = anchors.map((anchor) => anchor.fingerprintSha256).join(",")
      this.trustKeys.set(anchors, key)
    }
    return key
  }

  get(
    certificate: object | undefined,
    anchors: ReadonlyArray<Certificate.Certificate>,
    settings: string,
    create: () => tls.SecureContext
  ): tls.SecureContext {
    const owner = certificate ?? this.noCertificate
    let contexts = this.cache.get(owner)
    if (contexts === undefined) {
      contexts = new Map()
      this.cache.set(owner, contexts)
    }
    const key = `${settings}|${this.trustKey(anchors)}`
    let context = contexts.get(key)
    if (context === undefined) {
      context = create()
      contexts.set(key, context)
    }
    return context
  }
}

const secureContextFor = (
  cache: SecureContextCache,
  config: EngineConfig,
  /** What OpenSSL trusts, and (server) whose subjects it sends as acceptable client CAs. */
  anchors: ReadonlyArray<Certificate.Certificate>
): tls.SecureContext => {
  const settings = JSON.stringify([
    config.minVersion,
    Option.getOrNull(config.maxVersion),
    Option.getOrNull(config.ciphers)
  ])
  const certificate = Option.getOrUndefined(config.certificate)
  return cache.get(certificate, anchors, settings, () =>
    tls.createSecureContext({
      minVersion: config.minVersion as tls.SecureVersion,
      ...(Option.isSome(config.maxVersion) ? { maxVersion: config.maxVersion.value as tls.SecureVersion } : {}),
      ...(Option.isSome(config.ciphers) ? { ciphers: config.ciphers.value } : {}),
      ...(certificate !== undefined
        ? {
          cert: certificatesPem(certificate.chain).join(""),
          key: Redacted.value(PrivateKey.toPem(certificate.key))
        }
        : {}),
      ca: certificatesPem(anchors)
    }))
}

/** A session for the cache: `u32 count, (u32 length, DER)*` of the peer chain, then node's session. */
const wrapSession = (chain: ReadonlyArray<Uint8Array>, session: Buffer): Uint8Array => {
  const size = 4 + chain.reduce((n, der) => n + 4 + der.length, 0) + session.length
  const out = Buffer.allocUnsafe(size)
  let at = out.writeUInt32BE(chain.length, 0)
  for (const der of chain) {
    at = out.writeUInt32BE(der.length, at)
    out.set(der, at)
    at += der.length
  }
  out.set(session, at)
  return out
}

const unwrapSession = (
  bytes: Uint8Array
): Option.Option<{ readonly peerCertificates: ReadonlyArray<Uint8Array>; readonly session: Buffer }> => {
  try {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const count = buffer.readUInt32BE(0)
    if (count > 16) return Option.none()
    let at = 4
    const peerCertificates: Array<Uint8Array> = []
    for (let i = 0; i < count; i++) {
      const length = buffer.readUInt32BE(at)
      at += 4
      if (at + length > buffer.length) return Option.none()
      peerCertificates.push(new Uint8Array(buffer.subarray(at, at + length)))
      at += length
    }
    return at < buffer.length
      ? Option.some({ peerCertificates, session: Buffer.from(buffer.subarray(at)) })
      : Option.none()
  } catch {
    return Option.none()
  }
}

const peerChain = (leaf: tls.DetailedPeerCertificate): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  const seen = new Set<string>()
  let certificate: tls.DetailedPeerCertificate | undefined = leaf
  while (certificate !== undefined && certificate.raw !== undefined && !seen.has(certificate.fingerprint256)) {
    seen.add(certificate.fingerprint256)
    out.push(new Uint8Array(certificate.raw))
    certificate = certificate.issuerCertificate
  }
  return out
}

/**
 * Whether the session was made with the extended master secret (RFC 7627): OpenSSL's
 * SSL_SESSION DER holds it in `flags` ([13] INTEGER, SSL_SESS_FLAG_EXTMS = 1; absent when no
 * flag is set). The DER holds the master key too: it is read here, never kept, and wiped.
 */
const sessionHasExtendedMasterSecret = (session: Buffer | undefined): Option.Option<boolean> => {
  if (session === undefined) return Option.none()
  try {
    const length = (at: number): readonly [length: number, start: number] => {
      const first = session[at]!
      if (first < 0x80) return [first, at + 1]
      let value = 0
      for (let i = 1; i <= (first & 0x7f); i++) value = value * 256 + session[at + i]!
      return [value, at + 1 + (first & 0x7f)]
    }
    if (session[0] !== 0x30) return Option.none()
    const [total, start] = length(1)
    const end = Math.min(start + total, session.length)
    for (let at = start; at < end;) {
      const tag = session[at]!
      const [size, contents] = length(at + 1)
      // [13] EXPLICIT INTEGER: 0xad, then 02 len value
      if (tag === 0xad) {
        return Option.some(session[contents] === 0x02 && (session[contents + 1 + session[contents + 1]!]! & 1) === 1)
      }
      at = contents + size
    }
    return Option.some(false)
  } finally {
    session.fill(0)
  }
}

type Waiter = () => void

/**
 * The TLS socket's plaintext buffers, each way (node's default is 16 KiB): a write of a full
 * record then returns at once while the previous one is still on its way, and reads stop
 * node:tls only when 64 KiB of plaintext wait, as the bridge does for ciphertext.
 */
const PLAINTEXT_HIGH_WATER_MARK = 64 * 1024

/** @internal */
export class NodeTlsConnection implements EngineConnection {
  private socket: tls.TLSSocket | undefined = undefined
  private readonly bridge: TransportDuplex
  private readonly waiters = new Set<Waiter>()
  private failure: TlsError.TlsError | undefined = undefined
  private secure = false
  private ended = false
  private truncated = false
  private closed = false

  constructor(
    private readonly side: "client" | "server",
    private readonly config: ClientConfig | ServerConfig,
    private readonly createSocket: (underlying: Duplex) => tls.TLSSocket,
    runtime: Runtime.Runtime<never>,
    /** The transport's own socket, handed to node:tls directly (the native path), or none: the bridge. */
    private readonly native: Duplex | undefined
  ) {
    this.bridge = new TransportDuplex(config.transport, runtime)
    this.bridge.on("error", () => this.wake())
    this.bridge.onWriteTaken = () => this.wake()
    // Bun's node:tls ignores the Duplex's backpressure: the engine waits for its drain itself
    this.bridge.on("drain", () => this.wake())
  }

  private wake(): void {
    const waiters = this.waiters
    if (waiters.size === 0) return
    // (a snapshot: a waiter that resumes its fiber removes itself)
    if (waiters.size === 1) return waiters.values().next().value!()
    for (const waiter of [...waiters]) waiter()
  }

  /** Waits until `check` returns a result, re-checking on every socket event. */
  private await<A>(check: () => Effect.Effect<A, TlsError.TlsError> | undefined): Effect.Effect<A, TlsError.TlsError> {
    return Effect.async<A, TlsError.TlsError>((resume) => {
      const first = check()
      if (first !== undefined) return resume(first)
      const waiter = () => {
        const result = check()
        if (result !== undefined) {
          this.waiters.delete(waiter)
          resume(result)
        }
      }
      this.waiters.add(waiter)
      return Effect.sync(() => this.waiters.delete(waiter))
    })
  }

  private recordError(error: unknown): void {
    if (this.failure === undefined) {
      const failure = fromNodeError(error, {
        side: this.side,
        handshakeDone: this.secure,
        transportError: this.bridge.transportError
      })
      // OpenSSL says "wrong version number" for any bad record; a peer that began with a TLS
      // record (handshake 22, alert 21) does speak TLS: that is a handshake failure
      const first = this.bridge.firstInboundByte
      const spokeTls = first === 22 || first === 21
      // TLS 1.2 servers refuse a missing client certificate with a bare handshake_failure alert
      const refusedForCertificate = failure._tag === "TlsGenericError" && failure.alert === "handshake_failure" &&
        Option.isSome(this.acceptedCas()) && Option.isNone(this.config.certificate)
      this.failure = refusedForCertificate
        ? new TlsError.TlsCertificateRequiredError({ acceptedCas: [], side: this.side, cause: error })
        : failure._tag === "TlsGenericError" && failure.reason === "NotTls" && spokeTls
        ? new TlsError.TlsGenericError({
          reason: this.secure ? "Misc" : "Handshake",
          detail: "the peer sent a malformed TLS record",
          side: this.side,
          cause: error
        })
        : failure
    }
    this.stopSniffingListener?.()
    this.wake()
  }

  private start(): tls.TLSSocket {
    if (this.socket !== undefined) return this.socket
    const socket = this.createSocket(this.native ?? this.bridge)
    this.socket = socket
    if (this.side === "client" && this.native === undefined) this.sniffAcceptedCas(socket)
    if (this.side === "client") {
      socket.on("session", (session: Buffer) => {
        // a few tickets are plenty; a server sending more gets no more memory
        if (this.receivedSessions.length < 4) this.receivedSessions.push(session)
      })
    }
    this.bridge.consumerEnded = () => (socket as any)._readableState?.ended === true
    this.bridge.consumerWriteEnded = () => socket.writableEnded
    this.bridge.consumerFull = () => socket.readableLength >= socket.readableHighWaterMark
    socket.on(this.side === "client" ? "secureConnect" : "secure", () => {
      this.secure = true
      this.inboundAtSecure = this.bridge.inboundChunks
      // read everything now: node 20 may crash when a destroyed TLSSocket is asked later
      this.described = this.describe(socket)
      this.stopSniffingListener?.()
      this.wake()
    })
    socket.on("error", (error) => this.recordError(error))
    socket.on("readable", () => this.wake())
    socket.on("drain", () => this.wake())
    socket.on("finish", () => this.wake())
    socket.on("end", () => {
      this.ended = true
      // on the native path node:tls cannot tell; it is only taken when close_notify is not required
      this.truncated = this.native === undefined && this.bridge.eofDelivered && !this.bridge.consumerEndedBeforeEof
      this.wake()
    })
    socket.on("close", () => {
      this.closed = true
      this.wake()
    })
    return socket
  }

  /**
   * Client: follows the server's flight to recover its CertificateRequest's CA names (no
   * node:tls API gives them). The keylog listener must be attached right after `tls.connect`.
   */
  private sniffAcceptedCas(socket: tls.TLSSocket): void {
    const sniffer = makeAcceptedCasSniffer()
    this.sniffer = sniffer
    const onKeylog = (line: Buffer) => sniffer.onKeylog(line)
    socket.on("keylog", onKeylog)
    this.bridge.onInbound = (chunk) => {
      sniffer.onServerBytes(chunk)
      if (sniffer.result().state !== "pending") this.stopSniffing(socket, onKeylog)
    }
    this.stopSniffingListener = () => this.stopSniffing(socket, onKeylog)
  }

  private sniffer: AcceptedCasSniffer | undefined = undefined
  private described: EngineHandshake | undefined = undefined
  private stopSniffingListener: (() => void) | undefined = undefined

  private stopSniffing(socket: tls.TLSSocket, onKeylog: (line: Buffer) => void): void {
    socket.off("keylog", onKeylog)
    this.bridge.onInbound = undefined
    if (this.sniffer !== undefined) {
      this.snifferResult = this.sniffer.result()
      this.sniffer.dispose()
      this.sniffer = undefined
    }
  }

  private snifferResult: AcceptedCasResult | undefined = undefined

  private acceptedCas(): Option.Option<ReadonlyArray<Uint8Array>> {
    const result = this.sniffer?.result() ?? this.snifferResult
    return result !== undefined && result.certificateRequested ? Option.some(result.acceptedCas) : Option.none()
  }

  /** The recorded failure, completed with the accepted CA names when the server wanted a certificate. */
  private failWith<A>(): Effect.Effect<A, TlsError.TlsError> {
    const failure = this.failure!
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

  /**
   * The peer hung up without an alert we could read. When the server had asked for a client
   * certificate and we sent none, that is its refusal: servers over node:tls close before their
   * alert leaves, so the client would otherwise see a bare end of input.
   */
  private endedAbruptly<A>(otherwise: TlsError.TlsError): Effect.Effect<A, TlsError.TlsError> {
    // A guess, made only where a refusal is the likely reading of a bare end of input:
    // TLS 1.2: a completed handshake means the server took what we sent (or did not need one).
    // TLS 1.3: the server judges our certificate after our Finished. Without one, a server that
    // did not insist says something after the handshake (session tickets, data); one that insists
    // hangs up in silence. With one, node:tls servers send tickets before refusing it, so any
    // hang-up before data counts.
    const sentCertificate = Option.isSome(this.config.certificate)
    const refusedByServer = !this.secure ||
      (this.described?.protocolVersion === "TLSv1.3" &&
        (sentCertificate || this.bridge.inboundChunks === this.inboundAtSecure))
    if (
      this.side === "client" && this.failure === undefined && refusedByServer && !this.receivedData &&
      Option.isSome(this.acceptedCas())
    ) {
      this.failure = Option.isNone(this.config.certificate)
        ? new TlsError.TlsCertificateRequiredError({ acceptedCas: [], side: this.side, cause: otherwise })
        // we sent a certificate, and the server hung up before any data: it refused it
        : new TlsError.TlsBadCertificateError({
          flags: CertificateFlags.empty,
          peerCertificate: [],
          side: this.side,
          alert: "none: connection closed",
          cause: otherwise
        })
      return this.failWith()
    }
    return Effect.fail(otherwise)
  }

  private receivedData = false
  private inboundAtSecure = 0

  private get closedError(): TlsError.TlsError {
    return new TlsError.TlsGenericError({
      reason: this.secure ? "Eof" : "Handshake",
      detail: this.secure ? "the connection is closed" : "the connection closed during the handshake",
      side: this.side
    })
  }

  readonly handshake: Effect.Effect<EngineHandshake, TlsError.TlsError> = Effect.suspend(() => {
    this.start()
    return this.await(() => {
      if (this.failure !== undefined) return this.failWith()
      if (this.described !== undefined) return Effect.succeed(this.described)
      if (this.closed || this.ended) return this.endedAbruptly(this.closedError)
      return undefined
    })
  })

  private describe(socket: tls.TLSSocket): EngineHandshake {
    const leaf = socket.getPeerCertificate(true)
    const resumed = socket.isSessionReused()
    const received = peerChain(leaf)
    const chain = received.length === 0 && resumed && this.resumedChain !== undefined
      ? [...this.resumedChain]
      : received
    let engineFlags = CertificateFlags.empty
    if (chain.length > 0) {
      // OpenSSL's verdict, as tls.Server and tls.connect read it (a bare server TLSSocket sets no `authorized`)
      const handle = (socket as any)._handle
      engineFlags = flagsFromVerifyError(runtime.verifyErrorCode(
        typeof handle?.verifyError === "function" ? () => handle.verifyError() : undefined,
        socket.authorizationError
      ))
      // (a resumed session has no certificate object for node's check; core checks the identity)
      if (this.side === "client" && received.length > 0) {
        const identity = (this.config as ClientConfig).serverIdentity
        if (Option.isSome(identity)) {
          const error = tls.checkServerIdentity(identity.value, leaf)
          if (error !== undefined) engineFlags = CertificateFlags.union(engineFlags, ["BadIdentity"])
        }
      }
    }
    const cipher = socket.getCipher()
    const alpn = socket.alpnProtocol
    const servername = (socket as any).servername
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
      resumed,
      acceptedCas: this.acceptedCas(),
      serverName: this.side === "server" && typeof servername === "string" ? Option.some(servername) : Option.none(),
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

  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsError.TlsError> = Effect.suspend(() => {
    const socket = this.start()
    // plaintext already there: no waiter
    const chunk: Buffer | null = socket.read()
    if (chunk !== null) {
      this.receivedData = true
      this.bridge.consumerRead()
      return Effect.succeed(Option.some(chunk))
    }
    return this.await(this.readCheck)
  })

  /** What a plaintext read sees now, or undefined: wait for the next socket event. */
  private readonly readCheck = (): Effect.Effect<Option.Option<Uint8Array>, TlsError.TlsError> | undefined => {
    const socket = this.socket!
    const chunk: Buffer | null = socket.read()
    if (chunk !== null) {
      this.receivedData = true
      this.bridge.consumerRead()
      return Effect.succeed(Option.some(chunk))
    }
    if (this.failure !== undefined) return this.failWith()
    if (this.ended) {
      if (this.truncated && this.config.requireCloseNotify) {
        return this.endedAbruptly(
          new TlsError.TlsGenericError({
            reason: "Eof",
            detail: "the transport ended without the peer's close_notify (truncation)",
            side: this.side
          })
        )
      }
      return Effect.succeed(Option.none())
    }
    if (this.closed) return this.endedAbruptly(this.closedError)
    return undefined
  }

  readonly write = (bytes: Uint8Array): Effect.Effect<void, TlsError.TlsError> =>
    Effect.suspend(() => {
      const socket = this.start()
      if (this.failure !== undefined) return this.failWith()
      if (this.bridge.endedByConsumer) return Effect.fail(this.halfCloseUnsupported)
      if (socket.writableEnded || this.closed) {
        return Effect.fail(
          new TlsError.TlsGenericError({ reason: "Closed", detail: "write after close", side: this.side })
        )
      }
      // done once node:tls took the bytes and the bridge handed their records to the transport
      if (
        bytes.length === 0 ||
        (socket.write(bytes) && !this.bridge.writePending && !this.bridge.writableNeedDrain)
      ) return Effect.void
      return this.await(this.writeCheck)
    })

  private readonly writeCheck = (): Effect.Effect<void, TlsError.TlsError> | undefined => {
    if (this.failure !== undefined) return this.failWith()
    if (this.bridge.endedByConsumer) return Effect.fail(this.halfCloseUnsupported)
    if (!this.socket!.writableNeedDrain && !this.bridge.writePending && !this.bridge.writableNeedDrain) {
      return Effect.void
    }
    if (this.closed) return Effect.fail(this.closedError)
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
    if (this.bridge.endedByConsumer) return Effect.void
    if (!socket.writableEnded) socket.end()
    return this.await(() => {
      if (socket.writableFinished) return Effect.void
      if (this.failure !== undefined) return this.failWith()
      if (this.closed) return Effect.fail(this.closedError)
      return undefined
    })
  })

  readonly exportKeyingMaterial = (
    length: number,
    label: string,
    context?: Uint8Array | undefined
  ): Effect.Effect<Uint8Array, TlsError.TlsError> =>
    Effect.try({
      try: () => {
        // never ask a closed TLSSocket (node 20 may crash)
        if (this.closed || this.socket === undefined || !this.secure) throw new Error("no established connection")
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

  /** Tears down node:tls and half-closes the transport so that the peer is not left waiting. */
  readonly abort: Effect.Effect<void> = Effect.suspend(() => {
    const shutDown = this.bridge.writableFinished || this.aborted
    this.aborted = true
    this.socket?.destroy()
    this.bridge.destroy()
    if (shutDown) return Effect.void
    const shutdownWrite = Effect.ignore(this.config.transport.shutdownWrite)
    // what node:tls wrote last (an alert) goes out before our FIN
    return this.bridge.writePending ? Effect.zipRight(this.bridgeWritten, shutdownWrite) : shutdownWrite
  })

  /** Waits until the bridge's writer has taken what node:tls handed it. */
  private readonly bridgeWritten: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (!this.bridge.writePending) return resume(Effect.void)
    const waiter = () => {
      if (!this.bridge.writePending) {
        this.waiters.delete(waiter)
        resume(Effect.void)
      }
    }
    this.waiters.add(waiter)
    return Effect.sync(() => this.waiters.delete(waiter))
  })

  private aborted = false

  private readonly receivedSessions: Array<Buffer> = []

  /** Client: the peer's chain recorded with the session offered for resumption. */
  resumedChain: ReadonlyArray<Uint8Array> | undefined = undefined

  /**
   * The newest session, wrapped with the peer's chain: node:tls forgets the chain of a resumed
   * session (OpenSSL keeps no peer chain in a client session), and core verifies it again.
   */
  readonly sessions: Effect.Effect<ReadonlyArray<Uint8Array>> = Effect.sync(() => {
    const described = this.described
    if (described === undefined) return []
    // a TLS 1.2 session stays valid when resumed without a new ticket; TLS 1.3 tickets are single-use
    const sessions = this.receivedSessions.length > 0
      ? this.receivedSessions
      : described.resumed && described.protocolVersion !== "TLSv1.3" && this.offeredSession !== undefined
      ? [this.offeredSession]
      : []
    return sessions.map((session) => wrapSession(described.peerCertificates, session))
  })

  /** Client: node's session offered for resumption. */
  offeredSession: Buffer | undefined = undefined

  /** The scope's finalizer: close_notify after a good handshake (bounded), then tear down. */
  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    const socket = this.socket
    if (socket === undefined || !this.secure || this.failure !== undefined || this.closed) return this.abort
    if (!socket.writableEnded) socket.end()
    return Effect.async<void>((resume) => {
      let timer: ReturnType<typeof setTimeout> | undefined = undefined
      const waiter = () => {
        if (socket.writableFinished || this.failure !== undefined || this.closed) done()
      }
      const done = () => {
        this.waiters.delete(waiter)
        if (timer !== undefined) clearTimeout(timer)
        resume(Effect.void)
      }
      timer = setTimeout(done, 5_000)
      this.waiters.add(waiter)
      waiter()
      return Effect.sync(done)
    }).pipe(Effect.zipRight(this.abort))
  })
}

/**
 * The native path: a TCP transport's own socket goes straight to node:tls (faster: no JS
 * bridge), but then node:tls hides whether close_notify preceded the FIN and the engine sees
 * no handshake bytes. So it is taken only when close_notify is not required, no pushed-back
 * bytes wait (STARTTLS), and (client side) at the cost of `acceptedCas`.
 */
const nativeSocket = (config: EngineConfig): Duplex | undefined => {
  if (config.requireCloseNotify || Transport.hasPendingInput(config.transport)) return undefined
  const transport = config.transport as Partial<tcp.NodeTransport>
  const socket = transport[tcp.SocketSymbol]
  const detach = transport[tcp.DetachSymbol]
  if (!(socket instanceof net.Socket) || detach === undefined || socket.destroyed || socket.readableEnded) {
    return undefined
  }
  detach()
  return socket
}

/** @internal */
export const makeClient = (
  cache: SecureContextCache,
  config: ClientConfig
): Effect.Effect<EngineConnection, TlsError.TlsError, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const secureContext = yield* Effect.try({
      try: () => secureContextFor(cache, config, config.database.anchors),
      catch: (cause) =>
        new TlsError.TlsGenericError({ reason: "Misc", detail: "invalid TLS settings", side: "client", cause })
    })
    const offered = Option.getOrUndefined(Option.flatMap(config.session, unwrapSession))
    const connection = new NodeTlsConnection(
      "client",
      config,
      (underlying) =>
        tls.connect({
          socket: underlying,
          secureContext,
          rejectUnauthorized: false,
          checkServerIdentity: () => undefined,
          allowHalfOpen: true,
          highWaterMark: PLAINTEXT_HIGH_WATER_MARK,
          ...(Option.isSome(config.serverName) ? { servername: config.serverName.value } : {}),
          ...(offered !== undefined ? { session: offered.session } : {}),
          ...(config.alpn.length > 0 ? { ALPNProtocols: [...config.alpn] } : {})
        } as tls.ConnectionOptions),
      runtime,
      nativeSocket(config)
    )
    connection.resumedChain = offered?.peerCertificates
    connection.offeredSession = offered?.session
    yield* Effect.addFinalizer(() => connection.close)
    return connection
  })

/** @internal */
export const makeServer = (
  cache: SecureContextCache,
  config: ServerConfig
): Effect.Effect<EngineConnection, TlsError.TlsError, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const secureContext = yield* Effect.try({
      try: () => secureContextFor(cache, config, config.clientCas),
      catch: (cause) =>
        new TlsError.TlsGenericError({ reason: "Misc", detail: "invalid TLS settings", side: "server", cause })
    })
    const connection = new NodeTlsConnection(
      "server",
      config,
      (underlying) => {
        const socket = new tls.TLSSocket(underlying, {
          isServer: true,
          secureContext,
          requestCert: config.clientAuth !== "none",
          rejectUnauthorized: config.clientAuth === "required",
          allowHalfOpen: true,
          highWaterMark: PLAINTEXT_HIGH_WATER_MARK,
          ...(config.alpn.length > 0 ? { ALPNProtocols: [...config.alpn] } : {})
        } as tls.TLSSocketOptions)
        return socket
      },
      runtime,
      nativeSocket(config)
    )
    yield* Effect.addFinalizer(() => connection.close)
    return connection
  })
