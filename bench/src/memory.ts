/**
 * Throughput in memory, no sockets: effect-tls client and server over
 * `MemoryTransport.pair` (64 KiB per direction, the default), against raw node:tls over
 * `stream.duplexPair` (64 KiB high-water marks). The client writes `memoryBytes` in 16 KiB
 * or 64 KiB writes, the server counts them.
 */
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { duplexPair } from "node:stream"
import * as tls from "node:tls"
import type { Context, Group, Variant } from "./common.js"
import { checkRawSocket, checkSuite, KiB, MiB, now, once, payload, run } from "./common.js"
import { writeAll } from "./peers.js"

const raw = async (context: Context, chunk: Uint8Array, total: number): Promise<number> => {
  const [left, right] = duplexPair({ highWaterMark: 64 * KiB })
  const server = new tls.TLSSocket(right, { isServer: true, secureContext: context.rawServerContext })
  const client = tls.connect({ socket: left, servername: "localhost", secureContext: context.rawClientContext })
  server.on("error", () => {})
  client.on("error", () => {})
  const received = new Promise<void>((resolve) => {
    let count = 0
    server.on("data", (data: Uint8Array) => {
      count += data.length
      if (count >= total) resolve()
    })
  })
  await once(client, "secureConnect")
  checkRawSocket(client)
  const start = now()
  let sent = 0
  while (sent < total) {
    const n = Math.min(chunk.length, total - sent)
    const ok = client.write(n === chunk.length ? chunk : chunk.subarray(0, n))
    sent += n
    if (!ok) await once(client, "drain")
  }
  await received
  const elapsed = now() - start
  client.destroy()
  server.destroy()
  left.destroy()
  right.destroy()
  return elapsed
}

const effect = (context: Context, chunk: Uint8Array, total: number): Promise<number> =>
  run(
    context,
    Effect.gen(function*() {
      const [left, right] = yield* MemoryTransport.pair()
      const received = yield* Deferred.make<void>()
      yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
        const server = yield* TlsServer.make(right, context.serverOptions)
        let count = 0
        while (true) {
          const data = yield* server.read
          if (Option.isNone(data)) break
          count += data.value.length
          if (count >= total) yield* Deferred.succeed(received, undefined)
        }
      })))
      const client = yield* TlsClient.connect(left, context.clientOptions)
      const info = yield* client.handshake
      checkSuite(info.protocolVersion, info.ciphersuiteName)
      const start = now()
      yield* writeAll(client, chunk, total)
      yield* Deferred.await(received)
      return now() - start
    }).pipe(Effect.scoped)
  )

const variant = (
  context: Context,
  name: string,
  chunkSize: number,
  measure: (context: Context, chunk: Uint8Array, total: number) => Promise<number>
): Variant => {
  const chunk = payload(chunkSize)
  return {
    name,
    measure: async (warmup) => {
      const total = warmup ? context.settings.warmupBytes : context.settings.memoryBytes
      return total / MiB / ((await measure(context, chunk, total)) / 1000)
    }
  }
}

export const groups = (context: Context): Array<Group> =>
  [16 * KiB, 64 * KiB].map((chunkSize): Group => ({
    name: `memory sink, ${chunkSize / KiB} KiB writes`,
    unit: "MiB/s",
    variants: [
      variant(context, "raw node:tls over duplexPair", chunkSize, raw),
      variant(context, "effect-tls over MemoryTransport.pair", chunkSize, effect)
    ]
  }))
