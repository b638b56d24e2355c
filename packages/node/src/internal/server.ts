/**
 * The server side's connection: a `tls.TLSSocket` in server mode over the chosen socket, its
 * options built in `serverSocketOptions` (the seam for SNI and ALPN callbacks and ticket keys).
 *
 * @internal
 */
import * as KeyLog from "@effect-tls/core/KeyLog"
import type { EngineConnection, ServerConfig } from "@effect-tls/core/TlsBackend"
import type * as TlsError from "@effect-tls/core/TlsError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as tls from "node:tls"
import { closeWith } from "./closing.js"
import { NodeTlsConnection, plaintextHighWaterMark } from "./engine.js"
import { invalidSettings } from "./errors.js"
import * as keyLog from "./keyLog.js"
import { nativeSocket } from "./nativePath.js"
import * as internals from "./nodeInternals.js"
import { type SecureContextCache, secureContextFor, serverContextCas, unverifiableClientCas } from "./secureContexts.js"
import { untellableTruncation } from "./truncation.js"

/**
 * The server's TLSSocket options: the seam for SNI and ALPN callbacks and ticket keys.
 *
 * @internal
 */
export const serverSocketOptions = (
  config: ServerConfig,
  secureContext: tls.SecureContext,
  connection: { recordedServerName: string | undefined; readonly native: unknown }
): tls.TLSSocketOptions => {
  // (one literal, the optional fields added after it: spreads of them into the literal would
  // build the options field by field on every connection)
  const options: tls.TLSSocketOptions & { allowHalfOpen: boolean; highWaterMark: number } = {
    isServer: true,
    secureContext,
    requestCert: config.clientAuth !== "none",
    rejectUnauthorized: config.clientAuth === "required",
    allowHalfOpen: true,
    highWaterMark: plaintextHighWaterMark(connection.native !== undefined)
  }
  if (config.alpn.length > 0) options.ALPNProtocols = [...config.alpn]
  if (internals.serverNameNeedsCallback()) {
    options.SNICallback = (name, callback) => {
      connection.recordedServerName = name
      callback(null, secureContext)
    }
  }
  return options
}

/**
 * The server's engine connection, made in one Effect step (the fiber's services read at once,
 * the close registered as a finalizer of the scope itself).
 *
 * @internal
 */
export const makeServer = (
  cache: SecureContextCache,
  config: ServerConfig
): Effect.Effect<EngineConnection, TlsError.TlsError, Scope.Scope> =>
  Effect.withFiberRuntime((fiber) => {
    const refusal = untellableTruncation(config, "server")
    if (refusal !== undefined) return Effect.fail(refusal)
    let secureContext: tls.SecureContext
    try {
      // (Bun refuses in the handshake a client chain its `ca` does not verify)
      const unverifiable = unverifiableClientCas(config)
      if (unverifiable !== undefined) throw new Error(unverifiable)
      // (Deno sends its `ca` certificates to every client: none unless it asks for theirs)
      secureContext = secureContextFor(cache, config, serverContextCas(config))
    } catch (cause) {
      return Effect.fail(invalidSettings("server")(cause))
    }
    const context = fiber.currentContext as Context.Context<Scope.Scope>
    const keyLogService = Context.get(context, KeyLog.KeyLog)
    const native = nativeSocket(config, false)
    // a runtime only for the bridge or an enabled key log (a copy of the fiber's refs that the
    // connection would keep): the fiber's context and refs, with the default flags, as
    // Effect.runtime's outside an uninterruptible region
    const runtime = native === undefined || keyLogService.enabled
      ? Runtime.make({ context, fiberRefs: fiber.getFiberRefs(), runtimeFlags: Runtime.defaultRuntimeFlags })
      : undefined
    const withKeyLog = keyLogService.enabled ? keyLog.attach(keyLogService, runtime!) : undefined
    const connection: NodeTlsConnection = new NodeTlsConnection(
      "server",
      config,
      (underlying) => {
        const socket = new tls.TLSSocket(underlying, serverSocketOptions(config, secureContext, connection))
        return withKeyLog === undefined ? socket : withKeyLog(socket)
      },
      runtime,
      native,
      undefined
    )
    return Effect.as(closeWith(Context.get(context, Scope.Scope), connection, config.beforeClose), connection)
  })
