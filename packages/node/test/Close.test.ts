/**
 * Closing (issue 6, defects 3 and 4): a close is decided by the scope's exit and bounded by
 * `closeTimeout` on Effect's Clock. Success sends close_notify (the peer's stream ends
 * cleanly); a failure or an interruption closes abortively (the peer reads `Eof`, never a
 * complete stream); a peer that stops reading never holds a close or a server's shutdown.
 */
import * as TlsClient from "@effect-tls/core/TlsClient"
import type * as TlsError from "@effect-tls/core/TlsError"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type * as Transport from "@effect-tls/core/Transport"
import * as TransportModule from "@effect-tls/core/Transport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"

const hello = new TextEncoder().encode("hello")
const block = new Uint8Array(64 * 1024)

const withinTenSeconds = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string) =>
  Effect.timeoutFail(effect, { duration: "10 seconds", onTimeout: () => new Error(`${what} hung`) })

/** Lets node's own events (sockets, timers) run for a while, whatever the Clock. */
const realPause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

type PairMaker = Effect.Effect<readonly [Transport.Transport, Transport.Transport], unknown, Scope.Scope>

const transports: ReadonlyArray<readonly [string, PairMaker]> = [
  ["memory", MemoryTransport.pair()],
  ["tcp", NodeTransport.pairForTest]
]

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

const layer = Layer.merge(TestPki.layer(), NodeTlsBackend.layer)

describe("close by the scope's exit", () => {
  for (const [name, makePair] of transports) {
    /** A server writes `hello`, then its scope ends with `end`; what does the client read after it? */
    const afterServerEnds = (end: "success" | "interrupt" | "failure") =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const [clientTransport, serverTransport] = yield* makePair
        const wrote = yield* Deferred.make<void>()
        const serverFiber = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
          const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
          yield* server.write(hello)
          yield* Deferred.succeed(wrote, void 0)
          if (end === "success") return
          if (end === "failure") return yield* Effect.fail("the handler failed")
          return yield* Effect.never
        })))
        const client = yield* TlsClient.make(clientTransport, {
          serverIdentity: "localhost",
          database: fixture.pki.database
        })
        const first = yield* client.read
        assert.deepStrictEqual(Option.map(first, (bytes) => new TextDecoder().decode(bytes)), Option.some("hello"))
        yield* Deferred.await(wrote)
        if (end === "interrupt") yield* Fiber.interrupt(serverFiber)
        else yield* Fiber.await(serverFiber)
        return yield* withinTenSeconds(Effect.exit(client.read), "the client's read")
      }).pipe(Effect.provide(layer))

    it.scopedLive(`${name}: a server whose scope succeeds sends close_notify: the client's stream ends cleanly`, () =>
      Effect.gen(function*() {
        const exit = yield* afterServerEnds("success")
        assert.deepStrictEqual(exit, Exit.succeed(Option.none()))
      }))

    it.scopedLive(`${name}: an interrupted server closes abortively: the client reads Eof, not a clean end`, () =>
      Effect.gen(function*() {
        const error = failureOf(yield* afterServerEnds("interrupt")) as TlsError.TlsError | undefined
        assert.strictEqual(error?._tag, "TlsGenericError")
        assert.strictEqual(error?.reason, "Eof")
      }))

    it.scopedLive(`${name}: a failed server closes abortively: the client reads Eof, not a clean end`, () =>
      Effect.gen(function*() {
        const error = failureOf(yield* afterServerEnds("failure")) as TlsError.TlsError | undefined
        assert.strictEqual(error?._tag, "TlsGenericError")
        assert.strictEqual(error?.reason, "Eof")
      }))
  }

  it.scoped("closeTimeout runs on the Clock: a close_notify stuck behind a peer that does not read waits for it", () =>
    Effect.gen(function*() {
      const fixture = yield* TestPki.TestPki
      const [clientTransport, serverTransport] = yield* MemoryTransport.pair({ capacity: 1024 })
      const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
      const handshaken = yield* Deferred.make<void>()
      const closing = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
        const client = yield* TlsClient.make(clientTransport, {
          serverIdentity: "localhost",
          database: fixture.pki.database,
          closeTimeout: "3 seconds"
        })
        yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
        yield* Deferred.succeed(handshaken, void 0)
        // the server never reads: the writer blocks, and is interrupted
        const writer = yield* Effect.fork(Effect.forever(client.write(block)))
        yield* realPause(100)
        yield* Fiber.interrupt(writer)
      })))
      yield* Deferred.await(handshaken)
      yield* realPause(300)
      assert.isTrue(Option.isNone(yield* Fiber.poll(closing)), "the close waits for its close_notify")
      yield* TestClock.adjust("2 seconds")
      yield* realPause(50)
      assert.isTrue(Option.isNone(yield* Fiber.poll(closing)), "not before closeTimeout")
      yield* TestClock.adjust("1 second")
      // the Clock alone ends it: no wall-clock timer of its own (the old one took 5 real seconds)
      const exit = yield* Fiber.await(closing).pipe(
        Effect.raceFirst(Effect.zipRight(realPause(2000), Effect.dieMessage("the close did not follow the Clock")))
      )
      assert.isTrue(Exit.isSuccess(exit))
    }).pipe(Effect.provide(layer)))
})

describe("a peer that stops reading never holds a close (TCP)", () => {
  it.scopedLive("interrupting a writer blocked on backpressure, then closing, completes", () =>
    Effect.gen(function*() {
      const fixture = yield* TestPki.TestPki
      const [clientTransport, serverTransport] = yield* NodeTransport.pairForTest
      const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
      const done = yield* withinTenSeconds(
        Effect.scoped(Effect.gen(function*() {
          const client = yield* TlsClient.make(clientTransport, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            closeTimeout: "1 second"
          })
          yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
          const writer = yield* Effect.fork(Effect.forever(client.write(block)))
          yield* Effect.sleep("300 millis")
          assert.isTrue(Option.isNone(yield* Fiber.poll(writer)), "the writer is blocked")
          yield* withinTenSeconds(Fiber.interrupt(writer), "the writer's interruption")
          return true
        })),
        "the close"
      )
      assert.isTrue(done)
    }).pipe(Effect.provide(layer)))

  it.scopedLive("interrupting the fiber of a blocked writer closes abortively, within the bound", () =>
    Effect.gen(function*() {
      const fixture = yield* TestPki.TestPki
      const [clientTransport, serverTransport] = yield* NodeTransport.pairForTest
      const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
        const client = yield* TlsClient.make(clientTransport, {
          serverIdentity: "localhost",
          database: fixture.pki.database
        })
        yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
        yield* Deferred.succeed(started, void 0)
        return yield* Effect.forever(client.write(block))
      })))
      yield* Deferred.await(started)
      yield* Effect.sleep("300 millis")
      yield* withinTenSeconds(Fiber.interrupt(fiber), "the interruption")
    }).pipe(Effect.provide(layer)))

  for (const ending of ["success", "failure"] as const) {
    it.scopedLive(`bridge: a transport whose half-close never completes holds a close no longer than closeTimeout (${ending})`, () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const [left, right] = yield* MemoryTransport.pair()
        // every read and write works; the FIN never completes (a peer that holds TCP's FIN)
        let halfClosing = 0
        const stuck = TransportModule.make({
          read: left.read,
          write: left.write,
          shutdownWrite: Effect.suspend(() => {
            halfClosing++
            return Effect.ensuring(Effect.never, Effect.sync(() => halfClosing--))
          }),
          description: left.description
        })
        const server = yield* TlsServer.make(right, { certificate: fixture.server.certifiedKey })
        const exit = yield* withinTenSeconds(
          Effect.exit(Effect.scoped(Effect.gen(function*() {
            const client = yield* TlsClient.make(stuck, {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              closeTimeout: "1 second"
            })
            yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
            yield* client.write(hello)
            if (ending === "failure") return yield* Effect.fail("the handler failed" as const)
          }))),
          "the close"
        )
        assert.strictEqual(Exit.isSuccess(exit), ending === "success")
        // nothing the connection started outlives its scope: every half-close it began was interrupted
        yield* realPause(50)
        assert.strictEqual(halfClosing, 0, "a transport half-close outlived the connection's scope")
        // what was written before the close arrived
        const chunk = yield* withinTenSeconds(server.read, "the server's read")
        assert.deepStrictEqual(Option.map(chunk, (bytes) => Array.from(bytes)), Option.some(Array.from(hello)))
      }).pipe(Effect.provide(layer)))
  }

  it.scopedLive("native path: a close_notify stuck behind a peer that does not read ends by closeTimeout", () =>
    Effect.gen(function*() {
      const fixture = yield* TestPki.TestPki
      const [clientTransport, serverTransport] = yield* NodeTransport.pairForTest
      const server = yield* TlsServer.make(serverTransport, {
        certificate: fixture.server.certifiedKey,
        requireCloseNotify: false
      })
      const exit = yield* withinTenSeconds(
        Effect.exit(Effect.scoped(Effect.gen(function*() {
          const client = yield* TlsClient.make(clientTransport, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            requireCloseNotify: false,
            closeTimeout: "1 second"
          })
          yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
          const writer = yield* Effect.fork(Effect.forever(client.write(block)))
          yield* Effect.sleep("300 millis")
          assert.isTrue(Option.isNone(yield* Fiber.poll(writer)), "the writer is blocked")
          yield* Fiber.interrupt(writer)
          // the scope's success: close_notify cannot leave, closeTimeout ends the wait
        }))),
        "the close"
      )
      assert.isTrue(Exit.isSuccess(exit))
      // the server then sees the end of input (no close_notify came through)
      const end = yield* withinTenSeconds(
        Effect.exit(
          Effect.forever(
            Effect.flatMap(server.read, (chunk) => Option.isNone(chunk) ? Effect.fail("end" as const) : Effect.void)
          )
        ),
        "the server's end of input"
      )
      assert.isTrue(Exit.isFailure(end))
    }).pipe(Effect.provide(layer)))

  it.scopedLive("a server's shutdown while its handler writes to a client that does not read completes", () =>
    Effect.gen(function*() {
      const fixture = yield* TestPki.TestPki
      const writing = yield* Deferred.make<void>()
      const serverScope = yield* Effect.scope
      const listener = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
      const serving = yield* Effect.forkIn(
        listener.run((transport) =>
          Effect.scoped(Effect.gen(function*() {
            const server = yield* TlsServer.make(transport, { certificate: fixture.server.certifiedKey })
            yield* server.handshake
            yield* Deferred.succeed(writing, void 0)
            return yield* Effect.forever(server.write(block))
          }))
        ),
        serverScope
      )
      const transport = yield* NodeTransport.connect({ host: "127.0.0.1", port: listener.address.port })
      const client = yield* TlsClient.make(transport, { serverIdentity: "localhost", database: fixture.pki.database })
      yield* client.handshake
      yield* Deferred.await(writing)
      yield* Effect.sleep("300 millis")
      // the client never reads: the handler is blocked; shutting the server down must not wait for it
      yield* withinTenSeconds(Fiber.interrupt(serving), "the server's shutdown")
    }).pipe(Effect.provide(layer)))
})
