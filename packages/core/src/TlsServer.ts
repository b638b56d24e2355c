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
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Certificate } from "./Certificate.js"
import type { CertifiedKey } from "./CertifiedKey.js"
import type { HandshakeInfo } from "./HandshakeInfo.js"
import * as connection from "./internal/connection.js"
import * as ProtocolVersion from "./ProtocolVersion.js"
import { TlsBackend } from "./TlsBackend.js"
import type { CommonOptions, TlsConnection } from "./TlsConnection.js"
import { TlsDatabase } from "./TlsDatabase.js"
import * as TlsDatabaseModule from "./TlsDatabase.js"
import type { TlsError } from "./TlsError.js"
import * as TlsOptions from "./TlsOptions.js"
import type { Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface TlsServerConnection extends TlsConnection {
  readonly side: "server"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions extends CommonOptions {
  readonly certificate: CertifiedKey
  /** Default `"none"`. */
  readonly clientAuth?: "none" | "requested" | "required" | undefined
  /** Whose subjects are announced as acceptable client CAs; default: the database's anchors. */
  readonly clientCas?: ReadonlyArray<Certificate> | undefined
}

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
): Effect.Effect<TlsServerConnection, TlsError, Scope.Scope | TlsBackend> =>
  Effect.gen(function*() {
    yield* TlsOptions.validate(TlsOptions.ServerOptions, "TlsServer options", options)
    const backend = yield* TlsBackend
    const clientAuth = options.clientAuth ?? "none"
    // a server that asks for no certificate verifies nothing: no need to load a store
    const database = clientAuth === "none"
      ? TlsDatabaseModule.empty
      : yield* connection.resolveDatabase(
        options,
        Effect.flatMap(
          Effect.serviceOption(TlsDatabase),
          Option.match({ onNone: () => backend.defaultDatabase, onSome: Effect.succeed })
        )
      )
    const policy = yield* connection.policyFor(options)
    const engine = yield* backend.server({
      transport,
      certificate: Option.some(options.certificate),
      alpn: options.alpn ?? [],
      minVersion: options.minVersion ?? ProtocolVersion.defaultMinimum,
      maxVersion: Option.fromNullable(options.maxVersion),
      ciphers: Option.fromNullable(options.ciphers),
      database,
      requireCloseNotify: options.requireCloseNotify ?? true,
      clientAuth,
      clientCas: options.clientCas ?? database.anchors
    })
    return connection.make({
      side: "server",
      engine,
      transport,
      database,
      policy,
      identity: Option.none(),
      clientAuth,
      handshakeTimeout: Duration.decode(options.handshakeTimeout ?? connection.defaultTimeout),
      policyTimeout: Duration.decode(options.policyTimeout ?? connection.defaultTimeout)
    }) as TlsServerConnection
  })

/**
 * `make` followed by the handshake.
 *
 * @since 0.1.0
 * @category constructors
 */
export const accept = (
  transport: Transport,
  options: ServerOptions
): Effect.Effect<TlsServerConnection, TlsError, Scope.Scope | TlsBackend> =>
  Effect.tap(make(transport, options), (conn): Effect.Effect<HandshakeInfo, TlsError> => conn.handshake)
