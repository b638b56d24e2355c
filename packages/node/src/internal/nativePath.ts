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
 * `acceptedCasMatter`). Taking the socket consumes the transport (`tcp.takeSocket`).
 *
 * Bytes pushed back with `unread` (a server that read the ClientHello first: SNI, ALPN, ticket
 * keys; STARTTLS leftovers) go back into the socket's own buffer, which node:tls reads first
 * (`runtime.nativeReadsBufferedInput`); where it would not, they keep the bridge.
 *
 * @internal
 */
export const nativeSocket = (config: EngineConfig, sniffs: boolean): Duplex | undefined => {
  const transport = config.transport
  if (!runtime.nativeSocketPath || sniffs || (config.requireCloseNotify && !internals.canTellNativeTruncation())) {
    return undefined
  }
  if (!Transport.hasPendingInput(transport)) return Option.getOrUndefined(tcp.takeSocket(transport))
  const fast = Transport.immediate(transport)
  if (!runtime.nativeReadsBufferedInput || fast === undefined || Option.isNone(tcp.peekSocket(transport))) {
    return undefined
  }
  const socket = Option.getOrUndefined(tcp.takeSocket(transport))
  if (socket === undefined) return undefined
  // (the pushed-back bytes come first from the transport's `immediate.read`, taken or not)
  const pending: Array<Uint8Array> = []
  while (Transport.hasPendingInput(transport)) {
    const chunk = fast.read()
    if (!(chunk instanceof Uint8Array)) break
    pending.push(chunk)
  }
  for (let i = pending.length - 1; i >= 0; i--) socket.unshift(pending[i])
  return socket
}
