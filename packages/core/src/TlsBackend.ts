/**
 * `TlsBackend`, Gio's `GTlsBackend`: the engine that runs the TLS protocol over a
 * `Transport`. Core defines the interface; `@effect-tls/node` provides one built on
 * node:tls (OpenSSL). An engine only speaks TLS: certificate verification policy, the
 * handshake's memoisation and timeouts live in core (`TlsClient`, `TlsServer`), so
 * every engine fails closed the same way.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { Certificate } from "./Certificate.js"
import type { CertificateFlags } from "./CertificateFlags.js"
import type { CertifiedKey } from "./CertifiedKey.js"
import type { ProtocolVersion } from "./ProtocolVersion.js"
import type { SessionCacheShape } from "./SessionCache.js"
import type { Keys } from "./TicketKeys.js"
import type { TlsDatabaseShape } from "./TlsDatabase.js"
import type { TlsError } from "./TlsError.js"
import type { Transport, TransportError } from "./Transport.js"

/**
 * What the engine reports once the TLS handshake itself is done (before verification policy).
 *
 * @since 0.1.0
 * @category models
 */
export interface EngineHandshake {
  readonly protocolVersion: ProtocolVersion
  readonly ciphersuiteName: string
  readonly negotiatedProtocol: Option.Option<string>
  /** The peer's certificates as received, leaf first, DER. */
  readonly peerCertificates: ReadonlyArray<Uint8Array>
  /** The engine's own verdict on the peer chain (OpenSSL's), identity included. */
  readonly engineFlags: CertificateFlags
  /**
   * The engine rejected the chain without saying why (its `GenericError` then stands for that
   * verdict): core keeps that flag only when its own verifier found nothing. (Deno's node:tls
   * gives one code for nearly every rejection.)
   */
  readonly engineVerdictUnspecific?: boolean | undefined
  readonly resumed: boolean
  /** Client: the CA names (DER) of the server's CertificateRequest, none when not asked. */
  readonly acceptedCas: Option.Option<ReadonlyArray<Uint8Array>>
  /** Server: the SNI host name the client sent. */
  readonly serverName: Option.Option<string>
  /** What channel binding needs from the handshake; an engine that leaves it out offers only tls-exporter on TLS 1.3. */
  readonly channelBinding?: EngineChannelBinding | undefined
}

/**
 * The handshake's channel-binding inputs (`ChannelBinding`), read by the engine when its
 * handshake completes. Core picks and hashes; the engine only reports.
 *
 * @since 0.1.0
 * @category models
 */
export interface EngineChannelBinding {
  /** TLS ≤ 1.2: the verify_data of the Finished message we sent (none on TLS 1.3). */
  readonly ownFinished: Option.Option<Uint8Array>
  /** TLS ≤ 1.2: the verify_data of the Finished message the peer sent (none on TLS 1.3). */
  readonly peerFinished: Option.Option<Uint8Array>
  /** TLS ≤ 1.2: whether the extended master secret (RFC 7627) was negotiated; none when unknown. */
  readonly extendedMasterSecret: Option.Option<boolean>
  /** Server: the leaf certificate (DER) we presented. */
  readonly ownCertificate: Option.Option<Uint8Array>
}

/**
 * One TLS connection inside an engine. Closing the scope it was made in ends it, by the
 * scope's exit: a success sends close_notify after a successful handshake and waits (at most
 * `closeTimeout`) for it to leave; a failure or an interruption tears it down without
 * close_notify (the peer sees a truncation). Either way within `closeTimeout`.
 *
 * @since 0.1.0
 * @category models
 */
export interface EngineConnection {
  readonly handshake: Effect.Effect<EngineHandshake, TlsError>
  /**
   * `handshake` as a callback, for engines that can offer it (core then runs the whole
   * handshake in one `Effect.async`): starts the handshake as `handshake` does and calls
   * `callback` once with what `handshake` would end with (an `Exit` as a rule, possibly
   * synchronously); the function returned stops the wait (the callback is then never called).
   * Core calls it as a method of the engine connection (`this` is the engine connection).
   */
  readonly awaitHandshake?: (callback: (result: Effect.Effect<EngineHandshake, TlsError>) => void) => () => void
  /**
   * Starts the handshake now, without waiting for it (its outcome is `handshake`'s), so that
   * the first flight leaves (a client's) or is read (a server's) before core's own setup runs:
   * core calls it as the handshake begins, and a client asked for a connection at once
   * (`TlsClient.connect`) as soon as the engine exists. Called as a method of the engine
   * connection; once started, starting again does nothing.
   */
  readonly start?: () => void
  /** Plaintext; none at the peer's close_notify; `Eof` error on truncation when close_notify is required. */
  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsError>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, TlsError>
  /**
   * Optional, for engines that can: `read` begun now rather than when the Effect runs (core
   * calls it inside an Effect of its own, once the handshake succeeded, and runs what it
   * returns). Plaintext already there is taken and returned as an `Exit`; otherwise the result
   * is what finishes the read (an `Exit` too when the answer is known: the end, a failure).
   * Only taking plaintext may change the engine's state: calling it again gives the same end or
   * failure, so core may call it to take what else is buffered (a stream's chunk) and leave an
   * answer that is not plaintext to the next read. It spares the Effect steps of `read` per chunk.
   */
  readonly readNow?: () => Effect.Effect<Option.Option<Uint8Array>, TlsError>
  /**
   * Optional, for engines that can: `write` begun now (core calls it inside an Effect of its
   * own and runs what it returns): the bytes are handed to the engine at once, and the result
   * finishes the write, an `Exit` when nothing is left to wait for.
   */
  readonly writeNow?: (bytes: Uint8Array) => Effect.Effect<void, TlsError>
  /**
   * Optional, for engines that can: the writes of a sink's chunk (at least two), begun now as
   * `writeNow` is, and handed to the engine in one go (node:tls encrypts them together), in order;
   * the result finishes them. Without it a sink writes element by element.
   */
  readonly writeAllNow?: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, TlsError>
  /**
   * Optional, for engines whose `write` is done before the transport took its bytes: done once
   * everything written so far has been handed to the transport. Without it `flush` is done at once.
   */
  readonly flush?: Effect.Effect<void, TlsError>
  /** Sends close_notify and half-closes the transport; reading goes on. */
  readonly closeWrite: Effect.Effect<void, TlsError>
  /** RFC 5705 / RFC 8446 exporter. */
  readonly exportKeyingMaterial: (
    length: number,
    label: string,
    context?: Uint8Array | undefined
  ) => Effect.Effect<Uint8Array, TlsError>
  /**
   * Tears the connection down at once (no close_notify): used when a peer is rejected, and
   * when the handshake runs out of time. It may run from another fiber while `handshake`
   * waits, and that `handshake` must then end (with any failure) rather than wait on.
   */
  readonly abort: Effect.Effect<void>
  /**
   * Client: the sessions the server gave for resumption and not used yet, serialized by the
   * engine (TLS 1.3 tickets arrive after the handshake, often two, each good for one resumption).
   */
  readonly sessions: Effect.Effect<ReadonlyArray<Uint8Array>>
  /**
   * Optional, client, for engines that can tell: false when `sessions` would give none and
   * wait for none now (no ticket came, none is expected: a resumed TLS 1.3 connection), so
   * that the close runs no Effect for them. Absent, or true: core runs `sessions`.
   */
  readonly sessionsToKeep?: () => boolean
}

/**
 * Settings common to both sides, resolved by core before they reach the engine.
 *
 * @since 0.1.0
 * @category models
 */
export interface EngineConfig {
  readonly transport: Transport
  readonly certificate: Option.Option<CertifiedKey>
  readonly alpn: ReadonlyArray<string>
  readonly minVersion: ProtocolVersion
  readonly maxVersion: Option.Option<ProtocolVersion>
  /** OpenSSL cipher string (TLS 1.3 suites included, e.g. `TLS_AES_128_GCM_SHA256`). */
  readonly ciphers: Option.Option<string>
  /** The database whose anchors the engine's own verifier trusts. */
  readonly database: TlsDatabaseShape
  readonly requireCloseNotify: boolean
  /** Bounds closing (the close_notify's flush, or the abortive teardown), on Effect's Clock. */
  readonly closeTimeout: Duration.Duration
  /**
   * Asked first when the connection closes, inside the engine's own finalizer (so that core
   * needs no finalizer of its own): what to run before the engine closes (a client keeps the
   * newest session; both sides count the connection as closed), or nothing. Runs once, and
   * must not fail.
   */
  readonly beforeClose?: (() => Effect.Effect<void> | undefined) | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ClientConfig extends EngineConfig {
  /** Host name or IP the server must match. */
  readonly serverIdentity: Option.Option<string>
  /** The SNI to send (never an IP address). */
  readonly serverName: Option.Option<string>
  /** A session (from this engine's `session`) to offer for resumption. */
  readonly session: Option.Option<Uint8Array>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerConfig extends EngineConfig {
  readonly clientAuth: "none" | "requested" | "required"
  /** The CAs whose subjects are sent to clients as acceptable (the CertificateRequest's CA names). */
  readonly clientCas: ReadonlyArray<Certificate>
  /**
   * The session ticket key (48 bytes: 16 of name, 16 HMAC, 16 AES, OpenSSL's layout) that
   * issues and accepts tickets on this connection; none: the engine's own random key.
   */
  readonly ticketKeys?: Option.Option<Redacted.Redacted<Uint8Array>> | undefined
  /**
   * For a backend that `choosesTicketKeys`: the keys, read on each ticket (new tickets under
   * `current`, tickets under `previous` accepted and renewed); it stands in for `ticketKeys`.
   */
  readonly ticketKeyring?: (() => Keys) | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TlsBackendShape {
  readonly name: string
  /** The database used when neither the connection options nor the context name one. */
  readonly defaultDatabase: Effect.Effect<TlsDatabaseShape>
  /**
   * The session cache clients use when no `SessionCache` service is provided: made with the
   * backend (one per backend layer), so runtimes and tests never share sessions. None: no
   * resumption unless a `SessionCache` is provided.
   */
  readonly sessionCache?: SessionCacheShape | undefined
  /**
   * The engine takes each ticket's key from `ServerConfig.ticketKeyring` in the handshake
   * itself, so a server with `TicketKeys` need not read the ClientHello first.
   */
  readonly choosesTicketKeys?: boolean | undefined
  readonly client: (config: ClientConfig) => Effect.Effect<EngineConnection, TlsError, Scope.Scope>
  readonly server: (config: ServerConfig) => Effect.Effect<EngineConnection, TlsError, Scope.Scope>
  /**
   * Opens a TCP connection on the backend's platform (for `TlsClient.connectTcp`); a backend
   * without it makes `connectTcp` fail with reason `"Unavailable"`.
   */
  readonly connectTcp?:
    | ((options: TcpConnectOptions) => Effect.Effect<Transport, TransportError, Scope.Scope>)
    | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TcpConnectOptions {
  readonly host: string
  readonly port: number
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TlsBackend extends Context.Tag("@effect-tls/core/TlsBackend")<TlsBackend, TlsBackendShape>() {}
