/**
 * A client's knowledge of the server's CertificateRequest: whether the server asked for a
 * certificate (for the refusal heuristics, `refusals.ts`) and the CA names it accepts
 * (`HandshakeInfo.acceptedCas`), from whichever source the connection's path offers:
 *
 * - the bridge: the accepted-CA sniffer (`acceptedCas.ts`) follows the server's flight
 *   through the bytes the bridge sees (TLS 1.2's CertificateRequest is in clear; TLS 1.3's
 *   is decrypted only when the engine asks, see `acceptedCasMatter`);
 * - the native path (no handshake byte to see): node's public `getSharedSigalgs()`, read at
 *   `secureConnect` and, when TLS 1.2 is allowed, at the handshake's `keylog` lines
 *   (`requestSeen`): the names stay unknown;
 * - Deno (no key log over the bridge): the length of our first encrypted flight, which
 *   carries our answer to a request (`runtime.flightAnswersRequest`).
 *
 * @internal
 */
import type { EngineHandshake } from "@effect-tls/core/TlsBackend"
import * as Option from "effect/Option"
import type * as tls from "node:tls"
import { type AcceptedCasResult, type AcceptedCasSniffer, makeAcceptedCasSniffer } from "./acceptedCas.js"
import type { TransportDuplex } from "./bridge.js"
import * as runtime from "./runtime.js"

/**
 * Whether the server sent a CertificateRequest, from the public `getSharedSigalgs()` (OpenSSL
 * fills a client's shared signature algorithms from the CertificateRequest's, TLS 1.2 and 1.3;
 * empty otherwise). Read at `secureConnect` or at each `keylog` line, during the handshake: the last lines of a
 * client's handshake come after the server's flight was read, and the socket may not be asked
 * once a failure destroyed it (node 20 crashes). Verified on Node 20.20 against node:tls
 * servers that do not ask, ask, and require a certificate, TLS 1.2 and 1.3.
 */
const requestSeen = (socket: tls.TLSSocket): boolean => {
  try {
    return typeof socket.getSharedSigalgs === "function" && socket.getSharedSigalgs().length > 0
  } catch {
    return false
  }
}

/** @internal */
export class CertificateRequests {
  /** The native path: `requestSeen` said yes. */
  private seen = false
  /** The native path: set by `watchNative`. */
  private native = false
  /** The native path allowing TLS 1.2: removes the keylog listener. */
  private offKeylog: (() => void) | undefined = undefined
  private sniffer: AcceptedCasSniffer | undefined = undefined
  private snifferResult: AcceptedCasResult | undefined = undefined
  private stopSniffer: (() => void) | undefined = undefined
  /** Deno: the length of the first encrypted record we sent. */
  private firstEncryptedRecord: number | undefined = undefined

  /**
   * The native path: reads `requestSeen` at `secureConnect` (`atSecureConnect`, called by the
   * handshake's report) and, when the handshake may be TLS 1.2 (`duringHandshake`), at each of
   * its `keylog` lines too. A TLS 1.3 server can refuse our certificate (or its absence) only
   * after our Finished, so after `secureConnect`: reading there is enough, and the keylog
   * listener (which makes OpenSSL call into JS for each of the handshake's five secrets) is left
   * out. A TLS 1.2 server refuses before our `secureConnect`.
   */
  watchNative(socket: tls.TLSSocket, duringHandshake: boolean): void {
    this.native = true
    if (!duringHandshake) return
    const onKeylog = () => {
      if (!this.seen && requestSeen(socket)) {
        this.seen = true
        socket.off("keylog", onKeylog)
      }
    }
    this.offKeylog = () => socket.off("keylog", onKeylog)
    socket.on("keylog", onKeylog)
  }

  /**
   * The native path, at `secureConnect` (the handshake's report, `handshakeReport.describe`,
   * read there at once): the last `requestSeen`, the keylog listener gone. No listener of its
   * own: one more `secureConnect` listener per connection would make node copy the listeners
   * on every emit.
   */
  atSecureConnect(socket: tls.TLSSocket): void {
    if (!this.native) return
    if (this.offKeylog !== undefined) {
      this.offKeylog()
      this.offKeylog = undefined
    }
    if (!this.seen && requestSeen(socket)) this.seen = true
  }

  /**
   * The bridge: follows the server's flight to recover its CertificateRequest's CA names (no
   * node:tls API gives them). TLS 1.2's is in clear and always read; TLS 1.3's is decrypted
   * only when `decrypt`: the keylog listener, attached right after `tls.connect`, is what makes
   * node:tls hand the handshake secret out.
   */
  sniff(socket: tls.TLSSocket, bridge: TransportDuplex, decrypt: boolean): void {
    const sniffer = makeAcceptedCasSniffer({ decryptTls13: decrypt })
    this.sniffer = sniffer
    const onKeylog = (line: Buffer) => sniffer.onKeylog(line)
    if (decrypt) socket.on("keylog", onKeylog)
    const stop = () => {
      socket.off("keylog", onKeylog)
      bridge.onInbound = undefined
      this.stopSniffer = undefined
      if (this.sniffer !== undefined) {
        this.snifferResult = this.sniffer.result()
        this.sniffer.dispose()
        this.sniffer = undefined
      }
    }
    bridge.onInbound = (chunk) => {
      sniffer.onServerBytes(chunk)
      if (sniffer.result().state !== "pending") stop()
    }
    this.stopSniffer = stop
  }

  /** Deno: watches our output for the first application-data record (TLS 1.3's encrypted flight). */
  watchFlight(bridge: TransportDuplex): void {
    bridge.onOutbound = (chunk) => {
      for (let i = 0; i + 5 <= chunk.length; i += 5 + ((chunk[i + 3]! << 8) | chunk[i + 4]!)) {
        if (chunk[i] === 23) {
          this.firstEncryptedRecord = (chunk[i + 3]! << 8) | chunk[i + 4]!
          bridge.onOutbound = undefined
          return
        }
      }
    }
  }

  /** The sniffer has not reached the end of the server's flight yet. */
  get pending(): boolean {
    return this.sniffer?.result().state === "pending"
  }

  /** Stops the sniffer (the handshake is over or failed), keeping what it found. */
  stop(): void {
    this.stopSniffer?.()
  }

  /** The server asked for a certificate (its CertificateRequest, or on Deno our flight's answer to it). */
  requested(handshake: EngineHandshake | undefined): boolean {
    if (this.seen || Option.isSome(this.acceptedCas())) return true
    const length = this.firstEncryptedRecord
    return length !== undefined && handshake !== undefined && handshake.protocolVersion === "TLSv1.3" &&
      runtime.flightAnswersRequest(length, handshake.ciphersuiteName)
  }

  /** The CA names of the server's CertificateRequest, when the sniffer read one. */
  acceptedCas(): Option.Option<ReadonlyArray<Uint8Array>> {
    const result = this.sniffer?.result() ?? this.snifferResult
    return result !== undefined && result.certificateRequested ? Option.some(result.acceptedCas) : Option.none()
  }
}
