/**
 * Issue 6, defect 1: the server identity (and SNI) default to the host the transport was asked
 * for; with none, no connection (a typed configuration error); opting out is `dangerously…`;
 * SNI is never an IP address.
 */
import * as AcceptCertificate from "@effect-tls/core/AcceptCertificate"
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import type { HandshakeInfo } from "@effect-tls/core/HandshakeInfo"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Queue, Stream } from "effect"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"

/** A TLS server on 127.0.0.1 that reports each handshake's info (the SNI it got) to a queue. */
const server = (issued: TestPki.Issued) =>
  Effect.gen(function*() {
    const infos = yield* Queue.unbounded<HandshakeInfo>()
    const listener = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
    yield* Effect.forkScoped(listener.run((transport) =>
      Effect.gen(function*() {
        const tls = yield* TlsServer.make(transport, { certificate: issued.certifiedKey })
        yield* Queue.offer(infos, yield* tls.handshake)
        yield* tls.stream.pipe(Stream.run(tls.sink))
      }).pipe(Effect.scoped)
    ))
    return { port: listener.address.port, infos }
  })

layer(Layer.merge(TestPki.layer(), NodeTlsBackend.layer), { excludeTestServices: true, timeout: 60_000 })(
  "server identity defaults",
  (it) => {
    describe("TCP", () => {
      it.scoped("NodeTransport.connect says in its description the host it was asked for (not the address)", () =>
        Effect.gen(function*() {
          const { port } = yield* server((yield* TestPki.TestPki).server)
          const byName = yield* NodeTransport.connect({ host: "localhost", port })
          assert.strictEqual(byName.description.host, "localhost")
          assert.notStrictEqual(byName.description.remote?.startsWith("localhost"), true)
          const byAddress = yield* NodeTransport.connect({ host: "127.0.0.1", port })
          assert.strictEqual(byAddress.description.host, "127.0.0.1")
        }))

      it.scoped("without serverIdentity the client checks the transport's host and sends it as SNI", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const { infos, port } = yield* server(fixture.server)
          const tls = yield* TlsClient.connect(yield* NodeTransport.connect({ host: "localhost", port }), {
            database: fixture.pki.database
          })
          const info = yield* tls.handshake
          assert.strictEqual(Option.getOrNull(info.serverIdentity), "localhost")
          assert.strictEqual(Option.getOrNull((yield* Queue.take(infos)).serverName), "localhost")
        }))

      it.scoped("a certificate for another name is refused with BadIdentity (it used to be accepted)", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const other = yield* fixture.pki.issueServer({ dnsNames: ["other.example"] })
          const { port } = yield* server(other)
          const error = yield* Effect.flip(
            TlsClient.connect(yield* NodeTransport.connect({ host: "localhost", port }), {
              database: fixture.pki.database
            })
          )
          if (error._tag !== "TlsBadCertificateError") return assert.fail(`unexpected ${error._tag}: ${error.message}`)
          assert.isTrue(CertificateFlags.has(error.flags, "BadIdentity"))
          assert.strictEqual(error.identity, "localhost")
        }))

      it.scoped("each connection checks and sends what its options name now (one options object, changed between)", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const { infos, port } = yield* server(fixture.server)
          const options: { -readonly [K in keyof TlsClient.ClientOptions]: TlsClient.ClientOptions[K] } = {
            database: fixture.pki.database
          }
          const connect = Effect.flatMap(
            NodeTransport.connect({ host: "localhost", port }),
            (transport) => TlsClient.connect(transport, options)
          )
          const sni = Effect.map(Queue.take(infos), (info) => Option.getOrNull(info.serverName))
          // the transport's host: checked and sent
          assert.strictEqual(Option.getOrNull((yield* (yield* connect).handshake).serverIdentity), "localhost")
          assert.strictEqual(yield* sni, "localhost")
          // the host, with an SNI of its own, then none
          options.serverName = "sni.example"
          assert.strictEqual(Option.getOrNull((yield* (yield* connect).handshake).serverIdentity), "localhost")
          assert.strictEqual(yield* sni, "sni.example")
          options.serverName = false
          assert.strictEqual(Option.getOrNull((yield* (yield* connect).handshake).serverName), null)
          assert.strictEqual(yield* sni, null)
          // another identity, unchecked: passes, no identity reported, its SNI sent
          options.serverIdentity = "other.example"
          options.serverName = undefined
          options.dangerouslySkipIdentityCheck = true
          const skipped = yield* (yield* connect).handshake
          assert.isTrue(Option.isNone(skipped.serverIdentity))
          assert.strictEqual(yield* sni, "other.example")
          // the same, checked: refused for it
          options.dangerouslySkipIdentityCheck = false
          const refused = yield* Effect.either(connect)
          if (refused._tag === "Right") return assert.fail("a certificate for localhost passed for other.example")
          if (refused.left._tag !== "TlsBadCertificateError") return assert.fail(`unexpected ${refused.left._tag}`)
          assert.strictEqual(refused.left.identity, "other.example")
        }))

      it.scoped("an IP host is checked against the IP SANs, and sent as no SNI", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const { infos, port } = yield* server(fixture.server)
          const tls = yield* TlsClient.connect(yield* NodeTransport.connect({ host: "127.0.0.1", port }), {
            database: fixture.pki.database
          })
          assert.strictEqual(Option.getOrNull((yield* tls.handshake).serverIdentity), "127.0.0.1")
          assert.isTrue(Option.isNone((yield* Queue.take(infos)).serverIdentity))
          // a certificate without that IP is refused
          const other = yield* server(yield* fixture.pki.issueServer({ dnsNames: ["localhost"] }))
          const error = yield* Effect.flip(
            TlsClient.connect(yield* NodeTransport.connect({ host: "127.0.0.1", port: other.port }), {
              database: fixture.pki.database
            })
          )
          assert.strictEqual(error._tag, "TlsBadCertificateError")
        }))
    })

    describe("memory pair (a transport that names no host)", () => {
      it.scoped("no serverIdentity: TlsConfigError, and the server never sees a ClientHello", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const { control, left } = yield* MemoryTransport.pairWithControl()
          assert.isUndefined(left.description.host)
          const error = yield* Effect.flip(TlsClient.connect(left, { database: fixture.pki.database }))
          if (error._tag !== "TlsConfigError") return assert.fail(`unexpected ${error._tag}: ${error.message}`)
          assert.deepStrictEqual(error.path, ["serverIdentity"])
          assert.match(error.message, /dangerouslySkipIdentityCheck/)
          assert.strictEqual((yield* control.stats("leftToRight")).written, 0)
          // make fails the same way (not only connect)
          const made = yield* Effect.flip(TlsClient.make(left, {}))
          assert.strictEqual(made._tag, "TlsConfigError")
        }))

      it.scoped("dangerouslySkipIdentityCheck: a certificate for any name passes, no identity is reported", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const other = yield* fixture.pki.issueServer({ dnsNames: ["other.example"] })
          const [left, right] = yield* MemoryTransport.pair()
          const accepted = yield* Effect.fork(TlsServer.accept(right, { certificate: other.certifiedKey }))
          const tls = yield* TlsClient.connect(left, {
            database: fixture.pki.database,
            dangerouslySkipIdentityCheck: true
          })
          const info = yield* tls.handshake
          assert.isTrue(Option.isNone(info.serverIdentity))
          assert.isTrue(CertificateFlags.isEmpty(info.peerCertificateErrors))
          yield* Fiber.join(accepted)
        }))

      for (
        const [identity, checked] of [
          ["127.0.0.1", "127.0.0.1"],
          ["::1", "::1"],
          ["[::1]", "::1"],
          ["fe80::1%eth0", "fe80::1"],
          ["[fe80::1%25eth0]", "fe80::1"],
          ["127.1", "127.1"]
        ] as const
      ) {
        it.scoped(`SNI is never an IP address: serverIdentity ${identity} sends none`, () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const [left, right] = yield* MemoryTransport.pair()
            const accepted = yield* Effect.fork(
              TlsServer.accept(right, { certificate: fixture.server.certifiedKey })
            )
            const tls = yield* TlsClient.connect(left, {
              serverIdentity: identity,
              database: fixture.pki.database,
              acceptCertificate: AcceptCertificate.dangerouslyAcceptAny
            })
            assert.strictEqual(Option.getOrNull((yield* tls.handshake).serverIdentity), checked)
            const serverInfo = yield* Fiber.join(accepted).pipe(Effect.flatMap((conn) => conn.handshake))
            assert.isTrue(Option.isNone(serverInfo.serverIdentity), `SNI sent for ${identity}`)
          }))
      }

      it.scoped("a bracketed IPv6 identity is checked without its brackets", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [left, right] = yield* MemoryTransport.pair()
          yield* Effect.fork(TlsServer.accept(right, { certificate: fixture.server.certifiedKey }))
          const tls = yield* TlsClient.connect(left, { serverIdentity: "[::1]", database: fixture.pki.database })
          assert.isTrue(CertificateFlags.isEmpty((yield* tls.handshake).peerCertificateErrors))
        }))

      it.scoped("an explicit serverName that is an IP address is a configuration error", () =>
        Effect.gen(function*() {
          const [left] = yield* MemoryTransport.pair()
          for (const serverName of ["127.0.0.1", "::1", "[::1]"]) {
            const error = yield* Effect.flip(TlsClient.make(left, { serverIdentity: "localhost", serverName }))
            if (error._tag !== "TlsConfigError") return assert.fail(`unexpected ${error._tag}`)
            assert.deepStrictEqual(error.path, ["serverName"])
          }
        }))
    })
  }
)
