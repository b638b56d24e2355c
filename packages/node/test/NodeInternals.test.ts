/**
 * The engine's fence around node's private fields (src/internal/nodeInternals.ts): every
 * feature it relies on must be detected on this Node. When a Node release moves one, the
 * first test fails and names it (and the fallback the engine takes meanwhile); the others
 * check that each fallback works.
 */
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsError from "@effect-tls/core/TlsError"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as TestPki from "@effect-tls/testkit/TestPki"
import * as TestTls from "@effect-tls/testkit/TestTls"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Net from "node:net"
import * as tls from "node:tls"
import * as internals from "../src/internal/nodeInternals.js"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"

type Scenario = {
  readonly subject: "client" | "server"
  readonly version: "TLSv1.3" | "TLSv1.2"
  /** The peer ends with close_notify then FIN (node's `end()`), or with a bare FIN. */
  readonly peer: "closeNotify" | "bareFin"
  /** The subject reads late and slowly, so node:tls stops its TCP reads on a full buffer. */
  readonly slowReader: boolean
}

/**
 * Raw node:tls on both ends of a loopback TCP connection, the subject watched by
 * `watchNativeEnd`: what it says once the subject's input ended.
 */
const nativeEndOf = (options: ReturnType<typeof TestPki.nodeTlsOptions>, scenario: Scenario) =>
  Effect.async<internals.NativeEnd | string>((resume) => {
    const payload = Buffer.alloc(scenario.slowReader ? 1 << 20 : 5, 97)
    const versions = { minVersion: scenario.version, maxVersion: scenario.version, allowHalfOpen: true }
    const sockets: Array<{ destroy(): void }> = []
    const open = (raw: Net.Socket, isServer: boolean): tls.TLSSocket => {
      sockets.push(raw)
      const socket = isServer
        ? new tls.TLSSocket(raw, { isServer: true, cert: options.cert, key: options.key, ...versions })
        : tls.connect({ socket: raw, ca: options.ca, servername: "localhost", ...versions })
      sockets.push(socket)
      socket.on("error", () => {})
      return socket
    }
    const side = (raw: Net.Socket, isServer: boolean) => {
      const socket = open(raw, isServer)
      if ((scenario.subject === "server") === isServer) {
        const watch = internals.watchNativeEnd(socket)
        if (watch === undefined) return resume(Effect.succeed("unavailable"))
        socket.on("end", () => resume(Effect.succeed(watch.end)))
        socket.on("close", () => resume(Effect.succeed(`closed before its end (${watch.end})`)))
        const pull = () => {
          while (socket.read() !== null) if (scenario.slowReader) break
          if (!socket.readableEnded) setTimeout(pull, scenario.slowReader ? 2 : 0)
        }
        setTimeout(pull, scenario.slowReader ? 50 : 0)
        return
      }
      socket.on("data", () => {})
      // (a turn later: a TLS 1.3 node:tls server that ends in its `secure` handler sends its FIN
      // before its close_notify, which the peer then never reads)
      socket.once(isServer ? "secure" : "secureConnect", () =>
        setImmediate(() => {
          if (scenario.peer === "closeNotify") socket.end(payload)
          // the TCP side ends under node:tls: no close_notify
          else socket.write(payload, () => raw.end())
        }))
    }
    const server = Net.createServer((raw) => side(raw, true))
    server.listen(0, "127.0.0.1", () => {
      const raw = Net.connect((server.address() as Net.AddressInfo).port, "127.0.0.1")
      raw.on("error", () => {})
      raw.on("connect", () => side(raw, false))
    })
    return Effect.sync(() => {
      for (const socket of sockets) socket.destroy()
      server.close()
    })
  })

const pretendMissing = (name: internals.FeatureName) =>
  Effect.acquireRelease(Effect.sync(() => internals.overrideFeature(name, false)), (restore) => Effect.sync(restore))

describe("node internals", () => {
  describe("the native path tells close_notify from a bare FIN (watchNativeEnd)", () => {
    for (const subject of ["client", "server"] as const) {
      for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
        for (const slowReader of [false, true]) {
          const reading = slowReader ? "a slow reader" : "a reader"
          it.scopedLive(`${subject}, ${version}, ${reading}: close_notify then FIN is a clean end`, () =>
            Effect.gen(function*() {
              const fixture = yield* TestPki.TestPki
              const options = TestPki.nodeTlsOptions(fixture.server, fixture.pki)
              const end = yield* nativeEndOf(options, { subject, version, peer: "closeNotify", slowReader })
              assert.strictEqual(end, "closeNotify")
            }).pipe(Effect.provide(TestPki.layer())))
          it.scopedLive(`${subject}, ${version}, ${reading}: a bare FIN is a truncation`, () =>
            Effect.gen(function*() {
              const fixture = yield* TestPki.TestPki
              const options = TestPki.nodeTlsOptions(fixture.server, fixture.pki)
              const end = yield* nativeEndOf(options, { subject, version, peer: "bareFin", slowReader })
              assert.strictEqual(end, "truncated")
            }).pipe(Effect.provide(TestPki.layer())))
        }
      }
    }
  })

  it.scopedLive("TCP takes the native path by default, both ends; a client asking for the CA names keeps the bridge", () =>
    Effect.gen(function*() {
      const fixture = yield* TestPki.TestPki
      const consumed = (recordAcceptedCas: boolean) =>
        Effect.scoped(Effect.gen(function*() {
          const [clientTransport, serverTransport] = yield* NodeTransport.pairForTest
          yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
          yield* TlsClient.make(clientTransport, { serverIdentity: "localhost", database: fixture.pki.database }).pipe(
            Effect.provideService(NodeTlsBackend.RecordAcceptedCas, recordAcceptedCas)
          )
          // a transport whose socket the engine took fails with Closed
          const client = yield* Effect.exit(clientTransport.write(new Uint8Array(0)))
          const server = yield* Effect.exit(serverTransport.write(new Uint8Array(0)))
          return [Exit.isFailure(client), Exit.isFailure(server)]
        }))
      assert.deepStrictEqual(yield* consumed(false), [true, true])
      assert.deepStrictEqual(yield* consumed(true), [false, true])
    }).pipe(Effect.provide(Layer.mergeAll(TestPki.layer(), NodeTlsBackend.layer))))

  it.scopedLive("without TLSWrap's internals, requireCloseNotify over TCP keeps the bridge and still sees truncation", () =>
    Effect.gen(function*() {
      yield* pretendMissing("tlsWrap.native")
      const fixture = yield* TestPki.TestPki
      const [clientTransport, serverTransport] = yield* NodeTransport.pairForTest
      const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
      const client = yield* TlsClient.make(clientTransport, {
        serverIdentity: "localhost",
        database: fixture.pki.database
      })
      yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
      // the bridge: the transport stays the engine's, not consumed
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(clientTransport.write(new Uint8Array(0)))))
      yield* server.write(new Uint8Array([1, 2, 3]))
      yield* serverTransport.shutdownWrite
      const chunk = yield* client.read
      assert.isTrue(Option.isSome(chunk))
      const error = yield* Effect.flip(client.read)
      assert.strictEqual(error._tag, "TlsGenericError")
      assert.strictEqual((error as TlsError.TlsGenericError).reason, "Eof")
    }).pipe(Effect.provide(Layer.mergeAll(TestPki.layer(), NodeTlsBackend.layer))))

  it("every private field the engine uses is where this Node keeps it", () => {
    const report = internals.report()
    assert.deepStrictEqual(report.map((feature) => feature.name).sort(), [
      "context.ticketKeyCallback",
      "handle.verifyError",
      "handle.writeQueueSize",
      "readableState.ended",
      "socket.servername",
      "tlsWrap.native"
    ])
    const moved = report.filter((feature) => !feature.available)
    assert.deepStrictEqual(
      moved.map((feature) =>
        `${feature.name} moved (${feature.detail}); the engine falls back to: ${feature.fallback}`
      ),
      [],
      `node ${process.version} moved private fields the engine relies on`
    )
  })

  it.scopedLive("a TCP socket's handle reports the bytes libuv still holds (writeQueueSize)", () =>
    Effect.gen(function*() {
      // a peer that never reads: libuv keeps what the kernel's buffers cannot take
      const [client, accepted] = yield* Effect.acquireRelease(
        Effect.async<readonly [Net.Socket, Net.Socket]>((resume) => {
          let accepted: Net.Socket | undefined = undefined
          let connected = false
          const ready = () => {
            if (accepted !== undefined && connected) resume(Effect.succeed([raw, accepted] as const))
          }
          const server = Net.createServer((socket) => {
            socket.pause()
            server.close()
            accepted = socket
            ready()
          })
          const raw = new Net.Socket()
          raw.on("error", () => {})
          server.listen(
            0,
            "127.0.0.1",
            () =>
              raw.connect((server.address() as Net.AddressInfo).port, "127.0.0.1", () => {
                connected = true
                ready()
              })
          )
        }),
        ([client, accepted]) =>
          Effect.sync(() => {
            client.destroy()
            accepted.destroy()
          })
      )
      accepted.on("error", () => {})
      assert.strictEqual(internals.writeQueueSize(client), 0)
      const chunk = Buffer.alloc(1 << 20)
      let queued = 0
      for (let i = 0; i < 64 && queued === 0; i++) {
        client.write(chunk)
        queued = internals.writeQueueSize(client)
      }
      assert.isAbove(queued, 0, "libuv holds bytes for a peer that does not read, and the handle says so")
    }))

  it.scopedLive("without `servername` the server learns the client's SNI through SNICallback", () =>
    Effect.gen(function*() {
      yield* pretendMissing("socket.servername")
      const pair = yield* TestTls.makePair().pipe(Effect.provide(TestTls.layer()))
      const info = yield* pair.server.handshake
      assert.deepStrictEqual(info.serverIdentity, Option.some("localhost"))
      assert.isTrue(Option.isNone(info.peerCertificate))
    }))

  it.scopedLive("with `servername` the server reads the client's SNI", () =>
    Effect.gen(function*() {
      const pair = yield* TestTls.makePair().pipe(Effect.provide(TestTls.layer()))
      const info = yield* pair.server.handshake
      assert.deepStrictEqual(info.serverIdentity, Option.some("localhost"))
    }))

  it.scopedLive("without `_readableState` requireCloseNotify is refused with a typed Unavailable error", () =>
    Effect.gen(function*() {
      yield* pretendMissing("readableState.ended")
      const exit = yield* Effect.exit(TestTls.makePair().pipe(Effect.provide(TestTls.layer())))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause : undefined
      const failure = error !== undefined && error._tag === "Fail" ? error.error : undefined
      assert.isTrue(TlsError.isTlsError(failure))
      assert.strictEqual((failure as TlsError.TlsGenericError).reason, "Unavailable")
    }))

  it.scopedLive("without `_handle.verifyError` the client's verdict still rejects an unknown CA (core verifies)", () =>
    Effect.gen(function*() {
      yield* pretendMissing("handle.verifyError")
      // the client trusts the system store, which does not know the test CA
      const exit = yield* Effect.exit(
        TestTls.makePair({ client: { database: undefined } }).pipe(Effect.provide(TestTls.layer()))
      )
      assert.isTrue(Exit.isFailure(exit))
      // makePair runs both ends at once: the server end is interrupted when the client fails
      const failure = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
      assert.strictEqual(failure?._tag, "TlsBadCertificateError")
    }))
})
