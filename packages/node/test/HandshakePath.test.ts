/**
 * The client handshake path's visible rules (issue 8): when the accepted CA names of a TLS 1.3
 * CertificateRequest are recovered (only when a certificate request can matter), and the peer
 * chain as read once at `secureConnect` (as the server sent it, nothing appended).
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import type { ProtocolVersion } from "@effect-tls/core/ProtocolVersion"
import * as SessionCache from "@effect-tls/core/SessionCache"
import * as TlsClient from "@effect-tls/core/TlsClient"
import type { ClientOptions } from "@effect-tls/core/TlsClient"
import * as TlsInteraction from "@effect-tls/core/TlsInteraction"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option } from "effect"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTlsServer from "../src/NodeTlsServer.js"
import * as NodeTransport from "../src/NodeTransport.js"

// full handshakes only: a resumed one has no CertificateRequest
const env = Layer.mergeAll(TestPki.layer(), NodeTlsBackend.layer, SessionCache.layerDisabled)

/** A server that requests (not requires) a client certificate, and a client's handshake with it. */
const acceptedCasOf = (client: Partial<ClientOptions>, maxVersion: ProtocolVersion = "TLSv1.3") =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const [clientTransport, serverTransport] = yield* MemoryTransport.pair()
    const server = yield* TlsServer.make(serverTransport, {
      certificate: fixture.server.certifiedKey,
      clientAuth: "requested",
      database: fixture.pki.database
    })
    const connection = yield* TlsClient.make(clientTransport, {
      serverIdentity: "localhost",
      database: fixture.pki.database,
      maxVersion,
      ...client
    })
    const [info] = yield* Effect.all([connection.handshake, server.handshake], { concurrency: 2 })
    return Option.map(info.acceptedCas, (names) => names.map((name) => name.text))
  })

/** A loopback TCP listener, and a connection to it: both ends. */
const tcpPair = Effect.gen(function*() {
  const listener = yield* NodeTlsServer.listener()
  const address = listener.address
  if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("not a TCP listener")
  return Effect.gen(function*() {
    const client = yield* NodeTransport.connect({ host: "127.0.0.1", port: address.port })
    return [client, yield* listener.accept] as const
  })
})

const declines = TlsInteraction.make({ requestCertificate: () => Effect.succeed(Option.none()) })

layer(env, { excludeTestServices: true })("client handshake path", (it) => {
  describe("accepted CA names (TLS 1.3: only when a certificate request can matter)", () => {
    it.scoped("TLS 1.3, no certificate, no interaction: none (the flight is not decrypted)", () =>
      Effect.gen(function*() {
        assert.isTrue(Option.isNone(yield* acceptedCasOf({})))
      }))

    it.scoped("TLS 1.3 with a client certificate: the server's CA names", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const names = yield* acceptedCasOf({ certificate: fixture.client.certifiedKey })
        assert.deepStrictEqual(Option.getOrNull(names), [fixture.pki.ca.certificate.subject.text])
      }))

    it.scoped("TLS 1.3 with a TlsInteraction that answers certificate requests: the CA names", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const names = yield* acceptedCasOf({}).pipe(Effect.provideService(TlsInteraction.TlsInteraction, declines))
        assert.deepStrictEqual(Option.getOrNull(names), [fixture.pki.ca.certificate.subject.text])
      }))

    it.scoped("TLS 1.3, an interaction that only asks for passwords does not count", () =>
      Effect.gen(function*() {
        const passwords = TlsInteraction.make({ askPassword: () => Effect.succeed(Option.none()) })
        const names = yield* acceptedCasOf({}).pipe(Effect.provideService(TlsInteraction.TlsInteraction, passwords))
        assert.isTrue(Option.isNone(names))
      }))

    it.scoped("TLS 1.3 with NodeTlsBackend.RecordAcceptedCas: the CA names", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const names = yield* acceptedCasOf({}).pipe(Effect.provideService(NodeTlsBackend.RecordAcceptedCas, true))
        assert.deepStrictEqual(Option.getOrNull(names), [fixture.pki.ca.certificate.subject.text])
      }))

    it.scoped("a TLS 1.3-only client: none by default, the CA names when a request can matter", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        assert.isTrue(Option.isNone(yield* acceptedCasOf({ minVersion: "TLSv1.3" })))
        const names = yield* acceptedCasOf({ minVersion: "TLSv1.3", certificate: fixture.client.certifiedKey })
        assert.deepStrictEqual(Option.getOrNull(names), [fixture.pki.ca.certificate.subject.text])
      }))

    it.scoped("TLS 1.2: the CertificateRequest travels in clear and is always read", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const names = yield* acceptedCasOf({}, "TLSv1.2")
        assert.deepStrictEqual(Option.getOrNull(names), [fixture.pki.ca.certificate.subject.text])
      }))
  })

  describe("resumption", () => {
    for (const transport of ["memory pair", "loopback TCP"] as const) {
      it.scoped(`TLS 1.3 over ${transport}: a client closed right after its handshake still keeps a ticket`, () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const cache = SessionCache.makeMemory()
          // (one listener: the session cache's key holds the server's address)
          const pair = transport === "memory pair" ? MemoryTransport.pair() : yield* tcpPair
          const once = Effect.scoped(Effect.gen(function*() {
            const [clientTransport, serverTransport] = yield* pair
            const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
            yield* Effect.forkScoped(Effect.ignore(Effect.zipRight(server.handshake, server.read)))
            const client = yield* TlsClient.connect(clientTransport, {
              serverIdentity: "localhost",
              database: fixture.pki.database
            })
            return (yield* client.handshake).resumed
          })).pipe(Effect.provideService(SessionCache.SessionCache, cache))
          // a full handshake gives two single-use tickets (node:tls servers give none on resumption)
          assert.deepStrictEqual([yield* once, yield* once, yield* once, yield* once], [false, true, true, false])
        }))
    }

    for (const clientAuth of ["requested", "required"] as const) {
      it.scoped(`a server with clientAuth "${clientAuth}" resumes (its contexts have a session id context)`, () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const cache = SessionCache.makeMemory()
          const once = Effect.scoped(Effect.gen(function*() {
            const [clientTransport, serverTransport] = yield* MemoryTransport.pair()
            const server = yield* TlsServer.make(serverTransport, {
              certificate: fixture.server.certifiedKey,
              clientAuth,
              database: fixture.pki.database
            })
            const client = yield* TlsClient.make(clientTransport, {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              certificate: fixture.client.certifiedKey
            })
            const [info] = yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
            // TLS 1.3 tickets arrive after the handshake: one round trip of data fetches them
            yield* Effect.all([client.write(new Uint8Array([1])), server.read], { concurrency: 2 })
            yield* Effect.all([server.write(new Uint8Array([2])), client.read], { concurrency: 2 })
            return info.resumed
          })).pipe(Effect.provideService(SessionCache.SessionCache, cache))
          assert.isFalse(yield* once)
          assert.isTrue(yield* once)
        }))
    }
  })

  describe("the peer chain, read once at secureConnect", () => {
    it.scoped("is the chain the server sent, in order, nothing appended from the trust store", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const intermediate = yield* fixture.pki.intermediate()
        const leaf = yield* intermediate.issueServer()
        const [clientTransport, serverTransport] = yield* MemoryTransport.pair()
        const server = yield* TlsServer.make(serverTransport, { certificate: leaf.certifiedKey })
        const client = yield* TlsClient.make(clientTransport, {
          serverIdentity: "localhost",
          database: fixture.pki.database
        })
        const [info] = yield* Effect.all([client.handshake, server.handshake], { concurrency: 2 })
        const chain = Option.getOrThrow(info.peerCertificate)
        assert.deepStrictEqual(
          chain.map((certificate) => certificate.subject.text),
          [leaf.certificate.subject.text, intermediate.ca.certificate.subject.text]
        )
        assert.isTrue(CertificateFlags.isEmpty(info.peerCertificateErrors))
      }))

    it.scoped("the engine's own identity check still runs on it (a wrong name is refused)", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const [clientTransport, serverTransport] = yield* MemoryTransport.pair()
        const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
        const client = yield* TlsClient.make(clientTransport, {
          serverIdentity: "other.example",
          database: fixture.pki.database
        })
        yield* Effect.fork(Effect.ignore(server.handshake))
        const error = yield* Effect.flip(client.handshake)
        assert.strictEqual(error._tag, "TlsBadCertificateError")
        if (error._tag === "TlsBadCertificateError") {
          assert.isTrue(CertificateFlags.has(error.flags, "BadIdentity"))
        }
      }))
  })

  describe("the handshake in one Effect.async (live clock, no tracer)", () => {
    /** A server and a client over a memory pair, the client with `acceptCertificate`. */
    const connected = (acceptCertificate: ClientOptions["acceptCertificate"]) =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const [clientTransport, serverTransport] = yield* MemoryTransport.pair()
        const server = yield* TlsServer.make(serverTransport, { certificate: fixture.server.certifiedKey })
        yield* Effect.fork(Effect.ignore(server.handshake))
        return yield* TlsClient.make(clientTransport, {
          serverIdentity: "localhost",
          database: fixture.pki.database,
          acceptCertificate
        })
      })

    it.scoped("the policy runs on every connection, the verdict of a chain verified before included", () =>
      Effect.gen(function*() {
        const seen: Array<number> = []
        const policy: ClientOptions["acceptCertificate"] = (context) => {
          seen.push(context.flags.size)
          return Effect.succeed(seen.length !== 3)
        }
        for (let i = 0; i < 2; i++) {
          const info = yield* Effect.flatMap(connected(policy), (client) => client.handshake).pipe(Effect.scoped)
          assert.isTrue(CertificateFlags.isEmpty(info.peerCertificateErrors))
        }
        const refused = yield* Effect.flip(Effect.flatMap(connected(policy), (client) => client.handshake)).pipe(
          Effect.scoped
        )
        assert.strictEqual(refused._tag, "TlsBadCertificateError")
        assert.deepStrictEqual(seen, [0, 0, 0])
      }))

    it.scoped("a policy that throws is a defect of the handshake (not a crash); the connection stays failed", () =>
      Effect.gen(function*() {
        const client = yield* connected(() => {
          throw new Error("policy bug")
        })
        const exit = yield* Effect.exit(client.handshake)
        assert.isTrue(exit._tag === "Failure" && exit.cause._tag === "Die")
        assert.deepStrictEqual(yield* Effect.exit(client.handshake), exit)
        assert.isTrue(Option.isNone(yield* client.info))
      }))

    it.scoped("an interrupted handshake leaves the connection closed (typed), and the engine torn down", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        // (no server: the handshake waits for its flight)
        const [clientTransport] = yield* MemoryTransport.pair()
        const client = yield* TlsClient.make(clientTransport, {
          serverIdentity: "localhost",
          database: fixture.pki.database
        })
        const fiber = yield* Effect.fork(client.handshake)
        yield* Effect.sleep("20 millis")
        const exit = yield* Fiber.interrupt(fiber)
        assert.isTrue(Exit.isInterrupted(exit), String(exit))
        const error = yield* Effect.flip(client.handshake)
        assert.strictEqual(error._tag, "TlsGenericError")
        assert.strictEqual(error.reason, "Closed")
        const write = yield* Effect.flip(client.write(new Uint8Array([1])))
        assert.strictEqual(write.reason, "Closed")
      }))
  })
})
