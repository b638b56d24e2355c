/**
 * Which socket node:tls runs over: the transport's own (the native path) or our bridge.
 *
 * @internal
 */
import type { EngineConfig } from "@effect-tls/core/TlsBackend"
import * as Transport from "@effect-tls/core/Transport"
import * as Option from "effect/Option"
import type { Duplex } from "node:stream"
import * as internals from "./nodeInternals.js"
import * as runtime from "./runtime.js"
import * as tcp from "./tcp.js"

/**
 * The native path, the default for TCP transports: the transport's own socket goes straight to
 * node:tls (no JS bridge). node:tls's events there do not say whether close_notify preceded the
 * FIN; node internals do (`nodeInternals.watchNativeEnd`), so a connection requiring
 * close_notify goes native only where they were detected. The engine sees no handshake bytes
 * there, so it is not taken when the accepted-CA sniffer matters (`sniffs`: a client whose
 * `acceptedCasMatter`), nor when pushed-back bytes wait (STARTTLS). Taking the socket consumes
 * the transport (`tcp.takeSocket`).
 *
 * @internal
 */
export const nativeSocket = (config: EngineConfig, sniffs: boolean): Duplex | undefined => {
  if (
    !runtime.nativeSocketPath || sniffs || (config.requireCloseNotify && !internals.canTellNativeTruncation()) ||
    Transport.hasPendingInput(config.transport)
  ) {
    return undefined
  }
  return Option.getOrUndefined(tcp.takeSocket(config.transport))
}
