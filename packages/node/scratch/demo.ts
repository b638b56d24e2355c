import * as TlsMetrics from "@effect-tls/core/TlsMetrics"
import * as TestPki from "@effect-tls/testkit/TestPki"
import * as TestTls from "@effect-tls/testkit/TestTls"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Tracer from "effect/Tracer"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"

const main = Effect.gen(function*() {
  const native = yield* Effect.tracer
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({ span: (...a) => { const s = native.span(...a); spans.push(s); return s }, context: native.context })
  yield* Effect.scoped(Effect.gen(function*() {
    const pair = yield* TestTls.makePair({ alpn: ["h2"] })
    yield* pair.client.write(new TextEncoder().encode("hello"))
    yield* pair.server.read
  })).pipe(Effect.withTracer(tracer))
  for (const span of spans) {
    const parent = span.parent._tag === "Some" && "name" in span.parent.value ? (span.parent.value as Tracer.Span).name : "-"
    console.log(`${span.name} (kind ${span.kind}, parent ${parent})`)
    for (const [k, v] of span.attributes) console.log(`  ${k} = ${JSON.stringify(v)}`)
  }
  const snapshot = yield* Metric.snapshot
  for (const pair of snapshot) {
    if (!pair.metricKey.name.startsWith("effect_tls")) continue
    const tags = pair.metricKey.tags.map((t) => `${t.key}=${t.value}`).join(",")
    const state: any = pair.metricState
    const value = "count" in state && "buckets" in state ? `count=${state.count} sum=${state.sum.toFixed(4)}` : "count" in state ? state.count : state.value
    console.log(`${pair.metricKey.name}{${tags}} ${typeof value === "number" ? Math.round(value * 1000) / 1000 : value}`)
  }
}).pipe(Effect.provide(Layer.merge(TestPki.layer(), NodeTlsBackend.layer)))
Effect.runPromise(main)
