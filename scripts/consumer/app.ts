// The TypeScript twin of app.mjs, type-checked by .ci/run in the throwaway npm project with
// lib ["ES2022"], @types/node, skipLibCheck false and no DOM.
import type { TlsBackend, TlsError, Transport } from "@effect-tls/core"
import { HandshakeInfo, TlsClient, TlsServer } from "@effect-tls/core"
import { NodeTlsBackend } from "@effect-tls/node"
import { MemoryTransport, TestPki } from "@effect-tls/testkit"
import { Effect, Either, Option, type Scope } from "effect"
import * as assert from "node:assert/strict"

interface Connected {
  readonly client: TlsClient.TlsClientConnection
  readonly server: TlsServer.TlsServerConnection
}

const connect = (
  fixture: TestPki.Fixture,
  serverIdentity: string
): Effect.Effect<Connected, TlsError.TlsError, Scope.Scope | TlsBackend.TlsBackend> =>
  Effect.gen(function*() {
    const [clientTransport, serverTransport]: readonly [Transport.Transport, Transport.Transport] =
      yield* MemoryTransport.pair()
    const server = yield* TlsServer.make(serverTransport, {
      certificate: fixture.server.certifiedKey,
      alpn: ["echo/1"]
    })
    const client = yield* TlsClient.make(clientTransport, {
      serverIdentity,
      database: fixture.pki.database,
      alpn: ["echo/1"]
    })
    return { client, server }
  })

const program: Effect.Effect<string, TlsError.TlsError | TestPki.TestPkiError> = Effect.gen(function*() {
  const fixture = yield* TestPki.makeFixture()

  const { client, server } = yield* connect(fixture, "localhost")
  const [info] = yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
  assert.deepStrictEqual(info.negotiatedProtocol, Option.some("echo/1"))
  yield* client.write(new TextEncoder().encode("ping"))
  const received: Option.Option<Uint8Array> = yield* server.read
  assert.deepStrictEqual(Option.map(received, (bytes) => new TextDecoder().decode(bytes)), Option.some("ping"))

  const wrong = yield* connect(fixture, "example.com")
  wrong.server.handshake.pipe(Effect.ignore, Effect.runFork)
  const outcome: Either.Either<HandshakeInfo.HandshakeInfo, TlsError.TlsError> = yield* Effect.either(
    wrong.client.handshake
  )
  assert.ok(Either.isLeft(outcome) && outcome.left._tag === "TlsBadCertificateError")

  return HandshakeInfo.format(info)
}).pipe(Effect.scoped, Effect.provide(NodeTlsBackend.layer))

const report: string = await Effect.runPromise(program)
console.log(report)
