/**
 * Maps node:tls / OpenSSL errors to effect-tls's typed failures, and names the engine's own
 * (a closed connection, a write after close, settings node:tls refused).
 *
 * @internal
 */
import * as Certificate from "@effect-tls/core/Certificate"
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as TlsError from "@effect-tls/core/TlsError"
import type { TransportError } from "@effect-tls/core/Transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as runtime from "./runtime.js"

const notTls = new Set([
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_SSL_PACKET_LENGTH_TOO_LONG",
  "ERR_SSL_HTTP_REQUEST",
  "ERR_SSL_HTTPS_PROXY_REQUEST",
  "ERR_SSL_UNKNOWN_PROTOCOL",
  "ERR_SSL_RECORD_LENGTH_MISMATCH",
  "ERR_SSL_UNEXPECTED_RECORD",
  "ERR_SSL_RECORD_LAYER_FAILURE"
])

const inappropriateFallback = new Set([
  "ERR_SSL_TLSV1_ALERT_INAPPROPRIATE_FALLBACK",
  "ERR_SSL_INAPPROPRIATE_FALLBACK"
])

const certificateRequired = new Set([
  "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
  // BoringSSL's name for the same alert (Bun)
  "ERR_SSL_TLSV1_ALERT_CERTIFICATE_REQUIRED",
  "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"
])

/**
 * Alerts by which a peer says it did not accept our certificate, when we sent one. From a peer
 * to which we sent none they are its refusal of the handshake (`access_denied`,
 * `certificate_unknown` ...), never about a certificate of ours.
 */
const peerRejectedOurCertificate = new Set([
  "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
  "ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN",
  "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
  "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED"
])

/**
 * The alert the peer sent, from OpenSSL's reason code: every received alert has one
 * (`SSL_AD_REASON_OFFSET` + description), named `…_ALERT_<NAME>` except three older ones.
 * Alerts we send ourselves surface as the reason we sent them (e.g. CERTIFICATE_VERIFY_FAILED).
 */
const alertOf = (code: string): TlsError.AlertDescription | undefined => {
  const match = /(?:ALERT_|TLSV1_(?=UNRECOGNIZED_NAME$|BAD_CERTIFICATE_STATUS_RESPONSE$|UNSUPPORTED_EXTENSION$))(.+)$/
    .exec(code)
  if (match === null) return undefined
  const name = match[1]!.toLowerCase().replace(/^user_cancelled$/, "user_canceled")
  return TlsError.isAlertDescription(name) ? name : undefined
}

/** @internal */
export interface ErrorContext {
  readonly side: TlsError.Side
  readonly handshakeDone: boolean
  readonly transportError: TransportError | undefined
  /** We had a certificate to send (only then can a peer's alert be about ours). */
  readonly sentCertificate: boolean
}

/** @internal */
export const fromNodeError = (error: unknown, context: ErrorContext): TlsError.TlsError => {
  const { side } = context
  if (context.transportError !== undefined) {
    return new TlsError.TlsTransportError({ cause: context.transportError, side })
  }
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : ""
  if (notTls.has(code)) {
    return new TlsError.TlsGenericError({ reason: "NotTls", detail: "the peer does not speak TLS", side, cause: error })
  }
  if (inappropriateFallback.has(code)) {
    return new TlsError.TlsGenericError({
      reason: "InappropriateFallback",
      detail: "the server refused a protocol version fallback",
      side,
      alert: alertOf(code),
      cause: error
    })
  }
  if (certificateRequired.has(code)) {
    return new TlsError.TlsCertificateRequiredError({ acceptedCas: [], side, cause: error })
  }
  if (peerRejectedOurCertificate.has(code)) {
    return context.sentCertificate
      ? new TlsError.TlsBadCertificateError({
        flags: CertificateFlags.empty,
        peerCertificate: [],
        side,
        byPeer: true,
        alert: alertOf(code),
        cause: error
      })
      : new TlsError.TlsGenericError({
        reason: context.handshakeDone ? "Misc" : "Handshake",
        detail: "the peer refused the connection",
        side,
        alert: alertOf(code),
        cause: error
      })
  }
  if (code === "ECONNRESET" || code === "EPIPE" || code === "ERR_STREAM_PREMATURE_CLOSE") {
    return new TlsError.TlsGenericError({
      reason: context.handshakeDone ? "Eof" : "Handshake",
      detail: "the connection was closed by the peer",
      side,
      cause: error
    })
  }
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || code === "ERR_OSSL_EVP_BAD_DECRYPT") {
    return new TlsError.TlsGenericError({
      reason: context.handshakeDone ? "Misc" : "Handshake",
      detail: context.handshakeDone ? "TLS protocol error" : "the handshake failed",
      side,
      alert: alertOf(code),
      cause: error
    })
  }
  if (verifyErrorCodes.has(code)) {
    // (Bun: a server that requires a client certificate fails the handshake with the chain's
    // verify error itself, where Node's completes and leaves the verdict to the engine)
    return new TlsError.TlsBadCertificateError({
      flags: flagsFromVerifyError(code),
      peerCertificate: [],
      side,
      cause: error
    })
  }
  return new TlsError.TlsGenericError({ reason: "Misc", detail: "TLS failure", side, cause: error })
}

const unknownCa = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_UNTRUSTED"
])

/** OpenSSL's X509 verify error codes (node's `authorizationError`), as an error's `code`. */
const verifyErrorCodes = new Set([
  ...unknownCa,
  "CERT_HAS_EXPIRED",
  "CRL_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CRL_NOT_YET_VALID",
  "CERT_REVOKED",
  "CA_KEY_TOO_SMALL",
  "EE_KEY_TOO_SMALL",
  "CA_MD_TOO_WEAK",
  "CERT_SIGNATURE_FAILURE",
  "CERT_REJECTED",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "PATH_LENGTH_EXCEEDED"
])

/**
 * OpenSSL's verdict (node's `authorizationError`) as flags. OpenSSL stops at its first
 * error, so this is a lower bound; core unions it with the complete verifier's flags.
 *
 * @internal
 */
export const flagsFromVerifyError = (code: string | undefined): CertificateFlags.CertificateFlags => {
  if (code === undefined) return CertificateFlags.empty
  if (unknownCa.has(code)) return CertificateFlags.make("UnknownCa")
  switch (code) {
    case "CERT_HAS_EXPIRED":
    case "CRL_HAS_EXPIRED":
      return CertificateFlags.make("Expired")
    case "CERT_NOT_YET_VALID":
    case "CRL_NOT_YET_VALID":
      return CertificateFlags.make("NotActivated")
    case "CERT_REVOKED":
      return CertificateFlags.make("Revoked")
    case "ERR_TLS_CERT_ALTNAME_INVALID":
    case "HOSTNAME_MISMATCH":
    case "IP_ADDRESS_MISMATCH":
      return CertificateFlags.make("BadIdentity")
    case "CA_KEY_TOO_SMALL":
    case "EE_KEY_TOO_SMALL":
    case "CA_MD_TOO_WEAK":
      return CertificateFlags.make("Insecure")
    default:
      return CertificateFlags.make("GenericError")
  }
}

/**
 * The settings node:tls refused (its secure context could not be made).
 *
 * @internal
 */
export const invalidSettings = (side: TlsError.Side) => (cause: unknown) =>
  new TlsError.TlsGenericError({ reason: "Misc", detail: "invalid TLS settings", side, cause })

/**
 * A recorded failure, completed with the accepted CA names (`HandshakeInfo.acceptedCas`'s DER,
 * parsed) when the server wanted a certificate we did not send.
 *
 * @internal
 */
export const failWithAcceptedCas = <A>(
  failure: TlsError.TlsError,
  acceptedCas: Option.Option<ReadonlyArray<Uint8Array>>
): Effect.Effect<A, TlsError.TlsError> => {
  if (failure._tag === "TlsCertificateRequiredError" && Option.isSome(acceptedCas)) {
    return Effect.flatMap(
      Effect.forEach(acceptedCas.value, (der) => Effect.option(Certificate.nameFromDer(der))),
      (names) =>
        Effect.fail(
          new TlsError.TlsCertificateRequiredError({
            acceptedCas: names.flatMap(Option.toArray),
            side: failure.side,
            cause: failure.cause
          })
        )
    )
  }
  return Effect.fail(failure)
}

/**
 * The connection closed: at its end of input after the handshake, or during the handshake.
 *
 * @internal
 */
export const closedError = (side: TlsError.Side, secure: boolean): TlsError.TlsError =>
  new TlsError.TlsGenericError({
    reason: secure ? "Eof" : "Handshake",
    detail: secure ? "the connection is closed" : "the connection closed during the handshake",
    side
  })

/**
 * A write after our side closed.
 *
 * @internal
 */
export const writeAfterClose = (side: TlsError.Side): TlsError.TlsGenericError =>
  new TlsError.TlsGenericError({ reason: "Closed", detail: "write after close", side })

/**
 * Bun's node:tls answered the peer's close_notify for us: what we write now would be lost.
 *
 * @internal
 */
export const halfCloseUnsupported = (side: TlsError.Side): TlsError.TlsGenericError =>
  new TlsError.TlsGenericError({
    reason: "Closed",
    detail: runtime.lacks(
      "ended our side when the peer's close_notify arrived (no half-close over a JS Duplex): " +
        "nothing written after it can reach the peer"
    ),
    side
  })

/**
 * `exportKeyingMaterial` failed (no established connection, or the runtime has none).
 *
 * @internal
 */
export const exportFailed = (side: TlsError.Side, cause: unknown): TlsError.TlsGenericError =>
  new TlsError.TlsGenericError({ reason: "Misc", detail: "keying material export failed", side, cause })
