/**
 * The server side of a TLS connection, Gio's `GTlsServerConnection`.
 *
 * `clientAuth` is Gio's `authentication_mode`: `"none"` (default), `"requested"` (a client
 * certificate is asked for; if one is sent it is verified and must pass the policy) or
 * `"required"` (a client without an acceptable certificate is refused). The CA names sent
 * to clients default to the subjects of the database's anchors (`clientCas` overrides).
 *
 * With `"required"` the engine's verifier also enforces the chain during the handshake, so
 * the client learns of a refusal by an alert; a policy can then only refuse more. To accept
 * clients no CA vouches for (pinned keys), use `"requested"` and a policy.
 *
 * @example
 * ```ts
 * import { type CertifiedKey, TlsServer, type Transport } from "@effect-tls/core"
 * import { Effect, Stream } from "effect"
 *
 * declare const certificate: CertifiedKey.CertifiedKey
 *
 * const echo = (transport: Transport.Transport) =>
 *   Effect.gen(function*() {
 *     const tls = yield* TlsServer.make(transport, { certificate, alpn: ["echo/1"] })
 *     yield* tls.stream.pipe(Stream.run(tls.sink))
 *   }).pipe(Effect.scoped)
 * ```
 *
 * Choosing per connection (Go's `GetCertificate` / `NextProtos`, Node's `SNICallback` /
 * `ALPNCallback`): `sni.resolve` maps the client's server name to a certificate with an Effect
 * (it may load from a store, bounded by `sni.timeout`); an unknown name gets `certificate` or,
 * with `sni.onUnknown: "refuse"`, the `unrecognized_name` alert and a typed failure.
 * `selectAlpn` picks the protocol from the client's offer (and its server name); no acceptable
 * protocol fails with the `no_application_protocol` alert on both sides. `certificate` may be
 * `Credentials` that change at run time. These read the ClientHello before the engine starts
 * (and push it back untouched), so they work the same with every engine.
 *
 * `TlsServer` (the service) is a listening server: a handler per connection, see `make` /
 * `layer` / `serve` below and `NodeTlsServer` for TCP.
 *
 * @since 0.1.0
 */
import type * as SocketServer from "@effect/platform/SocketServer"
import * as SocketServerModule from "@effect/platform/SocketServer"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as AcceptCertificate from "./AcceptCertificate.js"
import type { Certificate } from "./Certificate.js"
import type { CertifiedKey } from "./CertifiedKey.js"
import * as Credentials from "./Credentials.js"
import type { HandshakeInfo } from "./HandshakeInfo.js"
import * as clientHello from "./internal/clientHello.js"
import * as connection from "./internal/connection.js"
import * as internalServer from "./internal/server.js"
import * as telemetry from "./internal/telemetry.js"
import * as PlatformSocket from "./PlatformSocket.js"
import * as TicketKeys from "./TicketKeys.js"
import type { EngineConnection, ServerConfig } from "./TlsBackend.js"
import { TlsBackend } from "./TlsBackend.js"
import type { CommonOptions, TlsConnection } from "./TlsConnection.js"
import { TlsDatabase, type TlsDatabaseShape } from "./TlsDatabase.js"
import * as TlsDatabaseModule from "./TlsDatabase.js"
import * as TlsError from "./TlsError.js"
import * as TlsOptions from "./TlsOptions.js"
import type { Transport, TransportError } from "./Transport.js"
import type { TransportServer } from "./TransportServer.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface TlsServerConnection extends TlsConnection {
  readonly side: "server"
}

/**
 * What the server learns from the ClientHello before it answers.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientHello {
  /** The server_name (SNI) the client sent, lower-cased. */
  readonly serverName: Option.Option<string>
  /** The ALPN protocols the client offered, in its order (empty: none). */
  readonly alpn: ReadonlyArray<string>
}

/**
 * Choosing the certificate by the client's server name (SNI).
 *
 * @since 0.1.0
 * @category models
 */
export interface SniOptions {
  /**
   * The certificate for a server name, or none when the name is unknown. It may do I/O;
   * a failure (or `timeout`) refuses the client with an `internal_error` alert.
   */
  readonly resolve: (
    serverName: string,
    hello: ClientHello
  ) => Effect.Effect<Option.Option<CertifiedKey | Credentials.Credentials>, unknown>
  /** Bounds `resolve`; default 5 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * What a client gets whose name is unknown, or that sent none: `"default"` (the
   * `certificate` option; the default when there is one) or `"refuse"` (the
   * `unrecognized_name` alert and a `TlsGenericError` with that alert).
   */
  readonly onUnknown?: "default" | "refuse" | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions extends Omit<CommonOptions, "certificate"> {
  /**
   * The certificate presented (the default one when `sni` is given), or `Credentials` read
   * at each new connection. Optional only with `sni` (unknown names are then refused).
   */
  readonly certificate?: CertifiedKey | Credentials.Credentials | undefined
  /** Choose the certificate by the client's server name. */
  readonly sni?: SniOptions | undefined
  /**
   * Choose the ALPN protocol from the client's offer (overrides `alpn`). None, or a protocol
   * the client did not offer, refuses a client that offered ALPN with the
   * `no_application_protocol` alert; a client that offered none goes on without.
   */
  readonly selectAlpn?: ((hello: ClientHello) => Effect.Effect<Option.Option<string>>) | undefined
  /**
   * Session ticket keys shared with other server processes and rotatable (see `TicketKeys`);
   * default: the `TicketKeys` service when there is one, else the engine's own random key.
   */
  readonly ticketKeys?: TicketKeys.Service | undefined
  /** Default `"none"`. */
  readonly clientAuth?: "none" | "requested" | "required" | undefined
  /** Whose subjects are announced as acceptable client CAs; default: the database's anchors. */
  readonly clientCas?: ReadonlyArray<Certificate> | undefined
}

const defaultSniTimeout = Duration.seconds(5)

const refuse = (transport: Transport, alert: number, error: TlsError.TlsError) =>
  Effect.zipRight(
    Effect.ignore(Effect.zipRight(transport.write(clientHello.alertRecord(alert)), transport.shutdownWrite)),
    Effect.fail(error)
  )

const currentKey = (certificate: CertifiedKey | Credentials.Credentials): Effect.Effect<CertifiedKey> =>
  Credentials.isCredentials(certificate) ? certificate.get : Effect.succeed(certificate)

/** What the ClientHello decides: the certificate and the ALPN list given to the engine. */
const choose = (transport: Transport, options: ServerOptions, ticketKeys: Option.Option<TicketKeys.Service>) =>
  Effect.gen(function*() {
    const peeked = yield* Effect.mapError(
      clientHello.peek(transport),
      (cause) => new TlsError.TlsTransportError({ cause, side: "server" })
    )
    // not a ClientHello: the engine refuses it with its own error
    const offered = Option.match(peeked, { onNone: () => [], onSome: (hello) => hello.tickets })
    const ticketKey = Option.isNone(ticketKeys)
      ? Option.none()
      : Option.some(TicketKeys.keyFor(yield* ticketKeys.value.keys, offered))
    if (Option.isNone(peeked)) {
      return {
        certificate: options.certificate === undefined
          ? Option.none<CertifiedKey>()
          : Option.some(yield* currentKey(options.certificate)),
        alpn: options.alpn ?? [],
        ticketKey
      }
    }
    const hello: ClientHello = { serverName: peeked.value.serverName, alpn: peeked.value.alpn }
    let certificate: Option.Option<CertifiedKey> = Option.none()
    if (options.sni !== undefined) {
      const sni = options.sni
      const timeout = Duration.decode(sni.timeout ?? defaultSniTimeout)
      const found = Option.isNone(hello.serverName) ?
        Option.none() :
        yield* sni.resolve(hello.serverName.value, hello).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => new TlsError.TlsTimeoutError({ operation: "sni", timeout, side: "server" })
          }),
          Effect.catchAll((cause) =>
            refuse(
              transport,
              80,
              TlsError.isTlsError(cause) ? cause : new TlsError.TlsGenericError({
                reason: "Handshake",
                detail: "resolving the server name failed",
                side: "server",
                alert: "internal_error",
                cause
              })
            )
          )
        )
      if (Option.isSome(found)) certificate = Option.some(yield* currentKey(found.value))
      else if (sni.onUnknown === "refuse" || options.certificate === undefined) {
        return yield* refuse(
          transport,
          clientHello.UNRECOGNIZED_NAME,
          new TlsGenericError({
            reason: "Handshake",
            detail: Option.match(hello.serverName, {
              onNone: () => "the client sent no server name",
              onSome: (name) => `no certificate for the server name ${name}`
            }),
            side: "server",
            alert: "unrecognized_name"
          })
        )
      }
    }
    if (Option.isNone(certificate) && options.certificate !== undefined) {
      certificate = Option.some(yield* currentKey(options.certificate))
    }
    let alpn = options.alpn ?? []
    if (options.selectAlpn !== undefined) {
      const chosen = yield* options.selectAlpn(hello)
      if (Option.isSome(chosen) && hello.alpn.includes(chosen.value)) alpn = [chosen.value]
      else if (hello.alpn.length > 0) {
        return yield* refuse(
          transport,
          clientHello.NO_APPLICATION_PROTOCOL,
          new TlsGenericError({
            reason: "Handshake",
            detail: `none of the client's protocols (${hello.alpn.join(", ")}) is acceptable`,
            side: "server",
            alert: "no_application_protocol"
          })
        )
      } else alpn = []
    }
    return { certificate, alpn, ticketKey }
  })

const { TlsGenericError } = TlsError

/**
 * An engine connection made on first use: a server that chooses by the ClientHello reads it
 * (in the handshake, under its timeout) before the engine exists.
 */
const lazyEngine = (
  transport: Transport,
  acquire: Effect.Effect<EngineConnection, TlsError.TlsError>
): Effect.Effect<EngineConnection> =>
  Effect.gen(function*() {
    let engine: EngineConnection | undefined = undefined
    const ready = yield* Effect.cached(Effect.tap(acquire, (made) => {
      engine = made
    }))
    const use = <A, E>(f: (engine: EngineConnection) => Effect.Effect<A, E>) =>
      Effect.flatMap(ready, f) as Effect.Effect<A, E | TlsError.TlsError>
    return {
      handshake: use((engine) => engine.handshake),
      read: use((engine) => engine.read),
      write: (bytes) => use((engine) => engine.write(bytes)),
      closeWrite: use((engine) => engine.closeWrite),
      // (no engine yet: nothing was written)
      flush: Effect.suspend(() => engine?.flush ?? Effect.void),
      exportKeyingMaterial: (length, label, context) =>
        use((engine) => engine.exportKeyingMaterial(length, label, context)),
      abort: Effect.suspend(() => engine !== undefined ? engine.abort : Effect.ignore(transport.shutdownWrite)),
      sessions: Effect.suspend(() => engine !== undefined ? engine.sessions : Effect.succeed([]))
    } satisfies EngineConnection
  })

/**
 * Makes a server connection over an accepted `transport`; the handshake runs on the first
 * use (or `conn.handshake`). Closing the scope sends close_notify. Invalid options fail with
 * `TlsConfigError` before anything is sent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  transport: Transport,
  options: ServerOptions
): Effect.Effect<TlsServerConnection, TlsError.TlsError, Scope.Scope | TlsBackend> =>
  // (options that passed before need no Effect step of their own)
  TlsOptions.validateOnceThen(TlsOptions.ServerOptions, "TlsServer options", options, makeValidated(transport, options))

/** What `makeValidated` read from the fiber, for `build`. */
interface Made {
  readonly backend: TlsBackend["Type"]
  readonly scope: Scope.Scope
  readonly policy: AcceptCertificate.Policy
  readonly ticketKeys: Option.Option<TicketKeys.Service>
  readonly clientAuth: "none" | "requested" | "required"
  /** The fiber's `Clock` (the served certificate's expiry metric). */
  readonly clock: Clock.Clock
}

/**
 * `make` after validation: the services are read from the fiber's context at once (one
 * Effect step), and only what needs the runtime (a database or trust store to load, a
 * certificate from `Credentials`, the ClientHello for a server that chooses by it) is an
 * Effect of its own.
 */
const makeValidated = (
  transport: Transport,
  options: ServerOptions
): Effect.Effect<TlsServerConnection, TlsError.TlsError, Scope.Scope | TlsBackend> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext as Context.Context<Scope.Scope | TlsBackend>
    const backend = Context.get(context, TlsBackend)
    const made: Made = {
      backend,
      scope: Context.get(context, Scope.Scope),
      policy: options.acceptCertificate ?? Context.get(context, AcceptCertificate.AcceptCertificate),
      ticketKeys: options.ticketKeys !== undefined
        ? Option.some(options.ticketKeys)
        : Context.getOption(context, TicketKeys.TicketKeys),
      clientAuth: options.clientAuth ?? "none",
      clock: Context.get(fiber.currentDefaultServices, Clock.Clock)
    }
    // a server that asks for no certificate verifies nothing: no need to load a store
    if (made.clientAuth === "none") return build(transport, options, made, TlsDatabaseModule.empty)
    const database = options.database
    if (database === undefined) {
      const service = Context.getOption(context, TlsDatabase)
      return Option.isSome(service)
        ? build(transport, options, made, service.value)
        : Effect.flatMap(backend.defaultDatabase, (loaded) => build(transport, options, made, loaded))
    }
    return Credentials.isTrust(database)
      ? Effect.flatMap(database.get, (loaded) => build(transport, options, made, loaded))
      : build(transport, options, made, database)
  })

/** The open-connections gauge's decrement, one Effect for every server connection. */
const countClosed = Effect.sync(() => telemetry.connectionClosed("server"))

/**
 * One more open server connection until `scope` closes (a finalizer of the scope itself): for
 * an engine made later, or never (a server that chooses by the ClientHello).
 */
const countOpen = (scope: Scope.Scope): Effect.Effect<void> =>
  Effect.uninterruptible(Effect.map(Scope.addFinalizer(scope, countClosed), () => telemetry.connectionOpened("server")))

/**
 * `EngineConfig.beforeClose` of an engine made at once: the connection counted as closed in
 * the engine's own finalizer (no finalizer of core's, one function for every connection).
 */
const closedFirst = (): undefined => {
  telemetry.connectionClosed("server")
  return undefined
}

/** What `build` decided, for the steps after it (module functions: no closures per connection). */
interface Building {
  readonly transport: Transport
  readonly options: ServerOptions
  readonly made: Made
  readonly database: TlsDatabaseShape
  /** An engine that takes each ticket's key itself (`TicketKeys.keysNow`). */
  readonly ticketKeyring: ServerConfig["ticketKeyring"]
  readonly choosesByHello: boolean
}

const engineFor = (
  building: Building,
  certificate: Option.Option<CertifiedKey>,
  alpn: ReadonlyArray<string>,
  ticketKey: Option.Option<Redacted.Redacted<Uint8Array>>,
  beforeClose: (() => undefined) | undefined
) => {
  const { database, made, options, transport } = building
  if (Option.isSome(certificate)) {
    telemetry.certificateExpiryAt(certificate.value, made.clock.unsafeCurrentTimeMillis())
  }
  return made.backend.server(connection.engineConfig(options, transport, database, {
    certificate,
    alpn,
    clientAuth: made.clientAuth,
    clientCas: options.clientCas ?? database.anchors,
    ticketKeys: ticketKey,
    ticketKeyring: building.ticketKeyring,
    beforeClose
  }))
}

const connectionOver = (building: Building, engine: EngineConnection): TlsServerConnection => {
  const { made, options } = building
  return connection.make({
    side: "server",
    engine,
    transport: building.transport,
    database: building.database,
    policy: made.policy,
    identity: Option.none(),
    clientAuth: made.clientAuth,
    handshakeTimeout: connection.timeoutOf(options.handshakeTimeout),
    policyTimeout: connection.timeoutOf(options.policyTimeout),
    // an engine made after the ClientHello was read cannot end a read of it
    abortEndsHandshake: !building.choosesByHello
  }) as TlsServerConnection
}

/**
 * The engine for `key`, made at once, and the connection over it. Counted once the engine's
 * finalizer, which counts it as closed, is in place: no interruption in between.
 */
const withKey = (
  building: Building,
  key: CertifiedKey
): Effect.Effect<TlsServerConnection, TlsError.TlsError, Scope.Scope> =>
  Effect.uninterruptible(
    Effect.map(
      engineFor(building, Option.some(key), building.options.alpn ?? connection.noAlpn, Option.none(), closedFirst),
      (engine) => {
        telemetry.connectionOpened("server")
        return connectionOver(building, engine)
      }
    )
  )

const build = (
  transport: Transport,
  options: ServerOptions,
  made: Made,
  database: TlsDatabaseShape
): Effect.Effect<TlsServerConnection, TlsError.TlsError, Scope.Scope> => {
  const { backend, scope, ticketKeys } = made
  // (an engine that takes each ticket's key itself needs no ClientHello read for them)
  const ticketKeyring = Option.isSome(ticketKeys) && backend.choosesTicketKeys === true
    ? TicketKeys.keysNow(ticketKeys.value)
    : undefined
  const choosesByHello = options.sni !== undefined || options.selectAlpn !== undefined ||
    (Option.isSome(ticketKeys) && ticketKeyring === undefined)
  const building: Building = { transport, options, made, database, ticketKeyring, choosesByHello }
  if (choosesByHello) {
    return Effect.zipRight(
      countOpen(scope),
      Effect.map(
        lazyEngine(
          transport,
          Effect.flatMap(
            choose(transport, options, ticketKeys),
            ({ alpn, certificate, ticketKey }) =>
              Scope.extend(engineFor(building, certificate, alpn, ticketKey, undefined), scope)
          )
        ),
        (engine) => connectionOver(building, engine)
      )
    )
  }
  // (validated: a server without `sni` has a certificate)
  const certificate = options.certificate!
  return Credentials.isCredentials(certificate)
    ? Effect.flatMap(certificate.get, (key) => withKey(building, key))
    : withKey(building, certificate)
}

/**
 * `make` followed by the handshake.
 *
 * @since 0.1.0
 * @category constructors
 */
export const accept = (
  transport: Transport,
  options: ServerOptions
): Effect.Effect<TlsServerConnection, TlsError.TlsError, Scope.Scope | TlsBackend> =>
  Effect.tap(make(transport, options), (conn): Effect.Effect<HandshakeInfo, TlsError.TlsError> => conn.handshake)

// ---------------------------------------------------------------------------------------------
// A listening server
// ---------------------------------------------------------------------------------------------

/**
 * Options of a listening server: the TLS options of every connection, plus how many are
 * served at once, how shutdown drains them and how failures are logged.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListenOptions extends ServerOptions {
  /**
   * At most this many connections are served at once (default 4096). Further accepted
   * connections are **queued** by the listener until one ends (the TCP listener bounds its
   * queue and refuses beyond it, see `NodeTlsServer`).
   */
  readonly maxConnections?: number | undefined
  /**
   * On shutdown (the scope of `run` closes) the server stops accepting, lets live connections
   * finish for this long (default 10 seconds), then closes the rest abortively (they are
   * interrupted: no close_notify, their peers see a truncation).
   */
  readonly drainTimeout?: Duration.DurationInput | undefined
  /**
   * The level at which a failing or dying handler is logged, with its cause and the
   * connection's `remote` address in the log annotations; default `"Warning"`. `"None"`
   * logs nothing (catch in the handler to handle failures yourself).
   */
  readonly handlerFailureLogLevel?: LogLevel.Literal | undefined
  /** The same for handshake failures (a peer's fault, often hostile); default `"Debug"`. */
  readonly handshakeFailureLogLevel?: LogLevel.Literal | undefined
}

/**
 * A listening TLS server: `run` serves every connection with `handler`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly address: SocketServer.Address
  /**
   * Serves every accepted connection with `handler`, after a successful handshake, each in its
   * own fiber (a `FiberSet`) and its own scope, closed by the handler's exit (success:
   * close_notify; failure or interruption: abortive). A failing connection affects no other.
   * Runs until interrupted, then drains (see `ListenOptions.drainTimeout`) and stops accepting;
   * fails only when the listener does.
   */
  readonly run: <E, R>(
    handler: (conn: TlsServerConnection) => Effect.Effect<unknown, E, R>
  ) => Effect.Effect<never, TransportError, Exclude<R, Scope.Scope>>
  /** The number of connections being served now. */
  readonly connections: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TlsServer extends Context.Tag("@effect-tls/core/TlsServer")<TlsServer, Service>() {}

/**
 * A server over any `TransportServer` (TCP: `NodeTlsServer.layer`; memory:
 * `MemoryTransport.listener`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeServer = (
  listener: TransportServer,
  options: ListenOptions
): Effect.Effect<Service, never, TlsBackend> => internalServer.make(listener, options, make)

/**
 * The `TlsServer` service over a `TransportServer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  listener: Effect.Effect<TransportServer, E, R>,
  options: ListenOptions
): Layer.Layer<TlsServer, E, Exclude<R, Scope.Scope> | TlsBackend> =>
  Layer.scoped(TlsServer, Effect.flatMap(listener, (listener) => makeServer(listener, options)))

/**
 * Serves the `TlsServer` of the context with `handler` for the layer's lifetime (as
 * `HttpServer.serve` does): closing the layer drains and stops the server.
 *
 * @since 0.1.0
 * @category layers
 */
export const serve = <E, R>(
  handler: (conn: TlsServerConnection) => Effect.Effect<unknown, E, R>
): Layer.Layer<never, never, TlsServer | Exclude<R, Scope.Scope>> =>
  Layer.scopedDiscard(
    Effect.flatMap(TlsServer, (server) =>
      Effect.forkScoped(
        Effect.catchAllCause(
          server.run(handler),
          (cause) => Effect.logError("TlsServer stopped", cause)
        )
      ))
  )

/**
 * The server as an `@effect/platform` `SocketServer`: each handshaken connection reaches the
 * handler as a `Socket.Socket` (`PlatformSocket.fromTlsConnection`), so `SocketServer`-based
 * code (e.g. `@effect/rpc`'s socket protocol) serves over TLS unchanged.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toSocketServer = (server: Service): SocketServer.SocketServer["Type"] => ({
  address: server.address,
  run: (handler) =>
    Effect.mapError(
      server.run((conn) => handler(PlatformSocket.fromTlsConnection(conn))),
      (cause) => new SocketServerModule.SocketServerError({ reason: "Unknown", cause })
    )
})

/**
 * `SocketServer` from the `TlsServer` of the context (see `toSocketServer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSocketServer: Layer.Layer<SocketServer.SocketServer, never, TlsServer> = Layer.effect(
  SocketServerModule.SocketServer,
  Effect.map(TlsServer, toSocketServer)
)
