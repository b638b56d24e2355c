// A consumer of the published tarballs, run by .ci/run in a throwaway npm project outside the
// workspace under plain `node`: a real TLS handshake (the Node engine) over the in-memory pair with
// a TestPki certificate, importing only the packages' main entries. app.ts is its TypeScript twin.
import { HandshakeInfo, TlsClient, TlsServer } from "@effect-tls/core"
import { NodeTlsBackend } from "@effect-tls/node"
import { MemoryTransport, TestPki } from "@effect-tls/testkit"
import { Effect, Either, Option } from "effect"
import * as assert from "node:assert/strict"

const connect = (fixture, serverIdentity) =>
  Effect.gen(function*() {
    const [clientTransport, serverTransport] = yield* MemoryTransport.pair()
    const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey, alpn: ["echo/1"] })
    const client = yield* TlsClient.make(clientTransport, {
      serverIdentity,
      database: fixture.pki.database,
      alpn: ["echo/1"]
    })
    return { client, server }
  })

const program = Effect.gen(function*() {
  const fixture = yield* TestPki.makeFixture()

  // a verified handshake, then bytes both ways
  const { client, server } = yield* connect(fixture, "localhost")
  const [info] = yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
  assert.deepStrictEqual(info.negotiatedProtocol, Option.some("echo/1"))
  yield* client.write(new TextEncoder().encode("ping"))
  const received = yield* server.read
  // one copy of effect: the library's Option and ours are the same structure
  assert.deepStrictEqual(Option.map(received, (bytes) => new TextDecoder().decode(bytes)), Option.some("ping"))

  // the wrong host name fails the handshake with a typed error
  const wrong = yield* connect(fixture, "example.com")
  wrong.server.handshake.pipe(Effect.ignore, Effect.runFork)
  const outcome = yield* Effect.either(wrong.client.handshake)
  assert.ok(Either.isLeft(outcome) && outcome.left._tag === "TlsBadCertificateError")

  return HandshakeInfo.format(info)
}).pipe(Effect.scoped, Effect.provide(NodeTlsBackend.layer))

const report = await Effect.runPromise(program)
console.log(report)
console.log("consumer: handshake over the memory pair ok, wrong host name rejected")
