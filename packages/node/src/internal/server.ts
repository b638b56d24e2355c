/**
 * The server side's connection: a `tls.TLSSocket` in server mode over the chosen socket, its
 * options built in `serverSocketOptions` (the seam for SNI and ALPN callbacks and ticket keys).
 *
 * @internal
 */
import * as KeyLog from "@effect-tls/core/KeyLog"
import type { EngineConnection, ServerConfig } from "@effect-tls/core/TlsBackend"
import type * as TlsError from "@effect-tls/core/TlsError"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as tls from "node:tls"
import { closeWithScope } from "./closing.js"
import { NodeTlsConnection, PLAINTEXT_HIGH_WATER_MARK } from "./engine.js"
import { invalidSettings } from "./errors.js"
import * as keyLog from "./keyLog.js"
import { nativeSocket } from "./nativePath.js"
import * as internals from "./nodeInternals.js"
import { type SecureContextCache, secureContextFor, serverContextCas } from "./secureContexts.js"
import { refuseUntellableTruncation } from "./truncation.js"

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
    const secureContext = yield* Effect.try({
      // (Deno sends its `ca` certificates to every client: none unless it asks for theirs)
      try: () => secureContextFor(cache, config, serverContextCas(config)),
      catch: invalidSettings("server")
    })
    const keyLogService = yield* KeyLog.KeyLog
    const native = nativeSocket(config, false)
    // the fiber's runtime only for the bridge or an enabled key log (a copy of the fiber's refs
    // that the connection would keep)
    const runtime = native === undefined || keyLogService.enabled ? yield* Effect.runtime<never>() : undefined
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
    yield* closeWithScope(connection)
    return connection
  })
