import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsError from "@effect-tls/core/TlsError"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type * as Transport from "@effect-tls/core/Transport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import { assert, describe, layer } from "@effect/vitest"
import type { Duration } from "effect"
import {
  Cause,
  Chunk,
  Deferred,
  Effect,
  Either,
  Exit,
  Fiber,
  HashMap,
  Layer,
  Logger,
  Option,
  Ref,
  Schedule,
  Scope,
  Stream
} from "effect"
import * as Net from "node:net"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTlsServer from "../src/NodeTlsServer.js"
import * as NodeTransport from "../src/NodeTransport.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const eventually = <A>(check: Effect.Effect<A>, until: (a: A) => boolean) =>
  Effect.repeat(check, { until, schedule: Schedule.spaced("10 millis") }).pipe(
    Effect.zipRight(check),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("condition not reached in 10 s") })
  )

const echo = (tls: TlsServer.TlsServerConnection) =>
  tls.stream.pipe(Stream.run(tls.sink), Effect.zipRight(tls.closeWrite))

/** One TLS client: sends `message`, half-closes, returns what came back. */
const roundTrip = (
  transport: Effect.Effect<Transport.Transport, unknown, Scope.Scope>,
  message: string,
  handshakeTimeout: Duration.DurationInput = "30 seconds"
) =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const conn = yield* TlsClient.connect(yield* transport, {
      serverIdentity: "localhost",
      database: fixture.pki.database,
      handshakeTimeout
    })
    yield* conn.write(encoder.encode(message))
    yield* conn.closeWrite
    const chunks = yield* Stream.runCollect(conn.stream)
    return Chunk.toArray(chunks).map((chunk) => decoder.decode(chunk)).join("")
  }).pipe(Effect.scoped)

const tcp = (port: number) => NodeTransport.connect({ host: "127.0.0.1", port, timeout: "10 seconds" })
const slowTcp = (port: number) => NodeTransport.connect({ host: "127.0.0.1", port, timeout: "120 seconds" })

interface Logged {
  readonly level: string
  readonly message: unknown
  readonly annotations: Record<string, unknown>
  readonly cause: string
}

const captureLogs = Effect.sync(() => {
  const entries: Array<Logged> = []
  const logger = Logger.make<unknown, void>(({ annotations, cause, logLevel, message }) => {
    entries.push({
      level: logLevel.label,
      message,
      annotations: Object.fromEntries(HashMap.toEntries(annotations)),
      cause: Cause.pretty(cause)
    })
  })
  return { logs: Effect.sync(() => [...entries]), layer: Logger.replace(Logger.defaultLogger, logger) }
})

/** A raw TCP peer that misbehaves. */
const hostile = (port: number, kind: number) =>
  Effect.async<void>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.on("error", () => {})
    // (read and drop what the server answers, or 'end' never comes)
    socket.resume()
    socket.on("close", () => resume(Effect.void))
    socket.on("connect", () => {
      switch (kind % 4) {
        case 0: // not TLS at all
          socket.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
          break
        case 1: // a ClientHello cut short, then silence until the server gives up
          socket.write(Buffer.from([22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3, 1, 2, 3]))
          break
        case 2: // a record header announcing far too much
          socket.write(Buffer.from([22, 3, 3, 0xff, 0xff, 1]))
          break
        case 3: // connect and reset
          socket.resetAndDestroy()
          break
      }
    })
    return Effect.sync(() => socket.destroy())
  })

layer(Layer.merge(TestPki.layer(), NodeTlsBackend.layer), { excludeTestServices: true, timeout: 180_000 })(
  "TlsServer as a Layer",
  (it) => {
    describe("TCP (NodeTlsServer)", () => {
      it.scoped("serves a handler per connection through TlsServer.serve for the layer's lifetime", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const context = yield* Layer.build(
            Layer.merge(
              TlsServer.serve(echo),
              Layer.empty
            ).pipe(
              Layer.provideMerge(NodeTlsServer.layer({ certificate: fixture.server.certifiedKey })),
              Layer.provide(NodeTlsBackend.layer)
            )
          )
          const server = yield* Effect.provide(TlsServer.TlsServer, context)
          assert.strictEqual(server.address._tag, "TcpAddress")
          const port = (server.address as SocketServer.TcpAddress).port
          const answers = yield* Effect.forEach(
            ["a", "b", "c"],
            (message) => roundTrip(tcp(port), `hello ${message}`),
            { concurrency: "unbounded" }
          )
          assert.deepStrictEqual(answers, ["hello a", "hello b", "hello c"])
        }))

      it.scoped("a failing handler is logged at Warning with its cause and remote address; others go on", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const { layer: loggerLayer, logs } = yield* captureLogs
          const server = yield* NodeTlsServer.make({ certificate: fixture.server.certifiedKey })
          const port = (server.address as SocketServer.TcpAddress).port
          yield* Effect.forkScoped(
            server.run((tls) =>
              Effect.gen(function*() {
                const first = yield* tls.read
                const text = Option.match(first, { onNone: () => "", onSome: (bytes) => decoder.decode(bytes) })
                if (text.startsWith("fail")) return yield* Effect.fail(new Error("the handler gave up"))
                if (text.startsWith("die")) return yield* Effect.die("a defect in the handler")
                yield* tls.write(encoder.encode(text))
                yield* echo(tls)
              })
            ).pipe(Effect.provide(loggerLayer))
          )
          const failed = yield* Effect.exit(roundTrip(tcp(port), "fail please"))
          const died = yield* Effect.exit(roundTrip(tcp(port), "die please"))
          assert.isTrue(Exit.isFailure(failed) || Exit.isSuccess(failed))
          assert.isTrue(Exit.isFailure(died) || Exit.isSuccess(died))
          assert.strictEqual(yield* roundTrip(tcp(port), "still here"), "still here")
          const entries = yield* eventually(logs, (entries) => entries.length >= 2)
          const warnings = entries.filter((entry) => entry.level === "WARN")
          assert.strictEqual(warnings.length, 2)
          assert.include(warnings[0]!.cause, "the handler gave up")
          assert.include(warnings[1]!.cause, "a defect in the handler")
          for (const warning of warnings) {
            assert.match(String(warning.annotations.remote), /^127\.0\.0\.1:\d+$/)
            assert.strictEqual(warning.annotations.module, "TlsServer")
          }
        }))

      it.scoped("the log level is the caller's choice; handshake failures log at Debug by default", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const { layer: loggerLayer, logs } = yield* captureLogs
          const server = yield* NodeTlsServer.make({
            certificate: fixture.server.certifiedKey,
            handlerFailureLogLevel: "Error",
            handshakeFailureLogLevel: "Info"
          })
          const port = (server.address as SocketServer.TcpAddress).port
          yield* Effect.forkScoped(
            server.run(() => Effect.fail("no thanks")).pipe(Effect.provide(loggerLayer))
          )
          yield* Effect.exit(roundTrip(tcp(port), "x"))
          yield* hostile(port, 0)
          const entries = yield* eventually(logs, (entries) => entries.length >= 2)
          assert.deepStrictEqual(entries.map((entry) => entry.level).sort(), ["ERROR", "INFO"])
        }))

      it.scoped(
        "1,000 concurrent good clients with 100 hostile ones mixed in are all served",
        () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const server = yield* NodeTlsServer.make({
              certificate: fixture.server.certifiedKey,
              // generous: 1,100 handshakes share two cores with the clients; the stalled peers wait it out
              handshakeTimeout: "10 seconds"
            })
            const port = (server.address as SocketServer.TcpAddress).port
            yield* Effect.forkScoped(server.run(echo))
            const good = Array.from({ length: 1000 }, (_, i) => ({ good: true, i }))
            const bad = Array.from({ length: 100 }, (_, i) => ({ good: false, i }))
            // hostile clients spread among the good ones
            const all = good.flatMap((client, i) => i % 10 === 0 ? [bad[i / 10]!, client] : [client])
            const started = Date.now()
            const results = yield* Effect.forEach(
              all,
              (client) =>
                client.good
                  ? Effect.either(roundTrip(slowTcp(port), `client ${client.i}`, "120 seconds")).pipe(
                    Effect.map((result) => result._tag === "Right" && result.right === `client ${client.i}`)
                  )
                  : Effect.as(hostile(port, client.i), true),
              { concurrency: "unbounded" }
            )
            yield* Effect.logDebug(`${all.length} clients in ${Date.now() - started} ms`)
            const served = results.filter((ok, index) => ok && all[index]!.good).length
            assert.strictEqual(served, good.length)
            yield* eventually(server.connections, (n) => n === 0)
          }),
        150_000
      )

      it.scoped("maxConnections: excess connections are queued until a slot frees", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const server = yield* NodeTlsServer.make({ certificate: fixture.server.certifiedKey, maxConnections: 1 })
          const port = (server.address as SocketServer.TcpAddress).port
          const release = yield* Deferred.make<void>()
          const started = yield* Ref.make(0)
          yield* Effect.forkScoped(server.run((tls) =>
            Effect.gen(function*() {
              const n = yield* Ref.updateAndGet(started, (n) => n + 1)
              if (n === 1) yield* Deferred.await(release)
              yield* echo(tls)
            })
          ))
          const first = yield* Effect.fork(roundTrip(tcp(port), "first"))
          yield* eventually(Ref.get(started), (n) => n === 1)
          const second = yield* Effect.fork(roundTrip(tcp(port), "second"))
          // the second is connected at TCP level but not served while the first holds the slot
          yield* Effect.sleep("300 millis")
          assert.strictEqual(yield* Ref.get(started), 1)
          assert.isTrue(Option.isNone(yield* Fiber.poll(second)))
          yield* Deferred.succeed(release, void 0)
          assert.strictEqual(yield* Fiber.join(first), "first")
          assert.strictEqual(yield* Fiber.join(second), "second")
        }))

      it.scoped("beyond maxQueued, connections are refused at once", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const listener = yield* NodeTlsServer.listener({ maxQueued: 0 })
          const server = yield* TlsServer.makeServer(listener, {
            certificate: fixture.server.certifiedKey,
            maxConnections: 1
          })
          const port = (server.address as SocketServer.TcpAddress).port
          const release = yield* Deferred.make<void>()
          yield* Effect.forkScoped(server.run((tls) => Effect.zipRight(Deferred.await(release), echo(tls))))
          const first = yield* Effect.fork(roundTrip(tcp(port), "first"))
          yield* eventually(server.connections, (n) => n === 1)
          const refused = yield* Effect.exit(roundTrip(tcp(port), "second"))
          assert.isTrue(Exit.isFailure(refused))
          assert.strictEqual(yield* listener.refused, 1)
          yield* Deferred.succeed(release, void 0)
          assert.strictEqual(yield* Fiber.join(first), "first")
        }))

      it.scoped("the listener's accept: one waiting accept takes a connection, an interrupted one leaves no waiter", () =>
        Effect.gen(function*() {
          const listener = yield* NodeTlsServer.listener({ maxQueued: 0 })
          const port = (listener.address as SocketServer.TcpAddress).port
          const raw = () =>
            Effect.acquireRelease(
              Effect.sync(() => Net.connect(port, "127.0.0.1").on("error", () => {})),
              (socket) => Effect.sync(() => socket.destroy())
            )
          // maxQueued 0: a connection is queued only for an accept that waits
          const waiting = yield* Effect.fork(Effect.scoped(listener.accept))
          yield* Effect.sleep("50 millis")
          yield* raw()
          assert.isTrue(Exit.isSuccess(yield* Fiber.await(waiting)))
          assert.strictEqual(yield* listener.refused, 0)
          // an interrupted accept no longer counts as waiting: the next connection is refused
          const interrupted = yield* Effect.fork(Effect.scoped(listener.accept))
          yield* Effect.sleep("50 millis")
          yield* Fiber.interrupt(interrupted)
          yield* raw()
          assert.strictEqual(yield* eventually(listener.refused, (n) => n === 1), 1)
          // stopping wakes a waiting accept with Closed
          const last = yield* Effect.fork(Effect.scoped(listener.accept))
          yield* Effect.sleep("50 millis")
          yield* listener.stopAccepting
          const stopped = yield* Fiber.await(last)
          assert.isTrue(Exit.isFailure(stopped))
          const failure = Exit.isFailure(stopped)
            ? Option.getOrUndefined(Cause.failureOption(stopped.cause))
            : undefined
          assert.strictEqual(failure?.reason, "Closed")
        }))

      it.scoped("shutdown: stop accepting, live connections finish within drainTimeout", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const serverScope = yield* Scope.make()
          const server = yield* Scope.extend(
            NodeTlsServer.make({ certificate: fixture.server.certifiedKey, drainTimeout: "10 seconds" }),
            serverScope
          )
          const port = (server.address as SocketServer.TcpAddress).port
          const inHandler = yield* Deferred.make<void>()
          yield* Scope.extend(
            Effect.forkScoped(server.run((tls) =>
              Effect.gen(function*() {
                yield* Deferred.succeed(inHandler, void 0)
                // answers only after the client spoke, which it does once shutdown began
                yield* echo(tls)
              })
            )),
            serverScope
          )
          const client = yield* Effect.gen(function*() {
            const conn = yield* TlsClient.connect(yield* tcp(port), {
              serverIdentity: "localhost",
              database: fixture.pki.database
            })
            yield* conn.handshake
            return conn
          })
          yield* Deferred.await(inHandler)
          const closing = yield* Effect.fork(Scope.close(serverScope, Exit.void))
          // no new connection is accepted once shutdown began
          yield* eventually(
            Effect.exit(Effect.scoped(tcp(port))),
            Exit.isFailure
          )
          yield* client.write(encoder.encode("late words"))
          yield* client.closeWrite
          const answer = Chunk.toArray(yield* Stream.runCollect(client.stream)).map((b) => decoder.decode(b)).join("")
          assert.strictEqual(answer, "late words")
          yield* Fiber.join(closing)
        }))

      it.scoped("shutdown: a connection still live after drainTimeout is closed abortively", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const serverScope = yield* Scope.make()
          const server = yield* Scope.extend(
            NodeTlsServer.make({ certificate: fixture.server.certifiedKey, drainTimeout: "200 millis" }),
            serverScope
          )
          const port = (server.address as SocketServer.TcpAddress).port
          const inHandler = yield* Deferred.make<void>()
          yield* Scope.extend(
            Effect.forkScoped(server.run(() => Effect.zipRight(Deferred.succeed(inHandler, void 0), Effect.never))),
            serverScope
          )
          const client = yield* TlsClient.connect(yield* tcp(port), {
            serverIdentity: "localhost",
            database: fixture.pki.database
          })
          yield* Deferred.await(inHandler)
          yield* Scope.close(serverScope, Exit.void)
          // the stream ends (bounded), and not cleanly: close_notify is withheld, so the client
          // sees a truncation (Eof; a reset would be a typed Transport error)
          const ended = yield* Stream.runDrain(client.stream).pipe(
            Effect.timeoutFail({
              duration: "10 seconds",
              onTimeout: () => new Error("the stream did not end in 10 s")
            }),
            Effect.either
          )
          assert.isTrue(Either.isLeft(ended), "the stream ended cleanly: no truncation seen")
          const error = Either.getLeft(ended).pipe(Option.getOrThrow)
          assert.isTrue(TlsError.isTlsError(error), String(error))
          const reason = (error as TlsError.TlsError).reason
          assert.isTrue(reason === "Eof" || reason === "Transport", `a truncation, not ${reason}`)
        }))

      it.scoped("as an @effect/platform SocketServer: Socket-based code serves over TLS unchanged", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const context = yield* Layer.build(
            NodeTlsServer.layerSocketServer({ certificate: fixture.server.certifiedKey }).pipe(
              Layer.provide(NodeTlsBackend.layer)
            )
          )
          const socketServer = yield* Effect.provide(SocketServer.SocketServer, context)
          // plain @effect/platform code: knows nothing of TLS
          const shout = (socket: Socket.Socket) =>
            Effect.gen(function*() {
              const write = yield* socket.writer
              yield* socket.run((bytes) => write(decoder.decode(bytes).toUpperCase()))
              yield* write(new Socket.CloseEvent())
            }).pipe(Effect.scoped)
          yield* Effect.forkScoped(socketServer.run<never, Socket.SocketError, void>(shout))
          const port = (socketServer.address as SocketServer.TcpAddress).port
          assert.strictEqual(yield* roundTrip(tcp(port), "quiet words"), "QUIET WORDS")
        }))
    })

    describe("TlsClient.connectTcp", () => {
      it.scoped("connects to host:port, the identity (and SNI) taken from host", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const other = yield* fixture.pki.issueServer({ dnsNames: ["other.test"] })
          const good = yield* NodeTlsServer.make({ certificate: fixture.server.certifiedKey })
          const wrong = yield* NodeTlsServer.make({ certificate: other.certifiedKey, handlerFailureLogLevel: "None" })
          yield* Effect.forkScoped(good.run(echo))
          yield* Effect.forkScoped(wrong.run(echo))
          const goodPort = (good.address as SocketServer.TcpAddress).port
          const conn = yield* TlsClient.connectTcp({
            host: "localhost",
            port: goodPort,
            database: fixture.pki.database
          })
          const info = yield* conn.handshake
          assert.strictEqual(Option.getOrNull(info.serverIdentity), "localhost")
          assert.strictEqual(Option.getOrNull(info.serverName), "localhost")
          const refused = yield* Effect.flip(TlsClient.connectTcp({
            host: "localhost",
            port: (wrong.address as SocketServer.TcpAddress).port,
            database: fixture.pki.database
          }))
          assert.strictEqual(refused._tag, "TlsBadCertificateError")
          const noServer = yield* Effect.flip(TlsClient.connectTcp({ host: "127.0.0.1", port: 1 }))
          assert.strictEqual(noServer._tag, "TlsTransportError")
        }))
    })

    describe("memory (TransportServer.fromQueue)", () => {
      it.scoped("serves connections in memory, a failing one affecting no other", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const memory = yield* MemoryTransport.listener()
          const server = yield* TlsServer.makeServer(memory.server, {
            certificate: fixture.server.certifiedKey,
            handlerFailureLogLevel: "None"
          })
          yield* Effect.forkScoped(server.run((tls) =>
            Effect.flatMap(tls.read, (first): Effect.Effect<void, unknown> =>
              Option.isSome(first) && decoder.decode(first.value) === "boom"
                ? Effect.fail("boom")
                : Effect.zipRight(
                  tls.write(first.pipe(Option.getOrElse(() =>
                    new Uint8Array()
                  ))),
                  echo(tls)
                ))
          ))
          const results = yield* Effect.forEach(
            ["one", "boom", "two", "three"],
            (message) =>
              Effect.either(roundTrip(memory.connect, message)),
            { concurrency: "unbounded" }
          )
          // (the failed one gets no echo; whether it sees a truncation depends on the engine's abortive close)
          assert.deepStrictEqual(results.map((result) => Either.getOrElse(result, () => "")), [
            "one",
            "",
            "two",
            "three"
          ])
        }))
    })
  }
)
