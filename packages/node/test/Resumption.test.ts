import * as AcceptCertificate from "@effect-tls/core/AcceptCertificate"
import type { ProtocolVersion } from "@effect-tls/core/ProtocolVersion"
import * as SessionCache from "@effect-tls/core/SessionCache"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type { Transport } from "@effect-tls/core/Transport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Ref, type Scope, Stream } from "effect"
import { unwrapSession, withoutPeerCertificate, wrapSession } from "../src/internal/sessions.js"
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

/** Our echo server, and client options that trust it as `localhost` (with `extra`). */
const setup = (extra: Partial<TlsClient.ClientOptions> = {}) =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const connect = yield* echoServer()
    const options: TlsClient.ClientOptions = { serverIdentity: "localhost", database: fixture.pki.database, ...extra }
    return { connect, fixture, options }
  })

/**
 * Whether a client resumes: not on Deno 2.9, whose getSession() is a 40-byte blob that does not
 * resume (the README's "resumption" cell): there every handshake must be a full one, the
 * certificate verified and the policy run each time (never a false resumption).
 */
/** Two round trips through a memory cache that records every session it is given. */
const twoRoundTrips = (
  connect: Effect.Effect<Transport, unknown, Scope.Scope>,
  options: TlsClient.ClientOptions
) =>
  Effect.gen(function*() {
    const inner = SessionCache.makeMemory()
    const stored: Array<Uint8Array> = []
    const watched: SessionCache.SessionCacheShape = {
      take: inner.take,
      put: (key, session) =>
        Effect.zipRight(Effect.sync(() => stored.push(Redacted.value(session))), inner.put(key, session))
    }
    const infos = yield* Effect.forEach(
      [1, 2],
      () => roundTrip(connect, options).pipe(Effect.provide(SessionCache.layer(watched)))
    )
    return { infos, stored }
  })

const resumes = typeof (globalThis as any).Deno !== "object"
const onBun = typeof process.versions.bun === "string"

/** A cache's answer as bytes (null when it had nothing). */
const bytes = (option: Option.Option<SessionCache.Session>) => Option.getOrNull(Option.map(option, Redacted.value))

layer(Layer.merge(TestPki.layer(), NodeTlsBackend.layer), { excludeTestServices: true, timeout: 60_000 })(
  "session resumption",
  (it) => {
    for (const version of ["TLSv1.3", "TLSv1.2"] satisfies ReadonlyArray<ProtocolVersion>) {
      describe(version, () => {
        it.scoped("the SessionCache resumes the next connection to the same server, and verifies it again", () =>
          Effect.gen(function*() {
            const policyRuns = yield* Ref.make(0)
            const { connect, fixture, options } = yield* setup({
              maxVersion: version,
              acceptCertificate: (context) => Effect.as(Ref.update(policyRuns, (n) => n + 1), context.flags.size === 0)
            })
            const first = yield* roundTrip(connect, options)
            const second = yield* roundTrip(connect, options)
            const third = yield* roundTrip(connect, options)
            assert.deepStrictEqual([first.resumed, second.resumed, third.resumed], [false, resumes, resumes])
            assert.strictEqual(second.protocolVersion, version)
            // the resumed handshake still carries the peer's certificate, verified again
            assert.strictEqual(
              Option.getOrThrow(second.peerCertificate)[0]?.fingerprintSha256,
              fixture.server.certificate.fingerprintSha256
            )
            assert.strictEqual(yield* Ref.get(policyRuns), 3)
          }).pipe(Effect.provide(SessionCache.layerMemory())))

        it.scoped("a cached session resumes, its peer chain beside node's session (TLS 1.3: not inside it)", () =>
          Effect.gen(function*() {
            const { connect, fixture, options } = yield* setup({ maxVersion: version })
            const { infos, stored } = yield* twoRoundTrips(connect, options)
            assert.deepStrictEqual(infos.map((info) => info.resumed), [false, resumes])
            assert.deepStrictEqual([...infos[1]!.peerCertificateErrors], [...infos[0]!.peerCertificateErrors])
            // (what follows reads OpenSSL's session)
            if (!resumes) return
            assert.isAbove(stored.length, 0)
            const leaf = Buffer.from(fixture.server.certificate.der)
            for (const bytes of stored) {
              const unwrapped = Option.getOrThrow(unwrapSession(bytes))
              assert.isTrue(Buffer.from(unwrapped.peerCertificates[0]!).equals(leaf))
              // (node decodes the certificate on every resumption; TLS 1.2's verdict needs it. Bun's
              // BoringSSL session, kept as it is, holds it under TLS 1.3 too)
              assert.strictEqual(unwrapped.session.indexOf(leaf) === -1, version === "TLSv1.3" && !onBun)
              // (Bun: the engine stores BoringSSL's session as it is, never stripped)
              if (!onBun) assert.strictEqual(withoutPeerCertificate(unwrapped.session), unwrapped.session)
            }
          }))

        it.scoped("a session OpenSSL did not verify keeps reporting that verdict when it resumes", () =>
          Effect.gen(function*() {
            // another root: OpenSSL and core both say UnknownCa, the policy accepts anyway
            const other = yield* TestPki.make()
            const { connect } = yield* setup()
            const options: TlsClient.ClientOptions = {
              serverIdentity: "localhost",
              database: other.database,
              maxVersion: version,
              acceptCertificate: () => Effect.succeed(true)
            }
            const { infos, stored } = yield* twoRoundTrips(connect, options)
            assert.deepStrictEqual(infos.map((info) => info.resumed), [false, resumes])
            assert.include([...infos[0]!.peerCertificateErrors], "UnknownCa")
            assert.deepStrictEqual([...infos[1]!.peerCertificateErrors], [...infos[0]!.peerCertificateErrors])
            if (!resumes) return
            // (node reads OpenSSL's stored verdict only beside the certificate: it stays in the session)
            const leaf = Buffer.from((yield* TestPki.TestPki).server.certificate.der)
            assert.isAbove(stored.length, 0)
            for (const bytes of stored) {
              assert.notStrictEqual(Option.getOrThrow(unwrapSession(bytes)).session.indexOf(leaf), -1)
            }
          }))

        it.scoped("a resumed session whose certificate the policy now refuses is refused", () =>
          Effect.gen(function*() {
            const { connect, options } = yield* setup({ maxVersion: version })
            yield* roundTrip(connect, options)
            const error = yield* Effect.flip(roundTrip(connect, {
              ...options,
              acceptCertificate: AcceptCertificate.pinSpki(["another key"])
            }))
            assert.strictEqual((error as { readonly _tag: string })._tag, "TlsBadCertificateError")
          }).pipe(Effect.provide(SessionCache.layerMemory())))

        it.scoped("resumeFrom resumes another connection's session without a cache", () =>
          Effect.gen(function*() {
            const { connect, options } = yield* setup({ maxVersion: version })
            const first = yield* TlsClient.connect(yield* connect, options)
            yield* first.write(new TextEncoder().encode("ping"))
            yield* first.read
            const second = yield* TlsClient.connect(yield* connect, { ...options, resumeFrom: first })
            assert.strictEqual((yield* second.handshake).resumed, resumes)
          }).pipe(Effect.provide(SessionCache.layerDisabled)))
      })
    }

    it.scoped("SessionCache.layerDisabled makes every handshake a full one", () =>
      Effect.gen(function*() {
        const { connect, options } = yield* setup()
        const first = yield* roundTrip(connect, options)
        const second = yield* roundTrip(connect, options)
        assert.deepStrictEqual([first.resumed, second.resumed], [false, false])
      }).pipe(Effect.provide(SessionCache.layerDisabled)))

    it.scoped("sessions are kept per server: another server identity does not get it", () =>
      Effect.gen(function*() {
        const { connect, options } = yield* setup()
        const first = yield* roundTrip(connect, options)
        const other = yield* roundTrip(connect, { ...options, serverIdentity: "127.0.0.1" })
        assert.deepStrictEqual([first.resumed, other.resumed], [false, false])
      }).pipe(Effect.provide(SessionCache.layerMemory())))

    it.scoped("sessions are kept per ALPN list, as the list reads at each connection (changed in place too)", () =>
      Effect.gen(function*() {
        const { connect, options } = yield* setup()
        const alpn = ["a"]
        const first = yield* roundTrip(connect, { ...options, alpn })
        // the same array, changed in place: another key, so nothing to resume
        alpn[0] = "b"
        const changed = yield* roundTrip(connect, { ...options, alpn })
        // a fresh array equal to the first: the first connection's session (its key again)
        const again = yield* roundTrip(connect, { ...options, alpn: ["a"] })
        // and none for no ALPN at all
        const none = yield* roundTrip(connect, options)
        assert.deepStrictEqual([first.resumed, changed.resumed, again.resumed, none.resumed], [
          false,
          false,
          resumes,
          false
        ])
      }).pipe(Effect.provide(SessionCache.layerMemory())))

    describe("ticket reuse (issue 6, defect 6)", () => {
      const reconnections = 40
      const resumedShare = (infos: ReadonlyArray<{ readonly resumed: boolean }>) =>
        infos.slice(1).filter((info) => info.resumed).length / (infos.length - 1)

      it.scoped("with reuseTickets, sequential reconnections to one server resume at least 95 % of the time", () =>
        Effect.gen(function*() {
          const { connect, options } = yield* setup({ maxVersion: "TLSv1.3" })
          const infos = yield* Effect.forEach(
            Array.from({ length: reconnections + 1 }),
            () => roundTrip(connect, options)
          )
          assert.isFalse(infos[0]!.resumed)
          const share = resumedShare(infos)
          if (resumes) assert.isAtLeast(share, 0.95, `resumed ${share * 100} %`)
          else assert.strictEqual(share, 0, `resumed ${share * 100} %`)
        }).pipe(Effect.provide(SessionCache.layerMemory({ reuseTickets: true }))))

      it.scoped("by default no ticket is offered twice (single use, RFC 8446 C.4): two reconnections in three resume", () =>
        Effect.gen(function*() {
          const { connect, options } = yield* setup({ maxVersion: "TLSv1.3" })
          // the default memory cache, watched: every session it hands out
          const inner = SessionCache.makeMemory()
          const offered: Array<string> = []
          const watched: SessionCache.SessionCacheShape = {
            put: inner.put,
            take: (key) =>
              Effect.tap(inner.take(key), (session) => {
                if (Option.isSome(session)) offered.push(Buffer.from(Redacted.value(session.value)).toString("hex"))
              })
          }
          const infos = yield* Effect.forEach(
            Array.from({ length: 13 }),
            () => roundTrip(connect, options).pipe(Effect.provide(SessionCache.layer(watched)))
          )
          assert.strictEqual(new Set(offered).size, offered.length, "a ticket was offered twice")
          if (!resumes) return assert.deepStrictEqual(infos.filter((info) => info.resumed), [])
          assert.isAbove(offered.length, 0)
          // node:tls servers send two tickets after a full handshake and none after a resumed one
          assert.deepStrictEqual(infos.slice(0, 7).map((info) => info.resumed), [
            false,
            true,
            true,
            false,
            true,
            true,
            false
          ])
        }))

      it.scoped("with reuseTickets a newer session replaces the older one, which is never offered again", () =>
        Effect.gen(function*() {
          const cache = SessionCache.makeMemory({ reuseTickets: true })
          yield* cache.put("server", SessionCache.session(new Uint8Array([1])))
          yield* cache.put("server", SessionCache.session(new Uint8Array([2])))
          assert.deepStrictEqual(bytes(yield* cache.take("server")), new Uint8Array([2]))
          assert.deepStrictEqual(bytes(yield* cache.take("server")), new Uint8Array([2]))
          yield* cache.put("server", SessionCache.session(new Uint8Array([3])))
          assert.deepStrictEqual(bytes(yield* cache.take("server")), new Uint8Array([3]))
          assert.isTrue(Option.isNone(yield* cache.take("another server")))
        }))

      it.scoped("the default cache belongs to the backend layer: another runtime does not resume this one's session", () =>
        Effect.gen(function*() {
          const { connect, options } = yield* setup()
          // no SessionCache service: each backend layer built has its own cache
          const runtimeA = yield* Layer.toRuntime(NodeTlsBackend.layer)
          const runtimeB = yield* Layer.toRuntime(NodeTlsBackend.layer)
          const inA = yield* Effect.forEach([1, 2], () => roundTrip(connect, options).pipe(Effect.provide(runtimeA)))
          const inB = yield* roundTrip(connect, options).pipe(Effect.provide(runtimeB))
          assert.deepStrictEqual(inA.map((info) => info.resumed), [false, resumes])
          assert.isFalse(inB.resumed)
        }))

      it.effect("sessions are held as Redacted values", () =>
        Effect.sync(() => {
          const session = SessionCache.session(new Uint8Array([1, 2, 3]))
          assert.isTrue(Redacted.isRedacted(session))
          assert.notInclude(String(session), "1,2,3")
          assert.notInclude(JSON.stringify({ session }), "1")
        }))
    })

    it.effect("withoutPeerCertificate drops [3] of a TLS 1.3 session verified OK, and leaves anything else as it is", () =>
      Effect.sync(() => {
        // SEQUENCE (long form) { INTEGER 1, INTEGER 0x0304, [3] { 130 bytes }, [4] { OCTET STRING } }
        const version = (minor: number) => [0x02, 0x01, 0x01, 0x02, 0x02, 0x03, minor]
        const peer = [0xa3, 0x81, 0x82, 0x04, 0x81, 0x7f, ...Array.from({ length: 0x7f }, () => 7)]
        const rest = [0xa4, 0x03, 0x04, 0x01, 0x00]
        const der = (fields: ReadonlyArray<number>) =>
          Buffer.from(fields.length < 0x80 ? [0x30, fields.length, ...fields] : [0x30, 0x81, fields.length, ...fields])
        const session = der([...version(4), ...peer, ...rest])
        assert.deepStrictEqual([...withoutPeerCertificate(session)], [0x30, 12, ...version(4), ...rest])
        // TLS 1.2, a verify_result that is not OK, no [3], a truncated field, trailing bytes, not a SEQUENCE
        const unchanged = [
          der([...version(3), ...peer, ...rest]),
          der([...version(4), ...peer, 0xa5, 0x03, 0x02, 0x01, 0x14, ...rest]),
          der([...version(4), ...rest]),
          Buffer.from([...session.subarray(0, -1)]),
          Buffer.from([...session, 0]),
          Buffer.from([0x31, ...session.subarray(1)]),
          Buffer.alloc(0)
        ]
        for (const input of unchanged) assert.strictEqual(withoutPeerCertificate(input), input)
      }))

    it.effect("unwrapSession reads the same cached bytes once; other bytes anew, malformed ones as none", () =>
      Effect.sync(() => {
        const chain = [new Uint8Array([1, 2, 3]), new Uint8Array([4])]
        const bytes = wrapSession(chain, Buffer.from([0x30, 0x00]))
        const first = Option.getOrThrow(unwrapSession(bytes))
        assert.strictEqual(Option.getOrThrow(unwrapSession(bytes)), first)
        assert.deepStrictEqual(first.peerCertificates.map((der) => [...der]), [[1, 2, 3], [4]])
        assert.deepStrictEqual([...first.session], [0x30, 0x00])
        // (equal bytes elsewhere are read again: the memory is by the bytes a cache holds)
        const again = Option.getOrThrow(unwrapSession(new Uint8Array(bytes)))
        assert.notStrictEqual(again, first)
        assert.deepStrictEqual([...again.session], [...first.session])
        const malformed = new Uint8Array([0, 0, 0, 1, 0, 0, 0, 9, 1])
        assert.isTrue(Option.isNone(unwrapSession(malformed)))
        assert.isTrue(Option.isNone(unwrapSession(malformed)))
      }))

    it.effect("the memory cache keeps 32 sessions per key by default, and maxSessions in all", () =>
      Effect.gen(function*() {
        const put = (cache: SessionCache.SessionCacheShape, key: string, byte: number) =>
          cache.put(key, SessionCache.session(new Uint8Array([byte])))
        const drain = (cache: SessionCache.SessionCacheShape, key: string) =>
          Effect.gen(function*() {
            const out: Array<number> = []
            while (true) {
              const session = yield* cache.take(key)
              if (Option.isNone(session)) return out
              out.push(Redacted.value(session.value)[0]!)
            }
          })
        const defaults = SessionCache.makeMemory()
        for (let i = 0; i < 40; i++) yield* put(defaults, "a", i)
        // the 32 newest, newest first
        assert.deepStrictEqual(yield* drain(defaults, "a"), Array.from({ length: 32 }, (_, i) => 39 - i))
        // maxSessions: the oldest session of the least recently stored key goes first
        const bounded = SessionCache.makeMemory({ maxSessions: 3 })
        yield* put(bounded, "a", 1)
        yield* put(bounded, "a", 2)
        yield* put(bounded, "b", 3)
        yield* put(bounded, "b", 4)
        assert.deepStrictEqual(yield* drain(bounded, "a"), [2])
        yield* put(bounded, "c", 5)
        yield* put(bounded, "c", 6)
        // (taking frees room: "b" kept 3 and 4 until "c" needed it)
        assert.deepStrictEqual(yield* drain(bounded, "b"), [4])
        assert.deepStrictEqual(yield* drain(bounded, "c"), [6, 5])
      }))

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
        assert.deepStrictEqual(bytes(yield* cache.take("c")), new Uint8Array([5]))
        assert.deepStrictEqual(bytes(yield* cache.take("c")), new Uint8Array([4]))
        assert.isTrue(Option.isNone(yield* cache.take("c")))
      }))
  }
)
