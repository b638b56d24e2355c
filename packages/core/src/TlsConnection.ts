/**
 * `TlsConnection`, Gio's `GTlsConnection`: a TLS connection over a `Transport`, made by
 * `TlsClient.make` or `TlsServer.make` as a scoped resource.
 *
 * - `handshake` is an Effect with typed errors; it is idempotent (a second call returns
 *   the first result: there is no renegotiation, Gio's deprecated `rehandshake_mode` has no
 *   counterpart) and implicit on the first `read` or `write`;
 * - the peer's certificate is verified (complete flags) and the `AcceptCertificate` policy
 *   decides before any application byte is read or written;
 * - `read` / `stream` deliver plaintext pulled on demand (a consumer that stops reading stops
 *   the peer); they end at the peer's close_notify, and fail with `Eof` when the transport ends
 *   without one (unless `requireCloseNotify: false`);
 * - closing the scope sends close_notify (after a handshake) and releases the transport.
 *
 * @example
 * ```ts
 * import { TlsClient } from "@effect-tls/core"
 * import { NodeTlsBackend, NodeTransport } from "@effect-tls/node"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const transport = yield* NodeTransport.connect({ host: "example.com", port: 443 })
 *     const tls = yield* TlsClient.connect(transport, { serverIdentity: "example.com", alpn: ["http/1.1"] })
 *     yield* tls.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"))
 *     return yield* tls.stream.pipe(Stream.decodeText(), Stream.mkString)
 *   })
 * ).pipe(Effect.provide(NodeTlsBackend.layer))
 * ```
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Sink from "effect/Sink"
import type * as Stream from "effect/Stream"
import type { Policy } from "./AcceptCertificate.js"
import type { CertifiedKey } from "./CertifiedKey.js"
import type { ChannelBindingError, ChannelBindingType } from "./ChannelBinding.js"
import type { Trust } from "./Credentials.js"
import type { HandshakeInfo } from "./HandshakeInfo.js"
import type { ProtocolVersion } from "./ProtocolVersion.js"
import type { TlsDatabaseShape } from "./TlsDatabase.js"
import type { TlsError } from "./TlsError.js"
import type { Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-tls/core/TlsConnection")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category models
 */
export interface TlsConnection {
  readonly [TypeId]: TypeId
  readonly side: "client" | "server"
  /** Runs the handshake and the certificate policy; memoised. */
  readonly handshake: Effect.Effect<HandshakeInfo, TlsError>
  /** The next chunk of plaintext; none at the peer's close_notify. */
  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsError>
  /** All plaintext until the peer's close_notify. */
  readonly stream: Stream.Stream<Uint8Array, TlsError>
  /**
   * Done once the engine took the bytes (it waits while the engine holds as much as it buffers,
   * so a peer that stops reading stops the writer). The bytes may still be on their way to the
   * transport: `flush` waits for them; `closeWrite` and a clean close send them first.
   */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, TlsError>
  /** Writes every chunk (does not close). */
  readonly sink: Sink.Sink<void, Uint8Array, never, TlsError>
  /**
   * Done once everything written so far has been handed to the transport (Gio's
   * `g_output_stream_flush`): before an operation on the transport itself, e.g. its
   * `shutdownWrite`, that must not overtake it. Runs the handshake first, as `write` does.
   */
  readonly flush: Effect.Effect<void, TlsError>
  /** Sends close_notify and half-closes the transport; reading goes on. */
  readonly closeWrite: Effect.Effect<void, TlsError>
  /** The handshake's result, once it succeeded. */
  readonly info: Effect.Effect<Option.Option<HandshakeInfo>>
  /** RFC 5705 / 8446 keying material exporter (after the handshake). */
  readonly exportKeyingMaterial: (
    length: number,
    label: string,
    context?: Uint8Array | undefined
  ) => Effect.Effect<Uint8Array, TlsError>
  /**
   * Channel binding data (Gio's `get_channel_binding_data`): tls-unique (TLS ≤ 1.2),
   * tls-server-end-point (RFC 5929) or tls-exporter (RFC 9266); see `ChannelBinding`. Runs the
   * handshake first; its failure is an `InvalidState` error with the `TlsError` as `cause`.
   */
  readonly channelBinding: (type: ChannelBindingType) => Effect.Effect<Uint8Array, ChannelBindingError>
  /** The transport the connection runs over (Gio's `base-io-stream`). */
  readonly transport: Transport
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isTlsConnection = (u: unknown): u is TlsConnection => Predicate.hasProperty(u, TypeId)

/**
 * How long closing may take when `closeTimeout` is not given.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultCloseTimeout: Duration.DurationInput = "5 seconds"

/**
 * Options both sides share.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommonOptions {
  /** Our certificate chain and key. */
  readonly certificate?: CertifiedKey | undefined
  /** ALPN protocols: the client's offer, or the server's in order of preference (the server chooses). */
  readonly alpn?: ReadonlyArray<string> | undefined
  /**
   * Trust for the peer's chain; defaults to the `TlsDatabase` service, then the backend's default.
   * A `Credentials.Trust` is read at each new connection, so its anchors can change at run time.
   */
  readonly database?: TlsDatabaseShape | Trust | undefined
  /** The accept-certificate policy; defaults to the `AcceptCertificate` service (`strict`). */
  readonly acceptCertificate?: Policy | undefined
  /** Default `"TLSv1.2"`. Going lower is possible but insecure. */
  readonly minVersion?: ProtocolVersion | undefined
  readonly maxVersion?: ProtocolVersion | undefined
  /** OpenSSL cipher string; TLS 1.3 suites are named here too. */
  readonly ciphers?: string | undefined
  /** Bounds the handshake; default 30 seconds. */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /** Bounds the accept-certificate policy; default 30 seconds. */
  readonly policyTimeout?: Duration.DurationInput | undefined
  /**
   * Fail reads with `Eof` when the transport ends without close_notify; default `true`.
   * With `false` (what HTTPS clients commonly do, since HTTP frames its own messages) a bare end
   * of input ends the stream cleanly, and a record cut in the middle is dropped silently.
   */
  readonly requireCloseNotify?: boolean | undefined
  /**
   * Bounds closing, on Effect's `Clock`; default 5 seconds. When the connection's scope closes
   * after success, close_notify is sent and the close waits at most this long for it (and the
   * transport's half-close) to leave; after a failure or an interruption the connection is
   * closed abortively (no close_notify, so the peer sees a truncation), within the same bound.
   * A peer that stops reading can therefore never hold a close (or a server's shutdown).
   */
  readonly closeTimeout?: Duration.DurationInput | undefined
}
