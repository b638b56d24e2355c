/**
 * When a client's first flight leaves (issue 8, time to first byte): `TlsClient.make` keeps the
 * handshake for the first use (nothing is sent before), `TlsClient.connect` asked for a
 * connection now, and its ClientHello leaves as soon as the engine exists, on the native path
 * (node:tls on the TCP socket) and on the bridge alike; interrupted while it waits for the
 * server, it ends as interrupted and leaves nothing running. Once the server's flight is in, the
 * client's Finished leaves before the client's own verification runs, so the server takes it in
 * meanwhile and is ready for the first bytes when they come.
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as SessionCache from "@effect-tls/core/SessionCache"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as Transport from "@effect-tls/core/Transport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTlsServer from "../src/NodeTlsServer.js"
import * as NodeTransport from "../src/NodeTransport.js"

const env = Layer.mergeAll(TestPki.layer(), NodeTlsBackend.layer, SessionCache.layerDisabled)

/** A loopback TCP connection: the client's transport and the accepted one. */
const tcpPair = Effect.gen(function*() {
  const listener = yield* NodeTlsServer.listener()
  const address = listener.address
  if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("not a TCP listener")
  const client = yield* NodeTransport.connect({ host: "127.0.0.1", port: address.port })
  return [client, yield* listener.accept] as const
})

const pairs: ReadonlyArray<
  readonly [string, Effect.Effect<readonly [Transport.Transport, Transport.Transport], unknown, Scope.Scope>]
> = [
  ["TCP (the native path)", tcpPair],
  ["the memory pair (the bridge)", MemoryTransport.pair()]
]

/** The server side's first bytes, or none when nothing came within `millis` (a bound, not a timing). */
const firstBytes = (server: Transport.Transport, millis: number) =>
  Effect.raceFirst(
    server.read,
    Effect.as(Effect.sleep(millis), Option.none<Uint8Array>())
  )

/** A TLS handshake record holding a ClientHello (RFC 8446 §5.1, §4). */
const isClientHello = (bytes: Uint8Array) => bytes[0] === 0x16 && bytes[1] === 0x03 && bytes[5] === 0x01

/**
 * `transport` with a count of the writes through it (on the Effect and the immediate path alike):
 * an engine over it runs the bridge, node:tls over its JS Duplex, whose writes all come here.
 */
const counted = (transport: Transport.Transport) => {
  const written = { writes: 0 }
  const fast = Transport.immediate(transport)
  const wrapped = Transport.make({
    read: transport.read,
    write: (bytes) =>
      Effect.suspend(() => {
        written.writes++
        return transport.write(bytes)
      }),
    shutdownWrite: transport.shutdownWrite,
    description: transport.description,
    ...(fast === undefined ? {} : {
      immediate: {
        ...fast,
        write: (bytes, handedOver) => {
          const accepted = fast.write(bytes, handedOver)
          if (accepted > 0) written.writes++
          return accepted
        },
        writeAll: (chunks) => {
          const done = fast.writeAll?.(chunks) ?? false
          if (done) written.writes++
          return done
        }
      }
    })
  })
  return { transport: wrapped, written }
}

layer(env, { excludeTestServices: true })("the client's first flight", (it) => {
  for (const [name, pair] of pairs) {
    describe(name, () => {
      it.scoped("TlsClient.make sends nothing before the first use; the handshake sends the ClientHello", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [client, server] = yield* pair
          const connection = yield* TlsClient.make(client, {
            serverIdentity: "localhost",
            database: fixture.pki.database
          })
          assert.isTrue(Option.isNone(yield* firstBytes(server, 50)), "nothing before the first use")
          const handshake = yield* Effect.fork(connection.handshake)
          const hello = yield* firstBytes(server, 5_000)
          assert.isTrue(Option.isSome(hello) && isClientHello(hello.value), "the ClientHello on first use")
          yield* Fiber.interrupt(handshake)
        }))

      it.scoped("TlsClient.connect sends the ClientHello at once; interrupted waiting for the server, it ends", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [client, server] = yield* pair
          const scope = yield* Scope.make()
          const connecting = yield* Effect.fork(
            Scope.extend(
              TlsClient.connect(client, { serverIdentity: "localhost", database: fixture.pki.database }),
              scope
            )
          )
          const hello = yield* firstBytes(server, 5_000)
          assert.isTrue(Option.isSome(hello) && isClientHello(hello.value), "the ClientHello")
          const exit = yield* Fiber.interrupt(connecting)
          assert.isTrue(Exit.isInterrupted(exit), String(exit))
          yield* Scope.close(scope, Exit.void)
          // the server side then reads the end (the client's transport is closed with its scope
          // by the test, not before): nothing else arrives meanwhile but the end or an alert
          const after = yield* Effect.exit(firstBytes(server, 200))
          assert.isTrue(
            Exit.isFailure(after) || Option.isNone(after.value) || after.value.value[0] === 0x15,
            "no handshake record after the interruption"
          )
        }))

      it.scoped("the client's Finished leaves before its own verification runs (over the bridge)", () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [client, server] = yield* pair
          const { transport, written } = counted(client)
          const served = yield* Effect.fork(
            Effect.flatMap(
              TlsServer.make(server, { certificate: fixture.server.certifiedKey }),
              (connection) => connection.handshake
            )
          )
          let writesAtPolicy = -1
          yield* TlsClient.connect(transport, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            // (answers at once: run in the same turn as the handshake's report it follows)
            acceptCertificate: (context) =>
              Effect.sync(() => {
                writesAtPolicy = written.writes
                return CertificateFlags.isEmpty(context.flags)
              })
          })
          // the server completes its handshake on the client's Finished
          yield* Fiber.join(served)
          // one write for the ClientHello, one for the Finished: both out by the policy's turn
          // (over the memory pair the policy ran before node:tls sent the Finished: 1 write)
          assert.strictEqual(writesAtPolicy, 2)
        }))
    })
  }
})
