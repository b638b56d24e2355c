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
import * as runtimeFacts from "./runtime.js"
import { type SecureContextCache, secureContextFor } from "./secureContexts.js"
import { refuseUntellableTruncation } from "./truncation.js"

/** (the factory's `runtime` hides the module) */
const serverSendsCaCertificates = runtimeFacts.serverSendsCaCertificates

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
    const runtime = yield* Effect.runtime<never>()
    const secureContext = yield* Effect.try({
      // (Deno sends its `ca` certificates to every client: none unless it asks for theirs)
      try: () =>
        secureContextFor(
          cache,
          config,
          serverSendsCaCertificates && config.clientAuth === "none" ? [] : config.clientCas
        ),
      catch: invalidSettings("server")
    })
    const withKeyLog = keyLog.attach(yield* KeyLog.KeyLog, runtime)
    const connection: NodeTlsConnection = new NodeTlsConnection(
      "server",
      config,
      (underlying) => withKeyLog(new tls.TLSSocket(underlying, serverSocketOptions(config, secureContext, connection))),
      runtime,
      nativeSocket(config, false),
      undefined
    )
    yield* closeWithScope(connection)
    return connection
  })
