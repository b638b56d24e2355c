import type * as AcceptCertificate from "@effect-tls/core/AcceptCertificate"
import type { DistinguishedName } from "@effect-tls/core/Certificate"
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import type { CertifiedKey } from "@effect-tls/core/CertifiedKey"
import type { ProtocolVersion } from "@effect-tls/core/ProtocolVersion"
import * as TicketKeys from "@effect-tls/core/TicketKeys"
import type * as TlsBackend from "@effect-tls/core/TlsBackend"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsDatabase from "@effect-tls/core/TlsDatabase"
import * as TlsInteraction from "@effect-tls/core/TlsInteraction"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as Transport from "@effect-tls/core/Transport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, layer } from "@effect/vitest"
import {
  Chunk,
  Deferred,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Option,
  Redacted,
  Ref,
  Schedule,
  Scope,
  Stream,
  Supervisor
} from "effect"
import { Duplex } from "node:stream"
import { TransportDuplex } from "../src/internal/bridge.js"
import { peekSocket } from "../src/internal/tcp.js"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"
import { tcpServers, tcpSockets } from "./tcpHandles.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

// (Deno 2.9: the README's support matrix; its cells are asserted here as documented: the engine
// keeps the bridge, a client cannot decrypt a TLS 1.3 CertificateRequest, nor resume)
const onDeno = typeof (globalThis as any).Deno === "object"
// (bytes pushed back into a socket reach node:tls on the native path only on node itself: Bun and
// Deno keep the bridge for them, whose transport listener stays)
const pushedBackNative = !onDeno && typeof (globalThis as any).Bun !== "object"
const onNode = pushedBackNative

const eventually = <A>(check: Effect.Effect<A>, until: (a: A) => boolean) =>
  Effect.repeat(check, { until, schedule: Schedule.spaced("20 millis") }).pipe(
    Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("condition not reached in 5 s") })
  )

/** A TLS echo server behind a TCP listener; each connection in its own fiber. */
const echoServer = (options: Omit<TlsServer.ServerOptions, "certificate"> = {}) =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const listener = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
    const served = yield* Ref.make(0)
    yield* Effect.forkScoped(listener.run((transport) =>
      Effect.gen(function*() {
        const tls = yield* TlsServer.make(transport, { certificate: fixture.server.certifiedKey, ...options })
        yield* tls.handshake
        yield* Ref.update(served, (n) => n + 1)
        yield* tls.stream.pipe(Stream.run(tls.sink))
        yield* tls.closeWrite
      }).pipe(Effect.scoped)
    ))
    return { listener, served, connect: NodeTransport.connect({ host: "127.0.0.1", port: listener.address.port }) }
  })

layer(Layer.merge(TestPki.layer(), NodeTlsBackend.layer), { excludeTestServices: true, timeout: 60_000 })(
  "Node engine",
  (it) => {
    describe("resources", () => {
      it.scoped("an interrupted handshake over TCP leaves no open socket and no listener", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const socketsBefore = tcpSockets()
          const serversBefore = tcpServers()
          const handshakeStarted = yield* Deferred.make<void>()
          const fiber = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
            // a server that accepts TCP but never answers the ClientHello
            const listener = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
            yield* Effect.forkScoped(listener.run((transport) =>
              Effect.zipRight(
                Effect.zipRight(transport.read, Deferred.succeed(handshakeStarted, void 0)),
                Effect.never
              )
            ))
            const transport = yield* NodeTransport.connect({ host: "127.0.0.1", port: listener.address.port })
            const client = yield* TlsClient.make(transport, {
              serverIdentity: "localhost",
              database: fixture.pki.database
            })
            return yield* client.handshake
          })))
          yield* Deferred.await(handshakeStarted)
          assert.isAbove(tcpSockets(), socketsBefore)
          yield* Fiber.interrupt(fiber)
          yield* eventually(
            Effect.sync(() => [tcpSockets(), tcpServers()]),
            ([sockets, servers]) => sockets <= socketsBefore && servers <= serversBefore
          )
          assert.isAtMost(tcpSockets(), socketsBefore)
          assert.isAtMost(tcpServers(), serversBefore)
        }))

      it.scoped("a failed handshake (rejected certificate) closes its sockets with its scope", () =>
        Effect.gen(function*() {
          const { connect, listener } = yield* echoServer()
          const other = yield* TestPki.make()
          const exit = yield* Effect.exit(
            Effect.scoped(
              Effect.flatMap(
                connect,
                (transport) => TlsClient.connect(transport, { serverIdentity: "localhost", database: other.database })
              )
            )
          )
          assert.isTrue(Exit.isFailure(exit))
          yield* eventually(listener.connections, (n) => n === 0)
        }))

      it.scoped("many connections: a bad one does not affect the others", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const { connect, listener } = yield* echoServer()
          const good = (i: number) =>
            Effect.scoped(Effect.gen(function*() {
              const client = yield* TlsClient.connect(yield* connect, {
                serverIdentity: "localhost",
                database: fixture.pki.database
              })
              yield* client.write(encoder.encode(`message ${i}`))
              yield* client.closeWrite
              const chunks = yield* Stream.runCollect(client.stream)
              return decoder.decode(Buffer.concat(Chunk.toArray(chunks)))
            }))
          const bad = Effect.scoped(Effect.gen(function*() {
            const transport = yield* connect
            yield* transport.write(encoder.encode("not TLS at all\r\n\r\n"))
            yield* Effect.ignore(transport.read)
          }))
          const results = yield* Effect.all(
            [good(1), bad, good(2), bad, good(3)].map((
              effect: Effect.Effect<string | void, unknown, TlsBackend.TlsBackend>
            ) => Effect.either(effect)),
            { concurrency: 5 }
          )
          const echoed: Array<string> = []
          for (const result of results) {
            if (result._tag === "Right" && typeof result.right === "string") echoed.push(result.right)
          }
          assert.deepStrictEqual(echoed, ["message 1", "message 2", "message 3"])
          yield* eventually(listener.connections, (n) => n === 0)
        }))
    })

    describe("an idle connection holds no fiber (the bridge waits in node's callbacks)", () => {
      const idleFibers = (
        pair: Effect.Effect<readonly [Transport.Transport, Transport.Transport], unknown, Scope.Scope>
      ) =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [left, right] = yield* pair
          const supervisor = yield* Supervisor.track
          yield* Effect.gen(function*() {
            const server = yield* TlsServer.make(right, { certificate: fixture.server.certifiedKey })
            // (connect runs the handshake: the server's must run beside it)
            const [client] = yield* Effect.all([
              TlsClient.connect(left, { serverIdentity: "localhost", database: fixture.pki.database }),
              server.handshake
            ], { concurrency: 2 })
            yield* client.write(encoder.encode("ping"))
            assert.strictEqual(decoder.decode(Option.getOrThrow(yield* server.read)), "ping")
            yield* server.write(encoder.encode("pong"))
            assert.strictEqual(decoder.decode(Option.getOrThrow(yield* client.read)), "pong")
          }).pipe(Effect.supervised(supervisor))
          // both ends idle, each bridge waiting for its transport's next bytes
          yield* Effect.sleep("50 millis")
          return yield* supervisor.value
        })

      it.scoped("over the memory pair", () =>
        Effect.map(idleFibers(MemoryTransport.pair()), (fibers) => assert.strictEqual(fibers.length, 0)))

      it.scoped("over TCP", () =>
        Effect.map(idleFibers(NodeTransport.pairForTest), (fibers) => assert.strictEqual(fibers.length, 0)))
    })

    // (node's TLSSocket over a JS Duplex: a plaintext buffer that fills stops its reading, the
    // Duplex paused and resumed, a tick and a `read` more per chunk. Bun and Deno have their own
    // TLS sockets over a Duplex)
    if (onNode) {
      it.scoped("64 KiB writes read as they come never make node:tls stop reading the bridge", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [left, right] = yield* MemoryTransport.pair()
          const server = yield* TlsServer.make(right, { certificate: fixture.server.certifiedKey })
          const [client] = yield* Effect.all([
            TlsClient.connect(left, { serverIdentity: "localhost", database: fixture.pki.database }),
            server.handshake
          ], { concurrency: 2 })
          const pause = Duplex.prototype.pause
          let pauses = 0
          yield* Effect.acquireRelease(
            Effect.sync(() => {
              Duplex.prototype.pause = function(this: Duplex) {
                if (this instanceof TransportDuplex) pauses++
                return pause.call(this)
              }
            }),
            () => Effect.sync(() => (Duplex.prototype.pause = pause))
          )
          const chunk = new Uint8Array(64 * 1024).fill(7)
          const count = 16
          const reading = yield* Effect.fork(Effect.gen(function*() {
            let received = 0
            while (received < count * chunk.length) received += Option.getOrThrow(yield* server.read).length
          }))
          for (let i = 0; i < count; i++) yield* client.write(chunk)
          yield* Fiber.join(reading)
          assert.strictEqual(pauses, 0)
        }))
    }

    describe("trust", () => {
      it.scoped("without a database the client trusts the system store, which does not know the test CA", () =>
        Effect.gen(function*() {
          const { connect } = yield* echoServer()
          const error = yield* Effect.flip(
            Effect.flatMap(connect, (transport) => TlsClient.connect(transport, { serverIdentity: "localhost" }))
          )
          assert.strictEqual(error._tag, "TlsBadCertificateError")
          if (error._tag === "TlsBadCertificateError") {
            assert.deepStrictEqual(CertificateFlags.toArray(error.flags), ["UnknownCa"])
          }
        }))

      it.scoped("a TlsDatabase service in the context replaces the system store", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const { connect } = yield* echoServer()
          const client = yield* Effect.flatMap(connect, (transport) =>
            TlsClient.connect(transport, { serverIdentity: "localhost" })).pipe(
              Effect.provideService(TlsDatabase.TlsDatabase, fixture.pki.database)
            )
          assert.isTrue(CertificateFlags.isEmpty((yield* client.handshake).peerCertificateErrors))
        }))
    })

    describe("the native socket path", () => {
      it.scoped("with requireCloseNotify: false both sides run node:tls on the TCP socket itself", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const { connect } = yield* echoServer({ requireCloseNotify: false })
          const transport = yield* connect
          const socket = Option.getOrThrow(peekSocket(transport))
          const client = yield* TlsClient.connect(transport, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            requireCloseNotify: false
          })
          // the transport's own listeners were detached: node:tls owns the socket (Deno: the bridge
          // reads it, the transport's listener stays)
          assert.strictEqual(socket.listenerCount("data"), onDeno ? 1 : 0)
          const payload = new Uint8Array(1024 * 1024).fill(7)
          yield* Effect.forkScoped(Effect.zipRight(client.write(payload), client.closeWrite))
          const received = yield* Stream.runFold(client.stream, 0, (n, chunk) => n + chunk.length)
          assert.strictEqual(received, payload.length)
          const info = yield* client.handshake
          assert.isTrue(CertificateFlags.isEmpty(info.peerCertificateErrors))
        }))

      it.scoped("bytes pushed back with unread reach node:tls on the native path too (STARTTLS)", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [clientTransport, serverTransport] = yield* NodeTransport.pairForTest
          const serverSocket = Option.getOrThrow(peekSocket(serverTransport))
          let pushedBack = 0
          // a plaintext preamble, then TLS: the server reads too much and pushes the rest back
          const server = Effect.gen(function*() {
            const first = Option.getOrThrow(yield* serverTransport.read)
            const text = decoder.decode(first)
            const end = text.indexOf("\n") + 1
            pushedBack = first.length - end
            if (end < first.length) yield* serverTransport.unread(first.subarray(end))
            const tls = yield* TlsServer.make(serverTransport, {
              certificate: fixture.server.certifiedKey,
              requireCloseNotify: false
            })
            yield* tls.handshake
            // node:tls took the socket, the pushed-back bytes with it (Bun, Deno: the bridge reads it)
            assert.strictEqual(serverSocket.listenerCount("data"), pushedBackNative ? 0 : 1)
            assert.isFalse(Transport.hasPendingInput(serverTransport))
            yield* tls.write(encoder.encode(`upgraded after ${JSON.stringify(text.slice(0, end))}`))
            yield* tls.closeWrite
          })
          // (its own scope: a failed assertion there ends the connection, and the join reports it)
          const served = yield* Effect.fork(Effect.scoped(server))
          assert.isFalse(Transport.hasPendingInput(clientTransport))
          yield* clientTransport.write(encoder.encode("STARTTLS\n"))
          const client = yield* TlsClient.connect(clientTransport, {
            serverIdentity: "localhost",
            database: fixture.pki.database
          })
          const chunks = yield* Effect.either(Stream.runCollect(client.stream))
          yield* Fiber.join(served)
          assert.strictEqual(
            decoder.decode(Buffer.concat(Chunk.toArray(Either.getOrThrow(chunks)))),
            "upgraded after \"STARTTLS\\n\""
          )
          assert.isAbove(pushedBack, 0)
        }))

      it.scoped("a server that reads the ClientHello first (ticket keys, SNI) still runs node:tls on the socket", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const keys = yield* TicketKeys.make(Redacted.make(new Uint8Array(48).fill(9)))
          const [clientTransport, serverTransport] = yield* NodeTransport.pairForTest
          const serverSocket = Option.getOrThrow(peekSocket(serverTransport))
          const server = Effect.gen(function*() {
            const tls = yield* TlsServer.make(serverTransport, {
              sni: { resolve: () => Effect.succeed(Option.some(fixture.server.certifiedKey)) },
              ticketKeys: keys,
              requireCloseNotify: false
            })
            const info = yield* tls.handshake
            assert.deepStrictEqual(info.serverName, Option.some("localhost"))
            assert.strictEqual(serverSocket.listenerCount("data"), pushedBackNative ? 0 : 1)
            yield* tls.write(encoder.encode("hello"))
            yield* tls.closeWrite
          })
          const served = yield* Effect.fork(Effect.scoped(server))
          const client = yield* TlsClient.connect(clientTransport, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            requireCloseNotify: false
          })
          const chunks = yield* Effect.either(Stream.runCollect(client.stream))
          yield* Fiber.join(served)
          assert.strictEqual(decoder.decode(Buffer.concat(Chunk.toArray(Either.getOrThrow(chunks)))), "hello")
        }))
    })

    describe("client certificates through TlsInteraction", () => {
      for (const version of ["TLSv1.3", "TLSv1.2"] satisfies ReadonlyArray<ProtocolVersion>) {
        it.scoped(`connectWithInteraction answers a server that requires a certificate (${version})`, () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const { connect, served } = yield* echoServer({ clientAuth: "required", database: fixture.pki.database })
            const asked = yield* Ref.make<ReadonlyArray<ReadonlyArray<DistinguishedName>>>([])
            const interaction = TlsInteraction.make({
              requestCertificate: (request) =>
                Effect.as(
                  Ref.update(asked, (all) => [...all, request.acceptedCas]),
                  Option.some<CertifiedKey>(fixture.client.certifiedKey)
                )
            })
            const connected = TlsClient.connectWithInteraction(connect, {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              maxVersion: version
            }).pipe(Effect.provide(TlsInteraction.layer(interaction)))
            if (onDeno && version === "TLSv1.3") {
              // the request unread, the interaction is not asked: the server's refusal, typed, no names
              const error = yield* Effect.flip(Effect.flatMap(connected, (client) => client.read))
              assert.strictEqual(error._tag, "TlsCertificateRequiredError")
              if (error._tag === "TlsCertificateRequiredError") assert.deepStrictEqual(error.acceptedCas, [])
              assert.deepStrictEqual(yield* Ref.get(asked), [])
              return
            }
            const client = yield* connected
            yield* client.write(encoder.encode("with a certificate"))
            yield* client.closeWrite
            const chunks = yield* Stream.runCollect(client.stream)
            assert.strictEqual(decoder.decode(Buffer.concat(Chunk.toArray(chunks))), "with a certificate")
            const requests = yield* Ref.get(asked)
            assert.strictEqual(requests.length, 1)
            assert.deepStrictEqual(requests[0]!.map((name) => name.text), [fixture.pki.ca.certificate.subject.text])
            assert.strictEqual(yield* Ref.get(served), 1)
          }))
      }

      it.scoped("without an interaction the server's requirement surfaces as CertificateRequired", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const { connect } = yield* echoServer({ clientAuth: "required", database: fixture.pki.database })
          const error = yield* Effect.flip(Effect.gen(function*() {
            const client = yield* TlsClient.connectWithInteraction(connect, {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              maxVersion: "TLSv1.2"
            })
            return yield* client.read
          }))
          assert.strictEqual(error._tag, "TlsCertificateRequiredError")
        }))

      it.scoped("a server that only requests a certificate keeps the first connection when none is supplied", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const { connect, served } = yield* echoServer({ clientAuth: "requested", database: fixture.pki.database })
          const asked = yield* Ref.make(0)
          const declines = TlsInteraction.make({
            requestCertificate: () => Effect.as(Ref.update(asked, (n) => n + 1), Option.none())
          })
          const client = yield* TlsClient.connectWithInteraction(connect, {
            serverIdentity: "localhost",
            database: fixture.pki.database
          }).pipe(Effect.provide(TlsInteraction.layer(declines)))
          const info = yield* client.handshake
          // (Deno, TLS 1.3: the request unread, the interaction is not asked)
          assert.strictEqual(Option.isSome(info.acceptedCas), !onDeno)
          assert.strictEqual(yield* Ref.get(asked), onDeno ? 0 : 1)
          yield* client.write(encoder.encode("anonymous"))
          yield* client.closeWrite
          assert.strictEqual(yield* Stream.runFold(client.stream, 0, (n, chunk) => n + chunk.length), 9)
          assert.strictEqual(yield* Ref.get(served), 1)
        }))
    })

    describe("AcceptCertificate", () => {
      it.scoped("a policy that takes too long fails with TlsTimeoutError (policyTimeout)", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [clientTransport, serverTransport] = yield* MemoryTransport.pair()
          const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
          yield* Effect.forkScoped(server.handshake)
          const client = yield* TlsClient.make(clientTransport, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            acceptCertificate: () => Effect.as(Effect.never, true),
            policyTimeout: "150 millis"
          })
          const error = yield* Effect.flip(client.handshake)
          assert.strictEqual(error._tag, "TlsTimeoutError")
          if (error._tag === "TlsTimeoutError") assert.strictEqual(error.operation, "accept-certificate")
        }))

      it.scoped("a policy can do I/O and is interrupted with the handshake", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [clientTransport, serverTransport] = yield* MemoryTransport.pair()
          const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
          yield* Effect.forkScoped(server.handshake)
          const started = yield* Deferred.make<void>()
          const interrupted = yield* Deferred.make<void>()
          const policy: AcceptCertificate.Policy = () =>
            Effect.zipRight(Deferred.succeed(started, void 0), Effect.never).pipe(
              Effect.onInterrupt(() => Deferred.succeed(interrupted, void 0))
            )
          const client = yield* TlsClient.make(clientTransport, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            acceptCertificate: policy
          })
          const fiber = yield* Effect.fork(client.handshake)
          yield* Deferred.await(started)
          yield* Fiber.interrupt(fiber)
          yield* Deferred.await(interrupted)
          const error = yield* Effect.flip(client.read)
          assert.strictEqual(error._tag, "TlsGenericError")
        }))

      it.scoped("the policy runs on resumed sessions too (the default SessionCache resumes)", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const calls = yield* Ref.make(0)
          const policy: AcceptCertificate.Policy = (context) =>
            Effect.as(Ref.update(calls, (n) => n + 1), CertificateFlags.isEmpty(context.flags))
          const { connect } = yield* echoServer()
          const resumed: Array<boolean> = []
          for (let i = 0; i < 2; i++) {
            yield* Effect.scoped(Effect.gen(function*() {
              const client = yield* TlsClient.connect(yield* connect, {
                serverIdentity: "localhost",
                database: fixture.pki.database,
                acceptCertificate: policy
              })
              resumed.push((yield* client.handshake).resumed)
              // (a request first: a Bun server sends its TLS 1.3 tickets only with its first data)
              yield* client.write(encoder.encode("x"))
              yield* client.closeWrite
              yield* Stream.runDrain(client.stream)
            }))
          }
          // (a Deno client never resumes: a full handshake, the policy runs as well)
          assert.deepStrictEqual(resumed, [false, !onDeno])
          assert.strictEqual(yield* Ref.get(calls), 2)
        }))
    })

    describe("scope", () => {
      it.scoped("closing the scope of a connection whose peer stopped reading does not hang", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const outer = yield* Scope.make()
          const [clientTransport, serverTransport] = yield* Scope.extend(
            MemoryTransport.pair({ capacity: 1024 }),
            outer
          )
          const server = yield* Scope.extend(
            TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey }),
            outer
          )
          const client = yield* Scope.extend(
            TlsClient.make(clientTransport, { serverIdentity: "localhost", database: fixture.pki.database }),
            outer
          )
          yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
          // the server never reads: fill everything up
          yield* Effect.fork(Effect.forever(client.write(new Uint8Array(16 * 1024))))
          yield* Effect.sleep("200 millis")
          yield* Scope.close(outer, Exit.void).pipe(
            Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("scope close hung") })
          )
        }))
    })
  }
)
