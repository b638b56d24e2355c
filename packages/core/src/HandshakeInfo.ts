/**
 * What a completed handshake negotiated: Gio's `get_protocol_version`,
 * `get_ciphersuite_name`, `get_negotiated_protocol`, `get_peer_certificate`,
 * `get_peer_certificate_errors`, and the client's `get_accepted_cas`, in one value.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import type { CertificateChain, DistinguishedName } from "./Certificate.js"
import * as CertificateFlags from "./CertificateFlags.js"
import type { ProtocolVersion } from "./ProtocolVersion.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface HandshakeInfo {
  readonly side: "client" | "server"
  readonly protocolVersion: ProtocolVersion
  /** The IANA name, e.g. `TLS_AES_256_GCM_SHA384`, `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`. */
  readonly ciphersuiteName: string
  /** The ALPN protocol the server chose. */
  readonly negotiatedProtocol: Option.Option<string>
  /** The peer's chain as received, leaf first (none: the peer sent no certificate). */
  readonly peerCertificate: Option.Option<CertificateChain>
  /** The complete verification flags of the peer chain (empty when it verified). */
  readonly peerCertificateErrors: CertificateFlags.CertificateFlags
  /** Client: the identity the server's certificate was checked against. Server: none. */
  readonly serverIdentity: Option.Option<string>
  /** The SNI host name: on the client the one sent, on the server the one received. */
  readonly serverName: Option.Option<string>
  /** Whether the session was resumed. */
  readonly resumed: boolean
  /**
   * Client: the CA names the server sent in its CertificateRequest. None when the server did not
   * ask for a certificate, or when the names were not recorded: an engine may record them only
   * where they can matter (the Node engine does when the client has a certificate, when a
   * `TlsInteraction` answers `requestCertificate`, or when `NodeTlsBackend.RecordAcceptedCas` is
   * set; without any of these a connection may take a faster path that sees no handshake bytes).
   */
  readonly acceptedCas: Option.Option<ReadonlyArray<DistinguishedName>>
}

/**
 * A readable multi-line report of a handshake, for logs and demos.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (info: HandshakeInfo): string => {
  const leaf = Option.flatMap(info.peerCertificate, (chain) => Option.fromNullable(chain[0]))
  const lines = [
    `protocol:        ${info.protocolVersion}`,
    `cipher suite:    ${info.ciphersuiteName}`,
    `ALPN:            ${Option.getOrElse(info.negotiatedProtocol, () => "(none)")}`,
    `server identity: ${Option.getOrElse(info.serverIdentity, () => "(none)")}`,
    `server name:     ${Option.getOrElse(info.serverName, () => "(none)")}`,
    `resumed:         ${info.resumed ? "yes" : "no"}`,
    ...Option.match(leaf, {
      onNone: () => [`peer certificate: (none)`],
      onSome: (certificate) => [
        `peer subject:    ${certificate.subject.text}`,
        `peer issuer:     ${certificate.issuer.text}`,
        `peer validity:   ${certificate.notBefore.toISOString()} .. ${certificate.notAfter.toISOString()}`,
        `peer names:      ${[...certificate.dnsNames, ...certificate.ipAddresses].join(", ") || "(none)"}`,
        `peer SHA-256:    ${certificate.fingerprintSha256}`
      ]
    }),
    `verification:    ${
      CertificateFlags.isEmpty(info.peerCertificateErrors)
        ? "passed (no flags)"
        : `flags ${CertificateFlags.format(info.peerCertificateErrors)}`
    }`
  ]
  if (Option.isSome(info.acceptedCas)) {
    lines.push(`accepted CAs:    ${info.acceptedCas.value.map((name) => name.text).join("; ") || "(any)"}`)
  }
  return lines.join("\n")
}
