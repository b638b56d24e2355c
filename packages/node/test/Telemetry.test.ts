/**
 * Spans and metrics of real handshakes (node engine, memory pair and loopback TCP): a test
 * tracer records the spans; metric values are read from Effect's metric state before and
 * after known handshakes (the registry is per test file, so deltas are exact).
 */
import * as CertifiedKey from "@effect-tls/core/CertifiedKey"
import * as SessionCache from "@effect-tls/core/SessionCache"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsMetrics from "@effect-tls/core/TlsMetrics"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type { Transport } from "@effect-tls/core/Transport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import * as TestTls from "@effect-tls/testkit/TestTls"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import { assert, describe, layer } from "@effect/vitest"
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"

/** A tracer that keeps every span it makes (the default tracer's spans, recorded). */
const recordingTracer = Effect.gen(function*() {
  const native = yield* Effect.tracer
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = native.span(name, parent, context, links, startTime, kind, options)
      spans.push(span)
      return span
    },
    context: native.context
  })
  return { tracer, spans }
})

const attributes = (span: Tracer.Span) => Object.fromEntries(span.attributes)

const encoder = new TextEncoder()

const labels = (pairs: Record<string, string>) => Object.entries(pairs).map(([k, v]) => MetricLabel.make(k, v))

const count = (metric: typeof TlsMetrics.handshakes, tags: Record<string, string>) =>
  Effect.map(Metric.value(Metric.taggedWithLabels(metric, labels(tags))), (state) => state.count)

const gauge = (metric: typeof TlsMetrics.openConnections, tags: Record<string, string>) =>
  Effect.map(Metric.value(Metric.taggedWithLabels(metric, labels(tags))), (state) => state.value)

const durations = (tags: Record<string, string>) =>
  Effect.map(
    Metric.value(Metric.taggedWithLabels(TlsMetrics.handshakeDuration, labels(tags))),
    (state) => ({ count: state.count, sum: state.sum })
  )

/** An echo server on loopback TCP; returns a way to connect to it. */
const echoServer = Effect.gen(function*() {
  const fixture = yield* TestPki.TestPki
  const listener = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
  yield* Effect.forkScoped(listener.run((transport) =>
    Effect.gen(function*() {
      const tls = yield* TlsServer.make(transport, { certificate: fixture.server.certifiedKey })
      yield* tls.stream.pipe(Stream.run(tls.sink))
      yield* tls.closeWrite
    }).pipe(Effect.scoped, Effect.ignore)
  ))
  return NodeTransport.connect({ host: "127.0.0.1", port: listener.address.port })
})

/** Connects, sends `text`, reads its echo to the end, closes. */
const roundTrip = (
  connect: Effect.Effect<Transport, unknown, Scope.Scope>,
  options: TlsClient.ClientOptions,
  text = "ping"
) =>
  Effect.scoped(Effect.gen(function*() {
    const client = yield* TlsClient.connect(yield* connect, options)
    yield* client.write(encoder.encode(text))
    yield* client.closeWrite
    yield* Stream.runDrain(client.stream)
    return yield* client.handshake
  }))

const env = Layer.merge(TestPki.layer(), NodeTlsBackend.layer)

layer(env, { excludeTestServices: true, timeout: 30_000 })("telemetry", (it) => {
  describe("spans", () => {
    it.scoped("one tls.handshake span per side with OpenTelemetry's TLS attributes; verification and policy as children", () =>
      Effect.gen(function*() {
        const { spans, tracer } = yield* recordingTracer
        const pair = yield* Effect.withTracer(
          Effect.withSpan(TestTls.makePair({ alpn: ["h2"], client: { maxVersion: "TLSv1.3" } }), "test"),
          tracer
        )
        const handshakes = spans.filter((span) => span.name === "tls.handshake")
        assert.strictEqual(handshakes.length, 2)
        const client = handshakes.find((span) => span.kind === "client")!
        const server = handshakes.find((span) => span.kind === "server")!
        const leaf = pair.fixture.server.certificate
        const a = attributes(client)
        assert.strictEqual(a["effect_tls.side"], "client")
        assert.strictEqual(a["tls.established"], true)
        assert.strictEqual(a["tls.protocol.name"], "tls")
        assert.strictEqual(a["tls.protocol.version"], "1.3")
        assert.strictEqual(a["tls.cipher"], "TLS_AES_256_GCM_SHA384")
        assert.strictEqual(a["tls.next_protocol"], "h2")
        assert.strictEqual(a["tls.resumed"], false)
        assert.strictEqual(a["server.address"], "localhost")
        assert.strictEqual(a["tls.server.subject"], leaf.subject.text)
        assert.strictEqual(a["tls.server.issuer"], leaf.issuer.text)
        assert.strictEqual(a["tls.server.hash.sha256"], leaf.fingerprintSha256.replace(/:/g, "").toUpperCase())
        assert.strictEqual(a["tls.server.not_after"], leaf.notAfter.toISOString())
        assert.deepStrictEqual(a["effect_tls.verification.flags"], [])
        assert.strictEqual(attributes(server)["tls.client.server_name"], "localhost")
        assert.strictEqual(attributes(server)["effect_tls.side"], "server")
        // children of the client's handshake span, and the handshake a child of the caller's span
        const verify = spans.find((span) => span.name === "tls.verify_chain")!
        const policy = spans.find((span) => span.name === "tls.accept_certificate")!
        assert.strictEqual(verify.parent._tag === "Some" && verify.parent.value.spanId, client.spanId)
        assert.strictEqual(policy.parent._tag === "Some" && policy.parent.value.spanId, client.spanId)
        assert.strictEqual(attributes(policy)["effect_tls.policy.accepted"], true)
        assert.strictEqual(client.parent._tag === "Some" && (client.parent.value as Tracer.Span).name, "test")
        assert.strictEqual(client.status._tag, "Ended")
        // nothing sensitive: no attribute holds the exporter value or any key bytes
        const exporter = yield* pair.client.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", new Uint8Array(0))
        const hex = Buffer.from(exporter).toString("hex")
        const keyPem = pair.fixture.server.keyPem
        for (const span of spans) {
          for (const [key, value] of span.attributes) {
            assert.notMatch(key, /secret|key_?log|ticket|session|private/i)
            const text = JSON.stringify(value)
            assert.isFalse(text.toLowerCase().includes(hex), key)
            assert.isFalse(keyPem.includes(text.slice(1, -1)) && text.length > 20, key)
          }
        }
      }))

    it.scoped("a refused chain: the span says why (tag, reason, flags) and ends failed", () =>
      Effect.gen(function*() {
        const { spans, tracer } = yield* recordingTracer
        const other = yield* TestPki.make({ commonName: "Other CA" })
        const exit = yield* Effect.exit(Effect.withTracer(
          TestTls.makePair({ client: { database: other.database } }),
          tracer
        ))
        assert.isTrue(exit._tag === "Failure")
        const client = spans.find((span) => span.name === "tls.handshake" && span.kind === "client")!
        const a = attributes(client)
        assert.strictEqual(a["tls.established"], false)
        assert.strictEqual(a["effect_tls.failure.tag"], "TlsBadCertificateError")
        assert.strictEqual(a["effect_tls.failure.reason"], "BadCertificate")
        assert.deepStrictEqual(a["effect_tls.verification.flags"], ["UnknownCa"])
        assert.isString(a["tls.server.subject"])
        assert.isTrue(client.status._tag === "Ended" && client.status.exit._tag === "Failure")
        const policy = spans.find((span) => span.name === "tls.accept_certificate")!
        assert.strictEqual(attributes(policy)["effect_tls.policy.accepted"], false)
      }))
  })

  it.scoped("exported through @effect/opentelemetry to an in-memory OpenTelemetry exporter", () =>
    Effect.gen(function*() {
      const exporter = new InMemorySpanExporter()
      const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
      yield* Effect.addFinalizer(() => Effect.promise(() => provider.shutdown()))
      const otel = OtelTracer.layerWithoutOtelTracer.pipe(
        Layer.provide(Layer.succeed(OtelTracer.OtelTracer, provider.getTracer("effect-tls-test")))
      )
      yield* Effect.scoped(TestTls.makePair({ alpn: ["h2"] })).pipe(Effect.withSpan("request"), Effect.provide(otel))
      const finished = exporter.getFinishedSpans()
      const byName = (name: string) => finished.filter((span) => span.name === name)
      assert.strictEqual(byName("tls.handshake").length, 2)
      const request = byName("request")[0]!
      const client = byName("tls.handshake").find((span) => span.attributes["effect_tls.side"] === "client")!
      // SpanKind.CLIENT = 2
      assert.strictEqual(client.kind, 2)
      assert.strictEqual(client.spanContext().traceId, request.spanContext().traceId)
      assert.strictEqual(client.parentSpanContext?.spanId, request.spanContext().spanId)
      assert.strictEqual(client.attributes["tls.protocol.version"], "1.3")
      assert.strictEqual(client.attributes["tls.next_protocol"], "h2")
      assert.strictEqual(client.attributes["tls.established"], true)
      const verify = byName("tls.verify_chain").find((span) =>
        span.parentSpanContext?.spanId === client.spanContext().spanId
      )
      assert.isDefined(verify)
    }))

  describe("metrics", () => {
    it.scoped("handshakes by outcome and reason, durations, bytes, open connections, resumption ratio", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const connect = yield* echoServer
        const ok = { side: "client", outcome: "success", reason: "none" }
        const refused = { side: "client", outcome: "failure", reason: "BadCertificate" }
        const before = {
          ok: yield* count(TlsMetrics.handshakes, ok),
          refused: yield* count(TlsMetrics.handshakes, refused),
          serverOk: yield* count(TlsMetrics.handshakes, { ...ok, side: "server" }),
          durations: yield* durations({ side: "client", outcome: "success" }),
          read: yield* count(TlsMetrics.bytesRead, { side: "client" }),
          written: yield* count(TlsMetrics.bytesWritten, { side: "client" }),
          serverRead: yield* count(TlsMetrics.bytesRead, { side: "server" }),
          resumed: yield* count(TlsMetrics.resumedHandshakes, { side: "client" })
        }
        const options: TlsClient.ClientOptions = { serverIdentity: "localhost", database: fixture.pki.database }
        const first = yield* roundTrip(connect, options, "hello")
        const second = yield* roundTrip(connect, options, "world!")
        assert.deepStrictEqual([first.resumed, second.resumed], [false, true])
        const other = yield* TestPki.make({ commonName: "Other CA" })
        const failed = yield* Effect.flip(roundTrip(connect, { ...options, database: other.database }))
        assert.strictEqual((failed as { readonly _tag: string })._tag, "TlsBadCertificateError")

        assert.strictEqual((yield* count(TlsMetrics.handshakes, ok)) - before.ok, 2)
        assert.strictEqual((yield* count(TlsMetrics.handshakes, refused)) - before.refused, 1)
        const after = yield* durations({ side: "client", outcome: "success" })
        assert.strictEqual(after.count - before.durations.count, 2)
        assert.isAbove(after.sum, before.durations.sum)
        assert.strictEqual(
          (yield* durations({ side: "client", outcome: "failure" })).count >= 1,
          true
        )
        assert.strictEqual((yield* count(TlsMetrics.bytesWritten, { side: "client" })) - before.written, 11)
        assert.strictEqual((yield* count(TlsMetrics.bytesRead, { side: "client" })) - before.read, 11)
        assert.strictEqual((yield* count(TlsMetrics.resumedHandshakes, { side: "client" })) - before.resumed, 1)
        // the server side counted its own (the echo server read what the clients wrote)
        assert.isAtLeast((yield* count(TlsMetrics.handshakes, { ...ok, side: "server" })) - before.serverOk, 2)
        assert.isAtLeast((yield* count(TlsMetrics.bytesRead, { side: "server" })) - before.serverRead, 11)
        const successes = yield* count(TlsMetrics.handshakes, ok)
        const resumed = yield* count(TlsMetrics.resumedHandshakes, { side: "client" })
        assert.strictEqual(yield* gauge(TlsMetrics.resumptionRatio, { side: "client" }), resumed / successes)
        // every client connection above is closed again
        assert.strictEqual(yield* gauge(TlsMetrics.openConnections, { side: "client" }), 0)
      }).pipe(Effect.provide(SessionCache.layerMemory())))

    it.scoped("open connections while a pair lives; days left on the served certificate", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const now = Date.now()
        const issued = yield* pki.issueServer({
          dnsNames: ["localhost"],
          notBefore: new Date(now - 86_400_000),
          notAfter: new Date(now + 10 * 86_400_000)
        })
        const certifiedKey = yield* CertifiedKey.make(issued.chain, issued.key)
        const open = yield* Effect.scoped(Effect.gen(function*() {
          yield* TestTls.makePair({
            server: { certificate: certifiedKey },
            client: { database: pki.database }
          })
          return {
            client: yield* gauge(TlsMetrics.openConnections, { side: "client" }),
            server: yield* gauge(TlsMetrics.openConnections, { side: "server" })
          }
        }))
        assert.deepStrictEqual(open, { client: 1, server: 1 })
        assert.strictEqual(yield* gauge(TlsMetrics.openConnections, { side: "client" }), 0)
        assert.strictEqual(yield* gauge(TlsMetrics.openConnections, { side: "server" }), 0)
        const days = yield* gauge(TlsMetrics.certificateExpiryDays, {
          certificate: issued.certificate.subject.text,
          sha256: issued.certificate.fingerprintSha256
        })
        assert.closeTo(days, 10, 0.01)
      }))

    it.scoped("a server connection is counted open while it lives on every path; one that could not be made is not", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const certificate = fixture.server.certifiedKey
        const server = { side: "server" }
        const before = yield* gauge(TlsMetrics.openConnections, server)
        // made at once, and chosen by the ClientHello (the engine made after it was read)
        for (const options of [{}, { sni: { resolve: () => Effect.succeed(Option.some(certificate)) } }]) {
          const open = yield* Effect.scoped(Effect.zipRight(
            TestTls.makePair({ server: options }),
            gauge(TlsMetrics.openConnections, server)
          ))
          assert.strictEqual(open - before, 1)
          assert.strictEqual(yield* gauge(TlsMetrics.openConnections, server), before)
        }
        // an engine that cannot be made (settings OpenSSL refuses)
        const failed = yield* Effect.scoped(Effect.gen(function*() {
          const [, serverTransport] = yield* MemoryTransport.pair()
          return yield* Effect.exit(TlsServer.make(serverTransport, { certificate, ciphers: "NO-SUCH-CIPHER" }))
        }))
        assert.isTrue(Exit.isFailure(failed))
        assert.strictEqual(yield* gauge(TlsMetrics.openConnections, server), before)
      }))
  })
})
