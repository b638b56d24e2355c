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
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as tls from "node:tls"
import { RecordAcceptedCas } from "./acceptedCas.js"
import { closeWith } from "./closing.js"
import { NodeTlsConnection, plaintextHighWaterMark } from "./engine.js"
import { invalidSettings } from "./errors.js"
import * as keyLog from "./keyLog.js"
import { nativeSocket } from "./nativePath.js"
import { skipNodesPeerCertificateRead } from "./peerChain.js"
import { type SecureContextCache, secureContextFor } from "./secureContexts.js"
import { ClientSessions, unwrapSession } from "./sessions.js"
import { untellableTruncation } from "./truncation.js"

/**
 * Whether a client's TLS 1.3 CertificateRequest is worth decrypting (`HandshakeInfo.acceptedCas`,
 * and the refusal heuristics that read it): when the client has a certificate to send, a
 * `TlsInteraction` that answers certificate requests is in the Context, or
 * `NodeTlsBackend.RecordAcceptedCas` asks for it. Otherwise the sniffer reads only the clear
 * part of the server's flight (TLS 1.2's CertificateRequest), and nothing is decrypted.
 *
 * @internal
 */
export const acceptedCasMatter = (config: ClientConfig, context: Context.Context<never>): boolean =>
  Option.isSome(config.certificate) ||
  Context.get(context, TlsInteraction.TlsInteraction).requestCertificate !== TlsInteraction.none.requestCertificate ||
  Context.get(context, RecordAcceptedCas)

/** node's identity check, left to the engine (one function for every connection). */
const noIdentityCheck = (): undefined => undefined

/**
 * The client's engine, made in one Effect step: the services it needs are read from the
 * fiber's context, and its close is one finalizer of the scope itself (`closeWith`).
 *
 * @internal
 */
export const makeClient = (
  cache: SecureContextCache,
  config: ClientConfig,
  /** The backend's own cache, used when the Context has no `SessionCache`. */
  defaultSessionCache: SessionCache.SessionCacheShape = SessionCache.disabled
): Effect.Effect<EngineConnection, TlsError.TlsError, Scope.Scope> =>
  Effect.withFiberRuntime((fiber) => {
    const refusal = untellableTruncation(config, "client")
    if (refusal !== undefined) return Effect.fail(refusal)
    const context = fiber.currentContext
    let secureContext: tls.SecureContext
    try {
      secureContext = secureContextFor(cache, config, config.database.anchors)
    } catch (cause) {
      return Effect.fail(invalidSettings("client")(cause))
    }
    const offered = Option.getOrUndefined(Option.flatMap(config.session, unwrapSession))
    const sniffs = acceptedCasMatter(config, context)
    const native = nativeSocket(config, sniffs)
    const log = Context.get(context, KeyLog.KeyLog)
    // (what the bridge and an enabled key log run their Effects with: the fiber's context and
    // refs, with the default flags, as Effect.runtime's outside an uninterruptible region; made
    // only for them: reading the fiber's refs copies them)
    const runtime = native === undefined || log.enabled
      ? Runtime.make({ context, fiberRefs: fiber.getFiberRefs(), runtimeFlags: Runtime.defaultRuntimeFlags })
      : undefined
    const withKeyLog = runtime === undefined ? undefined : keyLog.attach(log, runtime)
    const connection: NodeTlsConnection = new NodeTlsConnection(
      "client",
      config,
      (underlying) => {
        const made = tls.connect({
          socket: underlying,
          secureContext,
          rejectUnauthorized: false,
          // the engine checks the identity at secureConnect (skipNodesPeerCertificateRead)
          checkServerIdentity: noIdentityCheck,
          allowHalfOpen: true,
          highWaterMark: plaintextHighWaterMark(native !== undefined),
          // (one shape for every connection, no spread: node:tls reads an undefined field as an absent one)
          servername: Option.getOrUndefined(config.serverName),
          session: offered?.session,
          ALPNProtocols: config.alpn.length > 0 ? [...config.alpn] : undefined
        } as tls.ConnectionOptions)
        const socket = withKeyLog === undefined ? made : withKeyLog(made)
        skipNodesPeerCertificateRead(socket)
        return socket
      },
      runtime,
      native,
      new ClientSessions(offered),
      sniffs,
      Option.getOrElse(Context.getOption(context, SessionCache.SessionCache), () => defaultSessionCache) !==
        SessionCache.disabled
    )
    const scope = Context.get(context as Context.Context<Scope.Scope>, Scope.Scope)
    return Effect.as(closeWith(scope, connection, config.beforeClose), connection)
  })
