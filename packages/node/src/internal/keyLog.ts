/**
 * Feeds a connection's `keylog` events to the `KeyLog` service, only when one is enabled: with
 * the default (disabled) no listener is attached, so node:tls does not even hand secrets out.
 *
 * @internal
 */
import type { KeyLogShape } from "@effect-tls/core/KeyLog"
import * as Runtime from "effect/Runtime"
import type * as tls from "node:tls"

/**
 * Attaches the key log to `socket` (right after `tls.connect` / `new TLSSocket`, before the
 * first handshake byte) and returns it.
 *
 * @internal
 */
export const attach = (keyLog: KeyLogShape, runtime: Runtime.Runtime<never>) => (socket: tls.TLSSocket) => {
  if (!keyLog.enabled) return socket
  const run = Runtime.runFork(runtime)
  // each event is one NSS key-log line with its line feed
  socket.on("keylog", (line: Buffer) => {
    run(keyLog.log(line.toString("latin1").replace(/\r?\n$/, "")))
  })
  return socket
}
