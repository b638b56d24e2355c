/**
 * The metrics every TLS connection records through Effect's `Metric` (read them with
 * `Metric.value` / `Metric.snapshot`, or export them with `@effect/opentelemetry`):
 * handshake durations and outcomes, failure reasons, bytes, open connections, the
 * resumption ratio, and the days left on each certificate a server presents.
 *
 * Labels: `side` (`client` | `server`), `outcome` (`success` | `failure`), `reason` (the
 * `TlsError` reason of a failure, `Interrupted`, or `none`), `certificate` (the subject) and
 * `sha256` (the fingerprint). Byte and connection metrics carry only `side`. The span of
 * each handshake is described in the README (operators' section).
 *
 * @example
 * ```ts
 * import { TlsMetrics } from "@effect-tls/core"
 * import { Effect, Metric, MetricLabel } from "effect"
 *
 * const failedHandshakes = Metric.value(
 *   Metric.taggedWithLabels(TlsMetrics.handshakes, [
 *     MetricLabel.make("side", "client"),
 *     MetricLabel.make("outcome", "failure"),
 *     MetricLabel.make("reason", "BadCertificate")
 *   ])
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * Seconds from the handshake's start to its verified end (policy included), by `side` and
 * `outcome`. Buckets from 0.5 ms doubling to about 16 s.
 *
 * @since 0.1.0
 * @category metrics
 */
export const handshakeDuration = Metric.histogram(
  "effect_tls.handshake.duration",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 16 }),
  "TLS handshake duration in seconds, by side and outcome"
)

/**
 * Completed handshake attempts, by `side`, `outcome` and `reason`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const handshakes = Metric.counter("effect_tls.handshakes", {
  description: "TLS handshakes, by side, outcome and failure reason",
  incremental: true
})

/**
 * Successful handshakes that resumed a session, by `side`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const resumedHandshakes = Metric.counter("effect_tls.handshakes.resumed", {
  description: "TLS handshakes that resumed a session, by side",
  incremental: true
})

/**
 * Resumed over successful handshakes so far (0 to 1), by `side`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const resumptionRatio = Metric.gauge("effect_tls.resumption.ratio", {
  description: "resumed / successful TLS handshakes, by side"
})

/**
 * Plaintext bytes read from TLS connections, by `side`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bytesRead = Metric.counter("effect_tls.bytes.read", {
  description: "plaintext bytes read, by side",
  incremental: true
})

/**
 * Plaintext bytes written to TLS connections, by `side`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bytesWritten = Metric.counter("effect_tls.bytes.written", {
  description: "plaintext bytes written, by side",
  incremental: true
})

/**
 * TLS connections made and not yet closed (their scope still open), by `side`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const openConnections = Metric.gauge("effect_tls.connections.open", {
  description: "open TLS connections, by side"
})

/**
 * Days until the leaf certificate a server presents expires (negative once expired), by
 * `certificate` (subject) and `sha256`; set when a server connection is made with it.
 *
 * @since 0.1.0
 * @category metrics
 */
export const certificateExpiryDays = Metric.gauge("effect_tls.certificate.expiry.days", {
  description: "days until the served certificate expires, by certificate"
})
