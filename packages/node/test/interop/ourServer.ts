/**
 * Our TLS server for interop peers to connect to: `TlsServer.make` with the test PKI's server
 * certificate behind `NodeTransport.listen` on 127.0.0.1, a 10 s handshake limit. Each
 * connection runs `session`, which reports what the test wants to know through `report`; the
 * test takes the reports in order through `served` (at most 10 s each).
 */
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as TestPki from "@effect-tls/testkit/TestPki"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as NodeTransport from "../../src/NodeTransport.js"

export const ourServer = <A>(
  options: Partial<TlsServer.ServerOptions>,
  session: (conn: TlsServer.TlsServerConnection, report: (a: A) => Effect.Effect<void>) => Effect.Effect<void, unknown>
) =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const listener = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
    const served = yield* Queue.unbounded<A>()
    const report = (a: A) => Effect.asVoid(Queue.offer(served, a))
    yield* Effect.forkScoped(listener.run((transport) =>
      Effect.flatMap(
        TlsServer.make(transport, {
          certificate: fixture.server.certifiedKey,
          handshakeTimeout: "10 seconds",
          ...options
        }),
        (conn) => session(conn, report)
      )
    ))
    return { port: listener.address.port, served: Queue.take(served).pipe(Effect.timeout("10 seconds")) }
  })
