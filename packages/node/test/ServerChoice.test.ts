/**
 * A server choosing per connection (issue 10): SNI → certificate, ALPN chosen by the server,
 * credentials and trust that change at run time. Over the memory pair, TCP, and openssl
 * s_client.
 */
import type { CertifiedKey } from "@effect-tls/core/CertifiedKey"
import * as Credentials from "@effect-tls/core/Credentials"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type * as Transport from "@effect-tls/core/Transport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import type * as SocketServer from "@effect/platform/SocketServer"
import { assert, describe, layer } from "@effect/vitest"
import type { Scope } from "effect"
import { Effect, Fiber, Layer, Option, Stream } from "effect"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTlsServer from "../src/NodeTlsServer.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as Peers from "./interop/peers.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const pairs = {
  memory: MemoryTransport.pair(),
  tcp: NodeTransport.pairForTest
} as const satisfies Record<
  string,
  Effect.Effect<readonly [Transport.Transport, Transport.Transport], unknown, Scope.Scope>
>

const names = Effect.gen(function*() {
  const fixture = yield* TestPki.TestPki
  const a = yield* fixture.pki.issueServer({ dnsNames: ["a.test"], freshKey: true })
  const b = yield* fixture.pki.issueServer({ dnsNames: ["b.test"], freshKey: true })
  return { fixture, a, b }
})

const sniOf = (a: CertifiedKey, b: CertifiedKey) => (name: string) =>
  Effect.succeed(name === "a.test" ? Option.some(a) : name === "b.test" ? Option.some(b) : Option.none())

/** One server handshake and one client handshake over a fresh pair. */
const handshakeOver = (
  pair: Effect.Effect<readonly [Transport.Transport, Transport.Transport], unknown, Scope.Scope>,
  serverOptions: TlsServer.ServerOptions,
  clientOptions: TlsClient.ClientOptions
) =>
  Effect.gen(function*() {
    const [left, right] = yield* pair
    const server = yield* Effect.fork(
      Effect.flatMap(TlsServer.make(right, serverOptions), (conn) =>
        Effect.map(conn.handshake, (info) => ({ conn, info })))
    )
    const client = yield* Effect.either(
      Effect.flatMap(TlsClient.make(left, clientOptions), (conn) =>
        Effect.map(conn.handshake, (info) => ({ conn, info })))
    )
    const served = yield* Effect.either(Fiber.join(server))
    return { client, served }
  })

const leafName = (
  info: { readonly peerCertificate: Option.Option<ReadonlyArray<{ readonly dnsNames: ReadonlyArray<string> }>> }
) => Option.getOrThrow(info.peerCertificate)[0]!.dnsNames[0]

layer(Layer.merge(TestPki.layer(), NodeTlsBackend.layer), { excludeTestServices: true, timeout: 60_000 })(
  "server choices",
  (it) => {
    for (const [transport, pair] of Object.entries(pairs)) {
      describe(`${transport}: SNI → certificate`, () => {
        it.scoped("each name gets its certificate; the server reports the SNI received", () =>
          Effect.gen(function*() {
            const { a, b, fixture } = yield* names
            const options: TlsServer.ServerOptions = {
              certificate: fixture.server.certifiedKey,
              sni: { resolve: sniOf(a.certifiedKey, b.certifiedKey) }
            }
            for (const name of ["a.test", "b.test"]) {
              const { client, served } = yield* handshakeOver(pair, options, {
                serverIdentity: name,
                database: fixture.pki.database
              })
              assert.strictEqual(client._tag, "Right", String(client))
              if (client._tag !== "Right" || served._tag !== "Right") return
              assert.strictEqual(leafName(client.right.info), name)
              assert.strictEqual(Option.getOrNull(served.right.info.serverName), name)
              assert.isTrue(Option.isNone(served.right.info.serverIdentity))
              assert.strictEqual(Option.getOrNull(client.right.info.serverName), name)
            }
          }))

        it.scoped("an unknown name gets the default certificate", () =>
          Effect.gen(function*() {
            const { a, b, fixture } = yield* names
            const { client, served } = yield* handshakeOver(pair, {
              certificate: fixture.server.certifiedKey,
              sni: { resolve: sniOf(a.certifiedKey, b.certifiedKey) }
            }, { serverIdentity: "localhost", serverName: "c.test", database: fixture.pki.database })
            assert.strictEqual(client._tag, "Right")
            if (client._tag !== "Right" || served._tag !== "Right") return
            assert.strictEqual(leafName(client.right.info), "localhost")
            assert.strictEqual(Option.getOrNull(served.right.info.serverName), "c.test")
          }))

        it.scoped("onUnknown: refuse sends unrecognized_name; both sides fail typed", () =>
          Effect.gen(function*() {
            const { a, b, fixture } = yield* names
            const { client, served } = yield* handshakeOver(pair, {
              certificate: fixture.server.certifiedKey,
              sni: { resolve: sniOf(a.certifiedKey, b.certifiedKey), onUnknown: "refuse" }
            }, { serverIdentity: "c.test", database: fixture.pki.database })
            assert.strictEqual(served._tag, "Left")
            assert.strictEqual(client._tag, "Left")
            if (served._tag !== "Left" || client._tag !== "Left") return
            assert.strictEqual(served.left._tag, "TlsGenericError")
            assert.strictEqual((served.left as { alert?: string }).alert, "unrecognized_name")
            assert.strictEqual(client.left._tag, "TlsGenericError")
            assert.match(
              `${client.left.message} ${String((client.left as { alert?: string }).alert)}`,
              /unrecognized.name/i
            )
          }))

        it.scoped("a resolver that takes too long is bounded by sni.timeout", () =>
          Effect.gen(function*() {
            const { fixture } = yield* names
            const { client, served } = yield* handshakeOver(pair, {
              certificate: fixture.server.certifiedKey,
              sni: { resolve: () => Effect.never, timeout: "100 millis" }
            }, { serverIdentity: "a.test", database: fixture.pki.database })
            assert.strictEqual(served._tag, "Left")
            assert.strictEqual(client._tag, "Left")
            if (served._tag === "Left") assert.strictEqual(served.left._tag, "TlsTimeoutError")
          }))
      })

      describe(`${transport}: ALPN chosen by the server`, () => {
        it.scoped("from the client's offer and its server name", () =>
          Effect.gen(function*() {
            const { fixture } = yield* names
            const options: TlsServer.ServerOptions = {
              certificate: fixture.server.certifiedKey,
              selectAlpn: (hello) =>
                Effect.succeed(
                  Option.fromNullable(
                    Option.getOrNull(hello.serverName) === "localhost"
                      ? hello.alpn.find((p) => p === "h2")
                      : hello.alpn[hello.alpn.length - 1]
                  )
                )
            }
            const { client, served } = yield* handshakeOver(pair, options, {
              serverIdentity: "localhost",
              alpn: ["http/1.1", "h2"],
              database: fixture.pki.database
            })
            assert.strictEqual(client._tag, "Right")
            if (client._tag !== "Right" || served._tag !== "Right") return
            assert.strictEqual(Option.getOrNull(client.right.info.negotiatedProtocol), "h2")
            assert.strictEqual(Option.getOrNull(served.right.info.negotiatedProtocol), "h2")
          }))

        it.scoped("no overlap fails with no_application_protocol on both sides", () =>
          Effect.gen(function*() {
            const { fixture } = yield* names
            const { client, served } = yield* handshakeOver(pair, {
              certificate: fixture.server.certifiedKey,
              selectAlpn: (hello) => Effect.succeed(Option.fromNullable(hello.alpn.find((p) => p === "smtp")))
            }, { serverIdentity: "localhost", alpn: ["h2"], database: fixture.pki.database })
            assert.strictEqual(served._tag, "Left")
            assert.strictEqual(client._tag, "Left")
            if (served._tag !== "Left" || client._tag !== "Left") return
            assert.strictEqual((served.left as { alert?: string }).alert, "no_application_protocol")
            assert.strictEqual((client.left as { alert?: string }).alert, "no_application_protocol")
          }))

        it.scoped("a client that offers no ALPN goes on without", () =>
          Effect.gen(function*() {
            const { fixture } = yield* names
            const { client } = yield* handshakeOver(pair, {
              certificate: fixture.server.certifiedKey,
              selectAlpn: () => Effect.succeed(Option.none())
            }, { serverIdentity: "localhost", database: fixture.pki.database })
            assert.strictEqual(client._tag, "Right")
            if (client._tag === "Right") assert.isTrue(Option.isNone(client.right.info.negotiatedProtocol))
          }))
      })
    }

    describe("credentials that change", () => {
      it.scoped("new handshakes use the new certificate; a live connection keeps working", () =>
        Effect.gen(function*() {
          const { a, b, fixture } = yield* names
          const credentials = yield* Credentials.make(a.certifiedKey)
          const server = yield* NodeTlsServer.make({ certificate: credentials })
          yield* Effect.forkScoped(server.run((tls) => tls.stream.pipe(Stream.run(tls.sink))))
          const port = (server.address as SocketServer.TcpAddress).port
          const open = (serverIdentity: string) =>
            Effect.flatMap(
              NodeTransport.connect({ host: "127.0.0.1", port }),
              (transport) => TlsClient.connect(transport, { serverIdentity, database: fixture.pki.database })
            )
          const first = yield* open("a.test")
          assert.strictEqual(leafName(yield* first.handshake), "a.test")
          yield* credentials.update(b.certifiedKey)
          const second = yield* open("b.test")
          assert.strictEqual(leafName(yield* second.handshake), "b.test")
          // the first connection, made with the old certificate, still works
          yield* first.write(encoder.encode("still alive"))
          const echoed = yield* first.read
          assert.strictEqual(decoder.decode(Option.getOrThrow(echoed)), "still alive")
        }))

      it.scoped("a replacement whose key does not match, expired or not yet valid is refused; the old stays", () =>
        Effect.gen(function*() {
          const { a, b, fixture } = yield* names
          const credentials = yield* Credentials.make(a.certifiedKey)
          const mismatch = yield* Effect.flip(credentials.update({ chain: b.chain, key: a.key }))
          assert.strictEqual(mismatch.reason, "KeyMismatch")
          const expired = yield* fixture.pki.issueServer({ dnsNames: ["a.test"], validity: "expired" })
          assert.strictEqual((yield* Effect.flip(credentials.update(expired.certifiedKey))).reason, "Expired")
          const early = yield* fixture.pki.issueServer({ dnsNames: ["a.test"], validity: "notYetValid" })
          assert.strictEqual((yield* Effect.flip(credentials.update(early.certifiedKey))).reason, "NotYetValid")
          assert.strictEqual(yield* credentials.get, a.certifiedKey)
          // and over the memory pair the server still presents the old one
          const { client } = yield* handshakeOver(pairs.memory, { certificate: credentials }, {
            serverIdentity: "a.test",
            database: fixture.pki.database
          })
          assert.strictEqual(client._tag, "Right")
        }))

      it.scoped("a client's trust anchors can be replaced", () =>
        Effect.gen(function*() {
          const { fixture } = yield* names
          const otherPki = yield* TestPki.make()
          const otherServer = yield* otherPki.issueServer()
          const trust = yield* Credentials.makeTrust(fixture.pki.database)
          const before = yield* handshakeOver(pairs.memory, { certificate: otherServer.certifiedKey }, {
            serverIdentity: "localhost",
            database: trust
          })
          assert.strictEqual(before.client._tag, "Left")
          yield* trust.update(otherPki.database)
          const after = yield* handshakeOver(pairs.memory, { certificate: otherServer.certifiedKey }, {
            serverIdentity: "localhost",
            database: trust
          })
          assert.strictEqual(after.client._tag, "Right")
        }))
    })

    describe("interop: openssl s_client", () => {
      const sniServer = Effect.gen(function*() {
        const { a, b, fixture } = yield* names
        const server = yield* NodeTlsServer.make({
          certificate: fixture.server.certifiedKey,
          sni: { resolve: sniOf(a.certifiedKey, b.certifiedKey) },
          selectAlpn: (hello) => Effect.succeed(Option.fromNullable(hello.alpn.find((p) => p === "smtp"))),
          handshakeFailureLogLevel: "None"
        })
        yield* Effect.forkScoped(
          server.run((tls) => Effect.zipRight(tls.write(encoder.encode("hi\n")), Stream.runDrain(tls.stream)))
        )
        const files = yield* TestPki.writeFiles(fixture.server, fixture.pki)
        return { port: (server.address as SocketServer.TcpAddress).port, files }
      })

      it.scoped("-servername a|b gets each name's certificate", () =>
        Effect.gen(function*() {
          const { files, port } = yield* sniServer
          for (const name of ["a.test", "b.test"]) {
            const client = yield* Peers.sClient(port, [
              "-servername",
              name,
              "-verify_return_error",
              "-verify_hostname",
              name,
              "-CAfile",
              files.caFile,
              "-alpn",
              "smtp"
            ])
            yield* client.waitFor(/^hi$/m)
            yield* client.endInput
            yield* client.exited()
            const output = yield* client.output
            assert.match(output, new RegExp(`subject=.*CN = ${name.replace(".", "\\.")}`), output)
            assert.include(output, "Verify return code: 0 (ok)")
          }
        }))

      it.scoped("-alpn with no overlap gets the no_application_protocol alert", () =>
        Effect.gen(function*() {
          const { files, port } = yield* sniServer
          const client = yield* Peers.sClient(port, ["-servername", "a.test", "-CAfile", files.caFile, "-alpn", "h2"])
          yield* client.exited()
          assert.match(yield* client.output, /alert no application protocol/)
        }))
    })
  }
)
