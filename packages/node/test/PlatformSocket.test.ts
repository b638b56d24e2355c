/**
 * `PlatformSocket`: TLS connections as `@effect/platform` Sockets, Sockets as Transports.
 *
 * - the transport contract and the TLS contract over Transport -> Socket -> Transport;
 * - TLS over sockets `@effect/platform` makes itself (`Socket.fromTransformStream`);
 * - an application that only speaks `Socket.Socket` (its `run`, its `writer`,
 *   `Socket.toChannel`) served over a TLS connection;
 * - close_notify ends `run` cleanly, truncation and handshake failures are typed socket errors;
 * - backpressure through `toTransport`.
 */
import * as PlatformSocket from "@effect-tls/core/PlatformSocket"
import * as SessionCache from "@effect-tls/core/SessionCache"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import * as TlsError from "@effect-tls/core/TlsError"
import * as Transport from "@effect-tls/core/Transport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import * as TestTls from "@effect-tls/testkit/TestTls"
import * as TlsSuite from "@effect-tls/testkit/TlsSuite"
import { concat } from "@effect-tls/testkit/TransportSuite"
import * as TransportSuite from "@effect-tls/testkit/TransportSuite"
import * as Socket from "@effect/platform/Socket"
import { assert, describe, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const text = (s: string) => encoder.encode(s)

const collectText = (conn: TlsConnection) =>
  Effect.map(Stream.runCollect(conn.stream), (chunks) => decoder.decode(concat(Chunk.toArray(chunks))))

/** Each transport of a pair, presented as a Socket, then as a Transport again. */
const throughSockets = <E>(
  makePair: Effect.Effect<readonly [Transport.Transport, Transport.Transport], E, Scope.Scope>,
  options?: PlatformSocket.ToTransportOptions
): Effect.Effect<readonly [Transport.Transport, Transport.Transport], E, Scope.Scope> =>
  Effect.flatMap(makePair, ([left, right]) =>
    Effect.all([
      PlatformSocket.toTransport(PlatformSocket.fromTransport(left), options),
      PlatformSocket.toTransport(PlatformSocket.fromTransport(right), options)
    ]))

/** Two sockets made by @effect/platform itself, connected by a pair of web TransformStreams. */
const webStreamSockets = Effect.gen(function*() {
  const leftToRight = new TransformStream<Uint8Array, Uint8Array>()
  const rightToLeft = new TransformStream<Uint8Array, Uint8Array>()
  const left = yield* Socket.fromTransformStream(
    Effect.succeed({ readable: rightToLeft.readable, writable: leftToRight.writable })
  )
  const right = yield* Socket.fromTransformStream(
    Effect.succeed({ readable: leftToRight.readable, writable: rightToLeft.writable })
  )
  return [left, right] as const
})

const webStreamTransports = Effect.flatMap(
  webStreamSockets,
  ([left, right]) => Effect.all([PlatformSocket.toTransport(left), PlatformSocket.toTransport(right)])
)

/** Lines of an application that only knows `Socket.Socket`: answers `echo: <line>` per line. */
const lineEchoApp = (socket: Socket.Socket, seen: Array<string>) =>
  Effect.gen(function*() {
    const write = yield* socket.writer
    let pending = ""
    yield* socket.run((bytes) => {
      pending += decoder.decode(bytes, { stream: true })
      const lines = pending.split("\n")
      pending = lines.pop()!
      return Effect.forEach(lines, (line) => {
        seen.push(line)
        return write(`echo: ${line}\n`)
      }, { discard: true })
    })
  }).pipe(Effect.scoped) // releasing the writer sends close_notify

// ---- conformance ----------------------------------------------------------------------------------

TransportSuite.run(
  "Transport -> PlatformSocket -> Transport (memory pair)",
  throughSockets(MemoryTransport.pair({ capacity: 16 * 1024 }), { highWaterMark: 16 * 1024 }),
  // memory buffer + highWaterMark + the chunk read while the handler waits, per side
  { maxBufferedBytes: 4 * 16 * 1024 + 64 * 1024 }
)

TlsSuite.run("node engine over Transport -> PlatformSocket -> Transport", {
  makePair: throughSockets(MemoryTransport.pair()),
  backend: NodeTlsBackend.layer,
  // (Deno 2.9 logs no keys: a client cannot decrypt a TLS 1.3 CertificateRequest)
  tls13AcceptedCas: typeof (globalThis as any).Deno !== "object"
})

// ---- interop ---------------------------------------------------------------------------------------

// every test starts with a full handshake: resumption is not under test here
const env = Layer.mergeAll(TestPki.layer(), NodeTlsBackend.layer, SessionCache.layerDisabled)

layer(env, { timeout: 60_000, excludeTestServices: true })(
  "PlatformSocket",
  (it) => {
    describe("toTransport", () => {
      it.scoped("TLS over sockets made by @effect/platform (web streams)", () =>
        Effect.gen(function*() {
          const [clientTransport, serverTransport] = yield* webStreamTransports
          assert.strictEqual(clientTransport.description.kind, "platform-socket")
          const { client, server } = yield* TestTls.makePair({
            transports: Effect.succeed([clientTransport, serverTransport] as const)
          })
          const info = yield* client.handshake
          assert.strictEqual(info.protocolVersion, "TLSv1.3")
          for (const word of ["ping", "again"]) {
            yield* client.write(text(word))
            const got = yield* server.read
            assert.strictEqual(decoder.decode(Option.getOrThrow(got)), word)
            yield* server.write(text(`${word}!`))
            assert.strictEqual(decoder.decode(Option.getOrThrow(yield* client.read)), `${word}!`)
          }
          // a bulk transfer, then close_notify both ways
          const payload = "y".repeat(300_000)
          const received = yield* Effect.fork(collectText(server))
          yield* client.write(text(payload))
          yield* client.closeWrite
          assert.strictEqual((yield* Fiber.join(received)).length, payload.length)
        }))

      it.scoped("the client's transport is a Socket: echo with half-close", () =>
        Effect.gen(function*() {
          const [clientRaw, serverTransport] = yield* MemoryTransport.pair({ chunkSize: 1000 })
          const clientTransport = yield* PlatformSocket.toTransport(PlatformSocket.fromTransport(clientRaw))
          const { client, server } = yield* TestTls.makePair({
            transports: Effect.succeed([clientTransport, serverTransport] as const)
          })
          yield* Effect.forkScoped(server.stream.pipe(Stream.run(server.sink), Effect.zipRight(server.closeWrite)))
          const payload = "hello over a platform socket ".repeat(5000)
          yield* Effect.forkScoped(Effect.zipRight(client.write(text(payload)), client.closeWrite))
          assert.strictEqual(yield* collectText(client), payload)
        }))

      it.scoped("backpressure: a reader that stops stops the peer, memory stays bounded", () =>
        Effect.gen(function*() {
          const capacity = 8 * 1024
          const highWaterMark = 16 * 1024
          const { control, left, right: rightRaw } = yield* MemoryTransport.pairWithControl({ capacity })
          const right = yield* PlatformSocket.toTransport(PlatformSocket.fromTransport(rightRaw), { highWaterMark })
          const total = 1024 * 1024
          const writer = yield* Effect.fork(
            Effect.zipRight(left.write(new Uint8Array(total).fill(7)), left.shutdownWrite)
          )
          yield* Effect.sleep("200 millis")
          assert.isTrue(Option.isNone(yield* Fiber.poll(writer)), "the writer should be blocked")
          const stats = yield* control.stats("leftToRight")
          // the memory buffer, the high-water mark and the chunk read while the handler waits
          assert.isAtMost(stats.written, capacity + highWaterMark + 2 * capacity)
          const got = yield* TransportSuite.readAll(right)
          yield* Fiber.join(writer)
          assert.strictEqual(got.length, total)
          assert.isTrue(got.every((byte) => byte === 7))
        }))

      it.scoped("a foreign socket's run ended: writes fail instead of hanging", () =>
        Effect.gen(function*() {
          const [left, right] = yield* webStreamTransports
          yield* left.write(text("bye"))
          yield* left.shutdownWrite // releases the writer: the web stream closes
          assert.strictEqual(decoder.decode(yield* TransportSuite.readAll(right)), "bye")
          const error = yield* Effect.flip(right.write(text("too late")))
          assert.isTrue(Transport.isTransportError(error))
          assert.strictEqual(error.reason, "Write")
        }))

      it.scoped("a failing run fails reads with reason Read and the SocketError as cause", () =>
        Effect.gen(function*() {
          const failing: Socket.Socket = {
            [Socket.TypeId]: Socket.TypeId,
            run: () => Effect.fail(new Socket.SocketGenericError({ reason: "Read", cause: "boom" })),
            runRaw: () => Effect.fail(new Socket.SocketGenericError({ reason: "Read", cause: "boom" })),
            writer: Effect.succeed(() => Effect.void)
          }
          const transport = yield* PlatformSocket.toTransport(failing)
          const error = yield* Effect.flip(transport.read)
          assert.strictEqual(error.reason, "Read")
          assert.isTrue(Socket.isSocketError(error.cause))
        }))
    })

    describe("fromTlsConnection", () => {
      it.scoped("an application that only speaks Socket.Socket, served over TLS", () =>
        Effect.gen(function*() {
          const { client, server } = yield* TestTls.makePair()
          const seen: Array<string> = []
          const app = yield* Effect.fork(lineEchoApp(PlatformSocket.fromTlsConnection(server), seen))
          // request / response, then pipelined lines
          yield* client.write(text("hello\n"))
          assert.strictEqual(decoder.decode(Option.getOrThrow(yield* client.read)), "echo: hello\n")
          yield* client.write(text("one\ntw"))
          yield* client.write(text("o\nthree\n"))
          yield* client.closeWrite // close_notify: the app's run ends cleanly
          assert.strictEqual(yield* collectText(client), "echo: one\necho: two\necho: three\n")
          assert.isTrue(Exit.isSuccess(yield* Fiber.await(app)))
          assert.deepStrictEqual(seen, ["hello", "one", "two", "three"])
        }))

      it.scoped("Socket.toChannel over TLS: a request stream in, the replies out", () =>
        Effect.gen(function*() {
          const { client, server } = yield* TestTls.makePair()
          // the server upper-cases everything until close_notify, then sends its own
          yield* Effect.forkScoped(
            server.stream.pipe(
              Stream.map((bytes) => text(decoder.decode(bytes).toUpperCase())),
              Stream.run(server.sink),
              Effect.zipRight(server.closeWrite)
            )
          )
          const replies = yield* Stream.make("abc", "def").pipe(
            Stream.map(text),
            Stream.pipeThroughChannel(Socket.toChannel(PlatformSocket.fromTlsConnection(client))),
            Stream.decodeText(),
            Stream.mkString
          )
          assert.strictEqual(replies, "ABCDEF")
        }))

      it.scoped("a CloseEvent sends close_notify and reading goes on", () =>
        Effect.gen(function*() {
          const { client, server } = yield* TestTls.makePair()
          const socket = PlatformSocket.fromTlsConnection(client)
          assert.isTrue(PlatformSocket.supportsHalfClose(socket))
          const write = yield* socket.writer
          yield* write("question?") // strings are sent as UTF-8
          yield* write(new Socket.CloseEvent())
          assert.strictEqual(yield* collectText(server), "question?")
          yield* server.write(text("answer"))
          yield* server.closeWrite
          const received: Array<string> = []
          yield* socket.run((bytes) => {
            received.push(decoder.decode(bytes))
          })
          assert.strictEqual(received.join(""), "answer")
        }))

      it.scoped("close_notify ends run cleanly, after the handler's effects", () =>
        Effect.gen(function*() {
          const { client, server } = yield* TestTls.makePair()
          const handled = yield* Deferred.make<void>()
          yield* client.write(text("last"))
          yield* client.closeWrite
          let opened = false
          yield* PlatformSocket.fromTlsConnection(server).run(
            (bytes) =>
              Effect.sleep("50 millis").pipe(
                Effect.zipRight(Deferred.succeed(handled, undefined)),
                Effect.as(bytes)
              ),
            { onOpen: Effect.sync(() => void (opened = true)) }
          )
          assert.isTrue(opened)
          assert.isTrue(yield* Deferred.isDone(handled), "run returned before its handler finished")
        }))

      it.scoped("a handler's failure fails run", () =>
        Effect.gen(function*() {
          const { client, server } = yield* TestTls.makePair()
          yield* client.write(text("x"))
          const error = yield* Effect.flip(
            PlatformSocket.fromTlsConnection(server).run(() => Effect.fail("handler failed" as const))
          )
          assert.strictEqual(error, "handler failed")
        }))

      it.scoped("truncation (no close_notify) fails run with reason Read and TlsError Eof", () =>
        Effect.gen(function*() {
          const { client, clientTransport, server } = yield* TestTls.makePair()
          yield* client.write(text("partial"))
          yield* client.flush // the record reached the transport
          yield* clientTransport.shutdownWrite // FIN without close_notify
          const received: Array<string> = []
          const error = yield* Effect.flip(
            PlatformSocket.fromTlsConnection(server).run((bytes) => {
              received.push(decoder.decode(bytes))
            })
          )
          assert.strictEqual(received.join(""), "partial")
          assert.isTrue(Socket.isSocketError(error))
          assert.strictEqual(error.reason, "Read")
          assert.isTrue(TlsError.isTlsError(error.cause))
          assert.strictEqual((error.cause as TlsError.TlsError).reason, "Eof")
        }))

      it.scoped("a failed handshake fails run with reason Open and the TlsError", () =>
        Effect.gen(function*() {
          const { client, server } = yield* TestTls.makePair({
            handshake: false,
            client: { serverIdentity: "wrong.example" }
          })
          yield* Effect.forkScoped(Effect.ignore(server.handshake))
          const error = yield* Effect.flip(PlatformSocket.fromTlsConnection(client).run(() => {}))
          assert.strictEqual(error.reason, "Open")
          assert.isTrue(TlsError.isTlsError(error.cause))
          assert.strictEqual((error.cause as TlsError.TlsError).reason, "BadCertificate")
        }))

      it.scoped("a TLS connection as a Socket as a Transport: TLS inside TLS", () =>
        Effect.gen(function*() {
          const outer = yield* TestTls.makePair()
          const inner = yield* TestTls.makePair({
            transports: Effect.all([
              PlatformSocket.toTransport(PlatformSocket.fromTlsConnection(outer.client)),
              PlatformSocket.toTransport(PlatformSocket.fromTlsConnection(outer.server))
            ])
          })
          yield* Effect.forkScoped(
            inner.server.stream.pipe(Stream.run(inner.server.sink), Effect.zipRight(inner.server.closeWrite))
          )
          yield* inner.client.write(text("nested"))
          yield* inner.client.closeWrite
          assert.strictEqual(yield* collectText(inner.client), "nested")
        }))
    })
  }
)
