/**
 * Throughput over loopback TCP, one connection: the client writes `tcpBytes` in 16 KiB or
 * 64 KiB writes; the server counts them (sink) or sends them back (echo).
 *
 * Variants: raw node:tls on both ends (the baseline); raw node:tls over a plain JS Duplex
 * wrapping the TCP socket (what any bridge costs before Effect is involved); effect-tls on
 * both ends (defaults: the bridge, close_notify required); effect-tls with
 * `requireCloseNotify: false` (the engine's native path: node:tls on NodeTransport's own
 * socket); and each effect-tls side against a raw node:tls peer, to isolate each side.
 */
import type { Context, Group, Variant } from "./common.js"
import { KiB, MiB, payload, withNativePath } from "./common.js"
import type { Mode, StartedServer } from "./peers.js"
import { effectClient, rawClient, startEffectServer, startRawDuplexServer, startRawServer } from "./peers.js"

const variant = (
  context: Context,
  name: string,
  mode: Mode,
  chunkSize: number,
  startServer: (context: Context, mode: Mode, total: number) => Promise<StartedServer>,
  client: (server: StartedServer, chunk: Uint8Array, total: number) => Promise<number>
): Variant => {
  const chunk = payload(chunkSize)
  return {
    name,
    measure: async (warmup) => {
      const total = warmup ? context.settings.warmupBytes : context.settings.tcpBytes
      const server = await startServer(context, mode, total)
      try {
        const ms = await client(server, chunk, total)
        return total / MiB / (ms / 1000)
      } finally {
        await server.close()
      }
    }
  }
}

export const groups = (context: Context): Array<Group> =>
  [16 * KiB, 64 * KiB].flatMap((chunkSize): Array<Group> => {
    const size = `${chunkSize / KiB} KiB writes`
    const raw = (mode: Mode, overDuplex = false) => (server: StartedServer, chunk: Uint8Array, total: number) =>
      rawClient(context, server, mode, chunk, total, overDuplex)
    const effect = (mode: Mode, on = context) => (server: StartedServer, chunk: Uint8Array, total: number) =>
      effectClient(on, server, mode, chunk, total)
    const native = withNativePath(context)
    return [
      {
        name: `tcp sink, ${size}`,
        unit: "MiB/s",
        variants: [
          variant(context, "raw node:tls ↔ raw", "sink", chunkSize, startRawServer, raw("sink")),
          variant(
            context,
            "raw node:tls over JS Duplex ↔ same",
            "sink",
            chunkSize,
            startRawDuplexServer,
            raw("sink", true)
          ),
          variant(context, "effect-tls ↔ effect-tls", "sink", chunkSize, startEffectServer, effect("sink")),
          variant(
            native,
            "effect-tls ↔ effect-tls, native path",
            "sink",
            chunkSize,
            startEffectServer,
            effect("sink", native)
          ),
          variant(context, "effect-tls client → raw server", "sink", chunkSize, startRawServer, effect("sink")),
          variant(context, "raw client → effect-tls server", "sink", chunkSize, startEffectServer, raw("sink"))
        ]
      },
      {
        name: `tcp echo, ${size}`,
        unit: "MiB/s",
        variants: [
          variant(context, "raw node:tls ↔ raw", "echo", chunkSize, startRawServer, raw("echo")),
          variant(context, "effect-tls ↔ effect-tls", "echo", chunkSize, startEffectServer, effect("echo")),
          variant(
            native,
            "effect-tls ↔ effect-tls, native path",
            "echo",
            chunkSize,
            startEffectServer,
            effect("echo", native)
          )
        ]
      }
    ]
  })
