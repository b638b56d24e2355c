/**
 * The effect-tls demo: a TLS server on 127.0.0.1 with a test PKI, a client that connects
 * with SNI and ALPN, verifies, exchanges data and prints a handshake report; then a client
 * whose expected host name does not match, showing the typed BadCertificate failure.
 *
 * Run it with `pnpm demo`. No network beyond loopback, no set-up beyond `pnpm install`.
 */
import { CertificateFlags, HandshakeInfo, TlsClient, TlsServer } from "@effect-tls/core"
import { NodeTlsBackend, NodeTransport } from "@effect-tls/node"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { Chunk, Console, Effect, Exit, Stream } from "effect"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const program = Effect.gen(function*() {
  yield* Console.log("effect-tls demo\n")

  // 1. a test PKI, generated now in memory: a root CA and a server certificate
  const fixture = yield* TestPki.makeFixture()
  yield* Console.log(`test CA:            ${fixture.pki.ca.certificate.subject.text}`)
  yield* Console.log(`server certificate: ${fixture.server.certificate.subject.text}`)

  // 2. a TLS echo server on 127.0.0.1 (one fiber per connection)
  const listener = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
  yield* Console.log(`server listening on 127.0.0.1:${listener.address.port}\n`)
  yield* Effect.forkScoped(listener.run((transport) =>
    Effect.gen(function*() {
      const tls = yield* TlsServer.make(transport, {
        certificate: fixture.server.certifiedKey,
        alpn: ["echo/1", "http/1.1"]
      })
      yield* tls.stream.pipe(
        Stream.map((bytes) => encoder.encode(decoder.decode(bytes).toUpperCase())),
        Stream.run(tls.sink)
      )
      yield* tls.closeWrite
    }).pipe(Effect.scoped)
  ))

  // 3. a client that trusts the test CA and offers ALPN; the identity it checks (and the SNI
  //    it sends) default to the host the transport was asked for: "localhost"
  yield* Effect.scoped(Effect.gen(function*() {
    const transport = yield* NodeTransport.connect({ host: "localhost", port: listener.address.port })
    const tls = yield* TlsClient.connect(transport, {
      alpn: ["echo/1"],
      database: fixture.pki.database
    })
    yield* Console.log("== handshake report ==")
    yield* Console.log(HandshakeInfo.format(yield* tls.handshake))
    yield* tls.write(encoder.encode("hello over effect-tls"))
    yield* tls.closeWrite
    const reply = yield* Stream.runCollect(tls.stream)
    yield* Console.log(
      `\nsent "hello over effect-tls", the server answered "${
        Chunk.toArray(reply).map((bytes) => decoder.decode(bytes)).join("")
      }"\n`
    )
  }))

  // 4. a client expecting another host name: the typed BadCertificate failure
  yield* Console.log("== a client expecting wrong.example.com ==")
  const failed = yield* Effect.scoped(Effect.gen(function*() {
    const transport = yield* NodeTransport.connect({ host: "127.0.0.1", port: listener.address.port })
    return yield* TlsClient.connect(transport, {
      serverIdentity: "wrong.example.com",
      database: fixture.pki.database
    })
  })).pipe(Effect.flip)
  if (failed._tag === "TlsBadCertificateError") {
    yield* Console.log(`failed with ${failed._tag}`)
    yield* Console.log(`  flags:   ${CertificateFlags.format(failed.flags)}`)
    yield* Console.log(`  message: ${failed.message}`)
  } else {
    yield* Console.log(`unexpected failure: ${failed.message}`)
    return yield* Effect.fail(failed)
  }
}).pipe(Effect.scoped, Effect.provide(NodeTlsBackend.layer))

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isFailure(exit)) {
    console.error("demo failed:", exit.cause)
    process.exitCode = 1
  }
})
