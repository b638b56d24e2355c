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
 * Which side of the connection saw the error.
 *
 * @since 0.1.0
 * @category models
 */
export type Side = "client" | "server"

const causeText = (cause: unknown): string =>
  cause instanceof Error ? `: ${cause.message}` : typeof cause === "string" ? `: ${cause}` : ""

/**
 * The failures without a payload of their own:
 *
 * - `Unavailable`: no TLS backend, or the backend cannot do what was asked;
 * - `Misc`: any other TLS failure;
 * - `NotTls`: the peer does not speak TLS;
 * - `Handshake`: the handshake failed (protocol mismatch, alert received, no shared cipher);
 *   `alert` names the TLS alert when one was sent or received;
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
  readonly alert?: string | undefined
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `TLS ${this.reason}${this.side ? ` (${this.side})` : ""}: ${this.detail}${causeText(this.cause)}`
  }
}

/**
 * The peer's certificate was not accepted: the complete verification `flags`, the peer's
 * chain as received, and the identity it was checked against. Gio's `BAD_CERTIFICATE`.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsBadCertificateError extends Data.TaggedError("TlsBadCertificateError")<{
  readonly flags: CertificateFlags.CertificateFlags
  readonly peerCertificate: CertificateChain
  readonly identity?: string | undefined
  readonly side: Side
  /**
   * Set when the peer, not us, refused our certificate: by a bad_certificate-family alert
   * (named here), or by closing the connection right after it asked for our certificate
   * (`"none: connection closed"`).
   */
  readonly alert?: string | undefined
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  readonly reason = "BadCertificate" as const
  /** @since 0.1.0 */
  override get message(): string {
    if (this.alert !== undefined) {
      return `TLS BadCertificate (${this.side}): the peer rejected our certificate (alert ${this.alert})`
    }
    const subject = this.peerCertificate[0]?.subject.text ?? "no certificate"
    return `TLS BadCertificate (${this.side}): ${subject}${
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
    return `TLS CertificateRequired (${this.side}): a client certificate is required (accepted CAs: ${cas})`
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
    return `TLS BadCertificatePassword: ${this.detail}`
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
    return `TLS Transport${this.side ? ` (${this.side})` : ""}: ${this.cause.message}`
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
    return `TLS Timeout${this.side ? ` (${this.side})` : ""}: ${this.operation} did not finish within ${
      String(this.timeout)
    }`
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
    return `TLS Config: ${this.subject}${field}: ${this.detail}`
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
