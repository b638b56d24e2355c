/**
 * The README's support matrix, cell by cell, on the runtime this file runs on (Node under
 * `pnpm test`; Bun and Deno under `runtimes/run.mjs`). Where a runtime's node:tls lacks what a
 * cell needs, the test asserts the documented typed error instead: never lost bytes, never a
 * wrong verdict.
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as ChannelBinding from "@effect-tls/core/ChannelBinding"
import type { HandshakeInfo } from "@effect-tls/core/HandshakeInfo"
import * as SessionCache from "@effect-tls/core/SessionCache"
import * as TlsClient from "@effect-tls/core/TlsClient"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import * as TlsError from "@effect-tls/core/TlsError"
import * as TlsInteraction from "@effect-tls/core/TlsInteraction"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as Transport from "@effect-tls/core/Transport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { concat } from "@effect-tls/testkit/TransportSuite"
import { assert, describe, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { peekSocket } from "../src/internal/tcp.js"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTlsDatabase from "../src/NodeTlsDatabase.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as OurServer from "./interop/ourServer.js"
import * as Peers from "./interop/peers.js"

const runtime = typeof (globalThis as any).Deno === "object"
  ? "deno"
  : typeof process.versions.bun === "string"
  ? "bun"
  : "node"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const timeout = 30_000

const collect = (conn: TlsConnection) =>
  Effect.map(Stream.runCollect(conn.stream), (chunks) => Chunk.toArray(chunks).map((b) => decoder.decode(b)).join(""))

type MakePair = Effect.Effect<readonly [Transport.Transport, Transport.Transport], unknown, Scope.Scope>

const connect = (
  makePair: MakePair,
  options: { readonly requireCloseNotify?: boolean; readonly maxVersion?: "TLSv1.2" | "TLSv1.3" } = {}
) =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
    const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey, ...options })
    const client = yield* TlsClient.make(clientTransport, {
      serverIdentity: "localhost",
      database: fixture.pki.database,
      ...options
    })
    return { client, server }
  })

/** A client that is asked for a certificate and has none (TlsSuite's setting): its handshake's failure. */
const refusedWithoutCertificate = (transport: Transport.Transport) =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const client = yield* TlsClient.make(transport, {
      serverIdentity: "localhost",
      database: fixture.pki.database
    }).pipe(Effect.provideService(
      TlsInteraction.TlsInteraction,
      TlsInteraction.make({ requestCertificate: () => Effect.succeed(Option.none()) })
    ))
    return yield* Effect.flip(Effect.zipRight(client.handshake, client.read))
  })

const pairs: ReadonlyArray<readonly [string, MakePair]> = [
  ["the memory pair", MemoryTransport.pair()],
  ["loopback TCP", NodeTransport.pairForTest]
]

layer(Layer.merge(TestPki.layer(), NodeTlsBackend.layer), { excludeTestServices: true, timeout })(
  `support matrix on ${runtime}`,
  (it) => {
    for (const [name, makePair] of pairs) {
      describe(name, () => {
        it.scoped("handshake and verification: a valid chain passes, a wrong host fails BadIdentity", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const { client, server } = yield* connect(makePair)
            const [info, serverInfo] = yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
            assert.strictEqual(info.protocolVersion, "TLSv1.3")
            // the server learnt the client's SNI
            assert.deepStrictEqual(serverInfo.serverName, Option.some("localhost"))
            const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
            yield* Effect.forkScoped(
              Effect.ignore(
                Effect.flatMap(
                  TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey }),
                  (s) => s.handshake
                )
              )
            )
            const wrong = yield* TlsClient.make(clientTransport, {
              serverIdentity: "wrong.example.com",
              database: fixture.pki.database
            })
            const error = yield* Effect.flip(wrong.handshake)
            assert.strictEqual(error._tag, "TlsBadCertificateError")
            if (error._tag === "TlsBadCertificateError") assert.deepStrictEqual([...error.flags], ["BadIdentity"])
          }))

        it.scoped("verification: a rejected chain carries the flags of its faults, and only those", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const other = yield* TestPki.make()
            const cases = [
              [yield* fixture.pki.issueServer({ validity: "expired" }), fixture.pki.database, ["Expired"]],
              [yield* fixture.pki.issueServer({ validity: "notYetValid" }), fixture.pki.database, ["NotActivated"]],
              [fixture.server, other.database, ["UnknownCa"]],
              [yield* fixture.pki.issueServer({ extendedKeyUsage: ["clientAuth"] }), fixture.pki.database, [
                "GenericError"
              ]]
            ] as const
            for (const [issued, database, flags] of cases) {
              // (Deno names every rejection UNABLE_TO_VERIFY_LEAF_SIGNATURE: it is not taken for UnknownCa)
              const error = yield* Effect.scoped(Effect.gen(function*() {
                const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
                const server = yield* TlsServer.make(serverTransport, { certificate: issued.certifiedKey })
                yield* Effect.forkScoped(Effect.ignore(server.handshake))
                const client = yield* TlsClient.make(clientTransport, { serverIdentity: "localhost", database })
                return yield* Effect.flip(client.handshake)
              }))
              assert.strictEqual(error._tag, "TlsBadCertificateError")
              if (error._tag === "TlsBadCertificateError") assert.deepStrictEqual([...error.flags], [...flags])
            }
          }))

        it.scoped("hostile input: a garbled first record already waiting fails both sides typed, nothing uncaught", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const uncaught: Array<unknown> = []
            const onUncaught = (error: unknown) => uncaught.push(error)
            process.on("uncaughtException", onUncaught)
            yield* Effect.addFinalizer(() => Effect.sync(() => process.off("uncaughtException", onUncaught)))
            for (const garbage of ["\x16\x03\xff\xff\xff", "\xff\x03\x01\x00\x05hello", "GET / HTTP/1.1\r\n\r\n"]) {
              const bytes = Uint8Array.from(garbage, (c) => c.charCodeAt(0))
              yield* Effect.scoped(Effect.gen(function*() {
                const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
                const [rogue, rogueServer] = yield* Effect.orDie(makePair)
                // (the bytes wait in the transport before node:tls exists: Deno's server TLSSocket
                // read them before its deferred _start, which then threw a TypeError of its own)
                yield* Effect.orDie(rogue.write(bytes))
                const server = yield* TlsServer.make(rogueServer, {
                  certificate: fixture.server.certifiedKey,
                  clientAuth: "required",
                  database: fixture.pki.database
                })
                const error = yield* Effect.flip(server.handshake)
                assert.isTrue(TlsError.isTlsError(error), String(error))
                // a client whose server answers garbage fails typed too
                yield* Effect.orDie(serverTransport.write(bytes))
                const client = yield* TlsClient.make(clientTransport, {
                  serverIdentity: "localhost",
                  database: fixture.pki.database,
                  certificate: fixture.client.certifiedKey
                })
                assert.isTrue(TlsError.isTlsError(yield* Effect.flip(client.handshake)))
              }))
              // (a turn for whatever node:tls deferred)
              yield* Effect.sleep("20 millis")
            }
            assert.deepStrictEqual(uncaught.map(String), [])
          }))

        it.scoped("truncation: the bytes before an end of input without close_notify arrive, then Eof", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
            const client = yield* TlsClient.make(clientTransport, {
              serverIdentity: "localhost",
              database: fixture.pki.database
            })
            const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
            yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
            yield* server.write(encoder.encode("partial"))
            // the server's transport ends with no close_notify before it, once the write's record
            // reached it (`flush`: a write is done when node:tls took it; Deno's node:tls hands the
            // record to the transport a microtask later)
            yield* server.flush
            yield* Effect.orDie(serverTransport.shutdownWrite)
            const received: Array<string> = []
            const error = yield* Effect.flip(
              Stream.runForEach(client.stream, (bytes) => Effect.sync(() => received.push(decoder.decode(bytes))))
            )
            assert.strictEqual(received.join(""), "partial")
            assert.strictEqual(error._tag, "TlsGenericError")
            assert.strictEqual((error as { reason?: string }).reason, "Eof")
          }))

        for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
          it.scoped(`half-close (${version}): the server answers after the client's closeWrite`, () =>
            Effect.gen(function*() {
              const { client, server } = yield* connect(makePair, { maxVersion: version })
              const serverSide = yield* Effect.fork(Effect.gen(function*() {
                const request = yield* collect(server)
                yield* server.write(encoder.encode(`got ${request}`))
                yield* server.closeWrite
              }))
              // several writes, the last one small (its record is the size of an alert)
              for (const part of ["ping", " and ", "p"]) yield* client.write(encoder.encode(part))
              yield* client.closeWrite
              const reply = yield* collect(client)
              const serverExit = yield* Fiber.await(serverSide)
              // (on Bun the engine keeps the client's close_notify from node:tls until the server closed)
              assert.isTrue(Exit.isSuccess(serverExit))
              assert.strictEqual(reply, "got ping and p")
            }))
        }

        it.scoped("backpressure: a writer to a peer that does not read stops, and resumes when it reads", () =>
          Effect.gen(function*() {
            const { client, server } = yield* connect(makePair)
            yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
            let written = 0
            const block = new Uint8Array(16 * 1024)
            const writer = yield* Effect.fork(Effect.forever(Effect.tap(server.write(block), () => {
              written += block.length
            })))
            // each phase bounded, so that a failure names it (runtimes/expected.json), not the test's timeout
            yield* Effect.gen(function*() {
              let previous = -1
              while (previous !== written) {
                previous = written
                yield* Effect.sleep("200 millis")
              }
            }).pipe(Effect.timeoutFail({
              duration: "15 seconds",
              onTimeout: () => new Error(`the writer did not stall within 15 s: ${written} bytes written`)
            }))
            assert.isAbove(written, 0)
            assert.isBelow(written, 16 * 1024 * 1024, "bounded buffering")
            const stalledAt = written
            const reader = yield* Effect.fork(Stream.runDrain(client.stream))
            yield* Effect.gen(function*() {
              while (written <= stalledAt) yield* Effect.sleep("20 millis")
            }).pipe(Effect.timeoutFail({
              duration: "8 seconds",
              onTimeout: () =>
                new Error(`the writer did not resume within 8 s of the reader starting (stalled at ${stalledAt} bytes)`)
            }))
            yield* Fiber.interrupt(writer)
            yield* Fiber.interrupt(reader)
          }))

        // (raw node:tls on Deno: a TLSSocket that ends after the peer's close_notify, having written
        // nothing since, destroys its Duplex before it hands it its own close_notify)
        it.scoped("closing: a server that read the client's end and closes without writing ends the client's stream cleanly", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
            const serverSide = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
              const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
              const request = yield* collect(server)
              yield* server.closeWrite
              return request
            })))
            const client = yield* TlsClient.make(clientTransport, {
              serverIdentity: "localhost",
              database: fixture.pki.database
            })
            yield* client.write(encoder.encode("no answer"))
            yield* client.closeWrite
            assert.strictEqual(yield* collect(client), "")
            assert.strictEqual(yield* Fiber.join(serverSide), "no answer")
          }))

        it.scoped("client certificates: a required certificate that is missing fails typed", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
            const server = yield* TlsServer.make(serverTransport, {
              certificate: fixture.server.certifiedKey,
              clientAuth: "required",
              database: fixture.pki.database
            })
            const serverError = yield* Effect.fork(Effect.flip(server.handshake))
            // (a client that is asked for a certificate and has none: TlsSuite's setting)
            const error = yield* refusedWithoutCertificate(clientTransport)
            const onServer = yield* Fiber.join(serverError)
            if (runtime === "deno") {
              // the client's own flight says it was asked for a certificate, but not by which CAs
              // (Deno logs no keys to decrypt the request)
              assert.strictEqual(error._tag, "TlsCertificateRequiredError")
              if (error._tag === "TlsCertificateRequiredError") assert.deepStrictEqual(error.acceptedCas, [])
              assert.strictEqual(onServer._tag, "TlsCertificateRequiredError")
            } else {
              assert.strictEqual(onServer._tag, "TlsCertificateRequiredError")
              assert.strictEqual(error._tag, "TlsCertificateRequiredError")
              if (error._tag === "TlsCertificateRequiredError") {
                assert.deepStrictEqual(error.acceptedCas.map((name) => name.text), [
                  fixture.pki.ca.certificate.subject.text
                ])
              }
            }
          }))

        it.scoped("client certificates: a server trusting the system store's CAs (over 100) refuses a missing certificate typed, naming them (none on Deno)", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const system = yield* NodeTlsDatabase.system
            assert.isAbove(system.anchors.length, 100)
            const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
            // (TLS 1.2: a Deno client reads the CertificateRequest's names in clear)
            const server = yield* TlsServer.make(serverTransport, {
              certificate: fixture.server.certifiedKey,
              clientAuth: "required",
              database: system,
              maxVersion: "TLSv1.2"
            })
            const serverError = yield* Effect.fork(Effect.flip(server.handshake))
            const error = yield* refusedWithoutCertificate(clientTransport)
            // (Deno's server would send them after its chain too, a 170 KB flight a Deno client
            // refused: it names none, and core's verifier alone judges a client's chain)
            assert.strictEqual(error._tag, "TlsCertificateRequiredError")
            if (error._tag === "TlsCertificateRequiredError") {
              assert.strictEqual(error.acceptedCas.length, runtime === "deno" ? 0 : system.anchors.length)
            }
            assert.strictEqual((yield* Fiber.join(serverError))._tag, "TlsCertificateRequiredError")
          }))

        for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
          it.scoped(`client certificates (${version}): the server names its clientCas, and its database judges the client's chain`, () =>
            Effect.gen(function*() {
              const fixture = yield* TestPki.TestPki
              const other = yield* TestPki.make({ commonName: "Other Test CA" })
              const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
              // the names are another CA's: node:tls, given them as `ca`, finds no issuer for the
              // client's certificate, which the server's database trusts
              const server = yield* TlsServer.make(serverTransport, {
                certificate: fixture.server.certifiedKey,
                clientAuth: "requested",
                database: fixture.pki.database,
                clientCas: [other.ca.certificate],
                maxVersion: version
              })
              const client = yield* TlsClient.make(clientTransport, {
                serverIdentity: "localhost",
                database: fixture.pki.database,
                certificate: fixture.client.certifiedKey
              })
              const [info, serverInfo] = yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
              assert.strictEqual(
                Option.getOrThrow(serverInfo.peerCertificate)[0]?.fingerprintSha256,
                fixture.client.certificate.fingerprintSha256
              )
              assert.isTrue(CertificateFlags.isEmpty(serverInfo.peerCertificateErrors))
              if (runtime === "deno" && version === "TLSv1.3") assert.isTrue(Option.isNone(info.acceptedCas))
              else {
                assert.deepStrictEqual(Option.getOrThrow(info.acceptedCas).map((name) => name.text), [
                  other.ca.certificate.subject.text
                ])
              }
            }))
        }

        it.scoped("client certificates: a server that requires one and names other CAs than its database's accepts the database's (Node, Deno), or is refused typed at construction (Bun)", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const other = yield* TestPki.make({ commonName: "Other Test CA" })
            const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
            const made = yield* Effect.either(TlsServer.make(serverTransport, {
              certificate: fixture.server.certifiedKey,
              clientAuth: "required",
              database: fixture.pki.database,
              clientCas: [other.ca.certificate]
            }))
            if (runtime === "bun") {
              // (Bun's node:tls would refuse the database's certificate in the handshake)
              assert.strictEqual(made._tag, "Left")
              if (made._tag === "Left") {
                assert.instanceOf(made.left, TlsError.TlsGenericError)
                assert.strictEqual((made.left as TlsError.TlsGenericError).reason, "Misc")
                assert.match(
                  String((made.left.cause as Error | undefined)?.message),
                  /name every anchor of its database/
                )
              }
              // naming them all (and more) is accepted
              const [, serverSide] = yield* Effect.orDie(makePair)
              yield* TlsServer.make(serverSide, {
                certificate: fixture.server.certifiedKey,
                clientAuth: "required",
                database: fixture.pki.database,
                clientCas: [other.ca.certificate, ...fixture.pki.database.anchors]
              })
              return
            }
            const server = Either.getOrThrow(made)
            const client = yield* TlsClient.make(clientTransport, {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              certificate: fixture.client.certifiedKey
            })
            const [, serverInfo] = yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
            assert.strictEqual(
              Option.getOrThrow(serverInfo.peerCertificate)[0]?.fingerprintSha256,
              fixture.client.certificate.fingerprintSha256
            )
          }))

        it.scoped("client certificates: one from an unknown CA is refused, typed BadCertificate by the peer", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const stranger = yield* (yield* TestPki.make()).issueClient()
            const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
            const server = yield* TlsServer.make(serverTransport, {
              certificate: fixture.server.certifiedKey,
              clientAuth: "required",
              database: fixture.pki.database
            })
            const serverError = yield* Effect.fork(Effect.flip(server.handshake))
            const client = yield* TlsClient.make(clientTransport, {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              certificate: stranger.certifiedKey
            })
            const error = yield* Effect.flip(Effect.zipRight(client.handshake, client.read))
            assert.strictEqual(error._tag, "TlsBadCertificateError")
            if (error._tag === "TlsBadCertificateError") assert.isTrue(error.byPeer)
            const onServer = yield* Fiber.join(serverError)
            assert.strictEqual(onServer._tag, "TlsBadCertificateError")
          }))

        it.scoped("a server that asks for no client certificate sends no client CAs (the system store's here)", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const system = yield* NodeTlsDatabase.system
            const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
            // (Deno's server sends every certificate of node's `ca` after its chain: the system
            // store's made a flight of some 170 KB, which Deno's client refused)
            const server = yield* TlsServer.make(serverTransport, {
              certificate: fixture.server.certifiedKey,
              clientCas: [fixture.pki.ca.certificate, ...system.anchors]
            })
            const client = yield* TlsClient.make(clientTransport, {
              serverIdentity: "localhost",
              database: fixture.pki.database
            })
            const [info] = yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
            assert.isTrue(Option.isSome(info.peerCertificate))
          }))

        it.scoped("accepted CAs: the client learns the CA names of the server's CertificateRequest (none on Deno)", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const [clientTransport, serverTransport] = yield* Effect.orDie(makePair)
            const server = yield* TlsServer.make(serverTransport, {
              certificate: fixture.server.certifiedKey,
              clientAuth: "required",
              database: fixture.pki.database
            })
            const client = yield* TlsClient.make(clientTransport, {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              certificate: fixture.client.certifiedKey
            })
            const [info] = yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
            if (runtime === "deno") assert.isTrue(Option.isNone(info.acceptedCas))
            else {
              assert.deepStrictEqual(Option.getOrThrow(info.acceptedCas).map((name) => name.text), [
                fixture.pki.ca.certificate.subject.text
              ])
            }
          }))

        it.scoped("channel binding (TLS 1.2): tls-unique and tls-exporter agree on both sides (Node, Bun), or fail typed (Deno)", () =>
          Effect.gen(function*() {
            const { client, server } = yield* connect(makePair, { maxVersion: "TLSv1.2" })
            yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
            for (const type of ["tls-unique", "tls-exporter"] as const) {
              const [ours, theirs] = yield* Effect.all([
                Effect.either(client.channelBinding(type)),
                Effect.either(server.channelBinding(type))
              ])
              if (runtime === "deno") {
                for (const result of [ours, theirs]) {
                  assert.strictEqual(result._tag, "Left", type)
                  if (result._tag === "Left") {
                    assert.instanceOf(result.left, ChannelBinding.ChannelBindingError)
                    // (no Finished; the extended master secret unknown: Deno's session is its own blob)
                    assert.strictEqual(
                      result.left.reason,
                      type === "tls-unique" ? "NotAvailable" : "NotImplemented",
                      type
                    )
                  }
                }
              } else {
                assert.strictEqual(ours._tag, "Right", type)
                assert.strictEqual(theirs._tag, "Right", type)
                if (ours._tag === "Right" && theirs._tag === "Right") {
                  assert.deepStrictEqual(Buffer.from(ours.right), Buffer.from(theirs.right), type)
                  assert.strictEqual(ours.right.length, type === "tls-unique" ? 12 : 32, type)
                }
              }
            }
          }))

        it.scoped("channel binding: tls-exporter agrees on both sides, or fails typed (Deno)", () =>
          Effect.gen(function*() {
            const { client, server } = yield* connect(makePair)
            yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
            const [ours, theirs] = yield* Effect.all([
              Effect.either(client.channelBinding("tls-exporter")),
              Effect.either(server.channelBinding("tls-exporter"))
            ])
            if (runtime === "deno") {
              for (const result of [ours, theirs]) {
                assert.strictEqual(result._tag, "Left")
                if (result._tag === "Left") {
                  assert.instanceOf(result.left, ChannelBinding.ChannelBindingError)
                  assert.strictEqual(result.left.reason, "NotAvailable")
                }
              }
            } else {
              assert.strictEqual(ours._tag, "Right")
              assert.strictEqual(theirs._tag, "Right")
              if (ours._tag === "Right" && theirs._tag === "Right") {
                assert.deepStrictEqual(Buffer.from(ours.right), Buffer.from(theirs.right))
              }
            }
            const serverEndPoint = yield* Effect.all([
              client.channelBinding("tls-server-end-point"),
              server.channelBinding("tls-server-end-point")
            ])
            assert.deepStrictEqual(Buffer.from(serverEndPoint[0]), Buffer.from(serverEndPoint[1]))
          }))
      })
    }

    describe("a memory pair of 256 bytes, 1-byte chunks", () => {
      it.scoped("close: an echo server that closes once its writes returned delivers every byte", () =>
        Effect.gen(function*() {
          const payload = Uint8Array.from({ length: 1000 }, (_, i) => i % 251)
          const fixture = yield* TestPki.TestPki
          const [clientTransport, serverTransport] = yield* MemoryTransport.pair({ capacity: 256, chunkSize: 1 })
          // (a close bound no loaded machine reaches: this is about what the close waits for)
          const closeTimeout = "60 seconds"
          const server = yield* TlsServer.make(serverTransport, {
            certificate: fixture.server.certifiedKey,
            closeTimeout
          })
          const client = yield* TlsClient.make(clientTransport, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            closeTimeout
          })
          // the server's scope closes as soon as its writes returned: Bun calls them back before
          // the bridge wrote their records, and its teardown dropped those still waiting for room;
          // Deno's close_notify can still wait inside its node:tls when the TLSSocket finished
          const serverSide = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
            yield* server.stream.pipe(Stream.run(server.sink))
            yield* server.closeWrite
          })))
          yield* Effect.fork(Effect.zipRight(client.write(payload), client.closeWrite))
          const received = yield* Stream.runFold(client.stream, [] as Array<number>, (all, chunk) => {
            for (const byte of chunk) all.push(byte)
            return all
          }).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "the echo stalled" as const }))
          assert.isTrue(Exit.isSuccess(yield* Fiber.await(serverSide)))
          assert.deepStrictEqual(Buffer.from(received), Buffer.from(payload))
        }))
    })

    describe("the memory pair", () => {
      it.scoped("TLS 1.3 suites in ciphers: honoured (Node), or refused typed where they would be ignored (Bun, Deno)", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [clientTransport, serverTransport] = yield* MemoryTransport.pair()
          const ciphers = "TLS_CHACHA20_POLY1305_SHA256"
          const serverSide = Effect.flatMap(
            TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey, ciphers }),
            (server) => server.handshake
          )
          const clientSide = Effect.flatMap(
            TlsClient.make(clientTransport, { serverIdentity: "localhost", database: fixture.pki.database, ciphers }),
            (client) => client.handshake
          )
          const [ours, theirs] = yield* Effect.all([Effect.either(clientSide), Effect.either(serverSide)], {
            concurrency: 2
          })
          if (runtime === "node") {
            assert.strictEqual(ours._tag === "Right" && ours.right.ciphersuiteName, ciphers)
            assert.strictEqual(theirs._tag === "Right" && theirs.right.ciphersuiteName, ciphers)
            return
          }
          for (const result of [ours, theirs]) {
            assert.strictEqual(result._tag, "Left")
            if (result._tag === "Left") {
              assert.instanceOf(result.left, TlsError.TlsGenericError)
              assert.strictEqual((result.left as TlsError.TlsGenericError).reason, "Misc")
              assert.match(
                String((result.left.cause as Error | undefined)?.message),
                /ignores TLS 1\.3 suites in `ciphers`/
              )
            }
          }
          // naming all three suites restricts nothing: accepted
          const all = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
          const [a, b] = yield* MemoryTransport.pair()
          const server3 = yield* TlsServer.make(b, { certificate: fixture.server.certifiedKey, ciphers: all })
          const client3 = yield* TlsClient.make(a, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            ciphers: all
          })
          const [info] = yield* Effect.all([client3.handshake, server3.handshake], { concurrency: 2 })
          assert.strictEqual(info.protocolVersion, "TLSv1.3")
        }))
    })

    describe("the memory pair", () => {
      it.scoped("TLS 1.2 suites in ciphers: honoured (Node, Bun), or refused typed where they would be ignored (Deno)", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [clientTransport, serverTransport] = yield* MemoryTransport.pair()
          // (not Deno's own choice, ECDHE-ECDSA-AES256-GCM-SHA384, which it negotiated whatever
          // `ciphers` said)
          const ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"
          const settings = { ciphers, maxVersion: "TLSv1.2" } as const
          const serverSide = Effect.flatMap(
            TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey, ...settings }),
            (server) => server.handshake
          )
          const clientSide = Effect.flatMap(
            TlsClient.make(clientTransport, {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              ...settings
            }),
            (client) => client.handshake
          )
          const [ours, theirs] = yield* Effect.all([Effect.either(clientSide), Effect.either(serverSide)], {
            concurrency: 2
          })
          for (const result of [ours, theirs]) {
            if (runtime !== "deno") {
              assert.strictEqual(
                result._tag === "Right" && result.right.ciphersuiteName,
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
              )
              continue
            }
            assert.strictEqual(result._tag, "Left")
            if (result._tag === "Left") {
              assert.instanceOf(result.left, TlsError.TlsGenericError)
              assert.strictEqual((result.left as TlsError.TlsGenericError).reason, "Misc")
              assert.match(String((result.left.cause as Error | undefined)?.message), /ignores `ciphers` for TLS 1\.2/)
            }
          }
        }))
    })

    describe("a memory pair of 256 bytes, 1-byte chunks, a client that stops reading", () => {
      it.scoped("close: the close_notify that waits for room when the server's socket closes reaches the client", () =>
        Effect.gen(function*() {
          // TLS 1.2 AES-GCM: 210 bytes are a 239-byte record, the close_notify 31 bytes more: the
          // data fits in the 256-byte pipe, the close_notify does not until the client reads. The
          // server has read the client's close_notify, so its socket closes once its end() is done:
          // Deno's then destroyed the bridge with the close_notify still in it (the client waited
          // for the end for ever)
          const payload = Uint8Array.from({ length: 210 }, (_, i) => i)
          const fixture = yield* TestPki.TestPki
          const [clientSide, serverTransport] = yield* MemoryTransport.pair({ capacity: 256, chunkSize: 1 })
          const release = yield* Deferred.make<void>()
          let holding = false
          const clientTransport = Transport.make({
            read: Effect.suspend(() =>
              holding ? Effect.zipRight(Deferred.await(release), clientSide.read) : clientSide.read
            ),
            write: clientSide.write,
            shutdownWrite: clientSide.shutdownWrite,
            description: clientSide.description
          })
          const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
          const client = yield* TlsClient.make(clientTransport, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            maxVersion: "TLSv1.2"
          })
          yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
          yield* client.write(payload)
          yield* client.closeWrite
          const serverSide = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
            const echoed = concat(Chunk.toArray(yield* Stream.runCollect(server.stream)))
            holding = true
            yield* server.write(echoed)
            // the client reads again a while after the server began to close
            yield* Effect.forkScoped(Effect.zipRight(Effect.sleep("300 millis"), Deferred.succeed(release, undefined)))
            yield* server.closeWrite
          })))
          const received = yield* Stream.runCollect(client.stream).pipe(
            Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => "the client never read the end" as const })
          )
          assert.deepStrictEqual(Buffer.from(concat(Chunk.toArray(received))), Buffer.from(payload))
          assert.isTrue(Exit.isSuccess(yield* Fiber.await(serverSide)))
        }))
    })

    describe("loopback TCP", () => {
      // a TLS echo server on loopback TCP, and a client round trip that writes `request` (none: it
      // only closes) and reads the echo; the handshake's info. `requireCloseNotify: false` on both
      // sides: the native path (node:tls on the TCP socket; the bridge on Deno)
      const resumptionSetup = (requireCloseNotify: boolean) =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const listener = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
          yield* Effect.forkScoped(listener.run((transport) =>
            Effect.gen(function*() {
              const tls = yield* TlsServer.make(transport, {
                certificate: fixture.server.certifiedKey,
                requireCloseNotify
              })
              yield* tls.stream.pipe(Stream.run(tls.sink))
              yield* tls.closeWrite
            }).pipe(Effect.scoped)
          ))
          return (request: string) =>
            Effect.scoped(Effect.gen(function*() {
              const transport = yield* NodeTransport.connect({ host: "127.0.0.1", port: listener.address.port })
              const client = yield* TlsClient.connect(transport, {
                serverIdentity: "localhost",
                database: fixture.pki.database,
                requireCloseNotify
              })
              if (request !== "") yield* client.write(encoder.encode(request))
              yield* client.closeWrite
              assert.strictEqual(yield* collect(client), request)
              return yield* client.handshake
            }))
        })

      for (const requireCloseNotify of [true, false]) {
        const path = requireCloseNotify ? "" : " (requireCloseNotify false: the native path)"
        it.scoped(`resumption${path}: the next connection resumes (Node, Bun), or is a full handshake (Deno), never a false one`, () =>
          Effect.gen(function*() {
            const roundTrip = yield* resumptionSetup(requireCloseNotify)
            const first = yield* roundTrip("ping")
            const second = yield* roundTrip("ping")
            assert.deepStrictEqual([first.resumed, second.resumed], [false, runtime !== "deno"])
            // resumed or not, the server's certificate is there and verified
            assert.isTrue(Option.isSome(second.peerCertificate))
          }).pipe(Effect.provide(SessionCache.layerMemory())))

        it.scoped(`resumption${path}: a client that closes before the server wrote anything resumes (Node), or not (Bun: the server's tickets come with its close_notify, after ours; Deno)`, () =>
          Effect.gen(function*() {
            const roundTrip = yield* resumptionSetup(requireCloseNotify)
            const first = yield* roundTrip("")
            const second = yield* roundTrip("")
            assert.deepStrictEqual([first.resumed, second.resumed], [false, runtime === "node"])
            assert.isTrue(Option.isSome(second.peerCertificate))
          }).pipe(Effect.provide(SessionCache.layerMemory())))
      }

      for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
        it.scoped(`resumption (${version}, our server): gnutls-cli -r resumes its session (Bun TLS 1.3: a full handshake)`, () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const files = yield* TestPki.writeFiles(fixture.server, fixture.pki)
            const ours = yield* OurServer.ourServer<HandshakeInfo>({}, (conn, report) =>
              Effect.gen(function*() {
                yield* report(yield* conn.handshake)
                yield* Effect.ignore(Stream.runDrain(conn.stream))
                yield* Effect.ignore(conn.closeWrite)
              }))
            const cli = yield* Peers.gnutlsCli(ours.port, [
              "-r",
              "--x509cafile",
              files.caFile,
              "--priority",
              Peers.gnutlsPriority[version]
            ])
            yield* cli.waitFor(
              /- Resume Handshake was completed|- Handshake was completed[\s\S]*- Handshake was completed/
            )
            yield* cli.endInput
            const output = yield* cli.output
            const [first, second] = [yield* ours.served, yield* ours.served]
            // (a Deno client does not resume; a Deno server does. A Bun server sends its TLS 1.3
            // tickets only with its first data: gnutls-cli reconnects before, a full handshake)
            const resumes = !(runtime === "bun" && version === "TLSv1.3")
            assert.deepStrictEqual([first.resumed, second.resumed], [false, resumes], output)
            assert.strictEqual(second.protocolVersion, version)
            if (resumes) assert.include(output, "*** This is a resumed session")
            else assert.notInclude(output, "*** This is a resumed session")
          }))
      }

      it.scoped("native fast path: requireCloseNotify false gives node:tls the TCP socket (the bridge on Deno)", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [clientTransport, serverTransport] = yield* Effect.orDie(NodeTransport.pairForTest)
          const socket = Option.getOrThrow(peekSocket(clientTransport))
          const server = yield* TlsServer.make(serverTransport, {
            certificate: fixture.server.certifiedKey,
            requireCloseNotify: false
          })
          const client = yield* TlsClient.make(clientTransport, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            requireCloseNotify: false
          })
          const serverSide = yield* Effect.fork(Effect.gen(function*() {
            yield* server.stream.pipe(Stream.run(server.sink))
            yield* server.closeWrite
          }))
          const payload = "x".repeat(256 * 1024)
          yield* Effect.fork(Effect.zipRight(client.write(encoder.encode(payload)), client.closeWrite))
          assert.strictEqual(yield* collect(client), payload)
          assert.isTrue(Exit.isSuccess(yield* Fiber.await(serverSide)))
          // node:tls owns the socket (the transport's listeners were detached), or the bridge reads it
          assert.strictEqual(
            socket.listenerCount("data") === 0,
            runtime !== "deno",
            "whether the engine took the socket"
          )
        }))
    })
  }
)
