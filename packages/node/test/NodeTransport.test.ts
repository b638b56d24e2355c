import * as Transport from "@effect-tls/core/Transport"
import type { TransportError } from "@effect-tls/core/Transport"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import * as TransportSuite from "@effect-tls/testkit/TransportSuite"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, HashMap, Logger, Option, Scope, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Net from "node:net"
import { acceptedLocal, peekSocket } from "../src/internal/tcp.js"
import { tcpHandles as countTcpHandles } from "./tcpHandles.js"

// loopback kernel buffers hold a few MiB (about 3.7 MiB measured on Linux); 16 MiB leaves room for other kernels
TransportSuite.run("tcp loopback", NodeTransport.pairForTest, { maxBufferedBytes: 16 * 1024 * 1024 })

const text = (s: string) => new TextEncoder().encode(s)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** Count of live TCP handles (sockets and listeners) in this process. */
const tcpHandles = Effect.sync(countTcpHandles)

/** The TCP handle count once earlier tests' sockets finished closing (bounded wait). */
const quietHandles = Effect.gen(function*() {
  let last = yield* tcpHandles
  for (let i = 0; i < 50; i++) {
    yield* Effect.sleep("20 millis")
    const now = yield* tcpHandles
    if (now === last && now === 0) return now
    if (now === last && i >= 5) return now
    last = now
  }
  return last
})

/** Waits (bounded) until the TCP handle count is back to `baseline`, returns the final count. */
const settledHandles = (baseline: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      const now = yield* tcpHandles
      if (now <= baseline) return now
      yield* Effect.sleep("10 millis")
    }
    return yield* tcpHandles
  })

const echo = (transport: Transport.Transport) =>
  Transport.stream(transport).pipe(Stream.run(Transport.sink(transport)), Effect.zipRight(transport.shutdownWrite))

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

describe("NodeTransport", () => {
  it.scopedLive("connect to a closed port fails with reason Open and the target in the description", () =>
    Effect.gen(function*() {
      // find a free port, then close it
      const port = yield* Effect.scoped(Effect.map(NodeTransport.listen(), (server) => server.address.port))
      const error = yield* Effect.flip(Effect.scoped(NodeTransport.connect({ host: "127.0.0.1", port })))
      if (!Transport.isTransportError(error)) return assert.fail(`expected a TransportError, got ${error._tag}`)
      assert.strictEqual(error.reason, "Open")
      assert.strictEqual(error.description?.kind, "tcp")
      assert.strictEqual(error.description?.remote, `127.0.0.1:${port}`)
      assert.match(error.message, /ECONNREFUSED/)
    }))

  it.scopedLive("listening on a port in use fails with reason Open", () =>
    Effect.gen(function*() {
      const server = yield* NodeTransport.listen()
      const error = yield* Effect.flip(Effect.scoped(NodeTransport.listen({ port: server.address.port })))
      assert.strictEqual(error.reason, "Open")
    }))

  // python3 (on every machine here, and installed by .ci/run if missing) gives a listener that never accepts
  it.scopedLive(
    "connect timeout fails with reason OpenTimeout and leaves no socket",
    () =>
      Effect.gen(function*() {
        // a listener that never accepts, its backlog filled: further SYNs are dropped
        const child = yield* Effect.acquireRelease(
          Effect.sync(() =>
            ChildProcess.spawn("python3", [
              "-c",
              "import socket,sys,time\n" +
              "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0)\n" +
              "print(s.getsockname()[1], flush=True)\n" +
              "time.sleep(30)\n"
            ], { stdio: ["ignore", "pipe", "inherit"] })
          ),
          (child) => Effect.sync(() => process.kill(child.pid!, "SIGKILL"))
        )
        const port = yield* Effect.async<number>((resume) => {
          child.stdout!.once("data", (data: Buffer) => resume(Effect.succeed(Number(String(data).trim()))))
        })
        const baseline = yield* quietHandles
        // fill the accept queue (it holds backlog + 1 connections)
        const fillers = yield* Effect.forEach(
          [1, 2, 3],
          () => Effect.exit(NodeTransport.connect({ host: "127.0.0.1", port, timeout: "300 millis" }))
        )
        assert.isTrue(fillers.some(Exit.isSuccess))
        const error = yield* Effect.scoped(NodeTransport.connect({ host: "127.0.0.1", port, timeout: "200 millis" }))
          .pipe(
            Effect.flip
          )
        assert.strictEqual(error.reason, "OpenTimeout")
        const successes = fillers.filter(Exit.isSuccess).length
        // only the established fillers are still open
        assert.strictEqual(yield* settledHandles(baseline + successes), baseline + successes)
      }),
    20_000
  )

  it.scopedLive("descriptions carry ip:port both ways, and the raw socket is reachable internally", () =>
    Effect.gen(function*() {
      const [client, server] = yield* NodeTransport.pairForTest
      assert.strictEqual(client.description.kind, "tcp")
      assert.match(client.description.local!, /^127\.0\.0\.1:\d+$/)
      assert.strictEqual(client.description.local, server.description.remote)
      assert.strictEqual(client.description.remote, server.description.local)
      const socket = peekSocket(client)
      assert.isTrue(Option.isSome(socket) && socket.value instanceof Net.Socket)
      assert.isTrue(Option.isNone(peekSocket(Transport.make({ ...client }))))
      // the public API hands the socket out only by taking it (takeSocket consumes the transport)
      assert.notProperty(NodeTransport, "getSocket")
    }))

  it("an accepted socket's local end comes from the listener only when it is bound to one address", () => {
    const bound = (address: string, port = 4433) => ({ address: () => ({ address, port, family: "" }) }) as Net.Server
    assert.strictEqual(acceptedLocal(bound("127.0.0.1")), "127.0.0.1:4433")
    assert.strictEqual(acceptedLocal(bound("::1")), "[::1]:4433")
    // a wildcard accepts on any address of the host, a scoped address names its interface:
    // the socket is asked (getsockname)
    assert.isUndefined(acceptedLocal(bound("0.0.0.0")))
    assert.isUndefined(acceptedLocal(bound("::")))
    assert.isUndefined(acceptedLocal(bound("fe80::1%eth0")))
    assert.isUndefined(acceptedLocal({ address: () => null } as unknown as Net.Server))
  })

  it.scopedLive("takeSocket hands the socket over once and consumes the transport", () =>
    Effect.gen(function*() {
      const [client] = yield* NodeTransport.pairForTest
      const pending = yield* Effect.fork(client.read)
      yield* Effect.sleep("20 millis")
      const taken = Option.getOrThrow(NodeTransport.takeSocket(client))
      assert.isTrue(taken instanceof Net.Socket)
      assert.strictEqual(taken.listenerCount("data"), 0)
      assert.isTrue(Option.isNone(NodeTransport.takeSocket(client)), "a socket is taken once")
      // the transport is consumed: its pending and later operations fail with Closed
      assert.strictEqual(failureOf(yield* Fiber.await(pending))?.reason, "Closed")
      assert.strictEqual(failureOf(yield* Effect.exit(client.write(new Uint8Array(1))))?.reason, "Closed")
      assert.isFalse(taken.destroyed, "the socket lives on for its new owner")
      // (pairForTest only: shutdownWrite still half-closes the taken socket, for truncation tests)
      yield* client.shutdownWrite
      assert.isTrue(taken.writableEnded)
    }))

  it.scopedLive("an accepted transport: taken before any use, the socket has no listener of ours; after use, as any", () =>
    Effect.gen(function*() {
      // (pairForTest's server side is an accepted socket: adapted on first use)
      const [client, fresh] = yield* NodeTransport.pairForTest
      assert.strictEqual(Option.getOrThrow(peekSocket(fresh)).listenerCount("data"), 0, "adapted before use")
      const taken = Option.getOrThrow(NodeTransport.takeSocket(fresh))
      assert.strictEqual(taken.listenerCount("data"), 0)
      assert.isTrue(Option.isNone(NodeTransport.takeSocket(fresh)), "a socket is taken once")
      assert.strictEqual(failureOf(yield* Effect.exit(fresh.read))?.reason, "Closed")
      assert.strictEqual(failureOf(yield* Effect.exit(fresh.write(new Uint8Array(1))))?.reason, "Closed")
      assert.isFalse(taken.destroyed, "the socket lives on for its new owner")
      // (pairForTest only: shutdownWrite still half-closes the taken socket, for truncation tests)
      yield* fresh.shutdownWrite
      assert.isTrue(taken.writableEnded)
      assert.isTrue(Option.isNone(yield* client.read), "the peer reads the end")
      // used first: a read waits on the adapted socket; taking it then ends that read with Closed
      const [other, used] = yield* NodeTransport.pairForTest
      yield* other.write(text("hi"))
      assert.strictEqual(decode(Option.getOrThrow(yield* used.read)), "hi")
      assert.strictEqual(Option.getOrThrow(peekSocket(used)).listenerCount("data"), 1, "adapted on use")
      const pending = yield* Effect.fork(used.read)
      yield* Effect.sleep("20 millis")
      const second = Option.getOrThrow(NodeTransport.takeSocket(used))
      assert.strictEqual(second.listenerCount("data"), 0)
      assert.strictEqual(failureOf(yield* Fiber.await(pending))?.reason, "Closed")
    }))

  it.scopedLive("a peer reset fails the pending read with reason Read", () =>
    Effect.gen(function*() {
      const [client, server] = yield* NodeTransport.pairForTest
      const pending = yield* Effect.fork(client.read)
      yield* Effect.sleep("20 millis")
      const raw = Option.getOrThrow(peekSocket(server)) as Net.Socket
      raw.resetAndDestroy()
      const error = failureOf(yield* Fiber.await(pending))
      assert.isTrue(Transport.isTransportError(error))
      assert.strictEqual(error!.reason, "Read")
      assert.strictEqual(error!.description?.kind, "tcp")
      assert.match(error!.message, /ECONNRESET/)
    }))

  it.scopedLive("the fast path's half-close: the written bytes, then the peer's end of input; once closed, the Effect's", () =>
    Effect.gen(function*() {
      const [client, server] = yield* NodeTransport.pairForTest
      const fast = Transport.immediate(client)!
      assert.strictEqual(fast.write(text("last words")), "last words".length)
      const outcome = yield* Effect.async<TransportError | undefined>((resume) => {
        const cancel = fast.shutdownWrite!((failure) => resume(Effect.succeed(failure)))
        assert.isDefined(cancel, "a TCP transport half-closes on its fast path")
      })
      assert.isUndefined(outcome)
      const received = yield* Stream.runCollect(Transport.stream(server))
      assert.strictEqual(decode(Uint8Array.from([...received].flatMap((chunk) => [...chunk]))), "last words")
      // a second half-close is done at once, as `shutdownWrite` is
      let again: TransportError | undefined | "not called" = "not called"
      fast.shutdownWrite!((failure) => (again = failure))
      assert.isUndefined(again)
      // a closed transport's fast path does nothing: `shutdownWrite` says why
      const scope = yield* Scope.make()
      const [closing] = yield* Scope.extend(NodeTransport.pairForTest, scope)
      yield* Scope.close(scope, Exit.void)
      let called = false
      assert.isUndefined(Transport.immediate(closing)!.shutdownWrite!(() => (called = true)))
      assert.isFalse(called)
      assert.strictEqual(failureOf(yield* Effect.exit(closing.shutdownWrite))?.reason, "Closed")
    }))

  it.scopedLive("reads are pull-based: a peer that stops reading holds at most its high-water mark", () =>
    Effect.gen(function*() {
      const [client, server] = yield* NodeTransport.pairForTest
      const raw = Option.getOrThrow(peekSocket(server))
      const block = new Uint8Array(64 * 1024)
      const writer = yield* Effect.fork(Effect.forever(client.write(block)))
      yield* Effect.sleep("300 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(writer)), "the writer is blocked")
      assert.isAtMost(raw.readableLength, raw.readableHighWaterMark + block.length)
      yield* Fiber.interrupt(writer)
    }))

  describe("listen", () => {
    it.scopedLive("each connection runs in its own fiber: failing and dying handlers affect nothing else", () =>
      Effect.gen(function*() {
        const server = yield* NodeTransport.listen()
        const { host, port } = server.address
        assert.strictEqual(host, "127.0.0.1")
        yield* Effect.forkScoped(server.run((transport) =>
          Effect.gen(function*() {
            const first = yield* Effect.map(transport.read, Option.getOrThrow)
            const command = decode(first)
            if (command === "fail") return yield* Effect.fail("handler failed")
            if (command === "die") return yield* Effect.die("handler died")
            yield* transport.write(first)
            yield* echo(transport)
          })
        ))
        const connectAndSend = (command: string) =>
          Effect.gen(function*() {
            const client = yield* NodeTransport.connect({ host, port, timeout: "5 seconds" })
            yield* client.write(text(command))
            yield* client.shutdownWrite
            return decode(yield* TransportSuite.readAll(client))
          }).pipe(Effect.scoped)
        const long = yield* NodeTransport.connect({ host, port })
        yield* long.write(text("echo"))
        assert.strictEqual(decode(yield* TransportSuite.readExactly(long, 4)), "echo")
        // the failing and dying handlers' connections are closed (end of input or reset)
        for (const command of ["fail", "die"]) {
          const exit = yield* Effect.exit(connectAndSend(command))
          assert.isTrue(Exit.isFailure(exit) || exit.value === "", `${command}: closed without data`)
        }
        // the long-lived connection and the listener still work
        yield* long.write(text(" still"))
        assert.strictEqual(decode(yield* TransportSuite.readExactly(long, 6)), " still")
        assert.strictEqual(yield* connectAndSend("again"), "again")
        assert.strictEqual(yield* server.connections, 1)
      }))

    it.scopedLive("connections accepted before run are served", () =>
      Effect.gen(function*() {
        const server = yield* NodeTransport.listen()
        const client = yield* NodeTransport.connect({ host: "127.0.0.1", port: server.address.port })
        yield* client.write(text("early"))
        yield* client.shutdownWrite
        yield* Effect.sleep("50 millis")
        yield* Effect.forkScoped(server.run(echo))
        assert.strictEqual(decode(yield* TransportSuite.readAll(client)), "early")
      }))

    it.scopedLive("closing the listener's scope closes every connection and leaves no open handle", () =>
      Effect.gen(function*() {
        const baseline = yield* quietHandles
        const scope = yield* Scope.make()
        const server = yield* Scope.extend(NodeTransport.listen(), scope)
        const started = yield* Deferred.make<void>()
        let handled = 0
        yield* Scope.extend(
          Effect.forkScoped(server.run(() =>
            Effect.suspend(() => {
              handled++
              return handled === 3 ? Deferred.succeed(started, undefined) : Effect.void
            }).pipe(Effect.zipRight(Effect.never))
          )),
          scope
        )
        const clientScope = yield* Scope.make()
        const clients = yield* Effect.forEach(
          [1, 2, 3],
          () => Scope.extend(NodeTransport.connect({ host: "127.0.0.1", port: server.address.port }), clientScope)
        )
        yield* Deferred.await(started)
        assert.strictEqual(yield* server.connections, 3)
        yield* Scope.close(scope, Exit.void)
        // every client sees its connection end (end of input or reset), none hangs
        for (const client of clients) {
          const result = yield* Effect.either(client.read)
          assert.isTrue(result._tag === "Left" || Option.isNone(result.right))
        }
        const refused = yield* Effect.flip(Effect.scoped(
          NodeTransport.connect({ host: "127.0.0.1", port: server.address.port })
        ))
        assert.strictEqual(refused.reason, "Open")
        yield* Scope.close(clientScope, Exit.void)
        assert.strictEqual(yield* settledHandles(baseline), baseline)
      }))

    it.scopedLive("the handler's Scope is its connection's: finalizers run at its end, before the socket closes", () =>
      Effect.gen(function*() {
        const server = yield* NodeTransport.listen()
        const finalized = yield* Deferred.make<string>()
        // (no Effect.scoped: `run` gives each handler its connection's scope)
        yield* Effect.forkScoped(server.run((transport) =>
          Effect.gen(function*() {
            const scope = yield* Effect.scope
            yield* Scope.addFinalizer(
              scope,
              // the transport still works in the connection's finalizers (a TLS close_notify goes out there)
              Effect.zipRight(Effect.orDie(transport.write(text("bye"))), Deferred.succeed(finalized, "finalized"))
            )
            yield* transport.read
          })
        ))
        const client = yield* NodeTransport.connect({ host: "127.0.0.1", port: server.address.port })
        yield* client.write(text("x"))
        assert.strictEqual(yield* Deferred.await(finalized), "finalized")
        assert.strictEqual(decode(yield* TransportSuite.readAll(client)), "bye")
        assert.strictEqual(yield* settledHandlesOf(server, 0), 0)
      }))

    it.scopedLive("interrupting run interrupts its handlers and closes their connections", () =>
      Effect.gen(function*() {
        const server = yield* NodeTransport.listen()
        const started = yield* Deferred.make<void>()
        const interrupted = yield* Deferred.make<void>()
        const runner = yield* Effect.fork(server.run(() =>
          Deferred.succeed(started, undefined).pipe(
            Effect.zipRight(Effect.never),
            Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
          )
        ))
        const client = yield* NodeTransport.connect({ host: "127.0.0.1", port: server.address.port })
        yield* Deferred.await(started)
        yield* Fiber.interrupt(runner)
        yield* Deferred.await(interrupted)
        const result = yield* Effect.either(client.read)
        assert.isTrue(result._tag === "Left" || Option.isNone(result.right))
        assert.strictEqual(yield* settledHandlesOf(server, 0), 0)
      }))
  })

  it.scopedLive("fromSocket adapts an existing socket and destroys it with the scope", () =>
    Effect.gen(function*() {
      const server = yield* NodeTransport.listen()
      yield* Effect.forkScoped(server.run(echo))
      const socket = Net.connect({ host: "127.0.0.1", port: server.address.port, allowHalfOpen: true })
      yield* Effect.async<void>((resume) => {
        socket.once("connect", () => resume(Effect.void))
      })
      const scope = yield* Scope.make()
      const transport = yield* Scope.extend(NodeTransport.fromSocket(socket), scope)
      yield* transport.write(text("adapted"))
      yield* transport.shutdownWrite
      assert.strictEqual(decode(yield* TransportSuite.readAll(transport)), "adapted")
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(socket.destroyed)
    }))

  it.scopedLive("a whole suite-like session leaves no TCP handle behind", () =>
    Effect.gen(function*() {
      const baseline = yield* quietHandles
      yield* Effect.scoped(Effect.gen(function*() {
        const [a, b] = yield* NodeTransport.pairForTest
        const pending = yield* Effect.fork(b.read)
        yield* a.write(text("x"))
        yield* Fiber.join(pending)
        yield* Effect.fork(a.read) // left pending when the scope closes
        assert.isAbove(yield* tcpHandles, baseline)
      }))
      assert.strictEqual(yield* settledHandles(baseline), baseline)
    }))
})

const settledHandlesOf = (server: NodeTransport.Server, target: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      const now = yield* server.connections
      if (now <= target) return now
      yield* Effect.sleep("10 millis")
    }
    return yield* server.connections
  })

describe("NodeTransport.listen run: handler failures (issue 6 defect 7)", () => {
  const capture = () => {
    const entries: Array<{ level: string; cause: string; remote: unknown }> = []
    const logger = Logger.make(({ annotations, cause, logLevel }) => {
      entries.push({ level: logLevel.label, cause: Cause.pretty(cause), remote: HashMap.get(annotations, "remote") })
    })
    return { entries, layer: Logger.replace(Logger.defaultLogger, logger) }
  }
  const failOnce = (options?: NodeTransport.RunOptions) =>
    Effect.gen(function*() {
      const { entries, layer } = capture()
      const server = yield* NodeTransport.listen({ port: 0 })
      yield* Effect.forkScoped(
        server.run(() => Effect.fail(new Error("handler broke")), options).pipe(Effect.provide(layer))
      )
      const client = yield* NodeTransport.connect({ host: "127.0.0.1", port: server.address.port })
      // the server's handler failed: its socket closes, the client reads the end
      yield* Stream.runDrain(Transport.stream(client)).pipe(Effect.ignore)
      yield* Effect.sleep("50 millis")
      return entries
    })

  it.scopedLive("are logged at Warning with the cause and the remote address", () =>
    Effect.gen(function*() {
      const entries = yield* failOnce()
      assert.strictEqual(entries.length, 1)
      assert.strictEqual(entries[0]!.level, "WARN")
      assert.include(entries[0]!.cause, "handler broke")
      assert.match(String(Option.getOrNull(entries[0]!.remote as Option.Option<string>)), /^127\.0\.0\.1:\d+$/)
    }))

  it.scopedLive("at the level the caller chooses, or not at all", () =>
    Effect.gen(function*() {
      const asError = yield* failOnce({ handlerFailureLogLevel: "Error" })
      assert.deepStrictEqual(asError.map((entry) => entry.level), ["ERROR"])
      const silent = yield* failOnce({ handlerFailureLogLevel: "None" })
      assert.deepStrictEqual(silent, [])
    }))
})
