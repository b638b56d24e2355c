/**
 * The TLS conformance suite: the contract of `TlsClient` / `TlsServer` connections, written
 * once and run over any pair of connected transports (the in-memory pair, loopback TCP,
 * anything a user plugs in) and any `TlsBackend`. Real handshakes, real certificates from
 * `TestPki`.
 *
 * It checks: echo over TLS 1.3 and 1.2, ALPN, the typed `BadCertificate` failure and its
 * flags for untrusted / expired / wrong-host servers, a custom `AcceptCertificate` policy,
 * that the policy runs before any application byte, close_notify on scope close, truncation
 * (`Eof`) and `requireCloseNotify: false`, half-close, handshake memoisation, timeouts,
 * interruption without leaks, non-TLS peers, and bounded memory when a peer stops reading.
 *
 * @example
 * ```ts
 * import { MemoryTransport } from "@effect-tls/testkit"
 * import { TlsSuite } from "@effect-tls/testkit/vitest"
 * import { NodeTlsBackend } from "@effect-tls/node"
 *
 * TlsSuite.run("memory", { makePair: MemoryTransport.pair(), backend: NodeTlsBackend.layer })
 * ```
 *
 * @since 0.1.0
 */
import * as AcceptCertificate from "@effect-tls/core/AcceptCertificate"
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import type { ProtocolVersion } from "@effect-tls/core/ProtocolVersion"
import * as SessionCache from "@effect-tls/core/SessionCache"
import type { TlsBackend } from "@effect-tls/core/TlsBackend"
import * as TlsClient from "@effect-tls/core/TlsClient"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import type * as TlsError from "@effect-tls/core/TlsError"
import * as TlsInteraction from "@effect-tls/core/TlsInteraction"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type { Transport } from "@effect-tls/core/Transport"
import { assert, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { concat } from "./internal/bytes.js"
import * as TestPki from "./TestPki.js"
import * as TestTls from "./TestTls.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<E> {
  /** Two connected transports: `[client side, server side]`. */
  readonly makePair: Effect.Effect<readonly [Transport, Transport], E, Scope.Scope>
  /** The engine under test. */
  readonly backend: Layer.Layer<TlsBackend>
  /** Per-test timeout in milliseconds (default 30 000). */
  readonly timeout?: number | undefined
  /**
   * Whether a TLS 1.3 client learns the CA names of the server's CertificateRequest (encrypted
   * there) when a request can matter to it; default true. An engine that cannot read it (the
   * Node engine on Deno 2.9, which logs no keys) gives `acceptedCas` none, and a refusal of a
   * client without a certificate still typed `CertificateRequired` but with no names: with
   * `false` the suite asserts exactly that under TLS 1.3.
   */
  readonly tls13AcceptedCas?: boolean | undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const collectText = (conn: TlsConnection) =>
  Effect.map(Stream.runCollect(conn.stream), (chunks) => decoder.decode(concat(Chunk.toArray(chunks))))

const connectPair = <E>(
  makePair: Effect.Effect<readonly [Transport, Transport], E, Scope.Scope>,
  options: {
    readonly client?: TlsClient.ClientOptions | undefined
    readonly server?: Partial<TlsServer.ServerOptions> | undefined
  } = {}
) =>
  Effect.flatMap(
    makePair,
    (pair) => TestTls.makePair({ ...options, transports: Effect.succeed(pair), handshake: false })
  )

/**
 * A client that answers certificate requests (with none): an engine may read the server's
 * accepted CA names only when a certificate request can matter to the client (the Node engine
 * decrypts TLS 1.3's CertificateRequest only then).
 */
const withCertificateInteraction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(
    effect,
    TlsInteraction.TlsInteraction,
    TlsInteraction.make({ requestCertificate: () => Effect.succeed(Option.none()) })
  )

const handshakeBoth = (client: TlsConnection, server: TlsConnection) =>
  Effect.all([client.handshake, server.handshake], { concurrency: 2 })

/**
 * Registers the suite's tests under `describe(name)`.
 *
 * @since 0.1.0
 * @category suites
 */
export const run = <E>(name: string, options: Options<E>): void => {
  const { makePair } = options
  const timeout = options.timeout ?? 30_000
  const tls13AcceptedCas = options.tls13AcceptedCas ?? true
  // every test starts with full handshakes: resumption has tests of its own
  const env = Layer.mergeAll(TestPki.layer(), options.backend, SessionCache.layerDisabled)

  layer(env, { timeout: 60_000, excludeTestServices: true })(`TLS contract: ${name}`, (it) => {
    for (const version of ["TLSv1.3", "TLSv1.2"] satisfies ReadonlyArray<ProtocolVersion>) {
      it.scoped(`echo over ${version}`, () =>
        Effect.gen(function*() {
          const { client, server } = yield* connectPair(makePair, {
            client: { maxVersion: version }
          })
          yield* Effect.forkScoped(
            server.stream.pipe(Stream.run(server.sink), Effect.zipRight(server.closeWrite))
          )
          const payload = "x".repeat(100_000) + "end"
          yield* Effect.forkScoped(Effect.zipRight(client.write(encoder.encode(payload)), client.closeWrite))
          const echoed = yield* collectText(client)
          assert.strictEqual(echoed.length, payload.length)
          assert.strictEqual(echoed, payload)
          const info = yield* client.handshake
          assert.strictEqual(info.protocolVersion, version)
          assert.isTrue(CertificateFlags.isEmpty(info.peerCertificateErrors))
          assert.match(info.ciphersuiteName, /^TLS_/)
          const serverInfo = yield* server.handshake
          assert.strictEqual(serverInfo.protocolVersion, version)
          assert.deepStrictEqual(Option.getOrNull(serverInfo.serverName), "localhost")
        }), timeout)
    }

    it.scoped("ALPN: the server chooses from the client's offer", () =>
      Effect.gen(function*() {
        const { client, server } = yield* connectPair(makePair, {
          client: { alpn: ["http/1.1", "h2"] },
          server: { alpn: ["h2", "http/1.1"] }
        })
        const [clientInfo, serverInfo] = yield* handshakeBoth(client, server)
        assert.deepStrictEqual(Option.getOrNull(clientInfo.negotiatedProtocol), "h2")
        assert.deepStrictEqual(Option.getOrNull(serverInfo.negotiatedProtocol), "h2")
      }), timeout)

    it.scoped("ALPN: none offered, none negotiated", () =>
      Effect.gen(function*() {
        const { client, server } = yield* connectPair(makePair, { server: { alpn: ["h2"] } })
        const [clientInfo] = yield* handshakeBoth(client, server)
        assert.isTrue(Option.isNone(clientInfo.negotiatedProtocol))
      }), timeout)

    const rejected = (
      clientOptions: (fixture: TestPki.Fixture) => Effect.Effect<TlsClient.ClientOptions, unknown>,
      serverCertificate?: (fixture: TestPki.Fixture) => Effect.Effect<TestPki.Issued, unknown>
    ) =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const certificate = serverCertificate ? yield* serverCertificate(fixture) : fixture.server
        const clientOptions_ = yield* clientOptions(fixture)
        const { client, server } = yield* connectPair(makePair, {
          client: clientOptions_,
          server: { certificate: certificate.certifiedKey }
        })
        const serverFiber = yield* Effect.fork(server.handshake)
        const error = yield* Effect.flip(client.handshake)
        yield* Fiber.interrupt(serverFiber)
        assert.strictEqual(error._tag, "TlsBadCertificateError")
        return error as TlsError.TlsBadCertificateError
      })

    it.scoped("an untrusted server fails with BadCertificate(UnknownCa)", () =>
      Effect.gen(function*() {
        const other = yield* TestPki.make()
        const error = yield* rejected(() => Effect.succeed({ database: other.database }))
        assert.deepStrictEqual(CertificateFlags.toArray(error.flags), ["UnknownCa"])
        assert.strictEqual(error.side, "client")
        assert.isAbove(error.peerCertificate.length, 0)
        assert.include(error.message, "UnknownCa")
      }), timeout)

    it.scoped("an expired server fails with BadCertificate(Expired)", () =>
      Effect.gen(function*() {
        const error = yield* rejected(
          () => Effect.succeed({}),
          (fixture) => fixture.pki.issueServer({ validity: "expired" })
        )
        assert.deepStrictEqual(CertificateFlags.toArray(error.flags), ["Expired"])
      }), timeout)

    it.scoped("a wrong host fails with BadCertificate(BadIdentity)", () =>
      Effect.gen(function*() {
        const error = yield* rejected(() => Effect.succeed({ serverIdentity: "example.com" }))
        assert.deepStrictEqual(CertificateFlags.toArray(error.flags), ["BadIdentity"])
        assert.strictEqual(error.identity, "example.com")
      }), timeout)

    it.scoped(
      "no serverIdentity: the transport's host is checked, and with none there is no connection",
      () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [clientTransport, serverTransport] = yield* makePair
          const host = clientTransport.description.host
          yield* Effect.forkScoped(
            Effect.ignore(TlsServer.accept(serverTransport, { certificate: fixture.server.certifiedKey }))
          )
          const attempt = yield* Effect.exit(TlsClient.connect(clientTransport, { database: fixture.pki.database }))
          if (host === undefined) {
            // the transport names no host: a typed configuration error, nothing sent
            assert.isTrue(Exit.isFailure(attempt))
            const error = Exit.isFailure(attempt) && attempt.cause._tag === "Fail" ? attempt.cause.error : undefined
            assert.strictEqual(error?._tag, "TlsConfigError")
          } else {
            // the host the transport was asked for is the identity checked
            if (Exit.isFailure(attempt)) return assert.fail(`the connection to ${host} failed`)
            const info = yield* attempt.value.handshake
            assert.strictEqual(Option.getOrNull(info.serverIdentity), host)
          }
        }),
      timeout
    )

    it.scoped("dangerouslySkipIdentityCheck accepts a certificate for another name", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const other = yield* fixture.pki.issueServer({ dnsNames: ["other.example"] })
        const [clientTransport, serverTransport] = yield* makePair
        yield* Effect.forkScoped(Effect.ignore(TlsServer.accept(serverTransport, { certificate: other.certifiedKey })))
        const client = yield* TlsClient.connect(clientTransport, {
          database: fixture.pki.database,
          dangerouslySkipIdentityCheck: true
        })
        assert.isTrue(CertificateFlags.isEmpty((yield* client.handshake).peerCertificateErrors))
      }), timeout)

    it.scoped("several problems at once are all reported", () =>
      Effect.gen(function*() {
        const other = yield* TestPki.make()
        const error = yield* rejected(
          () => Effect.succeed({ database: other.database, serverIdentity: "example.com" }),
          (fixture) => fixture.pki.issueServer({ validity: "expired" })
        )
        assert.deepStrictEqual(CertificateFlags.toArray(error.flags), ["UnknownCa", "BadIdentity", "Expired"])
      }), timeout)

    it.scoped(
      "a custom AcceptCertificate policy can accept, and sees the complete flags",
      () =>
        Effect.gen(function*() {
          const seen = yield* Ref.make<ReadonlyArray<string>>([])
          const policy: AcceptCertificate.Policy = (context) =>
            Effect.as(Ref.set(seen, CertificateFlags.toArray(context.flags)), context.side === "client")
          const { client, server } = yield* connectPair(makePair, { client: { serverIdentity: "example.com" } }).pipe(
            Effect.provide(AcceptCertificate.layer(policy))
          )
          yield* Effect.forkScoped(server.stream.pipe(Stream.run(server.sink), Effect.zipRight(server.closeWrite)))
          const info = yield* client.handshake
          assert.deepStrictEqual(CertificateFlags.toArray(info.peerCertificateErrors), ["BadIdentity"])
          assert.deepStrictEqual(yield* Ref.get(seen), ["BadIdentity"])
          yield* client.write(encoder.encode("accepted"))
          yield* client.closeWrite
          assert.strictEqual(yield* collectText(client), "accepted")
        }),
      timeout
    )

    it.scoped("the policy runs before any application byte is read", () =>
      Effect.gen(function*() {
        const policyStarted = yield* Deferred.make<void>()
        const release = yield* Deferred.make<boolean>()
        const policy: AcceptCertificate.Policy = () =>
          Effect.zipRight(Deferred.succeed(policyStarted, void 0), Deferred.await(release))
        const { client, server } = yield* connectPair(makePair, { client: { acceptCertificate: policy } })
        // the server sends data as soon as it can
        yield* Effect.forkScoped(Effect.zipRight(server.handshake, server.write(encoder.encode("secret"))))
        const reader = yield* Effect.fork(client.read)
        yield* Deferred.await(policyStarted)
        yield* Effect.sleep("50 millis")
        assert.isNull(yield* Fiber.poll(reader).pipe(Effect.map(Option.getOrNull)))
        yield* Deferred.succeed(release, false)
        const exit = yield* Fiber.await(reader)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          assert.strictEqual(failure?._tag, "TlsBadCertificateError")
        }
      }), timeout)

    it.scoped("closing the client's scope ends the server's stream without Eof", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const [clientTransport, serverTransport] = yield* makePair
        const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
        const serverText = yield* Effect.fork(Effect.zipRight(server.handshake, collectText(server)))
        yield* Effect.scoped(Effect.gen(function*() {
          const client = yield* TlsClient.connect(clientTransport, {
            serverIdentity: "localhost",
            database: fixture.pki.database
          })
          yield* client.write(encoder.encode("goodbye"))
        }))
        assert.strictEqual(yield* Fiber.join(serverText), "goodbye")
      }), timeout)

    it.scoped("a transport that ends without close_notify fails the stream with Eof", () =>
      Effect.gen(function*() {
        const { client, server, serverTransport } = yield* connectPair(makePair)
        yield* handshakeBoth(client, server)
        yield* server.write(encoder.encode("partial"))
        yield* Effect.sleep("20 millis")
        yield* serverTransport.shutdownWrite
        const error = yield* Effect.flip(collectText(client))
        assert.strictEqual(error._tag, "TlsGenericError")
        assert.strictEqual(error.reason, "Eof")
      }), timeout)

    it.scoped("requireCloseNotify: false accepts a bare end of input", () =>
      Effect.gen(function*() {
        const { client, server, serverTransport } = yield* connectPair(makePair, {
          client: { requireCloseNotify: false }
        })
        yield* handshakeBoth(client, server)
        yield* server.write(encoder.encode("https-style"))
        yield* Effect.sleep("20 millis")
        yield* serverTransport.shutdownWrite
        assert.strictEqual(yield* collectText(client), "https-style")
      }), timeout)

    it.scoped("half-close: after closeWrite the peer can still answer", () =>
      Effect.gen(function*() {
        const { client, server } = yield* connectPair(makePair)
        yield* Effect.forkScoped(Effect.gen(function*() {
          const request = yield* collectText(server)
          yield* server.write(encoder.encode(`got ${request.length} bytes`))
          yield* server.closeWrite
        }))
        yield* client.write(encoder.encode("request"))
        yield* client.closeWrite
        assert.strictEqual(yield* collectText(client), "got 7 bytes")
      }), timeout)

    it.scoped("handshake is memoised: concurrent and repeated calls share one result", () =>
      Effect.gen(function*() {
        const { client, server } = yield* connectPair(makePair)
        yield* Effect.forkScoped(server.handshake)
        const [a, b] = yield* Effect.all([client.handshake, client.handshake], { concurrency: 2 })
        const c = yield* client.handshake
        assert.strictEqual(a, b)
        assert.strictEqual(a, c)
        assert.deepStrictEqual(Option.getOrNull(yield* client.info), a)
      }), timeout)

    it.scoped("the first read runs the handshake implicitly", () =>
      Effect.gen(function*() {
        const { client, server } = yield* connectPair(makePair)
        assert.isTrue(Option.isNone(yield* client.info))
        yield* Effect.forkScoped(Effect.zipRight(server.write(encoder.encode("hi")), server.closeWrite))
        assert.strictEqual(yield* collectText(client), "hi")
        assert.isTrue(Option.isSome(yield* client.info))
      }), timeout)

    it.scoped("handshakeTimeout fails with TlsTimeoutError when the peer never answers", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const [clientTransport] = yield* makePair
        const client = yield* TlsClient.make(clientTransport, {
          serverIdentity: "localhost",
          database: fixture.pki.database,
          handshakeTimeout: "200 millis"
        })
        const error = yield* Effect.flip(client.handshake)
        assert.strictEqual(error._tag, "TlsTimeoutError")
        // the connection is broken for good
        const again = yield* Effect.flip(client.read)
        assert.strictEqual(again._tag, "TlsTimeoutError")
      }), timeout)

    it.scoped("an interrupted handshake leaves the connection closed, not half-open", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const [clientTransport] = yield* makePair
        const client = yield* TlsClient.make(clientTransport, {
          serverIdentity: "localhost",
          database: fixture.pki.database
        })
        const fiber = yield* Effect.fork(client.handshake)
        yield* Effect.sleep("30 millis")
        yield* Fiber.interrupt(fiber)
        const error = yield* Effect.flip(client.handshake)
        assert.strictEqual(error._tag, "TlsGenericError")
        assert.strictEqual(error.reason, "Closed")
      }), timeout)

    it.scoped("a peer that does not speak TLS fails with NotTls or Handshake, typed", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const [clientTransport, serverTransport] = yield* makePair
        const client = yield* TlsClient.make(clientTransport, {
          serverIdentity: "localhost",
          database: fixture.pki.database
        })
        yield* Effect.forkScoped(Effect.gen(function*() {
          yield* serverTransport.read
          yield* serverTransport.write(encoder.encode("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
          yield* serverTransport.shutdownWrite
        }))
        const error = yield* Effect.flip(client.handshake)
        assert.strictEqual(error._tag, "TlsGenericError")
        assert.include(["NotTls", "Handshake"], error.reason)
      }), timeout)

    it.scoped("a client speaking plaintext to a server fails with NotTls", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const [clientTransport, serverTransport] = yield* makePair
        const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
        yield* clientTransport.write(encoder.encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
        const error = yield* Effect.flip(server.handshake)
        assert.strictEqual(error._tag, "TlsGenericError")
        assert.strictEqual(error.reason, "NotTls")
      }), timeout)

    it.scoped("a reader that stops reading stops the writer: memory stays bounded", () =>
      Effect.gen(function*() {
        const { client, server } = yield* connectPair(makePair)
        yield* handshakeBoth(client, server)
        const written = yield* Ref.make(0)
        const block = new Uint8Array(16 * 1024)
        const writer = yield* Effect.fork(
          Effect.forever(Effect.zipRight(server.write(block), Ref.update(written, (n) => n + block.length)))
        )
        // wait until the writer, once it wrote, makes no progress for 300 ms: it is blocked (bounded,
        // so that a writer that never stops fails with what it wrote, not with the test's timeout)
        let seen = 0
        const stalledAt = yield* Effect.iterate({ previous: -1, current: 0 }, {
          while: ({ current, previous }) => current !== previous || current === 0,
          body: ({ current }) =>
            Effect.map(Effect.zipRight(Effect.sleep("300 millis"), Ref.get(written)), (next) => {
              seen = next
              return { previous: current, current: next }
            })
        }).pipe(
          Effect.map(({ current }) => current),
          Effect.timeoutFail({
            duration: "18 seconds",
            onTimeout: () => new Error(`the writer did not stall within 18 s: ${seen} bytes written`)
          })
        )
        assert.isAbove(stalledAt, 0)
        assert.isBelow(stalledAt, 16 * 1024 * 1024, "bounded buffering")
        // reading unblocks it
        yield* Effect.forkScoped(Stream.runDrain(client.stream))
        yield* Effect.repeat(Ref.get(written), {
          until: (n) => n > stalledAt,
          schedule: Schedule.spaced("20 millis")
        }).pipe(Effect.timeoutFail({
          duration: "8 seconds",
          onTimeout: () =>
            new Error(`the writer did not resume within 8 s of the reader starting (stalled at ${stalledAt} bytes)`)
        }))
        yield* Fiber.interrupt(writer)
      }), timeout)

    it.scoped("mutual TLS: the server asks, the client presents, both verify", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const { client, server } = yield* connectPair(makePair, {
          client: { certificate: fixture.client.certifiedKey },
          server: { clientAuth: "required", database: fixture.pki.database }
        })
        const [clientInfo, serverInfo] = yield* handshakeBoth(client, server)
        assert.isTrue(Option.isSome(serverInfo.peerCertificate))
        const leaf = Option.getOrThrow(serverInfo.peerCertificate)[0]!
        assert.strictEqual(leaf.subject.text, fixture.client.certificate.subject.text)
        assert.isTrue(CertificateFlags.isEmpty(serverInfo.peerCertificateErrors))
        assert.isTrue(CertificateFlags.isEmpty(clientInfo.peerCertificateErrors))
      }), timeout)

    it.scoped("clientAuth requested: a client without a certificate is let in", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const { client, server } = yield* connectPair(makePair, {
          server: { clientAuth: "requested", database: fixture.pki.database }
        }).pipe(withCertificateInteraction)
        const [clientInfo, serverInfo] = yield* handshakeBoth(client, server)
        assert.isTrue(Option.isNone(serverInfo.peerCertificate))
        assert.strictEqual(clientInfo.protocolVersion, "TLSv1.3")
        if (!tls13AcceptedCas) return assert.isTrue(Option.isNone(clientInfo.acceptedCas))
        // the client saw the request and the server's CA names
        assert.isTrue(Option.isSome(clientInfo.acceptedCas))
        assert.deepStrictEqual(
          Option.getOrThrow(clientInfo.acceptedCas).map((name) => name.text),
          [fixture.pki.ca.certificate.subject.text]
        )
      }), timeout)

    for (const version of ["TLSv1.3", "TLSv1.2"] satisfies ReadonlyArray<ProtocolVersion>) {
      it.scoped(
        `clientAuth required, no client certificate: CertificateRequired with the accepted CAs (${version})`,
        () =>
          Effect.gen(function*() {
            const fixture = yield* TestPki.TestPki
            const { client, server } = yield* connectPair(makePair, {
              client: { maxVersion: version },
              server: { clientAuth: "required", database: fixture.pki.database }
            }).pipe(withCertificateInteraction)
            const serverError = yield* Effect.fork(Effect.flip(server.handshake))
            // TLS 1.2 refuses in the handshake; TLS 1.3 after the client's Finished, at the first read
            const error = yield* Effect.flip(Effect.zipRight(client.handshake, client.read))
            assert.strictEqual(error._tag, "TlsCertificateRequiredError")
            if (error._tag === "TlsCertificateRequiredError") {
              assert.deepStrictEqual(
                error.acceptedCas.map((name) => name.text),
                version === "TLSv1.3" && !tls13AcceptedCas ? [] : [fixture.pki.ca.certificate.subject.text]
              )
            }
            const onServer = yield* Fiber.join(serverError)
            assert.strictEqual(onServer._tag, "TlsCertificateRequiredError")
          }),
        timeout
      )
    }

    it.scoped("clientCas overrides the CA names sent to clients", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const other = yield* TestPki.make({ commonName: "Other Test CA" })
        const { client, server } = yield* connectPair(makePair, {
          server: {
            clientAuth: "requested",
            database: fixture.pki.database,
            clientCas: [other.ca.certificate, fixture.pki.ca.certificate]
          }
        }).pipe(withCertificateInteraction)
        const [clientInfo] = yield* handshakeBoth(client, server)
        assert.strictEqual(clientInfo.protocolVersion, "TLSv1.3")
        if (!tls13AcceptedCas) return assert.isTrue(Option.isNone(clientInfo.acceptedCas))
        assert.deepStrictEqual(
          Option.getOrThrow(clientInfo.acceptedCas).map((name) => name.text),
          [other.ca.certificate.subject.text, fixture.pki.ca.certificate.subject.text]
        )
      }), timeout)

    it.scoped(
      "a client certificate from an unknown CA is refused by a server that requires one",
      () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const other = yield* TestPki.make()
          const stranger = yield* other.issueClient()
          const { client, server } = yield* connectPair(makePair, {
            client: { certificate: stranger.certifiedKey },
            server: { clientAuth: "required", database: fixture.pki.database }
          })
          const serverError = yield* Effect.fork(Effect.flip(server.handshake))
          const error = yield* Effect.flip(Effect.zipRight(client.handshake, client.read))
          assert.strictEqual(error._tag, "TlsBadCertificateError")
          if (error._tag === "TlsBadCertificateError") assert.isTrue(error.byPeer)
          const onServer = yield* Fiber.join(serverError)
          assert.include(["TlsBadCertificateError", "TlsGenericError"], onServer._tag)
        }),
      timeout
    )

    it.scoped("a server policy can refuse a client certificate the CA vouches for", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const { client, server } = yield* connectPair(makePair, {
          client: { certificate: fixture.client.certifiedKey },
          server: {
            clientAuth: "requested",
            database: fixture.pki.database,
            acceptCertificate: AcceptCertificate.pinSpki(["not-this-key"])
          }
        })
        yield* Effect.fork(client.handshake)
        const error = yield* Effect.flip(server.handshake)
        assert.strictEqual(error._tag, "TlsBadCertificateError")
        if (error._tag === "TlsBadCertificateError") {
          assert.strictEqual(error.side, "server")
          assert.strictEqual(error.peerCertificate[0]?.subject.text, fixture.client.certificate.subject.text)
        }
      }), timeout)

    it.scoped(
      "pinning: a server no CA vouches for is accepted by its key, another key is not",
      () =>
        Effect.gen(function*() {
          const stranger = yield* TestPki.make()
          const certificate = yield* stranger.issueServer()
          const pinned = yield* connectPair(makePair, {
            client: { acceptCertificate: AcceptCertificate.pinSpki([certificate.certificate.spkiSha256]) },
            server: { certificate: certificate.certifiedKey }
          })
          const [info] = yield* handshakeBoth(pinned.client, pinned.server)
          assert.deepStrictEqual(CertificateFlags.toArray(info.peerCertificateErrors), ["UnknownCa"])
          const other = yield* connectPair(makePair, {
            client: { acceptCertificate: AcceptCertificate.pinFingerprint(["00".repeat(32)]) },
            server: { certificate: certificate.certifiedKey }
          })
          yield* Effect.fork(other.server.handshake)
          const error = yield* Effect.flip(other.client.handshake)
          assert.strictEqual(error._tag, "TlsBadCertificateError")
        }),
      timeout
    )

    it.scoped(
      "trust on first use: the first key is remembered, a different one is refused",
      () =>
        Effect.gen(function*() {
          const store = yield* AcceptCertificate.makeMemoryTofuStore
          const policy = AcceptCertificate.trustOnFirstUse(store)
          const first = yield* TestPki.make()
          const second = yield* TestPki.make()
          const firstCertificate = yield* first.issueServer()
          const secondCertificate = yield* second.issueServer()
          const connectTo = (certificate: TestPki.Issued) =>
            Effect.gen(function*() {
              const pair = yield* connectPair(makePair, {
                client: { acceptCertificate: policy },
                server: { certificate: certificate.certifiedKey }
              })
              yield* Effect.fork(pair.server.handshake)
              return yield* Effect.either(pair.client.handshake)
            })
          assert.strictEqual((yield* connectTo(firstCertificate))._tag, "Right")
          assert.deepStrictEqual(
            Option.getOrNull(yield* store.get("localhost")),
            firstCertificate.certificate.spkiSha256
          )
          assert.strictEqual((yield* connectTo(firstCertificate))._tag, "Right")
          assert.strictEqual((yield* connectTo(secondCertificate))._tag, "Left")
        }),
      timeout
    )
  })
}
