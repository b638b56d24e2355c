/**
 * Issue 6, defect 8: TestPki certificates are dated around the `Clock`'s now, so that handshakes
 * inside `it.effect` (TestClock, starting at 1970) succeed and expiry is driven by `TestClock.adjust`.
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, TestClock } from "effect"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"

const handshake = (pki: TestPki.Authority, server: TestPki.Issued) =>
  Effect.scoped(Effect.gen(function*() {
    const [left, right] = yield* MemoryTransport.pair()
    yield* Effect.forkScoped(Effect.ignore(TlsServer.accept(right, { certificate: server.certifiedKey })))
    const client = yield* TlsClient.connect(left, { serverIdentity: "localhost", database: pki.database })
    return yield* client.handshake
  })).pipe(Effect.provide(NodeTlsBackend.layer))

describe("TestPki on the Clock", () => {
  it.effect("inside it.effect (TestClock at 1970) certificates are valid at the Clock's now and a handshake succeeds", () =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      assert.strictEqual(now, 0)
      const pki = yield* TestPki.make()
      const server = yield* pki.issueServer()
      assert.strictEqual(pki.now.getTime(), now)
      assert.isAtMost(server.notBefore.getTime(), now)
      assert.isAbove(server.notAfter.getTime(), now)
      assert.isAtMost(pki.root.notBefore.getTime(), now)
      const info = yield* handshake(pki, server)
      assert.isTrue(CertificateFlags.isEmpty(info.peerCertificateErrors))
    }))

  it.effect("TestClock.adjust past notAfter makes the same certificate expire", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const server = yield* pki.issueServer()
      yield* handshake(pki, server)
      yield* TestClock.adjust("91 days")
      const error = yield* Effect.flip(handshake(pki, server))
      if (error._tag !== "TlsBadCertificateError") return assert.fail(`unexpected ${error._tag}: ${error.message}`)
      assert.deepStrictEqual(CertificateFlags.toArray(error.flags), ["Expired"])
    }))

  it.effect("a certificate dated ahead of the Clock is NotActivated until the Clock reaches it", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const later = yield* pki.issueServer({ validity: "notYetValid" })
      const error = yield* Effect.flip(handshake(pki, later))
      if (error._tag !== "TlsBadCertificateError") return assert.fail(`unexpected ${error._tag}: ${error.message}`)
      assert.deepStrictEqual(CertificateFlags.toArray(error.flags), ["NotActivated"])
      yield* TestClock.adjust("2 days")
      yield* handshake(pki, later)
    }))

  it.live("on the live clock certificates are dated around the wall clock, and OpenSSL's verdict still counts", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      assert.isAtMost(Math.abs(pki.now.getTime() - Date.now()), 60_000)
      yield* handshake(pki, yield* pki.issueServer())
      const expired = yield* pki.issueServer({ validity: "expired" })
      const error = yield* Effect.flip(handshake(pki, expired))
      if (error._tag !== "TlsBadCertificateError") return assert.fail(`unexpected ${error._tag}: ${error.message}`)
      assert.isTrue(CertificateFlags.has(error.flags, "Expired"))
    }))
})
