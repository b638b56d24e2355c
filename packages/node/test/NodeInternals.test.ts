/**
 * The engine's fence around node's private fields (src/internal/nodeInternals.ts): every
 * feature it relies on must be detected on this Node. When a Node release moves one, the
 * first test fails and names it (and the fallback the engine takes meanwhile); the others
 * check that each fallback works.
 */
import * as TlsError from "@effect-tls/core/TlsError"
import * as TestTls from "@effect-tls/testkit/TestTls"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as internals from "../src/internal/nodeInternals.js"

const pretendMissing = (name: internals.FeatureName) =>
  Effect.acquireRelease(Effect.sync(() => internals.overrideFeature(name, false)), (restore) => Effect.sync(restore))

describe("node internals", () => {
  it("every private field the engine uses is where this Node keeps it", () => {
    const report = internals.report()
    assert.deepStrictEqual(report.map((feature) => feature.name).sort(), [
      "handle.verifyError",
      "readableState.ended",
      "socket.servername"
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
