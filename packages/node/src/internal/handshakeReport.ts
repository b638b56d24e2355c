/**
 * What the engine reports of a completed handshake (`EngineHandshake`), read from the TLS socket
 * at `secure` / `secureConnect`, all at once: node 20 may crash when a destroyed TLSSocket is
 * asked later. OpenSSL's verdict on the chain and the identity check become `engineFlags`; core
 * verifies the chain itself and runs the policy.
 *
 * @internal
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import type * as ProtocolVersion from "@effect-tls/core/ProtocolVersion"
import type { ClientConfig, EngineHandshake, ServerConfig } from "@effect-tls/core/TlsBackend"
import type * as TlsError from "@effect-tls/core/TlsError"
import * as Option from "effect/Option"
import * as tls from "node:tls"
import type { CertificateRequests } from "./certificateRequests.js"
import { flagsFromVerifyError } from "./errors.js"
import * as internals from "./nodeInternals.js"
import { identityFields, readPeerChain, restorePeerCertificateRead } from "./peerChain.js"
import * as runtime from "./runtime.js"
import { type ClientSessions, sessionHasExtendedMasterSecret } from "./sessions.js"

/**
 * The handshake as the socket reports it now.
 *
 * @internal
 */
export const describe = (
  socket: tls.TLSSocket,
  side: TlsError.Side,
  config: ClientConfig | ServerConfig,
  /** Client: the sessions offered and received (a resumed session's chain). */
  sessionsOf: ClientSessions | undefined,
  /** Client: what it learned of the server's CertificateRequest. */
  requests: CertificateRequests | undefined,
  /** Server, when node's private `servername` is missing: the SNI recorded by SNICallback. */
  recordedServerName: string | undefined
): EngineHandshake => {
  restorePeerCertificateRead(socket)
  const { chain: received, leaf } = readPeerChain(socket)
  const resumed = socket.isSessionReused()
  const resumedChain = sessionsOf?.offered?.peerCertificates
  const chain = received.length === 0 && resumed && resumedChain !== undefined ? [...resumedChain] : received
  let engineFlags = CertificateFlags.empty
  let unspecific = false
  if (chain.length > 0) {
    const code = Option.getOrUndefined(internals.verifyError(socket))
    // (Deno: one code for every rejection; runtime.ts)
    unspecific = runtime.unspecificVerifyError(code)
    engineFlags = unspecific ? CertificateFlags.make("GenericError") : flagsFromVerifyError(code)
    // (a resumed session has no certificate object for node's check; core checks the identity)
    if (side === "client" && leaf !== undefined) {
      const identity = (config as ClientConfig).serverIdentity
      if (Option.isSome(identity)) {
        const error = tls.checkServerIdentity(identity.value, identityFields(leaf))
        if (error !== undefined) engineFlags = CertificateFlags.union(engineFlags, ["BadIdentity"])
      }
    }
  }
  const cipher = socket.getCipher()
  const alpn = socket.alpnProtocol
  const protocolVersion = (socket.getProtocol() ?? "unknown") as ProtocolVersion.ProtocolVersion
  const upToTls12 = protocolVersion !== "TLSv1.3"
  const bytes = (buffer: Buffer | undefined) =>
    upToTls12 && runtime.reportsFinished && buffer !== undefined ? Option.some(new Uint8Array(buffer)) : Option.none()
  return {
    protocolVersion,
    ciphersuiteName: cipher.standardName ?? cipher.name,
    negotiatedProtocol: typeof alpn === "string" ? Option.some(alpn) : Option.none(),
    peerCertificates: chain,
    engineFlags,
    ...(unspecific ? { engineVerdictUnspecific: true } : {}),
    resumed,
    acceptedCas: requests?.acceptedCas() ?? Option.none(),
    serverName: side === "server" ? internals.serverName(socket, recordedServerName) : Option.none(),
    channelBinding: {
      ownFinished: bytes(socket.getFinished()),
      peerFinished: bytes(socket.getPeerFinished()),
      extendedMasterSecret: upToTls12 && (runtime.opensslSessions || runtime.boringsslSessions)
        ? sessionHasExtendedMasterSecret(socket.getSession(), runtime.opensslSessions ? "openssl" : "boringssl")
        : Option.none(),
      ownCertificate: side === "server"
        ? Option.flatMap(config.certificate, (key) => Option.fromNullable(key.chain[0]?.der))
        : Option.none()
    }
  }
}
