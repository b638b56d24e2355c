/**
 * The typed failures of TLS connections: one for each of Gio's `GTlsError` codes, plus
 * transport failures and timeouts. Every error has a `reason` (the Gio code), a readable
 * `message` and, where there is one, a `cause`.
 *
 * @example
 * ```ts
 * import { CertificateFlags, TlsClient, type Transport } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * declare const transport: Transport.Transport
 *
 * const program = TlsClient.connect(transport, { serverIdentity: "example.com" }).pipe(
 *   Effect.catchTag("TlsBadCertificateError", (error) =>
 *     Effect.logWarning(`rejected: ${CertificateFlags.format(error.flags)}`)
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"
import type { CertificateChain, DistinguishedName } from "./Certificate.js"
import * as CertificateFlags from "./CertificateFlags.js"
import type { TransportError } from "./Transport.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-tls/core/TlsError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Gio's error codes, plus `Transport`, `Timeout` and `Config`.
 *
 * @since 0.1.0
 * @category models
 */
export type Reason =
  | "Unavailable"
  | "Misc"
  | "BadCertificate"
  | "NotTls"
  | "Handshake"
  | "CertificateRequired"
  | "Eof"
  | "InappropriateFallback"
  | "BadCertificatePassword"
  | "Closed"
  | "Transport"
  | "Timeout"
  | "Config"

/**
 * @since 0.1.0
 * @category guards
 */
export const isTlsError = (u: unknown): u is TlsError => Predicate.hasProperty(u, TypeId)

/**
 * The TLS alert descriptions, by their RFC 8446 (section 6) names.
 *
 * @since 0.1.0
 * @category models
 */
export const alertDescriptions = [
  "close_notify",
  "unexpected_message",
  "bad_record_mac",
  "record_overflow",
  "handshake_failure",
  "bad_certificate",
  "unsupported_certificate",
  "certificate_revoked",
  "certificate_expired",
  "certificate_unknown",
  "illegal_parameter",
  "unknown_ca",
  "access_denied",
  "decode_error",
  "decrypt_error",
  "protocol_version",
  "insufficient_security",
  "internal_error",
  "inappropriate_fallback",
  "user_canceled",
  "missing_extension",
  "unsupported_extension",
  "unrecognized_name",
  "bad_certificate_status_response",
  "unknown_psk_identity",
  "certificate_required",
  "no_application_protocol"
] as const

/**
 * A TLS alert description (RFC 8446, section 6).
 *
 * @since 0.1.0
 * @category models
 */
export type AlertDescription = typeof alertDescriptions[number]

const alertSet: ReadonlySet<string> = new Set(alertDescriptions)

/**
 * @since 0.1.0
 * @category guards
 */
export const isAlertDescription = (u: unknown): u is AlertDescription => typeof u === "string" && alertSet.has(u)

/**
 * Which side of the connection saw the error.
 *
 * @since 0.1.0
 * @category models
 */
export type Side = "client" | "server"

/** How every message starts: `TLS <reason>`, with the side when known. */
const heading = (reason: Reason, side?: Side | undefined): string => side ? `TLS ${reason} (${side})` : `TLS ${reason}`

const causeText = (cause: unknown): string =>
  cause instanceof Error ? `: ${cause.message}` : typeof cause === "string" ? `: ${cause}` : ""

/**
 * The failures without a payload of their own:
 *
 * - `Unavailable`: no TLS backend, or the backend cannot do what was asked;
 * - `Misc`: any other TLS failure;
 * - `NotTls`: the peer does not speak TLS;
 * - `Handshake`: the handshake failed (protocol mismatch, alert received, no shared cipher);
 *   `alert` names the alert the peer sent, when it sent one (the peer refused us: for
 *   instance `access_denied` or `certificate_unknown` from a peer we sent no certificate);
 * - `Eof`: the transport ended without the peer's close_notify (truncation) while
 *   `requireCloseNotify` is on;
 * - `InappropriateFallback`: the server refused a version fallback (RFC 7507);
 * - `Closed`: the connection was used after it was closed, broken or its handshake interrupted.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsGenericError extends Data.TaggedError("TlsGenericError")<{
  readonly reason: "Unavailable" | "Misc" | "NotTls" | "Handshake" | "Eof" | "InappropriateFallback" | "Closed"
  readonly detail: string
  readonly side?: Side | undefined
  /** The alert the peer sent, when the failure is its refusal. */
  readonly alert?: AlertDescription | undefined
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const alert = this.alert !== undefined ? ` (alert ${this.alert} from the peer)` : ""
    return `${heading(this.reason, this.side)}: ${this.detail}${alert}${causeText(this.cause)}`
  }
}

/**
 * A certificate was not accepted. Two cases, kept apart:
 *
 * - we refused the peer's chain (`byPeer` unset): the complete verification `flags`, the
 *   peer's chain as received, and the identity it was checked against;
 * - the peer refused the certificate we sent (`byPeer: true`): by a bad_certificate-family
 *   `alert`, or by hanging up right after it asked for it (no alert). A peer to which we sent
 *   no certificate never produces this error: its alert is a `TlsGenericError` `Handshake`.
 *
 * Gio's `BAD_CERTIFICATE`.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsBadCertificateError extends Data.TaggedError("TlsBadCertificateError")<{
  readonly flags: CertificateFlags.CertificateFlags
  readonly peerCertificate: CertificateChain
  readonly identity?: string | undefined
  readonly side: Side
  /** The peer, not us, refused the certificate we sent. */
  readonly byPeer?: boolean | undefined
  /** The alert by which the peer refused our certificate (none when it just hung up). */
  readonly alert?: AlertDescription | undefined
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  readonly reason = "BadCertificate" as const
  /** @since 0.1.0 */
  override get message(): string {
    if (this.byPeer === true || this.alert !== undefined) {
      const how = this.alert !== undefined ? `alert ${this.alert}` : "it closed the connection without an alert"
      return `${heading(this.reason, this.side)}: the peer rejected our certificate (${how})`
    }
    const subject = this.peerCertificate[0]?.subject.text ?? "no certificate"
    return `${heading(this.reason, this.side)}: ${subject}${
      this.identity !== undefined ? ` for ${this.identity}` : ""
    } not accepted, flags: ${CertificateFlags.format(this.flags)}`
  }
}

/**
 * The server requires a client certificate and none (or none acceptable) was sent.
 * `acceptedCas` are the CA names the server announced, when known.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsCertificateRequiredError extends Data.TaggedError("TlsCertificateRequiredError")<{
  readonly acceptedCas: ReadonlyArray<DistinguishedName>
  readonly side: Side
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  readonly reason = "CertificateRequired" as const
  /** @since 0.1.0 */
  override get message(): string {
    const cas = this.acceptedCas.length === 0 ? "any CA" : this.acceptedCas.map((name) => name.text).join("; ")
    return `${heading(this.reason, this.side)}: a client certificate is required (accepted CAs: ${cas})`
  }
}

/**
 * A password for an encrypted private key was missing or wrong.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsBadCertificatePasswordError extends Data.TaggedError("TlsBadCertificatePasswordError")<{
  readonly detail: string
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  readonly reason = "BadCertificatePassword" as const
  /** @since 0.1.0 */
  override get message(): string {
    return `${heading(this.reason)}: ${this.detail}`
  }
}

/**
 * The transport under the connection failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsTransportError extends Data.TaggedError("TlsTransportError")<{
  readonly cause: TransportError
  readonly side?: Side | undefined
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  readonly reason = "Transport" as const
  /** @since 0.1.0 */
  override get message(): string {
    return `${heading(this.reason, this.side)}: ${this.cause.message}`
  }
}

/**
 * An operation (`"handshake"`, `"accept-certificate"`, ...) took longer than allowed.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsTimeoutError extends Data.TaggedError("TlsTimeoutError")<{
  readonly operation: string
  readonly timeout: Duration.Duration
  readonly side?: Side | undefined
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  readonly reason = "Timeout" as const
  /** @since 0.1.0 */
  override get message(): string {
    return `${heading(this.reason, this.side)}: ${this.operation} did not finish within ${String(this.timeout)}`
  }
}

/**
 * An option given to a constructor (`TlsClient`, `TlsServer`, a transport, the test PKI) is
 * invalid, or something the options need cannot be found (e.g. no server identity): the
 * one error family for configuration. `path` names the field (`["alpn", 0]`), `detail` says
 * why. Nothing was opened or sent when this is raised.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsConfigError extends Data.TaggedError("TlsConfigError")<{
  /** Which options object (e.g. `"TlsClient options"`, `"MemoryTransport.pair options"`). */
  readonly subject: string
  /** The field, outermost first (`["alpn", 0]`); empty for the object as a whole. */
  readonly path: ReadonlyArray<PropertyKey>
  readonly detail: string
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  readonly reason = "Config" as const
  /** @since 0.1.0 */
  override get message(): string {
    const field = this.path.length === 0
      ? ""
      : ` ${
        this.path.map((key, i) => typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)
          .join("")
      }`
    return `${heading(this.reason)}: ${this.subject}${field}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isTlsConfigError = (u: unknown): u is TlsConfigError => isTlsError(u) && u._tag === "TlsConfigError"

/**
 * Every TLS failure.
 *
 * @since 0.1.0
 * @category errors
 */
export type TlsError =
  | TlsGenericError
  | TlsBadCertificateError
  | TlsCertificateRequiredError
  | TlsBadCertificatePasswordError
  | TlsTransportError
  | TlsTimeoutError
  | TlsConfigError
