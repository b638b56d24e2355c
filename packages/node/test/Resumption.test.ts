import * as AcceptCertificate from "@effect-tls/core/AcceptCertificate"
import type { ProtocolVersion } from "@effect-tls/core/ProtocolVersion"
import * as SessionCache from "@effect-tls/core/SessionCache"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type { Transport } from "@effect-tls/core/Transport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Ref, type Scope, Stream } from "effect"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"

const echoServer = (options: Omit<TlsServer.ServerOptions, "certificate"> = {}) =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const listener = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
    yield* Effect.forkScoped(listener.run((transport) =>
      Effect.gen(function*() {
        const tls = yield* TlsServer.make(transport, { certificate: fixture.server.certifiedKey, ...options })
        yield* tls.stream.pipe(Stream.run(tls.sink))
        yield* tls.closeWrite
      }).pipe(Effect.scoped)
    ))
    return NodeTransport.connect({ host: "127.0.0.1", port: listener.address.port })
  })

/** Connects, exchanges a little data (so that TLS 1.3 tickets arrive), closes; returns the handshake info. */
const roundTrip = (
  connect: Effect.Effect<Transport, unknown, Scope.Scope>,
  options: TlsClient.ClientOptions
) =>
  Effect.scoped(Effect.gen(function*() {
    const client = yield* TlsClient.connect(yield* connect, options)
    yield* client.write(new TextEncoder().encode("ping"))
    yield* client.closeWrite
    yield* Stream.runDrain(client.stream)
    return yield* client.handshake
  }))

layer(Layer.merge(TestPki.layer(), NodeTlsBackend.layer), { excludeTestServices: true, timeout: 60_000 })(
  "session resumption",
  (it) => {
    for (const version of ["TLSv1.3", "TLSv1.2"] satisfies ReadonlyArray<ProtocolVersion>) {
      describe(version, () => {
        it.scoped("the SessionCache resumes the next connection to the same server, and verifies it again", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const connect = yield* echoServer()
            const policyRuns = yield* Ref.make(0)
            const options: TlsClient.ClientOptions = {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              maxVersion: version,
              acceptCertificate: (context) => Effect.as(Ref.update(policyRuns, (n) => n + 1), context.flags.size === 0)
            }
            const first = yield* roundTrip(connect, options)
            const second = yield* roundTrip(connect, options)
            const third = yield* roundTrip(connect, options)
            assert.deepStrictEqual([first.resumed, second.resumed, third.resumed], [false, true, true])
            assert.strictEqual(second.protocolVersion, version)
            // the resumed handshake still carries the peer's certificate, verified again
            assert.strictEqual(
              Option.getOrThrow(second.peerCertificate)[0]?.fingerprintSha256,
              fixture.server.certificate.fingerprintSha256
            )
            assert.strictEqual(yield* Ref.get(policyRuns), 3)
          }).pipe(Effect.provide(SessionCache.layerMemory())))

        it.scoped("a resumed session whose certificate the policy now refuses is refused", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const connect = yield* echoServer()
            const options: TlsClient.ClientOptions = {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              maxVersion: version
            }
            yield* roundTrip(connect, options)
            const error = yield* Effect.flip(roundTrip(connect, {
              ...options,
              acceptCertificate: AcceptCertificate.pinSpki(["another key"])
            }))
            assert.strictEqual((error as { readonly _tag: string })._tag, "TlsBadCertificateError")
          }).pipe(Effect.provide(SessionCache.layerMemory())))

        it.scoped("resumeFrom resumes another connection's session without a cache", () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const connect = yield* echoServer()
            const options: TlsClient.ClientOptions = {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              maxVersion: version
            }
            const first = yield* TlsClient.connect(yield* connect, options)
            yield* first.write(new TextEncoder().encode("ping"))
            yield* first.read
            const second = yield* TlsClient.connect(yield* connect, { ...options, resumeFrom: first })
            assert.isTrue((yield* second.handshake).resumed)
          }).pipe(Effect.provide(SessionCache.layerDisabled)))
      })
    }

    it.scoped("SessionCache.layerDisabled makes every handshake a full one", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const connect = yield* echoServer()
        const options: TlsClient.ClientOptions = { serverIdentity: "localhost", database: fixture.pki.database }
        const first = yield* roundTrip(connect, options)
        const second = yield* roundTrip(connect, options)
        assert.deepStrictEqual([first.resumed, second.resumed], [false, false])
      }).pipe(Effect.provide(SessionCache.layerDisabled)))

    it.scoped("sessions are kept per server: another server identity does not get it", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const connect = yield* echoServer()
        const first = yield* roundTrip(connect, { serverIdentity: "localhost", database: fixture.pki.database })
        const other = yield* roundTrip(connect, { serverIdentity: "127.0.0.1", database: fixture.pki.database })
        assert.deepStrictEqual([first.resumed, other.resumed], [false, false])
      }).pipe(Effect.provide(SessionCache.layerMemory())))

    it.effect("the memory cache is bounded and single-use", () =>
      Effect.gen(function*() {
        const cache = SessionCache.makeMemory({ capacity: 2, perKey: 2 })
        yield* cache.put("a", SessionCache.session(new Uint8Array([1])))
        yield* cache.put("b", SessionCache.session(new Uint8Array([2])))
        yield* cache.put("c", SessionCache.session(new Uint8Array([3])))
        // "a" was the oldest key
        assert.isTrue(Option.isNone(yield* cache.take("a")))
        yield* cache.put("c", SessionCache.session(new Uint8Array([4])))
        yield* cache.put("c", SessionCache.session(new Uint8Array([5])))
        // at most two per key, newest first, each taken once
        assert.deepStrictEqual(
          Option.getOrNull(Option.map(yield* cache.take("c"), Redacted.value)),
          new Uint8Array([5])
        )
        assert.deepStrictEqual(
          Option.getOrNull(Option.map(yield* cache.take("c"), Redacted.value)),
          new Uint8Array([4])
        )
        assert.isTrue(Option.isNone(yield* cache.take("c")))
      }))
  }
)
