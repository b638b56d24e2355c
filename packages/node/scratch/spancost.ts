import * as telemetry from "../../core/src/internal/telemetry.js"
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as TestTls from "@effect-tls/testkit/TestTls"
import * as TestPki from "@effect-tls/testkit/TestPki"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = Effect.gen(function*() {
  const pair = yield* TestTls.makePair({})
  const info = yield* pair.client.handshake
  const ctx = { side: "client" as const, identity: Option.some("localhost"), transport: pair.clientTransport }
  const wrapped = telemetry.handshake(ctx, telemetry.verifyChain(1, Effect.succeed(CertificateFlags.empty)).pipe(
    Effect.zipRight(telemetry.policy(CertificateFlags.empty, Effect.succeed(true))), Effect.as(info)))
  const bare = Effect.succeed(CertificateFlags.empty).pipe(Effect.zipRight(Effect.succeed(true)), Effect.as(info))
  const N = 20000
  const perOp = (eff: Effect.Effect<unknown>) => Effect.gen(function*() {
    const samples: number[] = []
    for (let r = 0; r < 9; r++) {
      const t = performance.now()
      for (let i = 0; i < N; i++) yield* eff
      samples.push((performance.now() - t) * 1000 / N)
    }
    return median(samples)
  })
  const w = yield* perOp(wrapped)
  const b = yield* perOp(bare)
  const wOff = yield* perOp(Effect.withTracerEnabled(wrapped, false))
  // full handshakes on the memory pair
  const hs: number[] = []
  for (let r = 0; r < 9; r++) {
    const t = performance.now()
    for (let i = 0; i < 30; i++) yield* Effect.scoped(TestTls.makePair({}))
    hs.push((performance.now() - t) * 1000 / 30)
  }
  const h = median(hs)
  console.log(JSON.stringify({ telemetryUs: w - b, telemetryTracerOffUs: wOff - b, handshakeUs: h, ratio: (w - b) / h }))
}).pipe(Effect.scoped, Effect.provide(Layer.merge(TestPki.layer(), NodeTlsBackend.layer)))
Effect.runPromise(main)
