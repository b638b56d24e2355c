/**
 * Issue 6, defect 2: bad options fail with one typed error (`TlsConfigError`, the field and
 * why) before anything reaches the engine (a backend that counts its connections proves it:
 * an empty ALPN name that reached node:tls would abort this very process, exit 134). A certificate and a key that do
 * not match fail where the `CertifiedKey` is made.
 */
import * as CertifiedKey from "@effect-tls/core/CertifiedKey"
import * as PrivateKey from "@effect-tls/core/PrivateKey"
import { TlsBackend } from "@effect-tls/core/TlsBackend"
import * as TlsClient from "@effect-tls/core/TlsClient"
import type { TlsConfigError } from "@effect-tls/core/TlsError"
import * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Ref, Schema } from "effect"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"

/** The Node backend, counting the connections that reach its engine. */
class EngineCalls extends Effect.Service<EngineCalls>()("test/EngineCalls", { effect: Ref.make(0) }) {}

const countingBackend = Layer.effect(
  TlsBackend,
  Effect.gen(function*() {
    const backend = yield* NodeTlsBackend.make
    const calls = yield* EngineCalls
    return {
      ...backend,
      client: (config) => Effect.zipRight(Ref.update(calls, (n) => n + 1), backend.client(config)),
      server: (config) => Effect.zipRight(Ref.update(calls, (n) => n + 1), backend.server(config))
    }
  })
).pipe(Layer.provideMerge(EngineCalls.Default))

const expectConfigError = <A, E extends { readonly _tag: string }, R>(
  effect: Effect.Effect<A, E, R>,
  path: ReadonlyArray<PropertyKey>,
  detail?: RegExp
) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    if (Exit.isSuccess(exit)) return assert.fail(`expected a TlsConfigError at ${String(path)}, got a success`)
    assert.isFalse(Cause.isDie(exit.cause), `a defect instead of a typed failure: ${Cause.pretty(exit.cause)}`)
    const error = Cause.squash(exit.cause) as TlsConfigError
    assert.strictEqual(error._tag, "TlsConfigError", String(error))
    assert.deepStrictEqual(error.path, path)
    assert.match(error.message, /^TLS Config: /)
    if (detail !== undefined) assert.match(error.detail, detail)
    return error
  })

layer(Layer.mergeAll(TestPki.layer(), countingBackend), { timeout: 60_000 })("validated options", (it) => {
  describe("TlsClient and TlsServer", () => {
    const clientCases: ReadonlyArray<readonly [string, TlsClient.ClientOptions, ReadonlyArray<PropertyKey>]> = [
      ["an empty ALPN name (node:tls aborts the process on it)", { alpn: [""] }, ["alpn", 0]],
      ["an ALPN name over 255 bytes", { alpn: ["h2", "x".repeat(256)] }, ["alpn", 1]],
      ["an ALPN name over 255 bytes of UTF-8", { alpn: ["é".repeat(128)] }, ["alpn", 0]],
      ["handshakeTimeout \"soon\"", { handshakeTimeout: "soon" as never }, ["handshakeTimeout"]],
      ["a negative policyTimeout", { policyTimeout: -1 }, ["policyTimeout"]],
      ["a closeTimeout that is not a duration", { closeTimeout: "later" } as never, ["closeTimeout"]],
      ["an unknown minVersion", { minVersion: "TLSv1.4" as never }, ["minVersion"]],
      ["maxVersion older than minVersion", { minVersion: "TLSv1.3", maxVersion: "TLSv1.2" }, ["maxVersion"]],
      ["an empty cipher list", { ciphers: " " }, ["ciphers"]],
      ["requireCloseNotify that is not a boolean", { requireCloseNotify: "yes" as never }, ["requireCloseNotify"]],
      ["a certificate that is not a CertifiedKey", { certificate: {} as never }, ["certificate"]],
      ["a database without verifyChain", { database: {} as never }, ["database"]],
      ["an empty serverIdentity", { serverIdentity: "" }, ["serverIdentity"]],
      ["a serverIdentity with a space", { serverIdentity: "local host" }, ["serverIdentity"]]
    ]
    for (const [name, options, path] of clientCases) {
      it.scoped(`client: ${name} is a TlsConfigError before the engine is reached`, () =>
        Effect.gen(function*() {
          const [left] = yield* MemoryTransport.pair()
          const before = yield* EngineCalls
          yield* expectConfigError(TlsClient.connect(left, { serverIdentity: "localhost", ...options }), path)
          assert.strictEqual(yield* EngineCalls, before, "the engine was reached")
        }))
    }

    const serverCases: ReadonlyArray<
      readonly [string, Partial<TlsServer.ServerOptions>, ReadonlyArray<PropertyKey>]
    > = [
      ["clientAuth \"sometimes\"", { clientAuth: "sometimes" as never }, ["clientAuth"]],
      ["an empty ALPN name", { alpn: [""] }, ["alpn", 0]],
      ["handshakeTimeout \"soon\"", { handshakeTimeout: "soon" as never }, ["handshakeTimeout"]],
      ["a certificate that is neither a CertifiedKey nor Credentials", { certificate: {} as never }, ["certificate"]]
    ]
    for (const [name, options, path] of serverCases) {
      it.scoped(`server: ${name} is a TlsConfigError before the engine is reached`, () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [, right] = yield* MemoryTransport.pair()
          const before = yield* EngineCalls
          yield* expectConfigError(
            TlsServer.accept(right, { certificate: fixture.server.certifiedKey, ...options }),
            path
          )
          assert.strictEqual(yield* EngineCalls, before, "the engine was reached")
        }))
    }

    it.scoped("valid options still connect (255-byte ALPN names, the boundary, included)", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const name = "p".repeat(255)
        const [left, right] = yield* MemoryTransport.pair()
        const server = yield* Effect.fork(
          TlsServer.accept(right, { certificate: fixture.server.certifiedKey, alpn: [name], clientAuth: "none" })
        )
        const client = yield* TlsClient.connect(left, {
          serverIdentity: "localhost",
          database: fixture.pki.database,
          alpn: [name],
          handshakeTimeout: "10 seconds"
        })
        assert.strictEqual((yield* client.handshake).negotiatedProtocol._tag, "Some")
        yield* Fiber.join(server)
      }))

    it.scoped("an options object is checked once, and again whenever it changed or failed", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const alpn = ["echo/1"]
        const serverOptions: { -readonly [K in keyof TlsServer.ServerOptions]: TlsServer.ServerOptions[K] } = {
          certificate: fixture.server.certifiedKey,
          alpn
        }
        const clientOptions: { -readonly [K in keyof TlsClient.ClientOptions]: TlsClient.ClientOptions[K] } = {
          serverIdentity: "localhost",
          database: fixture.pki.database,
          alpn,
          handshakeTimeout: "10 seconds"
        }
        const connectOnce = Effect.gen(function*() {
          const [left, right] = yield* MemoryTransport.pair()
          const server = yield* Effect.fork(TlsServer.accept(right, serverOptions))
          const client = yield* TlsClient.connect(left, clientOptions)
          assert.strictEqual((yield* client.handshake).negotiatedProtocol._tag, "Some")
          yield* Fiber.join(server)
        }).pipe(Effect.scoped)
        yield* connectOnce
        yield* connectOnce
        const failsBeforeTheEngine = (options: object, path: ReadonlyArray<PropertyKey>) =>
          Effect.gen(function*() {
            const [left, right] = yield* MemoryTransport.pair()
            const before = yield* EngineCalls
            const isServer = options === serverOptions
            for (let i = 0; i < 2; i++) {
              yield* expectConfigError(
                isServer
                  ? Effect.asVoid(TlsServer.accept(right, serverOptions))
                  : TlsClient.connect(left, clientOptions),
                path
              )
            }
            assert.strictEqual(yield* EngineCalls, before, "the engine was reached")
          }).pipe(Effect.scoped)
        // changed in place, inside an array that passed before (node:tls would abort on it)
        alpn.push("")
        yield* failsBeforeTheEngine(clientOptions, ["alpn", 1])
        yield* failsBeforeTheEngine(serverOptions, ["alpn", 1])
        alpn.pop()
        yield* connectOnce
        // a field replaced, or added
        clientOptions.handshakeTimeout = "soon" as never
        yield* failsBeforeTheEngine(clientOptions, ["handshakeTimeout"])
        delete clientOptions.handshakeTimeout
        serverOptions.clientAuth = "sometimes" as never
        yield* failsBeforeTheEngine(serverOptions, ["clientAuth"])
        delete serverOptions.clientAuth
        serverOptions.sni = { resolve: () => Effect.succeedNone, timeout: "1 second" }
        yield* connectOnce
        ;(serverOptions.sni as { timeout: unknown }).timeout = -5
        yield* failsBeforeTheEngine(serverOptions, ["sni", "timeout"])
      }))

    it.scoped("a fresh copy of options that passed passes; a copy that differs is checked anew", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const base: TlsClient.ClientOptions = {
          serverIdentity: "localhost",
          database: fixture.pki.database,
          alpn: ["echo/1"],
          handshakeTimeout: "10 seconds"
        }
        const serverOptions = { certificate: fixture.server.certifiedKey, alpn: ["echo/1"] }
        const connectWith = (clientOptions: TlsClient.ClientOptions) =>
          Effect.gen(function*() {
            const [left, right] = yield* MemoryTransport.pair()
            const server = yield* Effect.fork(TlsServer.accept(right, { ...serverOptions }))
            const client = yield* TlsClient.connect(left, clientOptions)
            assert.strictEqual((yield* client.handshake).negotiatedProtocol._tag, "Some")
            yield* Fiber.join(server)
          }).pipe(Effect.scoped)
        // one copy per connection, as `{ ...options, requireCloseNotify }` makes
        yield* connectWith({ ...base })
        yield* connectWith({ ...base })
        const before = yield* EngineCalls
        const [left] = yield* MemoryTransport.pair()
        // the same values but one: a nested array with a bad name, a bad field, an added bad field
        yield* expectConfigError(TlsClient.connect(left, { ...base, alpn: ["echo/1", ""] }), ["alpn", 1])
        yield* expectConfigError(TlsClient.connect(left, { ...base, handshakeTimeout: "soon" as never }), [
          "handshakeTimeout"
        ])
        yield* expectConfigError(TlsClient.connect(left, { ...base, closeTimeout: -1 }), ["closeTimeout"])
        yield* expectConfigError(
          TlsServer.accept(left, { ...serverOptions, clientAuth: "sometimes" as never }),
          ["clientAuth"]
        )
        assert.strictEqual(yield* EngineCalls, before, "the engine was reached")
        yield* connectWith({ ...base })
      }))
  })

  describe("TlsOptions.validateOnce", () => {
    it.effect("decodes an options object once: the remembered object is not decoded again", () =>
      Effect.gen(function*() {
        let decodes = 0
        const Counted = Schema.Struct({ port: Schema.Number }).pipe(Schema.filter(() => {
          decodes++
          return true
        }))
        const options = { port: 1 }
        for (let i = 0; i < 3; i++) yield* TlsOptions.validateOnce(Counted, "counted options", options)
        // a fresh copy of the same values too
        yield* TlsOptions.validateOnce(Counted, "counted options", { ...options })
        assert.strictEqual(decodes, 1)
        options.port = 2
        yield* TlsOptions.validateOnce(Counted, "counted options", options)
        assert.strictEqual(decodes, 2)
      }))

    it.effect("a remembered object changed inside (a nested field, a field added) is decoded again", () =>
      Effect.gen(function*() {
        let decodes = 0
        const Counted = Schema.Struct({
          port: Schema.Number,
          inner: Schema.Struct({ names: Schema.Array(Schema.String) }),
          extra: Schema.optional(Schema.Number)
        }).pipe(Schema.filter(() => {
          decodes++
          return true
        }))
        const options: { port: number; inner: { names: Array<string> }; extra?: number } = {
          port: 1,
          inner: { names: ["a"] }
        }
        yield* TlsOptions.validateOnce(Counted, "counted options", options)
        yield* TlsOptions.validateOnce(Counted, "counted options", options)
        assert.strictEqual(decodes, 1)
        options.inner.names.push("b")
        yield* TlsOptions.validateOnce(Counted, "counted options", options)
        assert.strictEqual(decodes, 2)
        options.extra = 3
        yield* TlsOptions.validateOnce(Counted, "counted options", options)
        assert.strictEqual(decodes, 3)
        // a copy whose nested array differs from every remembered one
        yield* TlsOptions.validateOnce(Counted, "counted options", { ...options, inner: { names: ["c"] } })
        assert.strictEqual(decodes, 4)
      }))
  })

  describe("transports", () => {
    it.scoped("MemoryTransport.pair({ capacity: 0 }) is a TlsConfigError", () =>
      Effect.gen(function*() {
        yield* expectConfigError(MemoryTransport.pair({ capacity: 0 }), ["capacity"])
      }))

    it.scoped("NodeTransport.connect and listen validate their options", () =>
      Effect.gen(function*() {
        yield* expectConfigError(NodeTransport.connect({ host: "127.0.0.1", port: 70000 }), ["port"])
        yield* expectConfigError(NodeTransport.connect({ host: "127.0.0.1", port: 0 }), ["port"])
        yield* expectConfigError(NodeTransport.connect({ host: "", port: 443 }), ["host"])
        yield* expectConfigError(
          NodeTransport.connect({ host: "127.0.0.1", port: 443, timeout: "soon" as never }),
          ["timeout"]
        )
        yield* expectConfigError(NodeTransport.listen({ port: -1 }), ["port"])
        yield* expectConfigError(NodeTransport.listen({ backlog: 1.5 }), ["backlog"])
      }))
  })

  describe("CertifiedKey", () => {
    it.effect("a key that is not the certificate's fails where the CertifiedKey is made, saying so", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const stranger = yield* fixture.pki.issueServer({ freshKey: true })
        const made = yield* Effect.flip(CertifiedKey.make(fixture.server.chain, stranger.key))
        assert.strictEqual(made.reason, "KeyMismatch")
        assert.match(made.message, /not the key of the certificate/)
        const fromPem = yield* Effect.flip(CertifiedKey.fromPem(fixture.serverPem, stranger.keyPem))
        assert.strictEqual(fromPem.reason, "KeyMismatch")
        // another key type: the same answer
        const rsa = yield* fixture.pki.issueServer({ keyType: "rsa-2048" })
        const wrongType = yield* Effect.flip(CertifiedKey.make(fixture.server.chain, rsa.key))
        assert.strictEqual(wrongType.reason, "KeyMismatch")
        // the matching pair is made
        const good = yield* CertifiedKey.make(fixture.server.chain, yield* PrivateKey.fromPem(fixture.keyPem))
        assert.strictEqual(good.chain[0], fixture.server.chain[0])
      }))
  })
})
