/**
 * The client side of a TLS connection, Gio's `GTlsClientConnection`.
 *
 * `serverIdentity` (a host name or an IP address) drives both SNI (host names only, never an
 * IP address) and the identity check of the server's certificate. It defaults to the host the
 * transport was asked to reach (`Transport.Description.host`, set by `NodeTransport.connect`);
 * when neither names one the client refuses to start with `TlsConfigError`, unless told
 * `dangerouslySkipIdentityCheck: true`. Every option is validated first (`TlsOptions`).
 * Verification is on by default and fails closed: a chain passes only when the `TlsDatabase`
 * verifier and the engine's own verifier both accept it, or the `AcceptCertificate` policy
 * says otherwise.
 *
 * @example
 * ```ts
 * import { TlsClient, HandshakeInfo } from "@effect-tls/core"
 * import { NodeTlsBackend, NodeTransport } from "@effect-tls/node"
 * import { Console, Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   // the identity to check (and the SNI) defaults to the host asked for: "localhost"
 *   const transport = yield* NodeTransport.connect({ host: "localhost", port: 8443 })
 *   const tls = yield* TlsClient.connect(transport, { alpn: ["h2", "http/1.1"] })
 *   yield* Console.log(HandshakeInfo.format(yield* tls.handshake))
 * }).pipe(Effect.scoped, Effect.provide(NodeTlsBackend.layer))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as AcceptCertificate from "./AcceptCertificate.js"
import type { CertifiedKey } from "./CertifiedKey.js"
import * as Credentials from "./Credentials.js"
import * as connection from "./internal/connection.js"
import * as hostName from "./internal/hostName.js"
import * as telemetry from "./internal/telemetry.js"
import * as SessionCache from "./SessionCache.js"
import { type EngineConnection, TlsBackend } from "./TlsBackend.js"
import type { CommonOptions, TlsConnection } from "./TlsConnection.js"
import { TlsDatabase, type TlsDatabaseShape } from "./TlsDatabase.js"
import {
  isTlsError,
  type TlsCertificateRequiredError,
  TlsConfigError,
  type TlsError,
  TlsGenericError,
  TlsTransportError
} from "./TlsError.js"
import { TlsInteraction } from "./TlsInteraction.js"
import * as TlsOptions from "./TlsOptions.js"
import { describe, type Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface TlsClientConnection extends TlsConnection {
  readonly side: "client"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions extends CommonOptions {
  /**
   * The server's expected identity: a DNS host name or an IP address (IPv6 possibly bracketed).
   * It is sent as SNI (host names only) and the server's certificate must match it. Default:
   * the transport's `description.host` (the host `NodeTransport.connect` was asked for); with
   * neither, `make` fails with `TlsConfigError` (see `dangerouslySkipIdentityCheck`).
   */
  readonly serverIdentity?: string | undefined
  /**
   * Overrides the SNI sent (`false`: send none); a host name, never an IP address. Defaults
   * to the server identity when that is a host name.
   */
  readonly serverName?: string | false | undefined
  /**
   * Accept a certificate for any name: no identity is checked (`BadIdentity` is never set).
   * Only for peers authenticated otherwise (e.g. a pinned key through `acceptCertificate`).
   * SNI still follows `serverName` / the server identity when there is one. Default `false`.
   */
  readonly dangerouslySkipIdentityCheck?: boolean | undefined
  /**
   * Resume the session of another client connection to the same server (Gio's
   * `copy_session_state`) instead of looking one up in the `SessionCache`.
   * `HandshakeInfo.resumed` tells whether the server agreed.
   */
  readonly resumeFrom?: TlsConnection | undefined
}

/** The identity to check and the SNI to send. */
interface Identity {
  readonly requested: Option.Option<string>
  readonly check: Option.Option<string>
  readonly serverName: Option.Option<string>
}

/**
 * The identity to check and the SNI to send: the option, else the transport's host; none
 * found (and no explicit opt-out) is a configuration error (returned, not thrown).
 */
const resolveIdentity = (transport: Transport, options: ClientOptions): Identity | TlsConfigError => {
  const host = options.serverIdentity ?? transport.description.host
  const skip = options.dangerouslySkipIdentityCheck === true
  if (host === undefined && !skip) {
    return new TlsConfigError({
      subject: "TlsClient options",
      path: ["serverIdentity"],
      detail: `no server identity to check: the transport (${
        describe(transport.description)
      }) names no host; give serverIdentity, or set dangerouslySkipIdentityCheck: true to accept a certificate for any name`
    })
  }
  const requested = Option.fromNullable(host)
  const serverName = options.serverName === false
    ? Option.none()
    : options.serverName !== undefined
    ? Option.some(options.serverName)
    : Option.flatMap(requested, (host) => Option.fromNullable(hostName.serverNameOf(host)))
  return {
    requested,
    check: skip ? Option.none() : Option.map(requested, hostName.identityOf),
    serverName
  }
}

/**
 * Makes a client connection over `transport`; the handshake runs on the first use (or
 * `conn.handshake`). Closing the scope sends close_notify. Invalid options, or no server
 * identity to check, fail with `TlsConfigError` before anything is sent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  transport: Transport,
  options: ClientOptions = {}
): Effect.Effect<TlsClientConnection, TlsError, Scope.Scope | TlsBackend> => makeChecked(transport, options, false)

/** `make`, and with `handshake` the handshake too (`connect`). */
const makeChecked = (
  transport: Transport,
  options: ClientOptions,
  handshake: boolean
): Effect.Effect<TlsClientConnection, TlsError, Scope.Scope | TlsBackend> =>
  // options that passed before need no Effect step of their own
  TlsOptions.validateOnceThen(
    TlsOptions.ClientOptions,
    "TlsClient options",
    options,
    makeValidated(transport, options, handshake)
  )

/**
 * `make` after validation: the services are read from the fiber's context at once (one
 * Effect step), and only what needs the runtime (a database or trust store still to load, a
 * session to take from a cache) is an Effect of its own.
 */
const makeValidated = (
  transport: Transport,
  options: ClientOptions,
  handshake: boolean
): Effect.Effect<TlsClientConnection, TlsError, Scope.Scope | TlsBackend> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext as Context.Context<Scope.Scope | TlsBackend>
    const identity = resolveIdentity(transport, options)
    if (!("requested" in identity)) return Effect.fail(identity)
    const backend = Context.get(context, TlsBackend)
    const policy = options.acceptCertificate ?? Context.get(context, AcceptCertificate.AcceptCertificate)
    // resumption: the given connection's session, or one from the cache (single use unless
    // the cache reuses sessions: TLS 1.3 tickets, RFC 8446 §C.4)
    const cache = Option.getOrElse(
      Context.getOption(context, SessionCache.SessionCache),
      () => backend.sessionCache ?? SessionCache.disabled
    )
    const sessionKey = cache === SessionCache.disabled ? "" : SessionCache.key({
      serverIdentity: identity.requested,
      serverName: identity.serverName,
      remote: transport.description.remote,
      alpn: options.alpn ?? connection.noAlpn,
      clientCertificate: Option.fromNullable(options.certificate?.chain[0]?.fingerprintSha256)
    })
    const withDatabase = (database: TlsDatabaseShape) => {
      const withSession = (session: Option.Option<Uint8Array>) =>
        build(transport, options, { backend, database, policy, identity, cache, sessionKey, session }, handshake)
      if (options.resumeFrom !== undefined) return Effect.flatMap(connection.sessionOf(options.resumeFrom), withSession)
      if (cache === SessionCache.disabled) return withSession(Option.none())
      return Effect.flatMap(cache.take(sessionKey), (session) => withSession(Option.map(session, Redacted.value)))
    }
    const database = options.database
    if (database === undefined) {
      const service = Context.getOption(context, TlsDatabase)
      return Option.isSome(service)
        ? withDatabase(service.value)
        : Effect.flatMap(backend.defaultDatabase, withDatabase)
    }
    return Credentials.isTrust(database) ? Effect.flatMap(database.get, withDatabase) : withDatabase(database)
  })

/**
 * What a client connection runs as it closes, first in the engine's own finalizer
 * (`ClientConfig.beforeClose`): it counts the connection as closed (when it was counted as
 * open) and keeps the newest session of a connection that verified, for the next one to the
 * same server (TLS 1.3 tickets arrive after the handshake, so this may wait for one). Its
 * state lives here, not in a closure made in `build` (that would keep `build`'s whole scope,
 * the options and the services read, for the connection's lifetime).
 */
class ClientClosing {
  /** Counted as open (the engine, and so this, runs when the connection closes). */
  opened: { readonly conn: TlsClientConnection; readonly engine: EngineConnection } | undefined = undefined
  constructor(
    readonly cache: SessionCache.SessionCacheShape,
    readonly sessionKey: string
  ) {}

  /** `ClientConfig.beforeClose` (an arrow field: the engine calls it as a plain function). */
  readonly beforeClose = (): Effect.Effect<void> | undefined => {
    const opened = this.opened
    if (opened === undefined) return undefined
    this.opened = undefined
    // (counted as closed first: nothing after it can skip the count)
    telemetry.connectionClosed("client")
    const { cache, sessionKey } = this
    // (nothing came and nothing will: a resumed TLS 1.3 connection stores nothing, with no Effect)
    if (cache === SessionCache.disabled || opened.engine.sessionsToKeep?.() === false) return undefined
    return Effect.flatMap(
      opened.conn.info,
      (info) =>
        Option.isNone(info) ?
          Effect.void :
          Effect.flatMap(opened.engine.sessions, (sessions) =>
            Effect.forEach(sessions, (session) =>
              cache.put(sessionKey, SessionCache.session(session)), {
              discard: true
            }))
    )
  }
}

const build = (
  transport: Transport,
  options: ClientOptions,
  made: {
    readonly backend: TlsBackend["Type"]
    readonly database: TlsDatabaseShape
    readonly policy: AcceptCertificate.Policy
    readonly identity: Identity
    readonly cache: SessionCache.SessionCacheShape
    readonly sessionKey: string
    readonly session: Option.Option<Uint8Array>
  },
  handshake: boolean
): Effect.Effect<TlsClientConnection, TlsError, Scope.Scope> => {
  const { backend, cache, database, identity, sessionKey } = made
  const closing = new ClientClosing(cache, sessionKey)
  return Effect.flatMap(
    backend.client(connection.engineConfig(options, transport, database, {
      certificate: Option.fromNullable(options.certificate),
      alpn: options.alpn ?? connection.noAlpn,
      serverIdentity: identity.check,
      serverName: identity.serverName,
      session: made.session,
      beforeClose: closing.beforeClose
    })),
    (engine) => {
      // asked for a connection now (`connect`): the first flight leaves before the rest of the
      // setup below (`make` keeps the handshake for the first use)
      if (handshake) engine.start?.()
      const conn = connection.make({
        side: "client",
        engine,
        transport,
        database,
        policy: made.policy,
        identity: identity.check,
        serverName: identity.serverName,
        clientAuth: "none",
        handshakeTimeout: connection.timeoutOf(options.handshakeTimeout),
        policyTimeout: connection.timeoutOf(options.policyTimeout),
        abortEndsHandshake: true
      }) as TlsClientConnection
      // the engine's finalizer is in place (backend.client added it to the scope, and it asks
      // `closing` first): counted as open from here, so an interruption before counts nothing
      closing.opened = { conn, engine }
      telemetry.connectionOpened("client")
      return handshake ? Effect.as(conn.handshake, conn) : Effect.succeed(conn)
    }
  )
}

/**
 * `make` followed by the handshake: the connection is returned verified and ready.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (
  transport: Transport,
  options: ClientOptions = {}
): Effect.Effect<TlsClientConnection, TlsError, Scope.Scope | TlsBackend> => makeChecked(transport, options, true)

const isCertificateRequired = (u: unknown): u is TlsCertificateRequiredError =>
  isTlsError(u) && u._tag === "TlsCertificateRequiredError"

/**
 * `connect`, answering a server's request for a client certificate through the
 * `TlsInteraction` service (Gio's `request_certificate`).
 *
 * node:tls cannot take a certificate in the middle of a handshake, so this is done by
 * reconnecting: when the server asks for a certificate (its CA names are in
 * `HandshakeInfo.acceptedCas`) and none was given, `requestCertificate` is asked with those
 * names; if it supplies one, the first connection is closed and a new transport from
 * `openTransport` carries a new handshake with it. If it supplies none, the first connection
 * is kept (a server that only *requested* a certificate goes on without one). A TLS 1.2 server
 * that *requires* one fails the handshake with `TlsCertificateRequiredError`, which is answered
 * the same way.
 *
 * @example
 * ```ts
 * import { type CertifiedKey, TlsClient, TlsInteraction } from "@effect-tls/core"
 * import { NodeTransport } from "@effect-tls/node"
 * import { Effect, Option } from "effect"
 *
 * declare const myCertifiedKey: CertifiedKey.CertifiedKey
 *
 * const interaction = TlsInteraction.make({
 *   requestCertificate: ({ acceptedCas }) => Effect.succeed(Option.some(myCertifiedKey))
 * })
 * const conn = TlsClient.connectWithInteraction(
 *   NodeTransport.connect({ host: "127.0.0.1", port: 8443 }),
 *   { serverIdentity: "localhost" }
 * ).pipe(Effect.provide(TlsInteraction.layer(interaction)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const connectWithInteraction = <E, R>(
  openTransport: Effect.Effect<Transport, E, R | Scope.Scope>,
  options: ClientOptions = {}
): Effect.Effect<TlsClientConnection, TlsError | E, Exclude<R, Scope.Scope> | Scope.Scope | TlsBackend> =>
  Effect.gen(function*() {
    const outer = yield* Effect.scope
    const attempt = (certificate: CertifiedKey | undefined) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
        const exit = yield* Effect.exit(Scope.extend(
          Effect.flatMap(openTransport, (transport) =>
            connect(transport, certificate === undefined ? options : { ...options, certificate })),
          scope
        ))
        if (Exit.isFailure(exit)) {
          yield* Scope.close(scope, exit)
        }
        return { exit, scope }
      })
    const ask = (acceptedCas: TlsCertificateRequiredError["acceptedCas"]) =>
      Effect.flatMap(
        TlsInteraction,
        (interaction) =>
          interaction.requestCertificate({ acceptedCas, serverIdentity: Option.fromNullable(options.serverIdentity) })
      )

    const first = yield* attempt(options.certificate)
    if (options.certificate !== undefined) return yield* first.exit
    if (Exit.isFailure(first.exit)) {
      const failure: unknown = first.exit.cause._tag === "Fail" ? first.exit.cause.error : undefined
      if (!isCertificateRequired(failure)) return yield* first.exit
      const supplied = yield* ask(failure.acceptedCas)
      if (Option.isNone(supplied)) return yield* first.exit
      return yield* Effect.flatten(Effect.map(attempt(supplied.value), ({ exit }) => exit))
    }
    const info = yield* first.exit.value.handshake
    if (Option.isNone(info.acceptedCas)) return first.exit.value
    const supplied = yield* ask(info.acceptedCas.value)
    if (Option.isNone(supplied)) return first.exit.value
    yield* Scope.close(first.scope, Exit.void)
    return yield* Effect.flatten(Effect.map(attempt(supplied.value), ({ exit }) => exit))
  })

/**
 * @since 0.1.0
 * @category models
 */
export interface ConnectTcpOptions extends ClientOptions {
  readonly host: string
  readonly port: number
  /** Bounds the TCP connect (default: no limit; the handshake has its own `handshakeTimeout`). */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/**
 * Opens TCP to `host:port` through the backend's platform and runs the handshake: the
 * server's identity (and SNI) is `host` unless `serverIdentity` says otherwise. TCP failures
 * are `TlsTransportError`s. Go's `tls.Dial`, Node's `tls.connect({ host, port })`.
 *
 * @example
 * ```ts
 * import { TlsClient } from "@effect-tls/core"
 * import { NodeTlsBackend } from "@effect-tls/node"
 * import { Effect } from "effect"
 *
 * const info = TlsClient.connectTcp({ host: "example.com", port: 443, alpn: ["http/1.1"] }).pipe(
 *   Effect.flatMap((tls) => tls.handshake),
 *   Effect.scoped,
 *   Effect.provide(NodeTlsBackend.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const connectTcp = (
  options: ConnectTcpOptions
): Effect.Effect<TlsClientConnection, TlsError, Scope.Scope | TlsBackend> =>
  Effect.gen(function*() {
    const backend = yield* TlsBackend
    if (backend.connectTcp === undefined) {
      return yield* new TlsGenericError({
        reason: "Unavailable",
        detail: `the ${backend.name} backend cannot open TCP connections`,
        side: "client"
      })
    }
    const { connectTimeout, host, port, ...clientOptions } = options
    const transport = yield* Effect.mapError(
      backend.connectTcp({ host, port, timeout: connectTimeout }),
      (cause) => new TlsTransportError({ cause, side: "client" })
    )
    return yield* connect(transport, { ...clientOptions, serverIdentity: clientOptions.serverIdentity ?? host })
  })
