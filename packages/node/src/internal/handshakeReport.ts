/**
 * What the engine reports of a completed handshake (`EngineHandshake`), read from the TLS socket
 * at `secure` / `secureConnect`, all at once: node 20 may crash when a destroyed TLSSocket is
 * asked later. And what it exports afterwards (`exportKeyingMaterial`, RFC 5705 / 8446). OpenSSL's verdict on the chain and the identity check become `engineFlags`; core
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
import { serverContextCas } from "./secureContexts.js"
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
  // (the native path: whether the server asked for a certificate, read now as everything else)
  requests?.atSecureConnect(socket)
  const { chain: received, leaf } = readPeerChain(socket)
  const resumed = socket.isSessionReused()
  const resumedChain = sessionsOf?.offered?.peerCertificates
  const chain = received.length === 0 && resumed && resumedChain !== undefined ? [...resumedChain] : received
  let engineFlags = CertificateFlags.empty
  let unspecific = false
  // (a server's node:tls judged the client's chain by its context's `ca`: a verdict of ours
  // only when that is the database's anchors, else core's verifier judges alone)
  if (chain.length > 0 && (side === "client" || serverContextCas(config as ServerConfig) === config.database.anchors)) {
    const code = Option.getOrUndefined(internals.verifyError(socket))
    // (Deno: one code for every rejection; runtime.ts)
    unspecific = runtime.unspecificVerifyError(code)
    engineFlags = unspecific ? CertificateFlags.make("GenericError") : flagsFromVerifyError(code)
    // (a resumed session has no certificate object for node's check; core checks the identity)
    if (side === "client" && leaf !== undefined) {
      const identity = (config as ClientConfig).serverIdentity
      if (Option.isSome(identity)) {
        const error = tls.checkServerIdentity(identity.value, identityFields(leaf, identity.value))
        if (error !== undefined) engineFlags = CertificateFlags.union(engineFlags, ["BadIdentity"])
      }
    }
  }
  const cipher = socket.getCipher()
  const alpn = socket.alpnProtocol
  const protocolVersion = (socket.getProtocol() ?? "unknown") as ProtocolVersion.ProtocolVersion
  const upToTls12 = protocolVersion !== "TLSv1.3"
  // (TLS 1.3 has no tls-unique: the Finished messages are not even asked for)
  const finished = upToTls12 && runtime.reportsFinished
  const bytes = (read: () => Buffer | undefined) => {
    const buffer = finished ? read() : undefined
    return buffer !== undefined ? Option.some(new Uint8Array(buffer)) : Option.none()
  }
  return {
    protocolVersion,
    ciphersuiteName: cipher.standardName ?? cipher.name,
    negotiatedProtocol: typeof alpn === "string" ? Option.some(alpn) : Option.none(),
    peerCertificates: chain,
    engineFlags,
    // (always set: a spread in the middle of the literal would build every report field by field)
    engineVerdictUnspecific: unspecific,
    resumed,
    acceptedCas: requests?.acceptedCas() ?? Option.none(),
    serverName: side === "server" ? internals.serverName(socket, recordedServerName) : Option.none(),
    channelBinding: {
      ownFinished: bytes(() => socket.getFinished()),
      peerFinished: bytes(() => socket.getPeerFinished()),
      extendedMasterSecret: upToTls12 && (runtime.opensslSessions || runtime.boringsslSessions)
        ? sessionHasExtendedMasterSecret(socket.getSession(), runtime.opensslSessions ? "openssl" : "boringssl")
        : Option.none(),
      ownCertificate: side === "server"
        ? Option.flatMap(config.certificate, (key) => Option.fromNullable(key.chain[0]?.der))
        : Option.none()
    }
  }
}

/**
 * Keying material from the established session (the caller checked it is established and open:
 * node 20 may crash when a closed TLSSocket is asked). Throws where the runtime has no exporter.
 *
 * @internal
 */
export const exportKeyingMaterial = (
  socket: tls.TLSSocket,
  length: number,
  label: string,
  context: Uint8Array | undefined
): Uint8Array => {
  if (!runtime.hasExportKeyingMaterial(socket)) throw new Error(runtime.lacks("has no exportKeyingMaterial"))
  const material = context === undefined
    ? socket.exportKeyingMaterial(length, label, undefined as unknown as Buffer)
    : socket.exportKeyingMaterial(length, label, Buffer.from(context))
  return new Uint8Array(material)
}
