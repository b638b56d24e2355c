/**
 * Handshakes per second over loopback TCP: sequential connections, each a full TLS 1.3
 * handshake (no resumption), the client verifying the server (test CA, host "localhost"),
 * then a clean close (close_notify, FIN).
 *
 * raw node:tls verifies with OpenSSL (`ca`, default `rejectUnauthorized` and identity
 * check), once with a shared SecureContext and once with `ca` per connection (a new
 * SecureContext each time, as most code writes it). effect-tls runs its full verifier
 * (`TlsDatabase.verifyChain` of the test PKI plus OpenSSL's verdict) and the default
 * `strict` policy; its SecureContexts are cached by the backend.
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as TlsClient from "@effect-tls/core/TlsClient"
import type { TlsDatabaseShape } from "@effect-tls/core/TlsDatabase"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import * as Effect from "effect/Effect"
import * as tls from "node:tls"
import type { Context, Group, Variant } from "./common.js"
import { checkRawSocket, checkSuite, now, once, run, withNativePath } from "./common.js"
import type { StartedServer } from "./peers.js"
import { startEffectServer, startRawServer } from "./peers.js"

const rawHandshakes = async (
  context: Context,
  server: StartedServer,
  count: number,
  shared: boolean
): Promise<number> => {
  const start = now()
  for (let i = 0; i < count; i++) {
    const socket = tls.connect({
      host: "127.0.0.1",
      port: server.port,
      servername: "localhost",
      ...(shared ? { secureContext: context.rawClientContext } : context.rawClientCaOptions)
    })
    await once(socket, "secureConnect")
    if (i === 0) checkRawSocket(socket)
    if (!socket.authorized) throw new Error(`raw node:tls did not verify: ${socket.authorizationError}`)
    socket.on("error", () => {})
    socket.end()
    await once(socket, "finish")
    socket.destroy()
  }
  return now() - start
}

const effectHandshakes = (context: Context, server: StartedServer, count: number): Promise<number> =>
  run(
    context,
    Effect.gen(function*() {
      const start = now()
      for (let i = 0; i < count; i++) {
        yield* Effect.scoped(Effect.gen(function*() {
          const transport = yield* NodeTransport.connect({ host: "127.0.0.1", port: server.port })
          const connection = yield* TlsClient.connect(transport, context.clientOptions)
          if (i === 0) {
            const info = yield* connection.handshake
            checkSuite(info.protocolVersion, info.ciphersuiteName)
            if (info.resumed) throw new Error("resumed")
          }
        }))
      }
      return now() - start
    })
  )

/**
 * Proves that effect-tls pays for a real verifier here: one handshake with the bench's
 * options calls `verifyChain` (and passes), and that verifier flags a wrong identity.
 */
export const checkVerifier = async (context: Context): Promise<void> => {
  const database = context.clientOptions.database as TlsDatabaseShape
  let calls = 0
  const counting: TlsDatabaseShape = {
    ...database,
    verifyChain: (chain, options) =>
      Effect.suspend(() => {
        calls++
        return database.verifyChain(chain, options)
      })
  }
  const server = await startEffectServer(context, "sink", Number.POSITIVE_INFINITY)
  try {
    const info = await run(
      context,
      Effect.scoped(Effect.gen(function*() {
        const transport = yield* NodeTransport.connect({ host: "127.0.0.1", port: server.port })
        const connection = yield* TlsClient.connect(transport, { ...context.clientOptions, database: counting })
        return yield* connection.handshake
      }))
    )
    const wrong = await run(
      context,
      database.verifyChain(context.fixture.server.chain, { purpose: "server", identity: "wrong.example.com" })
    )
    if (calls !== 1 || !CertificateFlags.isEmpty(info.peerCertificateErrors) || !wrong.has("BadIdentity")) {
      throw new Error(
        `verifier check failed: ${calls} verifyChain calls, flags ${
          CertificateFlags.format(info.peerCertificateErrors)
        }, ` +
          `wrong identity gave ${CertificateFlags.format(wrong)}`
      )
    }
  } finally {
    await server.close()
  }
}

const variant = (
  context: Context,
  name: string,
  startServer: (context: Context, mode: "sink", total: number) => Promise<StartedServer>,
  client: (server: StartedServer, count: number) => Promise<number>
): Variant => ({
  name,
  measure: async (warmup) => {
    const count = warmup ? context.settings.warmupHandshakes : context.settings.handshakes
    const server = await startServer(context, "sink", Number.POSITIVE_INFINITY)
    try {
      const ms = await client(server, count)
      return count / (ms / 1000)
    } finally {
      await server.close()
    }
  }
})

export const groups = (context: Context): Array<Group> => [{
  name: "tcp handshakes (sequential)",
  unit: "handshakes/s",
  variants: [
    variant(context, "raw ↔ raw (shared SecureContext)", startRawServer, (s, n) => rawHandshakes(context, s, n, true)),
    variant(context, "raw ↔ raw (`ca` per connect)", startRawServer, (s, n) => rawHandshakes(context, s, n, false)),
    variant(context, "effect-tls ↔ effect-tls", startEffectServer, (s, n) => effectHandshakes(context, s, n)),
    variant(
      withNativePath(context),
      "effect-tls ↔ effect-tls, native path",
      startEffectServer,
      (s, n) => effectHandshakes(withNativePath(context), s, n)
    ),
    variant(context, "effect-tls client → raw server", startRawServer, (s, n) => effectHandshakes(context, s, n)),
    variant(context, "raw client → effect-tls server", startEffectServer, (s, n) => rawHandshakes(context, s, n, true))
  ]
}]
