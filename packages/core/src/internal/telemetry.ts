/**
 * Spans and metrics of a TLS connection: one span per handshake (OpenTelemetry's TLS
 * attribute names where they exist, `effect_tls.*` for ours), child spans for chain
 * verification and the accept-certificate policy, and the metrics of `TlsMetrics`.
 *
 * Cheap by construction: no stack trace is captured for these spans (it would point here);
 * attributes are computed once, when the handshake ends; metric
 * updates go straight to the metric hooks with label arrays made once (so they do not carry
 * `Effect.tagMetrics` labels); reads and writes only add a length to a counter.
 *
 * Nothing sensitive goes out: no key, secret, session, ticket or exporter value; the
 * certificates' public parts only.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import type { Certificate } from "../Certificate.js"
import * as CertificateFlags from "../CertificateFlags.js"
import type { CertifiedKey } from "../CertifiedKey.js"
import type { HandshakeInfo } from "../HandshakeInfo.js"
import type { TlsError } from "../TlsError.js"
import * as TlsMetrics from "../TlsMetrics.js"
import type { Transport } from "../Transport.js"

type Side = "client" | "server"

const reasons = [
  "none",
  "Interrupted",
  "Unavailable",
  "Misc",
  "BadCertificate",
  "NotTls",
  "Handshake",
  "CertificateRequired",
  "Eof",
  "InappropriateFallback",
  "BadCertificatePassword",
  "Closed",
  "Transport",
  "Timeout"
] as const

const sideLabels = (side: Side) => {
  const s = MetricLabel.make("side", side)
  const outcome = (o: string) => [s, MetricLabel.make("outcome", o)]
  return {
    side: [s],
    success: outcome("success"),
    failure: outcome("failure"),
    handshakes: Object.fromEntries(
      reasons.map((
        reason
      ) => [reason, [...outcome(reason === "none" ? "success" : "failure"), MetricLabel.make("reason", reason)]])
    ) as Record<string, ReadonlyArray<MetricLabel.MetricLabel>>
  }
}

/** Label arrays made once: the metric hooks cache by array identity. */
const labels = { client: sideLabels("client"), server: sideLabels("server") }

const version = (protocol: string) => protocol.replace(/^TLSv/, "")

/** Port of a transport's `host:port` description. */
const portOf = (address: string | undefined): number | undefined => {
  const match = address === undefined ? null : /:(\d+)$/.exec(address)
  return match === null ? undefined : Number(match[1])
}

const attributeNames = (prefix: string) =>
  ["subject", "issuer", "hash.sha256", "not_before", "not_after"].map((name) => `${prefix}.${name}`)
const serverNames = attributeNames("tls.server")
const clientNames = attributeNames("tls.client")

/** A leaf's attribute values, made once per certificate (a peer's chain is parsed once and kept). */
const leafValues = new WeakMap<Certificate, readonly [string, string, string, string, string]>()

const certificateAttributes = (span: Tracer.Span, prefix: string, leaf: Certificate | undefined) => {
  if (leaf === undefined) return
  let values = leafValues.get(leaf)
  if (values === undefined) {
    values = [
      leaf.subject.text,
      leaf.issuer.text,
      leaf.fingerprintSha256.replace(/:/g, "").toUpperCase(),
      leaf.notBefore.toISOString(),
      leaf.notAfter.toISOString()
    ]
    leafValues.set(leaf, values)
  }
  const names = prefix === "tls.server" ? serverNames : clientNames
  for (let i = 0; i < names.length; i++) span.attribute(names[i]!, values[i])
}

/** @internal */
export interface HandshakeContext {
  readonly side: Side
  readonly identity: Option.Option<string>
  readonly transport: Transport
}

const failureOf = (cause: Cause.Cause<TlsError>): TlsError | undefined => {
  const failure = Cause.failureOption(cause)
  return Option.isSome(failure) ? failure.value : undefined
}

/** The span's attributes at the end of a handshake. */
const endAttributes = (span: Tracer.Span, side: Side, exit: Exit.Exit<HandshakeInfo, TlsError>) => {
  // the peer's leaf: tls.server.* seen from a client, tls.client.* seen from a server
  const peerPrefix = side === "client" ? "tls.server" : "tls.client"
  if (Exit.isSuccess(exit)) {
    const info = exit.value
    span.attribute("tls.established", true)
    span.attribute("tls.protocol.name", "tls")
    span.attribute("tls.protocol.version", version(info.protocolVersion))
    span.attribute("tls.cipher", info.ciphersuiteName)
    if (Option.isSome(info.negotiatedProtocol)) span.attribute("tls.next_protocol", info.negotiatedProtocol.value)
    span.attribute("tls.resumed", info.resumed)
    // the SNI, as the client sent it or the server received it
    if (Option.isSome(info.serverName)) span.attribute("tls.client.server_name", info.serverName.value)
    if (Option.isSome(info.peerCertificate)) certificateAttributes(span, peerPrefix, info.peerCertificate.value[0])
    span.attribute("effect_tls.verification.flags", CertificateFlags.toArray(info.peerCertificateErrors))
    return
  }
  const error = failureOf(exit.cause)
  span.attribute("tls.established", false)
  span.attribute("effect_tls.failure.reason", error === undefined ? "Interrupted" : error.reason)
  if (error !== undefined) {
    span.attribute("effect_tls.failure.tag", error._tag)
    span.attribute("effect_tls.failure.message", error.message)
    if ("alert" in error && error.alert !== undefined) span.attribute("effect_tls.alert", error.alert)
    if (error._tag === "TlsBadCertificateError") {
      span.attribute("effect_tls.verification.flags", CertificateFlags.toArray(error.flags))
      certificateAttributes(span, peerPrefix, error.peerCertificate[0])
    }
  }
}

/**
 * The metrics of a handshake that took `seconds`.
 *
 * @internal
 */
export const endMetrics = (side: Side, seconds: number, exit: Exit.Exit<HandshakeInfo, TlsError>) => {
  const l = labels[side]
  if (Exit.isSuccess(exit)) {
    TlsMetrics.handshakeDuration.unsafeUpdate(seconds, l.success)
    TlsMetrics.handshakes.unsafeUpdate(1, l.handshakes.none!)
    if (exit.value.resumed) TlsMetrics.resumedHandshakes.unsafeUpdate(1, l.side)
    const successes = TlsMetrics.handshakes.unsafeValue(l.handshakes.none!).count
    const resumed = TlsMetrics.resumedHandshakes.unsafeValue(l.side).count
    TlsMetrics.resumptionRatio.unsafeUpdate(successes === 0 ? 0 : resumed / successes, l.side)
    return
  }
  const error = failureOf(exit.cause)
  const reason = error === undefined ? "Interrupted" : error.reason
  TlsMetrics.handshakeDuration.unsafeUpdate(seconds, l.failure)
  TlsMetrics.handshakes.unsafeUpdate(1, l.handshakes[reason] ?? l.handshakes.Misc!)
}

/**
 * The tracer of a program that installed none (Effect's own, which keeps spans in memory
 * for nobody): with it, no span is made at all, which is most of what telemetry costs.
 * Metrics are recorded either way.
 */
let nativeTracer: Tracer.Tracer | undefined = undefined

/**
 * Whether `tracer` is Effect's own (no tracer installed): then no span is made.
 *
 * @internal
 */
export const isNativeTracer = (tracer: Tracer.Tracer): boolean =>
  tracer === (nativeTracer ??= Effect.runSync(Effect.tracer))

/** `f`'s effect, or `effect` as it is when no tracer is installed. */
const whenTraced = <A, E, R>(effect: Effect.Effect<A, E, R>, f: () => Effect.Effect<A, E, R>) =>
  Effect.tracerWith((tracer) => isNativeTracer(tracer) ? effect : f())

/**
 * Runs `handshake` in a `tls.handshake` span (kind client or server) and records its
 * metrics when it ends.
 *
 * @internal
 */
export const handshake = <R>(
  context: HandshakeContext,
  handshake: Effect.Effect<HandshakeInfo, TlsError, R>
): Effect.Effect<HandshakeInfo, TlsError, R> =>
  Effect.clockWith((clock) => {
    const start = clock.unsafeCurrentTimeNanos()
    const metrics = (exit: Exit.Exit<HandshakeInfo, TlsError>) =>
      Effect.sync(() => endMetrics(context.side, Number(clock.unsafeCurrentTimeNanos() - start) / 1e9, exit))
    return Effect.tracerWith((tracer) =>
      isNativeTracer(tracer)
        ? Effect.onExit(handshake, metrics)
        : Effect.useSpan("tls.handshake", {
          kind: context.side,
          captureStackTrace: false,
          attributes: spanAttributes(context)
        }, (span) =>
          handshake.pipe(
            Effect.withParentSpan(span),
            Effect.onExit((exit) =>
              Effect.zipRight(Effect.sync(() => endAttributes(span, context.side, exit)), metrics(exit))
            )
          ))
    )
  })

const spanAttributes = (context: HandshakeContext): Record<string, unknown> => {
  // a remote is a network address only on network transports (a memory pair names its ends)
  const network = context.transport.description.kind === "tcp"
  const remote = network ? context.transport.description.remote : undefined
  const port = portOf(remote)
  const attributes: Record<string, unknown> = {
    "effect_tls.side": context.side,
    "network.transport": context.transport.description.kind
  }
  if (context.side === "client") {
    const host = Option.getOrUndefined(context.identity) ??
      (remote === undefined ? undefined : remote.replace(/:\d+$/, "").replace(/^\[|\]$/g, ""))
    if (host !== undefined) attributes["server.address"] = host
    if (port !== undefined) attributes["server.port"] = port
  } else if (remote !== undefined) {
    attributes["client.address"] = remote.replace(/:\d+$/, "").replace(/^\[|\]$/g, "")
    if (port !== undefined) attributes["client.port"] = port
  }
  return attributes
}

/**
 * Chain verification (`TlsDatabase.verifyChain`) as a child span.
 *
 * @internal
 */
export const verifyChain = <E, R>(
  chainLength: number,
  verify: Effect.Effect<CertificateFlags.CertificateFlags, E, R>
): Effect.Effect<CertificateFlags.CertificateFlags, E, R> =>
  whenTraced(verify, () =>
    Effect.useSpan(
      "tls.verify_chain",
      { captureStackTrace: false, attributes: { "effect_tls.chain.length": chainLength } },
      (span) =>
        Effect.tap(
          Effect.withParentSpan(verify, span),
          (flags) => Effect.sync(() => span.attribute("effect_tls.verification.flags", CertificateFlags.toArray(flags)))
        )
    ))

/**
 * The accept-certificate policy as a child span.
 *
 * @internal
 */
export const policy = <E, R>(
  flags: CertificateFlags.CertificateFlags,
  decide: Effect.Effect<boolean, E, R>
): Effect.Effect<boolean, E, R> =>
  whenTraced(decide, () =>
    Effect.useSpan(
      "tls.accept_certificate",
      { captureStackTrace: false, attributes: { "effect_tls.verification.flags": CertificateFlags.toArray(flags) } },
      (span) =>
        Effect.tap(
          Effect.withParentSpan(decide, span),
          (accepted) => Effect.sync(() => span.attribute("effect_tls.policy.accepted", accepted))
        )
    ))

/**
 * Counts the plaintext of a read (use with `Effect.map`).
 *
 * @internal
 */
export const countRead = (side: Side): (chunk: Option.Option<Uint8Array>) => Option.Option<Uint8Array> =>
  side === "client" ? countClientRead : countServerRead

// (one counter per side, not one per connection)
const readCounter = (side: Side) => (chunk: Option.Option<Uint8Array>): Option.Option<Uint8Array> => {
  if (chunk._tag === "Some") countBytesRead(side, chunk.value.length)
  return chunk
}
const countClientRead = readCounter("client")
const countServerRead = readCounter("server")

/**
 * Counts plaintext read (a chunk taken without an Effect of its own).
 *
 * @internal
 */
export const countBytesRead = (side: Side, length: number): void => {
  TlsMetrics.bytesRead.unsafeUpdate(length, labels[side].side)
}

/**
 * Counts the plaintext of a write that was accepted (a write done without waiting).
 *
 * @internal
 */
export const countWritten = (side: Side, length: number): void => {
  TlsMetrics.bytesWritten.unsafeUpdate(length, labels[side].side)
}

/**
 * Counts the plaintext of a write once it is accepted.
 *
 * @internal
 */
export const countWrite = <E>(side: Side, bytes: Uint8Array, write: Effect.Effect<void, E>): Effect.Effect<void, E> => {
  return Effect.map(write, () => countWritten(side, bytes.length))
}

/**
 * One more open connection (`connectionClosed` when it closes): for callers that keep their
 * own finalizer.
 *
 * @internal
 */
export const connectionOpened = (side: Side): void => {
  TlsMetrics.openConnections.unsafeModify(1, labels[side].side)
}

/** @internal */
export const connectionClosed = (side: Side): void => {
  TlsMetrics.openConnections.unsafeModify(-1, labels[side].side)
}

/** Label arrays per certificate, made once (the metric hooks cache by array identity). */
const expiryLabels = new WeakMap<Certificate, ReadonlyArray<MetricLabel.MetricLabel>>()

/**
 * Sets the days left on the certificate a server presents, at `now` (ms).
 *
 * @internal
 */
export const certificateExpiryAt = (certificate: CertifiedKey, now: number): void => {
  const leaf = certificate.chain[0]
  if (leaf === undefined) return
  let l = expiryLabels.get(leaf)
  if (l === undefined) {
    l = [MetricLabel.make("certificate", leaf.subject.text), MetricLabel.make("sha256", leaf.fingerprintSha256)]
    expiryLabels.set(leaf, l)
  }
  TlsMetrics.certificateExpiryDays.unsafeUpdate((leaf.notAfter.getTime() - now) / 86_400_000, l)
}
