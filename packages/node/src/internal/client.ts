/**
 * The client side's connection: node:tls's `tls.connect` over the chosen socket, with the
 * session offered for resumption and the accepted-CA sniffer when it matters.
 *
 * @internal
 */
import * as KeyLog from "@effect-tls/core/KeyLog"
import * as SessionCache from "@effect-tls/core/SessionCache"
import type { ClientConfig, EngineConnection } from "@effect-tls/core/TlsBackend"
import type * as TlsError from "@effect-tls/core/TlsError"
import * as TlsInteraction from "@effect-tls/core/TlsInteraction"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as tls from "node:tls"
import { RecordAcceptedCas } from "./acceptedCas.js"
import { closeWithScope } from "./closing.js"
import { NodeTlsConnection, PLAINTEXT_HIGH_WATER_MARK } from "./engine.js"
import { invalidSettings } from "./errors.js"
import * as keyLog from "./keyLog.js"
import { nativeSocket } from "./nativePath.js"
import { skipNodesPeerCertificateRead } from "./peerChain.js"
import { type SecureContextCache, secureContextFor } from "./secureContexts.js"
import { ClientSessions, unwrapSession } from "./sessions.js"
import { refuseUntellableTruncation } from "./truncation.js"

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
