/**
 * Node's events into the connection's state: the TLS socket made on first use (`start`), the
 * listeners on it that live as long as the connection (each records an event in the connection's
 * `ConnectionState`, `connectionState.ts`, and wakes its waiters), and what the bridge asks of
 * node:tls through the engine (whether node:tls ended its input, ended its output, has its
 * plaintext buffer full, and Deno's two quirks: input held until node:tls started, writes kept
 * when node:tls destroys the bridge).
 *
 * @internal
 */
import type * as tls from "node:tls"
import type { NodeTlsConnection } from "./engine.js"
import * as internals from "./nodeInternals.js"
import * as runtime from "./runtime.js"
import { inputTruncated } from "./truncation.js"

/**
 * Makes the connection's TLS socket (over the transport's own socket on the native path, over
 * the bridge otherwise) and sets up every listener.
 *
 * @internal
 */
export const start = (connection: NodeTlsConnection): tls.TLSSocket => {
  // (Deno: no input until node:tls started, runtime.inputBeforeStartThrows)
  const bridge = connection.bridge
  let inputHeld = runtime.inputBeforeStartThrows && bridge !== undefined
  if (inputHeld) bridge!.consumerFull = () => true
  const socket = connection.createSocket(connection.native ?? bridge!)
  connection.socket = socket
  // (the native path: how the peer's input ends, told by node internals from the first read on)
  if (connection.native !== undefined) {
    connection.nativeEnd = internals.watchNativeEnd(socket)
    connection.requests?.watchNative(socket, connection.config.minVersion !== "TLSv1.3")
  }
  connection.state.start()
  // (a TLS 1.3-only client that need not decrypt has nothing in clear to read)
  if (
    connection.side === "client" && connection.native === undefined &&
    (connection.decryptCertificateRequest || connection.config.minVersion !== "TLSv1.3")
  ) connection.requests?.sniff(socket, bridge!, connection.decryptCertificateRequest)
  if (bridge !== undefined && runtime.certificateRequestFromFlight) connection.requests?.watchFlight(bridge)
  const sessionsOf = connection.sessionsOf
  if (sessionsOf !== undefined) {
    socket.on("session", (session: Buffer) => {
      sessionsOf.onSession(session)
      connection.changed.notify()
    })
  }
  // (the ticket wait's bound: clients keeping sessions only)
  connection.ticketWait?.started()
  if (connection.guard !== undefined) socket.on("keylog", connection.guard.onKeylog)
  if (bridge !== undefined) {
    bridge.consumerEnded = () => internals.endOfInputReceived(socket) === true
    bridge.consumerWriteEnded = () => socket.writableEnded
    // (Deno destroys the bridge when its socket closes: the records still there go out first)
    if (runtime.destroysDuplexWithWritesPending) {
      bridge.keepWritesOnDestroy = true
      bridge.consumerTornDown = () => connection.tornDown
    }
    bridge.consumerFull = () => inputHeld || socket.readableLength >= socket.readableHighWaterMark
    if (inputHeld) {
      setImmediate(() => {
        inputHeld = false
        bridge.consumerRead()
      })
    }
  }
  socket.on(connection.side === "client" ? "secureConnect" : "secure", () => {
    connection.ticketWait?.secured()
    connection.inboundAtSecure = connection.bridge?.inboundChunks ?? 0
    connection.guard?.setProtocol(socket.getProtocol() ?? "unknown")
    // Bun emits the client's keylog lines after secureConnect: the accepted-CA sniffer needs them
    if (runtime.keylogAfterSecure && connection.requests?.pending === true) {
      setImmediate(() => connection.secured(socket))
    } else connection.secured(socket)
  })
  socket.on("error", (error) => connection.recordError(error))
  socket.on("readable", connection.changed.notify)
  socket.on("drain", connection.changed.notify)
  socket.on("finish", connection.changed.notify)
  socket.on("end", () => {
    connection.state.inputEnded(inputTruncated(bridge, connection.nativeEnd))
    connection.changed.notify()
  })
  socket.on("close", () => {
    connection.state.socketClosed()
    connection.changed.notify()
  })
  return socket
}
