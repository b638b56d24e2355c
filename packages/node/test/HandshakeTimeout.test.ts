/**
 * Issue 8: the handshake timeout forks no fiber on the live clock (a timer aborts the engine,
 * whose pending handshake then fails), and is `Effect.timeoutFail` on any other clock. Either
 * way a handshake that outlasts `handshakeTimeout` fails with `TlsTimeoutError` (operation
 * "handshake"), leaves no fiber behind, and an async policy is bounded by it too.
 */
import * as TlsClient from "@effect-tls/core/TlsClient"
import type { TlsError } from "@effect-tls/core/TlsError"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, it, layer } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Layer, Option, Schedule, Supervisor, TestClock } from "effect"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"

const isHandshakeTimeout = (error: TlsError) => {
  assert.strictEqual(error._tag, "TlsTimeoutError", error.message)
  if (error._tag === "TlsTimeoutError") assert.strictEqual(error.operation, "handshake")
}

/** No fiber of the connection is left once its scope closed (waits a little for teardown). */
const noFiberLeft = (supervisor: Supervisor.Supervisor<ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>>) =>
  Effect.map(supervisor.value, (fibers) => fibers.length).pipe(
    Effect.repeat({ until: (n) => n === 0, schedule: Schedule.spaced("20 millis"), times: 100 }),
    Effect.map((n) => assert.strictEqual(n, 0, "a fiber of the connection outlived its scope"))
  )

const env = Layer.merge(TestPki.layer(), NodeTlsBackend.layer)

describe("handshake timeout on the TestClock", () => {
  it.scoped("TestClock.adjust past handshakeTimeout fails the handshake with TlsTimeoutError", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const [left] = yield* MemoryTransport.pair()
      const client = yield* TlsClient.make(left, {
        serverIdentity: "localhost",
        database: pki.database,
        handshakeTimeout: "5 seconds"
      })
      const fiber = yield* Effect.fork(Effect.flip(client.handshake))
      // until the handshake's timer is set
      yield* Effect.repeat(Effect.zipLeft(TestClock.sleeps(), Effect.yieldNow()), {
        until: (sleeps) => Chunk.size(sleeps) > 0
      })
      yield* TestClock.adjust("4 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "timed out before its time")
      yield* TestClock.adjust("2 seconds")
      isHandshakeTimeout(yield* Fiber.join(fiber))
    }).pipe(Effect.provide(NodeTlsBackend.layer)))
})

layer(env, { excludeTestServices: true, timeout: 60_000 })("handshake timeout on the live clock", (it) => {
  it.scoped("a client whose server never answers fails with TlsTimeoutError, no fiber left", () =>
    Effect.gen(function*() {
      const fixture = yield* TestPki.TestPki
      const [left] = yield* MemoryTransport.pair()
      const supervisor = yield* Supervisor.track
      const error = yield* Effect.scoped(Effect.flatMap(
        TlsClient.make(left, { serverIdentity: "localhost", database: fixture.pki.database, handshakeTimeout: 150 }),
        (client) => Effect.flip(client.handshake)
      )).pipe(Effect.supervised(supervisor))
      isHandshakeTimeout(error)
      yield* noFiberLeft(supervisor)
    }))

  const silentClient = (options: Partial<TlsServer.ServerOptions>) =>
    Effect.gen(function*() {
      const fixture = yield* TestPki.TestPki
      const [, right] = yield* MemoryTransport.pair()
      const supervisor = yield* Supervisor.track
      const error = yield* Effect.scoped(Effect.flatMap(
        TlsServer.make(right, { certificate: fixture.server.certifiedKey, handshakeTimeout: 150, ...options }),
        (server) => Effect.flip(server.handshake)
      )).pipe(Effect.supervised(supervisor))
      isHandshakeTimeout(error)
      yield* noFiberLeft(supervisor)
    })

  it.scoped("a server whose client sends nothing fails with TlsTimeoutError, no fiber left", () => silentClient({}))

  it.scoped("the same for a server that reads the ClientHello first (selectAlpn)", () =>
    silentClient({ selectAlpn: () => Effect.succeed(Option.none()) }))

  it.scoped("an async policy slower than the handshake timeout ends with it, not with policyTimeout", () =>
    Effect.gen(function*() {
      const fixture = yield* TestPki.TestPki
      const [left, right] = yield* MemoryTransport.pair()
      yield* Effect.forkScoped(Effect.ignore(TlsServer.accept(right, { certificate: fixture.server.certifiedKey })))
      const client = yield* TlsClient.make(left, {
        serverIdentity: "localhost",
        database: fixture.pki.database,
        acceptCertificate: () => Effect.as(Effect.never, true),
        handshakeTimeout: "300 millis",
        policyTimeout: "1 minute"
      })
      isHandshakeTimeout(yield* Effect.flip(client.handshake))
    }))

  it.scoped("a handshake within its time succeeds, and its timer does not fire later", () =>
    Effect.gen(function*() {
      const fixture = yield* TestPki.TestPki
      const [left, right] = yield* MemoryTransport.pair()
      yield* Effect.forkScoped(Effect.ignore(TlsServer.accept(right, { certificate: fixture.server.certifiedKey })))
      const client = yield* TlsClient.connect(left, {
        serverIdentity: "localhost",
        database: fixture.pki.database,
        handshakeTimeout: "1 second"
      })
      yield* Effect.sleep("1200 millis")
      // the connection still works past the time the timer was set for
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(client.write(new TextEncoder().encode("ping")))))
    }))
})
