/**
 * Refusal heuristics: guesses about why a peer hung up or what a vague OpenSSL error means,
 * each with its reasoning beside it. They only refine an error the engine already has; none
 * of them can turn a failure into a success.
 *
 * @internal
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as TlsError from "@effect-tls/core/TlsError"

/** What the heuristics look at. @internal */
export interface Evidence {
  readonly side: TlsError.Side
  /** The handshake completed. */
  readonly secure: boolean
  /** The negotiated version, once the handshake completed. */
  readonly protocolVersion: string | undefined
  /** We had a certificate to send. */
  readonly sentCertificate: boolean
  /** The server asked for a client certificate (from the accepted-CA sniffer; client only). */
  readonly certificateRequested: boolean
  /** The first byte the peer sent, if any. */
  readonly firstInboundByte: number | undefined
  /** How many transport chunks came in, now and when the handshake completed. */
  readonly inboundChunks: number
  readonly inboundAtSecure: number
  /** Plaintext was read from the peer. */
  readonly receivedData: boolean
}

/**
 * Refines the error node:tls reported (already mapped by `errors.ts`).
 *
 * @internal
 */
export const refineFailure = (failure: TlsError.TlsError, evidence: Evidence, cause: unknown): TlsError.TlsError => {
  // TLS 1.2 servers refuse a missing client certificate with a bare handshake_failure alert:
  // when the server had asked for one and we had none, that alert is the refusal
  if (
    failure._tag === "TlsGenericError" && failure.alert === "handshake_failure" &&
    evidence.certificateRequested && !evidence.sentCertificate
  ) {
    return new TlsError.TlsCertificateRequiredError({ acceptedCas: [], side: evidence.side, cause })
  }
  // OpenSSL says "wrong version number" for any bad record; a peer that began with a TLS
  // record (handshake 22, alert 21) does speak TLS: that is a handshake failure
  const spokeTls = evidence.firstInboundByte === 22 || evidence.firstInboundByte === 21
  if (failure._tag === "TlsGenericError" && failure.reason === "NotTls" && spokeTls) {
    return new TlsError.TlsGenericError({
      reason: evidence.secure ? "Misc" : "Handshake",
      detail: "the peer sent a malformed TLS record",
      side: evidence.side,
      cause
    })
  }
  return failure
}

/**
 * The peer hung up without an alert we could read: when the server had asked for a client
 * certificate, that is most likely its refusal (servers over node:tls close before their alert
 * leaves, so the client would otherwise see a bare end of input). Undefined: no refusal to
 * read into it, the caller keeps `otherwise`.
 *
 * Made only where a refusal is the likely reading of a bare end of input:
 * - TLS 1.2: a completed handshake means the server took what we sent (or did not need one);
 * - TLS 1.3: the server judges our certificate after our Finished. Without one, a server that
 *   did not insist says something after the handshake (session tickets, data); one that
 *   insists hangs up in silence. With one, node:tls servers send tickets before refusing it,
 *   so any hang-up before data counts.
 *
 * @internal
 */
export const refusalOfHangUp = (evidence: Evidence, otherwise: TlsError.TlsError): TlsError.TlsError | undefined => {
  if (evidence.side !== "client" || evidence.receivedData || !evidence.certificateRequested) return undefined
  const refusedByServer = !evidence.secure ||
    (evidence.protocolVersion === "TLSv1.3" &&
      (evidence.sentCertificate || evidence.inboundChunks === evidence.inboundAtSecure))
  if (!refusedByServer) return undefined
  return evidence.sentCertificate
    // we sent a certificate, and the server hung up before any data: it refused it
    ? new TlsError.TlsBadCertificateError({
      flags: CertificateFlags.empty,
      peerCertificate: [],
      side: evidence.side,
      alert: "none: connection closed",
      cause: otherwise
    })
    : new TlsError.TlsCertificateRequiredError({ acceptedCas: [], side: evidence.side, cause: otherwise })
}
